"""Training and evaluation of the MobileNetV3 segmentation models, after TorchVision's ``references/segmentation``.

SGD with momentum and a polynomial learning-rate decay per iteration (``(1 - it / total) ** 0.9``),
cross-entropy that ignores label 255, plus 0.5 × the auxiliary head's loss for DeepLabV3 / FCN with
``aux_loss``; atomic checkpoints after every epoch and exact resume. Metrics are global pixel accuracy
and mIoU from a confusion matrix (:mod:`mnv3lib.engine.metrics`). Chapter 5 ("Semantic
segmentation") trains the book's models with it (``python -m mnv3lib.book chapter5``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2
from tqdm.auto import tqdm

from ..models import segmentation
from .checkpoint import load_features, restore_run, save_run
from ..checks import check_choice, check_positive
from .reproducibility import seed_epoch
from .metrics import IGNORE_INDEX, ConfusionMatrix, check_segmentation_batch

__all__ = [
    "SegmentationConfig",
    "SegmentationEpoch",
    "SegmentationResult",
    "build_segmenter",
    "segmentation_transforms",
    "segmentation_loss",
    "poly_lr_factor",
    "train_one_epoch",
    "evaluate_segmentation",
    "predict_masks",
    "fit_segmentation",
]

MODELS = ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large", "fcn_mobilenet_v3_large")


@dataclass(frozen=True)
class SegmentationConfig:
    """A segmentation training run. Names follow TorchVision's ``references/segmentation/train.py`` flags."""

    # model
    model: str = "lraspp_mobilenet_v3_large"  # --model
    aux_loss: bool = False  # --aux-loss: an FCN head on the stride-8 features (DeepLabV3 and FCN only)
    dilated: bool = True  # the backbone's last stage keeps stride 16 (False: stride 32, as for classification)
    image_size: int = 256  # images and masks are resized to image_size × image_size
    # a classification checkpoint (its "model" state dict) whose ``features`` start the backbone when a run
    # starts (TorchVision: --weights-backbone, ImageNet weights); None: from scratch
    backbone_weights: str | None = None
    # optimisation
    epochs: int = 10  # --epochs (TorchVision: 30)
    batch_size: int = 8  # -b (TorchVision: 4 per GPU × 8 GPUs)
    lr: float = 0.02  # --lr (TorchVision: 0.01 for the MobileNetV3 models, 0.02 for ResNets)
    momentum: float = 0.9
    weight_decay: float = 1e-4  # --wd (TorchVision's MobileNetV3 recipes: 1e-6, with ImageNet weights)
    aux_weight: float = 0.5  # the auxiliary loss's weight, as TorchVision's criterion
    lr_power: float = 0.9  # polynomial decay exponent
    flip_prob: float = 0.5  # random horizontal flips while training
    # data and run
    seed: int = 0
    workers: int = 0  # -j

    def __post_init__(self) -> None:
        check_choice(self.model, "segmentation model", MODELS)
        if self.aux_loss and self.model == "lraspp_mobilenet_v3_large":
            raise ValueError("LR-ASPP is trained without an auxiliary loss: set aux_loss=False")
        for name in ("image_size", "epochs", "batch_size"):
            check_positive(getattr(self, name), name, integer=True)
        for name in ("lr", "lr_power"):
            check_positive(getattr(self, name), name)
        if not 0.0 <= self.flip_prob <= 1.0 or self.aux_weight < 0:
            raise ValueError(f"expected 0 <= flip_prob <= 1 and aux_weight >= 0, got {self.flip_prob}, {self.aux_weight}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SegmentationConfig:
        return cls(**values)


@dataclass(frozen=True)
class SegmentationEpoch:
    """One epoch's record: losses are means over its steps; metrics are in % (nan if not evaluated)."""

    epoch: int
    lr: float
    losses: dict[str, float]
    miou: float
    pixel_accuracy: float
    seconds: float


@dataclass
class SegmentationResult:
    config: SegmentationConfig
    history: list[SegmentationEpoch]
    model: nn.Module
    checkpoint: Path | None = None


def build_segmenter(config: SegmentationConfig, num_classes: int) -> nn.Module:
    """The segmentation model ``config`` names, randomly initialised, with ``num_classes`` including the background."""
    builder = getattr(segmentation, config.model)
    kwargs: dict[str, Any] = {"num_classes": num_classes, "dilated": config.dilated}
    if config.model != "lraspp_mobilenet_v3_large":
        kwargs["aux_loss"] = config.aux_loss
    return builder(**kwargs)


def segmentation_transforms(image_size: int, *, train: bool, flip_prob: float = 0.5) -> v2.Compose:
    """Resize image and mask to ``image_size`` (bilinear and nearest), flip when training, uint8 → [0, 1]."""
    steps: list[nn.Module] = [v2.Resize((image_size, image_size), antialias=True)]
    if train and flip_prob > 0:
        steps.append(v2.RandomHorizontalFlip(flip_prob))
    return v2.Compose([*steps, v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True)])


def segmentation_loss(outputs: dict[str, torch.Tensor], masks: torch.Tensor, aux_weight: float = 0.5) -> dict[str, torch.Tensor]:
    """Cross-entropy of ``out`` (and of ``aux`` if present) against ``masks``, ignoring label 255.

    Returns ``{"out": ..., "aux": ..., "loss": out + aux_weight * aux}`` (no ``aux`` without an aux head).
    """
    losses = {name: F.cross_entropy(logits, masks, ignore_index=IGNORE_INDEX) for name, logits in outputs.items()}
    losses["loss"] = losses["out"] + aux_weight * losses["aux"] if "aux" in losses else losses["out"]
    return losses


def poly_lr_factor(config: SegmentationConfig, iteration: int, iterations_per_epoch: int) -> float:
    """TorchVision's polynomial decay: ``(1 - iteration / total) ** lr_power`` over all the run's iterations."""
    total = config.epochs * iterations_per_epoch
    return (1 - min(iteration, total) / total) ** config.lr_power


def _batches(dataset: Dataset, batch_size: int, shuffle: torch.Generator | None = None, workers: int = 0) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle is not None, generator=shuffle, num_workers=workers, drop_last=shuffle is not None)


def train_one_epoch(
    model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, config: SegmentationConfig, epoch: int, *, progress: bool = False
) -> dict[str, float]:
    """One pass over ``loader`` (batches of images and masks); returns the mean of each loss."""
    model.train()
    totals: dict[str, float] = {}
    steps = len(loader)
    batches = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False) if progress else loader
    for iteration, (images, masks) in enumerate(batches):
        images, masks = images.as_subclass(torch.Tensor), masks.as_subclass(torch.Tensor)
        check_segmentation_batch(images, masks, _num_classes(model))
        for group in optimizer.param_groups:
            group["lr"] = config.lr * poly_lr_factor(config, epoch * steps + iteration, steps)
        losses = segmentation_loss(model(images), masks, config.aux_weight)
        if not torch.isfinite(losses["loss"]):
            raise FloatingPointError(f"loss is {losses['loss'].item()} at epoch {epoch + 1}, step {iteration}")
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        optimizer.step()
        for name, value in losses.items():
            totals[name] = totals.get(name, 0.0) + value.item()
    return {name: total / max(steps, 1) for name, total in totals.items()}


def _num_classes(model: nn.Module) -> int:
    classifier = model.classifier
    last = classifier.low_classifier if isinstance(classifier, segmentation.LRASPPHead) else classifier[-1]
    return last.out_channels


@torch.no_grad()
def predict_masks(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Class ids ``(B, H, W)`` for a float batch ``(B, 3, H, W)`` (the arg-max of the ``out`` logits)."""
    model.eval()
    return model(images)["out"].argmax(1)


@torch.no_grad()
def evaluate_segmentation(model: nn.Module, dataset: Dataset, *, batch_size: int = 16, image_size: int | None = None) -> dict[str, Any]:
    """Global pixel accuracy, per-class IoU and mIoU (in %) of ``model`` on ``dataset``.

    ``dataset`` yields float images and int64 masks. With ``image_size``, the model sees the images
    resized to it and its logits are resized back (:class:`~mnv3lib.models.segmentation.LowResolution`, the
    article's low-resolution inference); the metrics are always computed at the masks' resolution.
    """
    matrix = ConfusionMatrix(_num_classes(model))
    runner = model if image_size is None else segmentation.LowResolution(model, image_size)
    runner.eval()
    for images, masks in _batches(dataset, batch_size):
        images, masks = images.as_subclass(torch.Tensor), masks.as_subclass(torch.Tensor)
        check_segmentation_batch(images, masks, matrix.num_classes)
        matrix.update(masks, runner(images)["out"].argmax(1))
    return matrix.compute()


def fit_segmentation(
    config: SegmentationConfig,
    train_set: Dataset,
    val_set: Dataset,
    num_classes: int,
    *,
    output_dir: str | Path | None = None,
    resume: str | Path | None = None,
    stop_after_epoch: int | None = None,
    eval_every: int = 1,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> SegmentationResult:
    """Train the model of ``config`` on ``train_set``, evaluating mIoU and pixel accuracy on ``val_set``.

    Args:
        config: The run's settings.
        train_set, val_set: Datasets of ``(image, mask)`` with a ``transforms`` attribute, e.g.
            :class:`~mnv3lib.data.minicoco.SemanticScenes` (their transforms are set here).
        num_classes: Classes including the background.
        output_dir: Where ``checkpoint.pt`` goes after every epoch (atomically). None keeps it in memory.
        resume: A ``checkpoint.pt`` to continue from; its config must equal ``config``. The resumed run
            ends bit-identical to an uninterrupted one.
        stop_after_epoch: Return after this many epochs (to split a run).
        eval_every: Evaluate every this many epochs (and always after the last).
        progress: Show progress bars.
        log: Called with one line per epoch.
    """
    check_positive(eval_every, "eval_every", integer=True)
    train_set.transforms = segmentation_transforms(config.image_size, train=True, flip_prob=config.flip_prob)
    val_set.transforms = segmentation_transforms(config.image_size, train=False)
    torch.manual_seed(config.seed)
    model = build_segmenter(config, num_classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    history: list[SegmentationEpoch] = []
    start_epoch = 0
    if resume is not None:
        records, start_epoch = restore_run(resume, config, model, optimizer)
        history = [SegmentationEpoch(**e) for e in records]
    elif config.backbone_weights is not None:
        load_features(model.backbone, config.backbone_weights)
    output = Path(output_dir) if output_dir is not None else None
    last_epoch = config.epochs if stop_after_epoch is None else min(config.epochs, stop_after_epoch)
    for epoch in range(start_epoch, last_epoch):
        started = time.perf_counter()
        loader = _batches(train_set, config.batch_size, shuffle=seed_epoch(config.seed, epoch), workers=config.workers)
        losses = train_one_epoch(model, loader, optimizer, config, epoch, progress=progress)
        evaluated = (epoch + 1) % eval_every == 0 or epoch + 1 == config.epochs
        metrics = evaluate_segmentation(model, val_set) if evaluated else {"miou": float("nan"), "pixel_accuracy": float("nan")}
        record = SegmentationEpoch(epoch + 1, optimizer.param_groups[0]["lr"], losses, metrics["miou"], metrics["pixel_accuracy"],
                                   seconds=round(time.perf_counter() - started, 1))  # fmt: skip
        history.append(record)
        if log:
            log(f"epoch {epoch + 1}/{config.epochs}: loss {losses['loss']:.4f}, mIoU {record.miou:.2f}, pixel accuracy {record.pixel_accuracy:.2f}, {record.seconds:.0f} s")
        if output is not None:
            save_run(output / "checkpoint.pt", config, model, optimizer, history)
    return SegmentationResult(config, history, model, output / "checkpoint.pt" if output is not None else None)
