"""The training engine: one loop (:mod:`.loop`) that every task plugs into, the tasks
(:mod:`.classification`, :mod:`.detection`, :mod:`.segmentation`, :mod:`.quantization`), and what they
share: optimizers (:mod:`.optim`), checkpoints (:mod:`.checkpoint`), seeding (:mod:`.reproducibility`)
and metrics (:mod:`.metrics`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from .classification import ClassificationConfig, ClassificationTask
from .detection import DetectionConfig, DetectionTask
from .loop import RunResult, Task, run
from .segmentation import SegmentationConfig, SegmentationTask

__all__ = ["TASKS", "fit", "run", "RunResult", "Task"]

# The task that trains each config type.
TASKS: dict[type, Callable[[Any], Task]] = {
    ClassificationConfig: ClassificationTask,
    DetectionConfig: DetectionTask,
    SegmentationConfig: SegmentationTask,
}


def fit(config: ClassificationConfig | DetectionConfig | SegmentationConfig, train_set: Dataset, val_set: Dataset, *,
        model: nn.Module | None = None, output_dir: str | Path | None = None, resume: str | Path | None = None, overwrite: bool = False,
        stop_after_epoch: int | None = None, eval_every: int = 1, progress: bool = False,
        log: Callable[[str], None] | None = None, device: str | torch.device | None = None, amp: bool = False,
        channels_last: bool = False, compile: bool = False, sync_bn: bool = False) -> RunResult:  # fmt: skip
    """Train what ``config`` describes on the engine's one loop (:func:`mnv3lib.engine.loop.run`).

    ``config``'s type picks the task (:data:`TASKS`); the keyword arguments are :func:`~mnv3lib.engine.loop.run`'s:
    ``device`` (default: CUDA if present, else the CPU), ``amp``, ``channels_last``, ``compile`` and,
    under torchrun, ``sync_bn``.
    """
    if type(config) not in TASKS:
        raise TypeError(f"expected a ClassificationConfig, DetectionConfig or SegmentationConfig, got {type(config).__name__}")
    return run(TASKS[type(config)](config), train_set, val_set, model=model, output_dir=output_dir, resume=resume, overwrite=overwrite,
               stop_after_epoch=stop_after_epoch, eval_every=eval_every, progress=progress, log=log, device=device, amp=amp,
               channels_last=channels_last, compile=compile, sync_bn=sync_bn)  # fmt: skip
