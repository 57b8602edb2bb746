"""p-norm balls: the unit ball, δ-balls around points, and the LMO figure."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from fwlab.optim.lmo import as_p
from fwlab.plots._style import format_p


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
