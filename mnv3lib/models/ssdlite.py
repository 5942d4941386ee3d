"""SSDlite320 on MobileNetV3-Large: the family's mobile detector, built from the book's MobileNetV3 into
TorchVision's SSD machinery (``SSD``, ``SSDLiteHead``, ``DefaultBoxGenerator``).

What makes it "lite" (MobileNetV3 paper, Section 6.3): no FPN; the backbone is cut inside the first
block of its last stage, right after that block's 1×1 expansion (C4: 672 channels at stride 16, where
the expanded tensor is widest), and again at its end (C5: the last conv, 960 channels at stride 32);
four extra blocks (1×1 → depthwise 3×3 stride 2 → 1×1) add maps at strides 64, 128, 256 and 512; and
every prediction head is depthwise-separable (depthwise 3×3 then 1×1). Six maps × 6 default boxes per
location (2 scales × aspect ratios 1, 2, 3 and their inverses... as ``DefaultBoxGenerator`` lays them
out, ``[[2, 3]] * 6``, scales from 0.2 to 0.95 of the 320-px input).

Equal to ``torchvision.models.detection.ssdlite320_mobilenet_v3_large`` given the same weights: the
same state-dict keys and shapes, 3,440,060 parameters at 91 classes, identical detections. As in
TorchVision, without backbone weights the backbone has the reduced tail (the paper's Table 6) and every
conv gets SSD's normal initialisation (std 0.03).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import torch
from torch import nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.ssd import SSD
from torchvision.models.detection.ssdlite import SSDLiteHead
from torchvision.ops import box_iou

from ..checks import check_flag, check_keywords
from .detection_inputs import CheckedInputs
from .detection_options import SSD_OPTIONS
from .layers import ConvNormActivation
from .mobilenetv3 import MobileNetV3, freeze_early_stages, mobilenet_v3_large, trainable_stages
from .weights import fetch_state_dict, resolve_weights_and_classes

__all__ = ["MobileNetSSD", "SSDLiteFeatures", "ssdlite320_mobilenet_v3_large", "default_boxes", "DefaultBoxMatches", "match_default_boxes", "SSDLITE_SIZE"]

SSDLITE_SIZE = (320, 320)
COCO_CLASSES = 91


def _normal_init(module: nn.Module) -> None:
    """SSD's initialisation of every conv: weights ~ N(0, 0.03²), biases 0 (TorchVision's)."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.normal_(layer.weight, mean=0.0, std=0.03)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def _extra_block(in_channels: int, out_channels: int, norm_layer: Callable[..., nn.Module]) -> nn.Sequential:
    """One extra feature map: 1×1 to half the channels, depthwise 3×3 with stride 2, 1×1 out (ReLU6 each)."""
    middle = out_channels // 2
    conv = partial(ConvNormActivation, norm_layer=norm_layer, activation_layer=nn.ReLU6)
    return nn.Sequential(
        conv(in_channels, middle, 1),
        conv(middle, middle, 3, stride=2, groups=middle),
        conv(middle, out_channels, 1),
    )


class SSDLiteFeatures(nn.Module):
    """The six feature maps SSDlite predicts from: C4 (inside the first block of the last stage, after
    its expansion), C5 (the backbone's end) and four extra blocks.

    Args:
        backbone: A MobileNetV3 (its classifier is not used).
        norm_layer: The extra blocks' normalisation.
    """

    def __init__(self, backbone: MobileNetV3, norm_layer: Callable[..., nn.Module]) -> None:
        super().__init__()
        features = backbone.features
        c4 = backbone.stage_indices[-2]  # the first block of the last stage
        self.c4, self.stage_indices, self.num_blocks = c4, list(backbone.stage_indices), len(features)
        if features[c4].use_residual:
            raise ValueError(f"features[{c4}] has a residual connection: it cannot be split after its expansion")
        self.features = nn.Sequential(
            nn.Sequential(*features[:c4], features[c4].block[0]),  # up to C4's 1×1 expansion
            nn.Sequential(features[c4].block[1:], *features[c4 + 1 :]),  # C4's depthwise to the end
        )
        widths = [features[-1].out_channels, 512, 256, 256, 128]
        self.extra = nn.ModuleList(_extra_block(a, b, norm_layer) for a, b in zip(widths, widths[1:]))
        _normal_init(self.extra)

    def backbone_key(self, key: str) -> str:
        """Where the MobileNetV3 ``features`` entry ``key`` (e.g. ``"13.block.0.0.weight"``) lives in
        :attr:`features`, which splits block C4 after its expansion: ``"0.13.0.weight"``."""
        index, _, rest = key.partition(".")
        block = int(index)
        if block < self.c4:
            return f"0.{key}"
        if block > self.c4:
            return f"1.{block - self.c4}.{rest}"
        part, _, inner = rest.removeprefix("block.").partition(".")
        return f"0.{block}.{inner}" if part == "0" else f"1.0.{part}.{inner}"

    def load_backbone(self, features: dict[str, torch.Tensor]) -> None:
        """Load a MobileNetV3's ``features`` state dict (keys without the ``features.`` prefix), e.g. a
        classification checkpoint's: how the book starts SSDlite from its shapes-trained backbone."""
        mapped = {self.backbone_key(key): value for key, value in features.items()}
        expected = self.features.state_dict()
        if set(mapped) != set(expected) or any(mapped[k].shape != v.shape for k, v in expected.items()):
            raise ValueError(f"these {len(features)} feature tensors do not fit this SSDlite backbone "
                             f"({len(expected)} tensors; a full-tail MobileNetV3-Large needs reduced_tail=False)")  # fmt: skip
        self.features.load_state_dict(mapped)

    def freeze_stages(self, trainable_layers: int) -> None:
        """Freeze the backbone but its last ``trainable_layers`` stages (0 to 6), as
        :func:`~mnv3lib.models.mobilenetv3.freeze_early_stages` does before the split."""
        if isinstance(trainable_layers, bool) or not isinstance(trainable_layers, int) or not 0 <= trainable_layers <= len(self.stage_indices):
            raise ValueError(f"expected 0 <= trainable_layers <= {len(self.stage_indices)}, got {trainable_layers!r}")
        frozen = self.num_blocks if trainable_layers == 0 else self.stage_indices[len(self.stage_indices) - trainable_layers]
        for name, parameter in self.features.named_parameters():
            stage, _, rest = name.partition(".")
            block = int(rest.partition(".")[0]) if stage == "0" else self.c4 + int(rest.partition(".")[0])
            if block < frozen:
                parameter.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = []
        for stage in (*self.features, *self.extra):
            x = stage(x)
            maps.append(x)
        return OrderedDict((str(i), m) for i, m in enumerate(maps))


class MobileNetSSD(CheckedInputs, SSD):
    """TorchVision's ``SSD`` whose ``forward`` first checks its inputs (as the book's other detectors)."""

    def input_checks(self) -> dict[str, Any]:  # noqa: D102
        return {"num_classes": self.head.classification_head.num_columns}


def ssdlite320_mobilenet_v3_large(
    *,
    weights: object = None,
    progress: bool = True,
    num_classes: int | None = None,
    weights_backbone: object = None,
    trainable_backbone_layers: int | None = None,
    norm_layer: Callable[..., nn.Module] | None = None,
    reduced_tail: bool | None = None,
    width_mult: float = 1.0,
    **kwargs: Any,
) -> MobileNetSSD:
    """SSDlite320 with a MobileNetV3-Large backbone, equal to TorchVision's builder given the same weights.

    One difference, as for the book's other detectors: ``weights_backbone`` defaults to None (TorchVision:
    ImageNet V1 weights), because the book runs offline. TorchVision's published SSDlite weights were
    themselves trained without ImageNet pre-training (pytorch/vision#6536).

    Args:
        weights: ``None``, ``"COCO_V1"``/``"DEFAULT"`` or an ``SSDLite320_MobileNet_V3_Large_Weights`` member.
        progress: Show a download progress bar.
        num_classes: Classes including the background (91 for COCO, the default).
        weights_backbone: ImageNet weights for the backbone (then the full tail, not the reduced one).
        trainable_backbone_layers: Backbone stages left trainable, 0 to 6, with backbone weights (default:
            all 6); from scratch all 6 train and another value is ignored with a warning, as in TorchVision.
        norm_layer: Normalisation for the backbone and the heads (default BatchNorm, eps 0.001, momentum 0.03).
        reduced_tail: The backbone's last stage at half width (the paper's Table 6). Default (None):
            TorchVision's rule, reduced unless ``weights_backbone`` is given. Not in TorchVision's builder:
            ``False`` builds the full tail from scratch, to load a full-tail backbone of your own (as the
            book loads its shapes-trained one through :meth:`SSDLiteFeatures.load_backbone`).
        width_mult: The backbone's channel multiplier, which TorchVision's builder passes on to
            ``mobilenet_v3_large`` with its other keyword arguments; the extra blocks and heads keep
            their widths (TorchVision's extractor has its own ``width_mult``, which its builder leaves at 1).
        **kwargs: Passed to TorchVision's ``SSD`` (``score_thresh``, ``nms_thresh``, ``detections_per_img``, ...): any of
            :data:`~mnv3lib.models.detection_options.SSD_OPTIONS`, each checked here; ``size`` is ignored
            with a warning, as in TorchVision.

    Raises:
        TypeError: for a keyword TorchVision's ``SSD`` does not take, or a value of the wrong type.
        ValueError: for a value out of range (``score_thresh=2``), or unknown weights.
    """
    arch = "ssdlite320_mobilenet_v3_large"
    if "size" in kwargs:
        warnings.warn("SSDlite320's input size is fixed at 320×320; ignoring size", stacklevel=2)
        kwargs = {name: value for name, value in kwargs.items() if name != "size"}
    check_keywords(kwargs, SSD_OPTIONS, arch)
    check_flag(progress, "progress")
    check_flag(reduced_tail, "reduced_tail", optional=True)
    member, num_classes = resolve_weights_and_classes(arch, weights, num_classes, COCO_CLASSES, minimum=2)
    if member is not None:
        weights_backbone = None
    trainable = trainable_stages(member is not None or weights_backbone is not None, trainable_backbone_layers, 6, default=6)
    norm_layer = norm_layer or partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)
    reduced = weights_backbone is None if reduced_tail is None else reduced_tail
    backbone = mobilenet_v3_large(weights=weights_backbone, progress=progress, norm_layer=norm_layer, reduced_tail=reduced, width_mult=width_mult)
    if weights_backbone is None:
        _normal_init(backbone)
    freeze_early_stages(list(backbone.features), backbone.stage_indices, trainable)
    features = SSDLiteFeatures(backbone, norm_layer)
    anchors = DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.2, max_ratio=0.95)
    out_channels = det_utils.retrieve_out_channels(features, SSDLITE_SIZE)
    defaults = {"score_thresh": 0.001, "nms_thresh": 0.55, "detections_per_img": 300, "topk_candidates": 300,
                "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}  # fmt: skip
    head = SSDLiteHead(out_channels, anchors.num_anchors_per_location(), num_classes, norm_layer)
    model = MobileNetSSD(features, anchors, SSDLITE_SIZE, num_classes, head=head, **(defaults | kwargs))
    if member is not None:
        model.load_state_dict(fetch_state_dict(member, progress=progress))
    return model


@torch.no_grad()
def default_boxes(model: SSD) -> list[dict[str, Any]]:
    """An SSD's default boxes (anchors) level by level, as its ``anchor_generator`` lays them on its
    input size: per feature map, its ``cell`` (pixels per cell: the input size over the grid), ``grid`` ``(H, W)``, ``per_location``
    (boxes per cell) and ``boxes``, a ``(H, W, per_location, 4)`` tensor of ``(x1, y1, x2, y2)`` pixels."""
    if not isinstance(model, SSD):
        raise TypeError(f"expected a torchvision SSD model, got {type(model).__name__}")
    height, width = model.transform.fixed_size  # SSD resizes every image to it
    was_training = model.training
    model.eval()
    try:
        maps = list(model.backbone(torch.zeros(1, 3, height, width, device=next(model.parameters()).device)).values())
    finally:
        model.train(was_training)
    anchors = model.anchor_generator(ImageList(torch.zeros(1, 3, height, width), [(height, width)]), maps)[0]
    levels, start = [], 0
    for feature, per_location in zip(maps, model.anchor_generator.num_anchors_per_location()):
        grid = tuple(feature.shape[-2:])
        count = grid[0] * grid[1] * per_location
        levels.append({"cell": height / grid[0], "grid": grid, "per_location": per_location,
                       "boxes": anchors[start : start + count].reshape(*grid, per_location, 4)})  # fmt: skip
        start += count
    return levels


class DefaultBoxMatches(NamedTuple):
    """Ground-truth boxes matched to an SSD's default boxes, as its training does.

    Attributes:
        boxes: The ground-truth boxes resized to the model's input, ``(G, 4)`` XYXY pixels.
        matches: For each default box (in :func:`default_boxes` order, levels concatenated) the index of
            its ground-truth box, or -1, ``(A,)``.
        iou: IoU of every ground-truth box with every default box, ``(G, A)``.
    """

    boxes: torch.Tensor
    matches: torch.Tensor
    iou: torch.Tensor


def match_default_boxes(model: SSD, boxes: torch.Tensor, image_size: tuple[int, int]) -> DefaultBoxMatches:
    """Match ground-truth ``boxes`` of an image of ``image_size`` ``(H, W)`` to ``model``'s default boxes.

    SSD resizes every image to its fixed size, so the boxes are scaled to it first; then the model's own
    ``proposal_matcher`` (TorchVision's ``SSDMatcher``) runs on ``box_iou``: each default box goes to the
    ground-truth box it overlaps most if their IoU reaches the threshold (0.5), and each ground-truth box
    also keeps its single best default box, however low the IoU.
    """
    if not isinstance(model, SSD):
        raise TypeError(f"expected a torchvision SSD model, got {type(model).__name__}")
    if not isinstance(boxes, torch.Tensor) or boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"expected boxes of shape (G, 4) in XYXY pixels, got {getattr(boxes, 'shape', type(boxes).__name__)}")
    if len(image_size) != 2 or min(image_size) <= 0:
        raise ValueError(f"expected image_size = (H, W) > 0, got {image_size!r}")
    anchors = torch.cat([level["boxes"].reshape(-1, 4) for level in default_boxes(model)])
    height, width = model.transform.fixed_size
    scale = torch.tensor([width / image_size[1], height / image_size[0]] * 2)
    resized = boxes.detach().cpu().float() * scale
    if len(resized) == 0:
        return DefaultBoxMatches(resized, torch.full((len(anchors),), -1, dtype=torch.int64), torch.zeros(0, len(anchors)))
    iou = box_iou(resized, anchors)
    return DefaultBoxMatches(resized, model.proposal_matcher(iou), iou)
