"""What the book's detectors check before they run: the inputs of a detection ``forward``.

:class:`CheckedInputs` is mixed into TorchVision's ``FasterRCNN``, ``KeypointRCNN`` and ``SSD``
(:mod:`mnv3lib.models.detection`, :mod:`mnv3lib.models.ssdlite`), so that a bad image or target fails
with a sentence before any compute, not deep inside TorchVision.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["check_detection_inputs", "CheckedInputs"]


def check_detection_inputs(
    images: Sequence[torch.Tensor],
    targets: Sequence[dict[str, torch.Tensor]] | None = None,
    *,
    keypoints: bool = False,
    num_classes: int | None = None,
    num_keypoints: int | None = None,
) -> None:
    """Check what a detection model is given, with messages that say what was expected.

    Raises:
        TypeError: images that are not a list of float tensors, a target that is not a dict.
        ValueError: no images, an empty or non-finite image, values outside [0, 1], a wrong image
            shape; a target missing ``boxes`` or ``labels`` (or ``keypoints`` for a keypoint model),
            labels that do not match the boxes one to one or fall outside ``1 .. num_classes - 1``
            (0 is the background), non-finite boxes, boxes with x2 <= x1 or y2 <= y1 or entirely
            outside their image, keypoints not shaped ``(N, num_keypoints, 3)`` or not finite.
    """
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
        if not bool(torch.isfinite(image).all()):
            raise ValueError(f"image {index} has NaN or infinite values")
        low, high = float(image.min()), float(image.max())
        if low < 0 or high > 1:
            raise ValueError(f"expected image {index} values in [0, 1], got [{low:.3g}, {high:.3g}]: scale it (e.g. / 255)")
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
        boxes = target["boxes"]
        if boxes.dim() != 2 or boxes.shape[-1] != 4:
            raise ValueError(f"expected target {index} boxes of shape (N, 4) as (x1, y1, x2, y2), got {tuple(boxes.shape)}")
        if not bool(torch.isfinite(boxes).all()):
            raise ValueError(f"target {index} has NaN or infinite boxes")
        bad = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
        if bad.any():
            row = int(torch.nonzero(bad)[0])
            raise ValueError(f"target {index} box {row} is {boxes[row].tolist()}: expected x1 < x2 and y1 < y2 (XYXY format)")
        height, width = images[index].shape[-2:]
        outside = (boxes[:, 0] >= width) | (boxes[:, 1] >= height) | (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)
        if outside.any():
            row = int(torch.nonzero(outside)[0])
            raise ValueError(f"target {index} box {row} is {boxes[row].tolist()}: entirely outside its {width}×{height} image")
        labels = target["labels"]
        if labels.dim() != 1 or len(labels) != len(boxes):
            raise ValueError(f"expected target {index} to have one label per box, got labels of shape {tuple(labels.shape)} for {len(boxes)} boxes")
        if labels.is_floating_point():
            raise TypeError(f"expected target {index} labels to be integers (int64), got {labels.dtype}")
        top = "" if num_classes is None else f" .. {num_classes - 1}"
        if len(labels) and (int(labels.min()) < 1 or (num_classes is not None and int(labels.max()) >= num_classes)):
            raise ValueError(f"target {index} has labels {sorted(set(labels.tolist()))}: expected 1{top} (0 is the background)")
        if keypoints:
            points = target["keypoints"]
            k = "K" if num_keypoints is None else num_keypoints
            if points.dim() != 3 or points.shape[0] != len(boxes) or points.shape[-1] != 3 or (num_keypoints is not None and points.shape[1] != num_keypoints):
                raise ValueError(f"expected target {index} keypoints of shape ({len(boxes)}, {k}, 3) as (x, y, visibility), got {tuple(points.shape)}")
            if not bool(torch.isfinite(points).all()):
                raise ValueError(f"target {index} has NaN or infinite keypoints")


class CheckedInputs:
    """Mixin for a TorchVision detector: ``forward`` checks ``images`` and ``targets`` first.

    The check is skipped while tracing, exporting or compiling (``torch.compile``): it reads values
    (``image.min()``), which would break the graph. A compiled or exported detector does not check
    its inputs: check a batch yourself with :func:`check_detection_inputs` before. Subclasses say
    what to check in :meth:`check_inputs`.
    """

    def check_inputs(self, images, targets) -> None:
        raise NotImplementedError

    def forward(self, images, targets=None):  # noqa: D102 (torchvision's signature and docstring)
        if not torch.jit.is_tracing() and not torch.compiler.is_compiling():
            self.check_inputs(images, targets)
        return super().forward(images, targets)
