"""The mini-COCO world is deterministic, its JSON is genuine COCO, and its own ground truth scores AP 1.0."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mnv3lib.data.coco import CocoFolder
from mnv3lib.data.minicoco import MINICOCO_CLASSES, PERSON_KEYPOINTS, MiniCocoScenes, coco_dict, export_coco, semantic_mask
from mnv3lib.engine.detection import label_space


@pytest.fixture(scope="module")
def scenes() -> MiniCocoScenes:
    return MiniCocoScenes("val", size=12, image_size=128, person_probability=0.5)


def _evaluate(dataset: dict, detections: list[dict], iou_type: str) -> float:
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO()
        ground_truth.dataset = dataset
        ground_truth.createIndex()
        evaluator = COCOeval(ground_truth, ground_truth.loadRes(detections), iou_type)
        if iou_type == "keypoints":
            evaluator.params.kpt_oks_sigmas = np.full(len(PERSON_KEYPOINTS), 0.05)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[0])


def test_scenes_are_deterministic_and_consistent(scenes: MiniCocoScenes) -> None:
    image, target = scenes[3]
    again, target_again = MiniCocoScenes("val", size=12, image_size=128, person_probability=0.5)[3]
    assert torch.equal(image, again) and torch.equal(target["masks"], target_again["masks"])
    assert image.dtype == torch.uint8 and image.shape == (3, 128, 128)
    assert not torch.equal(image, MiniCocoScenes("train", size=12, image_size=128, person_probability=0.5)[3][0])
    for _, target in (scenes[i] for i in range(len(scenes))):
        boxes, masks = target["boxes"], target["masks"].bool()
        assert len(boxes) == len(masks) == len(target["labels"]) >= 1
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        assert (masks.sum(0) <= 1).all()  # visible masks never overlap
        for box, mask in zip(boxes, masks):  # each box is its mask's extent
            rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
            assert box.tolist() == [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]
        people = target["labels"] == MINICOCO_CLASSES.index("person") + 1
        assert (target["keypoints"][~people] == 0).all() and target["keypoints"].shape[1:] == (9, 3)


def test_own_ground_truth_scores_ap_one(scenes: MiniCocoScenes) -> None:
    instances = coco_dict(scenes)
    detections = [{**{k: a[k] for k in ("image_id", "category_id", "bbox", "segmentation")}, "score": 1.0} for a in instances["annotations"]]
    assert _evaluate(instances, detections, "bbox") == pytest.approx(1.0)
    assert _evaluate(instances, detections, "segm") == pytest.approx(1.0)
    people = coco_dict(scenes, keypoints_only=True)
    assert people["annotations"] and {c["name"] for c in people["categories"]} == {"person"}
    detections = [{"image_id": a["image_id"], "category_id": a["category_id"], "keypoints": a["keypoints"], "score": 1.0} for a in people["annotations"]]
    assert _evaluate(people, detections, "keypoints") == pytest.approx(1.0)
    moved = [{**d, "keypoints": [v + 3.0 if i % 3 != 2 else v for i, v in enumerate(d["keypoints"])]} for d in detections]
    assert _evaluate(people, moved, "keypoints") < 0.9  # the test can fail: shifted keypoints score less


def test_exported_directory_reads_with_torchvision(scenes: MiniCocoScenes, tmp_path) -> None:
    from torchvision.datasets import CocoDetection, wrap_dataset_for_transforms_v2

    paths = export_coco(scenes, tmp_path)
    dataset = wrap_dataset_for_transforms_v2(CocoDetection(str(paths["images"]), str(paths["instances"])), target_keys=("boxes", "labels", "masks"))
    image, target = dataset[3]
    _, ours = scenes[3]
    assert torch.equal(target["boxes"], ours["boxes"]) and torch.equal(target["labels"], ours["labels"])
    assert torch.equal(target["masks"].bool(), ours["masks"].bool())
    assert torch.equal(torch.as_tensor(np.array(image)).permute(2, 0, 1), scenes[3][0])


def test_coco_folder_reads_an_exported_directory_like_the_scenes(scenes: MiniCocoScenes, tmp_path) -> None:
    paths = export_coco(scenes, tmp_path)
    folder = CocoFolder(paths["images"], paths["instances"])
    assert len(folder) == len(scenes) and folder.num_keypoints == len(PERSON_KEYPOINTS)
    for index in (0, 3):
        (image, target), (picture, ours) = folder[index], scenes[index]
        assert torch.equal(image, picture) and target["image_id"] == ours["image_id"]
        for key in ("boxes", "labels", "masks", "iscrowd"):
            assert torch.equal(target[key].as_subclass(torch.Tensor), ours[key].as_subclass(torch.Tensor)), key
        torch.testing.assert_close(target["keypoints"], ours["keypoints"], rtol=0, atol=0.005)  # the JSON keeps 2 decimals
    assert label_space(folder) == label_space(scenes) == (len(MINICOCO_CLASSES) + 1, len(PERSON_KEYPOINTS))
    keypoints_only = CocoFolder(paths["images"], paths["person_keypoints"])
    assert set(torch.cat([keypoints_only[i][1]["labels"] for i in range(len(scenes))]).tolist()) <= {MINICOCO_CLASSES.index("person") + 1}
    with pytest.raises(ValueError, match="not a directory"):
        CocoFolder(tmp_path / "missing", paths["instances"])


def test_semantic_mask_and_bad_arguments(scenes: MiniCocoScenes) -> None:
    _, target = scenes[0]
    semantic = semantic_mask(target)
    for mask, label in zip(target["masks"].bool(), target["labels"]):
        assert (semantic[mask] == label).all()
    assert (semantic[target["masks"].sum(0) == 0] == 0).all()
    with pytest.raises(ValueError, match="class ids < num_classes=2"):
        semantic_mask(target, num_classes=2)
    with pytest.raises(ValueError, match="num_objects"):
        MiniCocoScenes(num_objects=(0, 3))
    with pytest.raises(ValueError, match="unknown split"):
        MiniCocoScenes("dev")
    with pytest.raises(IndexError):
        scenes.scene(12)
