"""p-norm balls: the unit ball, δ-balls around points, and the LMO figure."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from fwlab.toy.lesson import SLIDER_PS
from fwlab.util.exponent import as_p


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
    centers: np.ndarray, radius: float | np.ndarray, p: float | str, n: int = 49
) -> tuple[np.ndarray, np.ndarray]:
    """x and y of the boundaries of the p-balls of ``radius`` (one number, or one per centre)
    around ``centers`` (m, 2), as one polyline with NaN breaks between balls (one scatter trace
    draws them all)."""
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    r = np.broadcast_to(np.asarray(radius, dtype=np.float64), (centers.shape[0],))
    pts = centers[:, None, :] + r[:, None, None] * unit_ball(p, n)[None, :, :]
    gap = np.full((centers.shape[0], 1, 2), np.nan)
    flat = np.concatenate([pts, gap], axis=1).reshape(-1, 2)
    return flat[:, 0], flat[:, 1]


def lmo_ball_figure(
    grad: tuple[float, float] = (1.0, 0.4),
    ps: tuple[float, ...] = SLIDER_PS,
    radius: float = 1.0,
    height: int = 420,
) -> go.Figure:
    r"""The p-balls of ``radius`` and, on each, the labelled LMO vertex
    :math:`s = \operatorname{argmin}_{\|s\|_p \le \delta} \langle s, g\rangle` for ``grad``:
    :func:`fwlab.toy.figures.lmo_figure` at the gradient's direction (the LMO depends only on it).
    Each trace's ``meta`` is ``"ball:<p>"``, ``"lmo:<p>"`` or ``"-grad"``.
    """
    from fwlab.toy.figures import lmo_figure

    direction = math.degrees(math.atan2(float(grad[1]), float(grad[0])))
    return lmo_figure(direction, radius, ps, height=height)
