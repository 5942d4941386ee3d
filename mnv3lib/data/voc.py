"""Pascal VOC's segmentation split, read from an extracted ``VOCdevkit`` folder (no download).

TorchVision's MobileNetV3 segmentation weights were trained on the COCO images of VOC's 20 categories;
Pascal VOC 2012 itself (1,464 training and 1,449 validation images with class masks) is the usual
smaller stand-in with the same 21 labels, and what ``python -m mnv3lib.train segmentation --dataset voc``
reads. Items have the form of :class:`~mnv3lib.data.minicoco.SemanticScenes`' items.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors

__all__ = ["VOC_CLASSES", "VOCSegmentationFolder", "voc_splits"]

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
    "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip


def _voc_folder(root: Path, year: str) -> Path:
    for candidate in (root / "VOCdevkit" / f"VOC{year}", root / f"VOC{year}", root):
        if (candidate / "ImageSets" / "Segmentation").is_dir():
            return candidate
    raise FileNotFoundError(f"{root} holds no Pascal VOC {year} segmentation data (expected VOCdevkit/VOC{year}/ImageSets/Segmentation, "
                            "JPEGImages and SegmentationClass, as the VOCtrainval tar extracts)")  # fmt: skip


class VOCSegmentationFolder(Dataset):
    """The images of a VOC segmentation split and their class masks (0 background, 1-20 the classes,
    255 the object borders that the loss and the metrics ignore).

    Args:
        root: The folder that holds ``VOCdevkit`` (or the ``VOC2012`` folder itself).
        image_set: ``"train"``, ``"val"`` or ``"trainval"``.
        year: The VOC edition.

    Items are a ``tv_tensors.Image`` (uint8, ``(3, H, W)``) and a ``tv_tensors.Mask`` (int64, ``(H, W)``).
    """

    def __init__(self, root: str | Path, image_set: str = "train", year: str = "2012") -> None:
        self.folder = _voc_folder(Path(root), year)
        split = self.folder / "ImageSets" / "Segmentation" / f"{image_set}.txt"
        if not split.is_file():
            raise FileNotFoundError(f"no VOC split {image_set!r}: {split} is missing")
        self.ids = [line.strip() for line in split.read_text().splitlines() if line.strip()]
        if not self.ids:
            raise ValueError(f"{split} lists no image")
        for name in (self.ids[0], self.ids[-1]):
            for path in (self.folder / "JPEGImages" / f"{name}.jpg", self.folder / "SegmentationClass" / f"{name}.png"):
                if not path.is_file():
                    raise FileNotFoundError(f"{split} lists {name}, but {path} is missing")
        self.classes = list(VOC_CLASSES)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        name = self.ids[index]
        image_path, mask_path = self.folder / "JPEGImages" / f"{name}.jpg", self.folder / "SegmentationClass" / f"{name}.png"
        try:
            with Image.open(image_path) as photo:
                image = torch.from_numpy(np.array(photo.convert("RGB"))).permute(2, 0, 1).contiguous()
            with Image.open(mask_path) as mask:  # a palette PNG: its pixel values are the class ids
                labels = torch.from_numpy(np.array(mask, dtype=np.int64))
        except (OSError, RuntimeError) as error:
            raise ValueError(f"cannot read VOC item {name} ({image_path.name}, {mask_path.name}): {error}") from error
        if labels.shape != image.shape[-2:]:
            raise ValueError(f"VOC item {name}: the mask's size {tuple(labels.shape)} is not the image's {tuple(image.shape[-2:])}")
        return tv_tensors.Image(image), tv_tensors.Mask(labels)


def voc_splits(root: str | Path, year: str = "2012") -> tuple[VOCSegmentationFolder, VOCSegmentationFolder]:
    """VOC's ``train`` and ``val`` segmentation splits under ``root``."""
    return VOCSegmentationFolder(root, "train", year), VOCSegmentationFolder(root, "val", year)
