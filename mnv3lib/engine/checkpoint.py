"""Checkpoints: written atomically, loaded safely, and averaged (TorchVision's MobileNetV3 recipe).

The engine's loop (:mod:`mnv3lib.engine.loop`) writes one after every epoch.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..devices import move
from ..models.weights import safe_load

__all__ = ["CheckpointWriteError", "save_checkpoint", "load_checkpoint", "load_features", "as_float16", "as_float32", "average_state_dicts", "average_checkpoints"]


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (a full disk, a folder gone): the file it would have replaced is intact."""


def _is_write_failure(error: RuntimeError) -> bool:
    """Whether ``torch.save`` failed writing (its zip writer reports a full disk as a RuntimeError)."""
    return any(sign in str(error) for sign in ("PytorchStreamWriter", "file write failed", "unexpected pos", "inline_container"))


def save_checkpoint(payload: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write ``payload`` with ``torch.save`` atomically: a crash mid-write never leaves a torn file.

    The data goes to a temporary file in the same folder, is flushed to disk, then renamed over ``path``.
    Tensors on a GPU are saved as CPU tensors, so the file loads on any machine.

    Raises:
        CheckpointWriteError: if the file cannot be written (e.g. a full disk): the message says why and
            how much space is free; the temporary file is removed and the file at ``path`` is unchanged.
    """
    payload = move(dict(payload), torch.device("cpu"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp creates 0600 files; checkpoints are meant to be shared
        os.replace(temporary, path)
    except (OSError, RuntimeError) as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, RuntimeError) and not _is_write_failure(error):
            raise
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0]
        try:
            free = f" ({shutil.disk_usage(path.parent).free / 2**20:.0f} MiB free there)"
        except OSError:
            free = ""
        raise CheckpointWriteError(f"cannot write {path}: {reason}{free}; the file that was there, if any, is unchanged") from error
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` onto the CPU, safely.

    It is read with ``torch.load(weights_only=True)`` (:func:`~mnv3lib.models.weights.safe_load`):
    tensors, containers and plain values only, so a crafted file cannot run code when it is loaded.
    Every checkpoint the library writes (model, optimizer, scaler and EMA states, the config and the
    history as plain dicts) is made of such values.

    Raises:
        FileNotFoundError: if there is no file at ``path``.
        ValueError: if the file is empty, truncated, not a checkpoint, or holds other objects (the
            message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    saved = safe_load(path)
    if not isinstance(saved, dict):
        raise ValueError(f"{path} is not a checkpoint: it holds a {type(saved).__name__}, not a dict")
    return saved


def load_features(extractor: torch.nn.Module, path: str | os.PathLike) -> None:
    """Copy the ``features`` of a MobileNetV3 classification checkpoint (its ``"model"`` state dict) into
    a feature extractor over those features (a detector's ``backbone.body``, a segmentation model's
    ``backbone``): how a detector or segmentation model starts from a pretrained classifier.

    Raises:
        ValueError: if the checkpoint's features do not fit the extractor (another architecture).
    """
    features = {k.removeprefix("features."): v for k, v in load_checkpoint(path)["model"].items() if k.startswith("features.")}
    expected = extractor.state_dict()
    if set(features) != set(expected):
        raise ValueError(f"{path} holds no MobileNetV3 features matching this backbone ({len(features)} feature tensors for {len(expected)})")
    extractor.load_state_dict(as_float32(features))


def as_float16(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state_dict`` with its floating-point tensors in float16: the book's shipped checkpoints are half the size."""
    return {k: v.half() if v.is_floating_point() else v for k, v in state_dict.items()}


def as_float32(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state_dict`` with its floating-point tensors in float32 (undoes :func:`as_float16`)."""
    return {k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}


def average_state_dicts(state_dicts: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Element-wise mean of floating-point tensors; integer tensors (e.g. ``num_batches_tracked``)
    are taken from the last state dict."""
    if not state_dicts:
        raise ValueError("expected at least one state dict to average, got none")
    keys = list(state_dicts[-1])
    for index, state in enumerate(state_dicts):
        if list(state) != keys:
            raise ValueError(f"state dict {index} has different keys from the last one")
    averaged = {}
    for key in keys:
        last = state_dicts[-1][key]
        if last.is_floating_point():
            averaged[key] = torch.stack([s[key].float() for s in state_dicts]).mean(0).to(last.dtype)
        else:
            averaged[key] = last.clone()
    return averaged


def average_checkpoints(paths: Sequence[str | os.PathLike], key: str = "model") -> dict[str, torch.Tensor]:
    """Average the ``key`` state dicts stored in several checkpoint files."""
    return average_state_dicts([load_checkpoint(p)[key] for p in paths])
