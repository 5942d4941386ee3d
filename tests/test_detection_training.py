"""The detection loop follows TorchVision's schedule, resumes exactly, and evaluates with pycocotools."""

from __future__ import annotations

import math

import pytest
import torch

from mnv3lib.data.coco import CocoFolder
from mnv3lib.data.minicoco import MiniCocoScenes, coco_dict, export_coco
from mnv3lib.engine import fit
from mnv3lib.data import TransformedDataset, detection_collate, detection_transforms
from mnv3lib.engine.detection import (
    DetectionConfig,
    coco_ground_truth,
    coco_summary,
    evaluate_coco,
    build_detector,
    load_backbone,
    lr_factor,
)

TINY = DetectionConfig(
    model="fasterrcnn_mobilenet_v3_large_fpn", min_size=64, max_size=64, epochs=3, batch_size=4, lr=0.01, lr_steps=(2,), warmup_iters=2,
    rpn_pre_nms_top_n_train=50, rpn_post_nms_top_n_train=20, box_batch_size_per_image=16,
    model_kwargs={"rpn_pre_nms_top_n_test": 20, "rpn_post_nms_top_n_test": 10},
)  # fmt: skip


def _scenes() -> tuple[MiniCocoScenes, MiniCocoScenes]:
    return MiniCocoScenes("train", size=8, image_size=64), MiniCocoScenes("val", size=4, image_size=64)


def test_lr_factor_warms_up_then_steps_down() -> None:
    config = DetectionConfig(lr_steps=(8, 11), warmup_iters=100, warmup_factor=0.001)
    assert lr_factor(config, 0, 0) == pytest.approx(0.001)
    assert lr_factor(config, 0, 50) == pytest.approx(0.5005)
    assert lr_factor(config, 0, 100) == 1.0 and lr_factor(config, 7, 0) == 1.0
    assert lr_factor(config, 8, 0) == pytest.approx(0.1) and lr_factor(config, 11, 0) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="increasing lr_steps"):
        DetectionConfig(lr_steps=(11, 8))
    with pytest.raises(ValueError, match="unknown detection model"):
        DetectionConfig(model="yolo")


def test_training_resumes_bit_identically(tmp_path) -> None:
    straight = fit(TINY, *_scenes(), output_dir=tmp_path / "a", eval_every=3)
    assert [e.epoch for e in straight.history] == [1, 2, 3]
    assert math.isnan(straight.history[0].bbox_ap) and not math.isnan(straight.history[-1].bbox_ap)
    fit(TINY, *_scenes(), output_dir=tmp_path / "b", eval_every=3, stop_after_epoch=1)
    resumed = fit(TINY, *_scenes(), output_dir=tmp_path / "b", eval_every=3, resume=tmp_path / "b" / "checkpoint.pt")
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert [e.losses for e in straight.history] == [e.losses for e in resumed.history]
    with pytest.raises(ValueError, match="different config"):
        fit(DetectionConfig(**{**TINY.to_dict(), "lr": 0.5}), *_scenes(), resume=tmp_path / "b" / "checkpoint.pt")


def test_collate_and_coco_summary() -> None:
    scenes = MiniCocoScenes("val", size=3, image_size=64, transforms=detection_transforms(train=False))
    images, targets = detection_collate([scenes[0], scenes[1]])
    assert len(images) == 2 and images[0].dtype == torch.float32 and 0 <= images[0].min() and images[0].max() <= 1
    assert "masks" not in targets[0] and type(targets[0]["boxes"]) is torch.Tensor
    ground_truth = coco_ground_truth(coco_dict(scenes))
    perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0} for a in ground_truth.dataset["annotations"]]
    assert coco_summary(ground_truth, perfect, "bbox")[0] == pytest.approx(1.0)
    wrong_class = [{**d, "category_id": d["category_id"] % 6 + 1} for d in perfect]
    assert coco_summary(ground_truth, wrong_class, "bbox")[0] < 0.5
    assert coco_summary(ground_truth, [], "bbox")[0] == 0


def test_a_coco_folder_evaluates_as_the_scenes_it_was_exported_from(tmp_path) -> None:
    keypoints = DetectionConfig(**{**TINY.to_dict(), "model": "keypointrcnn_mobilenet_v3_large_fpn", "epochs": 1})
    train, val = _scenes()
    model = fit(keypoints, train, val).model
    paths = export_coco(MiniCocoScenes("val", size=4, image_size=64), tmp_path)
    folder = CocoFolder(paths["images"], paths["instances"], transforms=detection_transforms(train=False))
    assert evaluate_coco(model, folder) == evaluate_coco(model, TransformedDataset(val, detection_transforms(train=False), pairs=True))


def test_a_classifier_checkpoint_starts_the_backbone(tmp_path) -> None:
    from mnv3lib.engine.checkpoint import save_checkpoint
    from mnv3lib.models import mobilenet_v3_large, mobilenet_v3_small

    classifier = mobilenet_v3_large(num_classes=10)
    save_checkpoint({"model": classifier.state_dict()}, tmp_path / "large.pt")
    detector = build_detector(TINY, num_classes=7)
    load_backbone(detector, tmp_path / "large.pt")
    for name, value in detector.backbone.body.state_dict().items():
        assert torch.equal(value, classifier.state_dict()[f"features.{name}"]), name
    save_checkpoint({"model": mobilenet_v3_small().state_dict()}, tmp_path / "small.pt")
    with pytest.raises(ValueError, match="no MobileNetV3 features matching"):
        load_backbone(detector, tmp_path / "small.pt")
    started = fit(DetectionConfig(**{**TINY.to_dict(), "epochs": 1, "backbone_weights": str(tmp_path / "large.pt")}), *_scenes(), stop_after_epoch=0)
    assert torch.equal(started.model.backbone.body.state_dict()["0.0.weight"], classifier.state_dict()["features.0.0.weight"])


def test_cli_trains_a_detector_on_a_coco_folder(tmp_path) -> None:
    import json

    from mnv3lib.cli import main

    for split, size in (("train", 4), ("val", 2)):
        export_coco(MiniCocoScenes(split, size=size, image_size=64), tmp_path / "coco")
    argv = ["detection", "--data-path", str(tmp_path / "coco"), "--model", "fasterrcnn_mobilenet_v3_large_fpn", "--min-size", "64", "--max-size", "64",
            "--epochs", "1", "-b", "2", "--warmup-iters", "1", "--output-dir", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 0
    saved = json.loads((tmp_path / "run" / "history.json").read_text())
    assert saved["config"]["model"] == "fasterrcnn_mobilenet_v3_large_fpn" and len(saved["history"]) == 1


def test_one_policy_for_a_diverging_loss(tmp_path) -> None:
    """Every task stops at a non-finite loss, says so and keeps the last good checkpoint (none here)."""
    result = fit(DetectionConfig(**{**TINY.to_dict(), "epochs": 2, "lr": 1e12, "warmup_iters": 0}), *_scenes(), output_dir=tmp_path)
    assert result.diverged and len(result.history) == 1 and math.isnan(result.history[0].bbox_ap)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_cosine_schedule_and_ssd_augmentation() -> None:
    cosine = DetectionConfig(model="ssdlite320_mobilenet_v3_large", lr_scheduler="cosineannealinglr", epochs=4, warmup_iters=0)
    assert [lr_factor(cosine, epoch, 0) for epoch in range(4)] == pytest.approx([1.0, 0.8536, 0.5, 0.1464], abs=1e-4)
    with pytest.raises(ValueError, match="unknown lr_scheduler"):
        DetectionConfig(lr_scheduler="steplr")
    with pytest.raises(ValueError, match="moves boxes but not keypoints"):
        DetectionConfig(model="keypointrcnn_mobilenet_v3_large_fpn", data_augmentation="ssd")
    scenes = MiniCocoScenes("train", size=24, image_size=64)
    torch.manual_seed(0)
    shapes = set()
    for augmentation in ("ssd", "ssdlite", "hflip"):
        transform = detection_transforms(train=True, augmentation=augmentation)
        for index in range(len(scenes)):
            image, target = transform(*scenes[index])
            height, width = image.shape[-2:]
            shapes.add((augmentation, height, width))
            boxes = target["boxes"]
            assert image.dtype == torch.float32 and len(boxes) == len(target["labels"]) == len(target["masks"])
            assert bool((boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all())
            assert bool((boxes[:, 0] >= 0).all() and (boxes[:, 2] <= width).all() and (boxes[:, 3] <= height).all())
    assert any(a == "ssd" and (h, w) != (64, 64) for a, h, w in shapes)  # the expand and the crop change the canvas
    assert {(h, w) for a, h, w in shapes if a == "hflip"} == {(64, 64)}


def test_cli_trains_ssdlite_from_a_classifier_backbone(tmp_path) -> None:
    import json

    from mnv3lib.cli import main
    from mnv3lib.engine.checkpoint import save_checkpoint
    from mnv3lib.models import mobilenet_v3_large

    classifier = mobilenet_v3_large(num_classes=10)
    save_checkpoint({"model": classifier.state_dict()}, tmp_path / "large.pt")
    argv = ["detection", "--model", "ssdlite320_mobilenet_v3_large", "--scenes-train-size", "8", "--scenes-val-size", "4", "--epochs", "2",
            "-b", "4", "--lr-scheduler", "cosineannealinglr", "--data-augmentation", "ssd", "--warmup-iters", "1", "--trainable-backbone-layers", "3",
            "--weights-backbone", str(tmp_path / "large.pt"), "--output-dir", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 0
    saved = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [e["epoch"] for e in saved["history"]] == [1, 2]
    assert set(saved["history"][0]["losses"]) == {"bbox_regression", "classification", "loss"}
    assert saved["config"]["lr_scheduler"] == "cosineannealinglr" and saved["history"][1]["lr"] == pytest.approx(0.01)
    assert 0 <= saved["history"][-1]["bbox_ap"] <= 1
