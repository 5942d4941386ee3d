"""Drawing detections, keypoints and masks on images, with ``torchvision.utils``' drawing functions.

Shared by the figures (:mod:`mnv3lib.viz.plotting`) and the widgets (:mod:`mnv3lib.viz.widgets`) of Chapters 4
and 5. Every function returns a uint8 ``(3, H, W)`` tensor.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image
from torchvision.ops import batched_nms
from torchvision.utils import draw_bounding_boxes, draw_keypoints, draw_segmentation_masks

__all__ = ["PALETTE", "class_color", "filter_predictions", "draw_detections", "draw_semantic", "draw_instances", "png_bytes", "png_data_uri"]

# One colour per class id (0, the background, is never drawn)
PALETTE = ("#000000", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#e377c2", "#8c564b", "#17becf", "#bcbd22")


def class_color(class_id: int) -> str:
    """The colour of a class id >= 1: :data:`PALETTE`'s colours in turn, never the background's black
    (ids 1-9 keep their own colour; COCO's 90 and Pascal VOC's 20 classes cycle through the nine)."""
    return PALETTE[1 + (class_id - 1) % (len(PALETTE) - 1)]


def filter_predictions(prediction: dict[str, torch.Tensor], score_threshold: float = 0.5, nms_iou: float | None = None) -> dict[str, torch.Tensor]:
    """Keep detections scoring at least ``score_threshold``; with ``nms_iou``, also run per-class NMS at that IoU.

    Works on a model's raw output (e.g. one made with ``box_score_thresh=0`` and ``box_nms_thresh=1``,
    so that every candidate is there to filter).
    """
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"expected 0 <= score_threshold <= 1, got {score_threshold!r}")
    keep = torch.nonzero(prediction["scores"] >= score_threshold).flatten()
    if nms_iou is not None:
        if not 0.0 < nms_iou <= 1.0:
            raise ValueError(f"expected 0 < nms_iou <= 1, got {nms_iou!r}")
        kept = batched_nms(prediction["boxes"][keep], prediction["scores"][keep], prediction["labels"][keep], nms_iou)
        keep = keep[kept]
    return {key: value[keep] for key, value in prediction.items() if isinstance(value, torch.Tensor) and len(value) == len(prediction["scores"])}


def _as_uint8(image: torch.Tensor) -> torch.Tensor:
    image = image.as_subclass(torch.Tensor)
    return (image.clamp(0, 1) * 255).round().to(torch.uint8) if image.is_floating_point() else image


def draw_detections(
    image: torch.Tensor,
    detections: dict[str, Any],
    classes: Sequence[str],
    *,
    keypoint_label: int | None = None,
    skeleton: Sequence[tuple[int, int]] | None = None,
    show_boxes: bool = True,
    show_keypoints: bool = True,
    width: int = 2,
) -> torch.Tensor:
    """Boxes with class names (and scores, for predictions) and, for ``keypoint_label``, keypoints joined by ``skeleton``.

    Args:
        image: ``(3, H, W)``, uint8 or float in [0, 1].
        detections: A prediction or target dict: ``boxes`` (XYXY), ``labels``, optional ``scores`` and ``keypoints`` ``(N, K, 3)``.
        classes: Class names, index 0 = label 1 (labels are 1-based, 0 is the background).
        keypoint_label: The label whose keypoints are drawn (e.g. the person class).
        skeleton: Pairs of 1-based keypoint indices to join (COCO's convention).
        show_boxes, show_keypoints: What to draw.
        width: Line width in pixels.
    """
    canvas = _as_uint8(image)
    labels = detections["labels"].tolist()
    if show_boxes and labels:
        scores = detections.get("scores")
        captions = [classes[label - 1] + (f" {float(scores[i]):.2f}" if scores is not None else "") for i, label in enumerate(labels)]
        colors = [class_color(label) for label in labels]
        canvas = draw_bounding_boxes(canvas, detections["boxes"].as_subclass(torch.Tensor), captions, colors=colors, width=width)
    keypoints = detections.get("keypoints")
    if show_keypoints and keypoints is not None and keypoint_label is not None:
        rows = torch.tensor([label == keypoint_label for label in labels], dtype=torch.bool)
        if rows.any():
            points = keypoints[rows]
            connectivity = [(a - 1, b - 1) for a, b in skeleton] if skeleton else None
            canvas = draw_keypoints(canvas, points[..., :2], connectivity=connectivity, colors="#ffffff", radius=max(width, 2), width=width, visibility=points[..., 2] > 0)
    return canvas


def draw_semantic(image: torch.Tensor, semantic: torch.Tensor, *, visible: Sequence[int] | None = None, alpha: float = 0.5) -> torch.Tensor:
    """Colour each pixel of ``image`` by its class in ``semantic`` (``(H, W)`` class ids, 0 = background, never drawn).

    Args:
        image: ``(3, H, W)``, uint8 or float in [0, 1].
        semantic: Class ids, the image's size (a prediction's arg-max or a ground-truth mask); 255 is not drawn.
        visible: The class ids to draw (default: all but the background).
        alpha: Opacity of the colours, in [0, 1].
    """
    canvas = _as_uint8(image)
    semantic = semantic.as_subclass(torch.Tensor)
    if semantic.shape != canvas.shape[-2:]:
        raise ValueError(f"expected a mask of the image's size {tuple(canvas.shape[-2:])}, got {tuple(semantic.shape)}")
    present = [c for c in semantic.unique().tolist() if 0 < c < 255 and (visible is None or c in visible)]
    return _overlay(canvas, torch.stack([semantic == c for c in present]) if present else None, [class_color(c) for c in present], alpha)


def draw_instances(image: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor, *, visible: Sequence[int] | None = None, alpha: float = 0.5) -> torch.Tensor:
    """Colour each instance mask (``(N, H, W)``) of a class in ``visible`` (default: all) in its own colour."""
    canvas = _as_uint8(image)
    keep = [i for i, label in enumerate(labels.tolist()) if visible is None or label in visible]
    masks = masks.as_subclass(torch.Tensor).bool()
    return _overlay(canvas, masks[keep] if keep else None, [class_color(i + 1) for i in range(len(keep))], alpha)


def _overlay(canvas: torch.Tensor, masks: torch.Tensor | None, colors: list[str], alpha: float) -> torch.Tensor:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"expected 0 <= alpha <= 1, got {alpha!r}")
    return canvas if masks is None else draw_segmentation_masks(canvas, masks, alpha=alpha, colors=colors)


def png_bytes(image: torch.Tensor) -> bytes:
    """The PNG file of a ``(3, H, W)`` image, uint8 or [0, 1] float (e.g. for an ``ipywidgets.Image``)."""
    buffer = io.BytesIO()
    Image.fromarray(_as_uint8(image).permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


def png_data_uri(image: torch.Tensor) -> str:
    """A ``data:image/png;base64,...`` URI of a ``(3, H, W)`` image, for HTML (and so for static pages)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")
