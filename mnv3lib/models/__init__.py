"""MobileNetV3 models: the network, its blocks and layers, and TorchVision's published weights."""

from .layers import ConvNormActivation, SqueezeExcitation, make_divisible
from .mobilenetv3 import (
    ARCHITECTURES,
    InvertedResidual,
    InvertedResidualConfig,
    MobileNetV3,
    mobilenet_v3,
    mobilenet_v3_config,
    mobilenet_v3_large,
    mobilenet_v3_small,
    scale_config,
)
from .weights import WeightsUnavailableError, cached_weights_path, resolve_weights

__all__ = [
    "ARCHITECTURES",
    "ConvNormActivation",
    "InvertedResidual",
    "InvertedResidualConfig",
    "MobileNetV3",
    "SqueezeExcitation",
    "WeightsUnavailableError",
    "cached_weights_path",
    "make_divisible",
    "mobilenet_v3",
    "mobilenet_v3_config",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "resolve_weights",
    "scale_config",
]
