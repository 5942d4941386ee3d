"""Book models for the reader's browser: ONNX files with the outputs an explainer draws.

The in-browser explorers (:mod:`mnv3lib.viz.browser_explorers`) run a model with ONNX Runtime Web on
what the reader draws. A classifier's file returns, besides its logits, what the page draws of the
network thinking: a few channels of every layer's output (the stem, each inverted-residual block and
the last 1×1 conv; average-pooled when larger than the page draws them) and every squeeze-and-excite
gate (Section 5.3 of the paper: one value in [0, 1] per expanded channel). A segmentation model's file
returns its logits at the input's size.

Each ``NAME.onnx`` comes with ``NAME.json``, its manifest: the input and how the page must prepare it
(the book's evaluation transform, as numbers), the outputs and what they are, the class names, each
layer's activation and SE, and for an int8 file how it was quantized. The explorers read the manifest
before the model, and check it against what Python embedded in the page.

Two file formats of the same network:

* float32, exported by ``torch.onnx.export`` with BatchNorm kept as its own node and every weight
  that is exactly a float16 number (all of them for the book's checkpoints, which store float16
  weights) stored as float16 with a ``Cast`` back to float32. ONNX Runtime folds the casts and the
  BatchNorms into the convolutions when it loads the file, so the outputs are those of the plain
  float32 export, for half the download;
* int8, quantized by ONNX Runtime (static, QDQ, per-channel int8 weights, uint8 activations
  calibrated on the given images), as Chapter 7's ``onnx_int8`` deployment route does.

:func:`run_browser_model` runs a file with ONNX Runtime in Python: the browser tests compare the page's
numbers with it, and the tests of this module compare it with PyTorch.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torchvision import tv_tensors

from ..checks import check_image_batch, check_positive
from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD, classification_eval_transform
from ..data.transforms import segmentation_transforms
from ..models.layers import SqueezeExcitation
from ..models.mobilenetv3 import InvertedResidual, MobileNetV3

__all__ = [
    "MANIFEST_FORMAT",
    "Preprocessing",
    "BrowserModel",
    "layer_summary",
    "ExplainedMobileNetV3",
    "most_varied_channels",
    "export_browser_classifier",
    "export_browser_segmenter",
    "quantize_browser_model",
    "run_browser_model",
]

MANIFEST_FORMAT = "mnv3-browser-model/1"
INPUT_NAME = "images"


# ---------------------------------------------------------------------------------------------------
# What the page does to the reader's pixels
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preprocessing:
    """The book's evaluation transform of a square uint8 image, as numbers the page applies.

    The page draws at ``resize_size`` pixels (so the resize is the identity), takes the centre
    ``crop_size`` square, and computes ``(pixel * float32(1 / 255) - mean) / std`` in float32, which is
    what ``transforms.v2.ToDtype(scale=True)`` and ``Normalize`` compute.

    Attributes:
        task: ``"classification"`` (``classification_eval_transform``, ImageNet mean and std) or
            ``"segmentation"`` (``segmentation_transforms(train=False)``: no normalisation, no crop).
        resize_size: Side of the image the page draws (the transform's resize).
        crop_size: Side of the centre crop the model sees.
    """

    task: str
    resize_size: int
    crop_size: int

    def __post_init__(self) -> None:
        if self.task not in ("classification", "segmentation"):
            raise ValueError(f"expected task 'classification' or 'segmentation', got {self.task!r}")
        check_positive(self.resize_size, "resize_size", integer=True)
        check_positive(self.crop_size, "crop_size", integer=True)
        if self.crop_size > self.resize_size or (self.task == "segmentation" and self.crop_size != self.resize_size):
            raise ValueError(
                f"expected crop_size <= resize_size (equal for segmentation), got {self.crop_size} and {self.resize_size}"
            )

    @property
    def mean(self) -> tuple[float, float, float]:
        return IMAGENET_MEAN if self.task == "classification" else (0.0, 0.0, 0.0)

    @property
    def std(self) -> tuple[float, float, float]:
        return IMAGENET_STD if self.task == "classification" else (1.0, 1.0, 1.0)

    def transform(self) -> nn.Module:
        """The book's own transform (TorchVision ``v2``), of which the page's is a copy."""
        if self.task == "classification":
            return classification_eval_transform(self.resize_size, self.crop_size)
        return segmentation_transforms(self.resize_size, train=False)

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        """A ``(1, 3, crop, crop)`` float32 batch from a ``(3, resize, resize)`` uint8 image."""
        if not isinstance(pixels, torch.Tensor) or pixels.dtype != torch.uint8:
            raise TypeError(f"expected a uint8 image tensor, got {getattr(pixels, 'dtype', type(pixels).__name__)}")
        if tuple(pixels.shape) != (3, self.resize_size, self.resize_size):
            raise ValueError(f"expected an image of shape (3, {self.resize_size}, {self.resize_size}), got {tuple(pixels.shape)}")
        return self.transform()(tv_tensors.Image(pixels)).as_subclass(torch.Tensor).unsqueeze(0)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "resize_size": self.resize_size, "crop_size": self.crop_size, "mean": list(self.mean), "std": list(self.std)}


# ---------------------------------------------------------------------------------------------------
# The classifier, explained: its layers' outputs and SE gates as outputs
# ---------------------------------------------------------------------------------------------------


def _check_classifier(model: object) -> MobileNetV3:
    if not isinstance(model, MobileNetV3):
        raise TypeError(f"expected a MobileNetV3 classifier (mnv3lib.models.mobilenet_v3_small/large), got {type(model).__name__}")
    return model


def _check_eval_mode(model: nn.Module) -> nn.Module:
    """Exports and channel choices describe inference: BatchNorm's running statistics, no dropout."""
    if model.training:
        raise ValueError(f"expected the {type(model).__name__} in eval mode (its BatchNorm statistics are exported): call model.eval() first")
    return model


def layer_summary(model: MobileNetV3) -> list[dict[str, Any]]:
    """One entry per layer of ``model.features``, as the explorers' strip shows it.

    Each entry: ``kind`` (``"stem"``, ``"block"`` or ``"last"``), ``activation`` (``"hardswish"`` or
    ``"relu"``), ``se`` (a squeeze-and-excite gate), ``stride`` (output stride after the layer),
    ``out_channels``, and for a block ``expanded_channels``, ``kernel_size`` and ``residual``.
    """
    _check_classifier(model)
    info = {entry["index"]: entry for entry in model.feature_info}
    layers, stride = [], 2
    for index, layer in enumerate(model.features):
        if isinstance(layer, InvertedResidual):
            config = layer.config
            stride *= config.effective_stride
            entry = {
                "kind": "block", "activation": config.activation, "se": config.use_se, "stride": stride,
                "out_channels": config.out_channels, "expanded_channels": config.expanded_channels,
                "kernel_size": config.kernel_size, "residual": config.use_residual,
            }  # fmt: skip
        else:
            entry = {"kind": "stem" if index == 0 else "last", "activation": "hardswish", "se": False, "stride": stride, "out_channels": layer.out_channels}
        entry["stage_start"] = index in info
        layers.append(entry)
    return layers


class ExplainedMobileNetV3(nn.Module):
    """A MobileNetV3 classifier whose forward also returns what an explainer draws.

    The layers run exactly as in ``model.forward`` (the same modules, in the same order); on the way,
    each layer's output is kept for the ``channels`` chosen for it, average-pooled to at most
    ``max_map_size`` × ``max_map_size``, and each SE block's gate is kept.

    Args:
        model: The classifier (eval mode).
        channels: For each layer of ``model.features``, the channel indices to keep.
        max_map_size: Largest side of a kept map; larger maps are average-pooled down to it.

    Shape:
        ``(N, 3, H, W)`` → ``(logits (N, classes), *maps (N, k, h, w) per layer, *gates (N, C) per SE block)``
    """

    def __init__(self, model: MobileNetV3, channels: Sequence[Sequence[int]], max_map_size: int = 28) -> None:
        super().__init__()
        self.model = _check_classifier(model)
        if len(channels) != len(model.features):
            raise ValueError(f"expected channels for each of the {len(model.features)} layers, got {len(channels)}")
        for index, (chosen, layer) in enumerate(zip(channels, model.features)):
            if not chosen or not all(isinstance(c, int) and 0 <= c < layer.out_channels for c in chosen):
                raise ValueError(f"expected channels[{index}] to be indices in 0..{layer.out_channels - 1}, got {list(chosen)}")
        check_positive(max_map_size, "max_map_size", integer=True)
        self.channels = [list(chosen) for chosen in channels]
        self.max_map_size = max_map_size

    def _map(self, x: torch.Tensor, index: int) -> torch.Tensor:
        x = x[:, self.channels[index]]  # (N, k, h, w)
        if max(x.shape[-2:]) > self.max_map_size:
            x = F.adaptive_avg_pool2d(x, self.max_map_size)
        return x

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        check_image_batch(images)
        maps, gates = [], []
        x = images
        for index, layer in enumerate(self.model.features):
            if isinstance(layer, InvertedResidual):  # InvertedResidual.forward, keeping the SE gate
                result = x
                for unit in layer.block:
                    if isinstance(unit, SqueezeExcitation):
                        gate = unit.channel_scale(result)  # (N, C, 1, 1), SqueezeExcitation.forward's scale
                        gates.append(gate.flatten(1))
                        result = gate * result
                    else:
                        result = unit(result)
                x = layer.add_residual(result, x) if layer.use_residual else result
            else:
                x = layer(x)
            maps.append(self._map(x, index))
        return (self.model.forward_head(x), *maps, *gates)


@torch.no_grad()
def most_varied_channels(model: MobileNetV3, images: torch.Tensor, count: int = 4) -> list[list[int]]:
    """For each layer of ``model.features``, the ``count`` channels whose outputs vary most over ``images``
    (standard deviation over the images and positions), in channel order: the maps worth drawing."""
    _check_eval_mode(_check_classifier(model))
    check_image_batch(images)
    check_positive(count, "count", integer=True)
    chosen, x = [], images
    for layer in model.features:
        x = layer(x)
        spread = x.transpose(0, 1).flatten(1).std(dim=1)  # (C,)
        order = sorted(range(len(spread)), key=lambda c: (-float(spread[c]), c))  # ties: the lower index
        chosen.append(sorted(order[:count]))
    return chosen


# ---------------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrowserModel:
    """An exported ONNX file and its manifest (``path.with_suffix(".json")``)."""

    path: Path
    manifest: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> BrowserModel:
        """The model at ``path`` (``.onnx``) with its manifest, checked to be this module's format."""
        path = Path(path)
        sidecar = path.with_suffix(".json")
        if not path.is_file() or not sidecar.is_file():
            raise FileNotFoundError(f"expected {path} and its manifest {sidecar.name} (export_browser_classifier/segmenter writes both)")
        manifest = json.loads(sidecar.read_text())
        if manifest.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"{sidecar} is not a {MANIFEST_FORMAT} manifest (format {manifest.get('format')!r})")
        return cls(path, manifest)

    @property
    def output_names(self) -> list[str]:
        outputs = self.manifest["outputs"]
        return [outputs["logits"], *(m["name"] for m in outputs.get("maps", [])), *(g["name"] for g in outputs.get("gates", []))]

    @property
    def preprocessing(self) -> Preprocessing:
        settings = self.manifest["preprocessing"]
        return Preprocessing(settings["task"], settings["resize_size"], settings["crop_size"])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write(model: Any, path: Path, manifest: dict[str, Any]) -> BrowserModel:
    """Save the ONNX ``model`` and its manifest (with the file's size and digest) atomically."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    onnx.save(model, partial)
    os.replace(partial, path)
    manifest = {"format": MANIFEST_FORMAT, "file": path.name, "bytes": path.stat().st_size, "sha256": _sha256(path), **manifest}
    sidecar = path.with_suffix(".json")
    partial = sidecar.with_name(sidecar.name + ".partial")
    partial.write_text(json.dumps(manifest, indent=1))
    os.replace(partial, sidecar)
    return BrowserModel(path, manifest)


def _float16_storage(model: Any) -> Any:
    """Store each float32 initializer that is exactly a float16 number as float16, cast back to float32
    by a ``Cast`` node at the start of the graph (ONNX Runtime folds it when it loads the model)."""
    from onnx import TensorProto, helper, numpy_helper

    initializers, casts = [], []
    for tensor in model.graph.initializer:
        values = numpy_helper.to_array(tensor)
        if values.dtype == np.float32 and values.size > 1 and np.array_equal(values.astype(np.float16).astype(np.float32), values):
            half = numpy_helper.from_array(values.astype(np.float16), tensor.name + "_float16")
            initializers.append(half)
            casts.append(helper.make_node("Cast", [half.name], [tensor.name], to=TensorProto.FLOAT, name=tensor.name + "_cast"))
        else:
            initializers.append(tensor)
    nodes = [*casts, *model.graph.node]
    del model.graph.initializer[:], model.graph.node[:]
    model.graph.initializer.extend(initializers)
    model.graph.node.extend(nodes)
    return model


def _export_onnx(module: nn.Module, example: torch.Tensor, output_names: list[str]) -> Any:
    """``torch.onnx.export`` (dynamo) of ``module`` at ``example``'s shape, with its constants folded but
    BatchNorm kept (the exporter's optimizer would fold it into the weights, which are then no longer
    float16 numbers), float16 weight storage, as an ``onnx.ModelProto``."""
    import onnx_ir
    from onnxscript import optimizer

    with torch.no_grad():
        program = torch.onnx.export(
            module, (example,), dynamo=True, optimize=False, verbose=False, input_names=[INPUT_NAME], output_names=output_names
        )
    optimizer.fold_constants(program.model)
    optimizer.remove_unused_nodes(program.model)
    return _float16_storage(onnx_ir.serde.serialize_model(program.model))


def _float_manifest(
    kind: str, model: nn.Module, preprocessing: Preprocessing, outputs: dict[str, Any], classes: list[str], **extra: Any
) -> dict[str, Any]:
    """What a float file's manifest says besides the file itself (:func:`_write` adds its size and digest)."""
    size = preprocessing.crop_size
    return {
        "kind": kind, "architecture": type(model).__name__, "precision": "float32", "input": {"name": INPUT_NAME, "shape": [1, 3, size, size]},
        "preprocessing": preprocessing.to_dict(), "outputs": outputs, "classes": classes, **extra,
    }  # fmt: skip


class _SegmentationLogits(nn.Module):
    """A segmentation model's ``out`` logits alone (the models return a dict)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)["out"]


def _check_classes(classes: object, count: int) -> list[str]:
    if isinstance(classes, str) or not isinstance(classes, Sequence) or not all(isinstance(c, str) for c in classes):
        raise TypeError(f"expected classes to be a sequence of names, got {classes!r}")
    if len(classes) != count:
        raise ValueError(f"expected {count} class names (the model's outputs), got {len(classes)}")
    return list(classes)


def export_browser_classifier(
    model: MobileNetV3,
    path: str | Path,
    *,
    classes: Sequence[str],
    preprocessing: Preprocessing,
    example_images: torch.Tensor,
    maps_per_layer: int = 4,
    max_map_size: int = 28,
) -> BrowserModel:
    """Export a MobileNetV3 classifier for the in-browser explorers: ``path`` (``.onnx``) and its manifest.

    The file's outputs are ``logits``, ``map_LL`` for each layer ``LL`` of ``model.features`` (the
    ``maps_per_layer`` channels that vary most over ``example_images``) and ``gate_LL`` for each SE
    block (:class:`ExplainedMobileNetV3`). Batch size 1, at ``preprocessing.crop_size``.

    Args:
        model: The float classifier, in eval mode.
        path: Where to write the ``.onnx`` file (its manifest goes beside it, ``.json``).
        classes: Class names, in the order of the logits.
        preprocessing: How the page prepares the pixels (the manifest records it).
        example_images: Preprocessed images ``(N, 3, crop, crop)`` that choose the channels drawn.
        maps_per_layer: Channels kept per layer.
        max_map_size: Largest side of a kept map (larger ones are average-pooled to it).

    Returns:
        The written :class:`BrowserModel`.
    """
    _check_eval_mode(_check_classifier(model))
    classes = _check_classes(classes, model.classifier[-1].out_features)
    check_image_batch(example_images, name="example_images")
    size = preprocessing.crop_size
    if tuple(example_images.shape[-2:]) != (size, size):
        raise ValueError(f"expected example_images of {size}×{size} (preprocessing.crop_size), got {tuple(example_images.shape[-2:])}")
    path = Path(path)
    with torch.no_grad():
        channels = most_varied_channels(model, example_images, maps_per_layer)
    explained = ExplainedMobileNetV3(model, channels, max_map_size).eval()
    layers = layer_summary(model)
    se_layers = [index for index, layer in enumerate(layers) if layer["se"]]
    with torch.no_grad():
        outputs = explained(example_images[:1])
    maps = [
        {"name": f"map_{index:02d}", "layer": index, "channels": chosen, "size": list(outputs[1 + index].shape[-2:])}
        for index, chosen in enumerate(channels)
    ]
    gates = [{"name": f"gate_{index:02d}", "layer": index, "channels": layers[index]["expanded_channels"]} for index in se_layers]
    names = ["logits", *(m["name"] for m in maps), *(g["name"] for g in gates)]
    onnx_model = _export_onnx(explained, example_images[:1].contiguous(), names)
    outputs = {"logits": "logits", "maps": maps, "gates": gates}
    return _write(onnx_model, path, _float_manifest("classifier", model, preprocessing, outputs, classes, layers=layers))


def export_browser_segmenter(model: nn.Module, path: str | Path, *, classes: Sequence[str], preprocessing: Preprocessing) -> BrowserModel:
    """Export a segmentation model (``model(images)["out"]``) for the in-browser explorers: its logits
    ``(1, classes, H, W)`` at the input's size ``preprocessing.crop_size``; the page takes their arg-max.

    Args:
        model: The float segmentation model, in eval mode, e.g. ``lraspp_mobilenet_v3_large``.
        path: Where to write the ``.onnx`` file (its manifest goes beside it, ``.json``).
        classes: Class names, index 0 = the background.
        preprocessing: How the page prepares the pixels (``task="segmentation"``).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a segmentation model (nn.Module), got {type(model).__name__}")
    if preprocessing.task != "segmentation":
        raise ValueError(f"expected segmentation preprocessing, got task {preprocessing.task!r}")
    size = preprocessing.crop_size
    example = torch.zeros(1, 3, size, size)
    _check_eval_mode(model)
    with torch.no_grad():
        logits = model(example)["out"]
    classes = _check_classes(classes, logits.shape[1])

    onnx_model = _export_onnx(_SegmentationLogits(model).eval(), example, ["logits"])
    return _write(onnx_model, Path(path), _float_manifest("segmenter", model, preprocessing, {"logits": "logits"}, classes))


def quantize_browser_model(source: BrowserModel, path: str | Path, calibration: torch.Tensor) -> BrowserModel:
    """An int8 copy of ``source``: ONNX Runtime's static quantization (QDQ format, per-channel int8
    weights, uint8 activations whose ranges are calibrated on ``calibration``), with the same outputs.

    Args:
        source: A float file from :func:`export_browser_classifier` or :func:`export_browser_segmenter`.
        path: Where to write the int8 ``.onnx`` file (and its manifest).
        calibration: Preprocessed images ``(N, 3, crop, crop)``, run one at a time (batch size 1).
    """
    import onnx
    from onnxruntime import quantization as ort_quantization

    if not isinstance(source, BrowserModel):
        raise TypeError(f"expected a BrowserModel to quantize, got {type(source).__name__}")
    check_image_batch(calibration, name="calibration")
    shape = source.manifest["input"]["shape"]
    if list(calibration.shape[1:]) != shape[1:]:
        raise ValueError(f"expected calibration images of shape (N, {', '.join(map(str, shape[1:]))}), got {tuple(calibration.shape)}")

    class Reader(ort_quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter([{INPUT_NAME: image[None].numpy()} for image in calibration])

        def get_next(self) -> dict | None:
            return next(self.feeds, None)

    path = Path(path)
    with tempfile.TemporaryDirectory() as work:
        prepared = os.path.join(work, "prepared.onnx")
        ort_quantization.quant_pre_process(str(source.path), prepared)  # shape inference, folding (casts, BatchNorm)
        quantized = os.path.join(work, "int8.onnx")
        ort_quantization.quantize_static(
            prepared, quantized, Reader(), quant_format=ort_quantization.QuantFormat.QDQ, per_channel=True,
            activation_type=ort_quantization.QuantType.QUInt8, weight_type=ort_quantization.QuantType.QInt8,
        )  # fmt: skip
        model = onnx.load(quantized)
    manifest = {key: value for key, value in source.manifest.items() if key not in ("format", "file", "bytes", "sha256")}
    manifest["precision"] = "int8"
    manifest["quantization"] = {
        "tool": "onnxruntime.quantization.quantize_static", "format": "QDQ", "weights": "int8, per channel",
        "activations": "uint8, per tensor", "calibration_images": int(calibration.shape[0]), "float_model": source.path.name,
    }  # fmt: skip
    return _write(model, path, manifest)


def run_browser_model(model: BrowserModel | str | Path, images: torch.Tensor) -> dict[str, np.ndarray]:
    """Run an exported file with ONNX Runtime (CPU, one thread) on a preprocessed batch of one;
    returns every output by name."""
    import onnxruntime

    model = model if isinstance(model, BrowserModel) else BrowserModel.load(model)
    check_image_batch(images)
    expected = model.manifest["input"]["shape"]
    if list(images.shape) != expected:
        raise ValueError(f"expected images of shape {tuple(expected)} (the exported input), got {tuple(images.shape)}")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # as the page runs it
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model.path), options, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, {INPUT_NAME: images.detach().cpu().float().numpy()})))
