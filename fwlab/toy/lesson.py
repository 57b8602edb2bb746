r"""The numbers behind notebook 01's claims: vectorized, so a notebook can assert them.

Every statement of the trust-region lesson that data could refute is computed by one of these
functions; the notebook asserts their results (and ``tests/test_toy_lesson.py`` asserts them
over the corners of the notebook's slider ranges).

* :func:`lmo_rows`, :func:`fw_inner_batch`: Algorithm 1's inner loop at many centres at once
  (the same closed forms as :func:`fwlab.toy.lmo_2d`);
* :func:`k_sweep`: at fixed centres, how the K-th average :math:`\Delta\omega_K` depends on K —
  its length :math:`\|\Delta\omega_K\|_p/\delta`, its angle to the exact step
  :math:`\Delta^\star`, whether it goes downhill;
* :func:`identity_model_step`: the trust-region step of the model
  :math:`F + \langle g, \Delta\rangle + \tfrac12\|\Delta\|_2^2`;
* :func:`tail_points`: how many distinct points the last iterates visit (bouncing);
* :func:`final_loss_grid`: F after T steps over a grid of (η, δ).

Example:
    >>> import numpy as np
    >>> from fwlab.toy.lesson import fw_inner_batch
    >>> dw, s, gaps = fw_inner_batch("quadratic", np.array([[-2.5, -2.0]]), delta=0.5, p=2, K=3)
    >>> dw.shape, bool(np.allclose(dw[:, -1], s.mean(axis=1)))
    ((1, 3, 2), True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fwlab.exponent import as_p
from fwlab.toy.losses import ToyLoss, get_loss
from fwlab.toy.trajectory import _TINY
from fwlab.toy.trust_region import exact_step, p_norm

__all__ = [
    "final_loss_grid",
    "fw_inner_batch",
    "identity_model_step",
    "k_sweep",
    "lmo_rows",
    "tail_points",
]


def lmo_rows(g: np.ndarray, p: float, radius: float | np.ndarray) -> np.ndarray:
    r"""The LMO :math:`\operatorname{argmin}_{\|s\|_p \le r}\langle s, g\rangle` of every row of
    ``g`` (…, 2); ``radius`` scalar or broadcastable to ``g[..., 0]``. Zero rows give 0.

    Example:
        >>> lmo_rows(np.array([[3.0, -4.0], [1.0, 0.5]]), 1.0, 1.0).tolist()
        [[0.0, 1.0], [-1.0, 0.0]]
    """
    g = np.asarray(g, dtype=np.float64)
    r = np.asarray(radius, dtype=np.float64)[..., None]
    a = np.abs(g)
    gmax = a.max(axis=-1, keepdims=True)
    zero = ~(gmax > _TINY)
    if p == 1.0:
        first = a[..., :1] >= a[..., 1:]  # tie-break: the first coordinate, as lmo_2d
        e = np.concatenate([first, ~first], axis=-1)
        s = np.where(e, -r * np.sign(g), 0.0)
    elif math.isinf(p):
        s = -r * np.sign(g)
    else:
        u = g / np.where(zero, 1.0, gmax)
        u = np.where(zero, 1.0, u)  # any nonzero row: replaced by 0 below
        if p == 2.0:
            s = -r * u / np.sqrt((u * u).sum(axis=-1, keepdims=True))
        else:
            q = p / (p - 1.0)
            au = np.abs(u)
            denom = ((au**q).sum(axis=-1, keepdims=True) ** (1.0 / q)) ** (q - 1.0)
            s = -r * np.sign(u) * au ** (q - 1.0) / denom
    return np.where(zero, 0.0, s)


def fw_inner_batch(
    loss: str | ToyLoss, centres: np.ndarray, *, delta: float, p: float | str, K: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Algorithm 1's inner loop at every centre at once: averages :math:`\Delta\omega_k`
    (N, K, 2), vertices :math:`s_k` (N, K, 2) and FW gaps (N, K)."""
    spec = get_loss(loss)
    p = as_p(p)
    w = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    n = w.shape[0]
    dws = np.empty((n, K, 2))
    verts = np.empty((n, K, 2))
    gaps = np.empty((n, K))
    d = np.zeros((n, 2))
    for k in range(1, K + 1):
        g = spec.grad_at(w + d)
        s = lmo_rows(g, p, delta)
        gaps[:, k - 1] = (g * (d - s)).sum(axis=-1)
        d = (1.0 - 1.0 / k) * d + (1.0 / k) * s
        dws[:, k - 1] = d
        verts[:, k - 1] = s
    return dws, verts, gaps


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na = np.hypot(a[..., 0], a[..., 1])
    nb = np.hypot(b[..., 0], b[..., 1])
    cos = (a * b).sum(axis=-1) / np.where(na * nb > 0, na * nb, 1.0)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def k_sweep(
    loss: str | ToyLoss,
    centres: np.ndarray,
    *,
    delta: float,
    p: float | str,
    Ks: Sequence[int] = (1, 2, 3, 5, 10, 30),
    exact: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    r"""How :math:`\Delta\omega_K` depends on K at fixed centres (one row per K in ``Ks``).

    Returns a dict of arrays of shape ``(len(Ks),)``:

    * ``length``: median of :math:`\|\Delta\omega_K\|_p/\delta`;
    * ``angle``: median angle (degrees) between :math:`\Delta\omega_K` and :math:`\Delta^\star`;
    * ``distance``: median :math:`\|\Delta\omega_K - \Delta^\star\|_2/\delta`;
    * ``downhill``: fraction of centres with :math:`F(\omega+\Delta\omega_K) < F(\omega)`;

    plus ``Ks`` and ``exact`` (N, 2), the exact steps (computed unless given).
    """
    spec = get_loss(loss)
    p = as_p(p)
    w = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    if exact is None:
        exact = np.array([exact_step(spec, c, delta=delta, p=p) for c in w]).reshape(-1, 2)
    Ks = [int(k) for k in Ks]
    dws, _, _ = fw_inner_batch(spec, w, delta=delta, p=p, K=max(Ks))
    f0 = spec.at(w)
    out: dict[str, list[float]] = {"length": [], "angle": [], "distance": [], "downhill": []}
    for K in Ks:
        d = dws[:, K - 1]
        out["length"].append(float(np.median(p_norm(d, p)) / delta))
        out["angle"].append(float(np.median(_angle_deg(d, exact))))
        out["distance"].append(float(np.median(np.hypot(*(d - exact).T)) / delta))
        out["downhill"].append(float(np.mean(spec.at(w + d) < f0)))
    res = {k: np.asarray(v) for k, v in out.items()}
    res["Ks"] = np.asarray(Ks)
    res["exact"] = exact
    return res


def identity_model_step(g: Sequence[float] | np.ndarray, delta: float) -> np.ndarray:
    r"""The minimizer of :math:`\langle g, \Delta\rangle + \tfrac12\|\Delta\|_2^2` over
    :math:`\|\Delta\|_2 \le \delta`: :math:`-\min(1, \delta/\|g\|_2)\, g`.

    It is the normalized step :math:`-\delta g/\|g\|_2` only when :math:`\|g\|_2 \ge \delta`;
    for a smaller gradient it is the plain gradient step :math:`-g`, inside the ball.

    Example:
        >>> identity_model_step([3.0, 4.0], 1.0).round(12).tolist()
        [-0.6, -0.8]
        >>> identity_model_step([0.3, 0.4], 1.0).tolist()
        [-0.3, -0.4]
    """
    g = np.asarray(g, dtype=np.float64)
    n = float(np.hypot(*g))
    return -min(1.0, delta / n) * g if n > 0 else np.zeros(2)


def tail_points(iterates: np.ndarray, tail: int = 20, decimals: int = 9) -> int:
    """How many distinct points (rounded to ``decimals``) the last ``tail`` iterates visit:
    2 for a path that bounces between two points, ``tail`` for one still moving."""
    pts = np.round(np.asarray(iterates, dtype=np.float64)[-tail:], decimals)
    return len({tuple(p) for p in pts})


def final_loss_grid(
    loss: str | ToyLoss,
    x0: Sequence[float],
    *,
    lrs: Sequence[float],
    deltas: Sequence[float],
    K: int,
    p: float | str,
    steps: int,
) -> np.ndarray:
    """F after ``steps`` Frank-Wolfe steps for every (η, δ): shape ``(len(lrs), len(deltas))``.

    All grid points run at once, vectorized (the same recursion as :func:`fwlab.toy.trajectory`,
    with :func:`lmo_rows`; results agree with it to rounding).
    """
    spec = get_loss(loss)
    p = as_p(p)
    lr = np.repeat(np.asarray(lrs, dtype=np.float64), len(deltas))
    radius = np.tile(np.asarray(deltas, dtype=np.float64), len(lrs))
    w = np.tile(np.asarray(x0, dtype=np.float64).reshape(1, 2), (lr.size, 1))
    for _ in range(int(steps)):
        d = np.zeros_like(w)
        for k in range(1, int(K) + 1):
            s = lmo_rows(spec.grad_at(w + d), p, radius)
            d = (1.0 - 1.0 / k) * d + (1.0 / k) * s
        w = w + lr[:, None] * d
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(spec.at(w), dtype=np.float64).reshape(len(lrs), len(deltas))
