"""Train and validation splits of the procedural datasets, at the sizes the book and the CLI use.

Each split is a pure function of its arguments, so the same call gives the same images everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch.utils.data import Dataset

from ..checks import check_positive
from .minicoco import MiniCocoScenes, SemanticScenes
from .shapes import ShapesDataset

__all__ = ["SHAPES_CROP_SIZES", "train_val_splits", "shapes_splits", "minicoco_splits"]

D = TypeVar("D", bound=Dataset)

# Classification transforms for the 64-px shapes (the ImageNet values are 224, 256, 224 and 0.08).
SHAPES_CROP_SIZES = {"train_crop_size": 56, "val_resize_size": 64, "val_crop_size": 56, "train_min_scale": 0.35}


def train_val_splits(dataset: Callable[..., D], train_size: int, val_size: int, **kwargs: Any) -> tuple[D, D]:
    """``dataset("train", size=train_size, **kwargs)`` and ``dataset("val", size=val_size, **kwargs)``."""
    check_positive(train_size, "train_size", integer=True)
    check_positive(val_size, "val_size", integer=True)
    return dataset("train", size=train_size, **kwargs), dataset("val", size=val_size, **kwargs)


def shapes_splits(
    train_size: int = 4_000, val_size: int = 2_000, *, image_size: int = 64, num_distractors: tuple[int, int] = (0, 2), seed: int = 0
) -> tuple[ShapesDataset, ShapesDataset]:
    """The shapes classification splits: 10 classes, 64×64 images with up to two distractors (Chapter 2)."""
    return train_val_splits(ShapesDataset, train_size, val_size, image_size=image_size, num_distractors=num_distractors, seed=seed)


def minicoco_splits(
    train_size: int = 1_600, val_size: int = 200, *, image_size: int = 256, seed: int = 0, semantic: bool = False
) -> tuple[MiniCocoScenes, MiniCocoScenes] | tuple[SemanticScenes, SemanticScenes]:
    """Mini-COCO train and validation scenes (Chapter 4); with ``semantic``, as semantic masks (Chapter 6)."""
    train, val = train_val_splits(MiniCocoScenes, train_size, val_size, image_size=image_size, seed=seed)
    return (SemanticScenes(train), SemanticScenes(val)) if semantic else (train, val)
