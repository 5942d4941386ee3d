"""Seeding, so that every chapter reproduces under strict ``pytest --nbval``."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["set_seed"]


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
