"""TorchVision's pretrained models for real photographs: all the models a figure needs, or one line why not.

The book runs offline, where TorchVision's weights cannot be downloaded; a reader in Colab is online.
:func:`load_pretrained` serves both: it builds every requested model with its published weights
(through the library's own builders, which load the same files as TorchVision's), or, as soon as one
cannot be had, returns ``None`` and a one-line note for the page. It stops at the first failure, so
an offline machine waits at most one download time-out (``MNV3LIB_DOWNLOAD_TIMEOUT``, see
:mod:`mnv3lib.models.weights`), and a machine without any network answers at once.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import nn
from torchvision.models import MobileNet_V3_Large_Weights, MobileNet_V3_Small_Weights, WeightsEnum
from torchvision.models.detection import (
    FasterRCNN_MobileNet_V3_Large_320_FPN_Weights,
    FasterRCNN_MobileNet_V3_Large_FPN_Weights,
    KeypointRCNN_ResNet50_FPN_Weights,
    SSDLite320_MobileNet_V3_Large_Weights,
    keypointrcnn_resnet50_fpn,
)
from torchvision.models.quantization import MobileNet_V3_Large_QuantizedWeights
from torchvision.models.segmentation import DeepLabV3_MobileNet_V3_Large_Weights, LRASPP_MobileNet_V3_Large_Weights

from . import detection, quantization, segmentation
from .mobilenetv3 import mobilenet_v3_large, mobilenet_v3_small
from .weights import WeightsUnavailableError, cached_weights_path, fetch_state_dict

__all__ = ["Pretrained", "PRETRAINED_BUILDERS", "pretrained_model", "load_pretrained", "offline_note"]


@dataclass(frozen=True)
class Pretrained:
    """A model with TorchVision's weights, and the weights' enum member, which knows the model's
    preprocessing (``transforms()``) and class names (``categories``)."""

    model: nn.Module
    weights: WeightsEnum

    @property
    def categories(self) -> list[str]:
        """The class names, indexed by the model's output (COCO's and VOC's start with ``__background__``)."""
        return list(self.weights.meta["categories"])

    def transforms(self) -> nn.Module:
        """The preprocessing the weights were trained and evaluated with (``weights.transforms()``)."""
        return self.weights.transforms()


def _int8_large(member: WeightsEnum, progress: bool) -> nn.Module:
    """Chapter 3's quantizable MobileNetV3-Large with TorchVision's int8 weights. The published file
    holds the weights of the model prepared for quantization-aware training, so they are loaded
    before conversion, as TorchVision does; the int8 model runs on the backend they were made for
    (``model.quantization_backend``, ``"qnnpack"``)."""
    backend = member.meta["backend"]
    state_dict = fetch_state_dict(member, progress=progress)
    # the notices torch repeats on every eager quantization (Chapter 3 explains them)
    with quantization.quantized_engine(backend), quantization.eager_int8_notices_silenced():
        prepared = quantization.prepare_qat(quantization.mobilenet_v3_large(), backend)
        prepared.load_state_dict(state_dict)
        return quantization.convert(prepared)


def _torchvision_keypoint_rcnn(member: WeightsEnum, progress: bool) -> nn.Module:
    """TorchVision's keypoint R-CNN on ResNet-50 (the book has no ResNet), from the file that
    :func:`pretrained_model` has put in torch.hub's cache."""
    return keypointrcnn_resnet50_fpn(weights=member, progress=False)


# Which builder takes the weights of each TorchVision enum: the library's own, except for ResNet-50.
PRETRAINED_BUILDERS: dict[type[WeightsEnum], Callable[[WeightsEnum, bool], nn.Module]] = {
    MobileNet_V3_Large_Weights: lambda member, progress: mobilenet_v3_large(weights=member, progress=progress),
    MobileNet_V3_Small_Weights: lambda member, progress: mobilenet_v3_small(weights=member, progress=progress),
    MobileNet_V3_Large_QuantizedWeights: _int8_large,
    FasterRCNN_MobileNet_V3_Large_FPN_Weights: lambda member, progress: detection.fasterrcnn_mobilenet_v3_large_fpn(weights=member, progress=progress),
    FasterRCNN_MobileNet_V3_Large_320_FPN_Weights: lambda member, progress: detection.fasterrcnn_mobilenet_v3_large_320_fpn(weights=member, progress=progress),
    SSDLite320_MobileNet_V3_Large_Weights: lambda member, progress: detection.ssdlite320_mobilenet_v3_large(weights=member, progress=progress),
    KeypointRCNN_ResNet50_FPN_Weights: _torchvision_keypoint_rcnn,
    LRASPP_MobileNet_V3_Large_Weights: lambda member, progress: segmentation.lraspp_mobilenet_v3_large(weights=member, progress=progress),
    DeepLabV3_MobileNet_V3_Large_Weights: lambda member, progress: segmentation.deeplabv3_mobilenet_v3_large(weights=member, progress=progress),
}  # fmt: skip


def _check_member(member: object, name: str) -> WeightsEnum:
    if not isinstance(member, WeightsEnum):
        raise TypeError(f"expected {name} to be a TorchVision weights enum member (e.g. MobileNet_V3_Large_Weights.DEFAULT), got {member!r}")
    if type(member) not in PRETRAINED_BUILDERS:
        supported = ", ".join(enum.__name__ for enum in PRETRAINED_BUILDERS)
        raise ValueError(f"no builder for {member} ({name}): expected a member of {supported}")
    return member


def pretrained_model(weights: WeightsEnum, *, progress: bool = True) -> nn.Module:
    """The model of ``weights`` (a member of an enum of :data:`PRETRAINED_BUILDERS`) with those weights, in eval mode.

    Raises:
        WeightsUnavailableError: when the file is neither cached nor downloadable in time.
        TypeError, ValueError: for anything but a member of those enums.
    """
    member = _check_member(weights, "weights")
    if not os.path.isfile(cached_weights_path(member)):  # download first: offline, fail before building anything
        fetch_state_dict(member, progress=progress)
    return PRETRAINED_BUILDERS[type(member)](member, progress).eval()


def offline_note(to_see: str, error: WeightsUnavailableError | None = None) -> str:
    """The one line a page shows instead of ``to_see`` when TorchVision's weights cannot be had.

    It names no machine-specific reason (the published book is built offline, and its outputs are
    compared on other machines), except a corrupt cached file, which the reader must delete.
    """
    if error is not None and not isinstance(error.__cause__, OSError):
        return f"Run this chapter in Colab to see {to_see}: {error}"
    return f"Run this chapter in Colab to see {to_see}: TorchVision's pretrained weights cannot be downloaded here."


def load_pretrained(weights: Mapping[str, WeightsEnum], *, to_see: str, progress: bool = True) -> tuple[dict[str, Pretrained] | None, str | None]:
    """Build every model of ``weights`` with TorchVision's published weights, in eval mode, or none.

    Args:
        weights: A name for each model → a TorchVision weights enum member of
            :data:`PRETRAINED_BUILDERS`, e.g. ``{"Large": MobileNet_V3_Large_Weights.DEFAULT}``.
        to_see: What the reader would see, for the offline note: "Run this chapter in Colab to see
            {to_see}: ...".
        progress: Show download progress bars (on stderr; nothing is shown for cached files).

    Returns:
        ``(models, None)`` with a :class:`Pretrained` per name, or ``(None, note)`` at the first model
        whose weights are neither cached nor downloadable (the others are not tried).

    Raises:
        TypeError: a value that is not a weights enum member, or ``to_see`` that is not a string.
        ValueError: weights of a model this function does not build, or no weights at all.
    """
    if not isinstance(to_see, str) or not to_see.strip():
        raise TypeError(f"expected to_see to be a non-empty string (what the reader would see), got {to_see!r}")
    if not isinstance(weights, Mapping) or not weights:
        raise ValueError(f"expected a non-empty mapping of names to TorchVision weights, got {weights!r}")
    for name, member in weights.items():
        _check_member(member, f"weights[{name!r}]")
    models = {}
    for name, member in weights.items():
        try:
            # torch.hub announces each download on stdout ("Downloading: <url> to <cache path>"), also
            # one that fails at once: a page would show a path of the machine that built it.
            with contextlib.redirect_stdout(io.StringIO()):
                models[name] = Pretrained(pretrained_model(member, progress=progress), member)
        except WeightsUnavailableError as error:
            return None, offline_note(to_see, error)
    return models, None
