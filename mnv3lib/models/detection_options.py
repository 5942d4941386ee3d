"""The keyword arguments TorchVision's detectors take, and what each one accepts.

The detection builders (:mod:`mnv3lib.models.detection`, :mod:`mnv3lib.models.ssdlite`) pass their
``**kwargs`` on to TorchVision's ``FasterRCNN``, ``KeypointRCNN`` and ``SSD``, as TorchVision's own
builders do. Those classes swallow a keyword they do not know (their ``**kwargs`` reach
``GeneralizedRCNNTransform``, which ignores it), so ``min_sise=300`` would build a model at the default
size, and they take any value: ``box_score_thresh=5`` builds a model that never returns a box, and
``min_size=0`` fails at the first forward. The tables below list every keyword those classes use, each
with its check; the builders refuse any other keyword with a ``TypeError`` and check every value at
the call (:func:`mnv3lib.checks.check_keywords`). ``tests/test_detection.py`` proves that the tables
hold exactly TorchVision's keywords, so every valid TorchVision call still works.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..checks import check_flag, check_numbers, check_positive, check_range

__all__ = ["check_count", "check_fraction", "RCNN_OPTIONS", "KEYPOINT_RCNN_OPTIONS", "SSD_OPTIONS"]

Check = Callable[[object, str], None]  # check(value, name) raises TypeError / ValueError naming both


def check_count(value: object, name: str) -> None:
    """An ``int`` >= 1: a size in pixels, a number of boxes or proposals."""
    check_positive(value, name, integer=True)


def check_fraction(value: object, name: str) -> None:
    """A number in [0, 1]: a threshold on scores (probabilities) or on IoUs."""
    check_range(value, name, 0.0, 1.0)


def _check_share(value: object, name: str) -> None:
    """The positive share of the sampled boxes, in (0, 1]: with 0 no positive box would ever be sampled."""
    check_range(value, name, 0.0, 1.0, low_open=True)


def _check_min_size(value: object, name: str) -> None:
    """One shorter-side size, or several, of which training draws one per image (multi-scale training)."""
    if isinstance(value, (list, tuple)):
        check_numbers(value, name, low=1, integer=True)
    else:
        check_count(value, name)


def _check_mean(value: object, name: str) -> None:
    """Per-channel means of images in [0, 1] (the detectors check that images are)."""
    check_numbers(value, name, length=3, low=0.0, high=1.0)


def _check_std(value: object, name: str) -> None:
    check_numbers(value, name, length=3, low=0.0, low_open=True)


def _check_reg_weights(value: object, name: str) -> None:
    """The box coder's weights on (dx, dy, dw, dh)."""
    check_numbers(value, name, length=4, low=0.0, low_open=True)


def _check_fixed_size(value: object, name: str) -> None:
    """``(height, width)`` every image is resized to."""
    check_numbers(value, name, length=2, low=1, integer=True)


def _check_module(value: object, name: str) -> None:
    if not isinstance(value, nn.Module):
        raise TypeError(f"expected {name} to be a torch.nn.Module (or None for TorchVision's), got {type(value).__name__}")


def _optional(check: Check) -> Check:
    """``check``, letting ``None`` through: TorchVision's default, which builds the part or picks the value."""

    def check_or_none(value: object, name: str) -> None:
        if value is not None:
            check(value, name)

    return check_or_none


# FasterRCNN's keywords but those the builders set (backbone, num_classes, rpn_anchor_generator), then
# those of the GeneralizedRCNNTransform that FasterRCNN passes its **kwargs to.
RCNN_OPTIONS: dict[str, Check] = {
    "min_size": _check_min_size, "max_size": check_count, "image_mean": _optional(_check_mean), "image_std": _optional(_check_std),
    "rpn_head": _optional(_check_module),
    "rpn_pre_nms_top_n_train": check_count, "rpn_pre_nms_top_n_test": check_count,
    "rpn_post_nms_top_n_train": check_count, "rpn_post_nms_top_n_test": check_count,
    "rpn_nms_thresh": check_fraction, "rpn_fg_iou_thresh": check_fraction, "rpn_bg_iou_thresh": check_fraction,
    "rpn_batch_size_per_image": check_count, "rpn_positive_fraction": _check_share, "rpn_score_thresh": check_fraction,
    "box_roi_pool": _optional(_check_module), "box_head": _optional(_check_module), "box_predictor": _optional(_check_module),
    "box_score_thresh": check_fraction, "box_nms_thresh": check_fraction, "box_detections_per_img": check_count,
    "box_fg_iou_thresh": check_fraction, "box_bg_iou_thresh": check_fraction,
    "box_batch_size_per_image": check_count, "box_positive_fraction": _check_share,
    "bbox_reg_weights": _optional(_check_reg_weights),
    "size_divisible": check_count, "fixed_size": _optional(_check_fixed_size), "_skip_resize": check_flag,
}  # fmt: skip

# KeypointRCNN adds its keypoint branch (num_keypoints is the builder's own argument); its min_size
# defaults to None, TorchVision's multi-scale 640..800.
KEYPOINT_RCNN_OPTIONS: dict[str, Check] = RCNN_OPTIONS | {
    "min_size": _optional(_check_min_size),
    "keypoint_roi_pool": _optional(_check_module), "keypoint_head": _optional(_check_module), "keypoint_predictor": _optional(_check_module),
}  # fmt: skip

# SSD's keywords but those the SSDlite builder sets (backbone, anchor_generator, size, num_classes, head);
# SSD itself sets the transform's size_divisible and fixed_size.
SSD_OPTIONS: dict[str, Check] = {
    "image_mean": _optional(_check_mean), "image_std": _optional(_check_std),
    "score_thresh": check_fraction, "nms_thresh": check_fraction, "detections_per_img": check_count,
    "iou_thresh": check_fraction, "topk_candidates": check_count, "positive_fraction": _check_share,
    "_skip_resize": check_flag,
}  # fmt: skip
