"""Seeding, so that every chapter reproduces under strict ``pytest --nbval``."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["set_seed", "seed_epoch"]


def set_seed(seed: int = 0, *, deterministic: bool = True, threads: int | None = None) -> None:
    """Seed Python, NumPy and torch, and optionally ask torch for deterministic kernels.

    Chapters call this once in their set-up cell; importing :mod:`mnv3lib` never does.

    Args:
        seed: The seed for every generator.
        deterministic: Call ``torch.use_deterministic_algorithms(True)``.
        threads: If given, ``torch.set_num_threads(threads)``; fewer threads change the order of
            floating-point reductions less between machines.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"expected seed to be an int >= 0, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic)
    if threads is not None:
        torch.set_num_threads(threads)


def seed_epoch(seed: int, epoch: int) -> torch.Generator:
    """Seed every global generator from ``(seed, epoch)``; return a generator that shuffles this epoch.

    Training loops call it at the start of each epoch, so a run resumed at any epoch continues exactly
    as an uninterrupted one would.
    """
    value = seed * 100_003 + epoch
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)
    return torch.Generator().manual_seed(value)
