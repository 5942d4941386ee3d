"""Deploying a float model: :func:`deploy` by one route, :func:`deploy_routes` by several, sharing what
they have in common and built in the order that keeps every route's compiled code."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from ..checks import check_choice, check_image_batch, check_positive
from .executorch_routes import executorch_route
from .onnx_routes import onnx_routes
from .outputs import MainOutput, image_chunks, output_tensor
from .routes import INT8_ROUTES, ONNX_ROUTES, ROUTE_PACKAGES, ROUTES, Deployment, build_order, route_available
from .torch_routes import compile_route, eager_int8_route, eager_route, pt2e_int8_route

__all__ = ["deploy", "deploy_routes"]


def deploy(
    model: nn.Module,
    route: str,
    example: torch.Tensor,
    calibration: Iterable | None = None,
    *,
    threads: int | None = None,
) -> Deployment:
    """Deploy a float model by one of :data:`~mnv3lib.deploy.routes.ROUTES`.

    Args:
        model: A float model in eval mode (left unchanged): a MobileNetV3 classifier, or a
            segmentation model that returns ``{"out": ...}``.
        route: A key of :data:`~mnv3lib.deploy.routes.ROUTES`.
        example: An input of the shape to deploy for, ``(N, 3, H, W)``.
        calibration: Batches of images (or ``(images, targets)`` pairs) for the int8 routes'
            activation ranges; regrouped to the example's batch size.
        threads: CPU threads for ONNX Runtime and ExecuTorch (default: torch's current setting).

    Returns:
        A :class:`~mnv3lib.deploy.routes.Deployment`.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, or ``example`` not a float tensor.
        ValueError: an unknown route, a non-4D example, a model the route cannot take, or an int8
            route without calibration images.
        ModuleNotFoundError: the package the route needs is not installed.
    """
    check_choice(route, "deployment route", tuple(ROUTES))
    return _deploy(model, (route,), example, calibration, threads)[route]


def deploy_routes(
    model: nn.Module,
    routes: Iterable[str],
    example: torch.Tensor,
    calibration: Iterable | None = None,
    *,
    threads: int | None = None,
) -> dict[str, Deployment]:
    """Deploy a float model by several routes, as :func:`deploy` does one by
    one, but sharing what they have in common: one ONNX export serves both
    ONNX Runtime routes (``onnx_int8`` quantizes the file that ``onnx``
    runs). The routes are built in
    :func:`~mnv3lib.deploy.routes.build_order`: the ``torch.compile`` routes
    last, because building an ExecuTorch route or the PT2E route resets
    TorchDynamo, which would empty the compiled code of the routes built
    before.

    Args:
        routes: Keys of :data:`~mnv3lib.deploy.routes.ROUTES`, each once.
        model, example, calibration, threads: As for :func:`deploy`.

    Returns:
        Route → :class:`~mnv3lib.deploy.routes.Deployment`, in the order of
        ``routes``.
    """
    routes = tuple(routes)
    if not routes:
        raise ValueError("expected at least one deployment route, got none")
    for route in routes:
        check_choice(route, "deployment route", tuple(ROUTES))
    if len(set(routes)) != len(routes):
        raise ValueError(f"expected each route once, got {list(routes)}")
    onnx = tuple(r for r in routes if r in ONNX_ROUTES)
    deployments: dict[str, Deployment] = {}
    for route in sorted(routes, key=build_order):  # stable: otherwise in order
        if route not in deployments:
            together = onnx if route in onnx else (route,)
            deployments.update(
                _deploy(model, together, example, calibration, threads)
            )
    return {route: deployments[route] for route in routes}


def _calibration_chunks(calibration: Iterable | None, example: torch.Tensor, route: str) -> list[torch.Tensor]:
    if calibration is None:
        raise ValueError(f"route {route!r} quantizes with static activation ranges: pass calibration batches")
    chunks = [chunk for chunk, real in image_chunks(calibration, example.shape[0]) if real == example.shape[0]]
    if not chunks:
        raise ValueError(f"calibration yielded fewer than {example.shape[0]} images (the example's batch size)")
    if tuple(chunks[0].shape[1:]) != tuple(example.shape[1:]):
        raise ValueError(f"calibration images are {tuple(chunks[0].shape[1:])}, the example is {tuple(example.shape[1:])}")
    return chunks


def _deploy(
    model: nn.Module, routes: tuple[str, ...], example: torch.Tensor, calibration: Iterable | None, threads: int | None
) -> dict[str, Deployment]:
    """Checks the request, then builds ``routes``: one route, or the ONNX Runtime routes together."""
    if not isinstance(model, nn.Module) or isinstance(model, torch.jit.ScriptModule):
        raise TypeError(f"expected model to be a float torch.nn.Module, got {type(model).__name__}")
    check_image_batch(example, name="example")
    threads = torch.get_num_threads() if threads is None else threads
    check_positive(threads, "threads", integer=True)
    if any(p.dtype != torch.float32 for p in model.parameters()) or any(
        type(m).__module__.startswith("torch.ao.nn.quantized") for m in model.modules()
    ):
        raise ValueError("expected a float32 model: deploy the float model, each int8 route quantizes it itself")
    for route in routes:
        if not route_available(route):
            raise ModuleNotFoundError(f"route {route!r} needs {', '.join(ROUTE_PACKAGES[route])}: pip install them")
    model = copy.deepcopy(model).eval()
    int8 = [r for r in routes if r in INT8_ROUTES]
    calibration = _calibration_chunks(calibration, example, int8[0]) if int8 else []
    route = routes[0]
    if route == "eager_int8":
        return {route: eager_int8_route(model, example, calibration)}
    module = MainOutput(model).eval()
    with torch.no_grad():
        output_tensor(model(example))  # fails early, in eager, for a model of another kind
    if route in ONNX_ROUTES:
        return onnx_routes(module, example, routes, calibration, threads)
    if route == "eager":
        return {route: eager_route(model, module, example)}
    if route == "compile":
        return {route: compile_route(module, example)}
    if route == "pt2e_int8":
        return {route: pt2e_int8_route(module, example, calibration)}
    return {route: executorch_route(module, example, route, calibration, threads)}
