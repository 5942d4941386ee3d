"""The book's explorers: data computed once in Python, drawn and filtered in the browser.

Each factory checks its arguments, computes everything its controls can reach (a detector's candidates
before filtering, class and instance masks, every architecture configuration, a calibration sweep, an
optimizer's steps for every epsilon, an activation's values and its observers' grids, an SSD's default
boxes and their matches), and returns an :class:`Explorer`. An explorer displays as one self-contained
HTML output: a ``<div>`` followed by a classic ``<script>`` holding the front-end
(``mnv3lib/viz/static/explorers.js``, no dependency) and the data as JSON. The controls redraw on
canvases in the browser, with no kernel and no request leaving the page, so they stay live in the
published book as well as in a notebook (Jupyter runs the script once the notebook is trusted; Colab and
VS Code run it as it is).

Python cannot observe the controls: whatever the page shows was computed before the explorer was made.
Every chapter follows an explorer with a static figure of its default state, for print and for readers
without JavaScript. Why this carrier and not an ipywidget or anywidget: "The explorers" in the book's
appendix on the library, with the measurements behind the choice.

Explorers by chapter: :func:`architecture_explorer` (Chapter 1), :func:`rmsprop_explorer` (Chapter 2),
:func:`calibration_explorer` and :func:`int8_grid_explorer` (Chapter 3), :func:`detection_explorer`
(Chapter 4), :func:`default_box_explorer` (SSDlite) and :func:`segmentation_explorer` (segmentation).
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from torchvision.models.detection.ssd import SSD

from ..analysis.benchmark import Latency, measure_latency, num_threads
from ..analysis.introspection import block_table
from ..analysis.quantization_error import observe_grid
from ..checks import check_choice, check_count, check_positive, check_range
from ..engine.optim import RMSpropTF, steady_state_steps, tf_eps_to_torch
from ..models.mobilenetv3 import ARCHITECTURES, mobilenet_v3
from ..models.quantization import ACTIVATION_OBSERVERS
from ..models.ssdlite import default_boxes, match_default_boxes

__all__ = [
    "Explorer",
    "ArchitectureReport",
    "architecture_report",
    "architecture_explorer",
    "rmsprop_explorer",
    "calibration_explorer",
    "int8_grid_explorer",
    "detection_explorer",
    "default_box_explorer",
    "segmentation_explorer",
    "PAYLOAD_BUDGET_BYTES",
    "WIDTH_MULTS",
    "RMSPROP_EPS_VALUES",
    "RMSPROP_LEARNING_RATES",
]

# An explorer's data must leave room for the rest of its chapter in the book's 8 MB page budget.
PAYLOAD_BUDGET_BYTES = 3_000_000
# The width multipliers the architecture explorer precomputes (those of the paper's Tables 3 and 4).
WIDTH_MULTS = (0.35, 0.5, 0.75, 1.0, 1.25)
# The RMSProp explorer's epsilons (TensorFlow's, half a decade apart) and learning rates (about three per
# decade, with the book's 0.004 and the recipe's 0.064).
RMSPROP_EPS_VALUES = tuple(10.0 ** (k / 2) for k in range(-20, -1))
RMSPROP_LEARNING_RATES = (1e-4, 3e-4, 1e-3, 0.004, 0.01, 0.03, 0.064, 0.1, 0.3, 1.0)


@cache
def front_end_source() -> str:
    """The explorers' JavaScript (one classic script defining ``MNV3Explorers``)."""
    return resources.files(__package__).joinpath("static", "explorers.js").read_text(encoding="utf-8")


def _script_safe_json(data: object) -> str:
    """JSON that can sit inside a ``<script>``: no ``</script>``, no ``<!--``."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")


@dataclass(frozen=True)
class Explorer:
    """An explorer's data (``data["kind"]`` says which) and its display as a self-contained HTML output.

    Displaying it in a notebook (or in the book, from the stored output) runs the front-end; nothing
    is computed afterwards. :meth:`to_html` makes a whole page of it (the browser tests use that).
    """

    data: dict[str, Any] = field(repr=False)

    @property
    def kind(self) -> str:
        return self.data["kind"]

    def to_json(self) -> str:
        return _script_safe_json(self.data)

    @property
    def payload_bytes(self) -> int:
        """Size of the data as embedded in the page (UTF-8 JSON)."""
        return len(self.to_json().encode("utf-8"))

    def __repr__(self) -> str:
        return f"Explorer(kind={self.kind!r}, payload={self.payload_bytes / 1e6:.2f} MB)"

    def _repr_html_(self) -> str:
        payload = self.to_json()
        element = "mnv3-explorer-" + hashlib.sha1(payload.encode("utf-8")).hexdigest()[:12]
        return (
            f'<div class="mnv3-explorer" id="{element}" style="font-family:sans-serif; font-size:14px">'
            "<i>This explorer is drawn by JavaScript. In Jupyter, run the cell (or trust the notebook) to see it;"
            " the figure below shows its default state.</i></div>\n"
            f"<script>\n{front_end_source()}\n"
            # its own <div> (the one just before this script, even when one explorer is shown twice), else by id
            f'(function (script) {{ var el = script && script.previousElementSibling;\n'
            f'  if (!el || el.id !== "{element}") el = document.getElementById("{element}");\n'
            f"  MNV3Explorers.mount(el, {payload});\n}})(document.currentScript);\n</script>"
        )

    def to_html(self, title: str = "explorer") -> str:
        """A standalone HTML page with this explorer and nothing else (no external resource)."""
        return (
            f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>{html.escape(title)}</title></head>\n'
            f"<body>\n{self._repr_html_()}\n</body></html>\n"
        )


def _check_budget(explorer: Explorer, advice: str = "pass fewer or smaller images") -> Explorer:
    if explorer.payload_bytes > PAYLOAD_BUDGET_BYTES:
        raise ValueError(
            f"the {explorer.kind} explorer's data weighs {explorer.payload_bytes / 1e6:.1f} MB, over the "
            f"{PAYLOAD_BUDGET_BYTES / 1e6:.0f} MB an explorer may add to a page: {advice}"
        )
    return explorer


# ---------------------------------------------------------------------------------------------------
# Encoding: images as data URIs, float32 numbers exactly, masks run-length coded
# ---------------------------------------------------------------------------------------------------


def _check_image(image: object, name: str) -> tuple[int, int]:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"expected {name} to be a (3, H, W) torch.Tensor, got {type(image).__name__}")
    if image.dim() != 3 or image.shape[0] != 3:
        hint = ": the channels look last, use image.permute(2, 0, 1)" if image.dim() == 3 and image.shape[-1] == 3 else ""
        raise ValueError(f"expected {name} of shape (3, H, W), got {tuple(image.shape)}{hint}")
    return int(image.shape[1]), int(image.shape[2])


def image_data_uri(image: torch.Tensor) -> str:
    """The smaller of a PNG and a JPEG (quality 90) data URI of a ``(3, H, W)`` image (uint8, or float in [0, 1])."""
    image = image.detach().as_subclass(torch.Tensor).cpu()
    if image.is_floating_point():
        image = (image.clamp(0, 1) * 255).round().to(torch.uint8)
    pixels = Image.fromarray(image.permute(1, 2, 0).numpy())
    encoded = {}
    for fmt, options in (("png", {"optimize": True}), ("jpeg", {"quality": 90})):
        buffer = io.BytesIO()
        pixels.save(buffer, format=fmt.upper(), **options)
        encoded[fmt] = buffer.getvalue()
    fmt = min(encoded, key=lambda f: len(encoded[f]))
    return f"data:image/{fmt};base64," + base64.b64encode(encoded[fmt]).decode("ascii")


def _float32_list(values: torch.Tensor) -> list:
    """Nested lists of the shortest decimals that give back each float32 exactly (``Math.fround`` in JS)."""
    array = values.detach().cpu().to(torch.float32).numpy()
    flat = [float(np.format_float_positional(v, unique=True, trim="-")) for v in array.ravel()]
    return np.array(flat, dtype=object).reshape(array.shape).tolist() if array.ndim > 1 else flat


def run_length_encode(mask: torch.Tensor) -> list[int]:
    """``[value, count, value, count, ...]`` over the pixels of an ``(H, W)`` uint8-ranged mask, row by row."""
    flat = mask.detach().cpu().to(torch.uint8).numpy().ravel()
    if flat.size == 0:
        return []
    starts = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1])
    counts = np.diff(np.concatenate([starts, [flat.size]]))
    return np.stack([flat[starts], counts], axis=1).ravel().astype(int).tolist()


# ---------------------------------------------------------------------------------------------------
# Chapter 1: the architecture explorer
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchitectureReport:
    """What the architecture explorer shows for one configuration."""

    table: pd.DataFrame
    params: int
    macs: int
    output_stride: int
    latency: Latency | None

    def summary_html(self) -> str:
        latency = f"{self.latency.median_ms:.1f} ms" if self.latency else "not measured"
        threads = f" ({self.latency.threads} threads, median of {self.latency.repeats})" if self.latency else ""
        return (
            f"<b>{self.params / 1e6:.3f} M</b> parameters &nbsp;·&nbsp; <b>{self.macs / 1e9:.3f} G</b> multiply-adds"
            f" &nbsp;·&nbsp; output stride <b>{self.output_stride}</b>"
            f" &nbsp;·&nbsp; CPU latency at batch 1: <b>{latency}</b>{threads}"
        )


def architecture_report(
    arch: str = "mobilenet_v3_large",
    *,
    width_mult: float = 1.0,
    reduced_tail: bool = False,
    dilated: bool = False,
    input_size: int = 224,
    latency_repeats: int = 0,
    threads: int | None = None,
) -> ArchitectureReport:
    """Build a randomly initialised model and measure it (latency only when ``latency_repeats`` > 0)."""
    model = mobilenet_v3(arch, width_mult=width_mult, reduced_tail=reduced_tail, dilated=dilated)
    table = block_table(model, input_size=input_size)
    latency = None
    if latency_repeats > 0:
        latency = measure_latency(model, (1, 3, input_size, input_size), repeats=latency_repeats, warmup=2, threads=threads)
    output_stride = model.feature_info[-1]["stride"]
    return ArchitectureReport(table, int(table["params"].sum()), int(table["MACs"].sum()), output_stride, latency)


def _configuration_key(arch: str, width_mult: float, reduced_tail: bool, dilated: bool) -> str:
    return f"{arch}|{width_mult:.2f}|{int(reduced_tail)}|{int(dilated)}"


def architecture_explorer(
    *,
    input_size: int = 224,
    latency_repeats: int = 10,
    threads: int | None = None,
    archs: Sequence[str] = ARCHITECTURES,
    width_mults: Sequence[float] = WIDTH_MULTS,
) -> Explorer:
    """Arch, ``width_mult``, ``reduced_tail`` and ``dilated`` over every configuration, precomputed.

    Each configuration's block table (channels, stride, output size, parameters and multiply-adds per
    layer, at ``input_size``) is computed here, with its totals and output stride. With
    ``latency_repeats`` > 0 the CPU latency at batch 1 of each arch and width (full tail, not
    dilated) is measured too, the median of that many runs with ``threads`` threads; the page shows
    those recorded numbers (the browser measures nothing), and "not measured" for the variants.

    Args:
        input_size: Input side for the output sizes and the multiply-adds.
        latency_repeats: Timed runs per configuration (0: no latency).
        threads: Torch threads for the timing (default: the current setting).
        archs, width_mults: The choices offered (``width_mults`` must include 1.0, the default).
    """
    check_positive(input_size, "input_size", integer=True)
    check_count(latency_repeats, "latency_repeats")
    if threads is not None:
        check_positive(threads, "threads", integer=True)
    if not archs or not width_mults:
        raise ValueError("expected at least one architecture and one width multiplier")
    for arch in archs:
        check_choice(arch, "architecture", ARCHITECTURES)
    for width in width_mults:
        check_range(width, "width_mult", 0.0, 4.0, low_open=True)
    widths = sorted({round(float(w), 2) for w in width_mults})
    if 1.0 not in widths:
        raise ValueError(f"expected width_mults to include 1.0 (the default), got {list(width_mults)}")
    columns = ["layer", "stage", "in", "expanded", "out", "kernel", "stride", "dilation", "SE", "activation", "output", "params", "MACs"]
    configs, threads_used = {}, None
    for arch in archs:
        for width in widths:
            for reduced_tail in (False, True):
                for dilated in (False, True):
                    model = mobilenet_v3(arch, width_mult=width, reduced_tail=reduced_tail, dilated=dilated)
                    with num_threads(1):  # one tiny forward: a second thread only waits on the first
                        table = block_table(model, input_size=input_size)
                    latency = None
                    if latency_repeats > 0 and not reduced_tail and not dilated:
                        latency = measure_latency(model, (1, 3, input_size, input_size), repeats=latency_repeats, warmup=2, threads=threads)
                        threads_used = latency.threads
                    rows = table[columns].astype(object).where(table[columns].notna(), None).values.tolist()
                    configs[_configuration_key(arch, width, reduced_tail, dilated)] = {
                        "params": int(table["params"].sum()),
                        "macs": int(table["MACs"].sum()),
                        "output_stride": model.feature_info[-1]["stride"],
                        "latency_ms": round(latency.median_ms, 2) if latency else None,
                        "rows": [[v.item() if hasattr(v, "item") else v for v in r] for r in rows],
                    }
    macs_column, out_column = columns.index("MACs"), columns.index("out")
    data = {
        "kind": "architecture",
        "archs": list(archs),
        "width_mults": widths,
        "input_size": input_size,
        "columns": columns,
        "configs": configs,
        "default": {"arch": archs[0], "width_mult": 1.0, "reduced_tail": False, "dilated": False},
        "chart": {
            "max_macs": max(r[macs_column] for c in configs.values() for r in c["rows"]),
            "max_out": max(r[out_column] for c in configs.values() for r in c["rows"]),
        },
        "latency_note": f"{threads_used} threads, median of {latency_repeats}" if threads_used else "",
    }
    return _check_budget(Explorer(data))


# ---------------------------------------------------------------------------------------------------
# Chapter 2: RMSProp's step against the gradient, epsilon inside or outside the square root
# ---------------------------------------------------------------------------------------------------


def _on_grid(value: float, choices: Sequence[float], name: str) -> int:
    """Index of ``value`` among ``choices`` (relative tolerance 1e-9), or a ValueError listing them."""
    check_positive(value, name)
    for index, choice in enumerate(choices):
        if math.isclose(value, choice, rel_tol=1e-9):
            return index
    shown = ", ".join(f"{c:.3g}" for c in choices)
    raise ValueError(f"expected {name} to be one of the slider's values ({shown}), got {value!r}")


def _increasing_positive(values: Sequence[float], name: str) -> list[float]:
    out = [float(v) for v in values]
    if not out or any(not (math.isfinite(v) and v > 0) for v in out) or any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"expected {name} to be increasing positive numbers, got {list(values)!r}")
    return out


def rmsprop_explorer(
    *,
    eps: float = 1e-3,
    lr: float = 0.064,
    eps_values: Sequence[float] = RMSPROP_EPS_VALUES,
    learning_rates: Sequence[float] = RMSPROP_LEARNING_RATES,
    grad_range: tuple[float, float] = (1e-6, 10.0),
    points_per_decade: int = 8,
    grad_rms_samples: Sequence[float] | None = None,
) -> Explorer:
    """RMSProp's steady-state step against the gradient's RMS, with epsilon inside the square root
    (TensorFlow, :class:`~mnv3lib.engine.optim.RMSpropTF`) or outside (``torch.optim.RMSprop``).

    The page has sliders for epsilon and the learning rate, and draws three curves on log axes: TensorFlow
    with ``eps`` inside the root, PyTorch with the same ``eps`` copied literally, and PyTorch with the ported
    ``sqrt(eps)`` (:func:`~mnv3lib.engine.optim.tf_eps_to_torch`), whose value is marked on the gradient
    axis. Every curve is the optimizers' own step (:func:`~mnv3lib.engine.optim.steady_state_steps`),
    taken here for each epsilon at learning rate 1; the page scales it by the learning rate, and the step
    is proportional to it in both rules (the browser tests compare the drawn curves with steps taken at
    the chosen rate).

    Args:
        eps, lr: The sliders' initial values (members of ``eps_values`` and ``learning_rates``).
        eps_values: TensorFlow epsilons the slider offers.
        learning_rates: Learning rates the slider offers.
        grad_range: The gradient RMS axis, ``(smallest, largest)``.
        points_per_decade: Gradient values per decade on that axis.
        grad_rms_samples: Measured gradient RMS values (e.g. one per parameter tensor) drawn as a rug.
    """
    eps_list = _increasing_positive(eps_values, "eps_values")
    rates = _increasing_positive(learning_rates, "learning_rates")
    eps_index, lr_index = _on_grid(eps, eps_list, "eps"), _on_grid(lr, rates, "lr")
    check_positive(points_per_decade, "points_per_decade", integer=True)
    if len(grad_range) != 2 or not 0 < grad_range[0] < grad_range[1] < math.inf:
        raise ValueError(f"expected grad_range = (smallest, largest) with 0 < smallest < largest, got {grad_range!r}")
    decades = math.log10(grad_range[1] / grad_range[0])
    grads = torch.logspace(math.log10(grad_range[0]), math.log10(grad_range[1]), round(decades * points_per_decade) + 1, dtype=torch.float64)
    samples = None
    if grad_rms_samples is not None:
        samples = np.asarray(grad_rms_samples, dtype=np.float64).ravel()
        if samples.size == 0 or not np.all(np.isfinite(samples)) or np.any(samples < 0):
            raise ValueError("expected grad_rms_samples to be finite values >= 0")
    curves = []
    for value in eps_list:
        ported = tf_eps_to_torch(value)
        curves.append({
            "tf": steady_state_steps(RMSpropTF, grads, lr=1.0, eps=value).tolist(),
            "literal": steady_state_steps(torch.optim.RMSprop, grads, lr=1.0, eps=value).tolist(),
            "ported": steady_state_steps(torch.optim.RMSprop, grads, lr=1.0, eps=ported).tolist(),
            "ported_eps": ported,
        })  # fmt: skip
    data = {
        "kind": "rmsprop",
        "grad_rms": grads.tolist(),
        "eps_values": eps_list,
        "learning_rates": rates,
        "curves": curves,
        "default": {"eps": eps_index, "lr": lr_index},
        "samples": [round(float(v), 12) for v in samples[samples > 0]] if samples is not None else None,
    }
    return _check_budget(Explorer(data), "offer fewer epsilons or gradient points")


# ---------------------------------------------------------------------------------------------------
# Chapter 3: the calibration explorer
# ---------------------------------------------------------------------------------------------------


def calibration_explorer(
    run: Callable[[str, int], Mapping[str, float]],
    observers: Sequence[str],
    batch_counts: Sequence[int],
    *,
    known: Mapping[tuple[str, int], Mapping[str, float]] | None = None,
    compute_missing: bool = True,
) -> Explorer:
    """Pick an activation observer and a number of calibration batches; see the int8 model's accuracy.

    The page shows a recorded sweep: every ``(observer, batches)`` pair is looked up in ``known`` and,
    when missing and ``compute_missing`` is true, computed here with ``run`` before the explorer is
    made (never on demand: the page has no kernel). Without ``compute_missing`` a missing pair shows
    as "not recorded".

    Args:
        run: ``run(observer, batches)`` quantizes and evaluates, returning metrics such as ``acc1`` and
            ``agreement`` (Chapter 3 passes :func:`mnv3lib.engine.quantization.ptq_experiment`, partially applied).
        observers, batch_counts: The choices offered.
        known: Results already computed, keyed by ``(observer, batches)``.
    """
    if not observers or not batch_counts:
        raise ValueError("expected at least one observer and one batch count")
    if not callable(run):
        raise TypeError(f"expected run to be a function run(observer, batches), got {type(run).__name__}")
    for batches in batch_counts:
        check_positive(batches, "batch count", integer=True)
    if len(set(observers)) != len(observers) or len(set(batch_counts)) != len(batch_counts):
        raise ValueError(f"expected distinct choices, got observers {list(observers)} and batch counts {list(batch_counts)}")
    known = dict(known or {})
    for key, metrics in known.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise TypeError(f"expected the keys of known to be (observer, batches) pairs, got {key!r}")
        for name, value in metrics.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"expected finite numbers in known[{key!r}], got {name}={value!r}")
    results = {}
    for observer in observers:
        for batches in batch_counts:
            if (observer, batches) not in known and compute_missing:
                known[(observer, batches)] = dict(run(observer, batches))
            if (observer, batches) in known:
                results[f"{observer}|{batches}"] = {name: float(value) for name, value in known[(observer, batches)].items()}
    metrics = list(dict.fromkeys(name for values in results.values() for name in values))
    data = {"kind": "calibration", "observers": list(observers), "batch_counts": [int(b) for b in batch_counts], "metrics": metrics, "results": results}
    return _check_budget(Explorer(data))


# ---------------------------------------------------------------------------------------------------
# Chapter 3: the int8 grid over one activation
# ---------------------------------------------------------------------------------------------------


def int8_grid_explorer(
    activations: Sequence[torch.Tensor],
    *,
    observers: Sequence[str] = tuple(ACTIVATION_OBSERVERS),
    reduce_range: bool = True,
    sample_size: int = 8192,
    seed: int = 0,
    title: str = "",
) -> Explorer:
    """An activation's histogram with an int8 grid over it: sliders for the scale and the zero point, a
    choice of observer, and readouts of the SQNR and of the share of values clipped.

    Each observer's grid comes from PyTorch's observer fed the calibration batches in turn
    (:func:`~mnv3lib.analysis.quantization_error.observe_grid`); choosing one puts the sliders on its
    scale and zero point, and the scale slider then moves in steps of 2^(1/16) around it. The page
    rounds a random sample of the values to the grid exactly as ``torch.fake_quantize_per_tensor_affine``
    does (in float32) and reports the SQNR and the share clipped for what the sliders say;
    :func:`~mnv3lib.analysis.quantization_error.grid_error` gives the same numbers in Python.

    Args:
        activations: One site's outputs, one tensor per calibration batch
            (:func:`~mnv3lib.analysis.quantization_error.site_activations`).
        observers: Keys of :data:`~mnv3lib.models.quantization.ACTIVATION_OBSERVERS`, in the menu's order.
        reduce_range: Use 7 of the 8 bits, as x86's default does.
        sample_size: How many values the page carries (a uniform sample without replacement, or all of them).
        seed: The sample's seed.
        title: What the values are (shown above the histogram).
    """
    if isinstance(activations, torch.Tensor) or not activations:
        raise TypeError("expected activations to be a non-empty list of tensors, one per calibration batch")
    if not observers or len(set(observers)) != len(observers):
        raise ValueError(f"expected distinct observers, got {list(observers)}")
    for name in observers:
        check_choice(name, "activation observer", ACTIVATION_OBSERVERS)
    check_positive(sample_size, "sample_size", integer=True)
    grids = {name: observe_grid(activations, name, reduce_range=reduce_range) for name in observers}
    values = torch.cat([a.detach().float().cpu().flatten() for a in activations])
    if not bool(values.isfinite().all()):
        raise ValueError("expected finite activations")
    if values.numel() > sample_size:
        values = values[torch.randperm(values.numel(), generator=torch.Generator().manual_seed(seed))[:sample_size]]
    first = next(iter(grids.values()))
    data = {
        "kind": "int8grid",
        "title": str(title),
        "values": _float32_list(values),
        "total": int(sum(a.numel() for a in activations)),
        "quant_min": first.quant_min,
        "quant_max": first.quant_max,
        "observers": [{"name": name, "scale": grid.scale, "zero_point": grid.zero_point} for name, grid in grids.items()],
    }
    return _check_budget(Explorer(data), "pass a smaller sample_size")


# ---------------------------------------------------------------------------------------------------
# Chapter 4: the detection explorer
# ---------------------------------------------------------------------------------------------------


def _check_detections(found: object, name: str, classes: Sequence[str], with_scores: bool) -> int:
    if not isinstance(found, Mapping) or "boxes" not in found or "labels" not in found:
        raise TypeError(f"expected {name} to be a dict with 'boxes' and 'labels' tensors, got {type(found).__name__}")
    boxes, labels = found["boxes"], found["labels"]
    if not isinstance(boxes, torch.Tensor) or boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"expected {name}['boxes'] of shape (N, 4) in XYXY, got {getattr(boxes, 'shape', type(boxes).__name__)}")
    n = boxes.shape[0]
    if not isinstance(labels, torch.Tensor) or tuple(labels.shape) != (n,):
        raise ValueError(f"expected {name}['labels'] of shape ({n},), got {getattr(labels, 'shape', type(labels).__name__)}")
    if n and (int(labels.min()) < 1 or int(labels.max()) > len(classes)):
        raise ValueError(f"expected {name}['labels'] in 1..{len(classes)} (label 1 = {classes[0]!r}), got {sorted(set(labels.tolist()))}")
    if with_scores:
        scores = found.get("scores")
        if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != (n,):
            raise ValueError(f"expected {name}['scores'] of shape ({n},), got {getattr(scores, 'shape', type(scores).__name__)}")
    keypoints = found.get("keypoints")
    if keypoints is not None and (keypoints.dim() != 3 or keypoints.shape[0] != n or keypoints.shape[2] not in (2, 3)):
        raise ValueError(f"expected {name}['keypoints'] of shape ({n}, K, 3), got {tuple(keypoints.shape)}")
    return 0 if keypoints is None else int(keypoints.shape[1])


def _detections_payload(found: Mapping[str, torch.Tensor], keypoint_label: int | None, exact: bool) -> dict[str, Any]:
    boxes = found["boxes"].detach().as_subclass(torch.Tensor).cpu().double()  # double: 0.1 steps print short
    labels = found["labels"].detach().cpu().tolist()
    payload: dict[str, Any] = {
        "boxes": _float32_list(boxes.float()) if exact else torch.round(boxes * 10).div(10).tolist(),
        "labels": [int(label) for label in labels],
    }
    if "scores" in found:
        payload["scores"] = _float32_list(found["scores"])
    keypoints = found.get("keypoints")
    if keypoints is not None and keypoint_label is not None:
        points = keypoints.detach().as_subclass(torch.Tensor).cpu().double()
        if points.shape[2] == 2:
            points = torch.cat([points, torch.ones_like(points[..., :1])], dim=2)
        points = torch.cat([torch.round(points[..., :2] * 10) / 10, (points[..., 2:] > 0).float()], dim=2)
        payload["keypoints"] = [points[i].tolist() if label == keypoint_label else None for i, label in enumerate(labels)]
    return payload


_PREDICTIONS_FORM = "a list of per-image dicts or a mapping {model name: list of per-image dicts}"


def _predictions_by_model(
    predictions: Sequence[Mapping[str, torch.Tensor]] | Mapping[str, Sequence[Mapping[str, torch.Tensor]]],
    count: int,
) -> tuple[dict[str, Sequence[Mapping[str, torch.Tensor]]] | None, Sequence[Mapping[str, torch.Tensor]]]:
    """``(models, first)``: ``models`` is ``None`` for one list of predictions, else ``{name: list}`` checked."""
    if not isinstance(predictions, Mapping):
        if isinstance(predictions, (str, bytes)) or not isinstance(predictions, Sequence):
            raise TypeError(f"expected predictions to be {_PREDICTIONS_FORM}, got {type(predictions).__name__}")
        return None, predictions
    if not predictions:
        raise ValueError("expected at least one model in predictions, got an empty mapping")
    if any(isinstance(value, torch.Tensor) for value in predictions.values()):
        raise TypeError(
            f"expected predictions to be {_PREDICTIONS_FORM}, got one dict of tensors"
            f" ({', '.join(map(repr, predictions))}): wrap one image's prediction in a list"
        )
    for name, found in predictions.items():
        if not isinstance(name, str):
            raise TypeError(f"expected the model names (the keys of predictions) to be strings, got {name!r}")
        if not name.strip():
            raise ValueError(f"expected the model names (the keys of predictions) to be non-empty, got {name!r}")
        if isinstance(found, (str, bytes, Mapping)) or not isinstance(found, Sequence):
            raise TypeError(
                f"expected predictions[{name!r}] to be a list of per-image dicts, got {type(found).__name__}"
            )
        if len(found) != count:
            raise ValueError(
                f"expected predictions[{name!r}] to hold one prediction per image, got {len(found)} for {count} images"
            )
    models = dict(predictions)
    return models, next(iter(models.values()))


def detection_explorer(
    images: Sequence[torch.Tensor],
    predictions: Sequence[Mapping[str, torch.Tensor]] | Mapping[str, Sequence[Mapping[str, torch.Tensor]]],
    classes: Sequence[str],
    *,
    targets: Sequence[dict[str, torch.Tensor]] | None = None,
    keypoint_label: int | None = None,
    skeleton: Sequence[tuple[int, int]] | None = None,
    score_threshold: float = 0.5,
    nms_iou: float = 0.5,
    scale: int = 2,
) -> Explorer:
    """Browse detections: image, min score and NMS IoU sliders, one toggle per class, keypoints and ground truth,
    and a model menu when the predictions of several detectors are given.

    The browser filters the candidates as :func:`~mnv3lib.viz.drawing.filter_predictions` does: scores at
    least the threshold, then ``torchvision.ops.batched_nms`` at the IoU (the same kept set; the tests
    prove it), and draws the kept boxes, their keypoints and skeletons, and optionally the ground truth.
    With a mapping of models, the menu switches the drawing to another model's candidates on the same
    images under the same sliders and toggles (it opens on the first model); the prediction panel and the
    caption name the model shown.

    Args:
        images: ``(3, H, W)`` images, uint8 or float in [0, 1].
        predictions: The model's raw outputs for them, one dict per image, best made with
            ``box_score_thresh=0`` and ``box_nms_thresh=1`` so that the sliders decide what is kept; or
            ``{model name: such a list}`` to compare detectors (names are non-empty strings, in the menu's
            order; every list as long as ``images``).
        classes: Class names (label 1 first).
        targets: Ground truth, drawn beside the predictions when the toggle is on.
        keypoint_label, skeleton: Which detections carry keypoints, and how to join them (1-based pairs).
        score_threshold, nms_iou: The sliders' initial values.
        scale: Display magnification (the book's scenes are small).
    """
    models, first = _predictions_by_model(predictions, len(images))
    if len(images) != len(first) or not images:
        raise ValueError(
            f"expected as many predictions as images (at least one),"
            f" got {len(images)} images and {len(first)} predictions"
        )
    if targets is not None and len(targets) != len(images):
        raise ValueError(f"expected as many targets as images, got {len(targets)} targets for {len(images)} images")
    if not classes:
        raise ValueError("expected at least one class name")
    check_range(score_threshold, "score_threshold", 0.0, 1.0)
    check_range(nms_iou, "nms_iou", 0.0, 1.0, low_open=True)
    check_positive(scale, "scale", integer=True)
    if keypoint_label is not None and not (isinstance(keypoint_label, int) and 1 <= keypoint_label <= len(classes)):
        raise ValueError(f"expected keypoint_label in 1..{len(classes)} or None, got {keypoint_label!r}")
    named = {"": first} if models is None else {f"[{name!r}]": found for name, found in models.items()}
    keypoint_counts = set()
    for i, image in enumerate(images):
        _check_image(image, f"images[{i}]")
        for key, found in named.items():
            keypoint_counts.add(_check_detections(found[i], f"predictions{key}[{i}]", classes, with_scores=True))
        if targets is not None:
            keypoint_counts.add(_check_detections(targets[i], f"targets[{i}]", classes, with_scores=False))
    for pair in skeleton or ():
        if len(pair) != 2 or not all(isinstance(k, int) and 1 <= k <= max(keypoint_counts) for k in pair):
            raise ValueError(f"expected skeleton pairs of 1-based keypoint indices in 1..{max(keypoint_counts)}, got {pair!r}")
    data: dict[str, Any] = {
        "kind": "detection",
        "classes": list(classes),
        "images": [image_data_uri(image) for image in images],
    }
    if models is None:  # one detector: the payload of the single-model explorer, as before
        data["predictions"] = [_detections_payload(p, keypoint_label, exact=True) for p in first]
    else:  # a list, not an object: JavaScript would reorder names that look like integers
        data["models"] = [
            {"name": name, "predictions": [_detections_payload(p, keypoint_label, exact=True) for p in found]}
            for name, found in models.items()
        ]
    data["targets"] = [_detections_payload(t, keypoint_label, exact=False) for t in targets] if targets else None
    data["keypoint_label"] = keypoint_label
    data["skeleton"] = [list(pair) for pair in skeleton] if skeleton else []
    data["score_threshold"] = float(score_threshold)
    data["nms_iou"] = float(nms_iou)
    data["scale"] = scale
    advice = "pass fewer or smaller images" if models is None else "pass fewer or smaller images, or fewer models"
    return _check_budget(Explorer(data), advice)


# ---------------------------------------------------------------------------------------------------
# Chapter 5: the default boxes of each feature map, and their matches
# ---------------------------------------------------------------------------------------------------


def _box_shape_labels(model: SSD, level: int) -> list[str]:
    """Names of a level's default boxes per cell, in ``DefaultBoxGenerator``'s order."""
    labels = ["1:1, scale sₖ", "1:1, scale √(sₖ·sₖ₊₁)"]
    for ratio in model.anchor_generator.aspect_ratios[level]:
        labels += [f"{ratio:g}:1", f"1:{ratio:g}"]
    return labels


def default_box_explorer(
    model: SSD,
    image: torch.Tensor,
    target: Mapping[str, torch.Tensor] | None = None,
    *,
    classes: Sequence[str] | None = None,
    display: float = 0.75,
) -> Explorer:
    """The default boxes of an SSD's feature maps over a scene, and the ones each ground-truth box is matched to.

    Controls: the feature map, the box shapes (aspect ratios and the two squares), the cell, and a
    ground-truth box whose matches to show. The boxes are the model's own ``anchor_generator`` output
    (TorchVision's ``DefaultBoxGenerator``, through :func:`~mnv3lib.models.ssdlite.default_boxes`), at
    the model's fixed input size; the matches are its ``proposal_matcher`` (``SSDMatcher``) applied to
    ``box_iou`` of the resized ground truth and every default box, as SSD's training does: each default
    box goes to the box it overlaps most if their IoU reaches the threshold (0.5), and each ground-truth
    box keeps its single best default box, however low the IoU.

    Args:
        model: A TorchVision ``SSD`` (e.g. :func:`~mnv3lib.models.ssdlite.ssdlite320_mobilenet_v3_large`).
        image: The scene, ``(3, H, W)``, uint8 or float in [0, 1]; shown stretched to the model's input size.
        target: Its ground truth (``boxes`` in XYXY pixels of ``image``, ``labels``), for the matches.
        classes: Class names (label 1 first), to name the ground-truth boxes (needed with a target).
        display: Screen pixels per input pixel.
    """
    if not isinstance(model, SSD):
        raise TypeError(f"expected a torchvision SSD model, got {type(model).__name__}")
    height, width = _check_image(image, "image")
    check_range(display, "display", 0.1, 4.0)
    levels = default_boxes(model)
    truth: list[dict[str, Any]] = []
    if target is not None:
        if not classes:
            raise ValueError("expected classes (label 1 first) with a target, to name its ground-truth boxes")
        _check_detections(target, "target", classes, with_scores=False)
        found = match_default_boxes(model, target["boxes"], (height, width))
        for j, (box, label) in enumerate(zip(found.boxes.tolist(), target["labels"].tolist())):
            members = torch.nonzero(found.matches == j).flatten()
            truth.append({
                "box": [round(v, 2) for v in box],
                "label": classes[label - 1],
                "matched": members.tolist(),
                "iou": [round(float(v), 3) for v in found.iou[j, members]],
            })  # fmt: skip
    data = {
        "kind": "defaultboxes",
        "image": image_data_uri(image),
        "size": list(model.transform.fixed_size),
        "levels": [
            {
                "grid": list(level["grid"]),
                "cell": level["cell"],
                "labels": _box_shape_labels(model, index),
                "boxes": torch.round(level["boxes"].double().reshape(-1) * 100).div(100).tolist(),  # 0.01 px
            }
            for index, level in enumerate(levels)
        ],
        "threshold": float(model.proposal_matcher.high_threshold),
        "truth": truth,
        "default_truth": int(max(range(len(truth)), key=lambda j: _area(truth[j]["box"]))) if truth else None,
        "display": float(display),
    }
    return _check_budget(Explorer(data), "pass a smaller image")


def _area(box: Sequence[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


# ---------------------------------------------------------------------------------------------------
# Chapter 6: the segmentation explorer
# ---------------------------------------------------------------------------------------------------


def _check_class_map(mask: object, name: str, size: tuple[int, int], classes: Sequence[str]) -> None:
    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != size:
        raise ValueError(f"expected {name} to be an {size} tensor of class ids (the image's size), got {getattr(mask, 'shape', type(mask).__name__)}")
    if mask.is_floating_point():
        raise TypeError(f"expected {name} to hold integer class ids, got dtype {mask.dtype}: use logits.argmax(1)")
    ids = set(mask.unique().tolist()) - {255}
    if ids and (min(ids) < 0 or max(ids) >= len(classes)):
        raise ValueError(f"expected {name}'s class ids in 0..{len(classes) - 1} (or 255, not drawn), got {sorted(ids)}")


def segmentation_explorer(
    images: Sequence[torch.Tensor],
    predictions: Sequence[torch.Tensor],
    classes: Sequence[str],
    *,
    targets: Sequence[torch.Tensor] | None = None,
    instances: Sequence[dict[str, torch.Tensor]] | None = None,
    alpha: float = 0.5,
    scale: int = 2,
) -> Explorer:
    """Browse segmentations: image and opacity sliders, one toggle per class, and panels for the
    prediction, the ground truth (semantic) and the ground-truth instance masks.

    Masks are blended as :func:`~mnv3lib.viz.drawing.draw_semantic` and
    :func:`~mnv3lib.viz.drawing.draw_instances` do (TorchVision's ``draw_segmentation_masks``).

    Args:
        images: ``(3, H, W)`` images, uint8 or float in [0, 1].
        predictions: Predicted class ids ``(H, W)`` for each image (0 = background).
        classes: Class names, index 0 = the background.
        targets: Ground-truth class ids (255 = ignored, not drawn).
        instances: Target dicts with instance ``masks`` ``(N, H, W)`` and ``labels`` ``(N,)``.
        alpha: The opacity slider's initial value.
        scale: Display magnification (the book's scenes are small).
    """
    if len(images) != len(predictions) or not images:
        raise ValueError(f"expected as many predictions as images (at least one), got {len(images)} images and {len(predictions)} predictions")
    for name, extra in (("targets", targets), ("instances", instances)):
        if extra is not None and len(extra) != len(images):
            raise ValueError(f"expected as many {name} as images, got {len(extra)} {name} for {len(images)} images")
    if len(classes) < 2 or len(classes) > 255:
        raise ValueError(f"expected 2 to 255 class names (index 0 = the background), got {len(classes)}")
    check_range(alpha, "alpha", 0.0, 1.0)
    check_positive(scale, "scale", integer=True)
    size = _check_image(images[0], "images[0]")
    for i, image in enumerate(images):
        if _check_image(image, f"images[{i}]") != size:
            raise ValueError(f"expected every image of size {size}, got {tuple(image.shape[1:])} for images[{i}]")
        _check_class_map(predictions[i], f"predictions[{i}]", size, classes)
        if targets is not None:
            _check_class_map(targets[i], f"targets[{i}]", size, classes)
        if instances is not None:
            found = instances[i]
            masks, labels = found.get("masks"), found.get("labels")
            if not isinstance(masks, torch.Tensor) or masks.dim() != 3 or tuple(masks.shape[1:]) != size:
                raise ValueError(f"expected instances[{i}]['masks'] of shape (N, {size[0]}, {size[1]}), got {getattr(masks, 'shape', None)}")
            if not isinstance(labels, torch.Tensor) or tuple(labels.shape) != (masks.shape[0],):
                raise ValueError(f"expected instances[{i}]['labels'] of shape ({masks.shape[0]},), got {getattr(labels, 'shape', None)}")
    data = {
        "kind": "segmentation",
        "classes": list(classes),
        "width": size[1],
        "height": size[0],
        "images": [image_data_uri(image) for image in images],
        "predictions": [run_length_encode(p) for p in predictions],
        "targets": [run_length_encode(t) for t in targets] if targets is not None else None,
        "instances": [
            [{"label": int(label), "mask": run_length_encode(mask.bool())} for mask, label in zip(found["masks"], found["labels"].tolist())]
            for found in instances
        ] if instances is not None else None,  # fmt: skip
        "alpha": float(alpha),
        "scale": scale,
    }
    return _check_budget(Explorer(data))
