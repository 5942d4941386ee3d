"""The deployment routes: their names, what each needs installed, the order they are built in, and the
:class:`Deployment` that each returns."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..checks import check_choice

__all__ = ["ROUTES", "INT8_ROUTES", "ONNX_ROUTES", "COMPILED_ROUTES", "ROUTE_PACKAGES", "Deployment", "route_available", "build_order"]

ROUTES: dict[str, str] = {
    "eager": "eager fp32",
    "eager_int8": "eager int8 (Chapter 3)",
    "compile": "export + compile fp32",
    "pt2e_int8": "PT2E int8 + compile",
    "onnx": "ONNX Runtime fp32",
    "onnx_int8": "ONNX Runtime int8",
    "executorch": "ExecuTorch fp32",
    "executorch_int8": "ExecuTorch int8",
}
INT8_ROUTES = ("eager_int8", "pt2e_int8", "onnx_int8", "executorch_int8")
ONNX_ROUTES = ("onnx", "onnx_int8")  # built together by deploy_routes, from one export
COMPILED_ROUTES = ("compile", "pt2e_int8")  # torch.compile: built last by deploy_routes, "compile" last of all
# The packages each route needs beyond torch (import names).
ROUTE_PACKAGES: dict[str, tuple[str, ...]] = {
    "pt2e_int8": ("torchao",),
    "onnx": ("onnx", "onnxscript", "onnxruntime"),
    "onnx_int8": ("onnx", "onnxscript", "onnxruntime"),
    "executorch": ("executorch",),
    "executorch_int8": ("executorch", "torchao"),
}


@dataclass(frozen=True)
class Deployment:
    """A deployed model: call it on a batch of ``input_shape``.

    Attributes:
        route: A key of :data:`ROUTES`.
        run: The deployed forward pass, ``(N, 3, H, W) → output tensor``.
        file_bytes: Size of the artifact that would ship (state dict, ``.pt2``, ``.onnx`` or ``.pte``).
        input_shape: The shape it was exported for.
    """

    route: str
    run: Callable[[torch.Tensor], torch.Tensor]
    file_bytes: int
    input_shape: tuple[int, ...]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if tuple(images.shape) != self.input_shape:
            raise ValueError(
                f"the {self.route} deployment was exported for input shape {self.input_shape}, "
                f"got {tuple(images.shape)}: deploy again with an example of that shape"
            )
        return self.run(images)

    @property
    def label(self) -> str:
        return ROUTES[self.route]


def route_available(route: str) -> bool:
    """True when the packages ``route`` needs can be imported."""
    check_choice(route, "deployment route", tuple(ROUTES))
    return all(importlib.util.find_spec(name) is not None for name in ROUTE_PACKAGES.get(route, ()))


def build_order(route: str) -> tuple[bool, bool]:
    """The sort key that puts routes in the order to build them: the ``torch.compile`` routes after the
    others, and ``compile`` after ``pt2e_int8`` (``sorted(routes, key=build_order)`` keeps the given
    order otherwise).

    Building an ExecuTorch route (XNNPACK's partitioner exports its pattern graphs in strict mode) or
    the PT2E route (its strict export) resets TorchDynamo, which empties the code compiled before: a
    route compiled earlier would compile again at its first call, outside the weight freezing it was
    built with (slower, and another graph).
    """
    check_choice(route, "deployment route", tuple(ROUTES))
    return route in COMPILED_ROUTES, route == "compile"
