r"""Run Frank-Wolfe (Algorithm 1) and baselines on a 2-D toy loss and record every iterate.

Frank-Wolfe, for :math:`t = 1..T` (``steps``), from :math:`\omega_0 = x_0`:

.. math::
    \Delta\omega_{t,0} = 0,\qquad
    s_{t,k} = \operatorname*{argmin}_{\|s\|_p \le \delta}
              \langle s, \nabla F(\omega_{t-1} + \Delta\omega_{t,k-1}) \rangle,\qquad
    \Delta\omega_{t,k} = (1 - \tfrac1k)\,\Delta\omega_{t,k-1} + \tfrac1k\, s_{t,k},\qquad
    \omega_t = \omega_{t-1} + \eta\, \Delta\omega_{t,K}.

Every :math:`\Delta\omega_{t,k}` is a convex combination of LMO vertices, so it stays in the
ball of radius δ; the outer move :math:`\eta\Delta\omega_{t,K}` is at most ηδ long in the p-norm.

With ``delta_decay`` γ < 1 the radius shrinks geometrically, :math:`\delta_t = \delta\gamma^{t-1}`
(the paper decreases δ_t together with the learning rate): the moves are then summable,
:math:`\sum_t \|\omega_t - \omega_{t-1}\|_p \le \eta\delta/(1-\gamma)`, so the path converges
instead of bouncing between two points as it can at a fixed δ.

Baselines on the same loss (no inner loop):

* ``"gd"``: :math:`\omega_t = \omega_{t-1} - \eta \nabla F` (``torch.optim.SGD(lr=η)``);
* ``"ngd"``: normalized GD, :math:`\omega_t = \omega_{t-1} - \eta\delta\, \nabla F/\|\nabla F\|_2`,
  a step of length ηδ. It *is* Frank-Wolfe with K = 1, p = 2 (the vertex of the ℓ2 ball is
  :math:`-\delta\nabla F/\|\nabla F\|_2`), and it is computed by the same code, so the two
  paths are equal to the last bit. Written as its own formula (the order of the products
  changed) it drifts from Frank-Wolfe by rounding, and on a chaotic path (Rastrigin) the drift
  grows until the two are drawn apart: ``tests/toy/test_trajectory.py`` shows both;
* ``"adam"``: ``torch.optim.Adam(lr=η, betas, eps)``.

This module is the **fast path**: 2-D points are plain Python floats, the gradient is the loss's
analytic one and the LMO is written out for two coordinates, which is two orders of magnitude
faster than autograd plus a torch optimizer for the per-slider-move recomputations of the
playground. ``tests/toy/test_trajectory.py`` checks that it reproduces ``fwlab.optim.FrankWolfe``
(``scope="global"``, ``outer="sgd"``), ``torch.optim.SGD`` and ``torch.optim.Adam`` run with
autograd on an ``nn.Parameter`` of size 2, to ~1e-10 in float64.

Example:
    >>> from fwlab.toy import trajectory
    >>> r = trajectory("quadratic", (-2.5, -2.0), lr=1.0, delta=0.5, K=5, p=2, steps=20)
    >>> r.iterates.shape, r.inner.shape, r.vertices.shape, r.gaps.shape
    ((21, 2), (20, 5, 2), (20, 5, 2), (20, 5))
    >>> bool(r.losses[-1] < r.losses[0])
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fwlab.toy.losses import _FUNCS, ToyLoss, get_loss
from fwlab.util.validate import (
    fraction,
    nonnegative_float,
    nonnegative_int,
    one_of,
    p_exponent,
    point,
    positive_float,
    positive_int,
)

__all__ = ["METHODS", "Trajectory", "trajectory", "lmo_2d", "playground_trajectories"]

Method = Literal["fw", "gd", "ngd", "adam"]
METHODS: tuple[str, ...] = ("fw", "gd", "ngd", "adam")

# Same zero-gradient threshold as fwlab.optim.lmo (torch.finfo(float64).tiny): s = 0, never NaN.
_TINY = 2.2250738585072014e-308


@dataclass(frozen=True, eq=False)
class Trajectory:
    """The record of one run on a 2-D loss (all arrays float64).

    Attributes:
        method: ``"fw"``, ``"gd"``, ``"ngd"`` or ``"adam"``.
        loss: the loss name.
        lr, delta, K, p: the settings used (``K = 0`` for the baselines, which have no inner loop).
        delta_decay: γ of the radius schedule δ_t = δ γ^(t−1) (1: a fixed δ).
        iterates: outer iterates :math:`\\omega_0..\\omega_T`, shape ``(steps + 1, 2)``.
        losses: :math:`F(\\omega_t)`, shape ``(steps + 1,)``.
        inner: inner points :math:`\\omega_{t-1} + \\Delta\\omega_{t,k}`, ``k = 1..K``,
            shape ``(steps, K, 2)``.
        vertices: LMO outputs :math:`s_{t,k}` (displacements from :math:`\\omega_{t-1}`),
            shape ``(steps, K, 2)``.
        gaps: FW gaps :math:`\\langle \\nabla F(\\omega_{t-1}+\\Delta\\omega_{t,k-1}),
            \\Delta\\omega_{t,k-1} - s_{t,k}\\rangle \\ge 0`, shape ``(steps, K)``; at ``k = 1`` it
            equals :math:`\\delta \\|\\nabla F(\\omega_{t-1})\\|_q`.
        diverged: the step ``t`` whose iterate left the floating-point range (a baseline with
            too large a learning rate): ``iterates[t:]`` are NaN; ``None`` otherwise. FW cannot
            diverge since it moves at most ηδ per step.
    """

    method: str
    loss: str
    lr: float
    delta: float
    K: int
    p: float
    iterates: np.ndarray
    losses: np.ndarray
    inner: np.ndarray
    vertices: np.ndarray
    gaps: np.ndarray
    diverged: int | None = None
    delta_decay: float = 1.0

    @property
    def deltas(self) -> np.ndarray:
        """The radius of each outer step, :math:`\\delta_t = \\delta\\gamma^{t-1}`, (steps,)."""
        return self.delta * self.delta_decay ** np.arange(self.steps, dtype=np.float64)

    @property
    def steps(self) -> int:
        """The number of outer steps T."""
        return self.iterates.shape[0] - 1

    @property
    def centers(self) -> np.ndarray:
        """The ball centres :math:`\\omega_{t-1}` of the inner loops, shape ``(steps, 2)``."""
        return self.iterates[:-1]

    @property
    def dw(self) -> np.ndarray:
        """The inner displacements :math:`\\Delta\\omega_{t,k}`, shape ``(steps, K, 2)``."""
        return self.inner - self.centers[:, None, :]

    @property
    def moves(self) -> np.ndarray:
        """The outer moves :math:`\\omega_t - \\omega_{t-1}`, shape ``(steps, 2)``."""
        return np.diff(self.iterates, axis=0)


def _sign(v: float) -> float:
    return float((v > 0.0) - (v < 0.0))


def lmo_2d(gx: float, gy: float, p: float, radius: float) -> tuple[float, float]:
    """The LMO of the 2-D ball ``||s||_p <= radius`` on Python floats.

    The same closed forms, tie-break (first index for p = 1), zero-gradient rule and order of
    floating-point operations as :func:`fwlab.optim.lmo`, so the two agree to rounding.
    ``p`` must already be a float in ``[1, inf]`` (see :func:`fwlab.util.validate.p_exponent`).

    Example:
        >>> [round(v, 12) for v in lmo_2d(3.0, -4.0, 2.0, 1.0)]
        [-0.6, 0.8]
        >>> lmo_2d(3.0, -4.0, 1.0, 0.5)  # the vertex of the l1 ball along the largest |g_i|
        (0.0, 0.5)
    """
    ax = abs(gx)
    ay = abs(gy)
    gmax = ax if ax >= ay else ay
    if not gmax > _TINY:
        return 0.0, 0.0
    if p == 1.0:
        if ax >= ay:
            return -radius * _sign(gx), 0.0
        return 0.0, -radius * _sign(gy)
    if p == math.inf:
        return -radius * _sign(gx), -radius * _sign(gy)
    sx = gx / gmax
    sy = gy / gmax
    if p == 2.0:
        c = -radius / math.sqrt(sx * sx + sy * sy)
        return sx * c, sy * c
    q = p / (p - 1.0)
    ux = abs(sx)
    uy = abs(sy)
    denom = ((ux**q + uy**q) ** (1.0 / q)) ** (q - 1.0)  # ||g/gmax||_q^(q-1)
    c = -radius / denom
    return _sign(gx) * ux ** (q - 1.0) * c, _sign(gy) * uy ** (q - 1.0) * c


def trajectory(
    loss: str | ToyLoss,
    x0: Sequence[float] | np.ndarray | None = None,
    *,
    method: Method = "fw",
    lr: float = 1.0,
    delta: float | None = None,
    K: int = 1,
    p: float | str = 2.0,
    steps: int = 100,
    delta_decay: float = 1.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> Trajectory:
    """Run ``method`` on ``loss`` from ``x0`` for ``steps`` outer steps and record everything.

    Args:
        loss: a registered loss name (:data:`fwlab.toy.LOSSES`) or a :class:`ToyLoss`.
        x0: start point ``(x, y)``; ``None`` takes ``loss.start``.
        method: ``"fw"`` (Algorithm 1), ``"gd"``, ``"ngd"`` (step ηδ) or ``"adam"``.
        lr: η — the outer step size of FW, the learning rate of GD and Adam, and (times δ) the
            step length of normalized GD.
        delta: the trust-region radius δ (``None``: ``loss.delta``); FW and NGD only.
        K: FW inner iterations.
        p: norm of the FW ball, in ``[1, inf]`` (``"inf"`` accepted).
        steps: outer steps T.
        delta_decay: γ in (0, 1]; step t uses the radius δ_t = δ γ^(t−1) (FW and NGD).
        betas, eps: Adam's coefficients (``method="adam"`` only).

    Returns:
        A :class:`Trajectory`; the inner arrays have ``K`` columns for FW and 0 otherwise.

    Raises:
        ValueError: for an unknown method or loss, lr < 0, δ <= 0, K < 1, steps < 0, a bad p or a
            start point that is not two finite numbers.
    """
    spec = get_loss(loss)
    method = one_of("method", method, METHODS)
    lr = nonnegative_float("lr", lr)
    delta = positive_float("delta", spec.delta if delta is None else delta)
    K = positive_int("K", K)
    steps = nonnegative_int("steps", steps)
    decay = fraction("delta_decay", delta_decay)
    p = p_exponent("p", p)
    x, y = point("x0", spec.start if x0 is None else x0)
    grad = _FUNCS[spec.name][1]

    diverged = None  # FW and NGD move at most ηδ per step from a finite start: never
    if method == "fw":
        pts, inner, verts, gaps = _run_fw(grad, x, y, lr, delta, K, p, steps, decay)
    else:
        if method == "ngd":  # Frank-Wolfe with K = 1, p = 2: the same operations, bit for bit
            pts, *_ = _run_fw(grad, x, y, lr, delta, 1, 2.0, steps, decay)
        else:
            pts, diverged = _run_baseline(method, grad, x, y, lr, steps, betas, eps)
        K = 0
        inner = verts = np.empty((steps, 0, 2))
        gaps = np.empty((steps, 0))
    iterates = np.array(pts, dtype=np.float64).reshape(-1, 2)
    if iterates.shape[0] < steps + 1:  # diverged: pad with NaN
        iterates = np.vstack([iterates, np.full((steps + 1 - iterates.shape[0], 2), np.nan)])
    with np.errstate(over="ignore", invalid="ignore"):
        losses = np.asarray(spec(iterates[:, 0], iterates[:, 1]), dtype=np.float64)
    return Trajectory(
        method=method,
        loss=spec.name,
        lr=lr,
        delta=delta,
        K=K,
        p=p,
        iterates=iterates,
        losses=losses,
        inner=inner,
        vertices=verts,
        gaps=gaps,
        diverged=diverged,
        delta_decay=decay,
    )


def playground_trajectories(
    loss: str | ToyLoss,
    x0: Sequence[float] | np.ndarray | None = None,
    *,
    lr: float,
    delta: float | None = None,
    K: int,
    p: float | str = 2.0,
    steps: int,
    delta_decay: float = 1.0,
    gd_lr: float | None = None,
) -> tuple[Trajectory, dict[str, Trajectory]]:
    """Frank-Wolfe and the three baselines the playground draws, from one set of settings.

    The playground state of the explorer widget, the exported HTML playground and the bench:
    FW with ``(lr, delta, K, p, delta_decay)``; ``"gd"`` with ``gd_lr`` (``None``: the loss's
    ``gd_lr``); ``"ngd"``, a step ηδ (``lr``, ``delta``, ``delta_decay``); ``"adam"`` with learning
    rate ηδ, whose per-coordinate steps are ≈ ηδ, comparable to FW with p = ∞. Arguments and
    errors as in :func:`trajectory`.

    Returns:
        ``(fw, baselines)``: the FW :class:`Trajectory` and ``{"gd", "ngd", "adam"}`` ones.

    Example:
        >>> from fwlab.toy import playground_trajectories
        >>> fw, base = playground_trajectories("quadratic", lr=1.0, delta=0.5, K=5, steps=20)
        >>> fw.K, sorted(base), base["adam"].lr
        (5, ['adam', 'gd', 'ngd'], 0.5)
    """
    spec = get_loss(loss)
    ngd = {"lr": lr, "delta": delta, "steps": steps, "delta_decay": delta_decay}
    fw = trajectory(spec, x0, method="fw", K=K, p=p, **ngd)
    baselines = {
        "gd": trajectory(
            spec, x0, method="gd", lr=spec.gd_lr if gd_lr is None else gd_lr, steps=steps
        ),
        "ngd": trajectory(spec, x0, method="ngd", **ngd),
        "adam": trajectory(spec, x0, method="adam", lr=fw.lr * fw.delta, steps=steps),
    }
    return fw, baselines


def _run_fw(grad, x, y, lr, delta, K, p, steps, decay=1.0):
    pts = [x, y]
    # Python lists are filled in the hot loop; one numpy conversion at the end is far cheaper
    # than steps * K small-array writes.
    inn: list[float] = []
    ver: list[float] = []
    gap: list[float] = []
    lmo = lmo_2d
    radius = delta
    for t in range(steps):
        if decay != 1.0:
            radius = delta * decay**t
        dx = dy = 0.0
        for k in range(1, K + 1):
            gx, gy = grad(x + dx, y + dy)
            sx, sy = lmo(gx, gy, p, radius)
            gap.append(gx * (dx - sx) + gy * (dy - sy))
            a = 1.0 - 1.0 / k
            b = 1.0 / k
            dx = a * dx + b * sx
            dy = a * dy + b * sy
            inn.append(x + dx)
            inn.append(y + dy)
            ver.append(sx)
            ver.append(sy)
        x = x + lr * dx
        y = y + lr * dy
        pts.append(x)
        pts.append(y)
    inner = np.array(inn, dtype=np.float64).reshape(steps, K, 2)
    verts = np.array(ver, dtype=np.float64).reshape(steps, K, 2)
    return pts, inner, verts, np.array(gap, dtype=np.float64).reshape(steps, K)


def _run_baseline(method, grad, x, y, lr, steps, betas, eps):
    pts = [x, y]
    b1, b2 = betas
    mx = my = vx = vy = 0.0
    for t in range(1, steps + 1):
        try:
            gx, gy = grad(x, y)
            if method == "gd":
                x = x - lr * gx
                y = y - lr * gy
            else:  # adam, in torch.optim.Adam's order of operations (single-tensor path)
                mx = mx + (gx - mx) * (1.0 - b1)
                my = my + (gy - my) * (1.0 - b1)
                vx = vx * b2 + (1.0 - b2) * gx * gx
                vy = vy * b2 + (1.0 - b2) * gy * gy
                step_size = lr / (1.0 - b1**t)
                bc2_sqrt = math.sqrt(1.0 - b2**t)
                x = x - step_size * (mx / (math.sqrt(vx) / bc2_sqrt + eps))
                y = y - step_size * (my / (math.sqrt(vy) / bc2_sqrt + eps))
        except OverflowError:
            return pts, t
        if not (math.isfinite(x) and math.isfinite(y)):
            return pts, t
        pts.append(x)
        pts.append(y)
    return pts, None
