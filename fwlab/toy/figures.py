r"""Figures of notebook 01's lesson, each built from a pure ``*_trace_data`` function.

A widget (``widgets/step_zoom.py``) refreshes a ``go.FigureWidget`` from the same data function
that builds the static figure, so the headless notebook and the live one draw the same numbers.
Every trace carries a ``meta`` key; the data functions return ``meta → properties``.

* :func:`step_zoom_figure` — one trust-region step at ω: the δ-ball on F's contours, the exact
  step :math:`\Delta^\star`, Frank-Wolfe's numbered vertices :math:`s_1..s_k` and averages
  :math:`\Delta\omega_1..\Delta\omega_k`, projected gradient's :math:`\Delta_1..\Delta_k`; beside
  it the distance of each method's k-th iterate to :math:`\Delta^\star`, and the FW gap;
* :func:`lmo_figure` — the p-balls of radius δ with their LMO vertices for a gradient direction;
* :func:`k_sweep_figure` — length and aim of :math:`\Delta\omega_K` against K;
* :func:`paths_figure` — several trajectories on one contour (bouncing and what stops it);
* :func:`lr_delta_figure` — F after T steps over (η, δ), for two K.

Example:
    >>> from fwlab.toy import step_zoom
    >>> z = step_zoom("himmelblau", delta=0.5, p=2, K=10)
    >>> fig = step_zoom_figure(z, k=3)
    >>> [t.meta for t in fig.data][:4]
    ['contour', 'ball', 'exact', 'fw:vertices']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fwlab.toy.lesson import SLIDER_PS, lmo_rows
from fwlab.toy.losses import ToyLoss, get_loss
from fwlab.toy.trajectory import Trajectory
from fwlab.toy.trust_region import StepZoom
from fwlab.util.exponent import format_p
from fwlab.util.validate import int_in_range, p_exponent, positive_float

__all__ = [
    "LMO_PS",
    "STEP_ZOOM_TRACES",
    "k_sweep_figure",
    "lmo_figure",
    "lmo_trace_data",
    "lines_figure",
    "lr_delta_figure",
    "paths_figure",
    "paths_window",
    "step_zoom_figure",
    "step_zoom_title",
    "step_zoom_trace_data",
]

FW_COLOR, PG_COLOR = "#d62728", "#1f77b4"
#: the p of the LMO figure's balls: the p slider's options
LMO_PS: tuple[float, ...] = SLIDER_PS
_P_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#d62728")
_PATH_COLORS = (*_P_COLORS, "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


def _sphere(p: float, n: int = 241) -> np.ndarray:
    """The closed unit p-sphere, (n, 2), by normalizing directions (exact corners for 1, ∞)."""
    t = np.linspace(0.0, 2.0 * np.pi, n)
    d = np.stack([np.cos(t), np.sin(t)], axis=-1)
    if math.isinf(p):
        return d / np.abs(d).max(axis=1, keepdims=True)
    return d / (np.abs(d) ** p).sum(axis=1, keepdims=True) ** (1.0 / p)


# --- one step, zoomed ------------------------------------------------------------------------

#: the traces of :func:`step_zoom_figure`, in order (each trace's ``meta``)
STEP_ZOOM_TRACES: tuple[str, ...] = (
    "contour",
    "ball",
    "exact",
    "fw:vertices",
    "fw:path",
    "pg:path",
    "fw:k",
    "pg:k",
    "dist:fw",
    "dist:pg",
    "dist:k",
    "gap:fw",
    "gap:subopt",
)


def step_zoom_trace_data(z: StepZoom, k: int, *, grid: int = 81) -> dict[str, dict[str, object]]:
    """Properties of :func:`step_zoom_figure`'s traces for inner iteration ``k`` (1..K).

    Points are absolute (ω + displacement). The FW vertices are labelled 1..k; the FW and PG
    paths start at ω (Δ = 0) and end at their k-th iterate. ``gap:subopt`` is
    :math:`F(\\omega+\\Delta\\omega_{k-1}) - F(\\omega+\\Delta^\\star)`, which the gap bounds
    from above when F is convex on the ball.
    """
    k = int_in_range("k", k, 1, z.K)  # K: the step zoom's
    spec = get_loss(z.loss)
    w, d = z.omega, z.delta
    half = 1.35 * d
    xs, ys, Z = spec.grid(grid, ((w[0] - half, w[0] + half), (w[1] - half, w[1] + half)))
    ring = w + d * _sphere(z.p)
    fw_path = np.vstack([w, w + z.fw_dw[:k]])
    pg_path = np.vstack([w, w + z.pg_dw[:k]])
    verts = w + z.fw_vertices[:k]
    ks = np.arange(1, z.K + 1)
    f_prev = np.concatenate([[float(spec.at(w))], z.f_fw[:-1]])
    sub = f_prev - z.f_exact
    dist = np.concatenate([z.fw_distance, z.pg_distance])
    shown = dist[dist > 0]  # the k line spans the log axis's range
    low = float(max(shown.min(), 1e-12)) if shown.size else 1e-12
    return {
        "contour": {"x": xs, "y": ys, "z": spec.contour_values(Z)},
        "ball": {"x": ring[:, 0], "y": ring[:, 1], "name": f"‖Δ‖_{format_p(z.p)} ≤ δ = {d:g}"},
        "exact": {"x": [w[0] + z.exact[0]], "y": [w[1] + z.exact[1]]},
        "fw:vertices": {
            "x": verts[:, 0],
            "y": verts[:, 1],
            "text": [f"s{i}" for i in range(1, k + 1)],
        },
        "fw:path": {"x": fw_path[:, 0], "y": fw_path[:, 1]},
        "pg:path": {"x": pg_path[:, 0], "y": pg_path[:, 1]},
        "fw:k": {"x": fw_path[-1:, 0], "y": fw_path[-1:, 1], "name": f"Frank-Wolfe Δω_{k}"},
        "pg:k": {"x": pg_path[-1:, 0], "y": pg_path[-1:, 1], "name": f"projected gradient Δ_{k}"},
        "dist:fw": {"x": ks, "y": _pos(z.fw_distance)},
        "dist:pg": {"x": ks, "y": _pos(z.pg_distance)},
        "dist:k": {"x": [k, k], "y": [low, float(max(dist.max(), 1e-12))]},
        "gap:fw": {"x": ks, "y": _pos(z.fw_gaps)},
        "gap:subopt": {"x": ks, "y": _pos(sub)},
    }


def _pos(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return np.where(v > 0, v, np.nan)


def step_zoom_title(z: StepZoom, k: int) -> str:
    """The step-zoom figure's title."""
    cx, cy = z.omega
    return (
        f"One trust-region step on {z.loss} at ω = ({cx:.3g}, {cy:.3g}), δ = {z.delta:g}, "
        f"p = {format_p(z.p)}: k = {k}"
    )


def step_zoom_figure(z: StepZoom, k: int, *, height: int = 520) -> go.Figure:
    """The step-zoom figure (see the module docstring); every trace's ``meta`` is its key."""
    data = step_zoom_trace_data(z, k)
    fig = make_subplots(
        rows=2,
        cols=2,
        column_widths=[0.55, 0.45],
        specs=[[{"rowspan": 2}, {}], [None, {}]],
        vertical_spacing=0.16,
        horizontal_spacing=0.1,
        subplot_titles=(
            "",
            "distance to the exact step ‖Δ_k − Δ*‖₂",
            "FW gap G_k vs F(ω+Δω_{k−1}) − F(ω+Δ*)",
        ),
    )
    traces = {
        "contour": go.Contour(
            colorscale="Blues",
            reversescale=True,
            ncontours=25,
            opacity=0.6,
            showscale=False,
            line={"width": 0.5},
            hoverinfo="skip",
        ),
        "ball": go.Scatter(mode="lines", line={"color": "black", "width": 1.5}),
        "exact": go.Scatter(
            mode="markers",
            name="exact step ω + Δ*",
            marker={"symbol": "star", "size": 16, "color": "gold", "line": {"width": 1}},
        ),
        "fw:vertices": go.Scatter(
            mode="markers+text",
            name="FW vertices s_k (numbered)",
            textposition="top center",
            marker={"symbol": "diamond-open", "size": 9, "color": FW_COLOR},
            textfont={"color": FW_COLOR, "size": 10},
        ),
        "fw:path": go.Scatter(
            mode="lines+markers",
            name="FW averages Δω_1..Δω_k",
            line={"color": FW_COLOR, "width": 1.5},
            marker={"size": 5},
        ),
        "pg:path": go.Scatter(
            mode="lines+markers",
            name="projected gradient Δ_1..Δ_k",
            line={"color": PG_COLOR, "width": 1.5, "dash": "dot"},
            marker={"size": 5, "symbol": "square"},
        ),
        "fw:k": go.Scatter(mode="markers", marker={"size": 13, "color": FW_COLOR}),
        "pg:k": go.Scatter(mode="markers", marker={"size": 13, "color": PG_COLOR}),
        "dist:fw": go.Scatter(
            mode="lines+markers", name="Frank-Wolfe", line={"color": FW_COLOR}, showlegend=False
        ),
        "dist:pg": go.Scatter(
            mode="lines+markers",
            name="projected gradient",
            line={"color": PG_COLOR, "dash": "dot"},
            showlegend=False,
        ),
        "dist:k": go.Scatter(
            mode="lines", line={"color": "gray", "dash": "dash"}, showlegend=False, name="k"
        ),
        "gap:fw": go.Scatter(
            mode="lines+markers", name="FW gap G_k", line={"color": "#9467bd"}, showlegend=False
        ),
        "gap:subopt": go.Scatter(
            mode="lines",
            name="F(ω+Δω_{k−1}) − F(ω+Δ*)",
            line={"color": "black", "dash": "dot"},
            showlegend=False,
        ),
    }
    for key in STEP_ZOOM_TRACES:
        tr = traces[key]
        tr.update(meta=key, **data[key])
        if key.startswith("dist:"):
            fig.add_trace(tr, row=1, col=2)
        elif key.startswith("gap:"):
            fig.add_trace(tr, row=2, col=2)
        else:
            fig.add_trace(tr, row=1, col=1)
    cx, cy = z.omega
    half = 1.35 * z.delta
    fig.update_xaxes(range=[cx - half, cx + half], constrain="domain", row=1, col=1)
    fig.update_yaxes(
        range=[cy - half, cy + half],
        scaleanchor="x",
        scaleratio=1,
        constrain="domain",
        row=1,
        col=1,
    )
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_yaxes(type="log", row=2, col=2)
    fig.update_xaxes(title_text="inner iteration k", row=2, col=2)
    fig.update_layout(
        title={"text": step_zoom_title(z, k), "font": {"size": 14}},
        height=height,
        template="plotly_white",
        margin={"l": 40, "r": 20, "t": 60, "b": 40},
        legend={"orientation": "h", "yanchor": "top", "y": -0.08, "x": 0},
    )
    return fig


# --- the LMO of the p-balls ------------------------------------------------------------------


def lmo_trace_data(
    direction_deg: float, delta: float, ps: Sequence[float] = LMO_PS
) -> dict[str, dict[str, object]]:
    """Balls of radius ``delta`` and their LMO vertices for the gradient
    g = (cos θ, sin θ), θ = ``direction_deg``; keys ``ball:<p>``, ``lmo:<p>`` and ``-grad``."""
    delta = positive_float("delta", delta)
    th = math.radians(float(direction_deg))
    g = np.array([math.cos(th), math.sin(th)])
    out: dict[str, dict[str, object]] = {}
    for p in ps:
        p = p_exponent("p", p)
        lab = format_p(p)
        ring = delta * _sphere(p)
        s = lmo_rows(g[None, :], p, delta)[0]
        out[f"ball:{lab}"] = {
            "x": ring[:, 0],
            "y": ring[:, 1],
            "name": f"‖s‖_{lab} ≤ δ = {delta:g}",
        }
        out[f"lmo:{lab}"] = {
            "x": [0.0, s[0]],
            "y": [0.0, s[1]],
            "text": ["", f"p = {lab}"],
            "name": f"LMO, p = {lab}: s = ({s[0]:.2f}, {s[1]:.2f})",
        }
    out["-grad"] = {"x": [0.0, -1.4 * delta * g[0]], "y": [0.0, -1.4 * delta * g[1]]}
    return out


def lmo_figure(
    direction_deg: float = 20.0,
    delta: float = 1.0,
    ps: Sequence[float] = LMO_PS,
    *,
    height: int = 460,
) -> go.Figure:
    """The p-balls of radius δ (drawn at that radius) and, labelled on each, the LMO vertex
    :math:`\\operatorname{argmin}_{\\|s\\|_p\\le\\delta}\\langle s, g\\rangle` for a unit gradient
    at ``direction_deg``; the dashed line is −g."""
    data = lmo_trace_data(direction_deg, delta, ps)
    fig = go.Figure()
    for p, color in zip(ps, _P_COLORS * len(ps), strict=False):
        lab = format_p(p)
        fig.add_scatter(
            mode="lines", line={"color": color, "width": 1.2}, legendgroup=lab,
            meta=f"ball:{lab}", **data[f"ball:{lab}"],
        )  # fmt: skip
        fig.add_scatter(
            mode="lines+markers+text", line={"color": color, "width": 3},
            marker={"size": [0, 10]}, textposition="middle right", textfont={"color": color},
            legendgroup=lab, meta=f"lmo:{lab}", **data[f"lmo:{lab}"],
        )  # fmt: skip
    fig.add_scatter(
        mode="lines", line={"color": "black", "dash": "dash"}, name="−∇F direction",
        meta="-grad", **data["-grad"],
    )  # fmt: skip
    lim = 1.5 * delta
    fig.update_xaxes(range=[-lim, lim], zeroline=True)
    fig.update_yaxes(range=[-lim, lim], scaleanchor="x", scaleratio=1, zeroline=True)
    fig.update_layout(
        title=f"LMO of the p-balls of radius δ = {delta:g}; ∇F at {float(direction_deg):g}°",
        height=height,
        template="plotly_white",
        margin={"l": 30, "r": 20, "t": 50, "b": 30},
    )
    return fig


# --- K, δ, η ---------------------------------------------------------------------------------


def k_sweep_figure(
    sweep: Mapping[str, np.ndarray] | Mapping[str, Mapping[str, np.ndarray]],
    *,
    title: str = "",
    height: int = 360,
):
    """Median length ‖Δω_K‖_p/δ, median angle to Δ* and downhill share against K
    (a :func:`fwlab.toy.lesson.k_sweep` result, or ``label → result`` to compare settings side
    by side: one line per label; a single result's trace ``meta`` is the key, else
    ``key:label``)."""
    sweeps = {"": sweep} if "Ks" in sweep else dict(sweep)
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=("median ‖Δω_K‖_p / δ", "median angle(Δω_K, Δ*) [°]", "share downhill"),
    )
    for (label, sw), color in zip(sweeps.items(), ("gray", "#2ca02c", "#ff7f0e"), strict=False):
        Ks = np.asarray(sw["Ks"])
        for col, key in enumerate(("length", "angle", "downhill"), start=1):
            fig.add_scatter(
                x=Ks, y=sw[key], mode="lines+markers", meta=f"{key}:{label}" if label else key,
                name=label, legendgroup=label, showlegend=bool(label) and col == 1,
                marker={"color": np.where(Ks % 2 == 0, "#1f77b4", "#d62728")},
                line={"color": color}, row=1, col=col,
            )  # fmt: skip
            fig.update_xaxes(title_text="K (blue: even, red: odd)", row=1, col=col)
    fig.update_layout(title=title, height=height, template="plotly_white")
    return fig


def lines_figure(
    x: Sequence[float],
    lines: Mapping[str, Sequence[float]],
    *,
    x_title: str,
    y_title: str,
    title: str = "",
    log_x: bool = False,
    log_y: bool = False,
    highlight: str | None = None,
    height: int = 360,
) -> go.Figure:
    """One line per ``label → y`` against ``x`` (each trace's ``meta`` is its label); the
    ``highlight`` label is drawn thick, the others thin."""
    fig = go.Figure()
    for label, y in lines.items():
        thick = highlight is None or label == highlight
        fig.add_scatter(
            x=np.asarray(x, float), y=np.asarray(y, float), mode="lines+markers", name=label,
            meta=label, line={"width": 3 if thick else 1}, marker={"size": 6 if thick else 3},
            opacity=1.0 if thick else 0.6,
        )  # fmt: skip
    fig.update_xaxes(title_text=x_title, type="log" if log_x else "linear")
    fig.update_yaxes(title_text=y_title, type="log" if log_y else "linear")
    fig.update_layout(title=title, height=height, template="plotly_white")
    return fig


def paths_figure(
    loss: str | ToyLoss,
    runs: Mapping[str, Trajectory],
    *,
    window: tuple[tuple[float, float], tuple[float, float]] | str | None = None,
    title: str = "",
    height: int = 560,
) -> go.Figure:
    """The outer paths of several runs (``label → Trajectory``) on F's contours; each path's
    ``meta`` is its label. ``window``: the loss's window (``None``), ``"fit"`` (the square
    around every path, :func:`paths_window`) or ``((x0, x1), (y0, y1))``."""
    spec = get_loss(loss)
    (x0, x1), (y0, y1) = paths_window(runs) if window == "fit" else window or spec.window
    xs, ys = np.linspace(x0, x1, 120), np.linspace(y0, y1, 120)
    X, Y = np.meshgrid(xs, ys)
    fig = go.Figure(
        go.Contour(
            x=xs, y=ys, z=spec.contour_values(spec(X, Y)), colorscale="Blues", reversescale=True,
            ncontours=30, opacity=0.6, showscale=False, meta="contour", hoverinfo="skip",
        )
    )  # fmt: skip
    for (label, r), color in zip(runs.items(), _PATH_COLORS * len(runs), strict=False):
        fig.add_scatter(
            x=r.iterates[:, 0], y=r.iterates[:, 1], mode="lines+markers", name=label, meta=label,
            line={"color": color, "width": 1.5}, marker={"size": 5},
        )  # fmt: skip
    start = next(iter(runs.values())).iterates[0]
    fig.add_scatter(
        x=[start[0]], y=[start[1]], mode="markers", name="start", meta="start",
        marker={"symbol": "star-open", "size": 14, "color": "goldenrod", "line": {"width": 2}},
    )  # fmt: skip
    fig.update_xaxes(range=[x0, x1], constrain="domain")
    fig.update_yaxes(range=[y0, y1], scaleanchor="x", scaleratio=1, constrain="domain")
    fig.update_layout(
        title=title, height=height, template="plotly_white",
        legend={"orientation": "h", "yanchor": "top", "y": -0.08, "x": 0},
    )  # fmt: skip
    return fig


def paths_window(
    runs: Mapping[str, Trajectory], *, pad: float = 0.15
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The square window around every iterate of ``runs``, widened by ``pad`` × its side on
    each edge (a side of at least 1e-9), so that short paths are not lost in the loss's
    window."""
    pts = np.vstack([r.iterates for r in runs.values()])
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    side = max(float((hi - lo).max()), 1e-9) * (1 + 2 * pad)
    mid = (lo + hi) / 2
    return ((mid[0] - side / 2, mid[0] + side / 2), (mid[1] - side / 2, mid[1] + side / 2))


def lr_delta_figure(
    grids: Mapping[str, np.ndarray],
    lrs: Sequence[float],
    deltas: Sequence[float],
    *,
    title: str = "",
    height: int = 380,
) -> go.Figure:
    """Heatmaps of log10 F after T steps over (δ, η), one panel per ``label → grid``
    (:func:`fwlab.toy.lesson.final_loss_grid`), with the curves ηδ = const dashed."""
    fig = make_subplots(rows=1, cols=len(grids), subplot_titles=list(grids))
    lr_arr, d_arr = np.asarray(lrs, float), np.asarray(deltas, float)
    for col, (label, g) in enumerate(grids.items(), start=1):
        fig.add_heatmap(
            x=d_arr, y=lr_arr, z=np.log10(np.maximum(g, 1e-12)), coloraxis="coloraxis",
            meta=f"grid:{label}", row=1, col=col,
        )  # fmt: skip
        for c in (0.05, 0.2, 0.5):
            fig.add_scatter(
                x=d_arr, y=c / d_arr, mode="lines", line={"color": "white", "dash": "dash"},
                showlegend=False, meta=f"hyperbola:{c:g}", row=1, col=col, hoverinfo="skip",
            )  # fmt: skip
        fig.update_xaxes(title_text="δ", type="log", row=1, col=col)
        fig.update_yaxes(title_text="η", type="log", range=np.log10([lr_arr.min(), lr_arr.max()]),
                         row=1, col=col)  # fmt: skip
    fig.update_layout(
        title=title, height=height, template="plotly_white",
        coloraxis={"colorscale": "Viridis", "colorbar": {"title": "log₁₀ F(ω_T)"}},
    )  # fmt: skip
    return fig
