r"""The loss landscape around a training trajectory, in the plane of its two principal directions.

A network has thousands of weights, so its trajectory :math:`\omega_0, \dots, \omega_T` is shown in
a plane chosen from the trajectory itself, as in Li et al., *Visualizing the Loss Landscape of
Neural Nets* (NeurIPS 2018, §7):

* **plane** (:func:`pca_plane`): the directions :math:`d_1, d_2` are the first two principal
  directions of the recorded iterates (eigenvectors of their covariance; like Li et al.'s code,
  which runs scikit-learn's PCA — mean-centred — on the differences to the final model). The
  plane passes through the **final iterate** :math:`\omega_T` (the ``center``), so the final point
  is the origin of the picture, and ``explained`` is the fraction of the trajectory's variance
  along each direction (their sum: how faithful the 2-D picture is).
* **projection** (:func:`project`): :math:`(a, b) = (\langle \omega - \omega_T, d_1\rangle,
  \langle \omega - \omega_T, d_2\rangle)`; distances in the plane are true distances since
  :math:`d_1, d_2` are orthonormal.
* **loss grid** (:func:`loss_grid`): :math:`L(\omega_T + a d_1 + b d_2)` on a fixed evaluation
  batch, in eval mode without gradients. Batch-norm layers use their running statistics, which
  are those of the final model (they are buffers, not parameters, so the grid does not move
  them); dropout is off.
* **trust regions** (:func:`trust_region_shadow`): for a Frank-Wolfe step from :math:`\omega` the
  inner points lie in :math:`\omega + \{\Delta: \|\Delta\|_p \le \delta\}` (one ball over all
  tensors of a group with ``scope="global"``, a product of one ball per tensor with
  ``scope="tensor"``). What is drawn is the orthogonal projection of that set onto the plane
  (its *shadow*), which contains the projections of the inner points. For p = 2 with
  ``scope="global"`` and one param group, it is exactly the disc of radius δ — equal to the
  intersection of the ball with the plane through its centre. For ``scope="tensor"`` (a product
  of ℓ2 balls, whose radius along a direction can reach δ·√(number of tensors)) or p ≠ 2 it is
  a larger convex set, computed exactly from the optimizer's own LMO: its boundary point in the
  direction :math:`u` is the projection of :math:`\operatorname{argmax}_{\Delta \in B}
  \langle\Delta, u_1 d_1 + u_2 d_2\rangle`.

:func:`landscape` puts these together from a :class:`fwlab.train.TrajectoryRecorder`, and
:func:`fwlab.plots.landscape_figure` draws the result.

Example:
    >>> import torch
    >>> from fwlab.data import load_task
    >>> from fwlab.train import TrainConfig, TrajectoryRecorder, fit, get_method, build_model
    >>> from fwlab.train.landscape import landscape
    >>> data = load_task("adding", seq_len=10, n_train=200, n_test=64)
    >>> method = get_method("fw_k5").replace(K=3, scope="global", outer="sgd")
    >>> config = TrainConfig(hidden_size=8, batch_size=20, steps=30, lr=0.5, delta=0.5)
    >>> model, rec = build_model(method, data, config), TrajectoryRecorder(inner=True)
    >>> _ = fit(method, data, config, model=model, callbacks=[rec], progress=False)
    >>> res = landscape(model, rec, data.test.tensors, torch.nn.functional.mse_loss,
    ...                 resolution=9, threads=1)
    >>> res.losses.shape, res.path.shape, res.inner.shape, res.ball_kind
    ((9, 9), (11, 2), (20, 2), 'disc')
    >>> bool(abs(res.loss_at_origin - res.losses[res.origin_index[::-1]]) < 1e-6)
    True
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fwlab.optim.lmo import as_p, lmo, lmo_global
from fwlab.train.recorder import BallSpec, ParamSlice, TrajectoryRecorder
from fwlab.util.validate import int_at_least, nonnegative_float

__all__ = [
    "Landscape",
    "Plane",
    "landscape",
    "loss_grid",
    "pca_plane",
    "project",
    "time_landscape",
    "trust_region_shadow",
]

_CHUNK = 1 << 15  # columns (parameters) per block in the Gram/projection products


@dataclass(frozen=True, eq=False)
class Plane:
    """An affine plane in parameter space: ``origin + a·directions[0] + b·directions[1]``.

    Attributes:
        origin: ``(n,)`` float64, the point at coordinates (0, 0).
        directions: ``(2, n)`` float64 with orthonormal rows.
        explained: fraction of the trajectory's variance along each direction.
    """

    origin: Tensor
    directions: Tensor
    explained: tuple[float, float]

    @property
    def explained_total(self) -> float:
        """Fraction of the trajectory's variance captured by the plane."""
        return self.explained[0] + self.explained[1]

    def point(self, a: float, b: float) -> Tensor:
        """The parameter vector at plane coordinates (a, b), float64."""
        return self.origin + a * self.directions[0] + b * self.directions[1]


def pca_plane(points: Tensor, center: Tensor | None = None) -> Plane:
    r"""The plane through ``center`` spanned by the first two principal directions of ``points``.

    With :math:`X` the ``(m, n)`` points minus their mean, the directions are the top two
    eigenvectors of the covariance :math:`X^\top X/(m-1)`, and ``explained[i]`` is
    :math:`\lambda_i / \sum_j \lambda_j`. Computed in float64 from the smaller of the two
    products, which share their nonzero eigenvalues: the ``m × m`` Gram matrix :math:`XX^\top`
    when there are fewer points than parameters (a network's path), the ``n × n`` matrix
    :math:`X^\top X` otherwise (thousands of steps of a small network: an eigen-decomposition of
    2,500 × 2,500 took 3 s here, of 400 × 400 a few ms). Signs are chosen so that the first point
    has coordinates below those of the mean (the path runs towards positive a and b).

    Args:
        points: ``(m, n)`` iterates, m ≥ 3 (any float dtype).
        center: the plane's origin, ``(n,)``; default the last point (the final iterate, as in
            Li et al.). It does not change the directions.

    Raises:
        ValueError: fewer than 3 points, or points that span fewer than 2 directions.
    """
    if points.dim() != 2:
        raise ValueError(f"points must be (m, n), got shape {tuple(points.shape)}")
    m, n = points.shape
    if m < 3:
        raise ValueError(f"a plane needs at least 3 points, got {m}; record more steps")
    mean = points.double().mean(0)
    if m <= n:
        gram = torch.zeros(m, m, dtype=torch.float64)
        for lo in range(0, n, _CHUNK):
            block = points[:, lo : lo + _CHUNK].double() - mean[lo : lo + _CHUNK]
            gram += block @ block.T
    else:
        centred = points.double() - mean
        gram = centred.T @ centred
    evals, evecs = torch.linalg.eigh(gram)  # ascending
    total = float(evals.clamp_min(0).sum())
    top = evals[-2:].flip(0).clamp_min(0)
    if total <= 0 or float(top[1]) <= 1e-12 * total:
        raise ValueError(
            "the points span fewer than 2 directions (all equal, or on one line); record more "
            "steps or a run that moves"
        )
    u = evecs[:, -2:].flip(1)  # (m, 2) or (n, 2)
    if m <= n:  # the directions X^T u / sqrt(lambda)
        dirs = torch.empty(2, n, dtype=torch.float64)
        for lo in range(0, n, _CHUNK):
            block = points[:, lo : lo + _CHUNK].double() - mean[lo : lo + _CHUNK]
            dirs[:, lo : lo + _CHUNK] = u.T @ block
        dirs /= top.sqrt()[:, None]
    else:
        dirs = u.T.contiguous()
    # one Gram-Schmidt pass removes the last rounding from the eigen-decomposition
    dirs[0] /= dirs[0].norm()
    dirs[1] -= (dirs[1] @ dirs[0]) * dirs[0]
    dirs[1] /= dirs[1].norm()
    first = points[0].double() - mean
    for i in range(2):
        if float(first @ dirs[i]) > 0:
            dirs[i] = -dirs[i]
    origin = (points[-1] if center is None else center).detach().double().reshape(-1).clone()
    if origin.numel() != n:
        raise ValueError(f"center has {origin.numel()} entries, the points {n}")
    ratios = (top / total).tolist()
    return Plane(origin, dirs, (ratios[0], ratios[1]))


def project(points: Tensor, plane: Plane) -> Tensor:
    """Plane coordinates ``(m, 2)`` (float64) of ``points`` ``(m, n)`` (or one point ``(n,)``):
    ``(points - origin) @ directions.T``, i.e. the orthogonal projection onto the plane."""
    pts = points.reshape(1, -1) if points.dim() == 1 else points
    if pts.shape[1] != plane.origin.numel():
        raise ValueError(
            f"points have {pts.shape[1]} entries, the plane {plane.origin.numel()} parameters"
        )
    out = torch.zeros(pts.shape[0], 2, dtype=torch.float64)
    for lo in range(0, pts.shape[1], _CHUNK):
        block = pts[:, lo : lo + _CHUNK].double() - plane.origin[lo : lo + _CHUNK]
        out += block @ plane.directions[:, lo : lo + _CHUNK].T
    return out


LossFn = Callable[[nn.Module], Tensor | float]


def _batch_loss(batch: Sequence[Tensor], criterion: Callable[[Tensor, Tensor], Tensor]) -> LossFn:
    x, y = batch

    def loss_fn(model: nn.Module) -> Tensor:
        return criterion(model(x), y)

    return loss_fn


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def loss_grid(
    model: nn.Module,
    plane: Plane,
    xs: Sequence[float] | np.ndarray,
    ys: Sequence[float] | np.ndarray,
    *,
    batch: Sequence[Tensor] | None = None,
    criterion: Callable[[Tensor, Tensor], Tensor] | None = None,
    loss_fn: LossFn | None = None,
    threads: int | None = None,
) -> np.ndarray:
    r"""Losses :math:`L(\text{origin} + x\,d_1 + y\,d_2)`, shape ``(len(ys), len(xs))`` (row j is
    ``ys[j]``, plotly's ``z`` convention), float64.

    Each point is written into ``model.parameters()`` (the order of the recorder's vector) by an
    in-place copy, then ``loss_fn(model)`` — or ``criterion(model(x), y)`` for ``batch=(x, y)`` —
    runs in eval mode under :func:`torch.inference_mode`. In-place copies (rather than
    ``torch.nn.utils.vector_to_parameters``, which rebinds ``.data``) keep every parameter's
    storage, so optimizer state, cuDNN's flattened RNN weights and other aliases stay valid.
    The original values and the train/eval mode are restored afterwards, also when the loss
    raises; buffers (batch-norm running statistics) are never changed.

    Args:
        model: the network; its parameters must match the plane's length.
        plane: from :func:`pca_plane`.
        xs, ys: coordinates along ``directions[0]`` and ``directions[1]``.
        batch, criterion: a fixed evaluation batch ``(x, y)`` and a loss ``criterion(out, y)``;
            or ``loss_fn(model) -> loss`` instead of both.
        threads: torch intra-op threads while evaluating (restored afterwards); ``None`` keeps
            the current setting.
    """
    if (loss_fn is None) == (batch is None or criterion is None):
        raise ValueError("give either loss_fn, or batch and criterion (not both, not neither)")
    if loss_fn is None:
        loss_fn = _batch_loss(batch, criterion)  # type: ignore[arg-type]
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    if n != plane.origin.numel():
        raise ValueError(
            f"the model has {n} parameters, the plane {plane.origin.numel()}: use the model the "
            "trajectory was recorded from"
        )
    xs_ = np.asarray(xs, dtype=np.float64).reshape(-1)
    ys_ = np.asarray(ys, dtype=np.float64).reshape(-1)
    out = np.empty((ys_.size, xs_.size))
    saved = [p.detach().clone() for p in params]
    numels = [p.numel() for p in params]
    was_training = model.training
    try:
        model.eval()
        with _threads(threads):
            for j, b in enumerate(ys_):
                for i, a in enumerate(xs_):
                    point = plane.point(float(a), float(b))
                    with torch.no_grad():
                        for prm, piece in zip(params, point.split(numels), strict=True):
                            prm.copy_(piece.view_as(prm))
                    with torch.inference_mode():
                        out[j, i] = float(loss_fn(model))
    finally:
        with torch.no_grad():
            for prm, value in zip(params, saved, strict=True):
                prm.copy_(value)
        model.train(was_training)
    return out


def trust_region_shadow(
    plane: Plane, layout: Sequence[ParamSlice], ball: BallSpec, *, n: int = 64
) -> np.ndarray:
    r"""Boundary ``(n + 1, 2)`` (closed) of the projection onto the plane of the trust region
    :math:`\{\Delta: \|\Delta_B\|_{p_g} \le \delta_g \text{ for every ball } B\}`, relative to its
    centre, in plane coordinates.

    The balls are one per param group (``scope="global"``) or one per tensor (``"tensor"``);
    parameters outside every group (``group = -1``) do not move. The boundary point in the
    direction :math:`u = (\cos\theta, \sin\theta)` is :math:`P\Delta^*` with
    :math:`\Delta^* = \operatorname{argmax}_{\Delta} \langle \Delta, P^\top u\rangle` given by
    :func:`fwlab.optim.lmo` of :math:`-P^\top u` per ball (exact support points; between them the
    polygon is an inner approximation for curved boundaries). For p = 2, ``scope="global"`` and
    one group covering all parameters, it is the circle of radius δ.
    """
    d = plane.directions
    theta = np.linspace(0.0, 2.0 * np.pi, n + 1)
    out = np.empty((n + 1, 2))
    for t, th in enumerate(theta[:-1]):
        v = math.cos(th) * d[0] + math.sin(th) * d[1]
        delta_vec = torch.zeros_like(v)
        for g, (radius, p, scope) in enumerate(zip(ball.deltas, ball.ps, ball.scopes, strict=True)):
            slices = [s for s in layout if s.group == g]
            pieces = [-v[s.offset : s.offset + s.numel] for s in slices]
            if not pieces:
                continue
            if scope == "global":
                steps = lmo_global(pieces, as_p(p), radius)
            else:
                steps = [lmo(piece, as_p(p), radius) for piece in pieces]
            for s, step in zip(slices, steps, strict=True):
                delta_vec[s.offset : s.offset + s.numel] = step
        out[t] = (d @ delta_vec).numpy()
    out[-1] = out[0]
    return out


@dataclass(frozen=True, eq=False)
class Landscape:
    """The loss around a trajectory, in its PCA plane (all arrays numpy float64).

    Attributes:
        plane: the :class:`Plane` (origin = final iterate).
        xs, ys: grid coordinates ``(nx,)``, ``(ny,)``; ``losses``: ``(ny, nx)``.
        origin_index: ``(i, j)`` with ``xs[i] == ys[j] == 0``: the grid node at the final
            iterate (the grid is aligned so that it has one).
        loss_at_origin: the loss at the final iterate (``== losses[j, i]``).
        path: ``(m, 2)`` projected iterates; ``path_steps``, ``path_outer``: their batch
            counters and outer indices.
        inner: ``(q, 2)`` projected inner points; ``inner_outer``, ``inner_k``.
        ball_centers: ``(b, 2)`` projected iterates that start a drawn step; ``ball_radii``:
            ``(b,)`` δ (of param group 0); ``ball_xy``: ``(b, n + 1, 2)`` closed boundaries of
            the trust regions' shadows (see :func:`trust_region_shadow`).
        ball_kind: ``"disc"`` (p = 2, global scope, one group: the exact δ-disc), ``"shadow"``
            (any other trust region) or ``""`` (no Frank-Wolfe balls recorded).
        p, scope: of group 0 for the first ball (``None`` without balls).
        grid_seconds: wall time of the loss grid.
    """

    plane: Plane
    xs: np.ndarray
    ys: np.ndarray
    losses: np.ndarray
    origin_index: tuple[int, int]
    loss_at_origin: float
    path: np.ndarray
    path_steps: np.ndarray
    path_outer: np.ndarray
    inner: np.ndarray
    inner_outer: np.ndarray
    inner_k: np.ndarray
    ball_centers: np.ndarray
    ball_radii: np.ndarray
    ball_xy: np.ndarray
    ball_kind: str
    p: float | None
    scope: str | None
    grid_seconds: float

    @property
    def explained(self) -> tuple[float, float]:
        return self.plane.explained


def _axis(lo: float, hi: float, resolution: int, margin: float) -> tuple[np.ndarray, int]:
    """``resolution`` evenly spaced values covering [lo, hi] widened by ``margin``·span, shifted
    by less than half a cell so that one of them is exactly 0; and the index of that 0."""
    span = hi - lo
    lo, hi = lo - margin * span, hi + margin * span
    h = (hi - lo) / (resolution - 1)
    i0 = min(max(round(-lo / h), 0), resolution - 1)
    return h * (np.arange(resolution) - i0), int(i0)


def landscape(
    model: nn.Module,
    recorder: TrajectoryRecorder,
    batch: Sequence[Tensor] | None = None,
    criterion: Callable[[Tensor, Tensor], Tensor] | None = None,
    *,
    loss_fn: LossFn | None = None,
    resolution: int | tuple[int, int] = 25,
    margin: float = 0.25,
    max_balls: int = 40,
    ball_points: int = 64,
    threads: int | None = None,
) -> Landscape:
    """PCA plane of ``recorder``'s trajectory, loss grid over it, projected path, inner points
    and trust regions (see the module docstring).

    Args:
        model: the recorded model (its parameters are restored after the grid).
        recorder: a :class:`fwlab.train.TrajectoryRecorder` that ran through ``fit``.
        batch, criterion, loss_fn: the fixed evaluation batch and loss, as in :func:`loss_grid`.
        resolution: grid points per axis (or ``(nx, ny)``), at least 2.
        margin: the grid covers the path and inner points widened by this fraction of the
            larger extent on every side; an axis is at least a quarter of the other's span,
            so a nearly 1-D path still gets a 2-D picture.
        max_balls: draw the trust regions of at most this many steps (evenly spaced).
        ball_points: points on each trust-region boundary.
        threads: torch intra-op threads for the whole computation (restored afterwards);
            ``None`` keeps the current setting. On a machine shared with other jobs, 1 thread
            can be several times faster than 2 (see :func:`time_landscape`).
    """
    pair = (resolution, resolution) if isinstance(resolution, int) else resolution
    nx, ny = (int_at_least("resolution", n, 2) for n in pair)  # per axis
    margin = nonnegative_float("margin", margin)
    with _threads(threads):
        pts = recorder.points
        plane = pca_plane(pts)
        path = project(pts, plane).numpy()
        inner_pts = recorder.inner_points
        inner = project(inner_pts, plane).numpy() if len(inner_pts) else np.empty((0, 2))
        every = np.concatenate([path, inner])
        lo, hi = every.min(0), every.max(0)
        span = hi - lo
        widest = float(span.max())
        if widest <= 0:
            raise ValueError("the trajectory does not move in its plane")
        short = span < widest / 4  # a nearly 1-D picture: widen the short axis around its middle
        mid = (lo + hi) / 2
        lo = np.where(short, mid - widest / 8, lo)
        hi = np.where(short, mid + widest / 8, hi)
        xs, i0 = _axis(float(lo[0]), float(hi[0]), nx, margin)
        ys, j0 = _axis(float(lo[1]), float(hi[1]), ny, margin)
        t0 = time.perf_counter()
        losses = loss_grid(model, plane, xs, ys, batch=batch, criterion=criterion, loss_fn=loss_fn)
        seconds = time.perf_counter() - t0

        outer = recorder.outer_steps
        with_ball = [i for i, o in enumerate(outer) if o in recorder.balls]
        if len(with_ball) > max_balls:
            pick = np.unique(np.linspace(0, len(with_ball) - 1, max_balls).round().astype(int))
            with_ball = [with_ball[i] for i in pick]
        shapes: dict[BallSpec, np.ndarray] = {}
        xy = []
        for i in with_ball:
            spec = recorder.balls[outer[i]]
            if spec not in shapes:
                shapes[spec] = trust_region_shadow(plane, recorder.layout, spec, n=ball_points)
            xy.append(path[i] + shapes[spec])
        specs = [recorder.balls[outer[i]] for i in with_ball]
        kind = ""
        if specs:
            one_group = len(specs[0].deltas) == 1 and all(s.group == 0 for s in recorder.layout)
            discs = all(s.ps == (2.0,) and s.scopes == ("global",) for s in specs)
            kind = "disc" if one_group and discs else "shadow"
        return Landscape(
            plane=plane,
            xs=xs,
            ys=ys,
            losses=losses,
            origin_index=(i0, j0),
            loss_at_origin=float(losses[j0, i0]),
            path=path,
            path_steps=np.asarray(recorder.steps),
            path_outer=np.asarray(outer),
            inner=inner,
            inner_outer=np.asarray(recorder.inner_outer, dtype=np.int64),
            inner_k=np.asarray(recorder.inner_k, dtype=np.int64),
            ball_centers=path[with_ball] if with_ball else np.empty((0, 2)),
            ball_radii=np.asarray([s.deltas[0] for s in specs], dtype=np.float64),
            ball_xy=np.stack(xy) if xy else np.empty((0, ball_points + 1, 2)),
            ball_kind=kind,
            p=specs[0].ps[0] if specs else None,
            scope=specs[0].scopes[0] if specs else None,
            grid_seconds=seconds,
        )


def time_landscape(
    *,
    hidden_size: int = 128,
    samples: int = 512,
    seq_len: int = 100,
    resolution: int = 25,
    train_steps: int = 24,
    threads: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Benchmark :func:`landscape` for a vanilla RNN on the adding task (``fwlab bench``).

    Trains ``train_steps`` batches of Frank-Wolfe (K = 3, p = 2, global scope, recording inner
    points), then times the landscape on ``samples`` test sequences of length ``seq_len``.
    Returns plain numbers: ``seconds`` (the whole :func:`landscape` call), ``grid_seconds``,
    ``per_eval_ms`` (one forward + loss), ``evaluations``, ``n_params``, ``points``, ``threads``
    and the settings.

    Measured on the 2-core development machine while other jobs kept it busy (load average
    6-8): hidden 128 (17,025 parameters), 512 sequences of length 100, 25 × 25 grid:
    ``threads=1`` 46-51 s (74-81 ms per evaluation); ``threads=2`` 246 s, since two OpenMP
    threads on two contended cores wait on each other. Pass ``threads=1`` on a shared machine.
    """
    from fwlab.data import load_task
    from fwlab.train import TrainConfig, build_model, fit, get_method

    data = load_task("adding", seq_len=seq_len, n_train=20 * train_steps, n_test=samples, seed=seed)
    method = get_method("fw_k5").replace(K=3, scope="global", outer="sgd")
    config = TrainConfig(
        hidden_size=hidden_size, batch_size=20, steps=train_steps, lr=0.5, delta=0.5, seed=seed
    )
    model = build_model(method, data, config)
    recorder = TrajectoryRecorder(inner=True)
    fit(method, data, config, model=model, callbacks=[recorder], progress=False)
    t0 = time.perf_counter()
    result = landscape(
        model,
        recorder,
        data.test.tensors,
        nn.functional.mse_loss,
        resolution=resolution,
        threads=threads,
    )
    total = time.perf_counter() - t0
    evaluations = resolution * resolution
    return {
        "seconds": total,
        "grid_seconds": result.grid_seconds,
        "per_eval_ms": 1000.0 * result.grid_seconds / evaluations,
        "evaluations": evaluations,
        "n_params": recorder.n_params,
        "points": len(recorder.outer_steps) + len(recorder.inner_k),
        "threads": threads if threads is not None else torch.get_num_threads(),
        "hidden_size": hidden_size,
        "samples": samples,
        "seq_len": seq_len,
        "resolution": resolution,
        "explained_total": result.plane.explained_total,
    }
