"""The architecture explorer responds to its controls (driven from Python, as a kernel would)."""

from __future__ import annotations

import ipywidgets as widgets

from mnv3lib.viz.widgets import architecture_explorer, architecture_report


def _controls(explorer: widgets.VBox) -> dict[str, widgets.Widget]:
    found: dict[str, widgets.Widget] = {}
    stack = [explorer]
    while stack:
        widget = stack.pop()
        if getattr(widget, "description", ""):
            found[widget.description] = widget
        stack.extend(getattr(widget, "children", ()))
    return found


def test_report_totals_and_output_stride() -> None:
    report = architecture_report("mobilenet_v3_small", dilated=True, input_size=256)
    assert report.params == 2_542_856 and report.output_stride == 16 and report.latency is None
    assert "not measured" in report.summary_html()
    timed = architecture_report("mobilenet_v3_small", width_mult=0.5, input_size=96, latency_repeats=2, threads=1)
    assert timed.latency is not None and timed.latency.threads == 1 and "ms" in timed.summary_html()


def test_explorer_updates_when_controls_change() -> None:
    explorer = architecture_explorer(input_size=224, latency_repeats=0)
    summary, table = explorer.children[1], explorer.children[2]
    controls = _controls(explorer)
    assert set(controls) >= {"arch", "width_mult", "reduced_tail", "dilated", "input size"}
    assert "5.483 M" in summary.value and "output stride <b>32</b>" in summary.value and "bneck" in table.value

    controls["arch"].value = "mobilenet_v3_small"
    assert "2.543 M" in summary.value
    controls["dilated"].value = True
    assert "output stride <b>16</b>" in summary.value
    controls["reduced_tail"].value = True
    assert "1.100 M" in summary.value
    controls["width_mult"].value = 0.5
    controls["input size"].value = 320
    assert "20×20" in table.value


def test_for_display_marks_missing_cells() -> None:
    from mnv3lib.viz.display import for_display
    from mnv3lib.analysis.introspection import block_table

    table = block_table("mobilenet_v3_small")
    shown = for_display(table)
    assert shown.loc[shown.index[-1], "kernel"] == "–" and shown.loc[0, "kernel"] == 3
    assert table["kernel"].isna().sum() == 2  # the original is untouched


def test_calibration_explorer_uses_known_results_and_computes_the_rest() -> None:
    import pytest

    from mnv3lib.viz.widgets import calibration_explorer

    calls = []

    def run(observer: str, batches: int) -> dict[str, float]:
        calls.append((observer, batches))
        return {"acc1": 50.0 + batches, "agreement": 90.0}

    explorer = calibration_explorer(run, ["histogram", "minmax"], [1, 8], known={("histogram", 1): {"acc1": 12.5, "agreement": 80.0}})
    result = explorer.children[1]
    assert calls == [] and "acc1 <b>12.50</b>" in result.value  # the default state comes from the known results
    _controls(explorer)["batches"].value = 8
    assert calls == [("histogram", 8)] and "acc1 <b>58.00</b>" in result.value and "8 calibration batches" in result.value
    _controls(explorer)["observer"].value = "minmax"
    _controls(explorer)["batches"].value = 8  # unchanged value: no recomputation
    assert calls == [("histogram", 8), ("minmax", 8)]
    with pytest.raises(ValueError, match="at least one observer"):
        calibration_explorer(run, [], [1])
