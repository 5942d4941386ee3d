"""Semantic segmentation on a dilated MobileNetV3-Large: LR-ASPP (ours, readable), DeepLabV3 and FCN.

All three use the *dilated* backbone: the last stage keeps stride 16 (its depthwise convs are dilated
instead of strided), so the "high" features are at output stride 16; the "low" features come from the
end of the stride-8 stage. With the same weights, ``lraspp_mobilenet_v3_large`` and
``deeplabv3_mobilenet_v3_large`` are drop-in equal to TorchVision's (same state-dict keys, same
outputs). ``fcn_mobilenet_v3_large`` is the article's unreleased variant. DeepLabV3 and FCN reuse
TorchVision's heads; Chapter 6 ("Semantic segmentation") explains them. ``dilated=False`` (ours only)
builds them on the undilated classification backbone, for the chapter's comparison.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.segmentation.deeplabv3 import DeepLabHead, DeepLabV3
from torchvision.models.segmentation.fcn import FCN, FCNHead

from ..checks import check_flag, check_image_batch, check_positive
from .mobilenetv3 import MobileNetV3, mobilenet_v3_large
from .weights import check_no_weights, fetch_state_dict, resolve_weights_and_classes

__all__ = [
    "LRASPPHead",
    "LRASPP",
    "segmentation_features",
    "lraspp_shapes",
    "LowResolution",
    "lraspp_mobilenet_v3_large",
    "deeplabv3_mobilenet_v3_large",
    "fcn_mobilenet_v3_large",
    "MobileNetDeepLabV3",
    "MobileNetFCN",
]

VOC_CLASSES = 21  # the published weights: background + Pascal VOC's 20 classes
LRASPP_INTER_CHANNELS = 128  # the width of LR-ASPP's high-feature branch in TorchVision (and its weights)


def segmentation_features(backbone: MobileNetV3) -> tuple[int, int]:
    """``features`` indices of the low (output stride 8) and high (the last conv) features."""
    stages = backbone.stage_indices
    return stages[-4], stages[-1]


class LRASPPHead(nn.Module):
    """Lite R-ASPP (MobileNetV3 paper, Section 6.4), as TorchVision
    implements it.

    The high features go through a 1×1 conv + BatchNorm + ReLU, gated
    channel-wise by a squeeze branch (global average pooling, 1×1 conv,
    sigmoid: TorchVision's replacement for the paper's 49×49 pooling with
    stride (16, 20)), upsampled to the low features' size, and classified;
    the low features are classified by a 1×1 conv; the two logit maps are
    added.

    Shape:
        low ``(B, low_channels, H/8, W/8)``, high
        ``(B, high_channels, H/16, W/16)`` → ``(B, num_classes, H/8, W/8)``.
    """

    def __init__(
        self,
        low_channels: int,
        high_channels: int,
        num_classes: int,
        inter_channels: int = 128,
    ) -> None:
        super().__init__()
        self.cbr = nn.Sequential(
            nn.Conv2d(high_channels, inter_channels, 1, bias=False),
            nn.BatchNorm2d(inter_channels),
            nn.ReLU(inplace=True),
        )
        self.scale = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(high_channels, inter_channels, 1, bias=False),
            nn.Sigmoid(),
        )
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        low, high = features["low"], features["high"]
        # (B, inter, H/16, W/16), gated per channel
        x = self.cbr(high) * self.scale(high)
        x = F.interpolate(  # (B, inter, H/8, W/8)
            x, size=low.shape[-2:], mode="bilinear", align_corners=False
        )
        return self.low_classifier(low) + self.high_classifier(x)


class LRASPP(nn.Module):
    """Backbone + :class:`LRASPPHead`; logits are upsampled bilinearly to the input size.

    Returns ``{"out": (B, num_classes, H, W)}``, as TorchVision's segmentation models. There is no
    auxiliary output: LR-ASPP is trained without an auxiliary loss.
    """

    def __init__(self, backbone: nn.Module, low_channels: int, high_channels: int, num_classes: int, inter_channels: int = 128) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = LRASPPHead(low_channels, high_channels, num_classes, inter_channels)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        check_image_batch(images)
        logits = self.classifier(self.backbone(images))
        return OrderedDict(out=F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False))


class LowResolution(nn.Module):
    """The article's low-resolution inference: ``model`` sees the images resized to ``size`` × ``size``
    (bilinear, antialiased) and its outputs are resized back to the images' size (bilinear)."""

    def __init__(self, model: nn.Module, size: int) -> None:
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"expected a positive int size, got {size!r}")
        self.model, self.size = model, size

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        check_image_batch(images)
        small = F.interpolate(images, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        outputs = self.model(small)
        return OrderedDict((name, F.interpolate(value, size=images.shape[-2:], mode="bilinear", align_corners=False)) for name, value in outputs.items())


def lraspp_shapes(model: LRASPP, image_size: int = 520) -> dict[str, tuple[int, ...]]:
    """The ``(C, H, W)`` of every tensor in an :class:`LRASPP` for a square input, in the order computed.

    Keys: ``input``, ``low``, ``high``, ``cbr``, ``scale``, ``low_classifier``, ``upsampled``,
    ``high_classifier``, ``head`` and ``out``. Recorded with forward hooks on one random image.
    """
    shapes: dict[str, tuple[int, ...]] = {"input": (3, image_size, image_size)}
    head = model.classifier

    def record(name: str, inputs: bool = False) -> Any:
        def hook(_module: nn.Module, args: tuple, output: Any) -> None:
            if isinstance(output, dict):
                shapes.update({key: tuple(value.shape[1:]) for key, value in output.items()})
            else:
                if inputs:
                    shapes["upsampled"] = tuple(args[0].shape[1:])
                shapes[name] = tuple(output.shape[1:])

        return hook

    modules = {"backbone": model.backbone, "cbr": head.cbr, "scale": head.scale, "low_classifier": head.low_classifier,
               "high_classifier": head.high_classifier, "head": head, "out": model}  # fmt: skip
    handles = [module.register_forward_hook(record(name, inputs=name == "high_classifier")) for name, module in modules.items()]
    try:
        with torch.no_grad():
            was_training = model.training
            model.eval()(torch.rand(1, 3, image_size, image_size))
            model.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def lraspp_mobilenet_v3_large(
    *, weights: object = None, progress: bool = True, num_classes: int | None = None, weights_backbone: object = None, dilated: bool = True,
    inter_channels: int = LRASPP_INTER_CHANNELS, aux_loss: bool | None = None,
) -> LRASPP:  # fmt: skip
    """LR-ASPP on a dilated MobileNetV3-Large, equal to TorchVision's ``lraspp_mobilenet_v3_large``.

    Args:
        weights: ``None``, ``"COCO_WITH_VOC_LABELS_V1"``/``"DEFAULT"`` or the enum member; offline and not
            cached, loading raises ``WeightsUnavailableError``.
        progress: Show a download progress bar.
        num_classes: Classes including the background (21, Pascal VOC's, by default).
        weights_backbone: ImageNet weights for the backbone; None (the default here, unlike TorchVision's,
            because the book runs offline) starts from scratch.
        dilated: Ours only (TorchVision always dilates): False keeps the classification backbone, whose
            last stage has stride 2, so the high features are at output stride 32 instead of 16.
        inter_channels: Width of the head's high-feature branch (ours: TorchVision's builder always uses 128).
        aux_loss: None or False (accepted, as by TorchVision). True is an error: LR-ASPP has no auxiliary head.

    Raises:
        TypeError: for a flag that is not a bool, or ``inter_channels`` that is not an int.
        ValueError: for ``aux_loss=True``, ``inter_channels`` < 1, or ``num_classes`` that disagree with ``weights``.
    """
    check_flag(aux_loss, "aux_loss", optional=True)
    if aux_loss:
        raise ValueError("LR-ASPP is trained without an auxiliary loss and has no auxiliary head: drop aux_loss=True")
    check_positive(inter_channels, "inter_channels", integer=True)
    member, num_classes = resolve_weights_and_classes("lraspp_mobilenet_v3_large", weights, num_classes, VOC_CLASSES, minimum=2)
    if member is not None and inter_channels != LRASPP_INTER_CHANNELS:
        raise ValueError(f"{member} have inter_channels={LRASPP_INTER_CHANNELS}, got {inter_channels}: drop inter_channels or weights")
    backbone = _backbone(member, weights_backbone, progress, dilated)
    low, high = segmentation_features(backbone)
    body = IntermediateLayerGetter(backbone.features, return_layers={str(low): "low", str(high): "high"})
    model = LRASPP(body, backbone.features[low].out_channels, backbone.features[high].out_channels, num_classes, inter_channels)
    if member is not None:
        model.load_state_dict(fetch_state_dict(member, progress=progress))
    return model


class MobileNetDeepLabV3(DeepLabV3):
    """TorchVision's ``DeepLabV3`` (same modules and keys) that rejects a bad input batch with a clear error."""

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        check_image_batch(images)
        return super().forward(images)


class MobileNetFCN(FCN):
    """TorchVision's ``FCN`` (same modules and keys) that rejects a bad input batch with a clear error."""

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        check_image_batch(images)
        return super().forward(images)


def _backbone(member: object, weights_backbone: object, progress: bool, dilated: bool) -> MobileNetV3:
    check_flag(progress, "progress")
    check_flag(dilated, "dilated")
    if member is not None and not dilated:
        raise ValueError("the published weights are for the dilated backbone: drop dilated=False")
    return mobilenet_v3_large(weights=None if member else weights_backbone, progress=progress, dilated=dilated)


def _with_heads(
    arch: str, head: type[nn.Module], wrapper: type[nn.Module], weights: object, progress: bool, num_classes: int | None,
    aux_loss: bool | None, weights_backbone: object, dilated: bool,
) -> nn.Module:  # fmt: skip
    check_flag(aux_loss, "aux_loss", optional=True)
    member, num_classes = resolve_weights_and_classes(arch, weights, num_classes, VOC_CLASSES, minimum=2)
    if member is not None and aux_loss is False:  # as TorchVision: the published weights include the auxiliary head
        raise ValueError(f"{member} include the auxiliary head: drop aux_loss=False (or delete model.aux_classifier after loading)")
    aux = True if member is not None else bool(aux_loss)
    backbone = _backbone(member, weights_backbone, progress, dilated)
    low, high = segmentation_features(backbone)
    return_layers = {str(high): "out"} | ({str(low): "aux"} if aux else {})
    body = IntermediateLayerGetter(backbone.features, return_layers=return_layers)
    aux_classifier = FCNHead(backbone.features[low].out_channels, num_classes) if aux else None
    model = wrapper(body, head(backbone.features[high].out_channels, num_classes), aux_classifier)
    if member is not None:
        model.load_state_dict(fetch_state_dict(member, progress=progress))
    return model


def deeplabv3_mobilenet_v3_large(
    *, weights: object = None, progress: bool = True, num_classes: int | None = None, aux_loss: bool | None = None, weights_backbone: object = None,
    dilated: bool = True,
) -> MobileNetDeepLabV3:  # fmt: skip
    """DeepLabV3 (ASPP head) on a dilated MobileNetV3-Large, equal to TorchVision's ``deeplabv3_mobilenet_v3_large``.

    ``aux_loss=True`` adds an FCN head on the stride-8 features, whose loss TorchVision weighs 0.5 while
    training (None: only with ``weights``, which include it). Other arguments as :func:`lraspp_mobilenet_v3_large`.

    Raises:
        TypeError: for ``aux_loss`` or another flag that is not a bool (``aux_loss="no"`` would be truthy).
        ValueError: for ``aux_loss=False`` with ``weights``, or ``num_classes`` that disagree with them.
    """
    return _with_heads("deeplabv3_mobilenet_v3_large", DeepLabHead, MobileNetDeepLabV3, weights, progress, num_classes, aux_loss, weights_backbone, dilated)


def fcn_mobilenet_v3_large(
    *, weights: object = None, progress: bool = True, num_classes: int | None = None, aux_loss: bool | None = None, weights_backbone: object = None,
    dilated: bool = True,
) -> MobileNetFCN:  # fmt: skip
    """FCN on a dilated MobileNetV3-Large: the article's variant, which TorchVision did not release.

    An ``FCNHead`` (3×3 conv to 960/4 channels, BatchNorm, ReLU, dropout, 1×1 conv) on the last conv's
    features, plus with ``aux_loss`` the same head on the stride-8 features: 5,054,944 parameters with 21
    classes and aux, the article's "5.05 M". No published weights exist: ``weights`` other than None
    raises ``ValueError``. Other arguments as :func:`deeplabv3_mobilenet_v3_large`.
    """
    check_no_weights("fcn_mobilenet_v3_large", weights)
    return _with_heads("fcn_mobilenet_v3_large", FCNHead, MobileNetFCN, None, progress, num_classes, aux_loss, weights_backbone, dilated)
