"""The routes of PyTorch itself: the eager model, Chapter 3's eager int8, and the ``torch.export``
graph compiled by inductor, in float (``compile``) and quantized with PT2E (``pt2e_int8``).

:func:`export_program` and :func:`pt2e_quantize` serve ExecuTorch's routes too
(:mod:`~mnv3lib.deploy.executorch_routes`).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import torch
from torch import nn

from ..models import MobileNetV3
from ..models import quantization as eager_quantization
from .routes import Deployment

__all__ = ["export_program", "pt2e_quantize", "eager_route", "eager_int8_route", "compile_route", "pt2e_int8_route"]


def _serialized_bytes(save: Callable[[io.BytesIO], None]) -> int:
    buffer = io.BytesIO()
    save(buffer)
    return buffer.getbuffer().nbytes


def export_program(module: nn.Module, example: torch.Tensor, *, strict: bool = False) -> torch.export.ExportedProgram:
    """``module``'s graph for inputs of ``example``'s shape (``torch.export``, non-strict by default)."""
    return torch.export.export(module, (example,), strict=strict)


def pt2e_quantize(module: nn.Module, example: torch.Tensor, quantizer: object, calibration: list[torch.Tensor]) -> nn.Module:
    """PT2E int8: annotate with ``quantizer``, calibrate on ``calibration``, convert.

    The graph is exported in strict mode, which records the layer each node comes from
    (``source_fn_stack``): torchao's ``X86InductorQuantizer`` finds the convolutions and linear layers
    by it (torchao 0.14 by nothing else), and annotates nothing in a non-strict export, which would
    leave the model float.
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    prepared = prepare_pt2e(export_program(module, example, strict=True).module(), quantizer)
    with torch.inference_mode():
        for chunk in calibration:
            prepared(chunk)
    return convert_pt2e(prepared)


def _compile_frozen(module: nn.Module, example: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``torch.compile`` with inductor, weights frozen into the graph (constant-folded, prepacked),
    compiled by a first call on ``example``.

    Freezing is set in inductor's config while that call compiles: as ``options={"freezing": True}``,
    torch 2.14 cannot compile PT2E int8 graphs (``onednn.qconv_prepack`` has no fake kernel on that path).
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


def eager_route(model: nn.Module, module: nn.Module, example: torch.Tensor) -> Deployment:
    """``eager``: ``module`` (``model`` returning its main output) in inference mode; the file is
    ``model``'s state dict."""
    size = _serialized_bytes(lambda f: torch.save(model.state_dict(), f))
    return Deployment("eager", torch.inference_mode()(module), size, tuple(example.shape))


def eager_int8_route(model: nn.Module, example: torch.Tensor, calibration: list[torch.Tensor]) -> Deployment:
    """``eager_int8``: Chapter 3's eager-mode PTQ of a float MobileNetV3 classifier, on x86."""
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


def compile_route(module: nn.Module, example: torch.Tensor) -> Deployment:
    """``compile``: the exported graph, compiled with frozen weights; the file is the ``.pt2``."""
    exported = export_program(module, example)
    size = _serialized_bytes(lambda f: torch.export.save(exported, f))
    return Deployment("compile", _compile_frozen(exported.module(), example), size, tuple(example.shape))


def pt2e_int8_route(module: nn.Module, example: torch.Tensor, calibration: list[torch.Tensor]) -> Deployment:
    """``pt2e_int8``: PT2E int8 with torchao's ``X86InductorQuantizer``, compiled with frozen weights;
    the file is the tensors the int8 graph reads."""
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as x86

    quantizer = x86.X86InductorQuantizer().set_global(x86.get_default_x86_inductor_quantization_config())
    converted = pt2e_quantize(module, example, quantizer, calibration)
    size = _serialized_bytes(lambda f: torch.save(_graph_constants(converted), f))
    return Deployment("pt2e_int8", _compile_frozen(converted, example), size, tuple(example.shape))
