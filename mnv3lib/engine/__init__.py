"""The training engine: one loop (:mod:`.loop`) that every task plugs into, the tasks
(:mod:`.classification`, :mod:`.detection`, :mod:`.segmentation`, :mod:`.quantization`), where and how
they train (:mod:`.runtime`), and what they share: optimizers (:mod:`.optim`), checkpoints
(:mod:`.checkpoint`), seeding (:mod:`.reproducibility`), metrics (:mod:`.metrics`) and torchrun
(:mod:`.distributed`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import Dataset

from .classification import ClassificationConfig, ClassificationTask
from .detection import DetectionConfig, DetectionTask
from .loop import RunResult, Task, run
from .runtime import Runtime
from .segmentation import SegmentationConfig, SegmentationTask

__all__ = ["TASKS", "fit", "run", "RunResult", "Runtime", "Task"]

# The task that trains each config type.
TASKS: dict[type, Callable[[Any], Task]] = {
    ClassificationConfig: ClassificationTask,
    DetectionConfig: DetectionTask,
    SegmentationConfig: SegmentationTask,
}


def fit(config: ClassificationConfig | DetectionConfig | SegmentationConfig, train_set: Dataset, val_set: Dataset, *,
        runtime: Runtime | None = None, device: str | torch.device | None = None, amp: bool = False, channels_last: bool = False,
        compile: bool = False, sync_bn: bool = False, **options: Any) -> RunResult:  # fmt: skip
    """Train what ``config`` describes on the engine's one loop (:func:`mnv3lib.engine.loop.run`).

    ``config``'s type picks the task (:data:`TASKS`).

    Args:
        runtime: Where and how to train (a :class:`~mnv3lib.engine.runtime.Runtime`); or give its
            ``device`` (default: CUDA if present, else the CPU), ``amp``, ``channels_last``, ``compile``
            and ``sync_bn`` here, which build it (not both).
        **options: :func:`~mnv3lib.engine.loop.run`'s other keyword arguments: ``model``, ``output_dir``,
            ``resume``, ``overwrite``, ``stop_after_epoch``, ``eval_every``, ``progress``, ``log``.
    """
    if type(config) not in TASKS:
        raise TypeError(f"expected a ClassificationConfig, DetectionConfig or SegmentationConfig, got {type(config).__name__}")
    if runtime is None:
        runtime = Runtime(device=device, amp=amp, channels_last=channels_last, compile=compile, sync_bn=sync_bn)
    elif device is not None or amp or channels_last or compile or sync_bn:
        raise ValueError("give either runtime or its settings (device, amp, channels_last, compile, sync_bn), not both")
    return run(TASKS[type(config)](config), train_set, val_set, runtime=runtime, **options)
