"""Detections are filtered and drawn as the sliders say; the explorers get the data their controls need."""

from __future__ import annotations

import pytest
import torch

from mnv3lib.viz.drawing import draw_detections, draw_instances, draw_semantic, filter_predictions, png_data_uri
from mnv3lib.viz.plotting import plot_detections, plot_segmentation

CLASSES = ["circle", "person"]
PREDICTION = {
    "boxes": torch.tensor([[10.0, 10.0, 40.0, 40.0], [12.0, 11.0, 41.0, 40.0], [50.0, 50.0, 60.0, 62.0]]),
    "labels": torch.tensor([1, 1, 2]),
    "scores": torch.tensor([0.9, 0.6, 0.3]),
    "keypoints": torch.cat([torch.rand(3, 4, 2) * 10 + 50, torch.ones(3, 4, 1)], dim=2),
}


def test_filter_predictions_by_score_and_nms() -> None:
    assert filter_predictions(PREDICTION, 0.5)["labels"].tolist() == [1, 1]
    assert filter_predictions(PREDICTION, 0.5, nms_iou=0.5)["scores"].tolist() == pytest.approx([0.9])  # the overlapping twin goes
    assert len(filter_predictions(PREDICTION, 0.0, nms_iou=1.0)["boxes"]) == 3
    assert filter_predictions(PREDICTION, 0.2)["keypoints"].shape == (3, 4, 3)
    with pytest.raises(ValueError, match="score_threshold"):
        filter_predictions(PREDICTION, 1.5)
    with pytest.raises(ValueError, match="nms_iou"):
        filter_predictions(PREDICTION, 0.5, nms_iou=0.0)


def test_drawing_changes_pixels_where_the_objects_are() -> None:
    image = torch.zeros(3, 80, 80)
    drawn = draw_detections(image, PREDICTION, CLASSES, keypoint_label=2, skeleton=[(1, 2), (2, 3)])
    assert drawn.dtype == torch.uint8 and drawn.shape == (3, 80, 80)
    assert drawn[:, 10, 10:40].any() and not drawn[:, 70:, :5].any()
    boxes_only = draw_detections(image, PREDICTION, CLASSES, keypoint_label=2, show_keypoints=False)
    assert not torch.equal(drawn, boxes_only)
    assert png_data_uri(drawn).startswith("data:image/png;base64,iVBOR")
    assert len(plot_detections([image, image], [PREDICTION, PREDICTION], CLASSES).axes) == 2


def test_detection_explorer_hands_every_candidate_to_the_browser() -> None:
    """The browser filters (tests/test_explorers_browser.py proves it keeps what filter_predictions keeps);
    the data it gets is every candidate, exactly, with keypoints only where they are drawn."""
    from mnv3lib.viz.widgets import detection_explorer

    explorer = detection_explorer([torch.zeros(3, 80, 80)], [PREDICTION], CLASSES, targets=[PREDICTION], keypoint_label=2)
    data = explorer.data
    assert data["kind"] == "detection" and data["images"][0].startswith("data:image/")
    assert data["predictions"][0]["boxes"][1] == [12.0, 11.0, 41.0, 40.0] and data["predictions"][0]["labels"] == [1, 1, 2]
    assert [k is None for k in data["predictions"][0]["keypoints"]] == [True, True, False]  # only label 2 carries keypoints
    assert (data["score_threshold"], data["nms_iou"], len(data["targets"])) == (0.5, 0.5, 1)
    with pytest.raises(ValueError, match="as many predictions as images"):
        detection_explorer([], [], CLASSES)


SEMANTIC = torch.zeros(40, 40, dtype=torch.int64)
SEMANTIC[5:15, 5:15], SEMANTIC[20:30, 20:35] = 1, 2


def test_masks_colour_only_their_pixels_and_respect_the_toggles() -> None:
    image = torch.zeros(3, 40, 40)
    drawn = draw_semantic(image, SEMANTIC, alpha=1.0)
    changed = drawn.sum(0) > 0
    assert torch.equal(changed, SEMANTIC > 0)
    only_two = draw_semantic(image, SEMANTIC, visible=[2], alpha=1.0).sum(0) > 0
    assert torch.equal(only_two, SEMANTIC == 2)
    instances = torch.stack([SEMANTIC == 1, SEMANTIC == 2])
    assert torch.equal(draw_instances(image, instances, torch.tensor([1, 2]), alpha=1.0).sum(0) > 0, SEMANTIC > 0)
    assert torch.equal(draw_semantic(image, SEMANTIC, alpha=0.0), draw_semantic(image, torch.zeros_like(SEMANTIC)))
    with pytest.raises(ValueError, match="image's size"):
        draw_semantic(image, SEMANTIC[:20])
    with pytest.raises(ValueError, match="alpha"):
        draw_semantic(image, SEMANTIC, alpha=2.0)
    assert plot_segmentation([image, image], [SEMANTIC, {"masks": instances, "labels": torch.tensor([1, 2])}]).axes


def test_segmentation_explorer_hands_masks_to_the_browser() -> None:
    from mnv3lib.viz.widgets import segmentation_explorer

    image = torch.zeros(3, 40, 40)
    instances = {"masks": torch.stack([SEMANTIC == 1, SEMANTIC == 2]), "labels": torch.tensor([1, 2])}
    explorer = segmentation_explorer([image], [SEMANTIC], ["background", "circle", "person"], targets=[SEMANTIC], instances=[instances])
    data = explorer.data
    assert (data["width"], data["height"], data["classes"]) == (40, 40, ["background", "circle", "person"])
    runs = data["predictions"][0]
    assert sum(runs[1::2]) == 40 * 40 and set(runs[0::2]) == {0, 1, 2} and data["targets"][0] == runs
    assert [i["label"] for i in data["instances"][0]] == [1, 2] and sum(data["instances"][0][0]["mask"][1::2]) == 1600
