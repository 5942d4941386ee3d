"""Pretrained weights go through torchvision's weight enums; offline they fail loudly, never silently."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import torchvision

from mnv3lib.models import WeightsUnavailableError, cached_weights_path, mobilenet_v3_large, mobilenet_v3_small, resolve_weights


def _no_network(monkeypatch) -> None:
    """Send every download to a loopback port nothing listens on: connection refused, as offline."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _proxy(monkeypatch, port)


def _proxy(monkeypatch, port: int) -> None:
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty torch.hub cache, and a network that refuses every download."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    _no_network(monkeypatch)
    return tmp_path


def test_resolve_weights_names() -> None:
    enum = torchvision.models.MobileNet_V3_Large_Weights
    assert resolve_weights("mobilenet_v3_large", "DEFAULT") is enum.IMAGENET1K_V2
    assert resolve_weights("mobilenet_v3_large", "IMAGENET1K_V1") is enum.IMAGENET1K_V1
    assert resolve_weights("mobilenet_v3_large", "MobileNet_V3_Large_Weights.IMAGENET1K_V1") is enum.IMAGENET1K_V1
    assert resolve_weights("mobilenet_v3_small", "DEFAULT") is torchvision.models.MobileNet_V3_Small_Weights.IMAGENET1K_V1


def test_unknown_or_foreign_weights() -> None:
    with pytest.raises(ValueError, match="unknown weights 'IMAGENET22K' for mobilenet_v3_small: expected one of IMAGENET1K_V1"):
        mobilenet_v3_small(weights="IMAGENET22K")
    with pytest.raises(TypeError, match="not weights for mobilenet_v3_small"):
        mobilenet_v3_small(weights=torchvision.models.MobileNet_V3_Large_Weights.IMAGENET1K_V1)


def test_weights_need_the_default_shape() -> None:
    with pytest.raises(ValueError, match="exist only for width_mult=1.0"):
        mobilenet_v3_large(weights="DEFAULT", width_mult=0.5)
    with pytest.raises(ValueError, match="have 1000 classes, got num_classes=10"):
        mobilenet_v3_large(weights="DEFAULT", num_classes=10)


def test_offline_raises_a_clear_error(empty_hub) -> None:
    with pytest.raises(WeightsUnavailableError, match=r"looks offline.*mobilenet_v3_large-8738ca79\.pth.*weights=None"):
        mobilenet_v3_large(weights="IMAGENET1K_V1")


def test_cached_file_is_loaded_through_the_enum(empty_hub) -> None:
    """With the file in torch.hub's cache (as after one online run) loading works offline."""
    member = torchvision.models.MobileNet_V3_Small_Weights.IMAGENET1K_V1
    published = torchvision.models.mobilenet_v3_small().state_dict()
    path = cached_weights_path(member)
    assert path.startswith(str(empty_hub))
    os.makedirs(os.path.dirname(path))
    torch.save(published, path)
    model = mobilenet_v3_small(weights="DEFAULT")
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, published[name], msg=name)


def test_a_corrupt_cached_file_is_named_with_its_fix(tmp_path, monkeypatch) -> None:
    from mnv3lib.models.weights import cached_weights_path, fetch_state_dict

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    member = resolve_weights("mobilenet_v3_small", "DEFAULT")
    path = Path(cached_weights_path(member))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsUnavailableError, match=f"cached weights file {path} is corrupt.*delete it"):
        fetch_state_dict(member, progress=False)


def test_a_stalled_network_times_out(tmp_path, monkeypatch) -> None:
    """A proxy on loopback that accepts and never answers: the download gives up after the time-out."""
    from mnv3lib.models.weights import fetch_state_dict

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    _proxy(monkeypatch, server.getsockname()[1])
    started = time.monotonic()
    try:
        with pytest.raises(WeightsUnavailableError, match="not complete within 1 s"):
            fetch_state_dict(resolve_weights("mobilenet_v3_small", "DEFAULT"), progress=False, timeout=1)
    finally:
        server.close()
        for connection in accepted:
            connection.close()
    assert time.monotonic() - started < 30
    assert socket.getdefaulttimeout() is None  # no global setting is changed


class _LoopbackServer:
    """An HTTP server on 127.0.0.1 for one test: it answers every request with ``body``, sending one byte
    every ``interval`` seconds (0: all at once), and stops sending when the client goes or the test ends."""

    def __init__(self, body: bytes, interval: float = 0.0) -> None:
        self.body, self.interval, self.done = body, interval, threading.Event()
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen()
        self.socket.settimeout(10)  # bounded: a test that never connects does not leave the thread waiting for ever
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}/{name}"

    def _serve(self) -> None:
        try:
            connection, _ = self.socket.accept()
        except OSError:
            return
        with connection:
            connection.recv(65536)  # the request
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(self.body))
            try:
                if not self.interval:
                    connection.sendall(self.body)
                    return
                for byte in self.body:
                    if self.done.wait(self.interval):
                        break
                    connection.sendall(bytes([byte]))
            except OSError:  # the client hung up
                pass

    def close(self) -> None:
        self.done.set()
        self.socket.close()
        self.thread.join(5)


def test_the_deadline_covers_the_whole_download(tmp_path, monkeypatch) -> None:
    """A server that trickles a byte every 0.2 s answers every read in time: the 1 s deadline still stops it."""
    from mnv3lib.models.weights import download_file

    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    server = _LoopbackServer(b"x" * 100, interval=0.2)  # 20 s in all
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError, match="did not finish within 1 s"):
            download_file(server.url("trickle.pth"), tmp_path / "trickle.pth", timeout=1)
        assert time.monotonic() - started < 3
        for _ in range(50):  # the abandoned download stops at its next read and removes its partial file
            if not list(tmp_path.iterdir()):
                break
            time.sleep(0.1)
        assert not list(tmp_path.iterdir())
    finally:
        server.close()


def test_a_download_is_checked_against_its_hash(tmp_path, monkeypatch) -> None:
    import hashlib

    from mnv3lib.models.weights import download_file

    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    body = b"weights" * 1000
    name = f"model-{hashlib.sha256(body).hexdigest()[:8]}.pth"
    for url_name, error in ((name, None), ("model-00000000.pth", "has sha256")):
        server = _LoopbackServer(body)
        try:
            if error is None:
                download_file(server.url(url_name), tmp_path / url_name, timeout=10)
                assert (tmp_path / url_name).read_bytes() == body
            else:
                with pytest.raises(OSError, match=error):
                    download_file(server.url(url_name), tmp_path / url_name, timeout=10)
                assert not (tmp_path / url_name).exists()
        finally:
            server.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no partial file is left behind


def test_a_bad_timeout_variable_fails_the_download_not_the_import(tmp_path) -> None:
    code = "import mnv3lib, mnv3lib.models.detection\nfrom mnv3lib.models.weights import download_timeout\ntry:\n    download_timeout()\nexcept ValueError as e:\n    print(e)"
    environment = {**os.environ, "MNV3LIB_DOWNLOAD_TIMEOUT": "abc"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "MNV3LIB_DOWNLOAD_TIMEOUT='abc' is not a number of seconds" in result.stdout
