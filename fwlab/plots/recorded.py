"""Recorded runs drawn over a training figure: mean ± spread bands across seeds.

:func:`recorded_band_traces` turns a recorded comparison (:func:`fwlab.experiments.recorded.
load_recorded`) into plotly traces for the loss and metric panels of
:func:`fwlab.plots.training_figure`: per recorded run, the mean over seeds as a dashed line and
the min..max spread over seeds as a shaded band (:func:`fwlab.plots.bands.seed_band`),
against batches (= gradient evaluations, so methods with different K share the axis at equal
cost). :func:`add_recorded` adds them to a figure or ``FigureWidget``.

:func:`seed_bands_figure` sets several sets of seeds of the same runs side by side, one panel per
run (e.g. a live run's seeds beside the recorded seeds at the same setting), each set drawn as
its min..max band and mean; its traces are filled from :func:`seed_bands_trace_data`, which
refreshes a ``FigureWidget`` of it the same way.

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
from plotly.colors import hex_to_rgb
from plotly.subplots import make_subplots

from fwlab.plots.bands import band_note, seed_band
from fwlab.util.validate import one_of

__all__ = [
    "RECORDED_COLORS",
    "SEED_BAND_COLORS",
    "seed_bands_figure",
    "seed_bands_trace_data",
    "recorded_band_traces",
    "add_recorded",
    "recorded_metric",
]

#: colours of recorded runs (muted, distinct from the live runs' colours)
RECORDED_COLORS = ("#6b6ecf", "#b5cf6b", "#e7969c", "#7b4173", "#9c9ede", "#bd9e39")


def recorded_metric(recorded: Mapping[str, Any]) -> str:
    """``"test_acc"`` when the recorded runs have test accuracies (read from the first run's
    first seed), else ``"test_loss"``."""
    first = next((h for by_seed in recorded["runs"].values() for h in by_seed.values()), None)
    has_acc = first is not None and any(a is not None for a in first["eval"].get("test_acc", []))
    return "test_acc" if has_acc else "test_loss"


def _rgba(hex_color: str, alpha: float) -> str:
    return "rgba({},{},{},{})".format(*hex_to_rgb(hex_color), alpha)


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
    (:func:`fwlab.plots.bands.band_note`).

    Raises:
        ValueError: ``metric`` is not ``"test_loss"``/``"test_acc"``/``"valid_loss"``/
            ``"valid_acc"``, or a run is not recorded.
    """
    one_of("metric", metric, ("test_loss", "test_acc", "valid_loss", "valid_acc"))
    names = list(recorded["runs"]) if runs is None else list(runs)
    missing = [n for n in names if n not in recorded["runs"]]
    if missing:
        raise ValueError(f"runs must be recorded runs {sorted(recorded['runs'])}, got {missing}")
    series = {"loss": ("train", "loss"), "metric": ("eval", metric)}
    labels = recorded.get("labels", {})  # display names; a run without one shows its name
    traces = []
    for i, name in enumerate(names):
        by_seed = {int(s): h for s, h in recorded["runs"][name].items()}
        color = RECORDED_COLORS[i % len(RECORDED_COLORS)]
        for panel, (part, key) in series.items():
            band = seed_band(by_seed, part, key)
            # the seeds actually in this panel's band, and any left out for NaN/inf
            label = f"recorded {labels.get(name, name)} ({band_note(band)})"
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


#: the colours of the sets of seeds in :func:`seed_bands_figure`, in the order given
SEED_BAND_COLORS = ("#d62728", "#6b6ecf", "#2ca02c", "#bd9e39")


def seed_bands_trace_data(
    sources: Mapping[str, Mapping[str, Any]],
    runs: Sequence[str],
    metric: str = "test_loss",
) -> dict[str, dict[str, Any]]:
    """``meta -> {"x", "y", "name"}`` of every trace of :func:`seed_bands_figure`: per set of
    seeds (``sources``: label -> a recorded comparison, or anything shaped like one:
    ``{"runs": {run: {seed: history}}}``) and per run of ``runs``, the band of
    ``eval.<metric>`` over its seeds (:func:`fwlab.plots.bands.seed_band`) as
    ``"<label>:<run>:lo"``, ``":hi"`` and ``":mean"``; the names say how many seeds each band
    holds (:func:`fwlab.plots.bands.band_note`). A run a set lacks gets empty traces.

    Example:
        >>> h0 = {"eval": {"step": [1, 2], "test_loss": [0.3, 0.1]}}
        >>> h1 = {"eval": {"step": [1, 2], "test_loss": [0.5, 0.3]}}
        >>> d = seed_bands_trace_data({"live": {"runs": {"fw": {20: h0, 21: h1}}}}, ["fw"])
        >>> list(d), d["live:fw:mean"]["y"].tolist(), d["live:fw:hi"]["name"]
        (['live:fw:lo', 'live:fw:hi', 'live:fw:mean'], [0.4, 0.2], 'live (2 seeds)')
    """
    out: dict[str, dict[str, Any]] = {}
    for label, source in sources.items():
        for run in runs:
            by_seed = {int(s): h for s, h in source["runs"].get(run, {}).items()}
            band = seed_band(by_seed, "eval", metric) if by_seed else None
            name = f"{label} ({band_note(band)})" if band else f"{label} (no seed)"
            for part in ("lo", "hi", "mean"):
                x, y = (band["x"], band[part]) if band else ([], [])
                out[f"{label}:{run}:{part}"] = {"x": x, "y": y, "name": name}
    return out


def seed_bands_figure(
    sources: Mapping[str, Mapping[str, Any]],
    runs: Sequence[str],
    *,
    metric: str = "test_loss",
    titles: Mapping[str, str] | None = None,
    hlines: Sequence[tuple[float, str]] = (),
    title: str | None = None,
    height: int = 380,
) -> go.Figure:
    """One panel per run of ``runs`` (titled by ``titles``, else the run name): every set of
    seeds of ``sources`` (label -> recorded-shaped dict) as its min..max band across seeds
    (shaded) and mean (line), ``eval.<metric>`` against batches (= gradient evaluations);
    ``hlines``: ``(y, text)`` dashed reference lines in every panel (e.g. the plateau 1/6).
    The traces (``meta = "<label>:<run>:lo|hi|mean"``) are filled from
    :func:`seed_bands_trace_data`.

    Example:
        >>> h = {"eval": {"step": [1, 2], "test_loss": [0.3, 0.1]}}
        >>> fig = seed_bands_figure({"live": {"runs": {"fw": {20: h}}},
        ...                          "recorded": {"runs": {"fw": {10: h, 11: h}}}}, ["fw"])
        >>> [t.meta for t in fig.data][-3:], fig.data[-1].y.tolist()
        (['recorded:fw:lo', 'recorded:fw:hi', 'recorded:fw:mean'], [0.3, 0.1])
    """
    titles = dict(titles or {})
    fig = make_subplots(rows=1, cols=len(runs), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[titles.get(r, r) for r in runs])  # fmt: skip
    data = seed_bands_trace_data(sources, runs, metric)
    for col, run in enumerate(runs, start=1):
        for i, label in enumerate(sources):
            color = SEED_BAND_COLORS[i % len(SEED_BAND_COLORS)]
            common = dict(legendgroup=label, hoverinfo="skip", showlegend=False)
            edge = {"width": 0, "color": color}
            traces = [
                go.Scatter(mode="lines", line=edge, meta=f"{label}:{run}:lo", **common),
                go.Scatter(mode="lines", line=edge, fill="tonexty", fillcolor=_rgba(color, 0.2),
                           meta=f"{label}:{run}:hi", **common),
                go.Scatter(mode="lines", line={"width": 2, "color": color},
                           meta=f"{label}:{run}:mean", legendgroup=label, showlegend=col == 1),
            ]  # fmt: skip
            for trace in traces:
                fig.add_trace(trace, row=1, col=col)
        for y, text in hlines:
            fig.add_hline(y=y, line={"dash": "dash", "color": "#7f7f7f", "width": 1}, row=1,
                          col=col, annotation_text=text if col == 1 else None)  # fmt: skip
        fig.update_xaxes(title_text="batches", row=1, col=col)
    for trace in fig.data:
        trace.update(data[trace.meta])
    fig.update_yaxes(title_text=metric.replace("_", " "), row=1, col=1)
    fig.update_layout(title=title, height=height, template="plotly_white",
                      legend={"orientation": "h", "y": -0.25})  # fmt: skip
    return fig
