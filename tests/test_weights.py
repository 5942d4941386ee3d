"""Pretrained weights go through torchvision's weight enums; offline they fail loudly, never silently."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torchvision

from fake_weights import use_proxy
from mnv3lib.models import WeightsUnavailableError, cached_weights_path, mobilenet_v3_large, mobilenet_v3_small, resolve_weights


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


def test_offline_raises_a_clear_error(empty_torch_home) -> None:
    with pytest.raises(WeightsUnavailableError, match=r"looks offline.*mobilenet_v3_large-8738ca79\.pth.*weights=None"):
        mobilenet_v3_large(weights="IMAGENET1K_V1")


def test_cached_file_is_loaded_through_the_enum(empty_torch_home) -> None:
    """With the file in torch.hub's cache (as after one online run) loading works offline."""
    member = torchvision.models.MobileNet_V3_Small_Weights.IMAGENET1K_V1
    published = torchvision.models.mobilenet_v3_small().state_dict()
    path = cached_weights_path(member)
    assert path.startswith(str(empty_torch_home))
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


@contextlib.contextmanager
def stalled_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An empty torch.hub cache, and a proxy on loopback that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    use_proxy(monkeypatch, f"http://127.0.0.1:{server.getsockname()[1]}")
    try:
        yield
    finally:
        server.close()
        for connection in accepted:
            connection.close()


def test_a_stalled_network_times_out(tmp_path, monkeypatch) -> None:
    """A proxy on loopback that accepts and never answers: the download gives up after the time-out."""
    from mnv3lib.models.weights import fetch_state_dict

    started = time.monotonic()
    with stalled_proxy(tmp_path, monkeypatch), pytest.raises(WeightsUnavailableError, match="not complete within 1 s"):
        fetch_state_dict(resolve_weights("mobilenet_v3_small", "DEFAULT"), progress=False, timeout=1)
    assert time.monotonic() - started < 30
    assert socket.getdefaulttimeout() is None  # the global default is restored


def test_the_fake_cache_is_read_without_the_hash_check(fake_torch_home) -> None:
    """What tests/fake_weights.py relies on: torch.hub checks a file name's hash prefix only while it
    downloads, so a cached file with other contents is loaded as it is, through TorchVision's enum."""
    member = torchvision.models.MobileNet_V3_Small_Weights.DEFAULT
    path = Path(cached_weights_path(member))
    prefix = re.search(r"-([a-f0-9]+)\.pth$", path.name).group(1)
    assert path.is_file() and not hashlib.sha256(path.read_bytes()).hexdigest().startswith(prefix)
    state_dict = member.get_state_dict(progress=False, check_hash=True)  # no network here: a download would fail
    torch.testing.assert_close(state_dict["classifier.3.bias"], torch.load(path, weights_only=True)["classifier.3.bias"])


@pytest.mark.filterwarnings("ignore:must run observer before calling calculate_qparams")  # TorchVision's own int8 builder
def test_load_pretrained_builds_every_model_the_book_shows(fake_torch_home) -> None:
    from torchvision.models.quantization import MobileNet_V3_Large_QuantizedWeights

    from fake_weights import BOOK_WEIGHTS
    from mnv3lib.models.pretrained import Pretrained, load_pretrained
    from mnv3lib.models.quantization import QuantizableMobileNetV3, quantized_engine

    weights = {f"{type(member).__name__}.{member.name}": member for member in BOOK_WEIGHTS}
    models, note = load_pretrained(weights, to_see="anything", progress=False)
    assert note is None and list(models) == list(weights)
    for name, pretrained in models.items():
        assert isinstance(pretrained, Pretrained) and not pretrained.model.training, name
        reference = torch.load(cached_weights_path(pretrained.weights), weights_only=True)
        loaded = pretrained.model.state_dict()
        some = next(k for k in reference if k.endswith("weight") and k in loaded and not k.startswith("quant"))
        if not isinstance(pretrained.model, QuantizableMobileNetV3):
            torch.testing.assert_close(loaded[some], reference[some], msg=name)
    int8 = models["MobileNet_V3_Large_QuantizedWeights.IMAGENET1K_QNNPACK_V1"]
    assert int8.categories[0] == "tench" and int8.model.quantization_backend == "qnnpack"
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with quantized_engine("qnnpack"):  # TorchVision's own int8 model, from the same file
        reference = torchvision.models.quantization.mobilenet_v3_large(weights=MobileNet_V3_Large_QuantizedWeights.DEFAULT, quantize=True)
        torch.testing.assert_close(int8.model(images), reference.eval()(images), rtol=0, atol=0)
    lraspp = models["LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1"]
    assert lraspp.categories[0] == "__background__" and lraspp.transforms().resize_size == [520]


def test_load_pretrained_offline_answers_in_one_line_at_once(empty_torch_home) -> None:
    from mnv3lib.models.pretrained import load_pretrained

    large, small = torchvision.models.MobileNet_V3_Large_Weights, torchvision.models.MobileNet_V3_Small_Weights
    started = time.monotonic()
    models, note = load_pretrained({"Large": large.DEFAULT, "Small": small.DEFAULT}, to_see="what MobileNetV3 names in real photographs")
    assert models is None and time.monotonic() - started < 5
    assert note == (
        "Run this chapter in Colab to see what MobileNetV3 names in real photographs: "
        "TorchVision's pretrained weights cannot be downloaded here."
    )


def test_load_pretrained_waits_for_one_time_out_at_most(tmp_path, monkeypatch) -> None:
    """Behind a stalled proxy, the first model's download times out and the others are not tried."""
    from mnv3lib.models import weights
    from mnv3lib.models.pretrained import load_pretrained

    monkeypatch.setattr(weights, "DOWNLOAD_TIMEOUT_S", 1.0)
    enums = (torchvision.models.MobileNet_V3_Large_Weights, torchvision.models.MobileNet_V3_Small_Weights)
    started = time.monotonic()
    with stalled_proxy(tmp_path, monkeypatch):
        models, note = load_pretrained({"a": enums[0].IMAGENET1K_V1, "b": enums[0].IMAGENET1K_V2, "c": enums[1].DEFAULT}, to_see="it")
    elapsed = time.monotonic() - started
    assert models is None and note == "Run this chapter in Colab to see it: TorchVision's pretrained weights cannot be downloaded here.", note
    assert 0.9 < elapsed < 2.9, f"{elapsed:.1f} s: one time-out of 1 s, not three"


def test_load_pretrained_names_a_corrupt_file_and_checks_its_arguments(empty_torch_home) -> None:
    from mnv3lib.models.pretrained import load_pretrained

    member = torchvision.models.MobileNet_V3_Small_Weights.DEFAULT
    path = Path(cached_weights_path(member))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    models, note = load_pretrained({"Small": member}, to_see="it")
    assert models is None and note.startswith(f"Run this chapter in Colab to see it: the cached weights file {path} is corrupt")
    with pytest.raises(TypeError, match="expected weights\\['Small'\\] to be a TorchVision weights enum member"):
        load_pretrained({"Small": "DEFAULT"}, to_see="it")
    with pytest.raises(ValueError, match="no builder for ResNet18_Weights.IMAGENET1K_V1"):
        load_pretrained({"ResNet": torchvision.models.ResNet18_Weights.DEFAULT}, to_see="it")
    with pytest.raises(TypeError, match="expected to_see to be a non-empty string"):
        load_pretrained({"Small": member}, to_see="")


def test_available_weights_lists_cached_files_and_gives_up_once(fake_torch_home, tmp_path, monkeypatch) -> None:
    from mnv3lib.models.weights import available_weights

    cached = torchvision.models.MobileNet_V3_Small_Weights.DEFAULT
    missing = torchvision.models.ResNet18_Weights.DEFAULT  # not in the fake cache; the network refuses
    assert available_weights([missing, cached]) == [cached]
    started = time.monotonic()
    with stalled_proxy(tmp_path, monkeypatch):
        assert available_weights([missing, torchvision.models.ResNet34_Weights.DEFAULT, torchvision.models.ResNet50_Weights.DEFAULT], timeout=1) == []
    assert time.monotonic() - started < 2.9, "one probe of 1 s, then only the cache"
    with pytest.raises(ValueError, match="expected timeout > 0 seconds"):
        available_weights([cached], timeout=0)


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


def test_offline_variable_hides_even_a_cached_file(fake_torch_home, monkeypatch) -> None:
    """MNV3LIB_OFFLINE=1 (the chapters' verification) behaves as an offline machine with an empty cache."""
    from mnv3lib.models.pretrained import load_pretrained
    from mnv3lib.models.weights import available_weights, fetch_state_dict, offline

    member = resolve_weights("mobilenet_v3_small", "DEFAULT")
    assert Path(cached_weights_path(member)).is_file() and available_weights([member]) == [member]
    monkeypatch.setenv("MNV3LIB_OFFLINE", "1")
    assert offline() and available_weights([member]) == []
    with pytest.raises(WeightsUnavailableError, match="MNV3LIB_OFFLINE is set"):
        fetch_state_dict(member, progress=False)
    models, note = load_pretrained({"Small": member}, to_see="the top-5", progress=False)
    assert models is None and note.startswith("Run this chapter in Colab to see the top-5")
    monkeypatch.setenv("MNV3LIB_OFFLINE", "maybe")
    with pytest.raises(ValueError, match="MNV3LIB_OFFLINE='maybe'"):
        offline()
