"""Every figure function returns a Figure, draws on given axes, and shows what its title claims."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from mnv3lib.analysis.introspection import block_table
from mnv3lib.models import mobilenet_v3_config
from mnv3lib.viz import plotting


def _sqnr_table() -> pd.DataFrame:
    groups = ["stem · hardswish", "se", "project"]
    return pd.DataFrame({"group": groups, "sqnr_db": [30.0, 20.0, 10.0], "activation_sqnr_db": [35.0, 25.0, 15.0]})


def _sweep_table() -> pd.DataFrame:
    return pd.DataFrame({"observer": ["minmax", "minmax", "histogram"], "batches": [1, 2, 1], "acc1": [50.0, 51.0, 52.0], "agreement": [90.0, 91.0, 92.0]})


def test_figures_are_returned_and_accept_axes() -> None:
    table = block_table("mobilenet_v3_small")
    configs, _ = mobilenet_v3_config("small")
    for make in (
        lambda ax=None: plotting.plot_activations(ax=ax),
        lambda ax=None: plotting.plot_block_profile(table, ax=ax),
        lambda ax=None: plotting.plot_eps_comparison(grad_rms_samples=[1e-3, 1e-2], ax=ax),
        lambda ax=None: plotting.plot_training_curves({"a": [{"epoch": 1, "train_loss": 2.0, "val_acc1": 10.0}]}, ax=ax),
        lambda ax=None: plotting.plot_layer_sqnr(_sqnr_table(), ax=ax),
        lambda ax=None: plotting.plot_calibration_sweep(_sweep_table(), ax=ax, float_acc1=55.0),
    ):
        fig = make()
        assert isinstance(fig, Figure) and len(fig.axes) == 2
        host, axes = plotting.new_figure(2)
        assert make(ax=axes) is host
    assert isinstance(plotting.plot_block_diagram(configs[:3]), Figure)
    assert isinstance(plotting.plot_channel_rounding(), Figure)
    with pytest.raises(ValueError, match="expected 2 axes"):
        plotting.plot_activations(ax=plotting.new_figure(1)[1][0])


def test_rmsprop_step_sizes_agree_far_from_sqrt_eps_and_differ_by_sqrt2_at_it() -> None:
    tf_step, torch_step = plotting.rmsprop_step_sizes(np.array([1e-6, np.sqrt(1e-3), 100.0]), 1e-3, np.sqrt(1e-3))
    ratio = tf_step / torch_step
    assert ratio[0] == pytest.approx(1.0, abs=1e-3) and ratio[2] == pytest.approx(1.0, abs=1e-3)
    assert ratio[1] == pytest.approx(np.sqrt(2))


def test_image_grid_titles_every_image() -> None:
    import torch

    images = torch.zeros(5, 3, 8, 8, dtype=torch.uint8)
    fig = plotting.plot_image_grid(images, [f"image {i}" for i in range(5)], ncols=3)
    assert len(fig.axes) == 5 and fig.axes[4].get_title() == "image 4"


def test_layer_sqnr_bars_are_sorted_best_first_with_their_values() -> None:
    fig = plotting.plot_layer_sqnr(_sqnr_table())
    bars = fig.axes[1]
    assert [label.get_text() for label in bars.get_yticklabels()] == ["stem · hardswish", "se", "project"]
    assert [text.get_text() for text in bars.texts] == ["35.0", "25.0", "15.0"]


def test_the_workbook_explorers_static_figures() -> None:
    """The static figures that follow the RMSProp, int8 grid and default box explorers: one axis each,
    titled with what they show (the int8 grid's readouts are grid_error's)."""
    import torch

    from mnv3lib.analysis.quantization_error import Int8Grid, grid_error
    from mnv3lib.models.ssdlite import default_boxes, match_default_boxes, ssdlite320_mobilenet_v3_large

    fig = plotting.plot_rmsprop_steps(1e-3, 0.01, grad_rms_samples=[1e-4, 1e-3])
    assert isinstance(fig, Figure) and len(fig.axes[0].get_lines()) >= 4 and "0.01" in fig.axes[0].get_title()
    values = torch.nn.functional.hardswish(torch.randn(5000, generator=torch.Generator().manual_seed(0)) * 3)
    grid = Int8Grid(0.05, 10, 0, 127)
    fig = plotting.plot_int8_grid(values, grid, title="test")
    error = grid_error(values, grid)
    assert f"SQNR {error.sqnr_db:.2f} dB" in fig.axes[0].get_title() and f"{100 * error.clipped_share:.3f} % clipped" in fig.axes[0].get_title()
    model = ssdlite320_mobilenet_v3_large(num_classes=3).eval()
    found = match_default_boxes(model, torch.tensor([[10.0, 10.0, 100.0, 120.0]]), (160, 160))
    matched = torch.nonzero(found.matches == 0).flatten().tolist()
    fig = plotting.plot_default_box_matches(torch.rand(3, 160, 160), default_boxes(model), level=1, truth_box=found.boxes[0].tolist(), matched=matched)
    assert f"{len(matched)} default boxes matched" in fig.axes[0].get_title() and "map 1 (10×10), cell (5, 5)" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="level"):
        plotting.plot_default_box_matches(torch.rand(3, 16, 16), default_boxes(model), level=6)
