"""Live ipywidgets for the book. Every factory returns a widget; the work is done by plain functions.

Only APIs common to ipywidgets 7 (Colab) and 8 are used. Results are shown in ``HTML`` widgets, whose
state is saved in the notebook, so the published page shows the default state without a kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import pandas as pd
import torch

from ..analysis.benchmark import Latency, measure_latency
from .display import for_display
from .drawing import PALETTE, draw_detections, draw_instances, draw_semantic, filter_predictions, png_data_uri
from ..analysis.introspection import block_table
from ..models.mobilenetv3 import mobilenet_v3

__all__ = ["ArchitectureReport", "architecture_report", "architecture_explorer", "calibration_explorer", "detection_explorer", "segmentation_explorer"]


@dataclass(frozen=True)
class ArchitectureReport:
    """What the architecture explorer shows for one setting of its controls."""

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


def architecture_explorer(*, input_size: int = 224, latency_repeats: int = 10, threads: int | None = None) -> widgets.VBox:
    """Controls for arch, width_mult, reduced_tail, dilated and input size over a live block table.

    Each change rebuilds the model and updates the totals (parameters, multiply-adds, output stride),
    the measured CPU latency (``latency_repeats`` = 0 turns it off) and the per-layer table.
    """
    arch = widgets.ToggleButtons(
        options=[("Large", "mobilenet_v3_large"), ("Small", "mobilenet_v3_small")], description="arch"
    )
    width_mult = widgets.FloatSlider(
        value=1.0, min=0.25, max=1.5, step=0.05, description="width_mult", readout_format=".2f", continuous_update=False
    )
    reduced_tail = widgets.Checkbox(value=False, description="reduced_tail")
    dilated = widgets.Checkbox(value=False, description="dilated")
    size = widgets.IntSlider(
        value=input_size, min=96, max=512, step=32, description="input size", continuous_update=False
    )
    summary = widgets.HTML()
    table = widgets.HTML()

    def update(_change: object = None) -> None:
        report = architecture_report(
            arch.value,
            width_mult=width_mult.value,
            reduced_tail=reduced_tail.value,
            dilated=dilated.value,
            input_size=size.value,
            latency_repeats=latency_repeats,
            threads=threads,
        )
        summary.value = report.summary_html()
        rows = for_display(report.table).to_html(border=0)
        table.value = f'<div style="overflow-x: auto; font-size: 85%">{rows}</div>'

    for control in (arch, width_mult, reduced_tail, dilated, size):
        control.observe(update, names="value")
    update()
    controls = widgets.VBox([arch, widgets.HBox([width_mult, size]), widgets.HBox([reduced_tail, dilated])])
    return widgets.VBox([controls, summary, table])


def calibration_explorer(
    run: Callable[[str, int], Mapping[str, float]],
    observers: Sequence[str],
    batch_counts: Sequence[int],
    *,
    known: Mapping[tuple[str, int], Mapping[str, float]] | None = None,
) -> widgets.VBox:
    """Pick an activation observer and a number of calibration batches; see the int8 model's accuracy.

    Args:
        run: ``run(observer, batches)`` quantizes and evaluates, returning metrics such as ``acc1`` and
            ``agreement`` (Chapter 3 passes :func:`mnv3lib.book.runs.ptq_experiment`).
        observers, batch_counts: The choices offered.
        known: Results already computed, keyed by ``(observer, batches)``; others are computed on demand.
    """
    if not observers or not batch_counts:
        raise ValueError("expected at least one observer and one batch count")
    cache = dict(known or {})
    observer = widgets.Dropdown(options=list(observers), value=observers[0], description="observer")
    batches = widgets.SelectionSlider(options=list(batch_counts), value=batch_counts[0], description="batches", continuous_update=False)
    result = widgets.HTML()

    def update(_change: object = None) -> None:
        key = (observer.value, batches.value)
        if key not in cache:
            result.value = "<i>quantizing and evaluating…</i>"
            cache[key] = run(*key)
        metrics = " &nbsp;·&nbsp; ".join(f"{name} <b>{value:.2f}</b>" for name, value in cache[key].items())
        result.value = f"{observer.value} observer, {batches.value} calibration batch{'es' if batches.value > 1 else ''}: {metrics}"

    observer.observe(update, names="value")
    batches.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([observer, batches]), result])


def detection_explorer(
    images: Sequence[torch.Tensor],
    predictions: Sequence[dict[str, torch.Tensor]],
    classes: Sequence[str],
    *,
    targets: Sequence[dict[str, torch.Tensor]] | None = None,
    keypoint_label: int | None = None,
    skeleton: Sequence[tuple[int, int]] | None = None,
    score_threshold: float = 0.5,
    nms_iou: float = 0.5,
    scale: int = 2,
) -> widgets.VBox:
    """Browse detections: an image slider, score-threshold and NMS-IoU sliders, keypoint and ground-truth toggles.

    Args:
        images: ``(3, H, W)`` images, uint8 or float in [0, 1].
        predictions: The model's raw outputs for them, best made with ``box_score_thresh=0`` and
            ``box_nms_thresh=1`` so that the sliders decide what is kept (:func:`~mnv3lib.viz.drawing.filter_predictions`).
        classes: Class names (label 1 first).
        targets: Ground truth, drawn beside the predictions when the toggle is on.
        keypoint_label, skeleton: Which detections carry keypoints, and how to join them (1-based pairs).
        score_threshold, nms_iou: The sliders' initial values.
        scale: Display magnification (the book's scenes are small).
    """
    if len(images) != len(predictions) or not images:
        raise ValueError(f"expected as many predictions as images (at least one), got {len(images)} images and {len(predictions)} predictions")
    index = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image", continuous_update=False)
    score = widgets.FloatSlider(value=score_threshold, min=0.0, max=1.0, step=0.05, description="min score", continuous_update=False)
    iou = widgets.FloatSlider(value=nms_iou, min=0.05, max=1.0, step=0.05, description="NMS IoU", continuous_update=False)
    show_keypoints = widgets.Checkbox(value=True, description="keypoints and skeleton")
    show_truth = widgets.Checkbox(value=False, description="ground truth", disabled=targets is None)
    picture, caption = widgets.HTML(), widgets.HTML()

    def update(_change: object = None) -> None:
        image = images[index.value]
        kept = filter_predictions(predictions[index.value], score.value, iou.value)
        style = {"keypoint_label": keypoint_label, "skeleton": skeleton, "show_keypoints": show_keypoints.value}
        panels = [draw_detections(image, kept, classes, **style)]
        if show_truth.value and targets is not None:
            panels.append(draw_detections(image, targets[index.value], classes, **style))
        size = image.shape[-1] * scale
        picture.value = "".join(f'<img src="{png_data_uri(p)}" width="{size}" style="image-rendering: pixelated; margin-right: 8px">' for p in panels)
        names = ", ".join(f"{classes[int(label) - 1]} {float(s):.2f}" for label, s in zip(kept["labels"], kept["scores"]))
        caption.value = f"{len(kept['labels'])} of {len(predictions[index.value]['labels'])} candidates kept: {names or 'none'}"

    for control in (index, score, iou, show_keypoints, show_truth):
        control.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([index, score, iou]), widgets.HBox([show_keypoints, show_truth]), picture, caption])


def segmentation_explorer(
    images: Sequence[torch.Tensor],
    predictions: Sequence[torch.Tensor],
    classes: Sequence[str],
    *,
    targets: Sequence[torch.Tensor] | None = None,
    instances: Sequence[dict[str, torch.Tensor]] | None = None,
    alpha: float = 0.5,
    scale: int = 2,
) -> widgets.VBox:
    """Browse segmentations: an image slider, an opacity slider, one toggle per class, and panels for the
    prediction, the ground truth and the instance masks.

    Args:
        images: ``(3, H, W)`` images, uint8 or float in [0, 1].
        predictions: Predicted class ids ``(H, W)`` for each image (0 = background).
        classes: Class names, index 0 = the background.
        targets: Ground-truth class ids, shown beside the predictions when the toggle is on.
        instances: Target dicts with instance ``masks`` and ``labels``, shown when the toggle is on.
        alpha: The opacity slider's initial value.
        scale: Display magnification (the book's scenes are small).
    """
    if len(images) != len(predictions) or not images:
        raise ValueError(f"expected as many predictions as images (at least one), got {len(images)} images and {len(predictions)} predictions")
    index = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image", continuous_update=False)
    opacity = widgets.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="opacity", continuous_update=False)
    toggles = [
        widgets.Checkbox(value=True, description=name, indent=False, layout=widgets.Layout(width="110px"), style={"description_width": "0px"})
        for name in classes[1:]
    ]  # fmt: skip
    swatches = widgets.HTML(" ".join(f'<span style="color:{PALETTE[c % len(PALETTE)]}">■ {name}</span>' for c, name in enumerate(classes) if c > 0))
    show_truth = widgets.Checkbox(value=targets is not None, description="ground truth", disabled=targets is None)
    show_instances = widgets.Checkbox(value=instances is not None, description="instance masks", disabled=instances is None)
    picture, caption = widgets.HTML(), widgets.HTML()

    def update(_change: object = None) -> None:
        image, visible = images[index.value], [c for c, toggle in enumerate(toggles, start=1) if toggle.value]
        panels = [("prediction", draw_semantic(image, predictions[index.value], visible=visible, alpha=opacity.value))]
        if show_truth.value and targets is not None:
            panels.append(("ground truth", draw_semantic(image, targets[index.value], visible=visible, alpha=opacity.value)))
        if show_instances.value and instances is not None:
            found = instances[index.value]
            panels.append(("instances", draw_instances(image, found["masks"], found["labels"], visible=visible, alpha=opacity.value)))
        size = image.shape[-1] * scale
        picture.value = "".join(
            f'<figure style="display:inline-block; margin:0 8px 0 0"><img src="{png_data_uri(p)}" width="{size}" style="image-rendering: pixelated">'
            f'<figcaption style="text-align:center">{title}</figcaption></figure>'
            for title, p in panels
        )  # fmt: skip
        present = predictions[index.value].unique().tolist()
        caption.value = "predicted classes: " + (", ".join(classes[c] for c in present if 0 < c < len(classes)) or "background only")

    for control in (index, opacity, show_truth, show_instances, *toggles):
        control.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([index, opacity]), widgets.HBox(toggles), swatches, widgets.HBox([show_truth, show_instances]), picture, caption])
