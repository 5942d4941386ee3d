"""What the book's detectors check before they run: the inputs of a detection ``forward``.

:class:`CheckedInputs` is mixed into TorchVision's ``FasterRCNN``, ``KeypointRCNN`` and ``SSD``
(:mod:`mnv3lib.models.detection`, :mod:`mnv3lib.models.ssdlite`), so that a bad image or target fails
with a sentence before any compute, not deep inside TorchVision.

The check has two parts. Types, shapes and keys read only metadata. Values (finite images in [0, 1],
finite boxes inside their image with x1 < x2 and y1 < y2, labels of the model's classes, finite
keypoints) are tested together with one read of the data, and only a bad batch is read again to say
what is wrong. The engine checks each sample once, as it collates the batch on the CPU, and trains
inside :func:`~mnv3lib.checks.inputs_checked`, where the forward pass skips the values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..checks import inputs_are_checked

__all__ = ["check_detection_inputs", "CheckedInputs"]


def check_detection_inputs(
    images: Sequence[torch.Tensor],
    targets: Sequence[dict[str, torch.Tensor]] | None = None,
    *,
    keypoints: bool = False,
    num_classes: int | None = None,
    num_keypoints: int | None = None,
    values: bool | None = None,
) -> None:
    """Check what a detection model is given, with messages that say what was expected.

    Args:
        images, targets: What the model's ``forward`` takes.
        keypoints: Whether the targets must hold ``keypoints`` (a keypoint model).
        num_classes: The model's classes, the background included (labels must be below it).
        num_keypoints: The keypoints per instance.
        values: Also check the values (one read of the data). None: unless inside
            :func:`~mnv3lib.checks.inputs_checked`.

    Raises:
        TypeError: images that are not a list of float tensors, a target that is not a dict, labels
            that are not integers.
        ValueError: no images, an empty or non-finite image, values outside [0, 1], a wrong image
            shape; a target missing ``boxes`` or ``labels`` (or ``keypoints`` for a keypoint model),
            labels that do not match the boxes one to one or fall outside ``1 .. num_classes - 1``
            (0 is the background), non-finite boxes, boxes with x2 <= x1 or y2 <= y1 or entirely
            outside their image, keypoints not shaped ``(N, num_keypoints, 3)`` or not finite.
    """
    _check_structure(images, targets, keypoints, num_keypoints)
    if values is None:
        values = not inputs_are_checked()
    if values and _any_bad_value(images, targets or [], keypoints, num_classes):
        raise ValueError(_bad_value(images, targets or [], keypoints, num_classes))


def _check_structure(images: Sequence[torch.Tensor], targets: Sequence[dict[str, torch.Tensor]] | None, keypoints: bool, num_keypoints: int | None) -> None:
    """Types, shapes and keys: metadata only."""
    if isinstance(images, torch.Tensor) or not isinstance(images, (list, tuple)):
        raise TypeError(f"expected images as a list of (3, H, W) tensors, got {type(images).__name__}")
    if not images:
        raise ValueError("expected at least one image, got an empty list")
    for index, image in enumerate(images):
        if not isinstance(image, torch.Tensor) or not image.is_floating_point():
            kind = image.dtype if isinstance(image, torch.Tensor) else type(image).__name__
            raise TypeError(f"expected image {index} to be a float tensor with values in [0, 1], got {kind}: use image.float() / 255")
        if image.dim() != 3 or image.shape[0] != 3 or image.shape[1] < 1 or image.shape[2] < 1:
            raise ValueError(f"expected image {index} of shape (3, H, W) with H, W >= 1, got {tuple(image.shape)}")
    if targets is None:
        return
    if len(targets) != len(images):
        raise ValueError(f"expected one target per image, got {len(targets)} targets for {len(images)} images")
    required = ("boxes", "labels", "keypoints") if keypoints else ("boxes", "labels")
    for index, target in enumerate(targets):
        if not isinstance(target, dict):
            raise TypeError(f"expected target {index} to be a dict, got {type(target).__name__}")
        missing = [key for key in required if key not in target]
        if missing:
            raise ValueError(f"target {index} is missing {', '.join(map(repr, missing))}: expected keys {', '.join(required)}")
        boxes, labels = target["boxes"], target["labels"]
        if boxes.dim() != 2 or boxes.shape[-1] != 4:
            raise ValueError(f"expected target {index} boxes of shape (N, 4) as (x1, y1, x2, y2), got {tuple(boxes.shape)}")
        if labels.dim() != 1 or len(labels) != len(boxes):
            raise ValueError(f"expected target {index} to have one label per box, got labels of shape {tuple(labels.shape)} for {len(boxes)} boxes")
        if labels.is_floating_point():
            raise TypeError(f"expected target {index} labels to be integers (int64), got {labels.dtype}")
        if keypoints:
            points = target["keypoints"]
            k = "K" if num_keypoints is None else num_keypoints
            if points.dim() != 3 or points.shape[0] != len(boxes) or points.shape[-1] != 3 or (num_keypoints is not None and points.shape[1] != num_keypoints):
                raise ValueError(f"expected target {index} keypoints of shape ({len(boxes)}, {k}, 3) as (x, y, visibility), got {tuple(points.shape)}")


def _value_flags(image: torch.Tensor, target: dict[str, torch.Tensor] | None, keypoints: bool, num_classes: int | None) -> list[torch.Tensor]:
    """Boolean scalars, one per value check of ``image`` and its ``target``: True where it fails."""
    flags = [~torch.isfinite(image).all(), image.amin() < 0, image.amax() > 1]
    if target is None:
        return flags
    boxes, labels = target["boxes"], target["labels"]
    height, width = image.shape[-2:]
    flags += [
        ~torch.isfinite(boxes).all(),
        ((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).any(),
        ((boxes[:, 0] >= width) | (boxes[:, 1] >= height) | (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)).any(),
    ]
    if len(labels):
        flags.append(labels.amin() < 1)
        if num_classes is not None:
            flags.append(labels.amax() >= num_classes)
    if keypoints:
        flags.append(~torch.isfinite(target["keypoints"]).all())
    return flags


def _any_bad_value(images: Sequence[torch.Tensor], targets: Sequence[dict[str, torch.Tensor]], keypoints: bool, num_classes: int | None) -> bool:
    """Whether any value check fails, with one read of the data (on the first image's device)."""
    paired = list(targets) + [None] * (len(images) - len(targets))
    flags = [flag for image, target in zip(images, paired) for flag in _value_flags(image, target, keypoints, num_classes)]
    return bool(torch.stack([flag.to(images[0].device) for flag in flags]).any())


def _bad_value(images: Sequence[torch.Tensor], targets: Sequence[dict[str, torch.Tensor]], keypoints: bool, num_classes: int | None) -> str:
    """What the first failing value check found, in the order of the images and their targets."""
    for index, image in enumerate(images):
        if not bool(torch.isfinite(image).all()):
            return f"image {index} has NaN or infinite values"
        low, high = float(image.min()), float(image.max())
        if low < 0 or high > 1:
            return f"expected image {index} values in [0, 1], got [{low:.3g}, {high:.3g}]: scale it (e.g. / 255)"
    for index, target in enumerate(targets):
        boxes, labels = target["boxes"], target["labels"]
        if not bool(torch.isfinite(boxes).all()):
            return f"target {index} has NaN or infinite boxes"
        bad = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
        if bad.any():
            row = int(torch.nonzero(bad)[0])
            return f"target {index} box {row} is {boxes[row].tolist()}: expected x1 < x2 and y1 < y2 (XYXY format)"
        height, width = images[index].shape[-2:]
        outside = (boxes[:, 0] >= width) | (boxes[:, 1] >= height) | (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)
        if outside.any():
            row = int(torch.nonzero(outside)[0])
            return f"target {index} box {row} is {boxes[row].tolist()}: entirely outside its {width}×{height} image"
        top = "" if num_classes is None else f" .. {num_classes - 1}"
        if len(labels) and (int(labels.min()) < 1 or (num_classes is not None and int(labels.max()) >= num_classes)):
            return f"target {index} has labels {sorted(set(labels.tolist()))}: expected 1{top} (0 is the background)"
        if keypoints and not bool(torch.isfinite(target["keypoints"]).all()):
            return f"target {index} has NaN or infinite keypoints"
    return "the detection inputs fail a value check"


class CheckedInputs:
    """Mixin for a TorchVision detector: ``forward`` checks ``images`` and ``targets`` first.

    The check is skipped while tracing, exporting or compiling (``torch.compile``): it reads values
    (``image.min()``), which would break the graph. A compiled or exported detector does not check
    its inputs: check a batch yourself with :func:`check_detection_inputs` before. Subclasses say
    what their heads expect in :meth:`input_checks`.
    """

    def input_checks(self) -> dict[str, Any]:
        """:func:`check_detection_inputs`'s keyword arguments for this model (``keypoints``,
        ``num_classes``, ``num_keypoints``): what a data pipeline checks its batches with."""
        raise NotImplementedError

    def forward(self, images, targets=None):  # noqa: D102 (torchvision's signature and docstring)
        if not torch.jit.is_tracing() and not torch.compiler.is_compiling():
            check_detection_inputs(images, targets, **self.input_checks())
        return super().forward(images, targets)
