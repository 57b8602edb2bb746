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
    "TRAJECTORY_TRACES",
    "balls_xy",
    "contour_data",
    "format_p",
    "landscape_figure",
    "lmo_ball_figure",
    "table_figure",
    "trajectory_figure",
    "trajectory_trace_data",
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
        subplot_titles=("", "F(ω_t) − F*", "Frank-Wolfe gap ⟨∇F, Δω_{k−1} − s_k⟩"),
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
