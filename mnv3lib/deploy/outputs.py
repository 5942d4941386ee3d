"""What a deployment computes, against the eager model: its main output, images regrouped to the batch
it was exported for, and :func:`check_outputs`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from ..checks import check_image_batch
from .routes import Deployment

__all__ = ["OutputCheck", "check_outputs", "output_tensor", "MainOutput", "image_chunks"]


def output_tensor(output: object) -> torch.Tensor:
    """A model's main output: the tensor itself, or the ``"out"`` entry of a segmentation model's dict."""
    if isinstance(output, dict):
        output = output["out"]
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"expected the model to return a tensor or a dict with 'out', got {type(output).__name__}")
    return output


class MainOutput(nn.Module):
    """``model`` returning its main output (:func:`output_tensor`) only: the one tensor that the
    exporters and the deployed runtimes handle (segmentation models return a dict)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return output_tensor(self.model(images))


def image_chunks(batches: Iterable, size: int) -> Iterator[tuple[torch.Tensor, int]]:
    """The images of ``batches`` (tensors or ``(images, targets)`` pairs) regrouped ``size`` at a time,
    the batch a deployment was exported for; the last group is padded with zeros. Yields
    ``(chunk, number of real images in it)``."""
    pending: list[torch.Tensor] = []
    for item in batches:
        images = item[0] if isinstance(item, (tuple, list)) else item
        check_image_batch(images, name="each batch")
        pending.extend(images)
        while len(pending) >= size:
            yield torch.stack(pending[:size]), size
            pending = pending[size:]
    if pending:
        real = len(pending)
        yield torch.stack(pending + [torch.zeros_like(pending[0])] * (size - real)), real


@dataclass(frozen=True)
class OutputCheck:
    """How close a deployment's outputs are to the eager float model's.

    Attributes:
        max_abs_diff: Largest absolute difference of any output value.
        agreement: % of top-1 predictions (argmax over dim 1: classes, or classes per pixel) that
            are the same.
        count: How many predictions were compared (images, or pixels of segmentation maps).
    """

    max_abs_diff: float
    agreement: float
    count: int


def check_outputs(reference: nn.Module, deployment: Deployment, batches: Iterable) -> OutputCheck:
    """Compare ``deployment`` with the eager ``reference`` model on every image of ``batches``.

    Args:
        reference: The float model the deployment was made from.
        deployment: What :func:`~mnv3lib.deploy.build.deploy` returned.
        batches: Batches of images or ``(images, targets)`` pairs, any batch size (regrouped to the
            deployment's).

    Returns:
        An :class:`OutputCheck`.
    """
    if not isinstance(deployment, Deployment):
        raise TypeError(f"expected a Deployment (from deploy()), got {type(deployment).__name__}")
    max_diff, same, count = 0.0, 0, 0
    with torch.inference_mode():
        for chunk, real in image_chunks(batches, deployment.input_shape[0]):
            expected = output_tensor(reference(chunk))[:real]
            actual = deployment(chunk)[:real]
            max_diff = max(max_diff, float((expected - actual).abs().max()))
            same += int((expected.argmax(1) == actual.argmax(1)).sum())
            count += expected.argmax(1).numel()
    if count == 0:
        raise ValueError("batches yielded no image to compare")
    return OutputCheck(max_diff, 100.0 * same / count, count)
