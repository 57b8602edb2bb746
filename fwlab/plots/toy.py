"""Toy losses and trajectories: the contour, the Frank-Wolfe path and its baselines."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fwlab.plots._style import METHOD_COLORS, _positive
from fwlab.plots.balls import balls_xy
from fwlab.toy.losses import ToyLoss, get_loss
from fwlab.toy.trajectory import METHODS, Trajectory
from fwlab.util.exponent import format_p

BASELINES: tuple[str, ...] = METHODS[1:]  # every method of fwlab.toy.trajectory but "fw"
METHOD_LABELS: dict[str, str] = {
    "fw": "Frank-Wolfe",
    "gd": "GD",
    "ngd": "normalized GD",
    "adam": "Adam",
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


def trajectory_trace_data(
    loss: str | ToyLoss,
    fw: Trajectory,
    baselines: Mapping[str, Trajectory] | None = None,
    *,
    visible: Mapping[str, bool] | None = None,
    ball_points: int = 49,
    max_balls: int = 25,
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
        max_balls: balls drawn at most, around every ceil(T / max_balls)-th centre, each at
            that step's radius δ_t.
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
    # at most max_balls balls, evenly spaced in t: a hundred overlapping ones bury the path
    every = max(1, math.ceil(fw.steps / max_balls))
    shown = np.arange(0, fw.steps, every)
    bx, by = balls_xy(fw.centers[shown], fw.deltas[shown], p, ball_points)
    radius = (
        f"δ = {delta:g}" if fw.delta_decay == 1.0 else f"δ_t = {delta:g}·{fw.delta_decay:g}^(t−1)"
    )
    out["balls"] = {
        "x": bx,
        "y": by,
        "name": f"‖Δω‖_{format_p(p)} ≤ {radius} around ω_t"
        + (f" (every {every}th t)" if every > 1 else ""),
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
        if m == "ngd" and r.steps and np.array_equal(r.iterates, fw.iterates):
            label += ": Frank-Wolfe's path (K = 1, p = 2), drawn under it"
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
        title={
            "text": f"{spec.title} — Frank-Wolfe δ = {fw.delta:g}, K = {fw.K}, "
            f"p = {format_p(fw.p)}, η = {fw.lr:g}, {fw.steps} steps",
            "font": {"size": 14},
        },
        height=height,
        margin={"l": 40, "r": 20, "t": 60, "b": 40},
        legend={"orientation": "h", "yanchor": "top", "y": -0.1, "x": 0},
        uirevision=spec.name,
        template="plotly_white",
    )
    return fig
