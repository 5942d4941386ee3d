"""The one training loop that every task plugs into, after TorchVision's reference ``engine.py``.

``run`` = for each epoch: reseed from ``(seed, epoch)`` → ``train_one_epoch`` → evaluate (every
``eval_every`` epochs and after the last) → one record in the history → atomic checkpoint. A
:class:`Task` supplies only what is its own: the model, the loss of a batch, the learning-rate
factor, the metrics, the record and the log line. Everything else is one policy for every task:

* the optimizer sees the parameters that require gradients;
* a non-finite loss stops the run: the result says ``diverged``, the last good checkpoint stays;
* the checkpoint holds the model, optimizer, config, history and the task's own state (EMA weights,
  averaged checkpoints), and a run resumed from it ends bit-identical to an uninterrupted one;
* the datasets given are never modified: the task's transforms wrap them (:class:`TransformedDataset`);
* bad data and an output folder that holds another run are refused before any compute, and a
  resume must use the config and data (their :func:`fingerprint`) of the run it continues;
* global RNGs are reseeded explicitly and only here: ``torch.manual_seed(config.seed)`` before the
  model is built, and :func:`~mnv3lib.engine.reproducibility.seed_epoch` at the start of each epoch;
* the model is built on the CPU (the same initial weights on any device), then moved to ``device``;
  batches and targets follow it, and checkpoints hold CPU tensors, so a run resumes on any device;
* ``amp`` trains under autocast (float16 with a gradient scaler on CUDA, bfloat16 on the CPU); the
  scaler's state is in the checkpoint;
* under torchrun (:mod:`~mnv3lib.engine.distributed`), the model trains as ``DistributedDataParallel``,
  each process takes its share of every epoch and of the validation set, the metrics are added up over
  the processes, and only rank 0 writes checkpoints, logs and progress bars. A checkpoint holds no trace
  of the process count, so a run made with N processes resumes with M (1 included).
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
import time
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..devices import autocast_dtype, move, resolve_device
from . import distributed
from .checkpoint import load_checkpoint, save_checkpoint
from .reproducibility import seed_epoch

__all__ = ["Config", "EpochRecord", "Task", "RunResult", "TransformedDataset", "Precision", "train_one_epoch", "run"]


class Config:
    """Mixin for the frozen run configs: ``to_dict`` / ``from_dict`` round-trip through JSON (tuples
    come back as tuples, for every field annotated as a tuple)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Any:
        hints = typing.get_type_hints(cls)
        values = dict(values)
        for name, value in values.items():
            if isinstance(value, list) and "tuple" in str(hints.get(name, "")):
                values[name] = tuple(value)
        return cls(**values)

    def differences(self, other: Config) -> list[str]:
        """The names of the fields whose values differ from ``other``'s."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [name for name in mine if mine[name] != theirs.get(name)]


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of a run's history: its number (1-based), the learning rate of its last step, the
    per-sample means of its losses and its duration. Tasks add their metrics (NaN when the epoch was
    not evaluated)."""

    epoch: int
    lr: float
    losses: dict[str, float]
    seconds: float


class TransformedDataset(Dataset):
    """``dataset`` seen through ``transform``, leaving ``dataset`` itself untouched.

    ``pairs=False`` applies ``transform(image)`` to ``(image, label)`` items (classification);
    ``pairs=True`` applies ``transform(image, target)`` (detection, segmentation).
    """

    def __init__(self, dataset: Dataset, transform: Callable, *, pairs: bool = False) -> None:
        self.dataset, self.transform, self.pairs = dataset, transform, pairs
        self.classes = getattr(dataset, "classes", None)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image, target = self.dataset[index]
        if self.pairs:
            return self.transform(image, target)
        return self.transform(image), target


class Task:
    """What a task brings to :func:`run`. Subclasses set ``config`` and override the methods below."""

    config: Any
    collate_fn: Callable | None = None  # DataLoader's collate_fn (None: PyTorch's default)
    record_type: type = EpochRecord  # the history's entries
    # Why the task's models cannot take channels_last / torch.compile (None: they can).
    no_channels_last: str | None = None
    no_compile: str | None = None

    def datasets(self, train_set: Dataset, val_set: Dataset) -> tuple[Dataset, Dataset]:
        """The datasets with the task's transforms (wrapped, not modified)."""
        return train_set, val_set

    def build_model(self, train_set: Dataset) -> nn.Module:
        raise NotImplementedError

    def initialise(self, model: nn.Module) -> None:
        """Called once when a run starts (not on resume): e.g. load backbone weights."""

    def build_optimizer(self, parameters: list[nn.Parameter]) -> torch.optim.Optimizer:
        raise NotImplementedError

    def lr_factor(self, epoch: int, iteration: int, steps: int) -> float:
        """The multiplier of ``config.lr`` at ``iteration`` of ``steps`` in ``epoch`` (all 0-based)."""
        raise NotImplementedError

    def start(self, model: nn.Module) -> None:
        """Called before the first epoch (also after a resume): create the task's own state."""

    def before_epoch(self, model: nn.Module, epoch: int) -> None:
        """Called before each epoch's training (also after a resume)."""

    def loss(self, model: nn.Module, batch: Any) -> tuple[dict[str, torch.Tensor], int, dict[str, float]]:
        """``(losses with a "loss" total, batch size, other per-batch statistics)`` for one batch, already
        on the model's device. ``model`` may be wrapped (``DistributedDataParallel``, ``torch.compile``):
        call it, but read attributes from the model that :meth:`build_model` returned."""
        raise NotImplementedError

    def after_step(self, model: nn.Module, step: int) -> None:
        """Called after each optimizer step (e.g. to update an EMA)."""

    def evaluate(self, model: nn.Module, val_set: Dataset) -> dict[str, float]:
        """The metrics over the whole of ``val_set``: under torchrun each process evaluates its
        :func:`~mnv3lib.engine.distributed.shard` and the counts are added up."""
        raise NotImplementedError

    def not_evaluated(self) -> dict[str, float]:
        """The metrics recorded for an epoch that was not evaluated (NaN)."""
        raise NotImplementedError

    def after_evaluate(self, model: nn.Module, epoch: int, metrics: dict[str, float], output: Path | None) -> None:
        """Called after each evaluation (e.g. to keep the checkpoints to average)."""

    def record(self, epoch: int, lr: float, train: dict[str, float], metrics: dict[str, float], seconds: float) -> Any:
        """One history entry: a :attr:`record_type` of the epoch, lr, losses, metrics and seconds."""
        return self.record_type(epoch, lr, train, **metrics, seconds=round(seconds, 1))

    def log_line(self, record: Any) -> str:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The task's own state, saved in the checkpoint."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (after :meth:`start`)."""

    def finish(self, result: RunResult, val_set: Dataset, output: Path | None) -> None:
        """Called once at the end of the run (e.g. to average checkpoints)."""


@dataclass
class RunResult:
    """What :func:`run` returns: the config, per-epoch history and trained model, and whether the loss
    diverged; ``extras`` holds what the task adds (an EMA model, averaged weights and their metrics)."""

    config: Any
    history: list[Any]
    model: nn.Module
    checkpoint: Path | None = None
    diverged: bool = False
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Precision:
    """How :func:`train_one_epoch` runs its steps: on ``device``, under autocast when ``amp`` (with
    ``scaler`` for float16 on CUDA), with channels-last image batches when ``channels_last``."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    amp: bool = False
    channels_last: bool = False
    scaler: torch.amp.GradScaler | None = None


def train_one_epoch(task: Task, model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, epoch: int, *,
                    progress: bool = False, precision: Precision | None = None) -> tuple[dict[str, float], float, bool]:  # fmt: skip
    """One pass over ``loader``. Returns ``(per-sample means of the losses and statistics over every
    process, last lr, diverged)``; stops at the first non-finite loss (of any process)."""
    precision = precision or Precision()
    device, scaler = precision.device, precision.scaler or torch.amp.GradScaler("cuda", enabled=False)
    processes = distributed.world_size()
    model.train()
    totals: dict[str, float] = {}
    seen, steps, lr = 0, len(loader), optimizer.param_groups[0]["lr"]
    show = progress and distributed.is_main()
    batches: Iterable = tqdm(loader, desc=f"epoch {epoch + 1}/{task.config.epochs}", leave=False) if show else loader
    for iteration, batch in enumerate(batches):
        lr = task.config.lr * task.lr_factor(epoch, iteration, steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = move(batch, device, channels_last=precision.channels_last)
        with torch.autocast(device.type, dtype=autocast_dtype(device), enabled=precision.amp):
            losses, size, statistics = task.loss(model, batch)
        finite = torch.isfinite(losses["loss"].detach())
        if processes > 1:  # every process stops together, or the others would wait for it forever
            finite = distributed.all_reduce_sum((~finite).float().reshape(1)) == 0
        if not finite:
            return {}, lr, True
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(losses["loss"]).backward()
        scaler.step(optimizer)
        scaler.update()
        task.after_step(distributed.unwrap(model), iteration)
        for name, value in [*((k, v.item()) for k, v in losses.items()), *statistics.items()]:
            totals[name] = totals.get(name, 0.0) + value * size
        seen += size
    if processes > 1:
        names = sorted(totals)
        summed = distributed.all_reduce_sum(torch.tensor([seen, *(totals[n] for n in names)], dtype=torch.float64, device=device)).tolist()
        seen, totals = int(summed[0]), dict(zip(names, summed[1:]))
    return {name: total / max(seen, 1) for name, total in totals.items()}, lr, False


def fingerprint(dataset: Dataset) -> dict[str, Any]:
    """What identifies a dataset for a resume: its type, size, class names and a hash of its first and
    last items (as stored, before any transform)."""
    digest = hashlib.sha256()
    for index in sorted({0, len(dataset) - 1}):
        image, _ = dataset[index]
        digest.update(np.ascontiguousarray(np.asarray(image)).tobytes())
    classes = getattr(dataset, "classes", None)
    return {"type": type(dataset).__name__, "size": len(dataset), "classes": list(classes) if classes is not None else None, "sha256": digest.hexdigest()[:16]}


def check_data(config: Any, train_set: Dataset, val_set: Dataset) -> None:
    """Refuse data that no epoch could use, before any compute: an empty set, or fewer training items
    than one batch (every epoch drops its last, incomplete batch)."""
    for name, dataset in (("training", train_set), ("validation", val_set)):
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"expected the {name} set to be a map-style Dataset (with __len__ and __getitem__), got {type(dataset).__name__}")
        if len(dataset) == 0:
            raise ValueError(f"the {name} set is empty")
    if len(train_set) < config.batch_size:
        raise ValueError(f"the training set has {len(train_set)} items, fewer than batch_size {config.batch_size}: no training step would run")


def _prepare_output(output_dir: str | Path | None, resume: str | Path | None, overwrite: bool) -> Path | None:
    """The run folder, created and checked writable; a folder that holds a run is refused unless the run
    resumes or ``overwrite`` says to replace it. Only rank 0 checks and writes it."""
    if output_dir is None:
        return None
    output = Path(output_dir)
    if not distributed.is_main():
        return output
    if (output / "checkpoint.pt").exists() and resume is None and not overwrite:
        raise FileExistsError(
            f"{output} already holds a run (checkpoint.pt): resume it with resume={output / 'checkpoint.pt'} "
            "(--resume), replace it with overwrite=True (--overwrite), or choose another output folder"
        )
    try:
        output.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output, prefix=".write-test-"):
            pass
    except OSError as error:
        raise PermissionError(f"cannot write the run into {output}: {error.strerror or error}") from error
    return output


def _check_runtime(task: Task, device: torch.device, amp: bool, channels_last: bool, compile: bool, sync_bn: bool) -> None:
    for name, value in (("amp", amp), ("channels_last", channels_last), ("compile", compile), ("sync_bn", sync_bn)):
        if not isinstance(value, bool):
            raise TypeError(f"expected {name} to be True or False, got {value!r}")
    if channels_last and task.no_channels_last:
        raise ValueError(f"channels_last is not offered for {type(task).__name__}: {task.no_channels_last}")
    if compile and task.no_compile:
        raise ValueError(f"compile is not offered for {type(task).__name__}: {task.no_compile}")
    if amp and device.type == "mps":
        raise ValueError("amp is offered on CUDA (float16) and the CPU (bfloat16), not on MPS")


def _check_resume(config: Any, saved: Mapping[str, Any], data: dict[str, Any], path: str | Path) -> None:
    if not {"config", "model", "optimizer", "epoch", "history"} <= set(saved):
        raise ValueError(f"{path} is not a training checkpoint of mnv3lib's engine (it has {', '.join(map(str, saved)) or 'nothing'})")
    try:
        saved_config = type(config).from_dict(saved["config"])
    except TypeError as error:
        raise ValueError(f"cannot resume from {path}: it was made for another task than {type(config).__name__} ({error})") from None
    if saved_config != config:
        raise ValueError(f"cannot resume: the checkpoint was made with a different config ({', '.join(config.differences(saved_config))})")
    recorded = saved.get("data")
    if recorded is not None and recorded != data:
        changes = [f"{split} {key}: {recorded[split][key]!r} → {data[split][key]!r}" for split in data for key in data[split] if recorded[split].get(key) != data[split][key]]
        raise ValueError(f"cannot resume: the checkpoint was made with other data ({'; '.join(changes)})")


def run(
    task: Task,
    train_set: Dataset,
    val_set: Dataset,
    *,
    model: nn.Module | None = None,
    output_dir: str | Path | None = None,
    resume: str | Path | None = None,
    overwrite: bool = False,
    stop_after_epoch: int | None = None,
    eval_every: int = 1,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    device: str | torch.device | None = None,
    amp: bool = False,
    channels_last: bool = False,
    compile: bool = False,
    sync_bn: bool = False,
) -> RunResult:
    """Train as ``task`` says; see the module docstring for what every task shares.

    Args:
        task: The task, holding its config.
        train_set, val_set: The data, without transforms of their own (the task's are applied here,
            through a wrapper); ``classes`` gives the class count where the task needs it.
        model: Train this model instead of building one (e.g. a QAT-prepared model); it is moved to
            ``device``.
        output_dir: Where ``checkpoint.pt`` goes after every epoch (atomically). None keeps it in memory.
        resume: A ``checkpoint.pt`` to continue from; its config and data must be this run's (its device
            and process count need not be).
        overwrite: Replace a run already in ``output_dir`` (without it, such a folder is refused).
        stop_after_epoch: Return after this many epochs (to split a run in two).
        eval_every: Evaluate every this many epochs (and always after the last).
        progress: Show progress bars.
        log: Called with one line per epoch (e.g. ``print``).
        device: Where to train: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``; None: CUDA if present,
            else MPS, else the CPU (:func:`~mnv3lib.devices.resolve_device`). Under torchrun, CUDA
            means this process's GPU.
        amp: Mixed precision: autocast to float16 with a gradient scaler on CUDA, to bfloat16 on the CPU.
        channels_last: Channels-last memory layout for the model and its image batches (classification
            and segmentation).
        compile: Train through ``torch.compile(model)`` (classification and segmentation).
        sync_bn: Under torchrun, BatchNorm statistics over the whole batch of all processes
            (PyTorch's ``SyncBatchNorm`` on CUDA, :class:`~mnv3lib.engine.distributed.CPUSyncBatchNorm` on the CPU); nothing changes in one process.
    """
    if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
        raise ValueError(f"expected eval_every to be an int >= 1, got {eval_every!r}")
    config = task.config
    device = resolve_device(device)
    if device.type == "cuda" and device.index is None and distributed.world_size() > 1:
        device = torch.device("cuda", torch.cuda.current_device())  # torchrun: this process's GPU
    _check_runtime(task, device, amp, channels_last, compile, sync_bn)
    check_data(config, train_set, val_set)
    output = _prepare_output(output_dir, resume, overwrite)
    data = {"train": fingerprint(train_set), "val": fingerprint(val_set)}
    train_data, val_data = task.datasets(train_set, val_set)
    torch.manual_seed(config.seed)
    model = task.build_model(train_set) if model is None else model
    if resume is None:
        task.initialise(model)  # e.g. backbone weights, before the optimizer and any EMA copy see the model
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    processes = distributed.world_size()
    if sync_bn and processes > 1:
        distributed.convert_sync_batchnorm(model, device)
    optimizer = task.build_optimizer([p for p in model.parameters() if p.requires_grad])
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda")
    task.start(model)
    history: list[Any] = []
    start_epoch = 0
    if resume is not None:
        saved = load_checkpoint(resume)
        _check_resume(config, saved, data, resume)
        task.load_state_dict(saved.get("task", {}))  # first: it checks what the model's shapes depend on
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if scaler.is_enabled() and saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        history, start_epoch = [task.record_type(**e) for e in saved["history"]], saved["epoch"]
    trained: nn.Module = model
    if processes > 1:
        trained = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if compile:
        trained = torch.compile(trained)
    precision = Precision(device, amp, channels_last, scaler)
    runtime = {"device": device.type, "processes": processes, "amp": amp, "channels_last": channels_last, "compile": compile, "sync_bn": sync_bn}
    diverged = False
    last_epoch = config.epochs if stop_after_epoch is None else min(config.epochs, stop_after_epoch)
    for epoch in range(start_epoch, last_epoch):
        started = time.perf_counter()
        generator = seed_epoch(config.seed, epoch, rank=distributed.rank())
        sampler = distributed.ShardSampler(len(train_data), generator)  # one process: RandomSampler's order
        loader = DataLoader(train_data, batch_size=config.batch_size, sampler=sampler, generator=generator, num_workers=config.workers,
                            collate_fn=task.collate_fn, drop_last=True, pin_memory=device.type == "cuda",
                            worker_init_fn=distributed.seed_worker if processes > 1 else None)  # fmt: skip
        task.before_epoch(model, epoch)
        train, lr, diverged = train_one_epoch(task, trained, loader, optimizer, epoch, progress=progress, precision=precision)
        if diverged:
            history.append(task.record(epoch + 1, lr, {}, task.not_evaluated(), time.perf_counter() - started))
            if log and distributed.is_main():
                log(f"epoch {epoch + 1}: the loss is not finite, training diverged")
            break
        evaluated = (epoch + 1) % eval_every == 0 or epoch + 1 == config.epochs
        metrics = task.evaluate(model, val_data) if evaluated else task.not_evaluated()
        if evaluated:
            task.after_evaluate(model, epoch, metrics, output)
        record = task.record(epoch + 1, lr, train, metrics, time.perf_counter() - started)
        history.append(record)
        if log and distributed.is_main():
            log(task.log_line(record))
        if output is not None and distributed.is_main():
            payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1, "config": config.to_dict(),
                       "history": [dataclasses.asdict(e) for e in history], "task": task.state_dict(),
                       "classes": getattr(train_set, "classes", None), "data": data, "runtime": runtime}  # fmt: skip
            if scaler.is_enabled():
                payload["scaler"] = scaler.state_dict()
            save_checkpoint(payload, output / "checkpoint.pt")
        distributed.barrier()  # what rank 0 wrote (checkpoints to average) is there for every process
    result = RunResult(config, history, model, output / "checkpoint.pt" if output is not None else None, diverged)
    if not diverged and len(history) == config.epochs:
        task.finish(result, val_data, output)
    return result
