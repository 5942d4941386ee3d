"""Argument checks shared by the public functions of :mod:`mnv3lib`.

Every check raises a ``TypeError`` or ``ValueError`` whose message names the offending value and what
was expected, so a reader's mistake is reported at the boundary, not deep inside torch.

Checks of types and shapes read only a tensor's metadata. Checks of values (NaN, ranges, class ids)
read the data: on a GPU the host waits for the device each time. A training loop therefore checks its
data once per sample where it enters (the engine does it as the batch is collated, on the CPU), and runs
the model inside :func:`inputs_checked`, where the models' own forward passes skip those reads.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence

import torch

__all__ = [
    "check_image_batch", "check_positive", "check_count", "check_range", "check_numbers", "check_choice", "check_flag", "check_keywords", "is_tracing",
    "inputs_checked", "inputs_are_checked",
]  # fmt: skip

_INPUTS_CHECKED = contextvars.ContextVar("mnv3lib_inputs_checked", default=False)


@contextlib.contextmanager
def inputs_checked() -> Iterator[None]:
    """Within the block, checks called with ``values=None`` (as the models' forward passes call them)
    skip what would read their inputs' values, and keep the checks of types and shapes.

    For a caller that has already checked its data where it entered, once per sample: the engine's
    training step, whose collate checked the batch on the CPU before it went to the device.
    """
    token = _INPUTS_CHECKED.set(True)
    try:
        yield
    finally:
        _INPUTS_CHECKED.reset(token)


def inputs_are_checked() -> bool:
    """Whether the code runs inside :func:`inputs_checked`."""
    return _INPUTS_CHECKED.get()


def is_tracing(value: object = None) -> bool:
    """True while TorchScript, ``torch.fx`` or ``torch.compile`` traces the code (checks are skipped then)."""
    if isinstance(value, torch.fx.Proxy):
        return True
    return torch.jit.is_scripting() or torch.jit.is_tracing() or torch.compiler.is_compiling()


def check_image_batch(images: object, channels: int = 3, name: str = "images", *, values: bool | None = None) -> None:
    """Check that ``images`` is a float tensor of shape ``(N, channels, H, W)`` with finite values.

    Args:
        values: Also check that the values are finite (a read of the data). None: unless inside
            :func:`inputs_checked`.

    Raises:
        TypeError: if ``images`` is not a tensor, or not floating point.
        ValueError: if it is not 4-D, has the wrong number of channels, or NaN or infinite values.
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
    if values is None:
        values = not inputs_are_checked()
    if values and not bool(torch.isfinite(images).all()):
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


def check_count(value: object, name: str) -> None:
    """Check that ``value`` is an ``int`` >= 0 (a number of warm-up passes, say)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected {name} to be an int >= 0, got {value!r}")


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


def check_flag(value: object, name: str, *, optional: bool = False) -> None:
    """Check that ``value`` is ``True`` or ``False`` (or ``None`` when ``optional``): a string such as
    ``"no"`` is truthy, and would quietly mean yes."""
    if isinstance(value, bool) or (optional and value is None):
        return
    choices = "True, False or None" if optional else "True or False"
    raise TypeError(f"expected {name} to be {choices}, got {value!r} of type {type(value).__name__}")


def check_numbers(
    value: object, name: str, *, length: int | None = None, low: float = -math.inf, high: float = math.inf, low_open: bool = False, integer: bool = False
) -> None:
    """Check that ``value`` is a list or tuple of ``length`` numbers (at least one when ``length`` is None),
    each as :func:`check_range` (and an ``int`` when ``integer``); a message names the item, ``name[i]``."""
    count = "at least one" if length is None else str(length)
    kind = "ints" if integer else "numbers"
    if not isinstance(value, (list, tuple)) or (len(value) != length if length is not None else not value):
        raise TypeError(f"expected {name} to be a list or tuple of {count} {kind}, got {value!r}")
    for index, item in enumerate(value):
        if integer and (isinstance(item, bool) or not isinstance(item, int)):
            raise TypeError(f"expected {name}[{index}] to be an int, got {item!r} of type {type(item).__name__}")
        check_range(item, f"{name}[{index}]", low, high, low_open=low_open)


def check_keywords(options: Mapping[str, object], checks: Mapping[str, Callable[[object, str], None]], function: str) -> None:
    """Check the keyword arguments ``options`` that ``function`` passes on through ``**kwargs``.

    A keyword that is not in ``checks`` raises ``TypeError``, as Python does for a function that does
    not take it (naming the closest known keyword, so that a typo such as ``min_sise`` is not silently
    ignored); then ``checks[name](value, name)`` checks each value.
    """
    for name in options:
        if name not in checks:
            close = difflib.get_close_matches(name, list(checks), n=1)
            known = ", ".join(sorted(k for k in checks if not k.startswith("_")))
            hint = f": did you mean {close[0]!r}?" if close else f"; besides its named arguments it takes {known}"
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}{hint}")
    for name, value in options.items():
        checks[name](value, name)
