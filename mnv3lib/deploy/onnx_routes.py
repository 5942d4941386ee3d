"""The ONNX Runtime routes: ``onnx`` runs the file of PyTorch's dynamo exporter, ``onnx_int8`` that same
file quantized by ONNX Runtime (static, QDQ, per-channel weights)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

import torch
from torch import nn

from .routes import Deployment

__all__ = ["onnx_routes"]


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


def onnx_routes(module: nn.Module, example: torch.Tensor, routes: tuple[str, ...], calibration: list[torch.Tensor], threads: int) -> dict[str, Deployment]:
    """The ONNX Runtime ``routes`` (``onnx``, ``onnx_int8`` or both) from one export of ``module``;
    each session runs on ``threads`` threads."""
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
