"""Figures for the book. Every function returns a matplotlib ``Figure`` and accepts ``ax=``.

Figures are made with ``matplotlib.figure.Figure`` rather than ``pyplot``, so a notebook shows each
one exactly once (as the cell's value) and nothing leaks between cells.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from torch.nn import functional as F

from .drawing import draw_detections, draw_instances, draw_semantic
from ..analysis.quantization_error import Int8Grid, grid_error
from ..engine.optim import RMSpropTF, steady_state_steps, tf_eps_to_torch
from ..models.layers import make_divisible
from ..models.mobilenetv3 import InvertedResidualConfig

__all__ = [
    "plot_default_boxes",
    "BOOK_STYLE",
    "use_book_style",
    "new_figure",
    "figure_and_axes",
    "plot_activations",
    "plot_block_diagram",
    "plot_block_profile",
    "plot_channel_rounding",
    "plot_scaling",
    "rmsprop_step_sizes",
    "plot_eps_comparison",
    "plot_training_curves",
    "plot_image_grid",
    "plot_top_classes",
    "plot_image_rows",
    "plot_layer_sqnr",
    "plot_calibration_sweep",
    "plot_detections",
    "plot_segmentation",
    "plot_lraspp_anatomy",
    "plot_latency_vs_params",
    "plot_rmsprop_steps",
    "plot_int8_grid",
    "plot_default_box_matches",
]

BOOK_STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}
COLORS = {"relu": "#4C72B0", "hardswish": "#DD8452", "se": "#55A868", "linear": "#8172B3", "other": "#937860"}


def use_book_style() -> None:
    """Apply the book's matplotlib settings (chapters call this explicitly; importing never does)."""
    mpl.rcParams.update(BOOK_STYLE)


def new_figure(ncols: int = 1, figsize: tuple[float, float] = (7.0, 3.5)) -> tuple[Figure, list[Axes]]:
    """A pyplot-free figure with ``ncols`` side-by-side axes."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def figure_and_axes(ax: Axes | Sequence[Axes] | None, ncols: int, figsize: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    """The figure and ``ncols`` axes a plot function draws on: those of ``ax`` when the caller gives
    them (one axis, or a sequence of ``ncols``), else a new figure of ``figsize`` (:func:`new_figure`).

    Raises:
        ValueError: ``ax`` holds another number of axes than ``ncols``.
    """
    if ax is None:
        return new_figure(ncols, figsize)
    axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    if len(axes) != ncols:
        raise ValueError(f"expected {ncols} axes in ax, got {len(axes)}")
    return axes[0].figure, axes


def plot_activations(ax: Axes | Sequence[Axes] | None = None, x_range: float = 6.0) -> Figure:
    """Swish vs hard-swish and sigmoid vs hard-sigmoid, with their largest gap annotated.

    Args:
        ax: Two axes to draw on (swish pair, sigmoid pair), or None for a new figure.
        x_range: Plot x in [-x_range, x_range].
    """
    fig, (ax_swish, ax_sigmoid) = figure_and_axes(ax, 2, (8.0, 3.2))
    x = torch.linspace(-x_range, x_range, 601)
    pairs = [
        (ax_swish, "swish  x·σ(x)", F.silu(x), "hard-swish  x·ReLU6(x+3)/6", F.hardswish(x)),
        (ax_sigmoid, "sigmoid  σ(x)", torch.sigmoid(x), "hard-sigmoid  ReLU6(x+3)/6", F.hardsigmoid(x)),
    ]
    for axis, smooth_name, smooth, hard_name, hard in pairs:
        axis.plot(x, smooth, color=COLORS["relu"], label=smooth_name)
        axis.plot(x, hard, color=COLORS["hardswish"], linestyle="--", label=hard_name)
        gap = (smooth - hard).abs()
        worst = int(gap.argmax())
        axis.annotate(
            f"largest gap {gap[worst]:.3f}\nat x = {x[worst]:.2f}",
            xy=(float(x[worst]), float(hard[worst])),
            xytext=(0.04, 0.62),
            textcoords="axes fraction",
            arrowprops={"arrowstyle": "->", "color": "0.4"},
        )
        axis.set_xlabel("x")
        axis.legend(loc="upper left")
    ax_swish.set_title("Swish and its piecewise-linear stand-in")
    ax_sigmoid.set_title("Sigmoid and hard-sigmoid (the SE gate)")
    return fig


def _stage_box(axis: Axes, x: float, y: float, width: float, text: str, color: str) -> None:
    box = FancyBboxPatch((x, y - 0.32), width, 0.64, boxstyle="round,pad=0.02", facecolor=color, alpha=0.85)
    axis.add_patch(box)
    axis.text(x + width / 2, y, text, ha="center", va="center", fontsize=8, color="white")


def plot_block_diagram(
    configs: Sequence[InvertedResidualConfig], labels: Sequence[str] | None = None, ax: Axes | None = None
) -> Figure:
    """Draw inverted-residual blocks as rows of units: expand → depthwise+activation → SE → project.

    A missing expansion leaves a gap; the activation is drawn inside the depthwise unit, before SE;
    the projection is always there and linear; a "+" marks the skip connection.

    Args:
        configs: The blocks to draw, one row each.
        labels: Row labels (e.g. ``"block 1"``).
        ax: Axes to draw on, or None for a new figure.
    """
    fig, (axis,) = figure_and_axes(ax, 1, (9.0, 0.9 + 0.8 * len(configs)))
    labels = labels or [f"block {i}" for i in range(len(configs))]
    for row, (config, label) in enumerate(zip(configs, labels)):
        y = len(configs) - row
        c = config
        act = c.activation
        axis.text(-0.2, y, label, ha="right", va="center", fontsize=9)
        if c.has_expansion:
            _stage_box(axis, 0.0, y, 2.2, f"expand 1×1\n{c.in_channels}→{c.expanded_channels}, {act}", COLORS[act])
        else:
            axis.text(1.1, y, f"no expand\n(in = exp = {c.in_channels})", ha="center", va="center", fontsize=8, color="0.4")
        stride = f"s{c.stride}" + (f", d{c.dilation}" if c.dilation > 1 else "")
        _stage_box(axis, 2.4, y, 2.4, f"depthwise {c.kernel_size}×{c.kernel_size} {stride}\n{c.expanded_channels} ch → {act}", COLORS[act])
        if c.use_se:
            _stage_box(axis, 5.0, y, 2.2, f"SE {c.expanded_channels}→{c.squeeze_channels}→{c.expanded_channels}\nhard-sigmoid", COLORS["se"])
        _stage_box(axis, 7.4, y, 2.2, f"project 1×1\n{c.expanded_channels}→{c.out_channels}, linear", COLORS["linear"])
        if c.use_residual:
            axis.text(9.85, y, "+ x", ha="left", va="center", fontsize=11, fontweight="bold")
    axis.set_xlim(-1.6, 10.6)
    axis.set_ylim(0.4, len(configs) + 0.6)
    axis.axis("off")
    axis.set_title("Inside the inverted-residual block (left to right)")
    return fig


def plot_block_profile(table: pd.DataFrame, ax: Axes | Sequence[Axes] | None = None, title: str = "") -> Figure:
    """Parameters and multiply-adds per layer of a :func:`~mnv3lib.analysis.introspection.block_table`.

    Bars are coloured by activation; hatched bars have squeeze-and-excite.
    """
    fig, (ax_params, ax_macs) = figure_and_axes(ax, 2, (9.0, 3.2))
    colors = [COLORS.get(a, COLORS["other"]) for a in table["activation"]]
    hatches = ["//" if se else "" for se in table["SE"].fillna(0)]
    labels = [str(i) for i in table.index]
    for axis, column, scale, unit in ((ax_params, "params", 1e3, "thousand parameters"), (ax_macs, "MACs", 1e6, "million multiply-adds")):
        bars = axis.bar(labels, table[column] / scale, color=colors)
        for bar, hatch in zip(bars, hatches):
            bar.set_hatch(hatch)
        axis.set_xlabel("layer index (stem, blocks, last conv, pool, classifier)")
        axis.set_ylabel(unit)
        axis.tick_params(axis="x", labelsize=7)
    handles = [mpl.patches.Patch(color=COLORS[k], label=k) for k in ("relu", "hardswish")]
    handles.append(mpl.patches.Patch(facecolor="white", edgecolor="0.3", hatch="//", label="with SE"))
    ax_params.legend(handles=handles, loc="upper left")
    total_params, total_macs = table["params"].sum(), table["MACs"].sum()
    ax_params.set_title(f"Parameters per layer (total {total_params / 1e6:.2f} M)")
    ax_macs.set_title(f"Multiply-adds per layer (total {total_macs / 1e9:.3f} G)")
    if title:
        fig.suptitle(title)
    return fig


def plot_channel_rounding(
    base_channels: Sequence[int] = (16, 24, 40, 80, 112, 160),
    width_mults: Sequence[float] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Channel counts ``c × width_mult`` before and after :func:`make_divisible` (steps of 8)."""
    fig, (axis,) = figure_and_axes(ax, 1, (7.0, 3.6))
    width_mults = np.linspace(0.25, 1.5, 126) if width_mults is None else np.asarray(width_mults)
    for index, c in enumerate(base_channels):
        color = mpl.colormaps["viridis"](index / max(1, len(base_channels) - 1))
        axis.plot(width_mults, c * width_mults, color=color, alpha=0.4, linestyle=":")
        rounded = [make_divisible(c * w) for w in width_mults]
        axis.step(width_mults, rounded, where="post", color=color, label=f"{c} channels")
    axis.set_xlabel("width_mult")
    axis.set_ylabel("channels")
    axis.set_title("Scaled channels (dotted) and the multiple of 8 actually built (steps)")
    axis.legend(ncols=2, fontsize=8)
    return fig


def plot_scaling(results: pd.DataFrame, ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Parameters and multiply-adds against ``width_mult`` for each architecture and option.

    Args:
        results: Columns ``arch``, ``variant``, ``width_mult``, ``params``, ``MACs``.
    """
    fig, (ax_params, ax_macs) = figure_and_axes(ax, 2, (9.0, 3.4))
    styles = {"default": "-", "reduced_tail": "--", "dilated": ":"}
    markers = {"mobilenet_v3_large": "o", "mobilenet_v3_small": "s"}
    for (arch, variant), group in results.groupby(["arch", "variant"], sort=False):
        label = f"{arch.removeprefix('mobilenet_v3_')}, {variant}"
        kwargs = {"linestyle": styles.get(variant, "-"), "marker": markers.get(arch, "o"), "label": label}
        ax_params.plot(group["width_mult"], group["params"] / 1e6, **kwargs)
        ax_macs.plot(group["width_mult"], group["MACs"] / 1e9, **kwargs)
    ax_params.set_ylabel("parameters (M)")
    ax_macs.set_ylabel("multiply-adds (G)")
    for axis in (ax_params, ax_macs):
        axis.set_xlabel("width_mult")
    ax_params.legend(fontsize=8)
    ax_params.set_title("Parameters grow ≈ with width_mult²")
    ax_macs.set_title("Dilation keeps the parameters, raises the cost")
    return fig


def rmsprop_step_sizes(grad_rms: np.ndarray, tf_eps: float, torch_eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Steady-state RMSProp step per unit learning rate for a gradient of RMS ``g`` (so ``v ≈ g²``).

    Returns ``(tensorflow, pytorch)``: ``g / sqrt(g² + tf_eps)`` and ``g / (g + torch_eps)``.
    """
    g = np.asarray(grad_rms, dtype=np.float64)
    return g / np.sqrt(g * g + tf_eps), g / (g + torch_eps)


def plot_eps_comparison(
    tf_eps: float = 1e-3,
    torch_eps: float | None = None,
    grad_rms_samples: Sequence[float] | None = None,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Where ``eps_torch = sqrt(eps_tf)`` is a good stand-in: step size and ratio against gradient RMS.

    Args:
        tf_eps: TensorFlow's epsilon (inside the square root).
        torch_eps: PyTorch's epsilon (outside); defaults to ``sqrt(tf_eps)``.
        grad_rms_samples: Optional measured gradient RMS values (e.g. per parameter tensor), drawn as a rug.
        ax: Two axes, or None for a new figure.
    """
    torch_eps = math.sqrt(tf_eps) if torch_eps is None else torch_eps
    fig, (ax_step, ax_ratio) = figure_and_axes(ax, 2, (9.0, 3.4))
    smallest = 1e-5 if grad_rms_samples is None else min(1e-5, 0.5 * float(np.min(np.asarray(grad_rms_samples))))
    g = np.geomspace(max(smallest, 1e-12), 10, 400)
    tf_step, torch_step = rmsprop_step_sizes(g, tf_eps, torch_eps)
    _, literal_step = rmsprop_step_sizes(g, tf_eps, tf_eps)
    ax_step.loglog(g, tf_step, color=COLORS["hardswish"], label=f"TensorFlow, eps={tf_eps:g} inside √")
    ax_step.loglog(g, torch_step, color=COLORS["relu"], linestyle="--", label=f"PyTorch, eps={torch_eps:.4g} (√eps_tf)")
    ax_step.loglog(g, literal_step, color="0.5", linestyle=":", label=f"PyTorch, eps={tf_eps:g} copied literally")
    ax_step.set_xlabel("gradient RMS  g")
    ax_step.set_ylabel("step / learning rate")
    ax_step.set_title("Steady-state RMSProp step")
    ax_step.legend(fontsize=8, loc="upper left")
    ratio = tf_step / torch_step
    ax_ratio.semilogx(g, ratio, color=COLORS["se"])
    peak = int(np.argmax(ratio))
    ax_ratio.annotate(
        f"largest gap ×{ratio[peak]:.2f}\nat g = {g[peak]:.3g} ≈ √eps_tf",
        xy=(g[peak], ratio[peak]),
        xytext=(0.05, 0.55),
        textcoords="axes fraction",
        arrowprops={"arrowstyle": "->", "color": "0.4"},
    )
    ax_ratio.axhline(1.0, color="0.5", linewidth=0.8)
    ax_ratio.set_xlabel("gradient RMS  g")
    ax_ratio.set_ylabel("TensorFlow step / PyTorch step")
    ax_ratio.set_title("Agree far from √eps, differ by up to √2 near it")
    if grad_rms_samples is not None:
        samples = np.asarray(grad_rms_samples, dtype=np.float64)
        for axis in (ax_step, ax_ratio):
            low = axis.get_ylim()[0]
            axis.plot(samples, np.full_like(samples, low), "|", color="k", markersize=12, alpha=0.5, clip_on=False)
        ax_ratio.text(0.98, 0.04, "| measured gradients", transform=ax_ratio.transAxes, ha="right", fontsize=8)
    return fig


def plot_training_curves(
    histories: dict[str, Sequence[dict]], metrics: Sequence[str] = ("train_loss", "val_acc1"), ax: Axes | Sequence[Axes] | None = None
) -> Figure:
    """Per-epoch curves of several runs (each history a list of dicts with ``epoch`` and the metrics)."""
    labels = {"train_loss": "training loss", "val_acc1": "validation Acc@1 (%)", "val_loss": "validation loss", "lr": "learning rate"}
    fig, axes = figure_and_axes(ax, len(metrics), (4.5 * len(metrics), 3.4))
    for name, history in histories.items():
        epochs = [h["epoch"] for h in history]
        for axis, metric in zip(axes, metrics):
            axis.plot(epochs, [h[metric] for h in history], marker="o", markersize=3, label=name)
    for axis, metric in zip(axes, metrics):
        axis.set_xlabel("epoch")
        axis.set_ylabel(labels.get(metric, metric))
        if metric == "lr":
            axis.set_yscale("log")
    axes[0].legend(fontsize=8)
    return fig


def _pixels(image: torch.Tensor) -> np.ndarray:
    """A ``(3, H, W)`` uint8 or [0, 1] float image as the ``(H, W, 3)`` array ``imshow`` takes."""
    image = image.float() / 255 if not image.is_floating_point() else image
    return image.permute(1, 2, 0).clamp(0, 1).numpy()


def plot_image_grid(
    images: torch.Tensor | Sequence[torch.Tensor], titles: Sequence[str] | None = None, ncols: int = 8, ax: Axes | None = None, panel_inches: float = 1.3
) -> Figure:
    """A grid of uint8 (or [0, 1] float) images, a ``(N, 3, H, W)`` batch or ``(3, H, W)`` images of
    any sizes, with optional titles, ``panel_inches`` wide each."""
    count = len(images)
    nrows = math.ceil(count / ncols)
    fig = Figure(figsize=(panel_inches * ncols, (panel_inches + 0.15) * nrows), layout="constrained") if ax is None else ax.figure
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(count)] if ax is None else [ax]
    for index, axis in enumerate(axes):
        axis.imshow(_pixels(images[index]))
        axis.set_xticks([])
        axis.set_yticks([])
        axis.grid(False)
        if titles is not None:
            axis.set_title(titles[index], fontsize=8)
    return fig


def plot_image_rows(rows: Mapping[str, Sequence[torch.Tensor]], columns: Sequence[str] | None = None, *, panel_inches: float = 3.0) -> Figure:
    """A grid of images: one row per entry of ``rows`` (e.g. a model's drawings on each photograph),
    named at its left, with ``columns`` as the titles of the top row.

    Args:
        rows: A name per row → its ``(3, H, W)`` uint8 or [0, 1] float images, of any sizes; every
            row has as many images as the first.
        columns: A title per column (e.g. the photographs' names).
        panel_inches: The width of each panel.
    """
    ncols = len(next(iter(rows.values()), ()))
    if not ncols or any(len(images) != ncols for images in rows.values()):
        raise ValueError(f"expected rows of the same number of images (at least one), got {[len(images) for images in rows.values()]}")
    if columns is not None and len(columns) != ncols:
        raise ValueError(f"expected one column title per image of a row, got {len(columns)} for {ncols}")
    fig = Figure(figsize=(panel_inches * ncols, 0.8 * panel_inches * len(rows)), layout="constrained")
    for row, (name, images) in enumerate(rows.items()):
        for column, image in enumerate(images):
            axis = fig.add_subplot(len(rows), ncols, row * ncols + column + 1)
            axis.imshow(_pixels(image))
            axis.set_xticks([])
            axis.set_yticks([])
            axis.grid(False)
            if column == 0:
                axis.set_ylabel(name, fontsize=9)
            if row == 0 and columns is not None:
                axis.set_title(columns[column], fontsize=9)
    return fig


def plot_top_classes(
    images: Sequence[torch.Tensor],
    predictions: Mapping[str, Sequence[Sequence[tuple[str, float]]]],
    *,
    titles: Sequence[str] | None = None,
    panel_inches: float = 2.4,
) -> Figure:
    """One row per image: the image, then each model's most probable classes as bars, best at the top.

    Args:
        images: ``(3, H, W)`` uint8 or [0, 1] float images, of any sizes.
        predictions: A name per model → one list of ``(class name, probability)`` per image, as
            :func:`mnv3lib.analysis.predict.top_classes` returns them.
        titles: A title per image (e.g. the photographs' names).
        panel_inches: The width of each panel.
    """
    for name, rows in predictions.items():
        if len(rows) != len(images):
            raise ValueError(f"expected one list of classes per image from {name!r}, got {len(rows)} for {len(images)} images")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"expected one title per image, got {len(titles)} for {len(images)} images")
    ncols = 1 + len(predictions)
    fig = Figure(figsize=(panel_inches * ncols, 0.75 * panel_inches * len(images)), layout="constrained")
    for row, image in enumerate(images):
        axis = fig.add_subplot(len(images), ncols, row * ncols + 1)
        axis.imshow(_pixels(image))
        axis.set_axis_off()
        if titles is not None:
            axis.set_title(titles[row], fontsize=9)
        for column, (name, rows) in enumerate(predictions.items(), start=2):
            bars = fig.add_subplot(len(images), ncols, row * ncols + column)
            labels, probabilities = zip(*rows[row]) if rows[row] else ((), ())
            position = np.arange(len(labels))[::-1]  # the best at the top
            bars.barh(position, [100 * p for p in probabilities], color=COLORS["hardswish"])
            for y, p in zip(position, probabilities):
                bars.text(min(100 * p, 80) + 2, y, f"{100 * p:.0f}", va="center", fontsize=7)
            bars.set_yticks(position, [label[:22] for label in labels], fontsize=7)
            bars.set_xlim(0, 100)
            bars.tick_params(axis="x", labelsize=7)
            bars.grid(axis="y", visible=False)
            if row == 0:
                bars.set_title(name, fontsize=9)
            if row == len(images) - 1:
                bars.set_xlabel("probability (%)", fontsize=8)
    return fig


def plot_layer_sqnr(table: pd.DataFrame, ax: Axes | Sequence[Axes] | None = None, title: str = "") -> Figure:
    """Where int8 loses precision, from :func:`mnv3lib.analysis.quantization_error.layer_sqnr`'s table.

    Left: SQNR of the int8 model against the float one along the network (accumulated error, line) and
    of each output's own int8 rounding (points, coloured by layer kind). Right: the median rounding
    SQNR of each kind of layer, worst at the top.
    """
    fig, (along, by_kind) = figure_and_axes(ax, 2, (11.0, 4.0))
    groups = list(table["group"])
    palette = dict(zip(sorted(set(groups)), mpl.colormaps["tab20"].colors))
    position = np.arange(len(table))
    along.plot(position, table["sqnr_db"], color="0.4", label="int8 model vs float (accumulated)")
    for group, color in palette.items():
        rows = [i for i, g in enumerate(groups) if g == group]
        along.scatter(position[rows], table["activation_sqnr_db"].iloc[rows], color=color, s=18, label=group, zorder=3)
    along.set_xlabel("layer output, in forward order")
    along.set_ylabel("SQNR (dB)")
    along.legend(fontsize=7, ncols=2, loc="lower left")
    medians = table.groupby("group")["activation_sqnr_db"].median().sort_values(ascending=False)
    by_kind.barh(medians.index, medians.values, color=[palette[g] for g in medians.index])
    for y, value in enumerate(medians.values):
        by_kind.text(value + 0.3, y, f"{value:.1f}", va="center", fontsize=8)
    by_kind.set_xlabel("median SQNR of the layer's own int8 rounding (dB)")
    by_kind.set_xlim(0, medians.max() + 5)
    if title:
        fig.suptitle(title)
    return fig


def plot_calibration_sweep(results: pd.DataFrame, ax: Axes | Sequence[Axes] | None = None, float_acc1: float | None = None) -> Figure:
    """PTQ accuracy and agreement with the float model against the number of calibration batches.

    ``results`` has one row per run with columns ``observer``, ``batches``, ``acc1`` and ``agreement``.
    """
    fig, axes = figure_and_axes(ax, 2, (10.0, 3.4))
    for observer, rows in results.groupby("observer", sort=False):
        rows = rows.sort_values("batches")
        for axis, metric in zip(axes, ("acc1", "agreement")):
            axis.plot(rows["batches"], rows[metric], marker="o", markersize=4, label=observer)
    if float_acc1 is not None:
        axes[0].axhline(float_acc1, color="0.3", linestyle="--", linewidth=1, label="float model")
    for axis, label in zip(axes, ("validation Acc@1 (%)", "top-1 agreement with float (%)")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("calibration batches (32 images each)")
        axis.set_ylabel(label)
    axes[0].legend(fontsize=8)
    return fig


def plot_detections(
    images: Sequence[torch.Tensor],
    detections: Sequence[dict],
    classes: Sequence[str],
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 4,
    panel_inches: float = 2.2,
    **draw: object,
) -> Figure:
    """A grid of images with their boxes (and keypoints), drawn by :func:`mnv3lib.viz.drawing.draw_detections`,
    ``panel_inches`` wide each. ``draw`` is passed on (``keypoint_label``, ``skeleton``, ``show_keypoints``, ...).
    """
    if len(images) != len(detections):
        raise ValueError(f"expected one detections dict per image, got {len(detections)} for {len(images)} images")
    drawn = [draw_detections(image, found, classes, **draw) for image, found in zip(images, detections)]
    return plot_image_grid(drawn, titles, ncols=min(ncols, len(images)), panel_inches=panel_inches)


def plot_segmentation(
    images: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor | dict],
    *,
    titles: Sequence[str] | None = None,
    visible: Sequence[int] | None = None,
    alpha: float = 0.5,
    ncols: int = 4,
    panel_inches: float = 1.8,
) -> Figure:
    """A grid of images (``panel_inches`` wide each) overlaid with masks: semantic ``(H, W)`` class ids (:func:`mnv3lib.viz.drawing.draw_semantic`)
    or a target dict's instance ``masks`` and ``labels`` (:func:`mnv3lib.viz.drawing.draw_instances`)."""
    if len(images) != len(masks):
        raise ValueError(f"expected one mask per image, got {len(masks)} for {len(images)} images")
    drawn = [
        draw_instances(image, mask["masks"], mask["labels"], visible=visible, alpha=alpha) if isinstance(mask, dict)
        else draw_semantic(image, mask, visible=visible, alpha=alpha)
        for image, mask in zip(images, masks)
    ]  # fmt: skip
    return plot_image_grid(drawn, titles, ncols=min(ncols, len(images)), panel_inches=panel_inches)


def _arrow(axis: Axes, start: tuple[float, float], end: tuple[float, float], text: str = "") -> None:
    axis.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "color": "0.3"})
    if text:
        axis.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12, text, ha="center", va="bottom", fontsize=7, color="0.3")


def plot_lraspp_anatomy(shapes: dict[str, tuple[int, ...]], ax: Axes | None = None) -> Figure:
    """The LR-ASPP head as a flow of tensors, labelled with their ``(C, H, W)`` from
    :func:`mnv3lib.models.segmentation.lraspp_shapes`: the high (stride 16) branch on top, the low (stride 8) below."""
    fig, (axis,) = figure_and_axes(ax, 1, (11.0, 3.6))
    size = shapes["input"][-1]

    def label(name: str, title: str) -> str:
        c, h, w = shapes[name]
        stride = f", stride {round(size / h)}" if 1 < h < size else ""
        return f"{title}\n{c}×{h}×{w}{stride}"

    high, low, gate = 2.0, 0.0, 3.0
    _stage_box(axis, 0.0, 1.0, 1.7, label("input", "image"), COLORS["other"])
    _stage_box(axis, 2.2, high, 1.9, label("high", "high features"), COLORS["hardswish"])
    _stage_box(axis, 2.2, low, 1.9, label("low", "low features"), COLORS["hardswish"])
    _stage_box(axis, 4.6, high, 1.9, label("cbr", "1×1 conv, BN, ReLU"), COLORS["relu"])
    _stage_box(axis, 4.6, gate, 1.9, label("scale", "pool, 1×1, sigmoid"), COLORS["se"])
    _stage_box(axis, 7.0, high, 1.9, label("upsampled", "× gate, upsample"), COLORS["linear"])
    _stage_box(axis, 9.4, high, 1.9, label("high_classifier", "1×1 classifier"), COLORS["linear"])
    _stage_box(axis, 9.4, low, 1.9, label("low_classifier", "1×1 classifier"), COLORS["linear"])
    _stage_box(axis, 11.8, 1.0, 1.7, label("head", "sum"), COLORS["other"])
    _stage_box(axis, 14.0, 1.0, 1.7, label("out", "bilinear upsample"), COLORS["other"])
    _arrow(axis, (1.7, 1.1), (2.2, high - 0.1))
    _arrow(axis, (1.7, 0.9), (2.2, low + 0.1))
    _arrow(axis, (4.1, high), (4.6, high))
    _arrow(axis, (4.1, high + 0.2), (4.6, gate - 0.1))
    _arrow(axis, (6.5, high), (7.0, high))
    _arrow(axis, (6.5, gate - 0.1), (7.0, high + 0.25))
    _arrow(axis, (8.9, high), (9.4, high))
    _arrow(axis, (4.1, low), (9.4, low))
    _arrow(axis, (11.3, high - 0.1), (11.8, 1.1))
    _arrow(axis, (11.3, low + 0.1), (11.8, 0.9))
    _arrow(axis, (13.5, 1.0), (14.0, 1.0))
    axis.set_xlim(-0.2, 15.9)
    axis.set_ylim(-0.6, 3.6)
    axis.axis("off")
    axis.set_title(f"LR-ASPP on a {size}×{size} image: tensor shapes (channels × height × width)")
    return fig


def plot_latency_vs_params(table: pd.DataFrame, ax: Axes | None = None, *, latency: str = "CPU latency (ms)", params: str = "parameters (M)") -> Figure:
    """Latency against parameters, one labelled point per row of ``table`` (indexed by model name), log-log."""
    fig, (axis,) = figure_and_axes(ax, 1, (7.5, 4.5))
    for name, row in table.iterrows():
        axis.scatter(row[params], row[latency], s=30)
        axis.annotate(str(name), (row[params], row[latency]), textcoords="offset points", xytext=(5, 3), fontsize=8)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel(params)
    axis.set_ylabel(latency)
    axis.set_title("Latency is not proportional to parameters")
    return fig


def plot_default_boxes(levels: Sequence[dict], image_size: tuple[int, int], ax: Axes | None = None, *, which: Sequence[int] | None = None) -> Figure:
    """The default boxes of an SSD at the central cell of each level in ``which`` (default: all), one colour
    per level, over the ``image_size`` canvas; ``levels`` as :func:`mnv3lib.models.ssdlite.default_boxes` returns."""
    fig, (axis,) = figure_and_axes(ax, 1, (4.2, 4.2))
    colours = mpl.colormaps["viridis"](np.linspace(0, 0.9, len(levels)))
    for index in which if which is not None else range(len(levels)):
        level = levels[index]
        rows, cols = level["grid"]
        for box in level["boxes"][rows // 2, cols // 2].tolist():
            axis.add_patch(mpl.patches.Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], fill=False, lw=1.2, color=colours[index]))
        axis.plot([], [], color=colours[index], label=f"level {index}: {rows}×{cols} cells of {level['cell']:.0f} px")
    height, width = image_size
    axis.add_patch(mpl.patches.Rectangle((0, 0), width, height, fill=False, lw=1.5, ls="--", color="black"))
    axis.set_xlim(-0.6 * width, 1.6 * width)
    axis.set_ylim(1.6 * height, -0.6 * height)
    axis.set_aspect("equal")
    axis.legend(loc="upper left", fontsize=7, frameon=False)
    axis.set_title(f"default boxes at the central cell ({width}×{height} input, dashed)")
    return fig


def plot_rmsprop_steps(
    eps: float = 1e-3,
    lr: float = 0.064,
    *,
    grad_range: tuple[float, float] = (1e-6, 10.0),
    grad_rms_samples: Sequence[float] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """RMSProp's steady-state step against the gradient's RMS, as the optimizers take it
    (:func:`~mnv3lib.engine.optim.steady_state_steps`): TensorFlow's ``eps`` inside the root, PyTorch's
    with the same ``eps`` copied and with the ported ``sqrt(eps)``: the Chapter 2 explorer's picture."""
    fig, (axis,) = figure_and_axes(ax, 1, (7.5, 4.0))
    g = torch.logspace(math.log10(grad_range[0]), math.log10(grad_range[1]), 400, dtype=torch.float64)
    ported = tf_eps_to_torch(eps)
    curves = (
        (RMSpropTF, eps, f"TensorFlow (RMSpropTF): eps={eps:g} inside √", COLORS["hardswish"], "-"),
        (torch.optim.RMSprop, eps, f"PyTorch (RMSprop): eps={eps:g} copied, outside √", "0.55", ":"),
        (torch.optim.RMSprop, ported, f"PyTorch: ported eps={ported:.3g}, outside √", COLORS["relu"], "--"),
    )
    for optimizer_class, value, label, colour, style in curves:
        axis.loglog(g, steady_state_steps(optimizer_class, g, lr=lr, eps=value), color=colour, linestyle=style, label=label)
    axis.axvline(ported, color=COLORS["relu"], linewidth=0.8, linestyle=":")
    axis.annotate("ported eps = √eps_TF", xy=(ported, axis.get_ylim()[0]), xytext=(4, 6), textcoords="offset points", fontsize=8, color=COLORS["relu"])
    if grad_rms_samples is not None:
        samples = np.asarray(grad_rms_samples, dtype=np.float64)
        samples = samples[(samples >= grad_range[0]) & (samples <= grad_range[1])]
        axis.plot(samples, np.full_like(samples, axis.get_ylim()[0]), "|", color="k", markersize=12, alpha=0.4, clip_on=False, label="measured gradients")
    axis.set_xlabel("gradient RMS  g")
    axis.set_ylabel("|Δw| per step")
    axis.set_title(f"Steady-state RMSProp step at learning rate {lr:g}")
    axis.legend(fontsize=8, loc="upper left")
    return fig


def plot_int8_grid(values: torch.Tensor, grid: Int8Grid, ax: Axes | None = None, *, title: str = "", bins: int = 160) -> Figure:
    """A histogram of ``values`` (log counts) with ``grid`` over it: the range it represents shaded, its
    levels ticked, the clipped values in red, and the SQNR and share clipped
    (:func:`~mnv3lib.analysis.quantization_error.grid_error`) in the title: the Chapter 3 explorer's picture."""
    fig, (axis,) = figure_and_axes(ax, 1, (7.5, 3.4))
    flat = values.detach().float().cpu().flatten()
    error = grid_error(flat, grid)
    low, high = min(float(flat.min()), grid.low), max(float(flat.max()), grid.high)
    pad = 0.04 * (high - low)
    counts, edges = np.histogram(flat.numpy(), bins=bins, range=(low - pad, high + pad))
    centres = (edges[:-1] + edges[1:]) / 2
    clipped = (centres < grid.low - grid.scale / 2) | (centres > grid.high + grid.scale / 2)
    axis.axvspan(grid.low, grid.high, color=COLORS["relu"], alpha=0.12, label=f"int8 grid [{grid.low:.3g}, {grid.high:.3g}]")
    axis.bar(centres, np.log10(1 + counts), width=edges[1] - edges[0], color=np.where(clipped, "#d62728", "0.35"))
    levels = grid.scale * (np.arange(grid.quant_min, grid.quant_max + 1) - grid.zero_point)
    every = max(1, math.ceil(3 / max(1e-9, 575 * grid.scale / (high - low + 2 * pad))))
    axis.plot(levels[::every], np.zeros_like(levels[::every]), "|", color=COLORS["relu"], markersize=7, clip_on=False)
    axis.set_xlabel("value")
    axis.set_ylabel("log₁₀(1 + count)")
    axis.legend(fontsize=8, loc="upper right")
    axis.set_title(
        (f"{title}: " if title else "")
        + f"scale {grid.scale:.4g}, zero point {grid.zero_point}: SQNR {error.sqnr_db:.2f} dB, {100 * error.clipped_share:.3f} % clipped",
        fontsize=9,
    )
    return fig


def plot_default_box_matches(
    image: torch.Tensor,
    levels: Sequence[dict],
    *,
    level: int = 0,
    cell: tuple[int, int] | None = None,
    truth_box: Sequence[float] | None = None,
    matched: Sequence[int] = (),
    ax: Axes | None = None,
) -> Figure:
    """An SSD's default boxes over a scene: the grid of one feature map, the boxes of one of its cells
    (default: the central one), and optionally a ground-truth box with the default boxes matched to it
    (indices into the levels' boxes concatenated, as :func:`~mnv3lib.models.ssdlite.match_default_boxes`
    gives them): the SSDlite explorer's picture.

    Args:
        image: The scene ``(3, H, W)``, drawn stretched to the model's input size.
        levels: :func:`~mnv3lib.models.ssdlite.default_boxes` of the model.
        level, cell: The feature map, and the ``(row, column)`` of the cell whose boxes are drawn.
        truth_box: A ground-truth box in the model's input pixels (XYXY).
        matched: The default boxes matched to it.
    """
    fig, (axis,) = figure_and_axes(ax, 1, (5.0, 5.0))
    if not 0 <= level < len(levels):
        raise ValueError(f"expected level in 0..{len(levels) - 1}, got {level!r}")
    rows, cols = levels[level]["grid"]
    height, width = rows * levels[level]["cell"], cols * levels[level]["cell"]
    row, col = cell if cell is not None else (rows // 2, cols // 2)
    pixels = image.detach().as_subclass(torch.Tensor).float().cpu()  # a tv_tensors.Image too
    pixels = pixels / 255 if not image.is_floating_point() else pixels
    axis.imshow(pixels.permute(1, 2, 0).clamp(0, 1).numpy(), extent=(0, width, height, 0))
    for r in range(1, rows):
        axis.axhline(r * height / rows, color="white", alpha=0.45, linewidth=0.8, xmin=1 / 4, xmax=3 / 4)
    for c in range(1, cols):
        axis.axvline(c * width / cols, color="white", alpha=0.45, linewidth=0.8, ymin=1 / 4, ymax=3 / 4)
    axis.add_patch(mpl.patches.Rectangle((col * width / cols, row * height / rows), width / cols, height / rows, color="yellow", alpha=0.35))
    for k, box in enumerate(levels[level]["boxes"][row, col].tolist()):
        axis.add_patch(mpl.patches.Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], fill=False, lw=1.5, color=mpl.colormaps["Set2"](k)))
    all_boxes = torch.cat([lv["boxes"].reshape(-1, 4) for lv in levels])
    starts = np.cumsum([0] + [lv["boxes"][..., 0].numel() for lv in levels])
    colours = mpl.colormaps["Dark2"]
    for index in matched:
        at = int(np.searchsorted(starts, index, side="right") - 1)
        box = all_boxes[index].tolist()
        axis.add_patch(mpl.patches.Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], fill=False, lw=1.0, color=colours(at)))
    if truth_box is not None:
        x1, y1, x2, y2 = truth_box
        axis.add_patch(mpl.patches.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=2.5, color="black"))
        axis.add_patch(mpl.patches.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.2, color="white"))
    axis.add_patch(mpl.patches.Rectangle((0, 0), width, height, fill=False, lw=1.0, ls="--", color="black"))
    axis.set_xlim(-width / 2, 1.5 * width)
    axis.set_ylim(1.5 * height, -height / 2)
    axis.set_aspect("equal")
    axis.grid(False)
    matches = f"; {len(matched)} default boxes matched to the ground-truth box" if truth_box is not None else ""
    axis.set_title(f"map {level} ({rows}×{cols}), cell ({row}, {col}){matches}", fontsize=9)
    return fig
