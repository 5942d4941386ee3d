"""The procedural data is deterministic, balanced enough, and usable through transforms.v2 and ImageFolder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mnv3lib.data import SHAPE_CLASSES, ShapesDataset, render_shape_mask
from mnv3lib.data.folders import export_image_folder, image_folder_splits
from mnv3lib.data.transforms import classification_eval_transform, classification_train_transform


def test_same_seed_same_images_in_any_order() -> None:
    a = ShapesDataset("train", size=12, image_size=32, seed=3)
    b = ShapesDataset("train", size=20, image_size=32, seed=3)
    assert torch.equal(a.images, b.images[:12]) and a.targets == b.targets[:12]
    assert not torch.equal(a.images, ShapesDataset("train", size=12, image_size=32, seed=4).images)
    assert not torch.equal(a.images, ShapesDataset("val", size=12, image_size=32, seed=3).images)


def test_every_class_appears_and_images_are_uint8() -> None:
    data = ShapesDataset("train", size=300, image_size=32)
    assert set(data.targets) == set(range(len(SHAPE_CLASSES)))
    assert data.images.dtype == torch.uint8 and data.images.shape == (300, 3, 32, 32)
    assert data.images.float().std() > 20  # not blank


@pytest.mark.parametrize("name", SHAPE_CLASSES)
def test_each_shape_has_a_sensible_area(name: str) -> None:
    mask = render_shape_mask(name, 64, (32.0, 32.0), 20.0, 0.3)
    area = mask.sum().item() / (3.1416 * 20**2)  # relative to the enclosing circle
    assert 0.15 < area <= 1.05, f"{name}: {area:.2f}"
    assert mask.min() >= 0 and mask.max() <= 1


def test_transforms_accept_tensors_and_pil_images(tmp_path: Path) -> None:
    data = ShapesDataset("train", size=4, image_size=32)
    train = classification_train_transform(28, auto_augment="imagenet", random_erase=0.5, min_scale=0.35)
    evaluate = classification_eval_transform(32, 28)
    assert train(data.images[0]).shape == (3, 28, 28) and train(data.images[0]).dtype == torch.float32
    export_image_folder(data, tmp_path / "train")
    export_image_folder(data, tmp_path / "val")
    folder_train, folder_val = image_folder_splits(tmp_path)
    image, label = folder_val[0]
    assert evaluate(image).shape == (3, 28, 28) and folder_train.classes == sorted({data.classes[t] for t in data.targets})


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown split 'holdout'"):
        ShapesDataset("holdout", size=2)
    with pytest.raises(ValueError, match="size > 0"):
        ShapesDataset("train", size=0)
    with pytest.raises(ValueError, match="num_distractors"):
        ShapesDataset("train", size=2, num_distractors=(3, 1))
    with pytest.raises(ValueError, match="unknown auto_augment policy 'fancy'"):
        classification_train_transform(28, auto_augment="fancy")
    with pytest.raises(ValueError, match="unknown shape 'blob'"):
        render_shape_mask("blob", 16, (8.0, 8.0), 4.0, 0.0)
