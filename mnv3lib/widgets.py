"""Live ipywidgets for the book. Every factory returns a widget; the work is done by plain functions.

Only APIs common to ipywidgets 7 (Colab) and 8 are used. Results are shown in ``HTML`` widgets, whose
state is saved in the notebook, so the published page shows the default state without a kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import pandas as pd

from .benchmark import Latency, measure_latency
from .display import for_display
from .introspection import block_table
from .models.mobilenetv3 import mobilenet_v3

__all__ = ["ArchitectureReport", "architecture_report", "architecture_explorer", "calibration_explorer"]


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
            ``agreement`` (Chapter 3 passes :func:`mnv3lib.book_runs.ptq_experiment`).
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
