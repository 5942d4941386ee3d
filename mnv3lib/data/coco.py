"""A COCO-format directory (real COCO 2017, or mini-COCO written by ``export_coco``) as a detection dataset.

Items have the form of :class:`~mnv3lib.data.minicoco.MiniCocoScenes`' items, so the detection loop and
``evaluate_coco`` take either. Boxes, labels and masks come from torchvision's ``CocoDetection`` wrapped
for ``transforms.v2``; keypoints, which that wrapper does not provide, are read from the annotations.
As TorchVision's detection references do, crowd annotations are left out of the targets.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pycocotools.coco import COCO
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.datasets import CocoDetection, wrap_dataset_for_transforms_v2
from torchvision.transforms.v2 import functional as TF

__all__ = ["CocoFolder", "COCO_PERSON_KEYPOINTS", "COCO_PERSON_SKELETON"]

# COCO's 17 person keypoints and the limbs that join them (1-based pairs), as in the "person" category
# of COCO's keypoint annotation files; TorchVision's keypoint R-CNN predicts them in this order.
COCO_PERSON_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
COCO_PERSON_SKELETON = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9), (8, 10), (9, 11),
    (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)  # fmt: skip


def _check_coco_file(path: Path) -> None:
    """Refuse a COCO annotation file that pycocotools or the detection wrapper would trip over later,
    naming the file and the first bad entry."""
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    missing = [key for key in ("images", "annotations", "categories") if not isinstance(data, dict) or key not in data]
    if missing:
        raise ValueError(f"{path} is not a COCO annotation file: it lacks {', '.join(map(repr, missing))}")
    categories = {category.get("id") for category in data["categories"]}
    images = {image.get("id") for image in data["images"]}
    for annotation in data["annotations"]:
        where = f"{path}: annotation {annotation.get('id', '?')}"
        if annotation.get("category_id") not in categories:
            raise ValueError(f"{where} has category_id {annotation.get('category_id')!r}, not one of the file's categories {sorted(categories)}")
        if annotation.get("image_id") not in images:
            raise ValueError(f"{where} has image_id {annotation.get('image_id')!r}, not one of the file's images")
        for key in ("bbox", "segmentation"):
            if key not in annotation:
                raise ValueError(f"{where} has no {key!r} (the detection targets need boxes and masks)")


class CocoFolder(Dataset):
    """Images in ``images`` annotated by the COCO JSON ``annotations`` (``instances_*.json`` or ``person_keypoints_*.json``).

    Args:
        images: The image folder (e.g. ``coco/val2017``).
        annotations: The JSON file (e.g. ``coco/annotations/person_keypoints_val2017.json``).
        transforms: ``transforms(image, target)`` applied on access, e.g. a ``transforms.v2`` pipeline.

    Items are a ``tv_tensors.Image`` (uint8) and a dict with ``boxes`` (XYXY), ``labels`` (the category
    ids), ``masks``, ``keypoints`` ``(N, K, 3)`` (K from the person category; zeros for other objects),
    ``image_id``, ``area`` and ``iscrowd``. ``coco`` is the ``pycocotools`` index, the ground truth of
    ``evaluate_coco``.
    """

    def __init__(self, images: str | Path, annotations: str | Path, transforms: Callable | None = None) -> None:
        images, annotations = Path(images), Path(annotations)
        if not images.is_dir():
            raise ValueError(f"expected an image folder, got {str(images)!r}, which is not a directory")
        if not annotations.is_file():
            raise ValueError(f"expected a COCO annotation file, got {str(annotations)!r}, which does not exist")
        _check_coco_file(annotations)
        with contextlib.redirect_stdout(io.StringIO()):
            self._detection = wrap_dataset_for_transforms_v2(
                CocoDetection(str(images), str(annotations)), target_keys=("boxes", "labels", "masks", "image_id", "area", "iscrowd")
            )
        self.coco: COCO = self._detection.coco
        self.root = images
        self.transforms = transforms
        people = [c for c in self.coco.cats.values() if "keypoints" in c]
        self.num_keypoints = len(people[0]["keypoints"]) if people else 0

    def __len__(self) -> int:
        return len(self._detection)

    def __getitem__(self, index: int) -> tuple[tv_tensors.Image, dict[str, Any]]:
        try:
            image, wrapped = self._detection[index]
        except (OSError, SyntaxError) as error:  # PIL's errors for a corrupt or truncated file
            name = self.coco.loadImgs(self._detection.ids[index])[0]["file_name"]
            raise ValueError(f"cannot read the image {self.root / name}: {error}") from error
        image = tv_tensors.Image(TF.pil_to_tensor(image))
        height, width = image.shape[-2:]
        image_id = self._detection.ids[index]
        annotations = self.coco.loadAnns(self.coco.getAnnIds(imgIds=image_id))  # CocoDetection's order
        keypoints = torch.zeros(len(annotations), self.num_keypoints, 3)
        for row, annotation in enumerate(annotations):
            if annotation.get("keypoints"):
                keypoints[row] = torch.tensor(annotation["keypoints"], dtype=torch.float32).reshape(-1, 3)
        if not annotations:  # CocoDetection's wrapper returns only the image id then
            empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64), "masks": torch.zeros(0, height, width, dtype=torch.uint8),
                     "area": torch.zeros(0), "iscrowd": torch.zeros(0, dtype=torch.int64)}  # fmt: skip
            wrapped = {**empty, **wrapped}
        plain = {key: torch.as_tensor(value).as_subclass(torch.Tensor) for key, value in wrapped.items() if key != "image_id"}
        keep = plain["iscrowd"] == 0
        target = {
            "boxes": tv_tensors.BoundingBoxes(plain["boxes"][keep], format="XYXY", canvas_size=(height, width)),
            "labels": plain["labels"][keep],
            "masks": tv_tensors.Mask(plain["masks"][keep].to(torch.uint8)),
            "keypoints": keypoints[keep],
            "image_id": image_id,
            "area": plain["area"][keep].float(),
            "iscrowd": plain["iscrowd"][keep],
        }
        if self.transforms is not None:
            return self.transforms(image, target)
        return image, target
