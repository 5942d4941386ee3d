"""Where and how a run trains: one frozen object, built once where a run starts.

A :class:`Runtime` says what does not change the recipe (the config) but the machine's share of it: the
device, mixed precision, the memory layout, ``torch.compile``, synchronised BatchNorm under torchrun, and
how often the host reads the running losses from the device. The command line and
:func:`mnv3lib.engine.fit` build it from their flags and keywords; :func:`mnv3lib.engine.loop.run` and
the steps below it read it, and none of them takes those settings one by one. (Lightning Fabric's
``Fabric(accelerator, precision, ...)`` is the same idea.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..devices import resolve_device
from . import distributed

__all__ = ["Runtime"]


@dataclass(frozen=True)
class Runtime:
    """Where and how a run trains. Give ``device`` as a name; the object holds the resolved device.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a ``torch.device``; None: CUDA if
            present, else MPS, else the CPU (:func:`~mnv3lib.devices.resolve_device`). Under torchrun,
            ``"cuda"`` is this process's GPU.
        amp: Mixed precision: autocast to float16 with a gradient scaler on CUDA, to bfloat16 on the CPU.
        channels_last: The channels-last memory layout for the model and its image batches.
        compile: Train through ``torch.compile(model)``.
        sync_bn: Under torchrun, BatchNorm statistics over the whole batch of all processes; nothing
            changes in one process.
        log_every: Steps between two reads of the running losses from the device. The steps in
            between never wait for the device; the read also checks that the losses are finite, so a
            diverging run stops at most ``log_every - 1`` steps after its first non-finite loss.

    Raises:
        TypeError: a flag that is not True or False, ``log_every`` that is not an int.
        ValueError: a device this machine does not have, ``amp`` on MPS, ``log_every`` < 1.
    """

    device: torch.device | str | None = None  # a torch.device once created
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    sync_bn: bool = False
    log_every: int = 50

    def __post_init__(self) -> None:
        for name in ("amp", "channels_last", "compile", "sync_bn"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"expected {name} to be True or False, got {getattr(self, name)!r}")
        if isinstance(self.log_every, bool) or not isinstance(self.log_every, int):
            raise TypeError(f"expected log_every to be an int >= 1, got {self.log_every!r}")
        if self.log_every < 1:
            raise ValueError(f"expected log_every >= 1, got {self.log_every}")
        device = resolve_device(self.device)
        if device.type == "cuda" and device.index is None and distributed.world_size() > 1:
            device = torch.device("cuda", torch.cuda.current_device())  # torchrun: this process's GPU
        if self.amp and device.type == "mps":
            raise ValueError("amp is offered on CUDA (float16) and the CPU (bfloat16), not on MPS")
        object.__setattr__(self, "device", device)

    def record(self) -> dict[str, Any]:
        """What a checkpoint notes about the run's machine: device type, process count and the flags
        (a resume may use another: a checkpoint holds CPU tensors and no trace of the process count)."""
        return {"device": self.device.type, "processes": distributed.world_size(), "amp": self.amp,
                "channels_last": self.channels_last, "compile": self.compile, "sync_bn": self.sync_bn}  # fmt: skip
