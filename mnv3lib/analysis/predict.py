"""Running a trained model on photographs: each task with its model's own preprocessing.

* :func:`classify`: class probabilities, with the preprocessing the weights were trained with
  (TorchVision's ``weights.transforms()``: resize, centre crop 224, ImageNet normalisation).
* :func:`detect`: boxes, labels, scores (and keypoints), optionally at another input size than the
  detector's own (R-CNN: the shorter side, with the longer side capped in the same ratio as the
  model's; SSD: the square it resizes every image to).
* :func:`segment`: a class per pixel, at each photograph's own size.

Photographs are uint8 (or [0, 1] float) tensors ``(3, H, W)`` of any size, as
:func:`mnv3lib.data.photos.load_photograph` returns them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models.detection.ssd import SSD
from torchvision.transforms import v2

from ..checks import check_positive
from ..devices import model_device
from ..models.detection import inference_settings
from ..models.quantization import quantized_engine

__all__ = ["classify", "top_classes", "detect", "detection_size_settings", "segment", "segment_scores", "segmentation_preprocess"]


def _photographs(images: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """The photographs as a list, each checked to be a ``(3, H, W)`` tensor (a batch dimension is refused)."""
    photos = list(images)
    if not photos:
        raise ValueError("expected at least one photograph, got none")
    for index, image in enumerate(photos):
        if not isinstance(image, torch.Tensor):
            raise TypeError(f"expected photographs as (3, H, W) tensors, got {type(image).__name__} at index {index}")
        if image.dim() != 3 or image.shape[0] != 3:
            hint = ": pass a list of images, not a batch" if image.dim() == 4 else ""
            raise ValueError(f"expected photographs of shape (3, H, W), got {tuple(image.shape)} at index {index}{hint}")
    return photos


def _as_float(image: torch.Tensor) -> torch.Tensor:
    return image.float() / 255 if not image.is_floating_point() else image


def _engine(model: nn.Module) -> contextlib.AbstractContextManager:
    """An int8 model runs on the quantized backend it was converted for (``model.quantization_backend``)."""
    backend = getattr(model, "quantization_backend", None)
    return quantized_engine(backend) if backend else contextlib.nullcontext()


def classify(model: nn.Module, images: Iterable[torch.Tensor], transforms: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Class probabilities of every photograph, each preprocessed by ``transforms``.

    Args:
        model: A classifier in eval mode (float, or int8 from :mod:`mnv3lib.models.quantization`).
        images: Photographs ``(3, H, W)``, uint8 or [0, 1] float.
        transforms: The preprocessing of one photograph, e.g. ``weights.transforms()``; its outputs
            must share one size (the centre crop).

    Returns:
        ``(N, num_classes)`` softmax probabilities, on the CPU.
    """
    batch = torch.stack([transforms(image) for image in _photographs(images)])  # (N, 3, crop, crop)
    with torch.inference_mode(), _engine(model):
        return model(batch.to(model_device(model))).softmax(1).cpu()


def top_classes(probabilities: torch.Tensor, categories: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
    """The ``k`` most probable ``(class name, probability)`` pairs of each row of ``probabilities``, best first."""
    check_positive(k, "k", integer=True)
    if probabilities.dim() != 2 or probabilities.shape[1] != len(categories):
        raise ValueError(f"expected probabilities of shape (N, {len(categories)}) for {len(categories)} categories, got {tuple(probabilities.shape)}")
    values, indices = probabilities.topk(min(k, len(categories)), dim=1)
    return [[(categories[i], float(p)) for p, i in zip(row_p.tolist(), row_i.tolist())] for row_p, row_i in zip(values, indices)]


def detection_size_settings(model: nn.Module, size: int) -> dict[str, int]:
    """The :func:`~mnv3lib.models.detection.inference_settings` that make ``model`` see its input at
    ``size``: SSD's square, or R-CNN's shorter side with the longer side capped in the model's own
    ratio (800 / 1333 becomes 320 / 533)."""
    check_positive(size, "size", integer=True)
    if isinstance(model, SSD):
        return {"size": size}
    transform = getattr(model, "transform", None)
    if transform is None or not hasattr(transform, "min_size"):
        raise TypeError(f"expected a Faster R-CNN, Keypoint R-CNN or SSD detector, got {type(model).__name__}")
    return {"min_size": size, "max_size": round(size * transform.max_size / transform.min_size[0])}


def detect(model: nn.Module, images: Iterable[torch.Tensor], *, size: int | None = None) -> list[dict[str, torch.Tensor]]:
    """The detector's predictions for every photograph, on the CPU.

    Args:
        model: A TorchVision-style detector (Faster R-CNN, Keypoint R-CNN, SSD), which resizes and
            normalises its inputs itself.
        images: Photographs ``(3, H, W)``, uint8 or [0, 1] float, of any sizes.
        size: The input size to run at (see :func:`detection_size_settings`); None keeps the model's.
            The model's settings are restored afterwards.

    Returns:
        One dict per photograph: ``boxes`` (XYXY, in the photograph's pixels), ``labels``, ``scores``,
        and ``keypoints`` for keypoint models.
    """
    photos = [_as_float(image) for image in _photographs(images)]
    device = model_device(model)
    settings = detection_size_settings(model, size) if size is not None else {}
    with torch.inference_mode(), inference_settings(model, **settings) if settings else contextlib.nullcontext():
        predictions = model([photo.to(device) for photo in photos])
    return [{key: value.cpu() for key, value in prediction.items()} for prediction in predictions]


def segmentation_preprocess(size: int, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> v2.Compose:
    """Resize the shorter side to ``size``, scale to [0, 1] float, and normalise with ``mean`` and
    ``std`` when given: TorchVision's segmentation preprocessing (520 and ImageNet's statistics for
    its weights) at any size. The book's segmentation models take [0, 1] images, unnormalised."""
    check_positive(size, "size", integer=True)
    if (mean is None) != (std is None):
        raise ValueError("expected both mean and std, or neither")
    steps: list[nn.Module] = [v2.Resize(size, antialias=True), v2.ToDtype(torch.float32, scale=True)]
    return v2.Compose(steps + ([v2.Normalize(list(mean), list(std))] if mean is not None else []))


def segment_scores(model: nn.Module, image: torch.Tensor, transforms: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The class of every pixel of one photograph and its probability, at the photograph's own size.

    Returns:
        ``(classes, confidence)``: ``(H, W)`` int64 class ids (the arg-max of the logits, resized
        bilinearly to the photograph's size first) and the ``(H, W)`` softmax probability of that
        class, on the CPU.
    """
    (image,) = _photographs([image])
    with torch.inference_mode():
        logits = model(transforms(image).unsqueeze(0).to(model_device(model)))["out"]  # (1, C, h, w)
        logits = F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)  # (1, C, H, W)
        confidence, classes = logits.softmax(1).max(1)
    return classes[0].cpu(), confidence[0].cpu()


def segment(model: nn.Module, images: Iterable[torch.Tensor], transforms: Callable[[torch.Tensor], torch.Tensor]) -> list[torch.Tensor]:
    """The class of every pixel of every photograph, at the photograph's own size.

    Args:
        model: A segmentation model returning ``{"out": logits}`` (LR-ASPP, DeepLabV3, FCN).
        images: Photographs ``(3, H, W)``, uint8 or [0, 1] float, of any sizes.
        transforms: The preprocessing of one photograph, e.g. :func:`segmentation_preprocess` or
            ``weights.transforms()``.

    Returns:
        One ``(H, W)`` int64 map of class ids per photograph (see :func:`segment_scores`).
    """
    return [segment_scores(model, image, transforms)[0] for image in _photographs(images)]
