"""The segmentation loop follows TorchVision's recipe (poly LR, aux weight 0.5), resumes exactly, and measures mIoU."""

from __future__ import annotations

import math

import pytest
import torch

from mnv3lib.data.minicoco import MINICOCO_CLASSES, MiniCocoScenes, SemanticScenes, semantic_mask
from mnv3lib.data.transforms import segmentation_transforms
from mnv3lib.engine import fit
from mnv3lib.engine.segmentation import (
    SegmentationConfig,
    evaluate_segmentation,
    poly_lr_factor,
    segmentation_loss,
)

NUM_CLASSES = len(MINICOCO_CLASSES) + 1
TINY = SegmentationConfig(model="deeplabv3_mobilenet_v3_large", aux_loss=True, image_size=48, epochs=2, batch_size=4, lr=0.01)


def _scenes() -> tuple[SemanticScenes, SemanticScenes]:
    return SemanticScenes(MiniCocoScenes("train", size=8, image_size=64)), SemanticScenes(MiniCocoScenes("val", size=4, image_size=64))


def test_poly_lr_decays_to_zero_over_the_run() -> None:
    config = SegmentationConfig(epochs=2, lr_power=0.9)
    assert poly_lr_factor(config, 0, 10) == 1.0
    assert poly_lr_factor(config, 10, 10) == pytest.approx(0.5**0.9)
    assert poly_lr_factor(config, 20, 10) == 0.0
    with pytest.raises(ValueError, match="without an auxiliary loss"):
        SegmentationConfig(aux_loss=True)
    with pytest.raises(ValueError, match="unknown segmentation model"):
        SegmentationConfig(model="unet")


def test_loss_weighs_the_auxiliary_head_by_half() -> None:
    masks = torch.randint(0, 3, (2, 8, 8))
    masks[0, 0, 0] = 255  # ignored
    out, aux = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    losses = segmentation_loss({"out": out, "aux": aux}, masks)
    assert losses["loss"] == pytest.approx(losses["out"] + 0.5 * losses["aux"])
    assert set(segmentation_loss({"out": out}, masks)) == {"out", "loss"}


def test_semantic_scenes_resize_masks_by_nearest_neighbour() -> None:
    scenes = MiniCocoScenes("val", size=2, image_size=64)
    dataset = SemanticScenes(scenes, segmentation_transforms(32, train=False))
    image, mask = dataset[0]
    assert image.dtype == torch.float32 and image.shape == (3, 32, 32) and 0 <= image.min() and image.max() <= 1
    assert mask.dtype == torch.int64 and mask.shape == (32, 32)
    full = semantic_mask(scenes[0][1])
    assert set(mask.unique().tolist()) <= set(full.unique().tolist())  # no blended class ids
    with pytest.raises(TypeError, match="expected MiniCocoScenes"):
        SemanticScenes([scenes[0]])


def test_training_resumes_bit_identically(tmp_path) -> None:
    straight = fit(TINY, *_scenes(), output_dir=tmp_path / "a", eval_every=2)
    assert math.isnan(straight.history[0].miou) and 0 <= straight.history[-1].miou <= 100
    assert set(straight.history[0].losses) == {"out", "aux", "loss"}
    fit(TINY, *_scenes(), output_dir=tmp_path / "b", eval_every=2, stop_after_epoch=1)
    resumed = fit(TINY, *_scenes(), output_dir=tmp_path / "b", eval_every=2, resume=tmp_path / "b" / "checkpoint.pt")
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert [e.losses for e in straight.history] == [e.losses for e in resumed.history]
    with pytest.raises(ValueError, match="different config"):
        fit(SegmentationConfig(**{**TINY.to_dict(), "lr": 0.5}), *_scenes(), resume=tmp_path / "b" / "checkpoint.pt")


def test_evaluation_at_low_resolution_scores_at_the_masks_size() -> None:
    model = fit(SegmentationConfig(image_size=32, epochs=1, batch_size=4), *_scenes()).model
    val = SemanticScenes(MiniCocoScenes("val", size=4, image_size=64), segmentation_transforms(32, train=False))
    full, low = evaluate_segmentation(model, val), evaluate_segmentation(model, val, image_size=16)
    for metrics in (full, low):
        assert 0 <= metrics["pixel_accuracy"] <= 100 and len(metrics["iou"]) == NUM_CLASSES


def test_fit_leaves_the_datasets_as_given() -> None:
    train, val = _scenes()
    fit(SegmentationConfig(image_size=32, epochs=1, batch_size=4), train, val)
    assert train.transforms is None and val.transforms is None
