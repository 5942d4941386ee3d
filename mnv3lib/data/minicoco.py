"""The book's "mini-COCO" world: procedural scenes with boxes, instance masks and keypoints, deterministic by seed.

Each scene is a textured background with a few objects of :data:`MINICOCO_CLASSES`: five shapes and a
``person``, an articulated stick figure with nine keypoints and a skeleton. Objects occlude each other
(later ones are drawn on top); annotations describe what is *visible*: the instance mask, the box of
that mask, and for a person each keypoint's COCO visibility (2 visible, 1 hidden behind an object).

Scene ``i`` of a split is a pure function of ``(seed, split, i)``. Nothing is stored: items are drawn
on access (a few milliseconds each). :func:`coco_dict` / :func:`export_coco` write genuine COCO JSON
(``instances_*.json`` and ``person_keypoints_*.json``) that ``pycocotools`` and
``torchvision.datasets.CocoDetection`` read. Chapter 4 (detection and keypoints) and Chapter 6
(segmentation, through :func:`semantic_mask`) use this data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils
from torch.utils.data import Dataset
from torchvision import tv_tensors
from PIL import Image

from ..checks import check_choice, check_positive
from .shapes import SPLIT_OFFSETS, render_background, render_shape_mask, render_soft_mask

__all__ = [
    "MINICOCO_CLASSES",
    "PERSON_KEYPOINTS",
    "PERSON_SKELETON",
    "SceneObject",
    "MiniCocoScenes",
    "render_person_mask",
    "coco_dict",
    "person_keypoints_dict",
    "export_coco",
    "semantic_mask",
    "SemanticScenes",
]

SHAPE_CATEGORIES = ("circle", "square", "triangle", "star", "heart")
MINICOCO_CLASSES = (*SHAPE_CATEGORIES, "person")  # COCO category ids 1..6; label 0 is the background
PERSON_ID = MINICOCO_CLASSES.index("person") + 1
PERSON_KEYPOINTS = (
    "head", "neck", "left_hand", "right_hand", "pelvis", "left_knee", "right_knee", "left_foot", "right_foot",
)  # fmt: skip
# Limbs as pairs of 1-based keypoint indices, as COCO's "skeleton" field writes them
PERSON_SKELETON = ((1, 2), (2, 3), (2, 4), (2, 5), (5, 6), (5, 7), (6, 8), (7, 9))
MIN_VISIBLE_FRACTION = 0.5  # an object hidden more than this by later ones is not placed


@dataclass(frozen=True)
class SceneObject:
    """One annotated object of a scene.

    Attributes:
        label: Category id, 1-based (index into :data:`MINICOCO_CLASSES` plus one).
        mask: Visible pixels, ``(H, W)`` bool.
        keypoints: For a person, ``(9, 3)`` float32 rows ``(x, y, visibility)``; otherwise None.
    """

    label: int
    mask: torch.Tensor
    keypoints: torch.Tensor | None = None


def _segment_distance(x: torch.Tensor, y: torch.Tensor, start: tuple[float, float], end: tuple[float, float]) -> torch.Tensor:
    (x0, y0), (x1, y1) = start, end
    dx, dy = x1 - x0, y1 - y0
    t = (((x - x0) * dx + (y - y0) * dy) / max(dx * dx + dy * dy, 1e-9)).clamp(0, 1)
    return torch.hypot(x - (x0 + t * dx), y - (y0 + t * dy))


def render_person_mask(size: int, keypoints: torch.Tensor, limb_width: float, head_radius: float) -> torch.Tensor:
    """Soft mask in [0, 1] of a stick figure: a disc at the head and a capsule per limb. Shape ``(size, size)``.

    Args:
        size: Image side in pixels.
        keypoints: ``(9, 2)`` joint positions ``(x, y)`` in pixels, in :data:`PERSON_KEYPOINTS` order.
        limb_width: Thickness of the limbs in pixels.
        head_radius: Radius of the head in pixels.
    """
    if keypoints.shape != (len(PERSON_KEYPOINTS), 2):
        raise ValueError(f"expected keypoints of shape ({len(PERSON_KEYPOINTS)}, 2), got {tuple(keypoints.shape)}")
    points = [tuple(map(float, p)) for p in keypoints]
    reach = max(head_radius, limb_width) + 1

    def inside(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mask = torch.hypot(x - points[0][0], y - points[0][1]) <= head_radius
        for a, b in PERSON_SKELETON:
            mask |= _segment_distance(x, y, points[a - 1], points[b - 1]) <= limb_width / 2
        return mask

    low, high = keypoints.min(0).values - reach, keypoints.max(0).values + reach
    window = (math.floor(low[0]), math.floor(low[1]), math.ceil(high[0]), math.ceil(high[1]))
    return render_soft_mask(inside, size, window)


def _person_pose(generator: torch.Generator, size: int) -> tuple[torch.Tensor, float, float]:
    """Random joints of a standing, leaning, waving stick figure: ``(keypoints (9, 2), limb width, head radius)``."""

    def uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand(1, generator=generator))

    torso = uniform(0.10, 0.18) * size
    lean = uniform(-0.35, 0.35)  # radians from vertical
    pelvis = (uniform(0.15, 0.85) * size, uniform(0.35, 0.75) * size)

    def step(start: tuple[float, float], length: float, angle: float) -> tuple[float, float]:
        return start[0] + length * math.sin(angle), start[1] - length * math.cos(angle)  # angle 0 points up

    neck = step(pelvis, torso, lean)
    head = step(neck, 0.45 * torso, lean + uniform(-0.3, 0.3))
    hands = [step(neck, 0.9 * torso, lean + side * uniform(0.5, 2.6)) for side in (-1, 1)]
    knees = [step(pelvis, 0.6 * torso, math.pi + side * uniform(0.1, 0.6)) for side in (-1, 1)]
    feet = [step(knee, 0.6 * torso, math.pi + side * uniform(-0.2, 0.4)) for knee, side in zip(knees, (-1, 1))]
    joints = [head, neck, hands[0], hands[1], pelvis, knees[0], knees[1], feet[0], feet[1]]
    return torch.tensor(joints, dtype=torch.float32), 0.13 * torso, 0.22 * torso


def _draw_scene(index_seed: int, size: int, num_objects: tuple[int, int], person_probability: float) -> tuple[torch.Tensor, list[SceneObject]]:
    generator = torch.Generator().manual_seed(index_seed)

    def uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand(1, generator=generator))

    image = render_background(size, generator)
    count = int(torch.randint(num_objects[0], num_objects[1] + 1, (1,), generator=generator))
    placed: list[dict[str, Any]] = []  # label, full (binary), visible (binary), keypoints
    for _ in range(count):
        for _attempt in range(10):
            if float(torch.rand(1, generator=generator)) < person_probability:
                label, (joints, width, head) = PERSON_ID, _person_pose(generator, size)
                soft, keypoints = render_person_mask(size, joints, width, head), joints
            else:
                label = int(torch.randint(len(SHAPE_CATEGORIES), (1,), generator=generator)) + 1
                radius = uniform(0.07, 0.17) * size
                center = (uniform(radius * 0.6, size - radius * 0.6), uniform(radius * 0.6, size - radius * 0.6))
                soft, keypoints = render_shape_mask(MINICOCO_CLASSES[label - 1], size, center, radius, uniform(0, 2 * math.pi), local=True), None
            full = soft > 0.5
            if full.sum() < 40:
                continue
            hides_too_much = any(((p["visible"] & ~full).sum() < MIN_VISIBLE_FRACTION * p["full"].sum()) for p in placed)
            if not hides_too_much:
                break
        else:
            continue  # no place found for this object: the scene has one fewer
        for p in placed:
            p["visible"] = p["visible"] & ~full
        placed.append({"label": label, "full": full, "visible": full.clone(), "keypoints": keypoints})
        image = image * (1 - soft) + torch.rand(3, 1, 1, generator=generator) * soft
    noise = torch.randn(3, size, size, generator=generator) * uniform(0.0, 0.05)
    image = (image + noise).clamp(0, 1)
    return image, [_annotate(p, size) for p in placed]


def _annotate(placed: dict[str, Any], size: int) -> SceneObject:
    keypoints = None
    if placed["keypoints"] is not None:
        xy = placed["keypoints"]
        inside = (xy >= 0).all(1) & (xy < size).all(1)
        rows = xy.round().long().clamp(0, size - 1)
        shown = placed["visible"][rows[:, 1], rows[:, 0]]
        visibility = torch.where(inside, torch.where(shown, 2.0, 1.0), 0.0)
        keypoints = torch.cat([xy * inside[:, None], visibility[:, None]], dim=1)  # COCO: (0, 0, 0) when outside
    return SceneObject(placed["label"], placed["visible"], keypoints)


def _mask_box(mask: torch.Tensor) -> list[float]:
    """``[x1, y1, x2, y2]`` of a binary mask's pixels (x2, y2 exclusive: pixel edges, as COCO)."""
    rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)]


class MiniCocoScenes(Dataset):
    """Procedural detection / keypoint / segmentation scenes, drawn on access.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``; each split has its own scenes.
        size: Number of scenes.
        image_size: Side of the square images in pixels.
        seed: Master seed; scene ``i`` depends only on ``(seed, split, i)``.
        num_objects: Inclusive range of objects placed per scene (a few may not fit).
        person_probability: Chance that an object is a person.
        transforms: ``transforms(image, target)`` applied on access, e.g. a ``transforms.v2`` pipeline.

    Items are ``(image, target)``: a ``tv_tensors.Image`` (uint8, ``(3, H, W)``) and a dict with
    ``boxes`` (``tv_tensors.BoundingBoxes``, XYXY), ``labels`` (1-based), ``masks`` (``tv_tensors.Mask``,
    ``(N, H, W)``), ``keypoints`` (``(N, 9, 3)``: persons have theirs, other objects zeros),
    ``image_id``, ``area`` and ``iscrowd``: what torchvision's detection models take.
    """

    classes = list(MINICOCO_CLASSES)

    def __init__(
        self,
        split: str = "train",
        size: int = 1000,
        image_size: int = 256,
        seed: int = 0,
        num_objects: tuple[int, int] = (1, 5),
        person_probability: float = 0.3,
        transforms: Callable | None = None,
    ) -> None:
        check_choice(split, "split", tuple(SPLIT_OFFSETS))
        check_positive(size, "size", integer=True)
        check_positive(image_size, "image_size", integer=True)
        if not 1 <= num_objects[0] <= num_objects[1]:
            raise ValueError(f"expected num_objects as (low, high) with 1 <= low <= high, got {num_objects!r}")
        if not 0.0 <= person_probability <= 1.0:
            raise ValueError(f"expected 0 <= person_probability <= 1, got {person_probability!r}")
        self.split, self.size, self.image_size, self.seed = split, size, image_size, seed
        self.num_objects, self.person_probability, self.transforms = num_objects, person_probability, transforms
        self._base = seed * 10_000_019 + SPLIT_OFFSETS[split] + 500_000  # apart from ShapesDataset's seeds

    def __len__(self) -> int:
        return self.size

    def scene(self, index: int) -> tuple[torch.Tensor, list[SceneObject]]:
        """Scene ``index`` as a float image in [0, 1] and its objects (no transforms)."""
        if not 0 <= index < self.size:
            raise IndexError(f"scene index {index} out of range for a split of {self.size}")
        return _draw_scene(self._base + index, self.image_size, self.num_objects, self.person_probability)

    def __getitem__(self, index: int) -> tuple[tv_tensors.Image, dict[str, Any]]:
        image, objects = self.scene(index)
        size = (self.image_size, self.image_size)
        masks = torch.stack([o.mask for o in objects]) if objects else torch.zeros(0, *size, dtype=torch.bool)
        keypoints = torch.zeros(len(objects), len(PERSON_KEYPOINTS), 3)
        for row, obj in enumerate(objects):
            if obj.keypoints is not None:
                keypoints[row] = obj.keypoints
        target = {
            "boxes": tv_tensors.BoundingBoxes(torch.tensor([_mask_box(o.mask) for o in objects]).reshape(-1, 4), format="XYXY", canvas_size=size),
            "labels": torch.tensor([o.label for o in objects], dtype=torch.int64),
            "masks": tv_tensors.Mask(masks.to(torch.uint8)),
            "keypoints": keypoints,
            "image_id": index,
            "area": masks.flatten(1).sum(1).float(),
            "iscrowd": torch.zeros(len(objects), dtype=torch.int64),
        }
        picture = tv_tensors.Image((image * 255).round().to(torch.uint8))
        if self.transforms is not None:
            return self.transforms(picture, target)
        return picture, target


def _rle(mask: torch.Tensor) -> dict[str, Any]:
    encoded = mask_utils.encode(np.asfortranarray(mask.numpy().astype(np.uint8)))
    return {"size": list(encoded["size"]), "counts": encoded["counts"].decode("ascii")}


def coco_dict(dataset: MiniCocoScenes, *, keypoints_only: bool = False, file_pattern: str = "{index:06d}.png") -> dict[str, Any]:
    """The dataset's annotations as a COCO dict (what ``instances_*.json`` holds).

    Args:
        dataset: The scenes.
        keypoints_only: Only persons and their keypoints (what ``person_keypoints_*.json`` holds); see
            :func:`person_keypoints_dict` to derive it from an instances dict without drawing again.
        file_pattern: Image file names, formatted with ``index``.
    """
    images, annotations = [], []
    for index in range(len(dataset)):
        images.append({"id": index, "file_name": file_pattern.format(index=index), "width": dataset.image_size, "height": dataset.image_size})
        for obj in dataset.scene(index)[1]:
            x1, y1, x2, y2 = _mask_box(obj.mask)
            annotation = {
                "id": len(annotations) + 1, "image_id": index, "category_id": obj.label, "iscrowd": 0,
                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": float(obj.mask.sum()), "segmentation": _rle(obj.mask),
            }  # fmt: skip
            if obj.keypoints is not None:
                annotation["keypoints"] = [round(float(v), 2) for v in obj.keypoints.flatten()]
                annotation["num_keypoints"] = int((obj.keypoints[:, 2] > 0).sum())
            annotations.append(annotation)
    categories = []
    for label, name in enumerate(MINICOCO_CLASSES, start=1):
        category = {"id": label, "name": name, "supercategory": "person" if label == PERSON_ID else "shape"}
        if label == PERSON_ID:
            category |= {"keypoints": list(PERSON_KEYPOINTS), "skeleton": [list(pair) for pair in PERSON_SKELETON]}
        categories.append(category)
    info = {"description": f"mnv3lib mini-COCO, split {dataset.split}, seed {dataset.seed}", "version": "1"}
    instances = {"info": info, "images": images, "annotations": annotations, "categories": categories}
    return person_keypoints_dict(instances) if keypoints_only else instances


def person_keypoints_dict(instances: dict[str, Any]) -> dict[str, Any]:
    """The person-keypoints subset of an instances dict (the categories that have keypoints, and their
    annotations), as COCO's ``person_keypoints_*.json`` is of ``instances_*.json``. Works for real COCO too."""
    people = [c for c in instances["categories"] if c.get("keypoints")]
    ids = {c["id"] for c in people}
    return {**instances, "annotations": [a for a in instances["annotations"] if a["category_id"] in ids], "categories": people}


def export_coco(dataset: MiniCocoScenes, root: str | Path) -> dict[str, Path]:
    """Write the scenes as a COCO directory: ``root/<split>/*.png`` and ``root/annotations/{instances,person_keypoints}_<split>.json``.

    Returns:
        The paths written: ``images`` (the folder), ``instances`` and ``person_keypoints`` (the JSON files).
    """
    root = Path(root)
    images = root / dataset.split
    annotations = root / "annotations"
    images.mkdir(parents=True, exist_ok=True)
    annotations.mkdir(parents=True, exist_ok=True)
    for index in range(len(dataset)):
        image = (dataset.scene(index)[0] * 255).round().to(torch.uint8)  # untransformed, as the annotations
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(images / f"{index:06d}.png")  # torchvision.io's PNG writer is deprecated
    paths = {"images": images}
    instances = coco_dict(dataset)
    for name, content in (("instances", instances), ("person_keypoints", person_keypoints_dict(instances))):
        path = annotations / f"{name}_{dataset.split}.json"
        path.write_text(json.dumps(content))
        paths[name] = path
    return paths


def semantic_mask(target: dict[str, Any], num_classes: int | None = None) -> torch.Tensor:
    """Per-pixel class ids (0 = background) from a target's instance ``masks`` and ``labels``. Shape ``(H, W)``.

    Visible instance masks do not overlap, so the result does not depend on their order.
    """
    masks, labels = target["masks"], target["labels"]
    if masks.dim() != 3 or len(masks) != len(labels):
        raise ValueError(f"expected masks of shape (N, H, W) with one label each, got {tuple(masks.shape)} and {len(labels)} labels")
    if num_classes is not None and len(labels) and int(labels.max()) >= num_classes:
        raise ValueError(f"expected class ids < num_classes={num_classes}, got {int(labels.max())}")
    semantic = torch.zeros(masks.shape[-2:], dtype=torch.int64)
    for mask, label in zip(masks.bool(), labels):
        semantic[mask] = label
    return semantic


class SemanticScenes(Dataset):
    """Mini-COCO scenes as ``(image, semantic mask)`` pairs, for segmentation (Chapter 6).

    Args:
        scenes: The scenes (their own ``transforms`` must be None).
        transforms: ``transforms(image, mask)`` applied on access, e.g. a ``transforms.v2`` pipeline,
            which resizes and flips a ``tv_tensors.Mask`` with its image (nearest-neighbour for masks).

    Items are a ``tv_tensors.Image`` (uint8, ``(3, H, W)``) and a ``tv_tensors.Mask`` (int64, ``(H, W)``)
    of class ids: 0 is the background, ``i`` is ``MINICOCO_CLASSES[i - 1]``.
    """

    def __init__(self, scenes: MiniCocoScenes, transforms: Callable | None = None) -> None:
        if not isinstance(scenes, MiniCocoScenes):
            raise TypeError(f"expected MiniCocoScenes, got {type(scenes).__name__}")
        if scenes.transforms is not None:
            raise ValueError("expected scenes without transforms: give the transforms to SemanticScenes")
        self.scenes, self.transforms = scenes, transforms
        self.classes = ["background", *MINICOCO_CLASSES]

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        image, target = self.scenes[index]
        mask = tv_tensors.Mask(semantic_mask(target))
        if self.transforms is not None:
            return self.transforms(image, mask)
        return image, mask
