"""The paper's tables: our accuracy beside the paper's, per task."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots


def table_figure(results: list[Mapping[str, object]], *, title: str = "") -> go.Figure:
    """Grouped bars of a reproduced table: our best test accuracy beside the paper's, per task.

    ``results`` are the rows of :func:`fwlab.experiments.reproduce.reproduce` (or of a sweep over
    ``notebooks/table_row.ipynb``): dicts with ``label``, ``task``, ``data``, ``best_acc``,
    ``final_acc`` and ``paper_acc``. One subplot per task; our bars are named after the data
    actually used (e.g. BasicMotions standing in for HAR-2), the paper's after its task.

    Example:
        >>> fig = table_figure([dict(label="Ours K=5", task="har2", data="basicmotions",
        ...                          best_acc=80.0, final_acc=75.0, paper_acc=94.11)])
        >>> [t.name for t in fig.data], list(fig.data[0].y)
        (['ours (basicmotions, best)', 'paper (har2)'], [80.0])
    """
    tasks = list(dict.fromkeys(str(r["task"]) for r in results))
    fig = make_subplots(rows=1, cols=max(len(tasks), 1), subplot_titles=tasks, shared_yaxes=True)
    for col, task in enumerate(tasks, start=1):
        rows = [r for r in results if r["task"] == task]
        labels = [str(r["label"]) for r in rows]
        data_name = str(rows[0].get("data", task))
        fig.add_bar(
            x=labels,
            y=[r.get("best_acc") for r in rows],
            name=f"ours ({data_name}, best)",
            marker_color="#1f77b4",
            customdata=[r.get("final_acc") for r in rows],
            hovertemplate="%{x}<br>best %{y:.2f}%<br>final %{customdata:.2f}%<extra></extra>",
            row=1,
            col=col,
        )
        fig.add_bar(
            x=labels,
            y=[r.get("paper_acc") for r in rows],
            name=f"paper ({task})",
            marker_color="#bbbbbb",
            row=1,
            col=col,
        )
    fig.update_layout(
        barmode="group",
        title=title or "test accuracy: ours (best over evaluations) and the paper's",
        yaxis_title="test accuracy (%)",
        height=420,
        legend=dict(orientation="h", y=-0.25),
    )
    return fig
