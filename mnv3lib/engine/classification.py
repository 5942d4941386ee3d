"""Classification training: plain functions over a frozen config, as in TorchVision's reference script.

``fit`` = for each epoch: ``train_one_epoch`` → learning-rate step → ``evaluate`` (model, and its EMA) →
atomic checkpoint. Every epoch starts from seeds derived from ``(config.seed, epoch)``, so a run that is
interrupted and resumed from its checkpoint ends with exactly the weights of an uninterrupted run.
Chapter 2 ("Training MobileNetV3") explains the recipe; ``python -m mnv3lib.train classification``
runs it from the command line.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .checkpoint import average_state_dicts, load_checkpoint, save_checkpoint
from ..checks import check_choice, check_positive
from ..data.transforms import classification_eval_transform, classification_train_transform
from ..models.mobilenetv3 import mobilenet_v3
from .optim import RMSpropTF
from .reproducibility import seed_epoch

__all__ = [
    "ClassificationConfig",
    "EpochResult",
    "TrainingResult",
    "TransformedDataset",
    "build_model",
    "build_optimizer",
    "build_scheduler",
    "lr_factor",
    "accuracy",
    "train_one_epoch",
    "evaluate",
    "fit",
]

OPTIMIZERS = ("sgd", "rmsprop", "rmsproptf")
SCHEDULERS = ("steplr", "cosineannealinglr", "constant")
DEFAULT_EPS = {"rmsprop": 0.0316, "rmsproptf": 1e-3}  # torchvision's hard-coded value; TF's 1e-3


@dataclass(frozen=True)
class ClassificationConfig:
    """Everything that defines a training run. Names follow TorchVision's ``train.py`` flags."""

    # model
    model: str = "mobilenet_v3_small"  # --model
    width_mult: float = 1.0
    dropout: float = 0.2
    stochastic_depth_prob: float = 0.0  # largest residual drop probability (0 = torchvision)
    bn_momentum: float = 0.01  # BatchNorm running-statistics momentum (torchvision: 0.01, for ~1250 steps/epoch)
    # optimisation
    epochs: int = 15  # --epochs
    batch_size: int = 128  # --batch-size
    opt: str = "rmsprop"  # --opt: sgd | rmsprop | rmsproptf
    lr: float = 0.064  # --lr
    momentum: float = 0.9  # --momentum
    weight_decay: float = 1e-5  # --wd
    opt_eps: float | None = None  # None: 0.0316 for rmsprop (torchvision), 1e-3 for rmsproptf (TF)
    opt_alpha: float = 0.9  # RMSProp's decay (torchvision and TF use 0.9)
    # learning-rate schedule (per epoch)
    lr_scheduler: str = "steplr"  # --lr-scheduler: steplr | cosineannealinglr | constant
    lr_step_size: int = 2  # --lr-step-size
    lr_gamma: float = 0.973  # --lr-gamma
    lr_warmup_epochs: int = 0  # --lr-warmup-epochs (linear)
    lr_warmup_decay: float = 0.01  # --lr-warmup-decay: starting factor of the warm-up
    lr_noise: tuple[float, float] | None = None  # (start, end) as fractions of training, e.g. (0.42, 0.9)
    lr_noise_pct: float = 0.67  # noise is resampled until |noise| < pct
    lr_noise_std: float = 1.0
    # regularisation and augmentation
    label_smoothing: float = 0.0  # --label-smoothing
    auto_augment: str | None = None  # --auto-augment, e.g. "imagenet"
    random_erase: float = 0.0  # --random-erase
    train_crop_size: int = 224  # --train-crop-size
    train_min_scale: float = 0.08  # RandomResizedCrop's smallest area fraction (ImageNet: 0.08)
    val_resize_size: int = 256  # --val-resize-size
    val_crop_size: int = 224  # --val-crop-size
    # weight averaging
    model_ema: bool = False  # --model-ema
    model_ema_steps: int = 32  # --model-ema-steps
    model_ema_decay: float = 0.99998  # --model-ema-decay
    average_last: int = 0  # average the last k checkpoints that improved Acc@1 (the recipe uses 3)
    # run
    seed: int = 0
    workers: int = 0  # --workers
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        check_choice(self.opt, "optimizer", OPTIMIZERS)
        check_choice(self.lr_scheduler, "lr scheduler", SCHEDULERS)
        for name in ("epochs", "batch_size", "lr_step_size", "train_crop_size", "val_resize_size", "val_crop_size", "model_ema_steps", "eval_batch_size"):
            check_positive(getattr(self, name), name, integer=True)
        check_positive(self.lr, "lr")
        if self.opt_eps is not None:
            check_positive(self.opt_eps, "opt_eps")
        if not 0.0 < self.train_min_scale <= 1.0:
            raise ValueError(f"expected 0 < train_min_scale <= 1, got {self.train_min_scale!r}")
        for name in ("label_smoothing", "random_erase", "stochastic_depth_prob", "lr_noise_pct", "bn_momentum"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"expected 0 <= {name} < 1, got {getattr(self, name)!r}")
        if self.lr_noise is not None and not (0.0 <= self.lr_noise[0] < self.lr_noise[1] <= 1.0):
            raise ValueError(f"expected lr_noise as (start, end) fractions with 0 <= start < end <= 1, got {self.lr_noise!r}")
        if self.lr_warmup_epochs < 0 or self.average_last < 0 or self.workers < 0:
            raise ValueError("expected lr_warmup_epochs, average_last and workers to be >= 0")

    @property
    def eps(self) -> float | None:
        """The optimizer's epsilon actually used."""
        return self.opt_eps if self.opt_eps is not None else DEFAULT_EPS.get(self.opt)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClassificationConfig:
        values = dict(values)
        if values.get("lr_noise") is not None:
            values["lr_noise"] = tuple(values["lr_noise"])
        return cls(**values)


@dataclass
class EpochResult:
    """One line of the training history."""

    epoch: int
    lr: float
    train_loss: float
    train_acc1: float
    val_loss: float
    val_acc1: float
    val_acc5: float
    ema_acc1: float | None = None
    seconds: float = 0.0


@dataclass
class TrainingResult:
    """What :func:`fit` returns: the history, the trained model and its averaged variants."""

    config: ClassificationConfig
    history: list[EpochResult]
    model: nn.Module
    ema_model: nn.Module | None = None
    averaged: dict[str, float] | None = None  # metrics of the checkpoint average, if requested
    averaged_state_dict: dict[str, torch.Tensor] | None = None
    diverged: bool = False
    checkpoint: Path | None = None

    @property
    def best_acc1(self) -> float:
        finite = [e.val_acc1 for e in self.history if math.isfinite(e.val_acc1)]
        return max(finite) if finite else float("nan")


class TransformedDataset(Dataset):
    """Apply ``transform`` to the image of each ``(image, label)`` item of ``dataset``."""

    def __init__(self, dataset: Dataset, transform: Callable) -> None:
        self.dataset, self.transform = dataset, transform
        self.classes = getattr(dataset, "classes", None)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.dataset[index]
        return self.transform(image), label


# --------------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------------
def build_model(config: ClassificationConfig, num_classes: int) -> nn.Module:
    """The MobileNetV3 named by ``config.model``, randomly initialised."""
    return mobilenet_v3(
        config.model,
        num_classes=num_classes,
        width_mult=config.width_mult,
        dropout=config.dropout,
        stochastic_depth_prob=config.stochastic_depth_prob,
        norm_layer=partial(nn.BatchNorm2d, eps=0.001, momentum=config.bn_momentum),
    )


def build_optimizer(config: ClassificationConfig, model: nn.Module) -> torch.optim.Optimizer:
    """SGD, PyTorch's RMSprop or the TensorFlow-style :class:`~mnv3lib.engine.optim.RMSpropTF`."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.opt == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    optimizer = torch.optim.RMSprop if config.opt == "rmsprop" else RMSpropTF
    return optimizer(
        params, lr=config.lr, alpha=config.opt_alpha, eps=config.eps, momentum=config.momentum, weight_decay=config.weight_decay
    )


def lr_factor(config: ClassificationConfig, epoch: int) -> float:
    """Multiplier of ``config.lr`` during ``epoch`` (0-based): warm-up, main schedule, then LR noise.

    A pure function of its arguments, so a resumed run follows exactly the same schedule.
    """
    warmup = config.lr_warmup_epochs
    if epoch < warmup:
        factor = config.lr_warmup_decay + (1 - config.lr_warmup_decay) * epoch / warmup
    else:
        step = epoch - warmup
        if config.lr_scheduler == "steplr":
            factor = config.lr_gamma ** (step // config.lr_step_size)
        elif config.lr_scheduler == "cosineannealinglr":
            factor = 0.5 * (1 + math.cos(math.pi * step / max(1, config.epochs - warmup)))
        else:
            factor = 1.0
    if config.lr_noise is not None:
        start, end = (round(f * config.epochs) for f in config.lr_noise)
        if start <= epoch < end:
            generator = torch.Generator().manual_seed(config.seed * 7919 + epoch)
            while True:  # timm's rule: redraw until the noise is inside (-pct, pct)
                noise = torch.randn(1, generator=generator).item() * config.lr_noise_std
                if abs(noise) < config.lr_noise_pct:
                    break
            factor *= 1 + noise
    return factor


def build_scheduler(config: ClassificationConfig, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-epoch scheduler that follows :func:`lr_factor`."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: lr_factor(config, epoch))


def accuracy(logits: torch.Tensor, targets: torch.Tensor, topk: Iterable[int] = (1, 5)) -> list[float]:
    """Top-k accuracies in percent (k is capped at the number of classes)."""
    topk = list(topk)
    maxk = min(max(topk), logits.shape[1])
    predicted = logits.topk(maxk, dim=1).indices  # (N, maxk)
    correct = predicted.eq(targets[:, None])
    return [correct[:, : min(k, maxk)].any(dim=1).float().mean().item() * 100 for k in topk]


# --------------------------------------------------------------------------------------------------
# One epoch
# --------------------------------------------------------------------------------------------------
def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    *,
    ema: AveragedModel | None = None,
    ema_steps: int = 32,
    progress: bool = False,
    description: str = "train",
) -> tuple[float, float, bool]:
    """One pass over ``loader``. Returns ``(mean loss, Acc@1, diverged)``; stops at a non-finite loss."""
    model.train()
    total_loss, total_correct, seen = 0.0, 0.0, 0
    batches = tqdm(loader, desc=description, leave=False) if progress else loader
    for step, (images, targets) in enumerate(batches):
        logits = model(images)
        loss = criterion(logits, targets)
        if not torch.isfinite(loss):
            return float("nan"), float("nan"), True
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if ema is not None and step % ema_steps == 0:
            ema.update_parameters(model)
        total_loss += loss.item() * len(targets)
        total_correct += accuracy(logits.detach(), targets, (1,))[0] * len(targets) / 100
        seen += len(targets)
    return total_loss / seen, 100 * total_correct / seen, False


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, *, progress: bool = False) -> dict[str, float]:
    """Cross-entropy loss, Acc@1 and Acc@5 of ``model`` over ``loader``, in eval mode."""
    was_training = model.training
    model.eval()
    total_loss, correct1, correct5, seen = 0.0, 0.0, 0.0, 0
    batches = tqdm(loader, desc="eval", leave=False) if progress else loader
    for images, targets in batches:
        logits = model(images)
        total_loss += nn.functional.cross_entropy(logits, targets, reduction="sum").item()
        acc1, acc5 = accuracy(logits, targets, (1, 5))
        correct1 += acc1 * len(targets) / 100
        correct5 += acc5 * len(targets) / 100
        seen += len(targets)
    model.train(was_training)
    if seen == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    return {"loss": total_loss / seen, "acc1": 100 * correct1 / seen, "acc5": 100 * correct5 / seen}


# --------------------------------------------------------------------------------------------------
# The whole run
# --------------------------------------------------------------------------------------------------
def _ema_model(config: ClassificationConfig, model: nn.Module) -> AveragedModel:
    # torchvision's adjustment: the decay is per optimizer step, applied every `model_ema_steps` steps
    adjust = config.batch_size * config.model_ema_steps / config.epochs
    alpha = min(1.0, (1.0 - config.model_ema_decay) * adjust)
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(1.0 - alpha), use_buffers=True)


def _check_resume(config: ClassificationConfig, saved: dict[str, Any]) -> None:
    saved_config = ClassificationConfig.from_dict(saved["config"])
    if saved_config != config:
        previous = saved_config.to_dict()
        different = [k for k, v in config.to_dict().items() if previous[k] != v]
        raise ValueError(f"cannot resume: the checkpoint was made with a different config ({', '.join(different)})")


def fit(
    config: ClassificationConfig,
    train_set: Dataset,
    val_set: Dataset,
    *,
    output_dir: str | Path | None = None,
    resume: str | Path | None = None,
    stop_after_epoch: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    model: nn.Module | None = None,
    before_epoch: Callable[[nn.Module, int], None] | None = None,
    eval_model: Callable[[nn.Module], nn.Module] | None = None,
) -> TrainingResult:
    """Train a MobileNetV3 classifier as ``config`` says.

    Args:
        config: The run's settings.
        train_set, val_set: Datasets of ``(image, label)`` with PIL or uint8-tensor images and no transform
            of their own (the config's transforms are applied here); ``classes`` gives the class count.
        output_dir: Where ``checkpoint.pt`` (after every epoch) and the averaged weights go. None keeps
            everything in memory.
        resume: A ``checkpoint.pt`` to continue from; its config must equal ``config``.
        stop_after_epoch: Return after this many epochs (to split a run in two).
        progress: Show tqdm progress bars.
        log: Called with one line per epoch (e.g. ``print``).
        model: Train this model instead of building one from ``config`` (e.g. a QAT-prepared model).
        before_epoch: Called as ``before_epoch(model, epoch)`` before each epoch (0-based), also after a resume.
        eval_model: Maps the model to the one evaluated each epoch (e.g. its int8 conversion).

    Returns:
        A :class:`TrainingResult`.
    """
    num_classes = len(getattr(train_set, "classes", None) or set(getattr(train_set, "targets", [])))
    if num_classes < 2:
        raise ValueError("expected a training set with at least 2 classes (a `classes` attribute)")
    train_data = TransformedDataset(
        train_set,
        classification_train_transform(
            config.train_crop_size, auto_augment=config.auto_augment, random_erase=config.random_erase, min_scale=config.train_min_scale
        ),
    )
    val_data = TransformedDataset(val_set, classification_eval_transform(config.val_resize_size, config.val_crop_size))
    val_loader = DataLoader(val_data, batch_size=config.eval_batch_size, shuffle=False, num_workers=config.workers)

    torch.manual_seed(config.seed)
    model = build_model(config, num_classes) if model is None else model
    optimizer = build_optimizer(config, model)
    scheduler = build_scheduler(config, optimizer)
    ema = _ema_model(config, model) if config.model_ema else None
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    history: list[EpochResult] = []
    improved: list[dict[str, Any]] = []  # {"epoch", "acc1", "state" or "path"}
    start_epoch, best_acc1, diverged = 0, -1.0, False
    output = Path(output_dir) if output_dir is not None else None

    if resume is not None:
        saved = load_checkpoint(resume)
        _check_resume(config, saved)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["lr_scheduler"])
        if ema is not None:
            ema.load_state_dict(saved["model_ema"])
        history = [EpochResult(**e) for e in saved["history"]]
        improved, best_acc1, start_epoch = saved["improved"], saved["best_acc1"], saved["epoch"]

    last_epoch = config.epochs if stop_after_epoch is None else min(config.epochs, stop_after_epoch)
    for epoch in range(start_epoch, last_epoch):
        started = time.perf_counter()
        shuffle = seed_epoch(config.seed, epoch)
        train_loader = DataLoader(
            train_data, batch_size=config.batch_size, shuffle=True, generator=shuffle, num_workers=config.workers, drop_last=True
        )
        if before_epoch is not None:
            before_epoch(model, epoch)
        lr = optimizer.param_groups[0]["lr"]
        train_loss, train_acc1, diverged = train_one_epoch(
            model, train_loader, optimizer, criterion, ema=ema, ema_steps=config.model_ema_steps, progress=progress,
            description=f"epoch {epoch + 1}/{config.epochs}",
        )  # fmt: skip
        if diverged:
            history.append(EpochResult(epoch + 1, lr, float("nan"), float("nan"), float("nan"), float("nan"), float("nan")))
            if log:
                log(f"epoch {epoch + 1}: the loss is not finite, training diverged")
            break
        scheduler.step()
        metrics = evaluate(eval_model(model) if eval_model is not None else model, val_loader, progress=progress)
        ema_acc1 = evaluate(ema.module, val_loader)["acc1"] if ema is not None else None
        result = EpochResult(
            epoch + 1, lr, train_loss, train_acc1, metrics["loss"], metrics["acc1"], metrics["acc5"], ema_acc1, time.perf_counter() - started
        )
        history.append(result)
        if metrics["acc1"] > best_acc1:
            best_acc1 = metrics["acc1"]
            if config.average_last:
                entry: dict[str, Any] = {"epoch": epoch + 1, "acc1": metrics["acc1"]}
                if output is not None:
                    entry["path"] = str(save_checkpoint({"model": model.state_dict(), "epoch": epoch + 1}, output / f"improved_{epoch + 1:04d}.pt"))
                else:
                    entry["state"] = copy.deepcopy(model.state_dict())
                improved = [*improved, entry][-config.average_last :]
        if log:
            ema_text = f", EMA Acc@1 {ema_acc1:.2f}" if ema_acc1 is not None else ""
            log(f"epoch {epoch + 1}/{config.epochs}: lr {lr:.5f}, train loss {train_loss:.4f}, val Acc@1 {metrics['acc1']:.2f}, Acc@5 {metrics['acc5']:.2f}{ema_text}")
        if output is not None:
            save_checkpoint(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "lr_scheduler": scheduler.state_dict(),
                    "model_ema": ema.state_dict() if ema is not None else None,
                    "epoch": epoch + 1,
                    "config": config.to_dict(),
                    "history": [dataclasses.asdict(e) for e in history],
                    "improved": improved,
                    "best_acc1": best_acc1,
                    "num_classes": num_classes,
                    "classes": getattr(train_set, "classes", None),
                },
                output / "checkpoint.pt",
            )

    result = TrainingResult(config, history, model, ema.module if ema is not None else None, diverged=diverged)
    result.checkpoint = output / "checkpoint.pt" if output is not None else None
    finished = len(history) == config.epochs and not diverged
    if config.average_last and improved and finished:
        states = [entry["state"] if "state" in entry else load_checkpoint(entry["path"])["model"] for entry in improved]
        averaged = copy.deepcopy(model)
        averaged.load_state_dict(average_state_dicts(states))
        result.averaged = evaluate(averaged, val_loader) | {"epochs": [entry["epoch"] for entry in improved]}
        result.averaged_state_dict = averaged.state_dict()
    return result
