r"""Plotly figure builders (static ``go.Figure``), shared by the widgets and headless reports.

No ipywidgets here: a widget wraps these figures in a ``go.FigureWidget`` and refreshes their
traces from the same ``*_data`` functions, so what a notebook shows headless (papermill, nbval,
exported HTML) is exactly what the live widget draws.

Sections:

1. p-norm balls — :func:`unit_ball`, :func:`balls_xy`, :func:`lmo_ball_figure`
2. toy losses and trajectories — :func:`contour_data`, :func:`trajectory_trace_data`,
   :func:`trajectory_figure`
3. the paper's tables — :func:`table_figure`
4. loss landscape — :func:`landscape_figure` (a :class:`fwlab.landscape.Landscape`)
5. training curves — :func:`training_figure`, :func:`training_trace_data`,
   :func:`add_training_traces` (several runs of :func:`fwlab.train.fit` side by side)

Example:
    >>> from fwlab.toy import trajectory
    >>> from fwlab.plots import trajectory_figure
    >>> fw = trajectory("himmelblau", lr=0.5, K=5, p=2, steps=30)
    >>> fig = trajectory_figure("himmelblau", fw)
    >>> [t.meta for t in fig.data][:5]
    ['contour', 'minima', 'balls', 'vertices', 'inner']
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fwlab.optim.lmo import as_p
from fwlab.toy.losses import ToyLoss, get_loss
from fwlab.toy.trajectory import Trajectory

if TYPE_CHECKING:  # fwlab.landscape imports the training stack; the figure only reads fields
    from fwlab.landscape import Landscape

__all__ = [
    "BASELINES",
    "LANDSCAPE_TRACES",
    "METHOD_COLORS",
    "METHOD_LABELS",
    "TRAINING_PANELS",
    "TRAINING_SERIES",
    "TRAJECTORY_TRACES",
    "add_training_traces",
    "balls_xy",
    "contour_data",
    "format_p",
    "landscape_figure",
    "lmo_ball_figure",
    "run_title",
    "table_figure",
    "trajectory_figure",
    "trajectory_trace_data",
    "style_training_figure",
    "training_color",
    "training_figure",
    "training_metric",
    "training_panel_titles",
    "training_trace_data",
    "unit_ball",
]

# =========================================================================================
# 1. p-norm balls
# =========================================================================================


def format_p(p: float | str) -> str:
    """``"∞"`` for infinity, else the shortest decimal (``1``, ``1.5``)."""
    p = as_p(p)
    return "∞" if math.isinf(p) else f"{p:g}"


def unit_ball(p: float | str, n: int = 49) -> np.ndarray:
    r"""Closed boundary of the unit ball :math:`\{s \in \mathbb R^2: \|s\|_p \le 1\}`, (m, 2).

    Finite p uses the superellipse parametrization
    :math:`(\operatorname{sgn}\cos\theta\,|\cos\theta|^{2/p},\ \operatorname{sgn}\sin\theta\,
    |\sin\theta|^{2/p})`, which lies exactly on :math:`|x|^p + |y|^p = 1` and, with ``n - 1``
    divisible by 4, hits the four axis points (the corners of the ℓ1 diamond). p = ∞ is the square.

    Example:
        >>> unit_ball(1, n=5).round(12).tolist()
        [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [1.0, 0.0]]
    """
    p = as_p(p)
    if math.isinf(p):
        return np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [1.0, 1.0]])
    theta = np.linspace(0.0, 2.0 * np.pi, n)
    c, s = np.cos(theta), np.sin(theta)
    # cos(pi/2) is 6e-17, not 0: snap so the l1 corners are exact
    c[np.abs(c) < 1e-15] = 0.0
    s[np.abs(s) < 1e-15] = 0.0
    e = 2.0 / p
    return np.stack([np.sign(c) * np.abs(c) ** e, np.sign(s) * np.abs(s) ** e], axis=1)


def balls_xy(
    centers: np.ndarray, radius: float, p: float | str, n: int = 49
) -> tuple[np.ndarray, np.ndarray]:
    """x and y of the boundaries of the p-balls of ``radius`` around ``centers`` (m, 2), as one
    polyline with NaN breaks between balls (one scatter trace draws them all)."""
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    ring = radius * unit_ball(p, n)
    pts = centers[:, None, :] + ring[None, :, :]
    gap = np.full((centers.shape[0], 1, 2), np.nan)
    flat = np.concatenate([pts, gap], axis=1).reshape(-1, 2)
    return flat[:, 0], flat[:, 1]


_P_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#d62728")


def lmo_ball_figure(
    grad: tuple[float, float] = (1.0, 0.4),
    ps: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, math.inf),
    radius: float = 1.0,
    height: int = 420,
) -> go.Figure:
    r"""The p-balls of ``radius`` and, on each, the LMO vertex
    :math:`s = \operatorname{argmin}_{\|s\|_p \le \delta} \langle s, g\rangle` for ``grad``.

    The −g direction is drawn for reference: the vertex is −g's direction only for p = 2; for
    p = 1 it is a corner on the axis of the largest |g_i|, for p = ∞ the corner sign(−g).
    Each trace's ``meta`` is ``"ball:<p>"``, ``"lmo:<p>"`` or ``"-grad"``.
    """
    from fwlab.toy.trajectory import lmo_2d

    gx, gy = float(grad[0]), float(grad[1])
    fig = go.Figure()
    for p, color in zip(ps, _P_COLORS * (len(ps) // len(_P_COLORS) + 1), strict=False):
        label = format_p(p)
        ring = radius * unit_ball(p, 97)
        fig.add_scatter(
            x=ring[:, 0],
            y=ring[:, 1],
            mode="lines",
            line={"color": color},
            name=f"‖s‖_{label} ≤ δ",
            legendgroup=label,
            meta=f"ball:{label}",
        )
        sx, sy = lmo_2d(gx, gy, as_p(p), radius)
        fig.add_scatter(
            x=[0.0, sx],
            y=[0.0, sy],
            mode="lines+markers",
            line={"color": color, "width": 3},
            marker={"size": [0, 10], "symbol": "circle"},
            name=f"LMO, p = {label}",
            legendgroup=label,
            showlegend=False,
            meta=f"lmo:{label}",
        )
    n = math.hypot(gx, gy) or 1.0
    fig.add_scatter(
        x=[0.0, -1.3 * radius * gx / n],
        y=[0.0, -1.3 * radius * gy / n],
        mode="lines",
        line={"color": "black", "dash": "dash"},
        name="−∇F direction",
        meta="-grad",
    )
    lim = 1.45 * radius
    fig.update_xaxes(range=[-lim, lim], zeroline=True)
    fig.update_yaxes(range=[-lim, lim], scaleanchor="x", scaleratio=1, zeroline=True)
    fig.update_layout(
        title=f"LMO of the p-balls for ∇F = ({gx:g}, {gy:g})",
        height=height,
        template="plotly_white",
        margin={"l": 30, "r": 20, "t": 50, "b": 30},
    )
    return fig


# =========================================================================================
# 2. Toy losses and trajectories
# =========================================================================================

BASELINES: tuple[str, ...] = ("gd", "ngd", "adam")
METHOD_LABELS: dict[str, str] = {
    "fw": "Frank-Wolfe",
    "gd": "GD",
    "ngd": "normalized GD",
    "adam": "Adam",
}
METHOD_COLORS: dict[str, str] = {
    "fw": "#d62728",
    "gd": "#ff7f0e",
    "ngd": "#e377c2",
    "adam": "#2ca02c",
}

#: the traces of :func:`trajectory_figure`, in order (each trace's ``meta``; a FigureWidget
#: replaces ``uid``); widgets find traces by it
TRAJECTORY_TRACES: tuple[str, ...] = (
    "contour",
    "minima",
    "balls",
    "vertices",
    "inner",
    "path:fw",
    *(f"path:{m}" for m in BASELINES),
    "start",
    "loss:fw",
    *(f"loss:{m}" for m in BASELINES),
    "gap:first",
    "gap:last",
)


def contour_data(loss: str | ToyLoss, n: int = 120) -> dict[str, object]:
    """Properties of the contour trace: ``x``, ``y`` (n,), ``z`` (n, n) and ``name``.

    ``z`` is ``loss.contour_values(F)``: the loss itself or ``log10(1 + F - F*)``.
    """
    spec = get_loss(loss)
    xs, ys, Z = spec.grid(n)
    name = "log₁₀(1 + F − F*)" if spec.log_contour else "F"
    return {"x": xs, "y": ys, "z": spec.contour_values(Z), "name": name}


def _positive(v: np.ndarray) -> np.ndarray:
    """NaN where v <= 0 so a log axis shows a break instead of dropping the scale."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v > 0, v, np.nan)


def trajectory_trace_data(
    loss: str | ToyLoss,
    fw: Trajectory,
    baselines: Mapping[str, Trajectory] | None = None,
    *,
    visible: Mapping[str, bool] | None = None,
    ball_points: int = 49,
) -> dict[str, dict[str, object]]:
    """Properties of the traces of :func:`trajectory_figure` (not the contour): ``key → props``.

    Args:
        loss: the loss drawn (for the minima and F*).
        fw: the Frank-Wolfe trajectory: its path, inner points ω_{t−1} + Δω_{t,k}, LMO vertices
            ω_{t−1} + s_{t,k} and the δ-balls around every ω_{t−1}.
        baselines: trajectories by method (``"gd"``, ``"ngd"``, ``"adam"``); missing ones are
            empty and hidden.
        visible: optional ``method → bool`` to hide a baseline that is present.
        ball_points: points per ball boundary (finite p).
    """
    spec = get_loss(loss)
    baselines = dict(baselines or {})
    visible = dict(visible or {})
    unknown = set(baselines) - set(BASELINES)
    if unknown:
        raise ValueError(f"baselines must be among {BASELINES}, got {sorted(unknown)}")
    delta, lr, K, p = fw.delta, fw.lr, fw.K, fw.p
    steps = np.arange(fw.steps + 1)
    empty = np.empty(0)
    out: dict[str, dict[str, object]] = {}

    mins = np.array(spec.minima, dtype=np.float64).reshape(-1, 2)
    out["minima"] = {"x": mins[:, 0], "y": mins[:, 1]}
    bx, by = balls_xy(fw.centers, delta, p, ball_points)
    out["balls"] = {
        "x": bx,
        "y": by,
        "name": f"‖Δω‖_{format_p(p)} ≤ δ = {delta:g} around ω_t",
    }
    v = (fw.centers[:, None, :] + fw.vertices).reshape(-1, 2)
    out["vertices"] = {"x": v[:, 0], "y": v[:, 1]}
    inner = fw.inner.reshape(-1, 2)
    out["inner"] = {"x": inner[:, 0], "y": inner[:, 1], "name": f"inner ω + Δω_k (K = {K})"}
    out["path:fw"] = {
        "x": fw.iterates[:, 0],
        "y": fw.iterates[:, 1],
        "name": f"Frank-Wolfe (step ηΔω_K, ≤ ηδ = {lr * delta:.3g})",
    }
    out["loss:fw"] = {"x": steps, "y": _positive(fw.losses - spec.min_value)}
    for m in BASELINES:
        r = baselines.get(m)
        show = r is not None and visible.get(m, True)
        if r is None:
            out[f"path:{m}"] = {"x": empty, "y": empty, "visible": False}
            out[f"loss:{m}"] = {"x": empty, "y": empty, "visible": False}
            continue
        label = METHOD_LABELS[m]
        label += f" (lr {r.lr:.3g})" if m != "ngd" else f" (step ηδ = {r.lr * r.delta:.3g})"
        out[f"path:{m}"] = {
            "x": r.iterates[:, 0],
            "y": r.iterates[:, 1],
            "visible": show,
            "name": label,
        }
        out[f"loss:{m}"] = {
            "x": np.arange(r.steps + 1),
            "y": _positive(r.losses - spec.min_value),
            "visible": show,
        }
    out["start"] = {"x": fw.iterates[:1, 0], "y": fw.iterates[:1, 1]}
    t = np.arange(1, fw.steps + 1)
    out["gap:first"] = {"x": t, "y": _positive(fw.gaps[:, 0]) if K else empty}
    out["gap:last"] = {
        "x": t,
        "y": _positive(fw.gaps[:, -1]) if K else empty,
        "name": f"gap at k = K = {K}",
    }
    return out


def _title(spec: ToyLoss, fw: Trajectory) -> str:
    return (
        f"{spec.title} — Frank-Wolfe δ = {fw.delta:g}, K = {fw.K}, p = {format_p(fw.p)}, "
        f"η = {fw.lr:g}, {fw.steps} steps"
    )


def trajectory_figure(
    loss: str | ToyLoss,
    fw: Trajectory,
    baselines: Mapping[str, Trajectory] | None = None,
    *,
    visible: Mapping[str, bool] | None = None,
    grid: int = 120,
    height: int = 560,
) -> go.Figure:
    """Contour of ``loss`` with the FW path, inner points, δ-balls and baselines; beside it the
    loss curves ``F(ω_t) − F*`` and the FW-gap panel.

    The ball of radius δ is drawn around every ω_{t−1}: it holds the inner points
    ω_{t−1} + Δω_{t,k}. The outer move is ηΔω_{t,K}, so each step of the path is at most ηδ long
    (inside the ball when η ≤ 1). FW gaps: at k = 1 it is δ‖∇F(ω_{t−1})‖_q (a stationarity
    measure); at k = K it says how well the inner loop solved the trust-region subproblem.

    Every trace carries its key from :data:`TRAJECTORY_TRACES` as ``meta``, in that order.
    """
    spec = get_loss(loss)
    data = trajectory_trace_data(spec, fw, baselines, visible=visible)
    cont = contour_data(spec, grid)
    fig = make_subplots(
        rows=2,
        cols=2,
        column_widths=[0.6, 0.4],
        specs=[[{"rowspan": 2}, {}], [None, {}]],
        vertical_spacing=0.14,
        horizontal_spacing=0.08,
        subplot_titles=("", "F(ω_t) − F*", "FW gap ⟨∇F, Δω_{k−1} − s_k⟩"),
    )
    traces: dict[str, go.BaseTraceType] = {
        "contour": go.Contour(
            **cont,
            colorscale="Blues",
            reversescale=True,
            ncontours=30,
            opacity=0.75,
            showscale=False,
            line={"width": 0.5},
            hovertemplate="x=%{x:.3f}<br>y=%{y:.3f}<br>%{z:.3g}<extra>click: start here</extra>",
        ),
        "minima": go.Scatter(
            mode="markers",
            name="minima",
            marker={"symbol": "x", "size": 10, "color": "black"},
        ),
        "balls": go.Scatter(
            mode="lines",
            line={"width": 0.6, "color": "rgba(214,39,40,0.35)"},
            hoverinfo="skip",
        ),
        "vertices": go.Scatter(
            mode="markers",
            name="LMO vertices ω + s_k",
            marker={"symbol": "diamond-open", "size": 5, "color": "#7f7f7f"},
            visible="legendonly",
        ),
        "inner": go.Scatter(
            mode="markers",
            marker={"size": 3, "color": "rgba(148,103,189,0.8)"},
        ),
        "path:fw": go.Scatter(
            mode="lines+markers",
            line={"width": 2, "color": METHOD_COLORS["fw"]},
            marker={"size": 4},
            legendgroup="fw",
        ),
        **{
            f"path:{m}": go.Scatter(
                mode="lines+markers",
                name=METHOD_LABELS[m],
                line={"width": 1.5, "color": METHOD_COLORS[m], "dash": "dot"},
                marker={"size": 3},
                legendgroup=m,
            )
            for m in BASELINES
        },
        "start": go.Scatter(
            mode="markers",
            name="start",
            marker={"symbol": "star", "size": 14, "color": "gold", "line": {"width": 1}},
        ),
        "loss:fw": go.Scatter(
            mode="lines",
            name=METHOD_LABELS["fw"],
            line={"color": METHOD_COLORS["fw"]},
            legendgroup="fw",
            showlegend=False,
        ),
        **{
            f"loss:{m}": go.Scatter(
                mode="lines",
                name=METHOD_LABELS[m],
                line={"color": METHOD_COLORS[m], "dash": "dot"},
                legendgroup=m,
                showlegend=False,
            )
            for m in BASELINES
        },
        "gap:first": go.Scatter(
            mode="lines",
            name="gap at k = 1 (= δ‖∇F(ω)‖_q)",
            line={"color": "#1f77b4"},
        ),
        "gap:last": go.Scatter(mode="lines", line={"color": "#9467bd"}),
    }
    where = {"loss:": (1, 2), "gap:": (2, 2)}
    for uid in TRAJECTORY_TRACES:
        tr = traces[uid]
        tr.update(meta=uid, **data.get(uid, {}))
        row, col = next((rc for pre, rc in where.items() if uid.startswith(pre)), (1, 1))
        fig.add_trace(tr, row=row, col=col)
    (x0, x1), (y0, y1) = spec.window
    fig.update_xaxes(range=[x0, x1], constrain="domain", title_text="x", row=1, col=1)
    fig.update_yaxes(
        range=[y0, y1], scaleanchor="x", scaleratio=1, constrain="domain", row=1, col=1
    )
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_yaxes(type="log", row=2, col=2)
    fig.update_xaxes(title_text="outer step t", row=2, col=2)
    fig.update_layout(
        title={"text": _title(spec, fw), "font": {"size": 14}},
        height=height,
        margin={"l": 40, "r": 20, "t": 60, "b": 40},
        legend={"orientation": "h", "yanchor": "top", "y": -0.1, "x": 0},
        uirevision=spec.name,
        template="plotly_white",
    )
    return fig


# =========================================================================================
# 3. the paper's tables
# =========================================================================================


def table_figure(results: list[Mapping[str, object]], *, title: str = "") -> go.Figure:
    """Grouped bars of a reproduced table: our best test accuracy beside the paper's, per task.

    ``results`` are the rows of :func:`fwlab.train.reproduce.reproduce` (or of a sweep over
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


# =========================================================================================
# 4. Loss landscape (fwlab.landscape)
# =========================================================================================

#: the traces of :func:`landscape_figure`, in order (each trace's ``meta``)
LANDSCAPE_TRACES: tuple[str, ...] = ("contour", "balls", "inner", "path", "start", "final")


def landscape_figure(
    result: Landscape,
    *,
    log: bool = False,
    title: str | None = None,
    height: int = 560,
) -> go.Figure:
    """Contours of the loss in the trajectory's PCA plane, the projected path, the inner points
    ω + Δω_k and the trust region of every drawn step.

    For p = 2 with ``scope="global"`` (``result.ball_kind == "disc"``) each trust region is the
    disc of radius δ around ω_t; otherwise it is the shadow (projection) of the trust region on
    the plane (see :mod:`fwlab.landscape`). The axes carry the share of the trajectory's
    variance along each direction; they have equal scales (the plane is orthonormal, so the
    discs are round and distances are true).

    Args:
        result: from :func:`fwlab.landscape.landscape`.
        log: contour ``log10(loss)`` instead of the loss.
        title: figure title (default: the explained variance of the plane).
        height: pixels.
    """
    z = np.log10(np.maximum(result.losses, np.finfo(float).tiny)) if log else result.losses
    ex1, ex2 = result.explained
    fig = go.Figure()
    fig.add_trace(
        go.Contour(
            x=result.xs,
            y=result.ys,
            z=z,
            colorscale="Blues",
            reversescale=True,
            ncontours=30,
            opacity=0.8,
            line={"width": 0.5},
            colorbar={"title": {"text": "log₁₀ loss" if log else "loss"}},
            hovertemplate="a=%{x:.3g}<br>b=%{y:.3g}<br>%{z:.4g}<extra></extra>",
            meta="contour",
        )
    )
    if result.ball_kind == "disc":
        ball_name = "‖Δω‖₂ ≤ δ (disc in the plane)"
    elif result.ball_kind:
        ball_name = f"trust region (p = {format_p(result.p)}, {result.scope}), projected"
    else:
        ball_name = "trust region"
    gap = np.full((len(result.ball_xy), 1, 2), np.nan)
    rings = np.concatenate([result.ball_xy, gap], axis=1).reshape(-1, 2)
    fig.add_scatter(
        x=rings[:, 0],
        y=rings[:, 1],
        mode="lines",
        line={"width": 0.8, "color": "rgba(214,39,40,0.45)"},
        name=ball_name,
        hoverinfo="skip",
        visible=bool(len(result.ball_xy)),
        meta="balls",
    )
    fig.add_scatter(
        x=result.inner[:, 0],
        y=result.inner[:, 1],
        mode="markers",
        marker={"size": 4, "color": "rgba(148,103,189,0.85)"},
        name="inner ω + Δω_k",
        customdata=np.stack([result.inner_outer, result.inner_k], axis=1)
        if len(result.inner)
        else None,
        hovertemplate="from ω_%{customdata[0]}, k=%{customdata[1]}<extra></extra>",
        visible=bool(len(result.inner)),
        meta="inner",
    )
    fig.add_scatter(
        x=result.path[:, 0],
        y=result.path[:, 1],
        mode="lines+markers",
        line={"width": 2, "color": METHOD_COLORS["fw"]},
        marker={"size": 4},
        name="iterates ω_t",
        customdata=result.path_steps,
        hovertemplate="batch %{customdata}<extra></extra>",
        meta="path",
    )
    fig.add_scatter(
        x=result.path[:1, 0],
        y=result.path[:1, 1],
        mode="markers",
        marker={"symbol": "star", "size": 14, "color": "gold", "line": {"width": 1}},
        name="start",
        meta="start",
    )
    fig.add_scatter(
        x=result.path[-1:, 0],
        y=result.path[-1:, 1],
        mode="markers",
        marker={"symbol": "x", "size": 11, "color": "black"},
        name=f"final (loss {result.loss_at_origin:.4g})",
        meta="final",
    )
    fig.update_xaxes(
        range=[result.xs[0], result.xs[-1]],
        constrain="domain",
        title_text=f"PC 1 ({100 * ex1:.1f}% of variance)",
    )
    fig.update_yaxes(
        range=[result.ys[0], result.ys[-1]],
        scaleanchor="x",
        scaleratio=1,
        constrain="domain",
        title_text=f"PC 2 ({100 * ex2:.1f}% of variance)",
    )
    if title is None:
        title = (
            f"Loss landscape in the trajectory's PCA plane "
            f"({100 * (ex1 + ex2):.1f}% of the variance)"
        )
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        height=height,
        margin={"l": 50, "r": 20, "t": 60, "b": 40},
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0},
        template="plotly_white",
    )
    return fig


# =========================================================================================
# 5. Training curves
# =========================================================================================

#: the series drawn per run, in order; run ``name``'s traces have ``meta = f"{series}:{name}"``
TRAINING_SERIES: tuple[str, ...] = (
    "loss",
    "metric",
    "lr",
    "delta",
    "fw_gap",
    "dw_norm",
    "angle_deg",
    "events",
)
#: (row, col) of each series in :func:`training_figure`
TRAINING_PANELS: dict[str, tuple[int, int]] = {
    "loss": (1, 1),
    "events": (1, 1),
    "metric": (1, 2),
    "lr": (1, 3),
    "delta": (1, 3),
    "fw_gap": (2, 1),
    "dw_norm": (2, 2),
    "angle_deg": (2, 3),
}
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
    """A run's name in training figures: the method's label (the paper's row name, where
    "Ours" is Frank-Wolfe) with the K actually used, for a :class:`fwlab.train.Method` whose
    K was changed from its preset.

    Example:
        >>> from fwlab.train import get_method
        >>> run_title(get_method("fw_k1", K=5)), run_title(get_method("lstm_fw")), run_title(
        ...     get_method("sgd"))
        ('Ours K=5', 'LSTM+Ours K=1', 'SGD')
    """
    label, K = str(method.label), int(method.K)  # type: ignore[attr-defined]
    if method.optimizer != "fw":  # type: ignore[attr-defined]
        return label
    if re.search(r"K\s*=\s*\d+", label):
        return re.sub(r"K\s*=\s*\d+", f"K={K}", label)
    return f"{label} K={K}"


def training_metric(histories: Mapping[str, Mapping] | Mapping, metric: str = "auto") -> str:
    """``"test_acc"`` or ``"test_loss"``: the metric panel's series. ``"auto"`` picks the
    accuracy when any history (or the one history given) has one, else the test loss."""
    if metric in ("test_acc", "test_loss"):
        return metric
    if metric != "auto":
        raise ValueError(f"metric must be 'auto', 'test_acc' or 'test_loss', got {metric!r}")
    hs = [histories] if "eval" in histories else list(histories.values())
    has_acc = any(a is not None for h in hs for a in h["eval"]["test_acc"])
    return "test_acc" if has_acc else "test_loss"


def training_panel_titles(metric: str) -> tuple[str, ...]:
    """The six subplot titles of :func:`training_figure` for ``metric``."""
    return (
        "training loss (per batch)",
        "test accuracy (%)" if metric == "test_acc" else "test loss",
        "η_t (—) and δ_t (···) in use",
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
    metric = training_metric(histories, metric) if histories else "test_loss"
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
        ey = np.array(
            [
                losses[min(max(e["step"] - 1, 0), len(losses) - 1)] if losses else np.nan
                for e in events
            ],
            dtype=np.float64,
        )
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
    metric = training_metric(histories, metric) if histories else "test_loss"
    fig = make_subplots(
        rows=2,
        cols=3,
        subplot_titles=training_panel_titles(metric),
        vertical_spacing=0.16,
        horizontal_spacing=0.07,
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
    """Axes, titles and layout of :func:`training_figure` (also used on a FigureWidget)."""
    for i, text in enumerate(training_panel_titles(metric)):
        if i < len(fig.layout.annotations):
            fig.layout.annotations[i].text = text
    for row, col in ((1, 1), (1, 3), (2, 1)):
        fig.update_yaxes(type="log", row=row, col=col)
    # ‖Δω_K‖ sits at its bound δ·√(tensors) for K = 1: a linear axis from 0 shows that plainly
    fig.update_yaxes(rangemode="tozero", row=2, col=2)
    fig.update_yaxes(type="linear" if metric == "test_acc" else "log", row=1, col=2)
    fig.update_yaxes(range=[0, 180], row=2, col=3)
    fig.update_xaxes(title_text="batch", row=2)
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
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0},
        uirevision="training",
        template="plotly_white",
    )
