"""The small layers MobileNetV3 is made of: channel rounding, conv-norm-activation, squeeze-and-excite.

Chapter 1 ("Anatomy of MobileNetV3") explains each of them. The module names inside each layer match
TorchVision's (``0``/``1``/``2`` in a conv unit, ``fc1``/``fc2`` in SE), so state dicts are interchangeable.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["make_divisible", "ConvNormActivation", "SqueezeExcitation"]


def make_divisible(
    value: float, divisor: int = 8, min_value: int | None = None
) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never dropping
    more than 10%.

    This is the rounding rule of the MobileNet papers (and TorchVision's
    ``_make_divisible``): every channel count is a multiple of 8, which suits
    vectorised kernels on mobile hardware.

    Args:
        value: The unrounded channel count, e.g. ``width_mult * 40``.
        divisor: The multiple to round to.
        min_value: The smallest allowed result (defaults to ``divisor``).

    Returns:
        The rounded channel count.

    Example:
        >>> make_divisible(30), make_divisible(27.5), make_divisible(3)
        (32, 32, 8)
    """
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    # rounding down must not remove more than 10% of the channels
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class ConvNormActivation(nn.Sequential):
    """Conv2d (no bias) → normalisation → optional activation, "same" padding for odd kernels.

    Submodules are ``0`` (conv), ``1`` (norm) and ``2`` (activation, if any), as in TorchVision's
    ``Conv2dNormActivation``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel size (odd).
        stride: Convolution stride.
        dilation: Convolution dilation (atrous rate).
        groups: ``in_channels`` for a depthwise convolution, 1 for a dense one.
        norm_layer: Callable building the normalisation layer from a channel count.
        activation_layer: Activation class (built with ``inplace=True``), or ``None`` for a linear unit.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d,
        activation_layer: Callable[..., nn.Module] | None = nn.ReLU,
    ) -> None:
        padding = (kernel_size - 1) // 2 * dilation
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=groups,
                bias=False,  # the norm layer that follows has its own shift
            ),
            norm_layer(out_channels),
        ]
        if activation_layer is not None:
            layers.append(activation_layer(inplace=True))
        super().__init__(*layers)
        self.out_channels = out_channels


class SqueezeExcitation(nn.Module):
    """Squeeze-and-Excite (Hu et al., 2018) with MobileNetV3's hard-sigmoid gate.

    Global average pool → 1×1 conv (``fc1``) → ReLU → 1×1 conv (``fc2``) → hard-sigmoid, and the result
    rescales each input channel.

    Args:
        channels: Channels of the input (the block's expanded channels).
        squeeze_channels: Width of the bottleneck; MobileNetV3 uses ``make_divisible(channels // 4, 8)``.
        activation: Activation between the two 1×1 convs.
        scale_activation: The gate; ``nn.Hardsigmoid`` in MobileNetV3 (``nn.Sigmoid`` in the SE paper).

    Shape:
        ``(N, C, H, W) → (N, C, H, W)``
    """

    def __init__(
        self,
        channels: int,
        squeeze_channels: int,
        activation: Callable[[], nn.Module] = nn.ReLU,
        scale_activation: Callable[[], nn.Module] = nn.Hardsigmoid,
    ) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def channel_scale(self, x: torch.Tensor) -> torch.Tensor:
        """The per-channel gate in [0, 1].

        Shape ``(N, C, H, W) → (N, C, 1, 1)``.
        """
        scale = self.avgpool(x)  # (N, C, 1, 1)
        scale = self.activation(self.fc1(scale))  # (N, squeeze, 1, 1)
        return self.scale_activation(self.fc2(scale))  # (N, C, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.channel_scale(x) * x
