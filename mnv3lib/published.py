"""The articles' published numbers, with their sources, to print beside the book's own measurements.

Two kinds of source:

* TorchVision's weight metadata (``weights.meta``), read from the installed torchvision at run time,
  so it works offline and always matches the reader's torchvision.
* Numbers that exist only in the articles (the PyTorch blog post "Everything you need to know about
  TorchVision's MobileNetV3 implementation", 2021), copied here once with their units.
"""

from __future__ import annotations

from typing import Any

from torchvision.models import MobileNet_V3_Large_Weights, MobileNet_V3_Small_Weights
from torchvision.models.quantization import MobileNet_V3_Large_QuantizedWeights

__all__ = ["BLOG", "BLOG_SOURCE", "torchvision_meta"]

BLOG_SOURCE = "PyTorch blog, 'Everything you need to know about TorchVision's MobileNetV3 implementation' (2021)"

# The blog's classification table: relative CPU timings ("not absolute benchmarks"), parameters in millions.
BLOG: dict[str, dict[str, float]] = {
    "mobilenet_v3_large": {"acc1": 74.042, "acc5": 91.340, "cpu_s": 0.0411, "params_m": 5.48},
    "mobilenet_v3_small": {"acc1": 67.668, "acc5": 87.402, "cpu_s": 0.0165, "params_m": 2.54},
    "quantized_mobilenet_v3_large": {"acc1": 73.004, "acc5": 90.858, "cpu_s": 0.0162, "params_m": 2.96},
    # the same post's text: post-training quantization of the float Large weights, for comparison with QAT
    "ptq_mobilenet_v3_large": {"acc1": 71.160, "acc5": 89.834},
    "mobilenet_v2": {"acc1": 71.880, "acc5": 90.290, "cpu_s": 0.0608},
    "resnet50": {"acc1": 76.150, "acc5": 92.870, "cpu_s": 0.2545},
    "resnet18": {"acc1": 69.760, "acc5": 89.080, "cpu_s": 0.1032},
}

_WEIGHTS = {
    "mobilenet_v3_large": MobileNet_V3_Large_Weights.IMAGENET1K_V1,
    "mobilenet_v3_small": MobileNet_V3_Small_Weights.IMAGENET1K_V1,
    "quantized_mobilenet_v3_large": MobileNet_V3_Large_QuantizedWeights.IMAGENET1K_QNNPACK_V1,
}


def torchvision_meta(arch: str) -> dict[str, Any]:
    """Published figures of TorchVision's ImageNet weights for ``arch`` (``IMAGENET1K_V1``, or for
    ``"quantized_mobilenet_v3_large"`` the QAT int8 ``IMAGENET1K_QNNPACK_V1``).

    Returns:
        ``num_params``, ``macs_g`` (the metadata's ``_ops``: billions of multiply-adds, labelled
        "GFLOPS" in TorchVision's docs), ``acc1``, ``acc5`` (ImageNet-1K) and ``file_size_mb``.
    """
    if arch not in _WEIGHTS:
        raise ValueError(f"unknown architecture {arch!r}: expected one of {', '.join(map(repr, _WEIGHTS))}")
    meta = _WEIGHTS[arch].meta
    metrics = meta["_metrics"]["ImageNet-1K"]
    return {
        "num_params": meta["num_params"],
        "macs_g": meta["_ops"],
        "acc1": metrics["acc@1"],
        "acc5": metrics["acc@5"],
        "file_size_mb": meta["_file_size"],
    }
