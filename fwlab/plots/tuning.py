"""A tuning table drawn: each method's validation metric over the learning-rate grid."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from fwlab.plots.training import training_color


def tuning_figure(
    table: Mapping[str, Any], selections: Mapping[str, Any], *, labels: Mapping[str, str] = {},
    title: str = "",
) -> go.Figure:  # fmt: skip
    """One line per method: the mean over the tuning seeds of the validation metric at each
    learning rate of the grid (log axis), each seed's value as a dot, the chosen rate as a star
    and the fixed comparison's rate as a dotted vertical line. A NaN (a diverged or failed run)
    is left out of the line and named in the hover text of its rate.

    ``table``: a stored tuning table (:func:`fwlab.experiments.tuning.load_tuning`);
    ``selections``: :func:`fwlab.experiments.tuning.select_table` of it.

    Example:
        >>> from fwlab.experiments.tuning import select
        >>> rows = [dict(run="sgd", lr=lr, seed=s, valid_loss=v) for lr, s, v in
        ...         [(0.1, 1, 0.5), (0.1, 2, 0.7), (1.0, 1, 0.2), (1.0, 2, 0.3)]]
        >>> table = dict(rows=rows, runs=["sgd"], lrs=[0.1, 1.0], seeds=[1, 2], fixed_lr=0.1,
        ...              metric={"key": "valid_loss", "higher_is_better": False})
        >>> sel = select(rows, runs=["sgd"], lrs=[0.1, 1.0], seeds=[1, 2], reporting_seeds=[0])
        >>> fig = tuning_figure(table, sel)
        >>> [t.name for t in fig.data], list(fig.data[0].y), list(fig.data[2].x)
        (['sgd', 'sgd (seeds)', 'sgd (chosen)'], [0.6, 0.25], [1.0])
    """
    key = table["metric"]["key"]
    fig = go.Figure()
    for i, run in enumerate(table["runs"]):
        sel = selections[run]
        color = training_color(i)
        name = labels.get(run, run)
        lrs = [float(lr) for lr in table["lrs"]]
        means = [sel.scores[lr] for lr in lrs]
        fig.add_scatter(
            x=lrs, y=[None if math.isnan(m) else m for m in means], mode="lines+markers",
            name=name, line_color=color, legendgroup=run,
            hovertext=[f"{lr:g}: diverged or failed on a seed" if math.isnan(m) else f"{lr:g}"
                       for lr, m in zip(lrs, means)],
        )  # fmt: skip
        dots = [(lr, v) for lr in lrs for v in sel.values[lr].values() if not math.isnan(v)]
        fig.add_scatter(
            x=[d[0] for d in dots], y=[d[1] for d in dots], mode="markers",
            name=f"{name} (seeds)", marker=dict(color=color, size=5, opacity=0.45),
            legendgroup=run, showlegend=False,
        )  # fmt: skip
        fig.add_scatter(
            x=[sel.lr], y=[None if math.isnan(sel.scores[sel.lr]) else sel.scores[sel.lr]],
            mode="markers", name=f"{name} (chosen)", legendgroup=run, showlegend=False,
            marker=dict(color=color, size=14, symbol="star", line=dict(width=1, color="black")),
        )  # fmt: skip
    fig.add_vline(x=float(table["fixed_lr"]), line_dash="dot", line_color="gray")
    fig.update_xaxes(type="log", title_text="learning rate η (= δ for Frank-Wolfe)")
    fig.update_yaxes(type="log", title_text=f"{key}, mean over tuning seeds {table['seeds']}")
    fig.update_layout(title=title or f"{table.get('name', '')}: the grid (star: chosen; "
                      "dotted: the fixed setting's lr)", height=420)  # fmt: skip
    return fig
