r"""The numbers behind notebook 01's claims: vectorized, so a notebook can assert them.

Every statement of the trust-region lesson that data could refute is computed by one of these
functions; the notebook asserts their results (and ``tests/toy/test_lesson.py`` asserts them
over the corners of the notebook's slider ranges).

* :func:`lmo_rows`, :func:`fw_inner_batch`: Algorithm 1's inner loop at many centres at once
  (the same closed forms as :func:`fwlab.toy.lmo_2d`);
* :func:`k_sweep`: at fixed centres, how the K-th average :math:`\Delta\omega_K` depends on K —
  its length :math:`\|\Delta\omega_K\|_p/\delta`, its angle to the exact step
  :math:`\Delta^\star`, whether it goes downhill;
* :func:`identity_model_step`: the trust-region step of the model
  :math:`F + \langle g, \Delta\rangle + \tfrac12\|\Delta\|_2^2`;
* :func:`tail_points`: how many distinct points the last iterates visit (bouncing);
* :func:`final_loss_grid`: F after T steps over a grid of (η, δ);
* claims over the sliders' ranges: :func:`slider_settings` (every loss × p × δ of
  :data:`SLIDER_DELTAS`), :func:`ball_claims` (what Algorithm 1 guarantees, worst case),
  :func:`length_curves` (‖Δω_K‖/δ against K), :func:`mean_moves` (against δ),
  :func:`frozen_ks` and :func:`alternating_vertices` (even-K freezing at p = 1 and ∞);
* checkable reveals: ``check_*_prediction`` for each "predict, then move the slider" prompt and
  :func:`check_same_path`, :func:`check_projection_l1`, :func:`check_exercise_3` for the
  exercises. Each returns a :class:`Verdict`: right / not quite for a guess, the computed answer
  when the guess is ``None``; ``tests/toy/test_lesson.py`` holds their accept/reject tables.

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
from dataclasses import dataclass
from typing import Any

import numpy as np

from fwlab.toy.losses import ToyLoss, get_loss, loss_names
from fwlab.toy.sliders import slider_value
from fwlab.toy.trajectory import _TINY, trajectory
from fwlab.toy.trust_region import exact_step, p_norm, project_ball
from fwlab.util.exponent import dual_exponent
from fwlab.util.validate import boolean, optional, p_exponent, positive_float

__all__ = [
    "SLIDER_DELTAS",
    "SLIDER_PS",
    "Verdict",
    "alternating_vertices",
    "ball_claims",
    "check_decay_prediction",
    "check_eta_delta_prediction",
    "check_exercise_3",
    "check_gap_prediction",
    "check_k_prediction",
    "check_lmo_prediction",
    "check_projection_l1",
    "check_same_path",
    "check_zoom_prediction",
    "final_loss_grid",
    "frozen_ks",
    "fw_inner_batch",
    "identity_model_step",
    "k_sweep",
    "length_curves",
    "lmo_rows",
    "mean_moves",
    "path_centres",
    "slider_settings",
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
    loss: str | ToyLoss, centres: np.ndarray, *, delta: float | np.ndarray, p: float | str, K: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Algorithm 1's inner loop at every centre at once: averages :math:`\Delta\omega_k`
    (N, K, 2), vertices :math:`s_k` (N, K, 2) and FW gaps (N, K); ``delta`` is one radius or
    one per centre (N,)."""
    spec = get_loss(loss)
    p = p_exponent("p", p)
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
    p = p_exponent("p", p)
    w = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    if exact is None:
        exact = np.array([exact_step(spec, c, delta=delta, p=p) for c in w]).reshape(-1, 2)
    Ks = [int(k) for k in Ks]
    dws, _, _ = fw_inner_batch(spec, w, delta=delta, p=p, K=max(Ks))
    d = dws[:, [k - 1 for k in Ks]]  # (N, len(Ks), 2); medians and shares over the N centres
    miss = d - exact[:, None]
    return {
        "length": np.median(p_norm(d, p), axis=0) / delta,
        "angle": np.median(_angle_deg(d, exact[:, None]), axis=0),
        "distance": np.median(np.hypot(miss[..., 0], miss[..., 1]), axis=0) / delta,
        "downhill": np.mean(spec.at(w[:, None] + d) < spec.at(w)[:, None], axis=0),
        "Ks": np.asarray(Ks),
        "exact": exact,
    }


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

    All grid points run at once, through :func:`fw_inner_batch` (results agree with
    :func:`fwlab.toy.trajectory` to rounding).
    """
    spec = get_loss(loss)
    p = p_exponent("p", p)
    lr = np.repeat(np.asarray(lrs, dtype=np.float64), len(deltas))
    radius = np.tile(np.asarray(deltas, dtype=np.float64), len(lrs))
    w = np.tile(np.asarray(x0, dtype=np.float64).reshape(1, 2), (lr.size, 1))
    for _ in range(int(steps)):
        w = w + lr[:, None] * fw_inner_batch(spec, w, delta=radius, p=p, K=int(K))[0][:, -1]
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(spec.at(w), dtype=np.float64).reshape(len(lrs), len(deltas))


# --- claims over the sliders' ranges ---------------------------------------------------------

#: the p options of the playground's sliders
SLIDER_PS: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, math.inf)
#: δ values that span the δ slider: its ends, a small and the default radius
SLIDER_DELTAS: tuple[float, ...] = (1e-3, 0.03, 0.5, 3.0)


def slider_settings(
    losses: Sequence[str] | None = None,
    ps: Sequence[float] = SLIDER_PS,
    deltas: Sequence[float] = SLIDER_DELTAS,
) -> list[tuple[str, float, float]]:
    """``(loss, p, δ)`` for every loss × p × δ: the settings a general claim is asserted over."""
    names = loss_names() if losses is None else [get_loss(n).name for n in losses]
    return [(n, float(p_exponent("p", p)), float(d)) for n in names for p in ps for d in deltas]


def path_centres(
    loss: str | ToyLoss,
    *,
    delta: float,
    p: float | str,
    start: Sequence[float] | None = None,
    K: int = 5,
    lr: float = 0.5,
    steps: int = 100,
    every: int = 5,
) -> np.ndarray:
    """Every ``every``-th outer iterate of a Frank-Wolfe run (the points where the lesson looks
    at one step), shape ``(ceil(steps / every), 2)``; the start alone when ``steps`` is 0."""
    r = trajectory(loss, start, lr=lr, delta=delta, K=K, p=p, steps=steps)
    return r.centers[::every] if steps else r.iterates[:1]


def length_curves(
    settings: Sequence[tuple[str, float, float]], Ks: Sequence[int] = tuple(range(1, 31))
) -> np.ndarray:
    r"""Median :math:`\|\Delta\omega_K\|_p/\delta` over :func:`path_centres` for every setting
    ``(loss, p, δ)`` and K in ``Ks``: shape ``(len(settings), len(Ks))``."""
    Ks = [int(k) for k in Ks]
    out = np.empty((len(settings), len(Ks)))
    for i, (loss, p, delta) in enumerate(settings):
        c = path_centres(loss, delta=delta, p=p)
        dws, _, _ = fw_inner_batch(loss, c, delta=delta, p=p, K=max(Ks))
        lengths = p_norm(dws, p) / delta  # (N, K)
        out[i] = np.median(lengths[:, [k - 1 for k in Ks]], axis=0)
    return out


def ball_claims(settings: Sequence[tuple[str, float, float]], K: int = 30) -> dict[str, float]:
    r"""The worst case over ``settings`` (at their :func:`path_centres`) of what Algorithm 1
    guarantees, for k = 1..K:

    * ``max_length``: :math:`\max \|\Delta\omega_k\|_p/\delta` (≤ 1: the average stays in the
      ball);
    * ``k1_error``: :math:`\max |\,\|\Delta\omega_1\|_p/\delta - 1|` where ∇F ≠ 0 (K = 1 moves
      by exactly δ);
    * ``first_gap_error``: the largest relative difference between the gap at k = 1 and
      :math:`\delta\|\nabla F(\omega)\|_q`;
    * ``min_gap``: the smallest gap, relative to the first (≥ 0 up to rounding);
    * ``max_k_step``: :math:`\max k\|\Delta\omega_k - \Delta\omega_{k-1}\|_p/\delta`
      (≤ 2: the k-th inner step, :math:`(s_k - \Delta\omega_{k-1})/k`, is at most 2δ/k long).
    """
    worst = {
        "max_length": 0.0,
        "k1_error": 0.0,
        "first_gap_error": 0.0,
        "min_gap": math.inf,
        "max_k_step": 0.0,
    }
    for loss, p, delta in settings:
        spec = get_loss(loss)
        c = path_centres(spec, delta=delta, p=p)
        dws, _, gaps = fw_inner_batch(spec, c, delta=delta, p=p, K=K)
        g = spec.grad_at(c)
        moving = np.abs(g).max(axis=1) > _TINY
        ratio = p_norm(dws, p) / delta
        first = delta * p_norm(g, dual_exponent(p))
        scale = np.maximum(first, 1e-300)
        worst["max_length"] = max(worst["max_length"], float(ratio.max()))
        if moving.any():
            worst["k1_error"] = max(worst["k1_error"], float(np.abs(ratio[moving, 0] - 1).max()))
        worst["first_gap_error"] = max(
            worst["first_gap_error"], float((np.abs(gaps[:, 0] - first) / scale).max())
        )
        worst["min_gap"] = min(worst["min_gap"], float((gaps / scale[:, None]).min()))
        steps = np.diff(np.concatenate([np.zeros_like(dws[:, :1]), dws], axis=1), axis=1)
        k_step = p_norm(steps, p) * np.arange(1, K + 1) / delta
        worst["max_k_step"] = max(worst["max_k_step"], float(k_step.max()))
    return worst


def mean_moves(
    loss: str | ToyLoss,
    start: Sequence[float] | None = None,
    *,
    deltas: Sequence[float],
    lr: float,
    K: int,
    p: float | str,
    steps: int,
) -> np.ndarray:
    r"""The mean outer move :math:`\|\omega_t - \omega_{t-1}\|_p` of a Frank-Wolfe run for
    every δ in ``deltas`` (0 for ``steps = 0``)."""
    out = []
    for d in deltas:
        r = trajectory(loss, start, lr=lr, delta=float(d), K=K, p=p, steps=steps)
        out.append(float(np.mean(p_norm(r.moves, p_exponent("p", p)))) if steps else 0.0)
    return np.asarray(out)


def frozen_ks(
    loss: str | ToyLoss,
    start: Sequence[float] | None = None,
    *,
    delta: float,
    p: float | str,
    lr: float,
    steps: int,
    Ks: Sequence[int] = tuple(range(1, 31)),
) -> list[int]:
    """The K in ``Ks`` whose Frank-Wolfe path never leaves the start in ``steps`` (≥ 1) steps:
    its K vertices cancel exactly (``s, −s, s, −s, …`` gives :math:`\\Delta\\omega_K = 0` for
    even K), or the start is stationary. None for ``steps = 0``."""
    out: list[int] = []
    if not steps:
        return out
    for k in Ks:
        r = trajectory(loss, start, lr=lr, delta=delta, K=int(k), p=p, steps=steps)
        if np.all(r.iterates == r.iterates[0]):
            out.append(int(k))
    return out


def alternating_vertices(vertices: np.ndarray) -> int:
    """How many of the first vertices of one step alternate exactly, s₂ = −s₁, s₃ = s₁, …:
    the length of the longest prefix ``s_1, −s_1, s_1, …`` of ``vertices`` (K, 2)."""
    v = np.asarray(vertices, dtype=np.float64)
    n = 1
    while n < len(v) and np.array_equal(v[n], v[0] * (-1.0) ** n):
        n += 1
    return n if len(v) else 0


# --- checkable reveals: the prompts' and exercises' answers, computed -----------------------


@dataclass(frozen=True)
class Verdict:
    """A checker's answer: ``correct`` is ``True``/``False`` for a guess, ``None`` when no guess
    was given (the answer is shown); ``answer`` is what was computed; ``why`` explains it.

    ``bool(verdict)`` is ``correct is True``; printing it gives one line per part.
    """

    correct: bool | None
    answer: dict[str, Any]
    why: str

    def __bool__(self) -> bool:
        return self.correct is True

    def __str__(self) -> str:
        head = {True: "✓ right", False: "✗ not quite", None: "the answer"}[self.correct]
        parts = ", ".join(f"{k} = {_show(v)}" for k, v in self.answer.items())
        return f"{head}: {parts}. {self.why}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def _show(v: Any) -> str:
    if isinstance(v, float):
        return "∞" if math.isinf(v) else f"{v:.4g}"
    if isinstance(v, set | frozenset | tuple | list):
        return "{" + ", ".join(_show(x) for x in sorted(v)) + "}"
    return str(v)


def _verdict(guesses: dict[str, Any], truth: dict[str, Any], why: str) -> Verdict:
    given = {k: v for k, v in guesses.items() if v is not None}
    if not given:
        return Verdict(None, truth, why)
    for k, v in given.items():
        want = truth[k]
        if isinstance(want, bool):
            optional(boolean, k, v)
    ok = all(_same(v, truth[k]) for k, v in given.items())
    return Verdict(ok, truth, why)


def _same(guess: Any, want: Any) -> bool:
    if isinstance(want, frozenset):
        return frozenset(float(p_exponent("p", x)) for x in guess) == want
    return bool(guess == want)


def _step_moves(loss, centres, *, lr, delta, K, p) -> np.ndarray:
    dws, _, _ = fw_inner_batch(loss, centres, delta=delta, p=p, K=K)
    return lr * dws[:, -1]


def check_same_path(
    lr_b: float,
    delta_b: float,
    *,
    loss: str | ToyLoss = "rosenbrock",
    start: Sequence[float] | None = None,
    lr: float = 0.5,
    delta: float = 0.5,
    K: int = 1,
    p: float | str = 2.0,
    steps: int = 100,
    rtol: float = 1e-12,
) -> Verdict:
    r"""Does Frank-Wolfe with ``(lr_b, delta_b)`` follow the same path as with ``(lr, delta)``?

    It compares the two *update rules* where the path goes: at every iterate of the
    ``(lr, delta)`` run, the move :math:`\eta'\Delta\omega_K(\delta')` with the move
    :math:`\eta\Delta\omega_K(\delta)`, to ``rtol`` × ηδ. Equal rules give the same path; an
    equal rule computed with other roundings (c = 3: 3η·δ/3 is not ηδ to the last bit) is
    accepted, which comparing two whole paths would not do on a chaotic loss.
    ``correct`` is whether the two rules agree.

    Example:
        >>> bool(check_same_path(1.5, 0.5 / 3, lr=0.5, delta=0.5, K=1, p=1.5))
        True
        >>> bool(check_same_path(1.0, 0.25, lr=0.5, delta=0.5, K=5))
        False
    """
    lr_b, delta_b = positive_float("lr_b", lr_b), positive_float("delta_b", delta_b)
    spec = get_loss(loss)
    a = trajectory(spec, start, lr=lr, delta=delta, K=K, p=p, steps=steps)
    centres = a.centers if steps else a.iterates
    mine = _step_moves(spec, centres, lr=lr, delta=delta, K=K, p=p)
    theirs = _step_moves(spec, centres, lr=float(lr_b), delta=float(delta_b), K=K, p=p)
    err = float(np.abs(theirs - mine).max() / (lr * delta)) if len(centres) else 0.0
    same = err <= rtol
    why = (
        f"at {len(centres)} points of the path, (η, δ) = ({lr:g}, {delta:g}) and "
        f"({lr_b:g}, {delta_b:g}) with K = {K} move by the same vector"
        + (f" (to {err:.1e} of ηδ)" if same else f"s? no: they differ by {err:.2g} × ηδ")
    )
    return Verdict(same, {"same path": same}, why)


def check_eta_delta_prediction(
    k1_changes: bool | None = None,
    k5_changes: bool | None = None,
    *,
    loss: str | ToyLoss = "rosenbrock",
    start: Sequence[float] | None = None,
    lr: float = 0.5,
    delta: float = 0.5,
    p: float | str = 2.0,
    steps: int = 100,
) -> Verdict:
    """The η-δ prompt: does the path change when η doubles and δ halves, with K = 1 and K = 5?"""
    kw = dict(loss=loss, start=start, lr=lr, delta=delta, p=p, steps=steps)
    same1 = check_same_path(2 * lr, delta / 2, K=1, **kw).correct
    same5 = check_same_path(2 * lr, delta / 2, K=5, **kw).correct
    why = (
        "with K = 1 the move is ηδ times a unit vertex that depends only on ∇F's direction; "
        "with K > 1 δ also decides where the later gradients are taken"
        + ("" if not same5 else " (here all K vertices agree, so only ηδ matters even at K = 5)")
    )
    return _verdict(
        {"k1_changes": k1_changes, "k5_changes": k5_changes},
        {"k1_changes": not same1, "k5_changes": not same5},
        why,
    )


def check_zoom_prediction(
    z: Any, reaches: bool | None = None, steadily: bool | None = None, *, within: float = 0.01
) -> Verdict:
    """The step-zoom prompt, for a :class:`fwlab.toy.StepZoom` ``z``: does Frank-Wolfe's average
    get within ``within`` × δ of the exact step by k = K (``reaches``), and does its distance to
    it never rise on the way (``steadily``)?"""
    d = np.asarray(z.fw_distance)
    reach = bool(d[-1] <= within * z.delta)
    steady = bool(np.all(np.diff(d) <= 0))
    rises = int(np.sum(np.diff(d) > 0))
    why = (
        f"at k = {z.K} the average is {d[-1] / z.delta:.3g} δ from Δ*; its distance rose in "
        f"{rises} of {z.K - 1} iterations (a step of 1/k towards a vertex can overshoot)"
    )
    return _verdict({"reaches": reaches, "steadily": steadily},
                    {"reaches": reach, "steadily": steady}, why)  # fmt: skip


def check_lmo_prediction(jump: Sequence[float | str] | None = None) -> Verdict:
    """The LMO prompt: for which p does the vertex stay put and then jump as the gradient turns
    (a finite set of vertices over a full turn), rather than move continuously?"""
    theta = np.radians(np.arange(0.5, 360.0, 1.0))
    gs = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    counts = {p: len({tuple(v) for v in np.round(lmo_rows(gs, p, 1.0), 9)}) for p in SLIDER_PS}
    jumping = frozenset(p for p, n in counts.items() if n <= 4)
    why = "distinct vertices over 360 directions: " + ", ".join(
        f"p = {_show(p)}: {n}" for p, n in counts.items()
    )
    return _verdict({"jump": None if jump is None else list(jump)}, {"jump": jumping}, why)


def check_k_prediction(
    fastest: int | None = None,
    *,
    loss: str | ToyLoss = "rosenbrock",
    start: Sequence[float] | None = None,
    delta: float = 0.5,
    p: float | str = 2.0,
    lr: float = 0.5,
    steps: int = 100,
    Ks: Sequence[int] = (2, 3, 4),
) -> Verdict:
    """The K prompt: which K in ``Ks`` ends lowest after ``steps`` outer steps?"""
    final = {int(k): float(trajectory(loss, start, lr=lr, delta=delta, K=int(k), p=p,
                                      steps=steps).losses[-1]) for k in Ks}  # fmt: skip
    best = min(final, key=final.get)
    why = "F after the run: " + ", ".join(f"K = {k}: {v:.4g}" for k, v in final.items())
    return _verdict({"fastest": fastest}, {"fastest": best}, why)


def check_decay_prediction(
    lower: bool | None = None,
    still_bounces: bool | None = None,
    *,
    loss: str | ToyLoss = "rosenbrock",
    start: Sequence[float] | None = None,
    delta: float = 0.5,
    K: int = 5,
    lr: float = 0.5,
    steps: int = 100,
    p: float | str = "inf",
    gamma: float = 0.97,
) -> Verdict:
    """The δ-decay prompt: with δ_t = δγ^(t−1), does the run end lower than with a fixed δ,
    and does its path still bounce between two points at the end?"""
    kw = dict(lr=lr, delta=delta, K=K, p=p, steps=steps)
    fixed = trajectory(loss, start, **kw)
    decayed = trajectory(loss, start, delta_decay=gamma, **kw)
    low = bool(decayed.losses[-1] < fixed.losses[-1])
    bounce = steps >= 20 and tail_points(decayed.iterates) == 2
    why = (
        f"F(ω_T): fixed δ {fixed.losses[-1]:.4g}, decayed {decayed.losses[-1]:.4g}; the decayed "
        f"path's length is at most ηδ/(1 − γ) = {lr * delta / (1 - gamma):.3g}"
    )
    return _verdict({"lower": lower, "still_bounces": still_bounces},
                    {"lower": low, "still_bounces": bounce}, why)  # fmt: skip


def check_gap_prediction(z: Any, below: bool | None = None) -> Verdict:
    """The gap prompt, for a :class:`fwlab.toy.StepZoom` ``z``: does the gap G_k ever drop below
    F(ω + Δω_{k−1}) − F(ω + Δ*)?"""
    spec = get_loss(z.loss)
    sub = np.r_[float(spec.at(np.asarray(z.omega))), z.f_fw[:-1]] - z.f_exact
    under = z.fw_gaps < sub - 1e-9 * (1 + np.abs(sub))
    why = (
        f"the gap is below the suboptimality at {int(under.sum())} of {z.K} inner iterations"
        " (never, when F is convex on the ball)"
    )
    return _verdict({"below": below}, {"below": bool(under.any())}, why)


def check_projection_l1(
    project: Any, *, radius: float = 0.7, n: int = 400, seed: int = 0
) -> Verdict:
    """Exercise 2: does ``project(v, radius)`` return the Euclidean projection of v onto the
    ℓ1 ball of that radius? Compared with :func:`fwlab.toy.project_ball` on ``n`` random
    points outside and inside the ball, on the axes and on the diagonals (ties)."""
    rng = np.random.default_rng(seed)
    pts = np.vstack([
        rng.normal(size=(n, 2)) * 2 * radius,
        rng.uniform(-radius / 2, radius / 2, size=(n // 4, 2)),
        [[3 * radius, 0.0], [0.0, -3 * radius], [radius, radius], [-2 * radius, 2 * radius],
         [radius, 0.0], [0.0, 0.0]],
    ])  # fmt: skip
    worst, where = 0.0, None
    for v in pts:
        try:
            got = np.asarray(project(v.copy(), radius), dtype=np.float64).reshape(2)
        except Exception as e:  # a student's function: report, do not crash the lesson
            return Verdict(False, {"correct": False}, f"project({v.tolist()}) raised {e!r}")
        err = float(np.abs(got - project_ball(v, 1.0, radius)).max())
        if not err <= worst:
            worst, where = err, v
    ok = worst <= 1e-9 * (1 + radius)
    why = f"largest difference from the projection over {len(pts)} points: {worst:.2g}" + (
        "" if ok else f" at v = {np.round(where, 4).tolist()}"
    )
    return Verdict(ok, {"correct": ok}, why)


def check_exercise_3(
    delta: float,
    K: int,
    *,
    loss: str | ToyLoss = "quadratic",
    lr: float = 0.5,
    p: float | str = 2.0,
    steps: int = 100,
) -> Verdict:
    """Exercise 3: does Frank-Wolfe (η = ``lr``, ``p``, ``steps`` steps) with this δ and K end
    lower than plain gradient descent with the loss's default learning rate?"""
    delta, K = slider_value("delta", delta), slider_value("K", K)
    spec = get_loss(loss)
    gd = trajectory(spec, method="gd", lr=spec.gd_lr, steps=steps)
    fw = trajectory(spec, lr=lr, delta=delta, K=int(K), p=p, steps=steps)
    ok = bool(fw.losses[-1] < gd.losses[-1])
    why = (
        f"F after {steps} steps: Frank-Wolfe (δ = {delta:g}, K = {K}) {fw.losses[-1]:.3g}, "
        f"GD (lr {spec.gd_lr:g}) {gd.losses[-1]:.3g}"
    )
    return Verdict(ok, {"FW lower": ok}, why)
