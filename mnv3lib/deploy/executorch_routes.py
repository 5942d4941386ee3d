"""The ExecuTorch routes: the exported graph lowered to an ExecuTorch program (``.pte``) delegated to
XNNPACK, in float (``executorch``) or quantized with ExecuTorch's ``XNNPACKQuantizer``
(``executorch_int8``), and run by ExecuTorch's runtime."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import torch
from torch import nn

from .routes import Deployment
from .torch_routes import export_program, pt2e_quantize

__all__ = ["executorch_route"]


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
    """Point ExecuTorch at the ``flatc`` compiler its wheel ships, unless ``$FLATC_EXECUTABLE`` is set.

    ExecuTorch 1.0 looks for ``flatc`` on the PATH, where pip puts it only as a script of the
    environment: on the PATH in Colab or an activated environment, not in a kernel started as
    ``.venv/bin/python``. (Newer versions find the wheel's binary themselves; the variable changes
    nothing for them.) It sets a process-wide environment variable while lowering: not for threads
    that lower at the same time.
    """
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
    changes. Where ExecuTorch cannot report the size (1.0 has no ``_threadpool_get_thread_count``), the
    size this module set last stands in for it, so that the first deployment resets the pool once."""
    get_count = getattr(portable_lib, "_threadpool_get_thread_count", None)
    current = get_count() if get_count is not None else _executorch_threadpool.get("threads")
    if current != threads:
        portable_lib._unsafe_reset_threadpool(threads)
        _executorch_threadpool["threads"] = threads


def executorch_route(module: nn.Module, example: torch.Tensor, route: str, calibration: list[torch.Tensor], threads: int) -> Deployment:
    """``executorch`` or ``executorch_int8`` for ``module``, running on ``threads`` threads; what
    ExecuTorch logs while lowering and loading is kept off stderr."""
    with _stderr_silenced():
        return _lower_and_load(module, example, route, calibration, threads)


def _lower_and_load(module: nn.Module, example: torch.Tensor, route: str, calibration: list[torch.Tensor], threads: int) -> Deployment:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    if route == "executorch_int8":
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        module = pt2e_quantize(module, example, quantizer, calibration)
    with _flatc_found():
        program = to_edge_transform_and_lower(export_program(module, example), partitioner=[XnnpackPartitioner()]).to_executorch()
    buffer = program.buffer
    _size_executorch_threadpool(portable_lib, threads)
    loaded = Runtime.get().load_program(buffer)  # reads ``buffer`` in place: keep both alive
    method = loaded.load_method("forward")

    def run(images: torch.Tensor) -> torch.Tensor:
        _ = buffer, loaded
        return method.execute([images.contiguous()])[0]

    return Deployment(route, run, len(buffer), tuple(example.shape))
