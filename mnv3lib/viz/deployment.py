"""Figures of Chapter 7 ("Deploying MobileNetV3"): what each deployment route buys and costs.

Like :mod:`.plotting`, every function returns a ``Figure`` and accepts ``ax=``.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .plotting import figure_and_axes

__all__ = ["plot_latency_vs_agreement"]


def plot_latency_vs_agreement(
    table: pd.DataFrame,
    ax: Axes | None = None,
    *,
    latency: str = "latency (ms)",
    agreement: str = "top-1 agreement (%)",
    int8: str = "int8",
) -> Figure:
    """One labelled point per route (the rows of ``table``, indexed by route name): latency against
    agreement with the eager float model. Int8 routes (``table[int8]`` true) are drawn as squares.

    Up and to the left is better: fast, and the same predictions as the float model.
    """
    for column in (latency, agreement, int8):
        if column not in table.columns:
            raise ValueError(f"expected a column {column!r} in table, got {list(table.columns)}")
    fig, (axis,) = figure_and_axes(ax, 1, (7.5, 4.0))
    for name, row in table.iterrows():
        marker, color = ("s", "tab:orange") if row[int8] else ("o", "tab:blue")
        axis.scatter(row[latency], row[agreement], marker=marker, color=color, s=36)
        axis.annotate(str(name), (row[latency], row[agreement]), textcoords="offset points", xytext=(5, 3), fontsize=8)
    axis.set_xscale("log")
    axis.set_xlabel(f"{latency}, log scale")
    axis.set_ylabel(agreement)
    axis.scatter([], [], marker="o", color="tab:blue", label="float32")
    axis.scatter([], [], marker="s", color="tab:orange", label="int8")
    axis.legend(loc="lower right")
    axis.set_title("Faster routes to the left; int8 costs agreement")
    return fig
