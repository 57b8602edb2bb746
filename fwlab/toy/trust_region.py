r"""One trust-region step in 2-D, three ways: exact, projected gradient, Frank-Wolfe.

The subproblem of one outer step at a point :math:`\omega` is

.. math::
    \Delta^\star = \operatorname*{argmin}_{\|\Delta\|_p \le \delta} F(\omega + \Delta).

* :func:`exact_step` solves it to about 1e-9 in 2-D by brute force that does not assume
  convexity: F on a polar grid that covers the ball (radial fractions × angles, the outer ring
  on the boundary), then repeated zooms around the best point (a 41 × 41 box shrinking 4× per
  level; points outside the ball are pulled radially onto its boundary, so corners and edges
  are searched as well as the interior) until the box is below ``tol``. Its certificate is the
  Frank-Wolfe gap at the answer, :math:`\max_{\|s\|_p\le\delta}\langle\nabla F(\omega+\Delta^\star),
  \Delta^\star - s\rangle`, which is 0 at any (local or global) constrained minimizer.
* :func:`projected_gradient_steps`: :math:`\Delta_k = P(\Delta_{k-1} - \alpha_k\nabla F(\omega
  + \Delta_{k-1}))`, with :math:`P` the Euclidean projection onto the ball
  (:func:`project_ball`) and :math:`\alpha_k` found by backtracking.
* :func:`frank_wolfe_steps`: Algorithm 1's inner loop, :math:`\Delta\omega_k = (1-\tfrac1k)
  \Delta\omega_{k-1} + \tfrac1k s_k` with :math:`s_k` the LMO vertex (the same code path as
  :func:`fwlab.toy.trajectory`).

:func:`step_zoom` runs all three at one point and measures the distance of each method's k-th
iterate to :math:`\Delta^\star` (Euclidean).

Example:
    >>> from fwlab.toy.trust_region import step_zoom
    >>> z = step_zoom("quadratic", (-2.5, -2.0), delta=0.5, p=2, K=30)
    >>> z.fw_dw.shape, z.pg_dw.shape, z.fw_distance.shape
    ((30, 2), (30, 2), (30,))
    >>> bool(z.pg_distance[-1] < 1e-6 and z.fw_distance[-1] < z.fw_distance[0])
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fwlab.toy.losses import ToyLoss, get_loss
from fwlab.toy.trajectory import lmo_2d, trajectory
from fwlab.util.validate import p_exponent, point, positive_float, positive_int

__all__ = [
    "StepZoom",
    "exact_step",
    "frank_wolfe_steps",
    "fw_gap",
    "p_norm",
    "project_ball",
    "projected_gradient_steps",
    "step_zoom",
]


def p_norm(v: np.ndarray, p: float) -> np.ndarray:
    """‖v‖_p over the last axis (p in [1, ∞])."""
    v = np.abs(np.asarray(v, dtype=np.float64))
    if math.isinf(p):
        return v.max(axis=-1)
    if p == 1.0:
        return v.sum(axis=-1)
    if p == 2.0:
        return np.sqrt((v * v).sum(axis=-1))
    m = v.max(axis=-1, keepdims=True)
    safe = np.where(m > 0, m, 1.0)
    return (m * ((v / safe) ** p).sum(axis=-1, keepdims=True) ** (1.0 / p))[..., 0]


def project_ball(v: Sequence[float] | np.ndarray, p: float | str, radius: float) -> np.ndarray:
    r"""Euclidean projection of ``v`` onto :math:`\{x: \|x\|_p \le r\}`, over the last axis.

    * p = 2: :math:`v \cdot \min(1, r/\|v\|_2)`;
    * p = ∞: clip every coordinate to ``[-r, r]``;
    * p = 1: soft-thresholding :math:`\operatorname{sign}(v_i)\max(|v_i| - \theta, 0)` with θ
      from the sorted magnitudes (Duchi et al. 2008), exact;
    * other p (2-D only): no closed form; the projection of a point outside lies on the
      boundary arc in the point's quadrant, :math:`r(\cos t, \sin t)/\|(\cos t, \sin t)\|_p`,
      and t is bracketed on a grid of 2001 points, then found by bisection on the sign of
      the optimality condition (to rounding).

    Points already in the ball are returned unchanged.

    Example:
        >>> project_ball([3.0, 1.0], 1, 1.0).tolist()
        [1.0, 0.0]
        >>> project_ball([0.3, -2.0], "inf", 1.0).tolist()
        [0.3, -1.0]
    """
    p = p_exponent("p", p)
    r = positive_float("radius", radius)
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 0 or v.shape[-1] == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"v must hold finite points on its last axis, got {v!r}")
    inside = p_norm(v, p) <= r
    if math.isinf(p):
        out = np.clip(v, -r, r)
    elif p == 2.0:
        n = p_norm(v, 2.0)
        out = v * np.minimum(1.0, r / np.where(n > 0, n, 1.0))[..., None]
    elif p == 1.0:
        out = _project_l1(v, r)
    else:
        out = _project_lp(v, p, r)
    return np.where(inside[..., None], v, out)


def _project_l1(v: np.ndarray, r: float) -> np.ndarray:
    if v.shape[-1] == 2:
        # 2-D without cancellation: |v_i| - theta would lose digits when |v| >> r
        a1, a2 = np.abs(v[..., 0]), np.abs(v[..., 1])
        d = a1 - a2
        x1 = np.where(d >= r, r, np.where(d <= -r, 0.0, 0.5 * (r + d)))
        x2 = np.where(d >= r, 0.0, np.where(d <= -r, r, 0.5 * (r - d)))
        return np.stack([np.sign(v[..., 0]) * x1, np.sign(v[..., 1]) * x2], axis=-1)
    a = np.abs(v)
    u = -np.sort(-a, axis=-1)  # descending
    css = np.cumsum(u, axis=-1)
    j = np.arange(1, v.shape[-1] + 1)
    cond = u - (css - r) / j > 0
    rho = cond.shape[-1] - 1 - np.argmax(cond[..., ::-1], axis=-1)  # last index where true
    theta = (np.take_along_axis(css, rho[..., None], -1)[..., 0] - r) / (rho + 1)
    return np.sign(v) * np.maximum(a - np.maximum(theta, 0.0)[..., None], 0.0)


def _arc(t: np.ndarray, p: float, r: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(t), np.sin(t)
    c = np.where(np.abs(c) < 1e-15, 0.0, c)
    norm = (c**p + s**p) ** (1.0 / p)
    return r * c / norm, r * s / norm


def _project_lp(v: np.ndarray, p: float, r: float, n: int = 2001, iters: int = 60) -> np.ndarray:
    # The projection of |v| (first quadrant) lies on the boundary arc r (cos t, sin t)/||.||_p,
    # t in [0, pi/2]: the best t on a grid brackets it, then bisection on the sign of
    # the optimality condition (|v| - x parallel to the normal) pins it down to rounding.
    a = np.abs(v).reshape(-1, 2)
    t = np.linspace(0.0, 0.5 * np.pi, n)[None, :]
    x, y = _arc(t, p, r)
    i = np.argmin((x - a[:, :1]) ** 2 + (y - a[:, 1:]) ** 2, axis=1)
    h = 0.5 * np.pi / (n - 1)
    lo = np.maximum(t[0, i] - h, 0.0)
    hi = np.minimum(t[0, i] + h, 0.5 * np.pi)

    def g(tt: np.ndarray) -> np.ndarray:
        # cross product of |v| - x(t) with the boundary's normal |x|^(p-1): zero at the answer
        xx, yy = _arc(tt, p, r)
        return (a[:, 0] - xx) * yy ** (p - 1.0) - (a[:, 1] - yy) * xx ** (p - 1.0)

    g_lo = g(lo)
    bracket = g_lo * g(hi) < 0
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        same = np.sign(g(mid)) == np.sign(g_lo)
        lo = np.where(bracket & same, mid, lo)
        hi = np.where(bracket & ~same, mid, hi)
    tb = np.where(bracket, 0.5 * (lo + hi), t[0, i])
    best = np.stack(_arc(tb, p, r), axis=-1)
    return (np.sign(v).reshape(-1, 2) * best).reshape(v.shape)


def _unit_directions(p: float, n: int) -> np.ndarray:
    theta = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    d = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    return d / p_norm(d, p)[:, None]


def exact_step(
    loss: str | ToyLoss,
    omega: Sequence[float] | np.ndarray,
    *,
    delta: float,
    p: float | str = 2.0,
    radial: int = 120,
    angles: int = 480,
    tol: float = 1e-10,
) -> np.ndarray:
    r"""The exact trust-region step :math:`\Delta^\star = \operatorname{argmin}_{\|\Delta\|_p
    \le \delta} F(\omega + \Delta)`, shape (2,), by grid search and zooming (module docstring).

    The grid (``radial`` × ``angles`` points) must resolve the basin of the global minimizer
    within the ball; the defaults resolve every loss of :data:`fwlab.toy.LOSSES` at δ ≥ 1e-3.
    Where several points tie (a symmetric loss), the first found is returned.

    Raises:
        ValueError: for δ <= 0, a bad p or a point that is not two finite numbers.
    """
    spec = get_loss(loss)
    p = p_exponent("p", p)
    delta = positive_float("delta", delta)
    w = _point(omega)
    rho = np.linspace(0.0, 1.0, radial + 1)[1:]
    dirs = _unit_directions(p, angles)
    cand = delta * (rho[:, None, None] * dirs[None, :, :]).reshape(-1, 2)
    cand = np.vstack([np.zeros((1, 2)), cand])
    best = _best(spec, w, cand)
    h = delta * max(1.0 / radial, 2.0 * np.pi / angles)
    g = np.linspace(-1.0, 1.0, 41)
    box = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    while h > tol * delta:
        cand = best + h * box
        n = p_norm(cand, p)
        out = n > delta
        cand[out] *= (delta / n[out])[:, None]
        new = _best(spec, w, np.vstack([best[None, :], cand]))
        # shrink unless the best point sits at the box's edge (the minimizer may lie beyond)
        edge = np.max(np.abs(new - best)) > 0.9 * h
        best = new
        if not edge:
            h /= 4.0
    return best


def _best(spec: ToyLoss, w: np.ndarray, cand: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        f = spec.at(w + cand)
    f = np.where(np.isfinite(f), f, np.inf)
    return cand[int(np.argmin(f))].copy()


def _point(omega: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.array(point("omega", omega))


def fw_gap(
    loss: str | ToyLoss, omega: Sequence[float] | np.ndarray, dw: np.ndarray, delta: float, p: float
) -> float:
    r"""The Frank-Wolfe gap :math:`\langle \nabla F(\omega + \Delta), \Delta - s\rangle` at the
    displacement ``dw``, with :math:`s` the LMO vertex of the δ-ball: an upper bound on how much
    the linear model can still decrease F inside the ball; 0 at a constrained stationary point."""
    spec = get_loss(loss)
    w = _point(omega)
    gx, gy = spec.grad(float(w[0] + dw[0]), float(w[1] + dw[1]))
    sx, sy = lmo_2d(gx, gy, p_exponent("p", p), float(delta))
    return gx * (dw[0] - sx) + gy * (dw[1] - sy)


def projected_gradient_steps(
    loss: str | ToyLoss,
    omega: Sequence[float] | np.ndarray,
    *,
    delta: float,
    p: float | str = 2.0,
    K: int = 30,
) -> np.ndarray:
    r"""K projected-gradient iterates :math:`\Delta_1..\Delta_K` of the trust-region subproblem,
    shape (K, 2).

    :math:`\Delta_0 = 0`, :math:`\Delta_k = P(\Delta_{k-1} - \alpha_k g_{k-1})` with
    :math:`g_{k-1} = \nabla F(\omega + \Delta_{k-1})` and :math:`P` = :func:`project_ball`. The
    step :math:`\alpha_k` backtracks (halving) from twice the previous one (at most 1024 times
    the first trial, :math:`\delta/\|g_0\|_2`, a move across the ball), until the
    sufficient-decrease test :math:`F(\Delta_k) \le F(\Delta_{k-1})
    + \langle g_{k-1}, \Delta_k - \Delta_{k-1}\rangle
    + \|\Delta_k - \Delta_{k-1}\|_2^2 / (2\alpha_k)` holds (Beck & Teboulle's rule), so F
    never increases. Each iterate costs one gradient and one or more projections and F evaluations.
    """
    spec = get_loss(loss)
    p = p_exponent("p", p)
    delta = positive_float("delta", delta)
    K = positive_int("K", K)
    w = _point(omega)
    d = np.zeros(2)
    f = float(spec.at(w + d))
    g0 = spec.grad_at(w)
    n0 = float(np.hypot(*g0))
    alpha = delta / n0 if n0 > 0 else 1.0
    alpha_max = 1024.0 * alpha  # a trial step past this only lands on the boundary anyway
    out = np.empty((int(K), 2))
    for k in range(int(K)):
        g = spec.grad_at(w + d)
        alpha = min(2.0 * alpha, alpha_max)
        for _ in range(80):
            new = project_ball(d - alpha * g, p, delta)
            step = new - d
            f_new = float(spec.at(w + new))
            if f_new <= f + float(g @ step) + float(step @ step) / (2.0 * alpha) + 1e-15 * abs(f):
                break
            alpha /= 2.0
        else:
            new, f_new = d, f
        d, f = new, f_new
        out[k] = d
    return out


def frank_wolfe_steps(
    loss: str | ToyLoss,
    omega: Sequence[float] | np.ndarray,
    *,
    delta: float,
    p: float | str = 2.0,
    K: int = 30,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Algorithm 1's inner loop at ``omega``: averages :math:`\Delta\omega_1..\Delta\omega_K`
    (K, 2), vertices :math:`s_1..s_K` (K, 2) and gaps (K,), from :func:`fwlab.toy.trajectory`
    with one outer step."""
    r = trajectory(loss, _point(omega), method="fw", lr=1.0, delta=delta, K=K, p=p, steps=1)
    return r.dw[0], r.vertices[0], r.gaps[0]


@dataclass(frozen=True, eq=False)
class StepZoom:
    """One trust-region step of every method at one point (arrays float64, displacements from
    ``omega``; distances Euclidean).

    Attributes:
        loss, omega, delta, p, K: the setting.
        exact: :math:`\\Delta^\\star` (2,); ``exact_gap``: the FW gap there (≈ 0 certifies it).
        fw_dw, fw_vertices, fw_gaps: Frank-Wolfe averages, vertices and gaps, (K, 2)/(K, 2)/(K,).
        pg_dw: projected-gradient iterates (K, 2).
        fw_distance, pg_distance: :math:`\\|\\Delta_k - \\Delta^\\star\\|_2`, (K,).
        f_exact, f_fw, f_pg: F(ω + ·) at the exact step, and per k for each method.
    """

    loss: str
    omega: np.ndarray
    delta: float
    p: float
    K: int
    exact: np.ndarray
    exact_gap: float
    fw_dw: np.ndarray
    fw_vertices: np.ndarray
    fw_gaps: np.ndarray
    pg_dw: np.ndarray
    fw_distance: np.ndarray
    pg_distance: np.ndarray
    f_exact: float
    f_fw: np.ndarray
    f_pg: np.ndarray


def step_zoom(
    loss: str | ToyLoss,
    omega: Sequence[float] | np.ndarray | None = None,
    *,
    delta: float,
    p: float | str = 2.0,
    K: int = 30,
) -> StepZoom:
    """Exact step, K projected-gradient and K Frank-Wolfe iterates at ``omega`` (``None``: the
    loss's start point), and each iterate's distance to the exact step."""
    spec = get_loss(loss)
    p = p_exponent("p", p)
    w = _point(spec.start if omega is None else omega)
    exact = exact_step(spec, w, delta=delta, p=p)
    fw_dw, verts, gaps = frank_wolfe_steps(spec, w, delta=delta, p=p, K=K)
    pg_dw = projected_gradient_steps(spec, w, delta=delta, p=p, K=K)
    return StepZoom(
        loss=spec.name,
        omega=w,
        delta=float(delta),
        p=p,
        K=int(K),
        exact=exact,
        exact_gap=fw_gap(spec, w, exact, delta, p),
        fw_dw=fw_dw,
        fw_vertices=verts,
        fw_gaps=gaps,
        pg_dw=pg_dw,
        fw_distance=np.hypot(*(fw_dw - exact).T),
        pg_distance=np.hypot(*(pg_dw - exact).T),
        f_exact=float(spec.at(w + exact)),
        f_fw=np.asarray(spec.at(w + fw_dw), dtype=np.float64),
        f_pg=np.asarray(spec.at(w + pg_dw), dtype=np.float64),
    )
