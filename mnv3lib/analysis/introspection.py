"""Look inside a MobileNetV3: a per-layer table, parameter counts and multiply-adds.

Multiply-adds (MACs) count the convolutions and Linear layers, as ``torch.utils.flop_counter``
does (FLOPs = 2 × MACs). That is the quantity TorchVision's weight metadata reports as ``_ops``
(0.217 G for Large and 0.057 G for Small at 224×224), even though its docs label it "GFLOPS".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from ..checks import check_positive
from ..models.mobilenetv3 import InvertedResidual, MobileNetV3, mobilenet_v3

__all__ = ["ModelSummary", "block_table", "count_parameters", "count_macs", "forward_macs", "summarize", "as_model"]

TABLE_COLUMNS = (
    "index", "layer", "stage", "in", "expanded", "out", "kernel", "stride", "dilation",
    "SE", "activation", "output", "params", "MACs",
)  # fmt: skip


@dataclass(frozen=True)
class ModelSummary:
    """Totals of a model at one input size."""

    params: int
    macs: int
    output_stride: int
    feature_size: tuple[int, int]

    def __str__(self) -> str:
        h, w = self.feature_size
        return (
            f"{self.params / 1e6:.3f} M params, {self.macs / 1e9:.3f} G multiply-adds, "
            f"output stride {self.output_stride} ({h}×{w} features)"
        )


def as_model(model: nn.Module | str, **config: object) -> nn.Module:
    """Return ``model`` itself, or build the named architecture with ``config`` (random weights)."""
    if isinstance(model, nn.Module):
        if config:
            raise TypeError(f"config {sorted(config)} only applies when model is an architecture name")
        return model
    return mobilenet_v3(model, **config)


def _input_hw(input_size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    if not (isinstance(input_size, tuple) and len(input_size) == 2):
        raise TypeError(f"expected input_size to be an int or an (H, W) tuple, got {input_size!r}")
    for side in input_size:
        check_positive(side, "input_size", integer=True)
    return input_size


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (only those with ``requires_grad`` when ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    """Multiply-adds of one Conv2d or Linear call, over every row of its batch (one image in, one row
    out for a classifier; one row per region of interest in a detector's heads)."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups * kh * kw)
    return output.numel() * module.in_features


def _trace_shapes_and_macs(
    model: nn.Module, input_size: int | tuple[int, int]
) -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
    """Run one image through ``model``; return each top-level layer's output shape and its MACs.

    Top-level layers are ``features.<i>``, ``avgpool`` and ``classifier`` (or the model's own children).
    """
    h, w = _input_hw(input_size)
    top_level = dict(model.features.named_children()) if hasattr(model, "features") else {}
    top_level = {f"features.{k}": m for k, m in top_level.items()}
    for name, child in model.named_children():
        if name != "features":
            top_level[name] = child
    shapes: dict[str, tuple[int, ...]] = {}
    macs: dict[str, int] = defaultdict(int)
    handles = []
    for name, module in top_level.items():
        handles.append(module.register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape))))
        for leaf in module.modules():
            if isinstance(leaf, (nn.Conv2d, nn.Linear)):
                handles.append(
                    leaf.register_forward_hook(lambda m, i, o, name=name: macs.__setitem__(name, macs[name] + _layer_macs(m, o)))
                )
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, h, w))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return shapes, dict(macs)


def count_macs(model: nn.Module | str, input_size: int | tuple[int, int] = 224, **config: object) -> int:
    """Multiply-adds of one forward pass of one image (convolutions and Linear layers)."""
    _, macs = _trace_shapes_and_macs(as_model(model, **config), input_size)
    return sum(macs.values())


def forward_macs(model: nn.Module, inputs: object) -> int:
    """Multiply-adds of the convolutions and Linear layers in one eval-mode call ``model(inputs)``, for any
    model (a detector's depend on how many proposals its heads see, so on the weights and the image)."""
    total = 0

    def add(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += _layer_macs(module, output)

    handles = [m.register_forward_hook(add) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total


def _module_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _block_row(index: int, stage: int, block: InvertedResidual) -> dict[str, object]:
    c = block.config
    return {
        "index": index, "layer": "bneck", "stage": stage, "in": c.in_channels, "expanded": c.expanded_channels,
        "out": c.out_channels, "kernel": c.kernel_size, "stride": c.stride, "dilation": c.dilation,
        "SE": c.squeeze_channels or 0, "activation": c.activation,
    }  # fmt: skip


def _conv_row(index: int, stage: int, name: str, unit: nn.Sequential) -> dict[str, object]:
    conv = unit[0]
    activation = type(unit[2]).__name__.lower() if len(unit) > 2 else "linear"
    return {
        "index": index, "layer": name, "stage": stage, "in": conv.in_channels, "expanded": conv.out_channels,
        "out": conv.out_channels, "kernel": conv.kernel_size[0], "stride": conv.stride[0],
        "dilation": conv.dilation[0], "SE": 0, "activation": activation,
    }  # fmt: skip


def block_table(
    model: nn.Module | str = "mobilenet_v3_large", *, input_size: int | tuple[int, int] = 224, **config: object
) -> pd.DataFrame:
    """One row per layer of a MobileNetV3: stem, every bneck block, last conv, pooling and classifier.

    Args:
        model: A :class:`~mnv3lib.models.MobileNetV3`, or an architecture name built with ``config``
            (``width_mult``, ``reduced_tail``, ``dilated``, ``num_classes``...).
        input_size: Input side (or ``(H, W)``) used for the output resolution and the MACs.

    Returns:
        A DataFrame with columns index, layer, stage, in, expanded, out, kernel, stride, dilation,
        SE (squeeze channels, 0 = no SE), activation, output (H×W), params, MACs. ``stage`` grows at
        every block that starts a stage (stride 2 in the paper's table, dilated or not).
    """
    model = as_model(model, **config)
    if not isinstance(model, MobileNetV3):
        raise TypeError(f"expected a MobileNetV3 or an architecture name, got {type(model).__name__}")
    shapes, macs = _trace_shapes_and_macs(model, input_size)
    rows, stage = [], 0
    last = len(model.features) - 1
    for index, module in enumerate(model.features):
        if isinstance(module, InvertedResidual):
            stage += module.config.starts_stage
            row = _block_row(index, stage, module)
        else:
            row = _conv_row(index, stage, "stem" if index == 0 else "last conv", module)
        rows.append(row | {"key": f"features.{index}", "params": _module_params(module)})
    hidden = model.classifier[0]
    rows.append({"index": last + 1, "layer": "avgpool", "stage": stage, "in": hidden.in_features,
                 "out": hidden.in_features, "key": "avgpool", "params": 0})  # fmt: skip
    rows.append({"index": last + 2, "layer": "classifier", "stage": stage, "in": hidden.in_features,
                 "expanded": hidden.out_features, "out": model.classifier[-1].out_features,
                 "activation": "hardswish", "key": "classifier", "params": _module_params(model.classifier)})  # fmt: skip
    for row in rows:
        key = row.pop("key")
        shape = shapes[key]
        row["output"] = f"{shape[2]}×{shape[3]}" if len(shape) == 4 else "1×1"
        row["MACs"] = macs.get(key, 0)
    table = pd.DataFrame(rows).reindex(columns=list(TABLE_COLUMNS))
    for column in ("expanded", "kernel", "stride", "dilation", "SE"):
        table[column] = table[column].astype("Int64")
    return table.fillna({"activation": "–"}).set_index("index")


def summarize(model: nn.Module | str, input_size: int | tuple[int, int] = 224, **config: object) -> ModelSummary:
    """Parameters, multiply-adds and output stride of a model at one input size."""
    model = as_model(model, **config)
    h, w = _input_hw(input_size)
    shapes, macs = _trace_shapes_and_macs(model, (h, w))
    feature_shape = shapes[f"features.{len(model.features) - 1}"]
    feature_size = (feature_shape[2], feature_shape[3])
    return ModelSummary(count_parameters(model), sum(macs.values()), h // feature_size[0], feature_size)
