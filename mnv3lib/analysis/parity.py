"""Prove that two models are the same network: identical state-dict keys and shapes, equal outputs.

Used by the tests and by every chapter that rebuilds a TorchVision model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["ParityReport", "randomize_batchnorm", "max_abs_difference", "compare_models"]


@dataclass(frozen=True)
class ParityReport:
    """The outcome of :func:`compare_models`."""

    entries: int
    same_keys: bool
    same_shapes: bool
    max_abs_diff: float

    @property
    def identical(self) -> bool:
        return self.same_keys and self.same_shapes and self.max_abs_diff == 0.0

    def __str__(self) -> str:
        keys = "identical keys" if self.same_keys else "DIFFERENT keys"
        shapes = "identical shapes" if self.same_shapes else "DIFFERENT shapes"
        return f"{self.entries} state-dict entries, {keys} and {shapes}; max |difference| of outputs = {self.max_abs_diff:.3g}"


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm random affine parameters and running statistics, in place.

    Freshly built models have weight 1, bias 0, mean 0 and variance 1 everywhere, which would hide a
    missing or misplaced norm layer from a parity check.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                shape = m.running_mean.shape
                if m.affine:
                    m.weight.copy_(torch.rand(shape, generator=generator) + 0.5)
                    m.bias.copy_(torch.randn(shape, generator=generator) * 0.2)
                m.running_mean.copy_(torch.randn(shape, generator=generator) * 0.2)
                m.running_var.copy_(torch.rand(shape, generator=generator) + 0.5)
    return model


def max_abs_difference(a: Any, b: Any) -> float:
    """The largest absolute difference between two outputs: tensors, or dicts, lists and tuples of them
    (a detector's list of dicts, a segmentation model's ``{"out", "aux"}``). Outputs of different
    structure, keys, shapes or dtypes are infinitely different; empty tensors of equal shape differ by 0."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return float("inf")
        return (a.double() - b.double()).abs().max().item() if a.numel() else 0.0
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return float("inf")
        return max((max_abs_difference(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return float("inf")
        return max((max_abs_difference(x, y) for x, y in zip(a, b)), default=0.0)
    return 0.0 if a == b else float("inf")


def compare_models(ours: nn.Module, reference: nn.Module, inputs: Any) -> ParityReport:
    """Load ``reference``'s state dict into ``ours`` (strictly, when the keys allow) and compare outputs.

    ``inputs`` is what both models take: a batch tensor, or a detector's list of images; outputs may be
    tensors, dicts or lists of dicts (:func:`max_abs_difference`). Both models are put in eval mode.
    ``ours`` is modified: it ends up with ``reference``'s weights.
    """
    theirs = reference.state_dict()
    mine = ours.state_dict()
    same_keys = list(mine) == list(theirs)
    same_shapes = same_keys and all(mine[k].shape == theirs[k].shape for k in mine)
    max_abs_diff = float("inf")
    if same_shapes:
        ours.load_state_dict(theirs, strict=True)
        ours.eval()
        reference.eval()
        with torch.no_grad():
            max_abs_diff = max_abs_difference(ours(inputs), reference(inputs))
    return ParityReport(len(theirs), same_keys, same_shapes, max_abs_diff)
