"""Pretrained weights go through torchvision's weight enums; offline they fail loudly, never silently."""

from __future__ import annotations

import os
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

from mnv3lib.models import WeightsUnavailableError, cached_weights_path, mobilenet_v3_large, mobilenet_v3_small, resolve_weights


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty torch.hub cache, and a network that refuses every download."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError(f"[Errno -3] Temporary failure in name resolution: {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
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
    import socket
    import threading
    import time

    from mnv3lib.models.weights import fetch_state_dict

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{server.getsockname()[1]}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    started = time.monotonic()
    try:
        with pytest.raises(WeightsUnavailableError, match="no answer within 1 s"):
            fetch_state_dict(resolve_weights("mobilenet_v3_small", "DEFAULT"), progress=False, timeout=1)
    finally:
        server.close()
        for connection in accepted:
            connection.close()
    assert time.monotonic() - started < 30
    assert socket.getdefaulttimeout() is None  # the global default is restored
