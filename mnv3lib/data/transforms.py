"""Every task's transforms, as TorchVision's reference scripts build them from ``transforms.v2``, the
detection batch, and :class:`TransformedDataset`, which shows a dataset through a transform.

The classification transforms accept PIL images (ImageFolder) and uint8 tensors (the procedural
datasets) alike; the detection and segmentation transforms take ``(image, target)`` pairs and move
boxes, masks and keypoints with their image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from ..checks import check_choice, check_positive

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "AUTO_AUGMENT_POLICIES", "classification_train_transform", "classification_eval_transform",
    "AUGMENTATIONS", "SSD_FILL", "detection_transforms", "detection_collate", "segmentation_transforms", "TransformedDataset",
]  # fmt: skip

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
AUTO_AUGMENT_POLICIES = ("imagenet", "cifar10", "svhn", "ra", "ta_wide", "augmix")
# TorchVision's detection --data-augmentation presets (references/detection/presets.py), plus the book's default
AUGMENTATIONS = ("photometric", "hflip", "ssd", "ssdlite")
SSD_FILL = (123, 117, 104)  # the expand's fill: ImageNet's mean colour in uint8, TorchVision's


def _auto_augment(policy: str) -> v2.Transform:
    check_choice(policy, "auto_augment policy", AUTO_AUGMENT_POLICIES)
    if policy == "ra":
        return v2.RandAugment()
    if policy == "ta_wide":
        return v2.TrivialAugmentWide()
    if policy == "augmix":
        return v2.AugMix()
    return v2.AutoAugment(v2.AutoAugmentPolicy(policy))


def classification_train_transform(
    crop_size: int,
    *,
    auto_augment: str | None = None,
    random_erase: float = 0.0,
    hflip: float = 0.5,
    min_scale: float = 0.08,
) -> v2.Compose:
    """RandomResizedCrop → flip → [AutoAugment] → float → normalise → [RandomErasing].

    Mirrors ``references/classification/presets.py::ClassificationPresetTrain``; ``--auto-augment imagenet``
    and ``--random-erase 0.2`` are the MobileNetV3 recipe's settings.
    """
    check_positive(crop_size, "crop_size", integer=True)
    if not 0.0 <= random_erase <= 1.0:
        raise ValueError(f"expected 0 <= random_erase <= 1, got {random_erase!r}")
    steps: list[v2.Transform] = [v2.ToImage(), v2.RandomResizedCrop(crop_size, scale=(min_scale, 1.0), antialias=True)]
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(hflip))
    if auto_augment:
        steps.append(_auto_augment(auto_augment))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if random_erase > 0:
        steps.append(v2.RandomErasing(random_erase))
    return v2.Compose(steps)


def classification_eval_transform(resize_size: int, crop_size: int) -> v2.Compose:
    """Resize the shorter side → centre crop → float → normalise (TorchVision's 256 → 224 at ImageNet scale)."""
    check_positive(resize_size, "resize_size", integer=True)
    check_positive(crop_size, "crop_size", integer=True)
    return v2.Compose([
        v2.ToImage(),
        v2.Resize(resize_size, antialias=True),
        v2.CenterCrop(crop_size),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


# --------------------------------------------------------------------------------------------------
# Detection and segmentation: transforms of (image, target) pairs
# --------------------------------------------------------------------------------------------------
def detection_transforms(train: bool, augmentation: str = "photometric") -> v2.Compose:
    """uint8 images to floats in [0, 1], after TorchVision's detection augmentation when training:

    - ``"photometric"`` (the book's R-CNNs): colour jitter half the time (the scenes' geometry is
      already random, and a flip would have to swap the stick figures' left and right keypoints);
    - ``"hflip"`` (TorchVision's default): a horizontal flip half the time;
    - ``"ssd"``: colour jitter, an expand (zoom out onto a canvas up to 4× larger, filled with
      :data:`SSD_FILL`), a crop that keeps boxes overlapping it by a random minimum IoU, a flip;
    - ``"ssdlite"`` (TorchVision's SSDlite recipe): the crop and the flip, no expand and no colour.

    Boxes that a crop leaves empty are dropped with their labels and masks (``SanitizeBoundingBoxes``).
    """
    check_choice(augmentation, "data_augmentation", AUGMENTATIONS)
    steps: list[nn.Module] = []
    if train:
        steps = {
            "photometric": [v2.RandomPhotometricDistort(p=0.5)],
            "hflip": [v2.RandomHorizontalFlip(p=0.5)],
            "ssd": [v2.RandomPhotometricDistort(), v2.RandomZoomOut(fill={tv_tensors.Image: SSD_FILL, "others": 0}), v2.RandomIoUCrop(),
                    v2.RandomHorizontalFlip(p=0.5)],
            "ssdlite": [v2.RandomIoUCrop(), v2.RandomHorizontalFlip(p=0.5)],
        }[augmentation]  # fmt: skip
        if augmentation in ("ssd", "ssdlite"):
            steps.append(v2.SanitizeBoundingBoxes())
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True)])


def detection_collate(batch: Sequence[tuple[Any, dict[str, Any]]]) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    """A detection batch: a list of images and a list of targets (images may differ in size), as plain
    tensors; the instance masks are left out (no model of the book trains on them)."""
    images, targets = zip(*batch)
    return [image.as_subclass(torch.Tensor) for image in images], [
        {key: value.as_subclass(torch.Tensor) if isinstance(value, torch.Tensor) else value for key, value in t.items() if key != "masks"}
        for t in targets
    ]


def segmentation_transforms(image_size: int, *, train: bool, flip_prob: float = 0.5) -> v2.Compose:
    """Resize image and mask to ``image_size`` (bilinear and nearest), flip when training, uint8 → [0, 1]."""
    steps: list[nn.Module] = [v2.Resize((image_size, image_size), antialias=True)]
    if train and flip_prob > 0:
        steps.append(v2.RandomHorizontalFlip(flip_prob))
    return v2.Compose([*steps, v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True)])


# --------------------------------------------------------------------------------------------------
# A dataset seen through a transform
# --------------------------------------------------------------------------------------------------
class TransformedDataset(Dataset):
    """``dataset`` seen through ``transform``, leaving ``dataset`` itself untouched.

    The engine trains and evaluates through it, and chapters use it in place of setting a dataset's
    ``transforms``: the dataset given stays as it was, for every later cell that reads it. For example,
    the validation scenes as a detector sees them::

        val_data = TransformedDataset(val_scenes, detection_transforms(train=False), pairs=True)

    Args:
        dataset: A map-style dataset of ``(image, label)`` or ``(image, target)`` items.
        transform: Applied to each item on access.
        pairs: ``False`` applies ``transform(image)`` (classification); ``True`` applies
            ``transform(image, target)`` (detection, segmentation), which moves boxes, masks and keypoints
            with the image.

    ``classes`` is the dataset's, if it has them.
    """

    def __init__(self, dataset: Dataset, transform: Callable, *, pairs: bool = False) -> None:
        if not callable(transform):
            raise TypeError(f"expected transform to be callable, got {type(transform).__name__}")
        self.dataset, self.transform, self.pairs = dataset, transform, pairs
        self.classes = getattr(dataset, "classes", None)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image, target = self.dataset[index]
        if self.pairs:
            return self.transform(image, target)
        return self.transform(image), target
