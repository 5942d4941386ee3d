"""The one training loop that every task plugs into, after TorchVision's reference ``engine.py``.

:func:`run` tells the story of a run in its parts: :func:`setup` (check everything, then build the
model, optimizer and scaler), :func:`restore` (continue from a checkpoint), :func:`wrap` (DDP, ``torch.compile``), then for each epoch
:func:`train_epoch` (reseed from ``(seed, epoch)``, one pass of :func:`train_one_epoch`),
:func:`evaluate_epoch` (every ``eval_every`` epochs and after the last), one record in the history and
:func:`save` (an atomic checkpoint), and :func:`finish`. A :class:`Task` supplies only what is its own:
the model, the loss of a batch, the learning-rate factor, the metrics, the record and the log line.
Everything else is one policy for every task:

* the optimizer sees the parameters that require gradients;
* a training step never waits for the device: losses and statistics are added up there and read every
  :attr:`Runtime.log_every <mnv3lib.engine.runtime.Runtime>` steps; the task's collate checks each
  batch on the CPU as it enters, and the model runs inside :func:`~mnv3lib.checks.inputs_checked`;
* a non-finite loss stops the run, at most ``log_every - 1`` steps after it: the result says
  ``diverged``, and the last good checkpoint stays (a diverged epoch is never saved);
* the checkpoint holds the model, optimizer, config, history and the task's own state (EMA weights,
  averaged checkpoints), and a run resumed from it ends bit-identical to an uninterrupted one;
* the datasets given are never modified: the task's transforms wrap them
  (:class:`~mnv3lib.data.transforms.TransformedDataset`);
* bad data and an output folder that holds another run are refused before any compute, and a
  resume must use the config and data (their :func:`fingerprint`) of the run it continues;
* a run folder belongs to one run: rank 0 claims it with a lock file (:data:`LOCK_FILE`, created
  atomically, released when the run ends; a killed run's lock on this machine is taken over), a folder
  holding any of another run's files (:data:`RUN_FILES`) is refused unless the run resumes its own
  checkpoint there or ``overwrite=True`` replaces it (deleting the old run's files, and only those), and a
  resumed run's kept checkpoints follow it into a new folder;
* a checkpoint that cannot be written (a full disk) stops the run with
  :class:`~mnv3lib.engine.checkpoint.CheckpointWriteError`, which says that the previous one is intact;
* global RNGs are reseeded explicitly and only here: ``torch.manual_seed(config.seed)`` before the
  model is built, and :func:`~mnv3lib.engine.reproducibility.seed_epoch` at the start of each epoch;
* where and how to train is one :class:`~mnv3lib.engine.runtime.Runtime`: the model is built on the
  CPU (the same initial weights on any device), then moved to its device; batches and targets follow
  it, and checkpoints hold CPU tensors, so a run resumes on any device;
* ``amp`` trains under autocast (float16 with a gradient scaler on CUDA, bfloat16 on the CPU); the
  scaler's state is in the checkpoint;
* under torchrun (:mod:`~mnv3lib.engine.distributed`), the model trains as ``DistributedDataParallel``,
  each process takes its share of every epoch and of the validation set, the metrics are added up over
  the processes, and only rank 0 writes checkpoints, logs and progress bars. A checkpoint holds no trace
  of the process count, so a run made with N processes resumes with M (1 included).
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import socket
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

from ..checks import check_flag, inputs_checked
from ..devices import accumulation_dtype, autocast_dtype, model_device, move
from . import distributed
from .checkpoint import CheckpointWriteError, load_checkpoint, save_checkpoint
from .reproducibility import seed_epoch
from .runtime import Runtime

__all__ = [
    "Config", "EpochRecord", "Task", "RunResult", "RunState", "Runtime", "fingerprint", "check_data",
    "train_one_epoch", "setup", "restore", "wrap", "train_epoch", "evaluate_epoch", "save", "finish", "release", "run",
    "RUN_FILES", "LOCK_FILE", "run_files",
]  # fmt: skip


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


class Task:
    """What a task brings to :func:`run`. Subclasses set ``config`` and override the methods below.

    Its ``collate_fn`` checks each batch as it is made (on the CPU, once per sample): the training step
    calls :meth:`loss` inside :func:`~mnv3lib.checks.inputs_checked`, where the models skip the checks
    that would read their inputs on the device.
    """

    config: Any
    collate_fn: Callable | None = None  # DataLoader's collate_fn (None: PyTorch's default)
    record_type: type = EpochRecord  # the history's entries
    # Why the task cannot train with amp / channels_last / torch.compile (None: it can).
    no_amp: str | None = None
    no_channels_last: str | None = None
    no_compile: str | None = None

    def check_data(self, train_set: Dataset, val_set: Dataset) -> None:
        """Refuse data this task cannot learn from, before any compute (e.g. segmentation masks that
        mark objects with the ignore index); called after the loop's own :func:`check_data`."""

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
        """Called before the first epoch (also after a resume): create the task's own state (and a
        ``collate_fn`` that depends on the model, e.g. on its class count)."""

    def before_epoch(self, model: nn.Module, epoch: int) -> None:
        """Called before each epoch's training (also after a resume)."""

    def loss(self, model: nn.Module, batch: Any) -> tuple[dict[str, torch.Tensor], int, dict[str, torch.Tensor]]:
        """``(losses with a "loss" total, batch size, other per-batch statistics)`` for one batch, already
        on the model's device. The statistics are tensors on the device too (reading them would make
        the step wait); the epoch's record holds their per-sample means. ``model`` may be wrapped
        (``DistributedDataParallel``, ``torch.compile``): call it, but read attributes from the model
        that :meth:`build_model` returned."""
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

    def carry_files(self, source: Path, output: Path | None) -> None:
        """After :meth:`load_state_dict` on a resume: the files of the run folder ``source`` that the task's
        state names (e.g. the checkpoints kept to average) must be found where the resumed run writes,
        ``output`` (copied there when it is another folder; rank 0 copies), or held in memory when the run
        writes nothing. A file the state names but ``source`` lacks is refused here, before any compute."""

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
class RunState:
    """A run between its parts: what :func:`setup` builds, :func:`restore` and each epoch advance, and
    :func:`save` writes."""

    task: Task
    runtime: Runtime
    train_set: Dataset  # as given: its class names go into the checkpoint
    data: dict[str, Any]  # the fingerprints of the training and validation sets
    train_data: Dataset  # the sets through the task's transforms
    val_data: Dataset
    model: nn.Module  # built by the task (or given), on the runtime's device
    trained: nn.Module  # what the steps call: the model, or its DistributedDataParallel / compiled wrapper
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    output: Path | None  # the run folder (None: nothing is written)
    history: list[Any] = field(default_factory=list)
    epochs_done: int = 0
    lock: Path | None = None  # the run folder's lock file, held by this process (rank 0) until release()


# --------------------------------------------------------------------------------------------------
# One pass over the training set
# --------------------------------------------------------------------------------------------------
class _RunningSums:
    """Per-sample sums of an epoch's losses and statistics, kept on the device (in
    :func:`~mnv3lib.devices.accumulation_dtype`: the sums of a loop that would read every step)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.dtype = device, accumulation_dtype(device)
        self.sums: dict[str, torch.Tensor] = {}
        self.seen = 0

    def add(self, values: Mapping[str, torch.Tensor | float], size: int) -> None:
        for name, value in values.items():
            if name not in self.sums:
                self.sums[name] = torch.zeros((), dtype=self.dtype, device=self.device)
            value = value.detach() if isinstance(value, torch.Tensor) else value
            self.sums[name] += torch.as_tensor(value, device=self.device).to(self.dtype) * size
        self.seen += size

    def mean(self, name: str) -> float:
        """This process's running mean of ``name`` (one read)."""
        return self.sums[name].item() / max(self.seen, 1)

    def means(self) -> dict[str, float]:
        """The per-sample means over every process: one read (and one all-reduce under torchrun)."""
        names = list(self.sums)
        if distributed.world_size() > 1:
            names = sorted(names)
            seen = torch.tensor(float(self.seen), dtype=self.dtype, device=self.device)
            summed = distributed.all_reduce_sum(torch.stack([seen, *(self.sums[n] for n in names)])).tolist()
            return {name: total / max(int(summed[0]), 1) for name, total in zip(names, summed[1:])}
        totals = torch.stack([self.sums[n] for n in names]).tolist() if names else []
        return {name: total / max(self.seen, 1) for name, total in zip(names, totals)}


def _first_non_finite(steps: list[tuple[float, torch.Tensor]]) -> float | None:
    """The learning rate of the first of ``steps`` (``(lr, loss is finite)`` pairs) whose loss is not
    finite in some process, or None: one read, and under torchrun one all-reduce, so that every
    process stops at the same step."""
    not_finite = distributed.all_reduce_sum((~torch.stack([finite for _, finite in steps])).float())
    return next((lr for (lr, _), count in zip(steps, not_finite.tolist()) if count > 0), None)


def train_one_epoch(task: Task, model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, epoch: int, *,
                    runtime: Runtime | None = None, scaler: torch.amp.GradScaler | None = None,
                    progress: bool = False) -> tuple[dict[str, float], float, bool]:  # fmt: skip
    """One pass over ``loader``: ``(per-sample means of the losses and statistics over every process,
    last lr, diverged)``.

    The steps do not wait for the device. The losses and the task's statistics are added up on the
    device and read once, at the end. Every ``runtime.log_every`` steps and at the last step, one read
    checks that the losses since the previous check are finite (those of every process); a non-finite
    loss stops the epoch there, before that step's update, and the lr returned is that of the step whose
    loss was not finite. The steps between the two (at most ``log_every - 1``) have updated the weights
    with it, which is why :func:`run` never saves a diverged epoch.

    Args:
        runtime: The device, autocast and memory layout (default: the model's device, nothing else).
        scaler: The gradient scaler of float16 autocast (default: none).
        progress: Show a progress bar, with the running loss at each read.
    """
    runtime = Runtime(model_device(model)) if runtime is None else runtime
    scaler = scaler or torch.amp.GradScaler("cuda", enabled=False)
    device, steps = runtime.device, len(loader)
    model.train()
    sums, unchecked = _RunningSums(device), []  # unchecked: (lr, loss is finite) of the steps since the last check
    lr = optimizer.param_groups[0]["lr"]
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{task.config.epochs}", leave=False) if progress and distributed.is_main() else None
    batches: Iterable = bar if bar is not None else loader
    for iteration, batch in enumerate(batches):
        lr = task.config.lr * task.lr_factor(epoch, iteration, steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = move(batch, device, channels_last=runtime.channels_last)
        with torch.autocast(device.type, dtype=autocast_dtype(device), enabled=runtime.amp), inputs_checked():
            losses, size, statistics = task.loss(model, batch)
        unchecked.append((lr, torch.isfinite(losses["loss"].detach())))
        if (iteration + 1) % runtime.log_every == 0 or iteration + 1 == steps:
            diverged_at = _first_non_finite(unchecked)
            if diverged_at is not None:
                return {}, diverged_at, True
            unchecked.clear()
            if bar is not None and sums.seen:
                bar.set_postfix(loss=f"{sums.mean('loss'):.4f}")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(losses["loss"]).backward()
        scaler.step(optimizer)
        scaler.update()
        task.after_step(distributed.unwrap(model), iteration)
        sums.add({**losses, **statistics}, size)
    return sums.means(), lr, False


# --------------------------------------------------------------------------------------------------
# The parts of a run
# --------------------------------------------------------------------------------------------------
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
    per process than one batch (each process takes ``len // processes`` items of every epoch, and drops
    its last, incomplete batch)."""
    for name, dataset in (("training", train_set), ("validation", val_set)):
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"expected the {name} set to be a map-style Dataset (with __len__ and __getitem__), got {type(dataset).__name__}")
        if len(dataset) == 0:
            raise ValueError(f"the {name} set is empty")
    processes = distributed.world_size()
    share = len(train_set) // processes
    if share < config.batch_size:
        each = f" ({share} for each of {processes} processes)" if processes > 1 else ""
        raise ValueError(f"the training set has {len(train_set)} items{each}, fewer than batch_size {config.batch_size}: no training step would run")


# What the engine and the command line write into a run folder (the run's files), and the temporary
# files of an atomic save, which a killed process can leave behind.
RUN_FILES = ("checkpoint.pt", "history.json", "averaged.pt", "improved_*.pt")
TEMPORARY_FILES = (".*.pt.*.tmp", ".write-test-*")
LOCK_FILE = ".mnv3lib-run.lock"


def run_files(folder: str | Path) -> list[str]:
    """The names of the run files in ``folder`` (:data:`RUN_FILES`), sorted; [] if it holds no run."""
    folder = Path(folder)
    return sorted({path.name for pattern in RUN_FILES for path in folder.glob(pattern) if path.is_file()})


def _lock_holder(lock: Path) -> dict[str, Any] | None:
    """Who holds ``lock`` (pid, host, since), or None when it is stale: its process, on this host, is gone."""
    try:
        holder = json.loads(lock.read_text())
    except (OSError, ValueError):
        return {"pid": "?", "host": "?", "since": "?"}  # being written, or not ours: treat it as held
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, another user's
    return holder


def _acquire(lock: Path) -> None:
    """Claim ``lock`` atomically (``O_EXCL``), taking over a stale one (left by a killed run on this host)."""
    for _ in range(2):
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _lock_holder(lock)
            if holder is not None:
                raise FileExistsError(
                    f"another run is writing into {lock.parent} (process {holder.get('pid')} on {holder.get('host')}, since "
                    f"{holder.get('since')}): wait for it or choose another output folder; if no such run is alive, delete {lock}"
                ) from None
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(handle, "w") as file:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}, file)
        return
    raise FileExistsError(f"could not claim {lock.parent}: another run claimed it at the same moment")


def release(state: RunState) -> None:
    """Give up the run folder's lock (what :func:`run` does when it returns or fails)."""
    if state.lock is not None:
        state.lock.unlink(missing_ok=True)
        state.lock = None


def _claim_output(output: Path, resume: str | Path | None, overwrite: bool) -> Path:
    """Rank 0's claim of the run folder, see :func:`_prepare_output`; returns the lock it holds."""
    output.mkdir(parents=True, exist_ok=True)
    lock = output / LOCK_FILE
    _acquire(lock)
    try:
        found = run_files(output)
        resumes_here = resume is not None and Path(resume).resolve() == (output / "checkpoint.pt").resolve()
        if found and not resumes_here and not overwrite:
            listed = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "")
            how = f"resume it with resume={output / 'checkpoint.pt'} (--resume), " if "checkpoint.pt" in found else ""
            doing = f"resuming {resume} into {output}, but that folder" if resume is not None else str(output)
            raise FileExistsError(
                f"{doing} already holds a run ({listed}): {how}replace it with overwrite=True (--overwrite), or choose another output folder"
            )
        if overwrite and not resumes_here:  # the old run's files, and only those
            for name in found:
                (output / name).unlink()
        for pattern in TEMPORARY_FILES:  # left by a killed save: nobody else writes here while we hold the lock
            for path in output.glob(pattern):
                path.unlink(missing_ok=True)
        with tempfile.NamedTemporaryFile(dir=output, prefix=".write-test-"):
            pass
    except BaseException:
        lock.unlink(missing_ok=True)
        raise
    return lock


def _prepare_output(output_dir: str | Path | None, resume: str | Path | None, overwrite: bool) -> tuple[Path | None, Path | None]:
    """The run folder and its lock. Rank 0 claims the folder: it creates it, takes its lock (a second run
    into the same folder is refused while the first is alive), refuses a folder that holds another run's
    files (:data:`RUN_FILES`) unless the run resumes its own checkpoint there or ``overwrite`` says to
    replace it (then the old run's files are deleted, and only those), removes the temporary files of a
    killed save and checks that it can write. Every process gets rank 0's outcome, so all stop with the
    same error."""
    check_flag(overwrite, "overwrite")
    if output_dir is None:
        return None, None
    output = Path(output_dir)
    outcome: BaseException | Path | None = None
    if distributed.is_main():
        try:
            outcome = _claim_output(output, resume, overwrite)
        except OSError as error:
            if isinstance(error, FileExistsError) and error.errno is None:  # ours, with its message (not the OS's)
                outcome = error
            elif error.errno == errno.ENAMETOOLONG:
                outcome = ValueError(f"cannot use {output} as the run folder: a name in it is too long for the file system ({error.strerror})")
            else:
                outcome = PermissionError(f"cannot write the run into {output}: {error.strerror or error}")
    error = distributed.broadcast_object(outcome if isinstance(outcome, BaseException) else None)  # rank 0's, on every rank
    if error is not None:
        raise error
    return output, outcome  # the lock on rank 0, None elsewhere


def _check_runtime(task: Task, runtime: Runtime) -> None:
    if not isinstance(runtime, Runtime):
        raise TypeError(f"expected runtime to be a Runtime, got {type(runtime).__name__}")
    for option, reason in (("amp", task.no_amp), ("channels_last", task.no_channels_last), ("compile", task.no_compile)):
        if getattr(runtime, option) and reason:
            raise ValueError(f"{option} is not offered for {type(task).__name__}: {reason}")


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


def setup(task: Task, train_set: Dataset, val_set: Dataset, *, runtime: Runtime, model: nn.Module | None = None,
          output_dir: str | Path | None = None, resume: str | Path | None = None, overwrite: bool = False) -> RunState:  # fmt: skip
    """Check the run, then build what it trains; see :func:`run` for the arguments.

    Before any compute, it refuses options the task does not offer, unusable data and an output folder
    that holds another run. Then it fingerprints the data, wraps it in the task's transforms, seeds
    ``config.seed`` and builds the model on the CPU (unless given one), initialises it unless the run
    resumes (e.g. backbone weights), moves it to the device, and creates the optimizer, the gradient
    scaler and the task's own state.
    """
    config = task.config
    _check_runtime(task, runtime)
    check_data(config, train_set, val_set)
    task.check_data(train_set, val_set)
    output, lock = _prepare_output(output_dir, resume, overwrite)
    data = {"train": fingerprint(train_set), "val": fingerprint(val_set)}
    train_data, val_data = task.datasets(train_set, val_set)
    torch.manual_seed(config.seed)
    model = task.build_model(train_set) if model is None else model
    if resume is None:
        task.initialise(model)  # e.g. backbone weights, before the optimizer and any EMA copy see the model
    model.to(runtime.device)
    if runtime.channels_last:
        model.to(memory_format=torch.channels_last)
    if runtime.sync_bn and distributed.world_size() > 1:
        distributed.convert_sync_batchnorm(model, runtime.device)
    optimizer = task.build_optimizer([p for p in model.parameters() if p.requires_grad])
    scaler = torch.amp.GradScaler("cuda", enabled=runtime.amp and runtime.device.type == "cuda")
    task.start(model)
    return RunState(task, runtime, train_set, data, train_data, val_data, model, model, optimizer, scaler, output, lock=lock)


def restore(state: RunState, path: str | Path) -> None:
    """Continue ``state`` from the checkpoint at ``path``, which must be of this config and data: the
    task's state, the model, the optimizer, the gradient scaler, the history and the epoch."""
    saved = load_checkpoint(path)
    _check_resume(state.task.config, saved, state.data, path)
    state.task.load_state_dict(saved.get("task", {}))  # first: it checks what the model's shapes depend on
    state.task.carry_files(Path(path).parent, state.output)
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    if state.scaler.is_enabled() and saved.get("scaler"):
        state.scaler.load_state_dict(saved["scaler"])
    state.history, state.epochs_done = [state.task.record_type(**e) for e in saved["history"]], saved["epoch"]


def wrap(model: nn.Module, runtime: Runtime) -> nn.Module:
    """What the training steps call: ``model`` as ``DistributedDataParallel`` under torchrun, through
    ``torch.compile`` if ``runtime`` says so. Wrap after :func:`restore`: DDP copies rank 0's weights
    to the other processes as it wraps."""
    trained = model
    if distributed.world_size() > 1:
        trained = nn.parallel.DistributedDataParallel(model, device_ids=[runtime.device.index] if runtime.device.type == "cuda" else None)
    return torch.compile(trained) if runtime.compile else trained


def train_epoch(state: RunState, epoch: int, *, progress: bool = False) -> tuple[dict[str, float], float, bool]:
    """Epoch ``epoch`` (0-based) of training, as :func:`train_one_epoch` returns it: every global RNG
    reseeded from ``(seed, epoch)``, this process's share of the training set in the epoch's order, and
    the task's per-epoch hook first."""
    config, runtime = state.task.config, state.runtime
    generator = seed_epoch(config.seed, epoch, rank=distributed.rank())
    sampler = distributed.ShardSampler(len(state.train_data), generator)  # one process: RandomSampler's order
    loader = DataLoader(state.train_data, batch_size=config.batch_size, sampler=sampler, generator=generator, num_workers=config.workers,
                        collate_fn=state.task.collate_fn, drop_last=True, pin_memory=runtime.device.type == "cuda",
                        worker_init_fn=distributed.seed_worker if distributed.world_size() > 1 else None)  # fmt: skip
    state.task.before_epoch(state.model, epoch)
    return train_one_epoch(state.task, state.trained, loader, state.optimizer, epoch, runtime=runtime, scaler=state.scaler, progress=progress)


def evaluate_epoch(state: RunState, epoch: int, eval_every: int) -> dict[str, float]:
    """The task's metrics after epoch ``epoch`` (0-based): evaluated every ``eval_every`` epochs and
    after the last (then the task keeps what it needs, e.g. checkpoints to average), NaN otherwise."""
    task = state.task
    if (epoch + 1) % eval_every != 0 and epoch + 1 != task.config.epochs:
        return task.not_evaluated()
    metrics = task.evaluate(state.model, state.val_data)
    task.after_evaluate(state.model, epoch, metrics, state.output)
    return metrics


def save(state: RunState) -> None:
    """Write the checkpoint of the epochs done into the run folder (rank 0, atomically), then wait for
    every process: what rank 0 wrote (e.g. checkpoints to average) is there for all of them."""
    if state.output is not None and distributed.is_main():
        payload = {"model": state.model.state_dict(), "optimizer": state.optimizer.state_dict(), "epoch": state.epochs_done,
                   "config": state.task.config.to_dict(), "history": [dataclasses.asdict(e) for e in state.history],
                   "task": state.task.state_dict(), "classes": getattr(state.train_set, "classes", None), "data": state.data,
                   "runtime": state.runtime.record()}  # fmt: skip
        if state.scaler.is_enabled():
            payload["scaler"] = state.scaler.state_dict()
        path = state.output / "checkpoint.pt"
        try:
            save_checkpoint(payload, path)
        except CheckpointWriteError as error:
            before = f"epoch {state.epochs_done - 1}'s checkpoint there is intact: free some space and resume from it" if path.is_file() else "no earlier checkpoint was written"
            raise CheckpointWriteError(f"epoch {state.epochs_done}'s checkpoint could not be written ({error}); {before}") from error
    distributed.barrier()


def finish(state: RunState, diverged: bool) -> RunResult:
    """The run's result; a run that reached its last epoch also gets the task's ending (e.g. the
    average of its best checkpoints)."""
    result = RunResult(state.task.config, state.history, state.model, state.output / "checkpoint.pt" if state.output is not None else None, diverged)
    if not diverged and len(state.history) == state.task.config.epochs:
        state.task.finish(result, state.val_data, state.output)
    return result


def run(
    task: Task,
    train_set: Dataset,
    val_set: Dataset,
    *,
    runtime: Runtime | None = None,
    model: nn.Module | None = None,
    output_dir: str | Path | None = None,
    resume: str | Path | None = None,
    overwrite: bool = False,
    stop_after_epoch: int | None = None,
    eval_every: int = 1,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Train as ``task`` says; see the module docstring for what every task shares.

    Args:
        task: The task, holding its config.
        train_set, val_set: The data, without transforms of their own (the task's are applied here,
            through a wrapper); ``classes`` gives the class count where the task needs it.
        runtime: Where and how to train (default: ``Runtime()``, CUDA if present, else MPS, else the CPU).
        model: Train this model instead of building one (e.g. a QAT-prepared model); it is moved to
            the runtime's device.
        output_dir: Where ``checkpoint.pt`` goes after every epoch (atomically). None keeps it in memory.
        resume: A ``checkpoint.pt`` to continue from; its config and data must be this run's (its device
            and process count need not be).
        overwrite: Replace a run already in ``output_dir`` (without it, such a folder is refused).
        stop_after_epoch: Return after this many epochs (to split a run in two).
        eval_every: Evaluate every this many epochs (and always after the last).
        progress: Show progress bars.
        log: Called with one line per epoch (e.g. ``print``).
    """
    if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
        raise ValueError(f"expected eval_every to be an int >= 1, got {eval_every!r}")
    runtime = Runtime() if runtime is None else runtime
    state = setup(task, train_set, val_set, runtime=runtime, model=model, output_dir=output_dir, resume=resume, overwrite=overwrite)
    try:
        if resume is not None:
            restore(state, resume)
        state.trained = wrap(state.model, runtime)
        last_epoch = task.config.epochs if stop_after_epoch is None else min(task.config.epochs, stop_after_epoch)
        diverged = False
        for epoch in range(state.epochs_done, last_epoch):
            started = time.perf_counter()
            train, lr, diverged = train_epoch(state, epoch, progress=progress)
            metrics = task.not_evaluated() if diverged else evaluate_epoch(state, epoch, eval_every)
            state.history.append(task.record(epoch + 1, lr, train, metrics, time.perf_counter() - started))
            if log and distributed.is_main():
                log(f"epoch {epoch + 1}: the loss is not finite, training diverged" if diverged else task.log_line(state.history[-1]))
            if diverged:
                break
            state.epochs_done = epoch + 1
            save(state)
        return finish(state, diverged)
    finally:
        release(state)
