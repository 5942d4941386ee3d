"""Classification training: plain functions over a frozen config, as in TorchVision's reference script.

:class:`ClassificationTask` is what the engine's one loop (:func:`mnv3lib.engine.loop.run`) needs
for classification: the model, cross-entropy, the learning-rate schedule, Acc@1/Acc@5, the EMA of the
weights and checkpoint averaging. ``mnv3lib.engine.fit(ClassificationConfig(...), train, val)`` runs it.
Chapter 2 ("Training MobileNetV3") explains the recipe; ``python -m mnv3lib.train classification``
runs it from the command line.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Dataset, default_collate
from tqdm.auto import tqdm

from ..devices import accumulation_dtype, model_device, move
from . import distributed
from .checkpoint import average_state_dicts, load_checkpoint, save_checkpoint
from .loop import Config, RunResult, Task
from ..checks import check_choice, check_image_batch, check_positive, check_range
from ..data.transforms import TransformedDataset, classification_eval_transform, classification_train_transform
from ..models.mobilenetv3 import mobilenet_v3
from .optim import RMSpropTF

__all__ = [
    "ClassificationConfig", "ClassificationTask", "EpochResult", "build_model", "build_optimizer", "lr_factor", "top_k_hits", "accuracy",
    "evaluate", "checked_collate",
]  # fmt: skip

OPTIMIZERS = ("sgd", "rmsprop", "rmsproptf")
SCHEDULERS = ("steplr", "cosineannealinglr", "constant")
DEFAULT_EPS = {"rmsprop": 0.0316, "rmsproptf": 1e-3}  # torchvision's hard-coded value; TF's 1e-3


@dataclass(frozen=True)
class ClassificationConfig(Config):
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
        for name in ("lr_warmup_epochs", "average_last", "workers"):  # one message per setting: the CLI names its flag
            if getattr(self, name) < 0:
                raise ValueError(f"expected {name} >= 0, got {getattr(self, name)!r}")
        if self.batch_size < 2:
            raise ValueError("expected batch_size >= 2: BatchNorm cannot normalise one image per channel in training (its last maps can be 1×1)")
        check_positive(self.width_mult, "width_mult")
        check_range(self.dropout, "dropout", 0.0, 1.0, high_open=True)
        check_range(self.lr_gamma, "lr_gamma", 0.0, 1.0, low_open=True)
        check_range(self.lr_warmup_decay, "lr_warmup_decay", 0.0, 1.0, low_open=True)
        check_range(self.momentum, "momentum", 0.0, 1.0, high_open=True)
        check_range(self.weight_decay, "weight_decay", 0.0)
        check_range(self.opt_alpha, "opt_alpha", 0.0, 1.0, low_open=True, high_open=True)
        check_range(self.model_ema_decay, "model_ema_decay", 0.0, 1.0, low_open=True, high_open=True)
        check_range(self.lr_noise_std, "lr_noise_std", 0.0)

    @property
    def eps(self) -> float | None:
        """The optimizer's epsilon actually used."""
        return self.opt_eps if self.opt_eps is not None else DEFAULT_EPS.get(self.opt)


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


def build_optimizer(config: ClassificationConfig, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """SGD, PyTorch's RMSprop or the TensorFlow-style :class:`~mnv3lib.engine.optim.RMSpropTF` over ``params``."""
    params = list(params)
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


def top_k_hits(logits: torch.Tensor, targets: torch.Tensor, topk: Iterable[int] = (1, 5)) -> list[torch.Tensor]:
    """For each k, whether each image's target is among its k highest logits: ``(N,)`` bool tensors on
    the logits' device (k is capped at the number of classes)."""
    topk = list(topk)
    maxk = min(max(topk), logits.shape[1])
    predicted = logits.topk(maxk, dim=1).indices  # (N, maxk)
    correct = predicted.eq(targets[:, None])
    return [correct[:, : min(k, maxk)].any(dim=1) for k in topk]


def accuracy(logits: torch.Tensor, targets: torch.Tensor, topk: Iterable[int] = (1, 5)) -> list[float]:
    """Top-k accuracies in percent (k is capped at the number of classes)."""
    return [hits.float().mean().item() * 100 for hits in top_k_hits(logits, targets, topk)]


def checked_collate(samples: list[tuple[torch.Tensor, Any]], num_classes: int | None = None) -> Any:
    """PyTorch's default collate, then a check of the batch on the CPU: finite float images ``(N, 3, H,
    W)``, and, given ``num_classes``, integer labels in ``[0, num_classes)``. The training step's model
    then need not read the batch on the device, and a bad label is named here instead of failing inside
    the loss.

    Raises:
        TypeError: labels that are not integers (e.g. floats).
        ValueError: images that are not a finite float batch, or labels outside ``[0, num_classes)``.
    """
    images, targets = batch = default_collate(samples)
    check_image_batch(images, values=True)
    if num_classes is not None:
        if not isinstance(targets, torch.Tensor) or targets.is_floating_point() or targets.dtype == torch.bool or targets.ndim != 1:
            kind = f"{targets.dtype} of shape {tuple(targets.shape)}" if isinstance(targets, torch.Tensor) else type(targets).__name__
            raise TypeError(f"expected the labels to be integer class ids (one per image), got {kind}")
        bad = (targets < 0) | (targets >= num_classes)
        if bad.any():
            raise ValueError(f"labels {sorted(set(targets[bad].tolist()))[:5]} are outside [0, {num_classes}): the training set has {num_classes} classes")
    return batch


# --------------------------------------------------------------------------------------------------
# Evaluation, and the task that the engine's loop runs
# --------------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, *, progress: bool = False) -> dict[str, float]:
    """Cross-entropy loss, Acc@1 and Acc@5 of ``model`` over ``loader`` (batches of images and labels), in eval mode.

    The batches go to the model's device, where the loss and the counts of correct predictions are
    added up: the host reads them once, at the end. Under torchrun, give each process its
    :func:`~mnv3lib.engine.distributed.shard` of the data: the counts are added up over the processes,
    so every process gets the metrics of the whole set.
    """
    was_training = model.training
    model.eval()
    device = model_device(model)
    sums, seen = torch.zeros(3, dtype=accumulation_dtype(device), device=device), 0  # loss, top-1 and top-5 counts; images
    batches = tqdm(loader, desc="eval", leave=False) if progress and distributed.is_main() else loader
    for images, targets in batches:
        images, targets = move(images, device), move(targets, device)
        logits = model(images)
        hits1, hits5 = top_k_hits(logits, targets, (1, 5))
        loss = nn.functional.cross_entropy(logits, targets, reduction="sum")
        sums += torch.stack([value.to(sums.dtype) for value in (loss, hits1.sum(), hits5.sum())])
        seen += len(targets)
    model.train(was_training)
    total_loss, correct1, correct5, seen = distributed.all_reduce_sum(torch.cat([sums, sums.new_tensor([seen])])).tolist()  # exact counts
    if seen == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    return {"loss": total_loss / seen, "acc1": 100 * correct1 / seen, "acc5": 100 * correct5 / seen}


def _num_classes(dataset: Dataset) -> int:
    num_classes = len(getattr(dataset, "classes", None) or set(getattr(dataset, "targets", [])))
    if num_classes < 2:
        raise ValueError("expected a training set with at least 2 classes (a `classes` attribute)")
    return num_classes


class ClassificationTask(Task):
    """Image classification with cross-entropy, Acc@1/Acc@5, an optional EMA of the weights and the
    average of the last checkpoints that improved Acc@1 (TorchVision's MobileNetV3 recipe)."""

    record_type = EpochResult

    def __init__(self, config: ClassificationConfig) -> None:
        self.config = config
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.ema: AveragedModel | None = None
        self.improved: list[dict[str, Any]] = []  # {"epoch", "acc1", and "path" (in the run folder) or "state"}
        self.best_acc1 = -1.0

    def datasets(self, train_set: Dataset, val_set: Dataset) -> tuple[Dataset, Dataset]:
        config = self.config
        train_transform = classification_train_transform(
            config.train_crop_size, auto_augment=config.auto_augment, random_erase=config.random_erase, min_scale=config.train_min_scale
        )
        val_transform = classification_eval_transform(config.val_resize_size, config.val_crop_size)
        self.collate_fn = partial(checked_collate, num_classes=_num_classes(train_set))
        return TransformedDataset(train_set, train_transform), TransformedDataset(val_set, val_transform)

    def build_model(self, train_set: Dataset) -> nn.Module:
        return build_model(self.config, _num_classes(train_set))

    def build_optimizer(self, parameters: list[nn.Parameter]) -> torch.optim.Optimizer:
        return build_optimizer(self.config, parameters)

    def lr_factor(self, epoch: int, iteration: int, steps: int) -> float:
        return lr_factor(self.config, epoch)

    def start(self, model: nn.Module) -> None:
        self.ema = _ema_model(self.config, model) if self.config.model_ema else None

    def loss(self, model: nn.Module, batch: Any) -> tuple[dict[str, torch.Tensor], int, dict[str, torch.Tensor]]:
        images, targets = batch
        logits = model(images)
        loss = self.criterion(logits, targets)
        (hits,) = top_k_hits(logits.detach(), targets, (1,))
        return {"loss": loss}, len(targets), {"acc1": hits.float().mean().to(accumulation_dtype(hits.device)) * 100}  # accuracy(), on the device

    def after_step(self, model: nn.Module, step: int) -> None:
        if self.ema is not None and step % self.config.model_ema_steps == 0:
            self.ema.update_parameters(model)

    def evaluation_model(self, model: nn.Module) -> nn.Module:
        """The model evaluated each epoch (:class:`~mnv3lib.engine.quantization.QATTask`: its int8 conversion)."""
        return model

    def _val_loader(self, val_set: Dataset) -> DataLoader:
        return DataLoader(distributed.shard(val_set), batch_size=self.config.eval_batch_size, shuffle=False, num_workers=self.config.workers,
                          collate_fn=self.collate_fn)  # fmt: skip

    def evaluate(self, model: nn.Module, val_set: Dataset) -> dict[str, float]:
        loader = self._val_loader(val_set)
        metrics: dict[str, Any] = evaluate(self.evaluation_model(model), loader)
        metrics["ema_acc1"] = evaluate(self.ema.module, loader)["acc1"] if self.ema is not None else None
        return metrics

    def not_evaluated(self) -> dict[str, float]:
        return {"loss": float("nan"), "acc1": float("nan"), "acc5": float("nan"), "ema_acc1": None}

    def after_evaluate(self, model: nn.Module, epoch: int, metrics: dict[str, float], output: Path | None) -> None:
        if metrics["acc1"] <= self.best_acc1:
            return
        self.best_acc1 = metrics["acc1"]
        if self.config.average_last:
            entry: dict[str, Any] = {"epoch": epoch + 1, "acc1": metrics["acc1"]}
            if output is not None:  # the file name only: the run folder can move (rank 0 writes it)
                path = output / f"improved_{epoch + 1:04d}.pt"
                if distributed.is_main():
                    save_checkpoint({"model": model.state_dict(), "epoch": epoch + 1}, path)
                entry["path"] = path.name
            else:
                entry["state"] = copy.deepcopy(model.state_dict())
            self.improved = [*self.improved, entry][-self.config.average_last :]

    def record(self, epoch: int, lr: float, train: dict[str, float], metrics: dict[str, float], seconds: float) -> EpochResult:
        nan = float("nan")
        return EpochResult(epoch, lr, train.get("loss", nan), train.get("acc1", nan), metrics["loss"], metrics["acc1"], metrics["acc5"], metrics["ema_acc1"], seconds)

    def log_line(self, record: EpochResult) -> str:
        ema_text = f", EMA Acc@1 {record.ema_acc1:.2f}" if record.ema_acc1 is not None else ""
        return (f"epoch {record.epoch}/{self.config.epochs}: lr {record.lr:.5f}, train loss {record.train_loss:.4f}, "
                f"val Acc@1 {record.val_acc1:.2f}, Acc@5 {record.val_acc5:.2f}{ema_text}")  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        return {"model_ema": self.ema.state_dict() if self.ema is not None else None, "improved": self.improved, "best_acc1": self.best_acc1}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.ema is not None:
            self.ema.load_state_dict(state["model_ema"])
        self.improved, self.best_acc1 = state["improved"], state["best_acc1"]

    def carry_files(self, source: Path, output: Path | None) -> None:
        """The kept checkpoints of a resumed run (``improved_*.pt``, named in its state) follow it: copied
        into a new run folder (rank 0), or loaded into memory for a run that writes nothing; refused
        before any compute if ``source`` lacks one, since the average at the end would need it."""
        names = [entry["path"] for entry in self.improved if "path" in entry]
        missing = [name for name in names if not (source / name).is_file()]
        if missing:
            raise FileNotFoundError(f"the checkpoint keeps {', '.join(missing)} to average (average_last), which is not beside it in {source}")
        if output is None:
            self.improved = [{k: v for k, v in entry.items() if k != "path"} | {"state": load_checkpoint(source / entry["path"])["model"]}
                             if "path" in entry else entry for entry in self.improved]  # fmt: skip
        elif output.resolve() != source.resolve() and distributed.is_main():
            for name in names:
                save_checkpoint(load_checkpoint(source / name), output / name)

    def finish(self, result: RunResult, val_set: Dataset, output: Path | None) -> None:
        result.extras["ema_model"] = self.ema.module if self.ema is not None else None
        if not (self.config.average_last and self.improved):
            return
        states = [entry["state"] if "state" in entry else load_checkpoint(output / entry["path"])["model"] for entry in self.improved]
        averaged = copy.deepcopy(result.model)
        averaged.load_state_dict(average_state_dicts(states))
        result.extras["averaged"] = evaluate(averaged, self._val_loader(val_set)) | {"epochs": [entry["epoch"] for entry in self.improved]}
        result.extras["averaged_state_dict"] = averaged.state_dict()


def _ema_model(config: ClassificationConfig, model: nn.Module) -> AveragedModel:
    # torchvision's adjustment: the decay is per optimizer step, applied every `model_ema_steps` steps
    adjust = config.batch_size * config.model_ema_steps / config.epochs
    alpha = min(1.0, (1.0 - config.model_ema_decay) * adjust)
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(1.0 - alpha), use_buffers=True)
