"""A torch.hub cache of TorchVision's weight files with random weights, so that the online path runs offline.

torch.hub's ``load_state_dict_from_url`` downloads a file only when its name is missing from
``$TORCH_HOME/hub/checkpoints``, and checks the hash prefix in the file name (``...-5c1a4163.pth``)
only while downloading: a cached file is read as it is. So a state dict saved under TorchVision's
file name is what TorchVision's weight enums (and the library's builders, which go through them)
load, offline. The state dicts come from TorchVision's own builders with random weights, shaped as
the published files: detectors built with published weights have frozen BatchNorm in their
backbone (no ``num_batches_tracked``), and the int8 MobileNetV3-Large's file holds the model
prepared for quantization-aware training, with its observers' ranges, which TorchVision converts
after loading. :func:`refuse_network` makes a missing file fail at once, in this process and in the
kernels it starts.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import MobileNet_V3_Large_Weights, MobileNet_V3_Small_Weights, WeightsEnum
from torchvision.models import detection as tv_detection
from torchvision.models import segmentation as tv_segmentation
from torchvision.models.detection import (
    FasterRCNN_MobileNet_V3_Large_320_FPN_Weights,
    FasterRCNN_MobileNet_V3_Large_FPN_Weights,
    KeypointRCNN_ResNet50_FPN_Weights,
    SSDLite320_MobileNet_V3_Large_Weights,
)
from torchvision.models.quantization import MobileNet_V3_Large_QuantizedWeights
from torchvision.models.segmentation import DeepLabV3_MobileNet_V3_Large_Weights, LRASPP_MobileNet_V3_Large_Weights


def _without_frozen_counters(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict a detector with published weights has: its backbone's BatchNorm is frozen
    (``FrozenBatchNorm2d``, which has no ``num_batches_tracked``)."""
    return {k: v for k, v in model.state_dict().items() if not (k.startswith("backbone.body.") and k.endswith("num_batches_tracked"))}


def _qat_large(member: WeightsEnum) -> dict[str, torch.Tensor]:
    """TorchVision's quantizable MobileNetV3-Large prepared for QAT on the weights' backend, its
    observers run on two random batches (as TorchVision's file holds them after training)."""
    from torchvision.models.quantization.mobilenetv3 import QuantizableMobileNetV3, _replace_relu

    builder = torchvision.models.quantization.mobilenet_v3_large
    model = builder(weights=None, quantize=False)
    assert isinstance(model, QuantizableMobileNetV3)
    _replace_relu(model)
    model.fuse_model(is_qat=True)
    model.qconfig = torch.ao.quantization.get_default_qat_qconfig(member.meta["backend"])
    torch.ao.quantization.prepare_qat(model, inplace=True)
    with torch.no_grad():
        for seed in (0, 1):
            model(torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(seed)))
    return model.state_dict()


FAKE_STATE_DICTS: dict[type[WeightsEnum], Callable[[WeightsEnum], dict[str, torch.Tensor]]] = {
    MobileNet_V3_Large_Weights: lambda member: torchvision.models.mobilenet_v3_large().state_dict(),
    MobileNet_V3_Small_Weights: lambda member: torchvision.models.mobilenet_v3_small().state_dict(),
    MobileNet_V3_Large_QuantizedWeights: _qat_large,
    FasterRCNN_MobileNet_V3_Large_FPN_Weights: lambda member: _without_frozen_counters(
        tv_detection.fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, num_classes=91)
    ),
    FasterRCNN_MobileNet_V3_Large_320_FPN_Weights: lambda member: _without_frozen_counters(
        tv_detection.fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None, num_classes=91)
    ),
    SSDLite320_MobileNet_V3_Large_Weights: lambda member: tv_detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=91).state_dict(),
    KeypointRCNN_ResNet50_FPN_Weights: lambda member: _without_frozen_counters(
        tv_detection.keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=2, num_keypoints=17)
    ),
    LRASPP_MobileNet_V3_Large_Weights: lambda member: tv_segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21).state_dict(),
    DeepLabV3_MobileNet_V3_Large_Weights: lambda member: tv_segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=21, aux_loss=True
    ).state_dict(),
}  # fmt: skip

# Every file the chapters' "real photographs" sections and the playground ask for.
BOOK_WEIGHTS = (
    MobileNet_V3_Large_Weights.DEFAULT, MobileNet_V3_Large_Weights.IMAGENET1K_V1, MobileNet_V3_Small_Weights.DEFAULT,
    MobileNet_V3_Large_QuantizedWeights.DEFAULT, FasterRCNN_MobileNet_V3_Large_FPN_Weights.DEFAULT,
    FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.DEFAULT, SSDLite320_MobileNet_V3_Large_Weights.DEFAULT,
    KeypointRCNN_ResNet50_FPN_Weights.DEFAULT, LRASPP_MobileNet_V3_Large_Weights.DEFAULT, DeepLabV3_MobileNet_V3_Large_Weights.DEFAULT,
)  # fmt: skip


class FakeWeightsCache:
    """A ``TORCH_HOME`` whose ``hub/checkpoints`` gets a file of random weights for each member asked for."""

    def __init__(self, torch_home: Path) -> None:
        self.torch_home = Path(torch_home)
        self.checkpoints = self.torch_home / "hub" / "checkpoints"

    def path(self, member: WeightsEnum) -> Path:
        """Where torch.hub looks for ``member``'s file under this ``TORCH_HOME``."""
        return self.checkpoints / os.path.basename(member.url)

    def add(self, members: Iterable[WeightsEnum]) -> FakeWeightsCache:
        """Write the files of ``members`` that are not there yet (atomically), and return the cache."""
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        for member in members:
            target = self.path(member)
            if target.exists():
                continue
            torch.manual_seed(0)
            state_dict = FAKE_STATE_DICTS[type(member)](member)
            partial = target.with_suffix(".partial")
            torch.save(state_dict, partial)
            partial.replace(target)
        return self


def refuse_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send urllib's requests (torch.hub's downloads) to a proxy on a closed loopback port: refused at once."""
    use_proxy(monkeypatch, "http://127.0.0.1:9")


def use_proxy(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Send urllib's HTTP(S) requests through the proxy at ``url`` during one test. urlopen builds its
    opener, and reads the proxy variables, once per process: the test gets a fresh one, and the
    opener of before the test is put back afterwards."""
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, url)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(urllib.request, "_opener", None)
