"""Segmentation metrics from a confusion matrix, as TorchVision's ``references/segmentation`` computes them.

Global pixel accuracy is the fraction of labelled pixels classified correctly; the IoU of a class is
``TP / (TP + FP + FN)`` over the whole set (not averaged per image); mIoU is their mean over the
classes that occur in the targets or the predictions. Pixels labelled ``ignore_index`` (255 in Pascal
VOC: object borders) count nowhere.
"""

from __future__ import annotations

import torch

from ..checks import check_image_batch, inputs_are_checked

__all__ = ["IGNORE_INDEX", "check_segmentation_batch", "ConfusionMatrix"]

IGNORE_INDEX = 255


def check_segmentation_batch(images: torch.Tensor, masks: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX, *,
                             values: bool | None = None) -> None:  # fmt: skip
    """Check images ``(B, 3, H, W)`` (float) against masks ``(B, H, W)`` of class ids.

    ``values`` says whether to read the data too (finite images, class ids in range); None: unless inside
    :func:`~mnv3lib.checks.inputs_checked`.

    Raises:
        TypeError: masks that are not an integer tensor (or images that are not float).
        ValueError: images that are not 4-D, masks whose shape does not match the images, or class ids
            outside ``[0, num_classes)`` other than ``ignore_index``.
    """
    values = not inputs_are_checked() if values is None else values
    check_image_batch(images, values=values)
    if not isinstance(masks, torch.Tensor) or masks.is_floating_point() or masks.dtype == torch.bool:
        kind = masks.dtype if isinstance(masks, torch.Tensor) else type(masks).__name__
        raise TypeError(f"expected masks as an integer tensor of class ids, got {kind}")
    expected = (images.shape[0], *images.shape[-2:])
    if tuple(masks.shape) != expected:
        raise ValueError(f"expected masks of shape {expected} to match images {tuple(images.shape)}, got {tuple(masks.shape)}")
    if values:
        _check_class_ids(masks, num_classes, ignore_index, "masks")


def _check_class_ids(labels: torch.Tensor, num_classes: int, ignore_index: int, name: str) -> None:
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= num_classes))
    if bad.any():
        values = sorted(set(labels[bad].unique().tolist()))[:5]
        raise ValueError(f"{name} contain class ids {values} outside [0, {num_classes}) (the ignore index is {ignore_index})")


class ConfusionMatrix:
    """Accumulates ``(target, prediction)`` pixel counts over batches; :meth:`compute` gives the metrics.

    Args:
        num_classes: Classes including the background (class 0).
        ignore_index: Target value of pixels to leave out.
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"expected num_classes to be an int >= 2, got {num_classes!r}")
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)  # rows: target, columns: prediction

    def update(self, targets: torch.Tensor, predictions: torch.Tensor) -> None:
        """Add a batch: ``targets`` and ``predictions`` are class-id tensors of the same shape."""
        if targets.shape != predictions.shape:
            raise ValueError(f"expected predictions of the targets' shape {tuple(targets.shape)}, got {tuple(predictions.shape)}")
        _check_class_ids(targets, self.num_classes, self.ignore_index, "targets")
        _check_class_ids(predictions, self.num_classes, -1, "predictions")
        keep = targets != self.ignore_index
        pairs = targets[keep].long() * self.num_classes + predictions[keep].long()
        self.matrix += torch.bincount(pairs, minlength=self.num_classes**2).reshape(self.num_classes, self.num_classes)

    def compute(self) -> dict[str, object]:
        """``pixel_accuracy`` and ``miou`` (in %), and ``iou`` per class (%, nan for classes never seen)."""
        matrix = self.matrix.double()
        true_positive = matrix.diag()
        union = matrix.sum(0) + matrix.sum(1) - true_positive
        iou = torch.where(union > 0, true_positive / union.clamp(min=1), torch.tensor(float("nan"), dtype=torch.float64))
        total = matrix.sum()
        return {
            "pixel_accuracy": float(100 * true_positive.sum() / total) if total > 0 else float("nan"),
            "miou": float(100 * iou.nanmean()),
            "iou": (100 * iou).tolist(),
        }
