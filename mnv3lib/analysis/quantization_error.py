"""Where int8 loses information: per-layer SQNR, weight error, storage and agreement with the float model.

Chapter 3 ("Quantization: QAT versus PTQ") uses these to show *why* post-training quantization hurts
MobileNetV3: each quantized layer's output is compared with the float model's at the same place.

Signal-to-quantization-noise ratio, in decibels: ``SQNR = 10 log10(Σ x² / Σ (x − x̂)²)`` for a float
signal ``x`` and its int8 version ``x̂`` (dequantized). Every 6 dB is one more bit of precision; 8 bits
used perfectly on a uniform signal give ~48 dB.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from ..checks import check_choice, check_image_batch, check_positive
from ..models.layers import ConvNormActivation, SqueezeExcitation
from ..models.mobilenetv3 import InvertedResidual
from ..devices import model_device
from ..models.quantization import ACTIVATION_OBSERVERS, QuantizableMobileNetV3, as_quantizable, ptq_qconfig

__all__ = [
    "Site",
    "sqnr_db",
    "quantization_sites",
    "layer_sqnr",
    "StorageReport",
    "storage_report",
    "prediction_agreement",
    "Int8Grid",
    "site_activations",
    "observe_grid",
    "GridError",
    "grid_error",
]


def sqnr_db(reference: torch.Tensor, approximation: torch.Tensor) -> float:
    """Signal-to-quantization-noise ratio of ``approximation`` against ``reference``, in dB (inf if equal)."""
    if reference.shape != approximation.shape:
        raise ValueError(f"expected tensors of the same shape, got {tuple(reference.shape)} and {tuple(approximation.shape)}")
    reference, approximation = reference.double(), approximation.double()
    noise = (reference - approximation).pow(2).sum()
    if noise == 0:
        return float("inf")
    return float(10 * torch.log10(reference.pow(2).sum() / noise))


@dataclass(frozen=True)
class Site:
    """One place in the network where a quantized tensor comes out.

    Attributes:
        name: The module's name (the same in the float and the int8 model).
        block: Index in ``model.features`` (``-1`` for the classifier).
        kind: ``"stem"``, ``"expand"``, ``"depthwise"``, ``"se"``, ``"project"``, ``"block output"``,
            ``"last conv"`` or ``"classifier"``.
        activation: ``"hardswish"``, ``"relu"``, ``"hardsigmoid"`` (SE's gate) or ``"none"``.
    """

    name: str
    block: int
    kind: str
    activation: str

    @property
    def group(self) -> str:
        """Kind and activation, e.g. ``"depthwise · hardswish"`` (SE's gate is implied by its kind)."""
        return f"{self.kind} · {self.activation}" if self.activation not in ("none", "hardsigmoid") else self.kind


def _unit_activation(unit: ConvNormActivation) -> str:
    last = unit[-1]
    return {"Hardswish": "hardswish", "ReLU": "relu"}.get(type(last).__name__, "none")


def quantization_sites(model: QuantizableMobileNetV3) -> list[Site]:
    """Every conv unit, SE module, block output and classifier layer of ``model``, in forward order."""
    sites: list[Site] = []
    for index, feature in enumerate(model.features):
        prefix = f"features.{index}"
        if isinstance(feature, InvertedResidual):
            kinds = (["expand"] if feature.config.has_expansion else []) + ["depthwise"]
            kinds += (["se"] if feature.config.use_se else []) + ["project"]
            for position, (unit, kind) in enumerate(zip(feature.block, kinds, strict=True)):
                activation = "hardsigmoid" if isinstance(unit, SqueezeExcitation) else _unit_activation(unit)
                sites.append(Site(f"{prefix}.block.{position}", index, kind, activation))
            sites.append(Site(prefix, index, "block output", "none"))
        else:
            kind = "stem" if index == 0 else "last conv"
            sites.append(Site(prefix, index, kind, _unit_activation(feature)))
    sites.append(Site("classifier.1", -1, "classifier", "hardswish"))  # Linear + Hardswish
    sites.append(Site("classifier.3", -1, "classifier", "none"))  # the logits
    return sites


def _capture(model: nn.Module, names: list[str], images: torch.Tensor) -> dict[str, torch.Tensor]:
    outputs: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    handles = [
        modules[name].register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out)) for name in names
    ]
    try:
        with torch.inference_mode():
            model(images)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def _module_weight(module: nn.Module) -> torch.Tensor | None:
    """A layer's weight tensor: the attribute of a float layer, ``weight()`` of an int8 one (None if it has none)."""
    weight = getattr(module, "weight", None)
    return weight() if callable(weight) else weight  # int8 modules unpack their weight in a method


def _conv_weight(unit: nn.Module) -> torch.Tensor | None:
    """The (BN-folded) weight of a conv unit's first layer, float or dequantized int8; None otherwise."""
    if not isinstance(unit, nn.Sequential):
        return None
    layer = unit[0]
    if isinstance(layer, nn.Sequential):  # a fused float conv + ReLU (torch.ao.nn.intrinsic.ConvReLU2d)
        layer = layer[0]
    weight = _module_weight(layer)
    if weight is None:
        return None
    return weight.dequantize() if weight.is_quantized else weight.detach()


def layer_sqnr(float_model: QuantizableMobileNetV3, int8_model: nn.Module, images: torch.Tensor) -> pd.DataFrame:
    """Per-site quantization error of ``int8_model`` against ``float_model`` on ``images``.

    Args:
        float_model: The float :class:`QuantizableMobileNetV3` the int8 model was made from.
        int8_model: Its int8 version (from :func:`~mnv3lib.models.quantization.quantize_ptq` or ``convert``).
        images: A batch to run, shape ``(B, 3, H, W)``.

    Returns:
        One row per :class:`Site` with columns ``site``, ``block``, ``kind``, ``activation``, ``group``,
        ``scale`` (the step between two int8 levels of that output), ``sqnr_db`` (the int8 model's output there against the float model's: the error accumulated
        up to that point), ``activation_sqnr_db`` (the float output rounded to that site's int8 scale
        and zero point alone: the error this layer's output format adds by itself) and
        ``weight_sqnr_db`` (the layer's BN-folded weights against their int8 version; conv units only).
    """
    check_image_batch(images)
    sites = quantization_sites(as_quantizable(float_model))
    reference = copy.deepcopy(float_model).eval()
    reference.fuse_model(is_qat=False)  # fold BatchNorm into the convs, as conversion does (names stay)
    names = [site.name for site in sites]
    float_out = _capture(reference, names, images)
    int8_out = _capture(int8_model, names, images)
    float_modules, int8_modules = dict(reference.named_modules()), dict(int8_model.named_modules())
    rows = []
    for site in sites:
        quantized = int8_out[site.name]
        if not quantized.is_quantized:
            raise TypeError(f"expected an int8 model, but {site.name} returned a float tensor: quantize the model first")
        exact = float_out[site.name]
        rounded = torch.quantize_per_tensor(exact, quantized.q_scale(), quantized.q_zero_point(), quantized.dtype)
        float_weight, int8_weight = _conv_weight(float_modules[site.name]), _conv_weight(int8_modules[site.name])
        rows.append({
            "site": site.name, "block": site.block, "kind": site.kind, "activation": site.activation, "group": site.group,
            "scale": quantized.q_scale(),
            "sqnr_db": sqnr_db(exact, quantized.dequantize()),
            "activation_sqnr_db": sqnr_db(exact, rounded.dequantize()),
            "weight_sqnr_db": sqnr_db(float_weight, int8_weight) if float_weight is not None and int8_weight is not None else float("nan"),
        })  # fmt: skip
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class StorageReport:
    """How much room a model's weights take.

    Attributes:
        file_mb: Size of its saved ``state_dict`` (``torch.save``), in MB (10⁶ bytes).
        weight_mb: Bytes of conv and linear weights alone, in MB.
        bits_per_weight: Average storage per weight element (32 for float32, 8 for int8).
    """

    file_mb: float
    weight_mb: float
    bits_per_weight: float


def _weight_tensors(model: nn.Module) -> Iterable[torch.Tensor]:
    for module in model.modules():
        weight = _module_weight(module)
        if isinstance(weight, torch.Tensor) and weight.dim() >= 2:  # conv and linear weights, not norms
            yield weight


def storage_report(model: nn.Module) -> StorageReport:
    """Saved size and weight storage of a float or int8 model."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    weights = list(_weight_tensors(model))
    weight_bytes = sum(w.numel() * w.element_size() for w in weights)
    elements = sum(w.numel() for w in weights)
    return StorageReport(buffer.getbuffer().nbytes / 1e6, weight_bytes / 1e6, 8 * weight_bytes / max(elements, 1))


def prediction_agreement(model_a: nn.Module, model_b: nn.Module, batches: Iterable) -> float:
    """Percentage of images on which the two models' top-1 predictions agree.

    ``batches`` yields image batches or ``(images, targets)`` pairs. Each model runs on its own device
    (an int8 model on the CPU, its float original possibly on a GPU).
    """
    agree, seen = 0, 0
    device_a, device_b = model_device(model_a), model_device(model_b)
    with torch.inference_mode():
        for item in batches:
            images = item[0] if isinstance(item, (tuple, list)) else item
            agree += int((model_a(images.to(device_a)).argmax(1).cpu() == model_b(images.to(device_b)).argmax(1).cpu()).sum())
            seen += len(images)
    if seen == 0:
        raise ValueError("batches yielded no images: cannot measure agreement")
    return 100 * agree / seen


# ---------------------------------------------------------------------------------------------------
# One activation and its int8 grid (Chapter 3's int8 grid explorer)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Int8Grid:
    """The int8 grid of one tensor: level ``q`` (an integer in ``[quant_min, quant_max]``) stands for the
    value ``scale · (q − zero_point)``; anything beyond the first or last level is clipped to it."""

    scale: float
    zero_point: int
    quant_min: int
    quant_max: int

    @property
    def low(self) -> float:
        """The smallest value the grid represents."""
        return self.scale * (self.quant_min - self.zero_point)

    @property
    def high(self) -> float:
        """The largest value the grid represents."""
        return self.scale * (self.quant_max - self.zero_point)


def site_activations(float_model: nn.Module, site: str, batches: Iterable) -> list[torch.Tensor]:
    """The float output at one quantization site (a module name, e.g. a :class:`Site`'s ``name``), batch by batch.

    BatchNorm is folded into the convs first when the model can fuse (``fuse_model``), as conversion does,
    so these are the values that the site's observer sees during calibration.

    Args:
        float_model: A float model, e.g. a :class:`~mnv3lib.models.quantization.QuantizableMobileNetV3`.
        site: The module whose output to record.
        batches: Image batches, or ``(images, targets)`` pairs as a ``DataLoader`` yields them.

    Returns:
        One tensor per batch, on the CPU.
    """
    modules = dict(float_model.named_modules())
    if not isinstance(site, str) or site not in modules:
        sites = [s.name for s in quantization_sites(float_model)] if isinstance(float_model, QuantizableMobileNetV3) else []
        example = f", e.g. one of {sites[:3]} … {sites[-2:]}" if sites else ""
        raise ValueError(f"expected site to name a module of the model{example}, got {site!r}")
    reference = copy.deepcopy(float_model).eval()
    if hasattr(reference, "fuse_model"):
        reference.fuse_model(is_qat=False)
    outputs = []
    for batch in batches:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        check_image_batch(images)
        outputs.append(_capture(reference, [site], images)[site].detach().cpu())
    if not outputs:
        raise ValueError("batches yielded no images: nothing to record")
    return outputs


def observe_grid(activations: Sequence[torch.Tensor], observer: str = "histogram", *, reduce_range: bool = True) -> Int8Grid:
    """The int8 grid that a PTQ observer picks after seeing each tensor of ``activations`` in turn.

    The observer is PyTorch's, made as :func:`~mnv3lib.models.quantization.ptq_qconfig` makes it for
    calibration (``quint8``, per tensor, affine), so the grid is the one :func:`quantize_ptq` gives that
    site when calibrated on the same batches.

    Args:
        activations: The site's outputs, one tensor per calibration batch (see :func:`site_activations`).
        observer: A key of :data:`~mnv3lib.models.quantization.ACTIVATION_OBSERVERS`.
        reduce_range: Use 7 of the 8 bits (x86's default), as in :func:`ptq_qconfig`.
    """
    check_choice(observer, "activation observer", ACTIVATION_OBSERVERS)
    if isinstance(activations, torch.Tensor) or not activations:
        raise TypeError("expected activations to be a non-empty list of tensors, one per calibration batch")
    watcher = ptq_qconfig(observer, reduce_range=bool(reduce_range)).activation()
    for values in activations:
        if not isinstance(values, torch.Tensor) or not values.is_floating_point():
            raise TypeError(f"expected float tensors in activations, got {type(values).__name__}")
        watcher(values.detach().float())
    scale, zero_point = watcher.calculate_qparams()
    return Int8Grid(float(scale), int(zero_point), int(watcher.quant_min), int(watcher.quant_max))


@dataclass(frozen=True)
class GridError:
    """What rounding to an int8 grid does to a set of values.

    Attributes:
        sqnr_db: Signal-to-quantization-noise ratio of the rounded values (see :func:`sqnr_db`).
        clipped_share: Fraction of the values beyond the grid's first or last level (clipped to it).
    """

    sqnr_db: float
    clipped_share: float


def grid_error(values: torch.Tensor, grid: Int8Grid) -> GridError:
    """Round ``values`` to ``grid`` as PyTorch does (``torch.fake_quantize_per_tensor_affine``) and measure the damage."""
    if not isinstance(values, torch.Tensor) or not values.is_floating_point() or values.numel() == 0:
        raise TypeError("expected a non-empty float tensor of values")
    if not isinstance(grid, Int8Grid):
        raise TypeError(f"expected an Int8Grid, got {type(grid).__name__}")
    check_positive(grid.scale, "grid.scale")
    values = values.detach().float().cpu()
    rounded = torch.fake_quantize_per_tensor_affine(values, grid.scale, grid.zero_point, grid.quant_min, grid.quant_max)
    levels = grid.zero_point + torch.round(values * (1.0 / torch.tensor(grid.scale, dtype=torch.float32)))
    clipped = (levels < grid.quant_min) | (levels > grid.quant_max)
    return GridError(sqnr_db(values, rounded), float(clipped.double().mean()))
