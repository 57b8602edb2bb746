r"""``TrajectoryRecorder``: a :func:`fwlab.train.fit` callback that keeps the parameter trajectory.

It stores the flattened parameters :math:`\omega_t` (all ``model.parameters()`` in order,
concatenated, on the CPU in ``dtype``) at the start (``on_train_begin``), at every ``every``-th
outer step boundary and at the end, and with ``inner=True`` the inner points
:math:`\omega_{t-1} + \Delta\omega_{t,k}` the Frank-Wolfe optimizer's streaming mode holds between
its calls. For each stored iterate it also keeps what is needed to draw the trust region of the
step that *starts* there: :math:`\delta_t`, p and scope of every parameter group.

Which points are "outer steps". With :class:`fwlab.optim.FrankWolfe` in streaming mode (the way
:func:`fit` drives it) an outer step ends after the K-th ``optimizer.step()``, i.e. when
``run.inner_step == 0`` after a batch; with any other optimizer every batch is an outer step.
The inner points recorded are :math:`k = 1..K-1`: the points where the next gradient is evaluated.
The point :math:`\omega + \Delta\omega_K` is never held by the parameters (the optimizer applies
the outer update in the same call), so a callback cannot see it.

Bounded memory — thinning. ``max_bytes`` bounds the bytes of the stored vectors
(``points × n_params × itemsize``, inner points included); it is a hard limit, never exceeded.
When the next point would not fit, the recorder doubles ``every`` and drops the iterates whose
outer index is no longer a multiple of it (and the inner points of the steps that start there),
so the kept trajectory stays evenly spaced: outer indices ``0, every, 2·every, ...`` plus the final
point. If thinning the iterates cannot make room for an inner point, that inner point is skipped;
an iterate always finds room (the limit must hold at least 2 points, the start and the end). The
per-point metadata (a few numbers each) is not counted.

Example:
    >>> from fwlab.data import load_task
    >>> from fwlab.train import TrainConfig, TrajectoryRecorder, fit, get_method
    >>> data = load_task("adding", seq_len=10, n_train=200, n_test=50)
    >>> rec = TrajectoryRecorder(every=2, inner=True)
    >>> _ = fit(get_method("fw_k5").replace(K=3), data,
    ...         TrainConfig(hidden_size=8, batch_size=20, steps=12), callbacks=[rec],
    ...         progress=False)
    >>> rec.outer_steps, rec.points.shape        # 12 batches = 4 outer steps of K = 3
    ([0, 2, 4], torch.Size([3, 105]))
    >>> rec.inner_outer, rec.inner_k             # inner points of the steps from ω_0 and ω_2
    ([0, 0, 2, 2], [1, 2, 1, 2])
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from fwlab.optim.frank_wolfe import effective_delta
from fwlab.train.callbacks import Callback
from fwlab.train.outer_steps import at_iterate, takes_outer_steps
from fwlab.util.validate import positive_int

__all__ = ["BallSpec", "ParamSlice", "TrajectoryRecorder"]

DEFAULT_MAX_BYTES = 64 * 2**20


@dataclass(frozen=True)
class ParamSlice:
    """Where one parameter tensor sits in the flat vector: ``vector[offset:offset + numel]``.

    ``group`` is the index of its optimizer param group (-1: not optimized, so it is in no
    trust region).
    """

    name: str
    shape: tuple[int, ...]
    offset: int
    numel: int
    group: int


@dataclass(frozen=True)
class BallSpec:
    """The trust region of one Frank-Wolfe outer step, per param group: radius δ_t, p, scope."""

    deltas: tuple[float, ...]
    ps: tuple[float, ...]
    scopes: tuple[str, ...]


class TrajectoryRecorder(Callback):
    """Record the flattened parameters along a :func:`fwlab.train.fit` run (see the module doc).

    Args:
        every: keep every this many outer steps (doubles when thinning).
        inner: also keep the inner points ω + Δω_k of the kept outer steps (Frank-Wolfe, K > 1).
        max_bytes: hard limit on the bytes of the stored vectors.
        dtype: storage dtype (float32 halves the memory of float64 and keeps ~7 digits).

    Attributes (read after or during the run):
        points: ``(m, n)`` tensor of the kept iterates, in order; ``outer_steps`` their outer
        indices (0 = start), ``steps`` the batch counters ``run.step``; ``inner_points``
        ``(q, n)``, ``inner_outer`` the outer index of the iterate each started from,
        ``inner_k`` its k; ``balls`` maps an outer index to the :class:`BallSpec` of the step
        that started there; ``layout`` the :class:`ParamSlice` of every parameter;
        ``nbytes``; ``every`` (current, after thinning); ``thinned`` (how many times).
    """

    def __init__(
        self,
        every: int = 1,
        *,
        inner: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        every, max_bytes = positive_int("every", every), positive_int("max_bytes", max_bytes)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating torch dtype, got {dtype!r}")
        self.every_initial = every
        self.inner = bool(inner)
        self.max_bytes = max_bytes
        self.dtype = dtype
        self._reset()

    def _reset(self) -> None:
        self.every = self.every_initial
        self.thinned = 0
        self.layout: list[ParamSlice] = []
        self._vecs: list[Tensor] = []
        self.outer_steps: list[int] = []
        self.steps: list[int] = []
        self._inner_vecs: list[Tensor] = []
        self.inner_outer: list[int] = []
        self.inner_k: list[int] = []
        self.balls: dict[int, BallSpec] = {}
        self._outer = 0
        self._capacity = 0

    # ------------------------------------------------------------------ read-out
    @property
    def n_params(self) -> int:
        return sum(s.numel for s in self.layout)

    @property
    def bytes_per_point(self) -> int:
        return self.n_params * torch.empty((), dtype=self.dtype).element_size()

    @property
    def nbytes(self) -> int:
        return (len(self._vecs) + len(self._inner_vecs)) * self.bytes_per_point

    @property
    def points(self) -> Tensor:
        return self._stack(self._vecs)

    @property
    def inner_points(self) -> Tensor:
        return self._stack(self._inner_vecs)

    def _stack(self, vecs: list[Tensor]) -> Tensor:
        return torch.stack(vecs) if vecs else torch.empty(0, self.n_params, dtype=self.dtype)

    # ------------------------------------------------------------------ checkpoint state
    def state_dict(self) -> dict[str, Any]:
        """The path recorded so far, as plain data for :func:`fwlab.train.fit`'s checkpoint
        (the stored vectors add up to ``max_bytes`` to ``checkpoint.pt``): a recorder passed to
        ``fit(..., resume=True)``, in this process or a new one, continues the path as the
        recorder of the first process would."""
        return {
            "every": self.every,
            "thinned": self.thinned,
            "outer": self._outer,
            "layout": [dataclasses.asdict(s) for s in self.layout],
            "points": self.points,
            "outer_steps": list(self.outer_steps),
            "steps": list(self.steps),
            "inner_points": self.inner_points,
            "inner_outer": list(self.inner_outer),
            "inner_k": list(self.inner_k),
            "balls": {o: dataclasses.asdict(b) for o, b in self.balls.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` gave (in this recorder's ``dtype``)."""
        self._reset()
        self.every, self.thinned, self._outer = state["every"], state["thinned"], state["outer"]
        self.layout = [ParamSlice(**{**s, "shape": tuple(s["shape"])}) for s in state["layout"]]
        self._vecs = list(state["points"].to(self.dtype).unbind(0))
        self.outer_steps, self.steps = list(state["outer_steps"]), list(state["steps"])
        self._inner_vecs = list(state["inner_points"].to(self.dtype).unbind(0))
        self.inner_outer, self.inner_k = list(state["inner_outer"]), list(state["inner_k"])
        self.balls = {
            int(o): BallSpec(**{k: tuple(v) for k, v in b.items()})
            for o, b in state["balls"].items()
        }
        self._capacity = self.max_bytes // max(self.bytes_per_point, 1)
        if len(self._vecs) + len(self._inner_vecs) > self._capacity:
            raise ValueError(
                f"the checkpoint's trajectory holds {len(self._vecs) + len(self._inner_vecs)} "
                f"points, more than max_bytes={self.max_bytes} holds ({self._capacity}); resume "
                "with the max_bytes of the run that wrote it"
            )

    # ------------------------------------------------------------------ callback
    def on_train_begin(self, run: Any) -> None:
        model, optimizer, step = run.model, run.optimizer, run.step
        layout = _layout(model, optimizer)
        outer = _outer_steps_done(run)
        if step > 0 and self._vecs and layout == self.layout and self.steps[0] <= step:
            # the same run resumed (e.g. fit(..., resume=True) after a stop): keep the path
            # up to where it resumes; anything recorded past that point is redone
            self._truncate(step, outer)
            if self.steps[-1] == step:
                return  # its iterate is the last point already recorded
        else:
            self._reset()
            self.layout = layout
            self._outer = outer  # a fresh recorder on a resumed run counts from the run's t
            self._capacity = self.max_bytes // max(self.bytes_per_point, 1)
            if self._capacity < 2:
                raise ValueError(
                    f"max_bytes={self.max_bytes} holds {self._capacity} points of "
                    f"{self.n_params} parameters ({self.bytes_per_point} bytes each); it must "
                    f"hold at least 2 (the start and the end): use max_bytes >= "
                    f"{2 * self.bytes_per_point}"
                )
        self._make_room(allow_drop_inner=True)
        with at_iterate(optimizer):
            self._append(_flat(model, self.dtype), step)

    def _truncate(self, step: int, outer: int) -> None:
        """Forget what was recorded after batch ``step`` (outer step ``outer``)."""
        self._keep(lambda o, s: s <= step, lambda o: o < outer)
        self.balls = {o: b for o, b in self.balls.items() if o < outer}
        self._outer = outer

    def _keep(self, iterate: Callable[[int, int], bool], inner: Callable[[int], bool]) -> None:
        """Keep the iterates whose ``(outer index, step)`` pass ``iterate`` and the inner points
        whose outer index passes ``inner``."""
        keep = [i for i, o_s in enumerate(zip(self.outer_steps, self.steps)) if iterate(*o_s)]
        self._vecs = [self._vecs[i] for i in keep]
        self.outer_steps = [self.outer_steps[i] for i in keep]
        self.steps = [self.steps[i] for i in keep]
        keep = [i for i, o in enumerate(self.inner_outer) if inner(o)]
        self._inner_vecs = [self._inner_vecs[i] for i in keep]
        self.inner_outer = [self.inner_outer[i] for i in keep]
        self.inner_k = [self.inner_k[i] for i in keep]

    def on_step_end(self, run: Any) -> None:
        opt = run.optimizer
        k = run.inner_step
        if k == 0:  # an outer step just ended: the parameters hold the new iterate
            self._set_ball(self._outer, opt, from_stats=True)
            self._outer += 1
            if self._outer % self.every == 0 and self._make_room(allow_drop_inner=True):
                if self._outer % self.every == 0:
                    self._append(_flat(run.model, self.dtype), run.step)
        elif self.inner:
            self._set_ball(self._outer, opt, from_stats=False)
            if self._kept(self._outer) and self._make_room(allow_drop_inner=False):
                if self._kept(self._outer):
                    self._inner_vecs.append(_flat(run.model, self.dtype))
                    self.inner_outer.append(self._outer)
                    self.inner_k.append(k)

    def on_train_end(self, run: Any) -> None:
        if self.outer_steps and self.outer_steps[-1] == self._outer:
            return
        self._make_room(allow_drop_inner=True)
        with at_iterate(run.optimizer):
            self._append(_flat(run.model, self.dtype), run.step)

    # ------------------------------------------------------------------ storage
    def _append(self, vec: Tensor, step: int) -> None:
        if len(self._vecs) + len(self._inner_vecs) + 1 > self._capacity:
            raise AssertionError("TrajectoryRecorder: no room made before appending")  # a bug
        self._vecs.append(vec)
        self.outer_steps.append(self._outer)
        self.steps.append(step)

    def _kept(self, outer: int) -> bool:
        return bool(self.outer_steps) and self.outer_steps[-1] == outer

    def _make_room(self, *, allow_drop_inner: bool) -> bool:
        """Thin until one more point fits; False if it cannot (only for inner points)."""
        while len(self._vecs) + len(self._inner_vecs) + 1 > self._capacity:
            if self.every <= max(self.outer_steps, default=0):
                self._thin()
            elif allow_drop_inner and self._inner_vecs:
                warnings.warn(
                    f"TrajectoryRecorder: max_bytes={self.max_bytes} is too small to keep the "
                    "inner points of even one step; they are dropped",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self._inner_vecs, self.inner_outer, self.inner_k = [], [], []
            else:
                return False
        return True

    def _thin(self) -> None:
        self.every *= 2
        self.thinned += 1
        self._keep(lambda o, s: o % self.every == 0, lambda o: o % self.every == 0)
        kept = set(self.outer_steps)
        self.balls = {o: b for o, b in self.balls.items() if o in kept}

    def _set_ball(self, outer: int, opt: torch.optim.Optimizer, *, from_stats: bool) -> None:
        """The trust region of the step starting at iterate ``outer`` (if that one is kept).

        The optimizer's stats after the outer step give the δ it used (authoritative); during
        the step the group's current effective δ is used."""
        if not takes_outer_steps(opt) or not self._kept(outer):
            return
        if not from_stats and outer in self.balls:
            return
        groups = opt.param_groups
        if from_stats and all(st for st in opt.stats):
            deltas = tuple(float(st["delta"]) for st in opt.stats)
            ps = tuple(float(st["p"]) for st in opt.stats)
        else:
            deltas = tuple(effective_delta(g) for g in groups)
            ps = tuple(_as_float_p(g["p"]) for g in groups)
        self.balls[outer] = BallSpec(deltas, ps, tuple(str(g["scope"]) for g in groups))


def _layout(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[ParamSlice]:
    group_of = {
        id(prm): i for i, group in enumerate(optimizer.param_groups) for prm in group["params"]
    }
    layout, offset = [], 0
    for name, prm in model.named_parameters():
        n = prm.numel()
        layout.append(ParamSlice(name, tuple(prm.shape), offset, n, group_of.get(id(prm), -1)))
        offset += n
    return layout


def _outer_steps_done(run: Any) -> int:
    """Outer steps the run has completed: one per Frank-Wolfe diagnostics entry of the
    history, or one per batch for an optimizer without inner steps."""
    if takes_outer_steps(run.optimizer):
        return len(run.history["optimizer"]["step"])
    return int(run.step)


def _as_float_p(p: float | str) -> float:
    return math.inf if p in ("inf", math.inf) else float(p)


def _flat(model: nn.Module, dtype: torch.dtype) -> Tensor:
    with torch.no_grad():
        return torch.cat([p.detach().reshape(-1).to("cpu", dtype) for p in model.parameters()])
