"""Classification transforms, as TorchVision's reference scripts build them, from ``transforms.v2``.

They accept PIL images (ImageFolder) and uint8 tensors (the procedural datasets) alike.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from ..checks import check_choice, check_positive

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "AUTO_AUGMENT_POLICIES", "classification_train_transform", "classification_eval_transform"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
AUTO_AUGMENT_POLICIES = ("imagenet", "cifar10", "svhn", "ra", "ta_wide", "augmix")


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
