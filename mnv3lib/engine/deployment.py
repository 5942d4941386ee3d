"""Shipping a trained model: today's CPU deployment routes, each checked against eager PyTorch.

Chapter 7 ("Deploying MobileNetV3") measures them side by side. Every route starts from the same
float model and returns a :class:`Deployment`: a callable that takes a batch of the example's
shape and returns the output tensor, with the size of the file that would ship.

=================  ==========================================================================
route              what it does
=================  ==========================================================================
eager              the float model itself, called from Python (the baseline)
eager_int8         Chapter 3's eager-mode PTQ (``torch.ao.quantization``, deprecated)
compile            ``torch.export`` graph, ``torch.compile`` with inductor and weight freezing
pt2e_int8          PT2E int8 with torchao's ``X86InductorQuantizer``, then ``torch.compile``
onnx               ONNX file from the dynamo exporter, run by ONNX Runtime
onnx_int8          the same file quantized by ONNX Runtime (static, QDQ, per-channel weights)
executorch         ExecuTorch program (``.pte``) delegated to XNNPACK, run by its runtime
executorch_int8    the same with PT2E int8 from ExecuTorch's ``XNNPACKQuantizer``
=================  ==========================================================================

:func:`deploy_routes` builds several routes of one model, sharing one ONNX export between the two
ONNX Runtime routes, and builds the ``torch.compile`` routes after the ExecuTorch ones (which reset
TorchDynamo, so that a compiled route built before them would compile again). The graph routes are specialised to the example's shape (batch size included):
deploy with a batch of 1 to time single images. :func:`check_outputs` splits larger batches to fit. ONNX, ONNX Runtime,
torchao and ExecuTorch are imported only by the routes that use them; :func:`deploy_requirements` names the
versions of them that go with the installed torch.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from ..checks import check_choice, check_image_batch, check_positive
from ..models import MobileNetV3
from ..models import quantization as eager_quantization

__all__ = [
    "ROUTES", "INT8_ROUTES", "DEPLOY_REQUIREMENTS", "Deployment", "OutputCheck", "deploy", "deploy_routes", "check_outputs",
    "route_available", "deploy_requirements",
]

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
_ONNX_ROUTES = ("onnx", "onnx_int8")  # built together by deploy_routes, from one export
_COMPILED_ROUTES = ("compile", "pt2e_int8")  # torch.compile: built last by deploy_routes, "compile" last of all
# The package each route needs beyond torch (import name).
_PACKAGES = {
    "pt2e_int8": ("torchao",),
    "onnx": ("onnx", "onnxscript", "onnxruntime"),
    "onnx_int8": ("onnx", "onnxscript", "onnxruntime"),
    "executorch": ("executorch",),
    "executorch_int8": ("executorch", "torchao"),
}

# The packages of the routes beyond torch, as pip requirements, for each torch (major.minor) they
# are tested with. ExecuTorch's and torchao's wheels are built against one torch, and recent
# ExecuTorch wheels do not say which (1.0.1 declares torch>=2.9,<2.10; 1.5.1 declares nothing), so
# an unpinned install picks versions built for another torch. "2.9" is Colab's torch, which
# `make test-colab` installs these into (Chapter 7's Colab cell installs the same); "2.14" is the
# book's, as constraints.txt pins it (`make test`). The lowest versions of the deploy extra in
# pyproject.toml are the "2.9" row (tests/test_reader_paths.py checks both). With torch 2.9,
# onnxscript before 0.6.2 fails in torch.onnx.export's opset conversion, 0.6.2 prints a line per
# export (0.7.0 logs it), and ONNX Runtime 1.20's quantize pre-processing fails on the export.
DEPLOY_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "2.9": ("onnx==1.17.0", "onnxscript==0.7.0", "onnxruntime==1.21.1", "torchao==0.14.0", "executorch==1.0.1"),
    "2.14": ("onnx==1.23.2", "onnxscript==0.7.2", "onnxruntime==1.32.0", "torchao==0.18.0", "executorch==1.5.1"),
}


def deploy_requirements(torch_version: str | None = None) -> list[str]:
    """The pip requirements of the deployment routes (ONNX, ONNX Runtime, torchao, ExecuTorch) for
    a torch version: the versions tested with it, from :data:`DEPLOY_REQUIREMENTS`.

    Args:
        torch_version: A torch version such as ``"2.9.1+cu126"`` (default: the installed torch's).

    Returns:
        Requirement strings for ``pip install``, e.g. ``["onnx==1.17.0", ...]``.

    Raises:
        TypeError: ``torch_version`` is not a string.
        ValueError: no set of versions is tested with that torch's major.minor.
    """
    version = torch.__version__ if torch_version is None else torch_version
    if not isinstance(version, str):
        raise TypeError(f"expected torch_version to be a version string such as '2.9.1', got {type(version).__name__}")
    major_minor = ".".join(version.split("+")[0].split(".")[:2])
    if major_minor not in DEPLOY_REQUIREMENTS:
        raise ValueError(
            f"no tested versions of the deployment packages for torch {version!r}: mnv3lib knows torch "
            f"{' and '.join(DEPLOY_REQUIREMENTS)}. Install the torch of one of them, or versions of "
            "onnx, onnxscript, onnxruntime, torchao and executorch built for your torch (ExecuTorch's "
            "and torchao's release notes name it)"
        )
    return list(DEPLOY_REQUIREMENTS[major_minor])


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


def route_available(route: str) -> bool:
    """True when the packages ``route`` needs can be imported."""
    check_choice(route, "deployment route", tuple(ROUTES))
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in _PACKAGES.get(route, ()))


def _output_tensor(output: object) -> torch.Tensor:
    """The main output: a tensor, or the ``"out"`` entry of a segmentation model's dict."""
    if isinstance(output, dict):
        output = output["out"]
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"expected the model to return a tensor or a dict with 'out', got {type(output).__name__}")
    return output


class _MainOutput(nn.Module):
    """Wraps a model so that it returns one tensor (segmentation models return a dict)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return _output_tensor(self.model(images))


def _chunks(batches: Iterable, size: int) -> Iterator[tuple[torch.Tensor, int]]:
    """Images of ``batches`` (tensors or ``(images, targets)`` pairs) regrouped ``size`` at a time;
    the last group is padded with zeros. Yields ``(chunk, number of real images in it)``."""
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


def _calibration_chunks(calibration: Iterable | None, example: torch.Tensor, route: str) -> list[torch.Tensor]:
    if calibration is None:
        raise ValueError(f"route {route!r} quantizes with static activation ranges: pass calibration batches")
    chunks = [chunk for chunk, real in _chunks(calibration, example.shape[0]) if real == example.shape[0]]
    if not chunks:
        raise ValueError(f"calibration yielded fewer than {example.shape[0]} images (the example's batch size)")
    if tuple(chunks[0].shape[1:]) != tuple(example.shape[1:]):
        raise ValueError(f"calibration images are {tuple(chunks[0].shape[1:])}, the example is {tuple(example.shape[1:])}")
    return chunks


def _serialized_bytes(save: Callable[[io.BytesIO], None]) -> int:
    buffer = io.BytesIO()
    save(buffer)
    return buffer.getbuffer().nbytes


def _compile_frozen(module: nn.Module, example: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``torch.compile`` with inductor, weights frozen into the graph (constant-folded, prepacked).

    Freezing is set in inductor's config while the first call compiles: passing it as
    ``options={"freezing": True}`` fails for PT2E int8 graphs in torch 2.14 (``onednn.qconv_prepack``
    has no fake kernel on that path).
    """
    compiled = torch.compile(module, dynamic=False)
    # Compiled and called in inference mode, on ordinary tensors: a change of grad mode, or an
    # inference tensor as input (another dispatch key set), would make it compile again.
    def run(images: torch.Tensor) -> torch.Tensor:
        if images.is_inference():
            with torch.inference_mode(False):
                images = images.clone()
        with torch.inference_mode():
            return compiled(images)

    with torch._inductor.config.patch(freezing=True):
        run(example)

    return run


def _export(module: nn.Module, example: torch.Tensor, *, strict: bool = False) -> torch.export.ExportedProgram:
    return torch.export.export(module, (example,), strict=strict)


def _pt2e_quantize(module: nn.Module, example: torch.Tensor, quantizer: object, calibration: list[torch.Tensor]) -> nn.Module:
    """PT2E int8: annotate, calibrate, convert. The graph is exported in strict mode, which records
    the layer each node comes from (``source_fn_stack``): torchao 0.14's ``X86InductorQuantizer``
    finds the convolutions and linear layers by it, and from a non-strict export (the default)
    annotates nothing, so that the model would stay float."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    prepared = prepare_pt2e(_export(module, example, strict=True).module(), quantizer)
    with torch.inference_mode():
        for chunk in calibration:
            prepared(chunk)
    return convert_pt2e(prepared)


def _graph_constants(module: torch.fx.GraphModule) -> dict[str, torch.Tensor]:
    """The tensors a graph reads (int8 weights, scales, zero points, biases). ``convert_pt2e`` leaves
    the unused float weights on the module too, so its state dict would overstate the file."""
    constants = {}
    for node in module.graph.nodes:
        if node.op == "get_attr":
            value = module
            for part in node.target.split("."):
                value = getattr(value, part)
            if isinstance(value, torch.Tensor):
                constants[node.target] = value
    return constants


def _eager_int8(model: nn.Module, example: torch.Tensor, calibration: list[torch.Tensor]) -> Deployment:
    if type(model) is not MobileNetV3:
        raise ValueError(
            f"route 'eager_int8' takes a float MobileNetV3 classifier (Chapter 3's eager-mode quantization), "
            f"got {type(model).__name__}: use 'pt2e_int8' or 'onnx_int8'"
        )
    quantizable = eager_quantization.QuantizableMobileNetV3(
        model.block_configs,
        model.classifier[0].out_features,
        num_classes=model.classifier[-1].out_features,
        dropout=model.classifier[2].p,
    )
    quantizable.load_state_dict(model.state_dict())
    int8 = eager_quantization.quantize_ptq(quantizable.eval(), calibration, backend="x86")
    size = _serialized_bytes(lambda f: torch.save(int8.state_dict(), f))
    return Deployment("eager_int8", torch.inference_mode()(int8), size, tuple(example.shape))


def _onnx_session(path: str, threads: int) -> Callable[[torch.Tensor], torch.Tensor]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # idle worker threads sleep instead of spinning, so that they do not slow down whatever runs
    # between two calls (the other routes, in an interleaved comparison)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def run(images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {input_name: images.numpy()})[0])

    return run


def _onnx(
    module: nn.Module, example: torch.Tensor, routes: tuple[str, ...], calibration: list[torch.Tensor], threads: int
) -> dict[str, Deployment]:
    """The ONNX Runtime ``routes`` from one export: ``onnx`` runs the exported file, ``onnx_int8``
    quantizes that same file."""
    from onnxruntime import quantization as ort_quantization

    shape, deployments = tuple(example.shape), {}
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "model.onnx")
        program = torch.onnx.export(module, (example,), dynamo=True, verbose=False)
        program.save(path)
        # each session keeps its model in memory: the files can go with the directory
        if "onnx" in routes:
            deployments["onnx"] = Deployment("onnx", _onnx_session(path, threads), os.path.getsize(path), shape)
        if "onnx_int8" in routes:
            input_name = program.model.graph.inputs[0].name

            class Reader(ort_quantization.CalibrationDataReader):
                def __init__(self) -> None:
                    self.feeds = iter([{input_name: chunk.numpy()} for chunk in calibration])

                def get_next(self) -> dict | None:
                    return next(self.feeds, None)

            prepared = os.path.join(work, "prepared.onnx")
            ort_quantization.quant_pre_process(path, prepared)  # shape inference and graph clean-up
            int8_path = os.path.join(work, "model_int8.onnx")
            ort_quantization.quantize_static(
                prepared, int8_path, Reader(), quant_format=ort_quantization.QuantFormat.QDQ, per_channel=True,
                activation_type=ort_quantization.QuantType.QUInt8, weight_type=ort_quantization.QuantType.QInt8,
            )  # fmt: skip
            run = _onnx_session(int8_path, threads)
            deployments["onnx_int8"] = Deployment("onnx_int8", run, os.path.getsize(int8_path), shape)
    return deployments


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Discard what is written to stderr: by C++ code to the process's file descriptor 2, and by
    Python to ``sys.stderr``. ExecuTorch's runtime logs through both: its Python bindings write its
    log lines (CPU probing, thread pool size) to ``sys.stderr``, which a notebook shows as output."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def _flatc_found() -> Iterator[None]:
    """Point ExecuTorch at the ``flatc`` compiler its wheel ships, unless ``$FLATC_EXECUTABLE`` is
    set. ExecuTorch 1.0 runs ``flatc`` from the PATH, where pip puts it only as a script of the
    environment (on the PATH in Colab or an activated environment, not in a kernel started as
    ``.venv/bin/python``); later versions (1.5.1) find the wheel's binary themselves. It sets a
    process-wide environment variable while lowering: not for threads that lower at the same time."""
    import importlib.resources

    try:
        flatc = importlib.resources.files("executorch.data.bin") / "flatc"
    except ModuleNotFoundError:  # an ExecuTorch without the bundled binary: its own lookup decides
        flatc = None
    if "FLATC_EXECUTABLE" in os.environ or flatc is None or not flatc.is_file():
        yield
        return
    os.environ["FLATC_EXECUTABLE"] = str(flatc)
    try:
        yield
    finally:
        os.environ.pop("FLATC_EXECUTABLE", None)


_executorch_threadpool: dict[str, int] = {}  # the size this module last gave ExecuTorch's thread pool


def _size_executorch_threadpool(portable_lib: object, threads: int) -> None:
    """Give ExecuTorch's global thread pool ``threads`` threads, resetting it only when its size
    changes. ExecuTorch 1.0 cannot report the size (no ``_threadpool_get_thread_count``): there the
    size this module set last stands in for it, so that the first deployment resets the pool once."""
    get_count = getattr(portable_lib, "_threadpool_get_thread_count", None)
    current = get_count() if get_count is not None else _executorch_threadpool.get("threads")
    if current != threads:
        portable_lib._unsafe_reset_threadpool(threads)
        _executorch_threadpool["threads"] = threads


def _executorch(module: nn.Module, example: torch.Tensor, route: str, calibration: list[torch.Tensor], threads: int) -> Deployment:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    if route == "executorch_int8":
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        module = _pt2e_quantize(module, example, quantizer, calibration)
    with _flatc_found():
        program = to_edge_transform_and_lower(_export(module, example), partitioner=[XnnpackPartitioner()]).to_executorch()
    buffer = program.buffer
    _size_executorch_threadpool(portable_lib, threads)
    loaded = Runtime.get().load_program(buffer)  # reads ``buffer`` in place: keep both alive
    method = loaded.load_method("forward")

    def run(images: torch.Tensor) -> torch.Tensor:
        _ = buffer, loaded
        return method.execute([images.contiguous()])[0]

    return Deployment(route, run, len(buffer), tuple(example.shape))


def deploy(
    model: nn.Module,
    route: str,
    example: torch.Tensor,
    calibration: Iterable | None = None,
    *,
    threads: int | None = None,
) -> Deployment:
    """Deploy a float model by one of :data:`ROUTES`.

    Args:
        model: A float model in eval mode (left unchanged): a MobileNetV3 classifier, or a
            segmentation model that returns ``{"out": ...}``.
        route: A key of :data:`ROUTES`.
        example: An input of the shape to deploy for, ``(N, 3, H, W)``.
        calibration: Batches of images (or ``(images, targets)`` pairs) for the int8 routes'
            activation ranges; regrouped to the example's batch size.
        threads: CPU threads for ONNX Runtime and ExecuTorch (default: torch's current setting).

    Returns:
        A :class:`Deployment`.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, or ``example`` not a float tensor.
        ValueError: an unknown route, a non-4D example, a model the route cannot take, or an int8
            route without calibration images.
        ModuleNotFoundError: the package the route needs is not installed.
    """
    check_choice(route, "deployment route", tuple(ROUTES))
    return _deploy(model, (route,), example, calibration, threads)[route]


def _build_order(route: str) -> tuple[bool, bool]:
    """Where ``route`` goes in the build order: the ``torch.compile`` routes after the others, and
    ``compile`` after ``pt2e_int8``. ExecuTorch's partitioner and PT2E's strict export reset
    TorchDynamo, which empties the code compiled before them: that route would compile again at its
    first call, outside the freezing this module compiles it with (slower, and another graph)."""
    return route in _COMPILED_ROUTES, route == "compile"


def deploy_routes(
    model: nn.Module,
    routes: Iterable[str],
    example: torch.Tensor,
    calibration: Iterable | None = None,
    *,
    threads: int | None = None,
) -> dict[str, Deployment]:
    """Deploy a float model by several routes, as :func:`deploy` does one by one, but sharing what
    they have in common: one ONNX export serves both ONNX Runtime routes (``onnx_int8`` quantizes
    the file that ``onnx`` runs). The ``torch.compile`` routes are built last: building an
    ExecuTorch route resets TorchDynamo (XNNPACK's partitioner exports its pattern graphs in strict
    mode), which empties the compiled code of the routes built before it, so that they would compile
    again at their next call.

    Args:
        routes: Keys of :data:`ROUTES`, each once.
        model, example, calibration, threads: As for :func:`deploy`.

    Returns:
        Route → :class:`Deployment`, in the order of ``routes``.
    """
    routes = tuple(routes)
    if not routes:
        raise ValueError("expected at least one deployment route, got none")
    for route in routes:
        check_choice(route, "deployment route", tuple(ROUTES))
    if len(set(routes)) != len(routes):
        raise ValueError(f"expected each route once, got {list(routes)}")
    onnx = tuple(r for r in routes if r in _ONNX_ROUTES)
    deployments: dict[str, Deployment] = {}
    for route in sorted(routes, key=_build_order):  # stable: otherwise in order
        if route not in deployments:
            deployments.update(_deploy(model, onnx if route in onnx else (route,), example, calibration, threads))
    return {route: deployments[route] for route in routes}


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
            raise ModuleNotFoundError(f"route {route!r} needs {', '.join(_PACKAGES[route])}: pip install them")
    model = copy.deepcopy(model).eval()
    int8 = [r for r in routes if r in INT8_ROUTES]
    calibration = _calibration_chunks(calibration, example, int8[0]) if int8 else []
    route = routes[0]
    if route == "eager_int8":
        return {route: _eager_int8(model, example, calibration)}
    module = _MainOutput(model).eval()
    with torch.no_grad():
        _output_tensor(model(example))  # fails early, in eager, for a model of another kind
    if route in _ONNX_ROUTES:
        return _onnx(module, example, routes, calibration, threads)
    if route == "eager":
        size = _serialized_bytes(lambda f: torch.save(model.state_dict(), f))
        return {route: Deployment(route, torch.inference_mode()(module), size, tuple(example.shape))}
    if route == "compile":
        exported = _export(module, example)
        size = _serialized_bytes(lambda f: torch.export.save(exported, f))
        return {route: Deployment(route, _compile_frozen(exported.module(), example), size, tuple(example.shape))}
    if route == "pt2e_int8":
        import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as x86

        quantizer = x86.X86InductorQuantizer().set_global(x86.get_default_x86_inductor_quantization_config())
        converted = _pt2e_quantize(module, example, quantizer, calibration)
        size = _serialized_bytes(lambda f: torch.save(_graph_constants(converted), f))
        return {route: Deployment(route, _compile_frozen(converted, example), size, tuple(example.shape))}
    with _stderr_silenced():  # ExecuTorch's lowering and runtime log CPU probing there
        return {route: _executorch(module, example, route, calibration, threads)}


def check_outputs(reference: nn.Module, deployment: Deployment, batches: Iterable) -> OutputCheck:
    """Compare ``deployment`` with the eager ``reference`` model on every image of ``batches``.

    Args:
        reference: The float model the deployment was made from.
        deployment: What :func:`deploy` returned.
        batches: Batches of images or ``(images, targets)`` pairs, any batch size (regrouped to the
            deployment's).

    Returns:
        An :class:`OutputCheck`.
    """
    if not isinstance(deployment, Deployment):
        raise TypeError(f"expected a Deployment (from deploy()), got {type(deployment).__name__}")
    max_diff, same, count = 0.0, 0, 0
    with torch.inference_mode():
        for chunk, real in _chunks(batches, deployment.input_shape[0]):
            expected = _output_tensor(reference(chunk))[:real]
            actual = deployment(chunk)[:real]
            max_diff = max(max_diff, float((expected - actual).abs().max()))
            same += int((expected.argmax(1) == actual.argmax(1)).sum())
            count += expected.argmax(1).numel()
    if count == 0:
        raise ValueError("batches yielded no image to compare")
    return OutputCheck(max_diff, 100.0 * same / count, count)
