"""mIoU and pixel accuracy from a confusion matrix, checked by hand; bad masks are reported clearly."""

from __future__ import annotations

import math

import pytest
import torch

from mnv3lib.engine.metrics import ConfusionMatrix, check_segmentation_batch


def test_metrics_by_hand() -> None:
    targets = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 255]])
    predictions = torch.tensor([[0, 1, 1, 1], [2, 0, 1, 2]])
    metrics = ConfusionMatrix(4)
    metrics.update(targets, predictions)
    result = metrics.compute()
    # 6 labelled pixels, 4 right; IoU: class 0 = 1/3, class 1 = 2/3, class 2 = 1/2, class 3 never seen
    assert result["pixel_accuracy"] == pytest.approx(100 * 4 / 6)
    assert result["iou"][:3] == pytest.approx([100 / 3, 200 / 3, 50]) and math.isnan(result["iou"][3])
    assert result["miou"] == pytest.approx((100 / 3 + 200 / 3 + 50) / 3)
    perfect = ConfusionMatrix(4)
    perfect.update(targets, torch.where(targets == 255, 0, targets))
    assert perfect.compute()["miou"] == 100 and perfect.compute()["pixel_accuracy"] == 100


def test_bad_masks_and_predictions_get_clear_errors() -> None:
    images = torch.rand(2, 3, 8, 8)
    check_segmentation_batch(images, torch.zeros(2, 8, 8, dtype=torch.int64), num_classes=3)
    with pytest.raises(ValueError, match=r"masks of shape \(2, 8, 8\) to match images"):
        check_segmentation_batch(images, torch.zeros(2, 8, 9, dtype=torch.int64), num_classes=3)
    with pytest.raises(ValueError, match=r"class ids \[3, 7\] outside \[0, 3\)"):
        check_segmentation_batch(images, torch.tensor([3, 7, 255, 0]).repeat(32).reshape(2, 8, 8), num_classes=3)
    with pytest.raises(TypeError, match="integer tensor of class ids"):
        check_segmentation_batch(images, torch.zeros(2, 8, 8), num_classes=3)
    with pytest.raises(ValueError, match="add a batch dimension"):
        check_segmentation_batch(images[0], torch.zeros(8, 8, dtype=torch.int64), num_classes=3)
    metrics = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="predictions of the targets' shape"):
        metrics.update(torch.zeros(2, 2, dtype=torch.int64), torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="predictions contain class ids \\[3\\]"):
        metrics.update(torch.zeros(2, 2, dtype=torch.int64), torch.full((2, 2), 3))
    with pytest.raises(ValueError, match="num_classes"):
        ConfusionMatrix(1)
