"""Shared fixtures: every test starts from the same seed and without the chapters' MNV3LIB_OFFLINE (the
tests choose their network and cache themselves); a torch.hub cache of TorchVision's weight files (random
weights, tests/fake_weights.py) makes the online path run offline."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fake_weights import BOOK_WEIGHTS, FakeWeightsCache, refuse_network


@pytest.fixture(autouse=True)
def _natural_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MNV3LIB_OFFLINE", raising=False)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def fake_weights_cache(tmp_path_factory: pytest.TempPathFactory) -> FakeWeightsCache:
    """A ``TORCH_HOME`` holding every TorchVision weight file the book asks for, with random weights
    (about 540 MB, written once per session)."""
    return FakeWeightsCache(tmp_path_factory.mktemp("torch_home")).add(BOOK_WEIGHTS)


@pytest.fixture
def fake_torch_home(fake_weights_cache: FakeWeightsCache, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``TORCH_HOME`` set to :func:`fake_weights_cache` for this process and the kernels it starts,
    and no network for either: every HTTP(S) request goes to a proxy on a closed loopback port, so
    a file missing from the cache fails at once instead of being downloaded for real."""
    monkeypatch.setenv("TORCH_HOME", str(fake_weights_cache.torch_home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    refuse_network(monkeypatch)
    return fake_weights_cache.torch_home


@pytest.fixture
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch.hub cache and no network (see :func:`refuse_network`): the offline reader's machine."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    refuse_network(monkeypatch)
    return tmp_path
