"""A COCO-format directory (real COCO 2017, or mini-COCO written by ``export_coco``) as a detection dataset.

Items have the form of :class:`~mnv3lib.data.minicoco.MiniCocoScenes`' items, so the detection loop and
``evaluate_coco`` take either. Boxes, labels and masks come from torchvision's ``CocoDetection`` wrapped
for ``transforms.v2``; keypoints, which that wrapper does not provide, are read from the annotations.
As TorchVision's detection references do, crowd annotations and boxes of zero width or height are left
out of the targets (they stay in the ground truth that ``evaluate_coco`` scores against).

The file is checked when the folder is opened, training and validation files alike, so that a mistake
is named (file, annotation id and index) before any compute rather than met as a traceback deep in
pycocotools or mid-epoch: the lists and keys COCO requires (an annotation's ``iscrowd``, an image's
``file_name``), unique ids, category ids up to :data:`MAX_CATEGORY_ID` (the labels are the ids, so a
stray id of 2e9 would ask for a head of 2e9 outputs; ids are not renumbered, because the predictions
must carry the file's own ids for COCO's evaluation), finite boxes inside their image, non-empty
polygons or RLEs, and keypoint lists of the file's length.

Keypoints outside their box: TorchVision's keypoint loss drops a keypoint that falls outside its
(proposal) box, silently. A few such keypoints are normal (2 to 12 % of the labelled keypoints of the
book's mini-COCO splits) and are kept, as TorchVision does, without a warning on every load. When most of a
file's labelled keypoints lie outside their boxes, the keypoint loss would be close to 0 for the whole
run: that points to keypoints in another format, and the file is refused.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pycocotools.coco import COCO
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.datasets import CocoDetection, wrap_dataset_for_transforms_v2
from torchvision.transforms.v2 import functional as TF

__all__ = ["CocoFolder", "COCO_PERSON_KEYPOINTS", "COCO_PERSON_SKELETON", "MAX_CATEGORY_ID"]

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


# The largest category id a file may use. The detectors get one output per id up to the largest (the
# ids are the labels, as in TorchVision's COCO models: 91 outputs for COCO's ids 1..90); LVIS, among the
# largest detection label sets, has 1,203. A larger id is a mistake, which would build a huge head.
MAX_CATEGORY_ID = 10_000
ANNOTATION_KEYS = ("id", "image_id", "category_id", "bbox", "area", "iscrowd", "segmentation")


def _check_coco_file(path: Path) -> None:
    """Refuse a COCO annotation file that pycocotools, the detection wrapper or training would trip over
    later (or silently misread), naming the file and the first bad entry by index and id."""
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    missing = [key for key in ("images", "annotations", "categories") if not isinstance(data, dict) or key not in data]
    if missing:
        raise ValueError(f"{path} is not a COCO annotation file: it lacks {', '.join(map(repr, missing))}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data[key], list) or not all(isinstance(entry, dict) for entry in data[key]):
            raise ValueError(f"{path}: {key!r} is a {type(data[key]).__name__}, expected a list with one dict per entry (COCO's format)")
    categories = _check_categories(path, data["categories"])
    images = _check_images(path, data["images"])
    people = [c for c in data["categories"] if "keypoints" in c]
    num_keypoints = len(people[0]["keypoints"]) if people else 0  # what CocoFolder reads, as num_keypoints
    ids: set[object] = set()
    outside = labelled = 0
    for index, annotation in enumerate(data["annotations"]):
        where = f"{path}: annotation {annotation.get('id', '?')} (annotations[{index}])"
        absent = [key for key in ANNOTATION_KEYS if key not in annotation]
        if absent:
            raise ValueError(f"{where} has no {', '.join(map(repr, absent))}: a COCO annotation needs {', '.join(ANNOTATION_KEYS)} "
                             "(iscrowd 0 for one object, 1 for a crowd region)")  # fmt: skip
        if annotation["id"] in ids:
            raise ValueError(f"{where} repeats the id of an earlier annotation: pycocotools would keep only one of them")
        ids.add(annotation["id"])
        category = annotation["category_id"]
        if category not in categories:
            raise ValueError(f"{where} has category_id {category!r}, not one of the file's categories {sorted(categories)}")
        if category == 0:
            raise ValueError(f"{where} has category_id 0, which the detectors reserve for the background: renumber the categories from 1")
        if annotation["image_id"] not in images:
            raise ValueError(f"{where} has image_id {annotation['image_id']!r}, not one of the file's images")
        if not isinstance(annotation["iscrowd"], int) or annotation["iscrowd"] not in (0, 1):
            raise ValueError(f"{where} has iscrowd {annotation['iscrowd']!r}: expected 0 (one object) or 1 (a crowd region)")
        area = annotation["area"]
        if isinstance(area, bool) or not isinstance(area, (int, float)) or not 0 <= area < math.inf:
            raise ValueError(f"{where} has area {area!r}: expected a number of pixels >= 0")
        box = _check_box(where, annotation["bbox"], images[annotation["image_id"]])
        _check_segmentation(where, annotation["segmentation"])
        if annotation.get("keypoints"):
            points = _check_keypoints(where, annotation["keypoints"], num_keypoints)
            visible = [(x, y) for x, y, v in points if v > 0]
            labelled += len(visible)
            outside += sum(not (box[0] <= x <= box[0] + box[2] and box[1] <= y <= box[1] + box[3]) for x, y in visible)
    if labelled and 2 * outside > labelled:
        raise ValueError(
            f"{path}: {outside} of its {labelled} labelled keypoints lie outside their annotation's box. TorchVision's keypoint "
            "loss ignores those, so training would learn little or nothing: keypoints are [x1, y1, v1, x2, y2, v2, ...] in the "
            "image's pixels"
        )


def _check_categories(path: Path, categories: list[dict[str, Any]]) -> set[int]:
    ids = set()
    for index, category in enumerate(categories):
        identifier = category.get("id")
        if isinstance(identifier, bool) or not isinstance(identifier, int) or not 0 <= identifier <= MAX_CATEGORY_ID:
            raise ValueError(f"{path}: categories[{index}] has id {identifier!r}: expected an int in 1..{MAX_CATEGORY_ID} (0 only if no "
                             "annotation uses it). The detectors get one output per id up to the largest: renumber the categories 1..N")  # fmt: skip
        ids.add(identifier)
    return ids


def _check_images(path: Path, images: list[dict[str, Any]]) -> dict[object, dict[str, Any]]:
    found: dict[object, dict[str, Any]] = {}
    for index, image in enumerate(images):
        where = f"{path}: image {image.get('id', '?')} (images[{index}])"
        absent = [key for key in ("id", "file_name", "width", "height") if key not in image]
        if absent:
            raise ValueError(f"{where} has no {', '.join(map(repr, absent))}: a COCO image entry needs id, file_name, width and height")
        if not isinstance(image["file_name"], str) or not image["file_name"]:
            raise ValueError(f"{where} has file_name {image['file_name']!r}: expected the image's file name in the image folder")
        for key in ("width", "height"):
            if isinstance(image[key], bool) or not isinstance(image[key], int) or image[key] < 1:
                raise ValueError(f"{where} has {key} {image[key]!r}: expected an int >= 1 (pixels)")
        if image["id"] in found:
            raise ValueError(f"{where} repeats the id of an earlier image")
        found[image["id"]] = image
    return found


def _check_box(where: str, box: object, image: dict[str, Any]) -> list[float]:
    """COCO's ``[x, y, width, height]`` in pixels: finite, not negative in size, not entirely outside the image."""
    if not isinstance(box, list) or len(box) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box):
        raise ValueError(f"{where} has bbox {box!r}: expected [x, y, width, height], four finite numbers in pixels")
    x, y, width, height = box
    if width < 0 or height < 0:
        raise ValueError(f"{where} has bbox {box!r} with a negative width or height: COCO boxes are [x, y, width, height], not corners")
    if x >= image["width"] or y >= image["height"] or x + width <= 0 or y + height <= 0:
        raise ValueError(f"{where} has bbox {box!r}, entirely outside its {image['width']}×{image['height']} image")
    return box


def _check_segmentation(where: str, segmentation: object) -> None:
    """Polygons ``[[x1, y1, x2, y2, ...], ...]`` (each at least three points) or an RLE ``{"size", "counts"}``."""
    if isinstance(segmentation, dict):
        if "counts" not in segmentation or "size" not in segmentation:
            raise ValueError(f"{where} has an RLE segmentation without 'counts' and 'size'")
        return
    if not isinstance(segmentation, list) or not segmentation:
        raise ValueError(f"{where} has segmentation {segmentation!r}: expected its outline as polygons [[x1, y1, x2, y2, ...]] or an "
                         "RLE dict (the masks are built from it); give one, or drop the annotation")  # fmt: skip
    for polygon in segmentation:
        if not isinstance(polygon, list) or len(polygon) < 6 or len(polygon) % 2:
            shown = polygon if not isinstance(polygon, list) or len(polygon) <= 8 else f"a list of {len(polygon)} numbers"
            raise ValueError(f"{where} has the polygon {shown!r}: expected [x1, y1, x2, y2, ...], at least three points")


def _check_keypoints(where: str, keypoints: object, num_keypoints: int) -> list[tuple[float, float, float]]:
    """``[x1, y1, v1, ...]``, ``num_keypoints`` triples (the count the file's keypoint category names)."""
    if num_keypoints == 0:
        raise ValueError(f"{where} has keypoints, but no category of the file names its keypoints (COCO's person category has 'keypoints')")
    if not isinstance(keypoints, list) or len(keypoints) != 3 * num_keypoints:
        count = len(keypoints) if isinstance(keypoints, list) else type(keypoints).__name__
        raise ValueError(f"{where} has {count} keypoint values: expected {3 * num_keypoints}, (x, y, visibility) for each of the "
                         f"{num_keypoints} keypoints its category names")  # fmt: skip
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in keypoints):
        raise ValueError(f"{where} has keypoints that are not finite numbers")
    return list(zip(keypoints[0::3], keypoints[1::3], keypoints[2::3]))


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

    Raises:
        ValueError: for a missing folder or file, or a file that fails the checks the module docstring lists
            (the message names the file and the entry).
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
        boxes = plain["boxes"]
        keep = (plain["iscrowd"] == 0) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        target = {
            "boxes": tv_tensors.BoundingBoxes(boxes[keep], format="XYXY", canvas_size=(height, width)),
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
