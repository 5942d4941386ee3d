"""Argument checks shared by the public functions of :mod:`mnv3lib`.

Every check raises a ``TypeError`` or ``ValueError`` whose message names the offending value and what
was expected, so a reader's mistake is reported at the boundary, not deep inside torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["check_image_batch", "check_positive", "check_range", "check_choice", "is_tracing"]


def is_tracing(value: object = None) -> bool:
    """True while TorchScript, ``torch.fx`` or ``torch.compile`` traces the code (checks are skipped then)."""
    if isinstance(value, torch.fx.Proxy):
        return True
    return torch.jit.is_scripting() or torch.jit.is_tracing() or torch.compiler.is_compiling()


def check_image_batch(images: object, channels: int = 3, name: str = "images") -> None:
    """Check that ``images`` is a float tensor of shape ``(N, channels, H, W)``.

    Raises:
        TypeError: if ``images`` is not a tensor, or not floating point.
        ValueError: if it is not 4-D or has the wrong number of channels.
    """
    if is_tracing(images):
        return
    expected = f"a batch of shape (N, {channels}, H, W)"
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"expected {name} to be a torch.Tensor, {expected}; got {type(images).__name__}")
    shape = tuple(images.shape)
    if images.dim() != 4:
        hint = ": add a batch dimension, e.g. images.unsqueeze(0)" if images.dim() == 3 else ""
        raise ValueError(f"expected {name} to be {expected}, got {shape}{hint}")
    if shape[1] != channels:
        hint = ""
        if shape[-1] == channels:
            hint = ": the channels look last, use images.permute(0, 3, 1, 2)"
        raise ValueError(f"expected {name} to be {expected}, got {shape} with {shape[1]} channels{hint}")
    if not images.is_floating_point():
        raise TypeError(
            f"expected {name} to be a floating-point tensor, got dtype {images.dtype}: "
            "convert with images.float() / 255 or torchvision.transforms.v2.ToDtype(torch.float32, scale=True)"
        )
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{name} have NaN or infinite values")


def check_positive(value: object, name: str, *, integer: bool = False) -> None:
    """Check that ``value`` is a number > 0 (an ``int`` when ``integer`` is true)."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an int" if integer else "a number"
        raise TypeError(f"expected {name} to be {kind} > 0, got {value!r} of type {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"expected {name} to be a finite number > 0, got {value!r}")
    if value <= 0:
        raise ValueError(f"expected {name} > 0, got {value!r}")


def check_range(value: object, name: str, low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = False) -> None:
    """Check that ``value`` is a finite number (not a bool or string) between ``low`` and ``high``,
    inclusive unless ``low_open`` / ``high_open``."""
    left, right = "(" if low_open else "[", ")" if high_open or high == math.inf else "]"
    interval = f"{left}{low}, {high if high != math.inf else '∞'}{right}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected {name} to be a number in {interval}, got {value!r} of type {type(value).__name__}")
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if not math.isfinite(value) or below or above:
        raise ValueError(f"expected {name} in {interval}, got {value!r}")


def check_choice(value: object, name: str, choices: Sequence[object]) -> None:
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"unknown {name} {value!r}: expected one of {options}")
