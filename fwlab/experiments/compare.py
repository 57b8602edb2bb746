r"""``compare``: train a set of methods on one task side by side, the notebooks' one call.

:func:`compare` trains every method on the same data with the same config (so the same seed:
same initialisation scheme, same batches), on a dashboard when one is given (any object with
``start``/``fit``/``wait`` such as ``widgets.TrainingDashboard``; fwlab never imports widgets),
records the trajectory of the first Frank-Wolfe run (:class:`fwlab.train.TrajectoryRecorder`:
weights at every outer step and the inner points), draws its loss landscape
(:func:`fwlab.train.landscape.landscape`) and records the summary metrics for ``fwlab sweep``
(:func:`fwlab.runs.record`). :func:`run_problems` lists what is wrong with the runs (steps,
finite losses, one outer step every K batches, ‖Δω‖ inside the trust region, a non-negative FW
gap, angles in [0°, 180°]), so a notebook asserts ``not run_problems(result)``.

Several seeds at once: pass ``data`` as ``{seed: data of that seed}``; every method then trains
on every seed (``config`` with that seed), each run named :func:`seed_run_name`
(``"Frank-Wolfe K=1 · seed 20"``), all of them in background threads on a dashboard (at most
max(number of methods, CPUs) of them begun at a time, computing in turns, one per idle CPU at a
time, re-measured every second: :class:`fwlab.util.turns.Turns`,
:class:`fwlab.util.turns.IdleCpus`), and
:meth:`ComparisonResult.by_seed` gathers the histories per method and seed (what a band across
seeds draws, :func:`fwlab.plots.seed_bands_figure`).

Example:
    >>> from fwlab.data import load_task
    >>> from fwlab.train import TrainConfig, get_method
    >>> data = load_task("adding", seq_len=8, n_train=100, n_test=40)
    >>> result = compare([get_method("sgd"), get_method("fw_k1", K=2)], data,
    ...                  TrainConfig(hidden_size=4, batch_size=20, steps=6), landscape_resolution=3)
    >>> list(result.histories), result.landscape.losses.shape, run_problems(result)
    (['BPTT+Adam', 'Frank-Wolfe K=2'], (3, 3), [])
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from fwlab.data.sequence_data import SequenceData
from fwlab.train.loop import TrainConfig, build_model, criterion, fit, loss_kind
from fwlab.train.methods import Method
from fwlab.train.recorder import TrajectoryRecorder
from fwlab.util.turns import IdleCpus, Turns

__all__ = ["ComparisonResult", "compare", "run_problems", "seed_run_name", "SUMMARY_KEYS"]

#: the summary values recorded per method, by task kind
SUMMARY_KEYS = {
    "regression": ("final_test_loss", "best_test_loss", "steps", "wall_time"),
    "classification": ("final_test_acc", "best_test_acc", "steps", "wall_time"),
}


def seed_run_name(method: Method, seed: int) -> str:
    """The name of ``method``'s run on ``seed`` when :func:`compare` trains several seeds.

    Example:
        >>> from fwlab.train import get_method
        >>> seed_run_name(get_method("fw_k1"), 20)
        'Frank-Wolfe K=1 · seed 20'
    """
    from fwlab.plots import run_title

    return f"{run_title(method)} · seed {seed}"


@dataclass
class ComparisonResult:
    """What :func:`compare` returns.

    Attributes:
        methods, data, config: what was trained (``data``: one task, or seed → task).
        histories: run name (:func:`fwlab.plots.run_title`; with several seeds
            :func:`seed_run_name`) → history, in the order of methods (seed by seed).
        seeds: the seeds trained (``None``: one task, ``config.seed``).
        recorder, fw_model: the first Frank-Wolfe run's trajectory and model (``None`` without).
        landscape: its :class:`fwlab.train.landscape.Landscape` (``None`` when not drawn).
        eval_batch: the fixed test batch the landscape's loss was evaluated on.
        metrics: the values given to :func:`fwlab.runs.record` (``"<method>/<key>"``).
    """

    methods: list[Method]
    data: SequenceData | Mapping[int, SequenceData]
    config: TrainConfig
    histories: dict[str, dict[str, Any]]
    seeds: list[int] | None = None
    recorder: TrajectoryRecorder | None = None
    fw_model: nn.Module | None = None
    landscape: Any = None
    eval_batch: tuple[Any, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    _pending: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def runs(self) -> list[tuple[str, Method, int | None]]:
        """``(run name, method, seed)`` of every run, in the order they were started."""
        if self.seeds is None:
            from fwlab.plots import run_title

            return [(run_title(m), m, None) for m in self.methods]
        return [(seed_run_name(m, s), m, s) for s in self.seeds for m in self.methods]

    @property
    def first_data(self) -> SequenceData:
        """The task (of the first seed): the landscape's test batch comes from it."""
        if isinstance(self.data, SequenceData):
            return self.data
        return self.data[self.seeds[0]]

    def by_seed(self) -> dict[str, dict[int, dict[str, Any]]]:
        """Preset name (``"fw_k1"``) → seed → history of every run that has a history."""
        out: dict[str, dict[int, dict[str, Any]]] = {}
        for name, method, seed in self.runs:
            if name in self.histories:
                seed = self.config.seed if seed is None else seed
                out.setdefault(method.name, {})[seed] = self.histories[name]
        return out

    @property
    def fw_method(self) -> Method | None:
        """The Frank-Wolfe method whose trajectory was recorded."""
        return next((m for m in self.methods if m.optimizer == "fw"), None)

    @property
    def finished(self) -> bool:
        """Whether :meth:`finish` has run (histories, landscape and metrics are final)."""
        return not self._pending

    def finish(self) -> ComparisonResult:
        """Wait for background runs, then draw the landscape and record the metrics (once).

        :func:`compare` calls it, except for background runs on a dashboard: there it returns at
        once so the dashboard's controls work, and the notebook calls ``result.finish()`` in a
        later cell (it blocks until every run has finished, like ``dashboard.wait()``; the
        notebooks first ``await dash.wait_async()``, so the controls act under "Run All" too).
        """
        if not self._pending:
            return self
        p, self._pending = self._pending, {}
        if p["dashboard"] is not None:
            waited = p["dashboard"].wait()
            self.histories = {name: waited[name] for name in p["names"]}
        if self.fw_model is not None:
            from fwlab.train.landscape import landscape

            x, y = (t[: p["landscape_samples"]] for t in self.first_data.test.tensors)
            self.eval_batch = (x, y)
            self.landscape = landscape(
                self.fw_model,
                self.recorder,
                (x, y),
                functools.partial(criterion, loss_kind(self.config, self.first_data)),
                resolution=p["landscape_resolution"],
                threads=1,
            )
        if p["record_metrics"]:
            from fwlab.runs import record

            keys = SUMMARY_KEYS[self.first_data.task]
            values = {}
            for method, by_seed in self.by_seed().items():
                for key in keys:
                    got = [h["summary"].get(key) for h in by_seed.values()]
                    if self.seeds is None:
                        values[f"{method}/{key}"] = got[0]
                        continue
                    for seed, h in by_seed.items():
                        values[f"{method}/seed{seed}/{key}"] = h["summary"].get(key)
                    finite = [v for v in got if v is not None]
                    # over the seeds: their mean (the per-seed values are beside it)
                    values[f"{method}/{key}"] = sum(finite) / len(finite) if finite else None
            self.metrics = record(values)
        return self


def compare(
    methods: Sequence[Method],
    data: SequenceData | Mapping[int, SequenceData],
    config: TrainConfig,
    *,
    dashboard: Any = None,
    background: bool = False,
    trajectory: bool = True,
    landscape_resolution: int = 15,
    landscape_samples: int = 256,
    record_metrics: bool = True,
) -> ComparisonResult:
    """Train ``methods`` on ``data`` with ``config`` and gather histories, landscape, metrics.

    Args:
        methods: :class:`fwlab.train.Method` instances (distinct run names).
        data, config: the task and the shared training config; or ``{seed: task}`` to train
            every method on every seed (``config`` with that seed; the module docstring).
        dashboard: an object with ``start(method, data, config, **kw)``, ``fit(...)`` and
            ``wait() -> histories`` (``widgets.TrainingDashboard``); ``None`` trains here.
        background: with a dashboard, train in background threads (``dashboard.start``) and
            return at once, so its controls work; call ``result.finish()`` later. At most
            max(number of methods, CPUs) runs have begun at a time (the others wait for a free
            slot on the dashboard), and they compute in turns, one thread per CPU that other
            processes leave idle at a time (:class:`fwlab.util.turns.IdleCpus`, re-measured
            every second, at least one).
        trajectory: record the first Frank-Wolfe run's trajectory and draw its landscape
            (``landscape_resolution`` points per axis, loss on ``landscape_samples`` test
            samples, with the training loss of the task).
        record_metrics: pass :data:`SUMMARY_KEYS` of every run to :func:`fwlab.runs.record`.

    Raises:
        ValueError: no methods, two methods with the same run name, no seed in ``data``, or a
            dashboard without the methods named above.
    """
    from fwlab.plots import run_title

    methods = list(methods)
    if not methods or not all(isinstance(m, Method) for m in methods):
        raise ValueError(f"methods must be a non-empty list of Method, got {methods!r}")
    names = [run_title(m) for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"methods must have distinct run names, got {names}")
    if dashboard is not None:
        missing = [a for a in ("start", "fit", "wait") if not callable(getattr(dashboard, a, None))]
        if missing:
            raise ValueError(
                f"dashboard must have start/fit/wait (a widgets.TrainingDashboard), "
                f"{type(dashboard).__name__} lacks {missing}"
            )
    seeds = None
    if not isinstance(data, SequenceData):
        seeds = list(data) if isinstance(data, Mapping) else []
        if not seeds or not all(isinstance(d, SequenceData) for d in data.values()):
            raise ValueError(
                "data must be a task (SequenceData) or a non-empty {seed: task}, got "
                f"{type(data).__name__} {list(data) if isinstance(data, Mapping) else ''}"
            )
    recorder = TrajectoryRecorder(inner=True) if trajectory else None
    fw_model = None
    histories: dict[str, dict[str, Any]] = {}
    if seeds is None:
        planned = [(name, m, data, config) for name, m in zip(names, methods)]
    else:
        planned = [(seed_run_name(m, s), m, data[s], config.replace(seed=s))
                   for s in seeds for m in methods]  # fmt: skip
    # every model is initialised here, in order, from the seed, before any run starts: a run
    # started in a background thread reseeds torch's global RNG (its dropout stream), which
    # would otherwise land in the middle of the next model's initialisation
    models = [build_model(m, d, c) for _, m, d, c in planned]
    # background runs train a seed's methods side by side (a run that trains until stopped must
    # not keep another method of its seed from starting: BackgroundRun's slots) and compute in
    # turns, one thread per idle CPU at a time (BackgroundRun's turns): threads that compute at
    # once contend for the interpreter, which only pays where a CPU is idle (fwlab.util.turns)
    idle = IdleCpus()  # from here: how busy the machine is before the runs start
    slots = threading.BoundedSemaphore(max(len(methods), idle.cpus))
    turns = Turns(idle.cpus, measure=idle)
    for (name, method, data_, config_), model in zip(planned, models):
        extra: dict[str, Any] = dict(model=model)
        if recorder is not None and method.optimizer == "fw" and fw_model is None:
            fw_model = model
            extra["callbacks"] = [recorder]
        if dashboard is None:
            histories[name] = fit(method, data_, config_, progress=False, **extra)
        elif background:
            dashboard.start(method, data_, config_, name=name, slots=slots, turns=turns, **extra)
        else:
            dashboard.fit(method, data_, config_, name=name, **extra)
    names = [name for name, *_ in planned]
    result = ComparisonResult(methods, data, config, histories, seeds, recorder, fw_model)
    result._pending = dict(
        dashboard=dashboard,
        names=names,
        landscape_resolution=landscape_resolution,
        landscape_samples=landscape_samples,
        record_metrics=record_metrics,
    )
    if dashboard is None or not background:
        result.finish()
    return result


def run_problems(result: ComparisonResult) -> list[str]:
    """What is wrong with the runs of ``result`` (empty when nothing is); see the module doc.

    Checks per run: it ran its planned batches (unless stopped from the dashboard) with finite
    training losses and a final evaluation; for a Frank-Wolfe run without steering events, one
    outer step every K batches, ‖Δω_K‖₂ ≤ δ·√(number of tensors), FW gap ≥ 0, angles in
    [0°, 180°]. For the landscape: the explained share in (0, 1], finite losses, and the loss at
    the plane's origin equal to the final weights' loss on the same batch.
    """
    import torch

    problems = []
    config, data = result.config, result.first_data
    for name, method, _ in result.runs:
        h = result.histories[name]
        s = h["summary"]
        if s.get("stopped_early"):
            continue
        if config.steps is not None and config.epochs is None and s["steps"] != config.steps:
            problems.append(f"{name}: ran {s['steps']} batches, not {config.steps}")
        if not all(math.isfinite(v) for v in h["train"]["loss"]):
            problems.append(f"{name}: a non-finite training loss")
        if not h["eval"]["step"] or h["eval"]["step"][-1] != s["steps"]:
            problems.append(f"{name}: no evaluation at the last batch")
        if method.optimizer == "fw" and not h["events"] and not method.tbptt:
            op = h["optimizer"]
            if op["step"] != list(range(method.K, s["steps"] + 1, method.K)):
                problems.append(f"{name}: outer steps are not every K={method.K} batches")
            n_tensors = len(list(build_model(method, data, config).parameters()))
            delta = config.delta if config.delta is not None else config.lr
            if op["dw_norm"] and max(op["dw_norm"]) > delta * math.sqrt(n_tensors) * (1 + 1e-5):
                problems.append(f"{name}: a step left the trust region")
            if any(g < -1e-6 for g in op["fw_gap"]):
                problems.append(f"{name}: a negative FW gap")
            if not all(0.0 <= a <= 180.0 for a in op["angle_deg"] if not math.isnan(a)):
                problems.append(f"{name}: an angle outside [0, 180] degrees")
    land = result.landscape
    if land is not None:
        if not 0.0 < land.plane.explained_total <= 1.0 + 1e-9:
            problems.append(f"landscape: explained share {land.plane.explained_total}")
        if not torch.isfinite(torch.as_tensor(land.losses)).all():
            problems.append("landscape: non-finite losses")
        # the final weights sit at the plane's origin, on a grid node, with their own loss
        x, y = result.eval_batch
        model = result.fw_model
        was_training = model.training
        model.eval()
        with torch.no_grad():
            direct = float(criterion(loss_kind(config, data), model(x), y))
        model.train(was_training)
        if abs(land.loss_at_origin - direct) > 1e-4 * max(1.0, abs(direct)):
            problems.append(f"landscape: loss at origin {land.loss_at_origin} != {direct}")
    return problems
