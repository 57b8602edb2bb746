"""Training curves of several runs of :func:`fwlab.train.fit` side by side."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fwlab.plots._style import _positive
from fwlab.util.exponent import format_p
from fwlab.util.validate import one_of

#: (row, col) of each series in :func:`training_figure`, in the order the series are drawn
TRAINING_PANELS: dict[str, tuple[int, int]] = {
    "loss": (1, 1),
    "metric": (1, 2),
    "lr": (1, 3),
    "delta": (1, 3),
    "fw_gap": (2, 1),
    "dw_norm": (2, 2),
    "angle_deg": (2, 3),
    "events": (1, 1),
}
#: the series drawn per run, in order; run ``name``'s traces have ``meta = f"{series}:{name}"``
TRAINING_SERIES: tuple[str, ...] = tuple(TRAINING_PANELS)
_TRAINING_COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)


def run_title(method: object) -> str:
    """A run's name in training figures and dashboards: what the method is
    (:attr:`fwlab.train.Method.title`, with the K actually used), not the paper's row label.

    Example:
        >>> from fwlab.train import get_method
        >>> run_title(get_method("fw_k1", K=5)), run_title(get_method("lstm_fw")), run_title(
        ...     get_method("sgd"))
        ('Frank-Wolfe K=5', 'LSTM, Frank-Wolfe K=1', 'BPTT+Adam')
    """
    return str(method.title)  # type: ignore[attr-defined]


def training_metric(histories: Mapping[str, Mapping] | Mapping, metric: str = "auto") -> str:
    """``"test_acc"`` or ``"test_loss"``: the metric panel's series. ``"auto"`` picks the
    accuracy when any history (or the one history given) has one, else the test loss."""
    if one_of("metric", metric, ("auto", "test_acc", "test_loss")) != "auto":
        return metric
    hs = [histories] if "eval" in histories else list(histories.values())
    has_acc = any(a is not None for h in hs for a in h["eval"]["test_acc"])
    return "test_acc" if has_acc else "test_loss"


def training_panel_titles(metric: str) -> tuple[str, ...]:
    """The six subplot titles of :func:`training_figure` for ``metric``."""
    return (
        "training loss (per batch)",
        "test accuracy (%)" if metric == "test_acc" else "test loss",
        "η_t (—) and δ_t (···)",
        "FW gap ⟨∇F, Δω_{K−1} − s_K⟩",
        "‖Δω_K‖₂",
        "angle(Δω_K, −∇F(ω)) in °",
    )


def training_color(index: int) -> str:
    """The colour of the ``index``-th run of a training figure."""
    return _TRAINING_COLORS[index % len(_TRAINING_COLORS)]


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` points (fewer at the start)."""
    if window <= 1 or len(y) == 0:
        return y
    c = np.cumsum(np.insert(y, 0, 0.0))
    n = np.arange(1, len(y) + 1)
    lo = np.maximum(n - window, 0)
    return (c[n] - c[lo]) / (n - lo)


def _thin(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ~``max_points`` points: means over consecutive bins, at each bin's last x."""
    n = len(y)
    if max_points < 1 or n <= max_points:
        return x, y
    k = math.ceil(n / max_points)
    m = n // k * k
    xs = [x[k - 1 : m : k]]
    ys = [y[:m].reshape(-1, k).mean(axis=1)]
    if m < n:
        xs.append(x[-1:])
        ys.append(y[m:].mean(keepdims=True))
    return np.concatenate(xs), np.concatenate(ys)


def _series(h: Mapping, part: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(step, key)`` of ``h[part]`` as float arrays of equal length (None → NaN); a history
    being written by a training thread may have one list a value longer than the other."""
    block = h[part]
    n = min(len(block["step"]), len(block[key]))
    x = np.asarray(block["step"][:n], dtype=np.float64)
    y = np.array([np.nan if v is None else v for v in block[key][:n]], dtype=np.float64)
    return x, y


def _event_text(e: Mapping) -> str:
    if e.get("kind") == "stop":
        return f"step {e['step']}: stop"
    vals = dict(e.get("values", {}))
    vals.pop("initial_lr", None)
    parts = []
    for k, v in vals.items():
        label = {"lr": "η", "delta": "δ"}.get(k, k)
        parts.append(f"{label} = {format_p(v) if k == 'p' else f'{v:.4g}'}")
    return f"step {e['step']}: {e.get('kind', 'set')} " + ", ".join(parts)


def training_trace_data(
    histories: Mapping[str, Mapping],
    *,
    metric: str = "auto",
    smooth: int = 1,
    max_points: int = 2000,
) -> dict[str, dict[str, object]]:
    """Properties (``x``, ``y``, ``text``) of every trace of :func:`training_figure`:
    ``f"{series}:{name}" → props`` for each ``name → history`` of :func:`fwlab.train.fit`.

    ``loss`` is the per-batch training loss (a trailing mean over ``smooth`` batches), ``metric``
    the test accuracy or loss at each evaluation, ``lr``/``delta`` the η_t and δ_t in use at each
    outer step (``lr`` per batch for Adam), ``fw_gap``, ``dw_norm``, ``angle_deg`` Frank-Wolfe's
    diagnostics per outer step (empty for Adam), ``events`` one marker per recorded change.
    Long series are averaged down to about ``max_points`` points.
    """
    metric = training_metric(histories, metric)
    out: dict[str, dict[str, object]] = {}
    for name, h in histories.items():
        x, y = _series(h, "train", "loss")
        out[f"loss:{name}"] = dict(zip(("x", "y"), _thin(x, _smooth(y, smooth), max_points)))
        out[f"metric:{name}"] = dict(zip(("x", "y"), _series(h, "eval", metric)))
        if h["optimizer"]["step"]:
            out[f"lr:{name}"] = _lr_per_outer_step(h, max_points)
            for key in ("delta", "fw_gap", "dw_norm", "angle_deg"):
                xs, ys = _series(h, "optimizer", key)
                if key in ("fw_gap", "dw_norm", "delta"):
                    ys = _positive(ys)
                out[f"{key}:{name}"] = dict(zip(("x", "y"), _thin(xs, ys, max_points)))
        else:
            out[f"lr:{name}"] = dict(zip(("x", "y"), _thin(*_series(h, "train", "lr"), max_points)))
            for key in ("delta", "fw_gap", "dw_norm", "angle_deg"):
                out[f"{key}:{name}"] = {"x": np.empty(0), "y": np.empty(0)}
        events = [e for e in list(h["events"]) if "step" in e]
        losses = h["train"]["loss"]
        ex = np.array([e["step"] for e in events], dtype=np.float64)
        # a change is marked on the loss curve, at the loss of its batch
        at = [min(max(e["step"] - 1, 0), len(losses) - 1) for e in events]
        ey = np.array([losses[i] if losses else np.nan for i in at], dtype=np.float64)
        out[f"events:{name}"] = {"x": ex, "y": ey, "text": [_event_text(e) for e in events]}
    return out


def _lr_per_outer_step(h: Mapping, max_points: int) -> dict[str, object]:
    """η at each Frank-Wolfe outer step: the per-batch lr read at the outer steps' batches."""
    xs, _ = _series(h, "optimizer", "delta")
    tx, ty = _series(h, "train", "lr")
    idx = np.clip(xs.astype(np.int64) - 1, 0, max(len(ty) - 1, 0))
    ys = ty[idx] if len(ty) else np.full(len(xs), np.nan)
    return dict(zip(("x", "y"), _thin(xs, ys, max_points)))


def add_training_traces(fig: go.Figure, name: str, index: int) -> None:
    """Add the empty traces of run ``name`` (colour ``index``) to a :func:`training_figure`
    (or its ``FigureWidget``); fill them with :func:`training_trace_data`."""
    color = training_color(index)
    line = {"color": color, "width": 1.5}
    hover = f"{name}<br>step %{{x}}<br>%{{y:.4g}}<extra></extra>"
    traces: dict[str, go.Scatter] = {
        "loss": go.Scatter(mode="lines", name=name, line=line, showlegend=True),
        "metric": go.Scatter(mode="lines+markers", name=name, line=line, marker={"size": 5}),
        "lr": go.Scatter(mode="lines", name=f"{name}: η_t", line=line),
        "delta": go.Scatter(mode="lines", name=f"{name}: δ_t", line={**line, "dash": "dot"}),
        "fw_gap": go.Scatter(mode="lines", name=name, line=line),
        "dw_norm": go.Scatter(mode="lines", name=name, line=line),
        "angle_deg": go.Scatter(mode="lines", name=name, line=line),
        "events": go.Scatter(
            mode="markers",
            name=f"{name}: changes",
            marker={"symbol": "x-thin-open", "size": 11, "color": color, "line": {"width": 2}},
            hovertemplate="%{text}<extra></extra>",
        ),
    }
    for series in TRAINING_SERIES:
        tr = traces[series]
        tr.update(meta=f"{series}:{name}", legendgroup=name)
        if series != "loss":
            tr.update(showlegend=False)
        if series != "events":
            tr.update(hovertemplate=hover)
        row, col = TRAINING_PANELS[series]
        fig.add_trace(tr, row=row, col=col)


def training_figure(
    histories: Mapping[str, Mapping],
    *,
    metric: str = "auto",
    smooth: int = 1,
    max_points: int = 2000,
    reference_loss: float | None = None,
    title: str | None = None,
    height: int = 560,
) -> go.Figure:
    """Training curves of several runs side by side: loss, test metric, η_t/δ_t, and
    Frank-Wolfe's diagnostics (FW gap, ‖Δω_K‖, angle between Δω_K and −∇F — the paper's
    assumption A5) against the batch count.

    Args:
        histories: ``name → history`` of :func:`fwlab.train.fit` (live or finished).
        metric: ``"auto"`` (accuracy for classification, else test loss), ``"test_acc"`` or
            ``"test_loss"``.
        smooth: trailing mean of the per-batch loss over this many batches.
        max_points: longer series are averaged down to about this many points.
        reference_loss: a dashed horizontal line in the loss panels (e.g. the adding task's
            stalled level ``fwlab.data.STALLED_MSE`` = 1/6).
        title, height: of the figure.

    Every trace carries ``meta = f"{series}:{name}"`` (:data:`TRAINING_SERIES`), in the order
    of ``histories``, so a widget can find and refresh them.

    Example:
        >>> h = {"train": {"step": [1, 2], "loss": [0.5, 0.4], "lr": [1e-3, 1e-3]},
        ...      "eval": {"step": [2], "test_loss": [0.45], "test_acc": [None]},
        ...      "optimizer": {"step": [], "fw_gap": [], "dw_norm": [], "angle_deg": [],
        ...                    "delta": []}, "events": []}
        >>> [t.meta for t in training_figure({"sgd": h}).data][:3]
        ['loss:sgd', 'metric:sgd', 'lr:sgd']
    """
    metric = training_metric(histories, metric)
    fig = make_subplots(
        rows=2,
        cols=3,
        subplot_titles=training_panel_titles(metric),
        vertical_spacing=0.17,
        horizontal_spacing=0.09,
    )
    for i, name in enumerate(histories):
        add_training_traces(fig, name, i)
    data = training_trace_data(histories, metric=metric, smooth=smooth, max_points=max_points)
    for tr in fig.data:
        tr.update(data.get(tr.meta, {}))
    style_training_figure(fig, metric, reference_loss=reference_loss, title=title, height=height)
    return fig


def style_training_figure(
    fig: go.Figure,
    metric: str,
    *,
    reference_loss: float | None = None,
    title: str | None = None,
    height: int = 560,
) -> None:
    """Axes, titles and layout of :func:`training_figure` (also used on a FigureWidget).

    Sized to be read at 700 px wide, plotly's and :func:`fwlab.plots.figure_files.save_figure`'s
    default export width (a panel is then about 180 px): 12 px panel titles, 10 px tick labels,
    at most 5 ticks per axis, and the x axis's title once, under the middle panel."""
    for i, text in enumerate(training_panel_titles(metric)):
        if i < len(fig.layout.annotations):
            fig.layout.annotations[i].text = text
            fig.layout.annotations[i].font = {"size": 12}
    for row, col in ((1, 1), (1, 3), (2, 1)):
        fig.update_yaxes(type="log", row=row, col=col)
    # ‖Δω_K‖ sits at its bound δ·√(tensors) for K = 1: a linear axis from 0 shows that plainly
    fig.update_yaxes(rangemode="tozero", row=2, col=2)
    fig.update_yaxes(type="linear" if metric == "test_acc" else "log", row=1, col=2)
    fig.update_yaxes(range=[0, 180], row=2, col=3)
    # a batch is one gradient evaluation: K>1 Frank-Wolfe is compared at equal cost on this axis
    fig.update_xaxes(title_text="batches (= gradient evaluations)", row=2, col=2)
    fig.update_xaxes(nticks=5, tickfont={"size": 10}, title_font={"size": 11})
    fig.update_yaxes(nticks=5, tickfont={"size": 10})
    if reference_loss is not None:
        for col in (1, 2) if metric == "test_loss" else (1,):
            fig.add_hline(
                y=reference_loss,
                line={"dash": "dash", "color": "#7f7f7f", "width": 1},
                annotation_text=f"{reference_loss:.3g}",
                annotation_position="bottom left",
                row=1,
                col=col,
                exclude_empty_subplots=False,
            )
    fig.update_layout(
        title={"text": title or "training curves", "font": {"size": 14}},
        height=height,
        margin={"l": 50, "r": 20, "t": 70, "b": 40},
        font={"size": 11},
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0, "font": {"size": 11}},
        uirevision="training",
        template="plotly_white",
    )
