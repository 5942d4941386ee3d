"""MobileNetV3 (Howard et al., 2019), written to be read, and equal to TorchVision's model.

Reads top to bottom: the block's config, the inverted-residual block, the network, the paper's
Tables 1 and 2, the pure functions that apply ``width_mult`` / ``reduced_tail`` / ``dilated``, and
the public builders. Chapter 1 ("Anatomy of MobileNetV3") walks through this file.

Equality with TorchVision: same submodule names (so the state-dict keys and shapes are identical),
same layer order, same initialisation; ``tests/test_models.py`` proves equal outputs over a grid
of configurations.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal, NamedTuple

import torch
from torch import nn
from torchvision.ops import stochastic_depth

from ..checks import check_choice, check_flag, check_image_batch, check_positive, is_tracing
from .layers import ConvNormActivation, SqueezeExcitation, make_divisible

__all__ = [
    "ARCHITECTURES",
    "Activation",
    "InvertedResidualConfig",
    "InvertedResidual",
    "MobileNetV3",
    "mobilenet_v3_config",
    "scale_config",
    "mobilenet_v3",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
]

Activation = Literal["relu", "hardswish"]
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "hardswish": nn.Hardswish}
ARCHITECTURES = ("mobilenet_v3_large", "mobilenet_v3_small")


# --------------------------------------------------------------------------------------------------
# The block
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InvertedResidualConfig:
    """One row of the paper's Table 1/2, with channel counts already scaled and rounded.

    Attributes:
        in_channels: Channels entering the block.
        kernel_size: Depthwise kernel size (3 or 5).
        expanded_channels: Width of the depthwise stage ("exp size" in the paper).
        out_channels: Channels leaving the block ("#out").
        use_se: Whether a squeeze-and-excite layer follows the depthwise conv.
        activation: ``"relu"`` or ``"hardswish"`` ("NL" in the paper).
        stride: 1, or 2 at the first block of a stage.
        dilation: Atrous rate of the depthwise conv; > 1 replaces the stride (``dilated=True``).
    """

    in_channels: int
    kernel_size: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    activation: Activation
    stride: int
    dilation: int = 1

    def __post_init__(self) -> None:
        for name in ("in_channels", "kernel_size", "expanded_channels", "out_channels", "dilation"):
            check_positive(getattr(self, name), name, integer=True)
        check_choice(self.stride, "stride", (1, 2))
        check_choice(self.activation, "activation", tuple(ACTIVATIONS))

    @property
    def has_expansion(self) -> bool:
        """False when in == expanded channels: the 1×1 expansion conv would be wasted, so it is skipped."""
        return self.expanded_channels != self.in_channels

    @property
    def squeeze_channels(self) -> int | None:
        """SE bottleneck width, ``make_divisible(expanded // 4, 8)``, or None without SE."""
        return make_divisible(self.expanded_channels // 4, 8) if self.use_se else None

    @property
    def use_residual(self) -> bool:
        """A skip connection needs the same shape in and out."""
        return self.stride == 1 and self.in_channels == self.out_channels

    @property
    def starts_stage(self) -> bool:
        """The first block of a stage (stride 2 in the paper's table, even when dilated)."""
        return self.stride > 1

    @property
    def effective_stride(self) -> int:
        """The stride the depthwise conv really applies: a dilated block keeps the resolution."""
        return 1 if self.dilation > 1 else self.stride


class InvertedResidual(nn.Module):
    """MobileNetV3's bottleneck (paper, Section 5.1 and Figure 4).

    expand 1×1 (skipped when in == expanded) → depthwise k×k → activation → SE → project 1×1 (linear),
    plus a skip connection when the shapes allow.

    Args:
        config: The block's row of the architecture table.
        norm_layer: Callable building a normalisation layer from a channel count.
        se_layer: Callable ``(channels, squeeze_channels) -> nn.Module``.
        stochastic_depth_prob: Probability of dropping the residual branch during training
            (0 = never, TorchVision's default). Only blocks with a skip connection use it.

    Shape:
        ``(N, in, H, W) → (N, out, H / stride, W / stride)``
    """

    def __init__(
        self,
        config: InvertedResidualConfig,
        norm_layer: Callable[[int], nn.Module],
        se_layer: Callable[[int, int], nn.Module] = SqueezeExcitation,
        stochastic_depth_prob: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= stochastic_depth_prob < 1.0:
            raise ValueError(
                "expected 0 <= stochastic_depth_prob < 1, "
                f"got {stochastic_depth_prob!r}"
            )
        self.config = config
        self.stochastic_depth_prob = stochastic_depth_prob
        activation = ACTIVATIONS[config.activation]
        conv = partial(ConvNormActivation, norm_layer=norm_layer)

        layers: list[nn.Module] = []
        if config.has_expansion:  # expand
            layers.append(
                conv(
                    config.in_channels,
                    config.expanded_channels,
                    1,
                    activation_layer=activation,
                )
            )
        # depthwise; the activation sits inside this unit, so it runs before SE
        layers.append(
            conv(
                config.expanded_channels,
                config.expanded_channels,
                config.kernel_size,
                stride=config.effective_stride,
                dilation=config.dilation,
                groups=config.expanded_channels,
                activation_layer=activation,
            )
        )
        if config.use_se:  # squeeze-and-excite
            layers.append(
                se_layer(config.expanded_channels, config.squeeze_channels)
            )
        layers.append(  # project: always present, and linear (no activation)
            conv(
                config.expanded_channels,
                config.out_channels,
                1,
                activation_layer=None,
            )
        )
        self.block = nn.Sequential(*layers)
        self.out_channels = config.out_channels
        # plain attributes: read on every forward
        self.use_residual = config.use_residual
        self.use_stochastic_depth = (
            config.use_residual and stochastic_depth_prob > 0
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.block(x)
        if self.use_residual:
            if self.use_stochastic_depth:
                result = stochastic_depth(result, self.stochastic_depth_prob, "row", self.training)
            result = self.add_residual(result, x)
        return result

    def add_residual(self, result: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The skip connection; a quantizable subclass swaps in a quantization-aware add."""
        result += x
        return result


# --------------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------------
class MobileNetV3(nn.Module):
    """MobileNetV3 for classification.

    ``features`` = stem conv (3×3, stride 2, hardswish) → inverted-residual blocks → last 1×1 conv
    (6× expansion, hardswish); then global average pooling and ``classifier`` = Linear → hardswish →
    Dropout → Linear (dropout sits right before the final Linear).

    Args:
        block_configs: One config per inverted-residual block, e.g. from :func:`mobilenet_v3_config`.
        last_channel: Width of the classifier's hidden Linear layer.
        num_classes: Number of output classes.
        dropout: Dropout probability before the final Linear.
        norm_layer: Callable building a norm layer; defaults to BatchNorm2d(eps=0.001, momentum=0.01).
        block: The block class (a quantizable chapter swaps it).
        stochastic_depth_prob: Largest drop probability of the residual branches; it grows linearly
            with depth from 0 at the first block to this value at the last (0 disables it).

    Shape:
        ``(N, 3, H, W) → (N, num_classes)``
    """

    def __init__(
        self,
        block_configs: Sequence[InvertedResidualConfig],
        last_channel: int,
        num_classes: int = 1000,
        dropout: float = 0.2,
        norm_layer: Callable[[int], nn.Module] | None = None,
        block: Callable[..., nn.Module] = InvertedResidual,
        stochastic_depth_prob: float = 0.0,
    ) -> None:
        super().__init__()
        if not block_configs or not all(isinstance(c, InvertedResidualConfig) for c in block_configs):
            raise TypeError("expected block_configs to be a non-empty sequence of InvertedResidualConfig")
        check_positive(num_classes, "num_classes", integer=True)
        check_positive(last_channel, "last_channel", integer=True)
        for name, value in (("dropout", dropout), ("stochastic_depth_prob", stochastic_depth_prob)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"expected {name} to be a number in [0, 1), got {value!r} of type {type(value).__name__}")
            if not 0.0 <= value < 1.0:
                raise ValueError(f"expected 0 <= {name} < 1, got {value!r}")
        if norm_layer is None:
            norm_layer = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
        self.block_configs = tuple(block_configs)

        stem_channels = block_configs[0].in_channels
        layers: list[nn.Module] = [
            ConvNormActivation(3, stem_channels, 3, stride=2, norm_layer=norm_layer, activation_layer=nn.Hardswish)
        ]
        for index, config in enumerate(block_configs):
            drop_prob = stochastic_depth_prob * index / len(block_configs)
            layers.append(block(config, norm_layer, stochastic_depth_prob=drop_prob))
        last_in = block_configs[-1].out_channels
        last_out = 6 * last_in  # the last conv expands 6×
        layers.append(ConvNormActivation(last_in, last_out, 1, norm_layer=norm_layer, activation_layer=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(last_out, last_channel),
            nn.Hardswish(inplace=True),
            nn.Dropout(p=dropout, inplace=True),  # dropout right before the final Linear
            nn.Linear(last_channel, num_classes),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """TorchVision's initialisation: Kaiming (fan-out) convs, N(0, 0.01) Linear, unit norms."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    @property
    def stage_indices(self) -> list[int]:
        """Stage boundaries as TorchVision's detection and segmentation heads count them:
        ``[stem, <every block that starts a stage>, <last conv>]`` as indices into ``features``.
        Large: ``[0, 2, 4, 7, 13, 16]``; Small: ``[0, 1, 2, 4, 9, 12]``."""
        starts = [i + 1 for i, c in enumerate(self.block_configs) if c.starts_stage]
        return [0, *starts, len(self.features) - 1]

    @property
    def feature_info(self) -> list[dict[str, int]]:
        """The feature contract heads consume: for each stage index, its channels and output stride."""
        info, stride = [], 2  # the stem halves the resolution
        strides = [stride]
        for config in self.block_configs:
            stride *= config.effective_stride
            strides.append(stride)
        strides.append(stride)  # the last 1×1 conv keeps the resolution
        for index in self.stage_indices:
            module = self.features[index]
            info.append({"index": index, "channels": module.out_channels, "stride": strides[index]})
        return info

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Backbone only. Shape ``(N, 3, H, W) → (N, 6 * last_block_out, H / 32, W / 32)`` (/16 if dilated)."""
        check_image_batch(images)
        weight = getattr(self.features[0][0], "weight", None)  # a method, not a tensor, once quantized
        if isinstance(weight, torch.Tensor) and not is_tracing(images) and images.dtype != weight.dtype:
            raise TypeError(f"expected {weight.dtype} images (the model's dtype), got {images.dtype}: use images.to({weight.dtype}) or model.to({images.dtype})")
        return self.features(images)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Pool and classify. Shape ``(N, C, h, w) → (N, num_classes)``."""
        x = self.avgpool(features)  # (N, C, 1, 1)
        x = torch.flatten(x, 1)  # (N, C)
        return self.classifier(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(images))


# --------------------------------------------------------------------------------------------------
# The architecture tables (paper, Tables 1 and 2), one row per line of the paper
# --------------------------------------------------------------------------------------------------
class TableRow(NamedTuple):
    """A row of the paper's table before width scaling; the input channels come from the row above."""

    kernel_size: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    activation: Activation
    stride: int


STEM_CHANNELS = 16

#            kernel  exp   out   SE     activation   stride     # resolution at 224
LARGE_TABLE = (
    TableRow(3, 16, 16, False, "relu", 1),  # 112 → 112  (exp == in: no expansion conv)
    TableRow(3, 64, 24, False, "relu", 2),  # 112 → 56
    TableRow(3, 72, 24, False, "relu", 1),  # 56
    TableRow(5, 72, 40, True, "relu", 2),  # 56 → 28
    TableRow(5, 120, 40, True, "relu", 1),  # 28
    TableRow(5, 120, 40, True, "relu", 1),  # 28
    TableRow(3, 240, 80, False, "hardswish", 2),  # 28 → 14
    TableRow(3, 200, 80, False, "hardswish", 1),  # 14
    TableRow(3, 184, 80, False, "hardswish", 1),  # 14
    TableRow(3, 184, 80, False, "hardswish", 1),  # 14
    TableRow(3, 480, 112, True, "hardswish", 1),  # 14
    TableRow(3, 672, 112, True, "hardswish", 1),  # 14
    TableRow(5, 672, 160, True, "hardswish", 2),  # 14 → 7   (the "tail": last three blocks)
    TableRow(5, 960, 160, True, "hardswish", 1),  # 7
    TableRow(5, 960, 160, True, "hardswish", 1),  # 7
)
LARGE_LAST_CHANNEL = 1280

SMALL_TABLE = (
    TableRow(3, 16, 16, True, "relu", 2),  # 112 → 56   (exp == in: no expansion conv)
    TableRow(3, 72, 24, False, "relu", 2),  # 56 → 28
    TableRow(3, 88, 24, False, "relu", 1),  # 28
    TableRow(5, 96, 40, True, "hardswish", 2),  # 28 → 14
    TableRow(5, 240, 40, True, "hardswish", 1),  # 14
    TableRow(5, 240, 40, True, "hardswish", 1),  # 14
    TableRow(5, 120, 48, True, "hardswish", 1),  # 14
    TableRow(5, 144, 48, True, "hardswish", 1),  # 14
    TableRow(5, 288, 96, True, "hardswish", 2),  # 14 → 7   (the "tail": last three blocks)
    TableRow(5, 576, 96, True, "hardswish", 1),  # 7
    TableRow(5, 576, 96, True, "hardswish", 1),  # 7
)
SMALL_LAST_CHANNEL = 1024

TAIL_LENGTH = 3  # reduced_tail and dilated change only the last three blocks


def _canonical_arch(arch: object) -> str:
    if not isinstance(arch, str):
        raise TypeError(f"expected arch to be a string, got {type(arch).__name__}")
    name = arch if arch.startswith("mobilenet_v3_") else f"mobilenet_v3_{arch}"
    check_choice(name, "architecture", ARCHITECTURES)
    return name


def _modify_tail(rows: Sequence[TableRow], reduced_tail: bool) -> list[TableRow]:
    """Halve the tail's channels (``reduced_tail``): the first tail block keeps its expansion width."""
    if not reduced_tail:
        return list(rows)
    head, tail = list(rows[:-TAIL_LENGTH]), rows[-TAIL_LENGTH:]
    halved = [tail[0]._replace(out_channels=tail[0].out_channels // 2)]
    halved += [r._replace(expanded_channels=r.expanded_channels // 2, out_channels=r.out_channels // 2) for r in tail[1:]]
    return head + halved


def scale_config(config: InvertedResidualConfig, width_mult: float) -> InvertedResidualConfig:
    """Apply the width multiplier: every channel count × ``width_mult``, rounded to a multiple of 8."""
    return dataclasses.replace(
        config,
        in_channels=make_divisible(config.in_channels * width_mult),
        expanded_channels=make_divisible(config.expanded_channels * width_mult),
        out_channels=make_divisible(config.out_channels * width_mult),
    )


def mobilenet_v3_config(
    arch: str = "mobilenet_v3_large",
    *,
    width_mult: float = 1.0,
    reduced_tail: bool = False,
    dilated: bool = False,
) -> tuple[list[InvertedResidualConfig], int]:
    """The block configs and classifier width of a MobileNetV3 variant.

    Args:
        arch: ``"mobilenet_v3_large"`` or ``"mobilenet_v3_small"`` (``"large"``/``"small"`` also work).
        width_mult: Channel multiplier; every width is rounded to a multiple of 8.
        reduced_tail: Halve the channels of the last three blocks and of the classifier
            (TorchVision: "reportedly leads to a 15% latency reduction", used by SSDlite).
        dilated: Give the last three blocks dilation 2 instead of stride 2: output stride 16 instead
            of 32, for segmentation.

    Returns:
        ``(block_configs, last_channel)``.
    """
    name = _canonical_arch(arch)
    check_positive(width_mult, "width_mult")
    table, last_channel = (
        (LARGE_TABLE, LARGE_LAST_CHANNEL) if name == "mobilenet_v3_large" else (SMALL_TABLE, SMALL_LAST_CHANNEL)
    )
    rows = _modify_tail(table, reduced_tail)
    configs, in_channels = [], STEM_CHANNELS
    for index, row in enumerate(rows):
        in_tail = index >= len(rows) - TAIL_LENGTH
        config = InvertedResidualConfig(
            in_channels,
            row.kernel_size,
            row.expanded_channels,
            row.out_channels,
            row.use_se,
            row.activation,
            row.stride,
            dilation=2 if dilated and in_tail else 1,
        )
        configs.append(scale_config(config, width_mult))
        in_channels = row.out_channels
    tail_divider = 2 if reduced_tail else 1
    return configs, make_divisible(last_channel // tail_divider * width_mult)


# --------------------------------------------------------------------------------------------------
# Public builders (same names and keyword arguments as torchvision.models)
# --------------------------------------------------------------------------------------------------
def trainable_stages(is_trained: bool, trainable_layers: int | None, max_value: int = 6, default: int = 3) -> int:
    """TorchVision's rule for ``trainable_backbone_layers``: from scratch every stage trains (a value
    below ``max_value`` is ignored with a warning); on pretrained weights ``default`` unless given.

    Raises:
        TypeError, ValueError: unless ``trainable_layers`` is None or an int in ``0 .. max_value``
            (checked also from scratch, where it is not used: a wrong value is a mistake either way).
    """
    if trainable_layers is not None and (isinstance(trainable_layers, bool) or not isinstance(trainable_layers, int)):
        raise TypeError(f"expected trainable_backbone_layers to be None or an int in 0..{max_value}, got {trainable_layers!r}")
    if trainable_layers is not None and not 0 <= trainable_layers <= max_value:
        raise ValueError(f"expected 0 <= trainable_backbone_layers <= {max_value}, got {trainable_layers!r}")
    if not is_trained:
        if trainable_layers is not None and trainable_layers != max_value:
            warnings.warn(
                f"trainable_backbone_layers={trainable_layers} only applies to pretrained backbones; "
                f"training from scratch, all {max_value} stages are trainable (as in torchvision)",
                stacklevel=3,
            )
        return max_value
    return default if trainable_layers is None else trainable_layers


def freeze_early_stages(blocks: Sequence[nn.Module], stages: Sequence[int], trainable_layers: int) -> None:
    """Freeze the parameters of every block before the last ``trainable_layers`` stages (``stages``:
    indices into ``blocks`` where stages begin, e.g. :attr:`MobileNetV3.stage_indices`); the detectors
    freeze their backbones with it, as TorchVision does."""
    if isinstance(trainable_layers, bool) or not isinstance(trainable_layers, int) or not 0 <= trainable_layers <= len(stages):
        raise ValueError(f"expected 0 <= trainable_layers <= {len(stages)}, got {trainable_layers!r}")
    freeze_before = len(blocks) if trainable_layers == 0 else stages[len(stages) - trainable_layers]
    for block in blocks[:freeze_before]:
        for parameter in block.parameters():
            parameter.requires_grad_(False)


def mobilenet_v3(
    arch: str = "mobilenet_v3_large",
    *,
    num_classes: int = 1000,
    width_mult: float = 1.0,
    reduced_tail: bool = False,
    dilated: bool = False,
    dropout: float = 0.2,
    weights: object = None,
    progress: bool = True,
    norm_layer: Callable[[int], nn.Module] | None = None,
    stochastic_depth_prob: float = 0.0,
    block: Callable[..., nn.Module] = InvertedResidual,
) -> MobileNetV3:
    """Build a MobileNetV3 by architecture name; see :func:`mobilenet_v3_large` for the arguments."""
    from .weights import load_torchvision_weights  # local import: weights.py imports this module

    name = _canonical_arch(arch)
    for flag, value in (("reduced_tail", reduced_tail), ("dilated", dilated), ("progress", progress)):
        check_flag(value, flag)
    if norm_layer is not None and not callable(norm_layer):
        raise TypeError(f"expected norm_layer to be None or a callable that builds a norm layer, got {norm_layer!r}")
    check_positive(num_classes, "num_classes", integer=True)
    configs, last_channel = mobilenet_v3_config(name, width_mult=width_mult, reduced_tail=reduced_tail, dilated=dilated)
    state_dict = None
    if weights is not None:
        state_dict, num_classes = load_torchvision_weights(
            name, weights, progress=progress, num_classes=num_classes, width_mult=width_mult, reduced_tail=reduced_tail
        )
    model = MobileNetV3(
        configs,
        last_channel,
        num_classes=num_classes,
        dropout=dropout,
        norm_layer=norm_layer,
        block=block,
        stochastic_depth_prob=stochastic_depth_prob,
    )
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    return model


def mobilenet_v3_large(
    *,
    num_classes: int = 1000,
    width_mult: float = 1.0,
    reduced_tail: bool = False,
    dilated: bool = False,
    dropout: float = 0.2,
    weights: object = None,
    progress: bool = True,
    norm_layer: Callable[[int], nn.Module] | None = None,
    stochastic_depth_prob: float = 0.0,
) -> MobileNetV3:
    """MobileNetV3-Large (paper, Table 1): 5,483,032 parameters, 0.217 G multiply-adds at 224×224.

    Args:
        num_classes: Number of output classes (1000 when ``weights`` are given).
        width_mult: Channel multiplier (> 0); widths are rounded to multiples of 8.
        reduced_tail: Halve the channels of the last three blocks and the classifier.
        dilated: Dilate the last three blocks (output stride 16), for segmentation.
        dropout: Dropout probability before the final Linear.
        weights: ``None`` (random init), ``"IMAGENET1K_V1"``, ``"IMAGENET1K_V2"``, ``"DEFAULT"`` or a
            ``torchvision.models.MobileNet_V3_Large_Weights`` member. Downloads TorchVision's
            published weights; offline (and not cached) this raises :class:`WeightsUnavailableError`.
        progress: Show a download progress bar.
        norm_layer: Normalisation layer factory (e.g. FrozenBatchNorm2d for detection).
        stochastic_depth_prob: Largest residual drop probability (0 keeps TorchVision's behaviour).

    Returns:
        A :class:`MobileNetV3`.
    """
    return mobilenet_v3(
        "mobilenet_v3_large", num_classes=num_classes, width_mult=width_mult, reduced_tail=reduced_tail, dilated=dilated, dropout=dropout,
        weights=weights, progress=progress, norm_layer=norm_layer, stochastic_depth_prob=stochastic_depth_prob,
    )  # fmt: skip


def mobilenet_v3_small(
    *,
    num_classes: int = 1000,
    width_mult: float = 1.0,
    reduced_tail: bool = False,
    dilated: bool = False,
    dropout: float = 0.2,
    weights: object = None,
    progress: bool = True,
    norm_layer: Callable[[int], nn.Module] | None = None,
    stochastic_depth_prob: float = 0.0,
) -> MobileNetV3:
    """MobileNetV3-Small (paper, Table 2): 2,542,856 parameters, 0.057 G multiply-adds at 224×224.

    Arguments as :func:`mobilenet_v3_large`; ``weights`` takes ``"IMAGENET1K_V1"``/``"DEFAULT"`` or a
    ``torchvision.models.MobileNet_V3_Small_Weights`` member.
    """
    return mobilenet_v3(
        "mobilenet_v3_small", num_classes=num_classes, width_mult=width_mult, reduced_tail=reduced_tail, dilated=dilated, dropout=dropout,
        weights=weights, progress=progress, norm_layer=norm_layer, stochastic_depth_prob=stochastic_depth_prob,
    )  # fmt: skip
