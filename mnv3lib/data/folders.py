"""ImageFolder datasets (ImageNet's ``train/<class>/*.JPEG`` layout), and exporting the book's data to one."""

from __future__ import annotations

from pathlib import Path

import torchvision
from PIL import Image
from torch.utils.data import Dataset

__all__ = ["load_image", "image_folder_splits", "export_image_folder"]


def load_image(path: str) -> Image.Image:
    """Open an image file as RGB; a corrupt or truncated file raises ``ValueError`` naming it."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as error:  # PIL's UnidentifiedImageError is an OSError
        raise ValueError(f"cannot read the image {path}: {error}") from error


def image_folder_splits(root: str | Path) -> tuple[Dataset, Dataset]:
    """``(train, val)`` ImageFolders from ``root/train`` and ``root/val``, as TorchVision's train.py reads ImageNet."""
    root = Path(root)
    missing = [split for split in ("train", "val") if not (root / split).is_dir()]
    if missing:
        raise FileNotFoundError(f"expected ImageNet-style folders {root}/train/<class>/ and {root}/val/<class>/; missing {missing}")
    train = torchvision.datasets.ImageFolder(str(root / "train"), loader=load_image)
    val = torchvision.datasets.ImageFolder(str(root / "val"), loader=load_image)
    if train.classes != val.classes:
        raise ValueError(f"train and val have different classes: {train.classes} vs {val.classes}")
    return train, val


def export_image_folder(dataset: Dataset, root: str | Path) -> Path:
    """Write ``dataset`` (uint8 tensor images, a ``classes`` list) as PNG files in ImageFolder layout."""
    root = Path(root)
    for index in range(len(dataset)):
        image, label = dataset[index]
        folder = root / dataset.classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{index:06d}.png")
    return root
