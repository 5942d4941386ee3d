"""Devices: which one to use, and moving models, batches and targets onto it.

Every training, evaluation, calibration and benchmark entry point of the library takes ``device``.
``None`` (or ``"auto"``) means the best one present: CUDA, else Apple's MPS, else the CPU, so that the
same chapter runs on Colab's GPU and on a laptop. Evaluation helpers that receive a model follow the
model: they move each batch to the device its parameters are on (:func:`model_device`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import torch
from torch import nn

__all__ = ["resolve_device", "model_device", "move", "autocast_dtype", "accumulation_dtype"]

T = TypeVar("T")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device named by ``device``; ``None`` or ``"auto"``: CUDA if present, else MPS, else the CPU.

    Raises:
        ValueError: for a name torch does not know, or a device this machine does not have (before any
            compute: asking for ``"cuda"`` on a machine without a GPU fails here, not mid-run).
    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not isinstance(device, (str, torch.device)) or isinstance(device, bool):
        raise TypeError(f"expected device as a string such as 'cpu' or 'cuda:0', a torch.device or None, got {type(device).__name__}")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto' ({error})") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was asked for, but torch sees no CUDA GPU here (use 'cpu' or 'auto')")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} was asked for, but this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    elif resolved.type == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ValueError(f"device {device!r} was asked for, but MPS is not available here (use 'cpu' or 'auto')")
    elif resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {device!r} is not supported: expected 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'")
    return resolved


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter or buffer (the CPU for a model with neither, e.g. an
    int8 model whose weights are packed)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def move(value: T, device: torch.device, *, channels_last: bool = False) -> T:
    """``value`` with every tensor inside it on ``device``: a tensor, or lists, tuples and dicts of them
    (a detection batch is a list of images and a list of target dicts). With ``channels_last``, 4-D
    floating-point tensors (image batches) also get the channels-last memory layout."""
    if isinstance(value, torch.Tensor):
        moved = value.to(device, non_blocking=True)
        if channels_last and moved.dim() == 4 and moved.is_floating_point():
            moved = moved.contiguous(memory_format=torch.channels_last)
        return moved  # type: ignore[return-value]
    if isinstance(value, Mapping):
        moved_items = type(value)({key: move(item, device, channels_last=channels_last) for key, item in value.items()})  # type: ignore[call-arg]
        if hasattr(value, "_metadata"):  # a state dict's module versions, which load_state_dict reads
            moved_items._metadata = value._metadata  # type: ignore[attr-defined]
        return moved_items  # type: ignore[return-value]
    if isinstance(value, (list, tuple)):
        items = [move(item, device, channels_last=channels_last) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)  # type: ignore[call-arg]
    return value


def autocast_dtype(device: torch.device) -> torch.dtype:
    """The mixed-precision type for ``device``: float16 on CUDA (with a gradient scaler), bfloat16 on the
    CPU and MPS (bfloat16 keeps float32's exponent range, so it needs no scaler)."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16



def accumulation_dtype(device: torch.device) -> torch.dtype:
    """The type in which sums of losses and counts are kept on ``device``: float64, whose sums are
    those of Python floats (float32 on MPS, which has no float64)."""
    return torch.float32 if device.type == "mps" else torch.float64
