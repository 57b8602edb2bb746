"""Recorded runs drawn over a training figure: mean ± spread bands across seeds.

:func:`recorded_band_traces` turns a recorded comparison (:func:`fwlab.train.recorded.
load_recorded`) into plotly traces for the loss and metric panels of
:func:`fwlab.plots.training_figure`: per recorded run, the mean over seeds as a dashed line and
the min..max spread over seeds as a shaded band (:func:`fwlab.experiments.bands.seed_band`),
against batches (= gradient evaluations, so methods with different K share the axis at equal
cost). :func:`add_recorded` adds them to a figure or ``FigureWidget``.

Example:
    >>> h = {"train": {"step": [1, 2], "loss": [0.5, 0.4]},
    ...      "eval": {"step": [2], "test_loss": [0.45], "test_acc": [None]}}
    >>> rec = {"runs": {"fw_k1": {"0": h, "1": h}}, "labels": {"fw_k1": "Frank-Wolfe K=1"},
    ...        "not_recorded": []}
    >>> [t.meta for t in recorded_band_traces(rec, "test_loss")][:3]
    ['recorded:loss:fw_k1:lo', 'recorded:loss:fw_k1:hi', 'recorded:loss:fw_k1:mean']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from fwlab.experiments.bands import band_note, seed_band

__all__ = [
    "RECORDED_COLORS",
    "recorded_band_traces",
    "add_recorded",
    "recorded_label",
    "recorded_metric",
]

#: colours of recorded runs (muted, distinct from the live runs' colours)
RECORDED_COLORS = ("#6b6ecf", "#b5cf6b", "#e7969c", "#7b4173", "#9c9ede", "#bd9e39")


def recorded_metric(recorded: Mapping[str, Any]) -> str:
    """``"test_acc"`` when the recorded runs have test accuracies, else ``"test_loss"``."""
    for by_seed in recorded["runs"].values():
        for h in by_seed.values():
            return (
                "test_acc"
                if any(a is not None for a in h["eval"].get("test_acc", []))
                else ("test_loss")
            )
    return "test_loss"


def recorded_label(recorded: Mapping[str, Any], run_name: str) -> str:
    """The display name of ``run_name`` (the recorded ``labels``, else the run name)."""
    return recorded.get("labels", {}).get(run_name, run_name)


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def recorded_band_traces(
    recorded: Mapping[str, Any],
    metric: str = "test_loss",
    *,
    runs: Sequence[str] | None = None,
) -> list[go.Scatter]:
    """Band traces of ``recorded``'s runs (all, or those named in ``runs``).

    Each run gives, per panel, three traces: the band's lower and upper edges (the upper one
    filled down to the lower) and the mean, ``meta = "recorded:<panel>:<run name>"``; the panels
    are ``"loss"`` (``train.loss``) and ``"metric"`` (``eval.<metric>``). The names say how many
    seeds each band holds and which were left out for having no finite value
    (:func:`fwlab.experiments.bands.band_note`).

    Raises:
        ValueError: ``metric`` is not ``"test_loss"``/``"test_acc"``/``"valid_loss"``/
            ``"valid_acc"``, or a run is not recorded.
    """
    if metric not in ("test_loss", "test_acc", "valid_loss", "valid_acc"):
        raise ValueError(f"metric must be 'test_loss' or 'test_acc' (or valid_*), got {metric!r}")
    names = list(recorded["runs"]) if runs is None else list(runs)
    missing = [n for n in names if n not in recorded["runs"]]
    if missing:
        raise ValueError(f"runs must be recorded runs {sorted(recorded['runs'])}, got {missing}")
    series = {"loss": ("train", "loss"), "metric": ("eval", metric)}
    traces = []
    for i, name in enumerate(names):
        by_seed = {int(s): h for s, h in recorded["runs"][name].items()}
        color = RECORDED_COLORS[i % len(RECORDED_COLORS)]
        for panel, (part, key) in series.items():
            band = seed_band(by_seed, part, key)
            # the seeds actually in this panel's band, and any left out for NaN/inf
            label = f"recorded {recorded_label(recorded, name)} ({band_note(band)})"
            common = dict(legendgroup=f"recorded:{name}", hoverinfo="skip", showlegend=False)
            lo = go.Scatter(
                x=band["x"], y=band["lo"], mode="lines", line={"width": 0, "color": color},
                name=f"{label}: spread", meta=f"recorded:{panel}:{name}:lo", **common,
            )  # fmt: skip
            hi = go.Scatter(
                x=band["x"], y=band["hi"], mode="lines", line={"width": 0, "color": color},
                fill="tonexty", fillcolor=_rgba(color, 0.18), name=f"{label}: spread",
                meta=f"recorded:{panel}:{name}:hi", **common,
            )  # fmt: skip
            mean = go.Scatter(
                x=band["x"], y=band["mean"], mode="lines",
                line={"width": 1.5, "color": color, "dash": "dash"}, name=f"{label}: mean",
                meta=f"recorded:{panel}:{name}:mean", legendgroup=f"recorded:{name}",
                showlegend=panel == "loss",
                hovertemplate=f"{label}<br>batch %{{x}}<br>mean %{{y:.4g}}<extra></extra>",
            )  # fmt: skip
            traces += [lo, hi, mean]
    return traces


def add_recorded(
    fig: go.Figure,
    recorded: Mapping[str, Any],
    metric: str = "test_loss",
    *,
    runs: Sequence[str] | None = None,
) -> list[str]:
    """Add :func:`recorded_band_traces` to a :func:`fwlab.plots.training_figure` (loss panel at
    row 1, col 1; metric panel at row 1, col 2); returns the metas added."""
    cells = {"loss": (1, 1), "metric": (1, 2)}
    metas = []
    for tr in recorded_band_traces(recorded, metric, runs=runs):
        row, col = cells[tr.meta.split(":")[1]]
        fig.add_trace(tr, row=row, col=col)
        metas.append(tr.meta)
    return metas
