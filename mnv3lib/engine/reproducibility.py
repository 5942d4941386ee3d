"""Seeding, so that every chapter reproduces under strict ``pytest --nbval``."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["set_seed", "seed_epoch"]


def set_seed(seed: int = 0, *, deterministic: bool = True, threads: int | None = None) -> None:
    """Seed Python, NumPy and torch, and optionally ask torch for deterministic kernels.

    Chapters call this once in their set-up cell; importing :mod:`mnv3lib` never does.

    Args:
        seed: The seed for every generator.
        deterministic: Call ``torch.use_deterministic_algorithms(True)``. Where a CUDA GPU is present
            (Colab), with ``warn_only=True``: some CUDA kernels that MobileNetV3 training uses (the
            backward pass of adaptive average pooling, RoIAlign) have no deterministic version, and
            would otherwise stop the chapter; cuBLAS is made deterministic through
            ``CUBLAS_WORKSPACE_CONFIG``.
        threads: If given, ``torch.set_num_threads(threads)``; fewer threads change the order of
            floating-point reductions less between machines.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"expected seed to be an int >= 0, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic and torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(deterministic)
    if threads is not None:
        torch.set_num_threads(threads)


def seed_epoch(seed: int, epoch: int, *, rank: int = 0) -> torch.Generator:
    """Seed every global generator from ``(seed, epoch, rank)``; return a generator that shuffles this
    epoch (the same in every process, so that they agree on the epoch's order).

    Training loops call it at the start of each epoch, so a run resumed at any epoch continues exactly
    as an uninterrupted one would. Under torchrun, ``rank`` gives each process its own augmentations
    (rank 0 draws what a single process draws).
    """
    value = seed * 100_003 + epoch
    global_value = value + 7_919_993 * rank
    random.seed(global_value)
    np.random.seed(global_value % 2**32)
    torch.manual_seed(global_value)
    return torch.Generator().manual_seed(value)
