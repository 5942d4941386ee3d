"""Training and evaluation of the MobileNetV3 segmentation models, after TorchVision's ``references/segmentation``.

SGD with momentum and a polynomial learning-rate decay per iteration (``(1 - it / total) ** 0.9``),
cross-entropy that ignores label 255, plus 0.5 × the auxiliary head's loss for DeepLabV3 / FCN with
``aux_loss``; atomic checkpoints after every epoch and exact resume. Metrics are global pixel accuracy
and mIoU from a confusion matrix (:mod:`mnv3lib.engine.metrics`). Chapter 6 ("Semantic
segmentation") trains the book's models with it (``python -m mnv3lib.book segmentation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, default_collate

from ..devices import model_device
from ..models import segmentation
from . import distributed
from .checkpoint import load_features
from .loop import Config, EpochRecord, Task
from ..checks import check_choice, check_positive, check_range, inputs_checked
from ..data.transforms import TransformedDataset, segmentation_transforms
from .metrics import IGNORE_INDEX, ConfusionMatrix, check_segmentation_batch

__all__ = [
    "SegmentationTask",
    "SegmentationConfig",
    "SegmentationEpoch",
    "build_segmenter",
    "segmentation_loss",
    "checked_collate",
    "check_mask_values",
    "poly_lr_factor",
    "evaluate_segmentation",
    "predict_masks",
]

MODELS = ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large", "fcn_mobilenet_v3_large")


@dataclass(frozen=True)
class SegmentationConfig(Config):
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
        if self.model == "deeplabv3_mobilenet_v3_large" and self.batch_size == 1:
            raise ValueError("DeepLabV3's image-pooling branch normalises one value per channel with BatchNorm, which cannot train on batch_size 1: use batch_size >= 2")
        for name in ("image_size", "epochs", "batch_size"):
            check_positive(getattr(self, name), name, integer=True)
        for name in ("lr", "lr_power"):
            check_positive(getattr(self, name), name)
        check_range(self.momentum, "momentum", 0.0, 1.0, high_open=True)
        check_range(self.weight_decay, "weight_decay", 0.0)
        if not 0.0 <= self.flip_prob <= 1.0 or self.aux_weight < 0:
            raise ValueError(f"expected 0 <= flip_prob <= 1 and aux_weight >= 0, got {self.flip_prob}, {self.aux_weight}")


@dataclass(frozen=True)
class SegmentationEpoch(EpochRecord):
    """One epoch's record: mIoU and pixel accuracy in % (nan if not evaluated)."""

    miou: float
    pixel_accuracy: float


def build_segmenter(config: SegmentationConfig, num_classes: int) -> nn.Module:
    """The segmentation model ``config`` names, randomly initialised, with ``num_classes`` including the background."""
    builder = getattr(segmentation, config.model)
    kwargs: dict[str, Any] = {"num_classes": num_classes, "dilated": config.dilated}
    if config.model != "lraspp_mobilenet_v3_large":
        kwargs["aux_loss"] = config.aux_loss
    return builder(**kwargs)


def segmentation_loss(outputs: dict[str, torch.Tensor], masks: torch.Tensor, aux_weight: float = 0.5) -> dict[str, torch.Tensor]:
    """Cross-entropy of ``out`` (and of ``aux`` if present) against ``masks``, ignoring label 255.

    Returns ``{"out": ..., "aux": ..., "loss": out + aux_weight * aux}`` (no ``aux`` without an aux head).

    Raises:
        TypeError, ValueError: masks that are not class ids of shape ``(B, H, W)`` matching the logits.
    """
    if not isinstance(outputs, dict) or "out" not in outputs:
        raise TypeError(f"expected the model's outputs as a dict with 'out' (and 'aux'), got {type(outputs).__name__}")
    logits = outputs["out"]
    if not isinstance(masks, torch.Tensor) or masks.is_floating_point() or masks.dtype == torch.bool:
        raise TypeError(f"expected masks as an integer tensor of class ids, got {getattr(masks, 'dtype', type(masks).__name__)}")
    if tuple(masks.shape) != (logits.shape[0], *logits.shape[-2:]):
        raise ValueError(f"expected masks of shape {(logits.shape[0], *logits.shape[-2:])} to match the logits {tuple(logits.shape)}, got {tuple(masks.shape)}")
    losses = {name: F.cross_entropy(logits, masks, ignore_index=IGNORE_INDEX) for name, logits in outputs.items()}
    losses["loss"] = losses["out"] + aux_weight * losses["aux"] if "aux" in losses else losses["out"]
    return losses


def poly_lr_factor(config: SegmentationConfig, iteration: int, iterations_per_epoch: int) -> float:
    """TorchVision's polynomial decay: ``(1 - iteration / total) ** lr_power`` over all the run's iterations."""
    total = config.epochs * iterations_per_epoch
    return (1 - min(iteration, total) / total) ** config.lr_power


def checked_collate(samples: list[tuple[torch.Tensor, torch.Tensor]], num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch's default collate as plain tensors, then :func:`~mnv3lib.engine.metrics.check_segmentation_batch`
    on the CPU, once per sample: the training step need not read the batch on the device."""
    images, masks = (tensor.as_subclass(torch.Tensor) for tensor in default_collate(samples))
    check_segmentation_batch(images, masks, num_classes, values=True)
    if bool((masks == IGNORE_INDEX).all()):
        raise ValueError(
            f"a batch of {len(masks)} masks has no labelled pixel (every value is {IGNORE_INDEX}, the ignore index), so its loss "
            f"is undefined; masks that mark objects with {IGNORE_INDEX} (binary 0/{IGNORE_INDEX} masks) need their objects as class 1"
        )
    return images, masks.long()  # uint8 or int32 masks (as read from PNGs) become the int64 that cross_entropy takes


def _num_classes(model: nn.Module) -> int:
    classifier = model.classifier
    last = classifier.low_classifier if isinstance(classifier, segmentation.LRASPPHead) else classifier[-1]
    return last.out_channels


@torch.no_grad()
def predict_masks(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Class ids ``(B, H, W)`` for a float batch ``(B, 3, H, W)`` (the arg-max of the ``out`` logits), on
    the images' device (the model runs on its own)."""
    model.eval()
    return model(images.to(model_device(model)))["out"].argmax(1).to(images.device)


@torch.no_grad()
def evaluate_segmentation(model: nn.Module, dataset: Dataset, *, batch_size: int = 16, image_size: int | None = None) -> dict[str, Any]:
    """Global pixel accuracy, per-class IoU and mIoU (in %) of ``model`` on ``dataset``.

    ``dataset`` yields float images and int64 masks. With ``image_size``, the model sees the images
    resized to it and its logits are resized back (:class:`~mnv3lib.models.segmentation.LowResolution`, the
    article's low-resolution inference); the metrics are always computed at the masks' resolution.
    The model runs on its device. Under torchrun each process evaluates its share of ``dataset`` and the
    confusion matrices are added up: every process gets the metrics of the whole set.
    """
    matrix = ConfusionMatrix(_num_classes(model))
    runner = model if image_size is None else segmentation.LowResolution(model, image_size)
    runner.eval()
    device = model_device(model)
    for images, masks in DataLoader(distributed.shard(dataset), batch_size=batch_size, shuffle=False):
        images, masks = images.as_subclass(torch.Tensor), masks.as_subclass(torch.Tensor)
        check_segmentation_batch(images, masks, matrix.num_classes, values=True)
        masks = masks.long()
        with inputs_checked():  # just checked, on the CPU
            predictions = runner(images.to(device))["out"].argmax(1).cpu()
        matrix.update(masks, predictions)
    distributed.all_reduce_sum(matrix.matrix)
    return matrix.compute()


def check_mask_values(dataset: Dataset, num_classes: int, items: int = 16) -> None:
    """Refuse, before any compute, a dataset whose masks mark objects with the ignore index: when the
    first ``items`` masks hold only 0 and 255 (binary masks saved as 0/255 images), every object pixel
    would be ignored and the model would learn the background alone."""
    seen: set[int] = set()
    for index in range(min(items, len(dataset))):
        seen |= set(torch.as_tensor(np.asarray(dataset[index][1])).unique().tolist())
    if IGNORE_INDEX in seen and seen <= {0, IGNORE_INDEX} and num_classes > 1:
        raise ValueError(
            f"the first {min(items, len(dataset))} training masks hold only 0 and {IGNORE_INDEX}: {IGNORE_INDEX} is the ignore index, "
            f"so every object pixel would be ignored; store binary masks with objects as 1 (mask // {IGNORE_INDEX})"
        )


def _dataset_classes(dataset: Dataset) -> int:
    classes = getattr(dataset, "classes", None)
    if not classes or len(classes) < 2:
        raise ValueError("expected a training set whose `classes` name at least 2 classes, the background included")
    return len(classes)


class SegmentationTask(Task):
    """Semantic segmentation: cross-entropy ignoring label 255 (plus the weighted auxiliary loss), the
    polynomial learning-rate decay per iteration, and mIoU / pixel accuracy."""

    record_type = SegmentationEpoch

    def __init__(self, config: SegmentationConfig) -> None:
        self.config = config

    def datasets(self, train_set: Dataset, val_set: Dataset) -> tuple[Dataset, Dataset]:
        config = self.config
        train = segmentation_transforms(config.image_size, train=True, flip_prob=config.flip_prob)
        return TransformedDataset(train_set, train, pairs=True), TransformedDataset(val_set, segmentation_transforms(config.image_size, train=False), pairs=True)

    def check_data(self, train_set: Dataset, val_set: Dataset) -> None:
        check_mask_values(train_set, _dataset_classes(train_set))

    def build_model(self, train_set: Dataset) -> nn.Module:
        return build_segmenter(self.config, _dataset_classes(train_set))

    def initialise(self, model: nn.Module) -> None:
        if self.config.backbone_weights is not None:
            load_features(model.backbone, self.config.backbone_weights)

    def build_optimizer(self, parameters: list[nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(parameters, lr=self.config.lr, momentum=self.config.momentum, weight_decay=self.config.weight_decay)

    def lr_factor(self, epoch: int, iteration: int, steps: int) -> float:
        return poly_lr_factor(self.config, epoch * steps + iteration, steps)

    def start(self, model: nn.Module) -> None:
        self.collate_fn = partial(checked_collate, num_classes=_num_classes(model))

    def loss(self, model: nn.Module, batch: Any) -> tuple[dict[str, torch.Tensor], int, dict[str, torch.Tensor]]:
        images, masks = batch
        return segmentation_loss(model(images), masks, self.config.aux_weight), len(images), {}

    def evaluate(self, model: nn.Module, val_set: Dataset) -> dict[str, float]:
        scores = evaluate_segmentation(model, val_set)
        return {"miou": scores["miou"], "pixel_accuracy": scores["pixel_accuracy"]}

    def not_evaluated(self) -> dict[str, float]:
        return {"miou": float("nan"), "pixel_accuracy": float("nan")}

    def log_line(self, record: SegmentationEpoch) -> str:
        return (f"epoch {record.epoch}/{self.config.epochs}: loss {record.losses.get('loss', float('nan')):.4f}, mIoU {record.miou:.2f}, "
                f"pixel accuracy {record.pixel_accuracy:.2f}, {record.seconds:.0f} s")  # fmt: skip
