"""``RunRegistry``: the runs shown and steered together, by name, without any UI.

A dashboard (or a script) keeps one registry: per run name its history (live while it trains),
its :class:`fwlab.train.Run`, its :class:`fwlab.train.RunControl` (a
:class:`fwlab.train.BackgroundRun` for runs trained in a thread), the error it ended with, and
the order the runs were started in. All of it is guarded by one re-entrant lock, since callbacks
arrive from training threads.

Example:
    >>> from fwlab.data import load_task
    >>> from fwlab.train import TrainConfig, fit, get_method
    >>> data = load_task("adding", seq_len=10, n_train=100, n_test=50)
    >>> runs = RunRegistry()
    >>> h = fit(get_method("fw_k1"), data, TrainConfig(hidden_size=8, batch_size=25, steps=4),
    ...         callbacks=[runs.callback("a")], progress=False)
    >>> list(runs.histories), runs.status()["a"]["state"], runs.status()["a"]["step"]
    (['a'], 'done', 4)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

from fwlab.train.background import BackgroundRun, RunControl
from fwlab.train.callbacks import Callback
from fwlab.train.run import Run

__all__ = ["ALL", "RunRegistry"]

#: the target name meaning every run still training
ALL = "all"


class RunRegistry:
    """Runs by name, in the order they were started; thread-safe (see the module docstring).

    Attributes:
        lock: the registry's ``threading.RLock`` (hold it to read several fields consistently).
        jobs: ``name → BackgroundRun`` of the runs added with :meth:`add_job`.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.jobs: dict[str, BackgroundRun] = {}
        self._names: list[str] = []
        self._histories: dict[str, dict[str, Any]] = {}
        self._runs: dict[str, Run] = {}
        self._controls: dict[str, RunControl] = {}  # every run seen → its control
        self._errors: dict[str, str] = {}
        self._loaded: set[str] = set()  # finished runs added from files, not trained here

    # --- feeding it ------------------------------------------------------------------------------

    def callback(
        self, name: str, control: RunControl | None = None, observer: Callback | None = None
    ) -> Callback:
        """A ``fit`` callback that registers its run as ``name``, steered by ``control`` (a
        fresh :class:`RunControl` per run when ``None``); each hook of ``observer`` is called
        after the registry is updated."""
        return _Registration(self, name, control, observer)

    def observe(self, name: str, run: Run, *, begin: bool = False) -> None:
        """Record ``run``'s history under ``name`` (with ``begin``: the run itself too, clearing
        an old error)."""
        with self.lock:
            if begin:
                self._runs[name] = run
                self._errors.pop(name, None)
            self.register(name)
            self._histories[name] = run.history

    def register(self, name: str) -> None:
        """Add ``name`` to the run order (once)."""
        with self.lock:
            if name not in self._names:
                self._names.append(name)

    def add_history(self, name: str, history: Mapping[str, Any]) -> None:
        """Show a finished run's ``history`` (e.g. from :func:`fwlab.train.load_histories`)
        under ``name``; its state is ``"loaded"``. ``ValueError`` if ``name`` is a run of this
        session."""
        with self.lock:
            if name in self._names and name not in self._loaded:
                raise ValueError(
                    f"a run named {name!r} is already shown; load it under another name"
                )
            self._loaded.add(name)
            self.register(name)
            self._histories[name] = dict(history)

    def add_job(self, name: str, job: BackgroundRun) -> None:
        """Register a background run; ``ValueError`` if a run of that name is still training."""
        with self.lock:
            if name in self.jobs and not self.jobs[name].done:
                raise ValueError(f"a run named {name!r} is still training; pass another name=")
            self.jobs[name] = job
            self._controls[name] = job
            self.register(name)

    def job_done(self, job: BackgroundRun) -> None:
        """Record how a background run ended: its error (if any) and its final history."""
        with self.lock:
            if job.error is not None:
                self._errors[job.name] = f"{type(job.error).__name__}: {job.error}"
            if job.history is not None:
                self._histories[job.name] = job.history

    # --- reading it ------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """The run names in the order the runs were started."""
        with self.lock:
            return list(self._names)

    @property
    def histories(self) -> dict[str, dict[str, Any]]:
        """``name → history`` of every run that has begun, in start order."""
        with self.lock:
            return {n: self._histories[n] for n in self._names if n in self._histories}

    @property
    def controls(self) -> dict[str, RunControl]:
        """``name → RunControl`` of every run seen (a copy)."""
        with self.lock:
            return dict(self._controls)

    def targets(self, target: str = ALL) -> list[RunControl]:
        """The controls of run ``target`` (or of every run, for :data:`ALL`) not yet ended."""
        items = self.controls
        if target != ALL:
            items = {target: items[target]} if target in items else {}
        return [c for c in items.values() if not c.ended]

    def name_of(self, control: RunControl) -> str:
        """The name under which ``control`` is registered (``"?"`` if it is not)."""
        return next((n for n, c in self.controls.items() if c is control), "?")

    def state(self, name: str) -> str:
        """``starting``, ``training``, ``pausing`` (asked to pause, finishing its batch),
        ``paused``, ``stopping``, ``stopped``, ``done`` or ``error``."""
        with self.lock:
            c = self._controls.get(name)
            if name in self._errors:
                return "error"
            if name in self._loaded:
                return "loaded"
        if c is None:
            return "done"
        if c.ended:
            return "stopped" if c.stop_requested else "done"
        if c.run is None:
            return "starting"
        if c.stop_requested:
            return "stopping"
        if c.parked:
            return "paused"
        return "pausing" if c.paused else "training"

    def status(self) -> dict[str, dict[str, Any]]:
        """Per run: ``state``, ``step``, ``loss`` (last batch), values in use, ``pending``
        (and ``error`` for a run that raised)."""
        out = {}
        with self.lock:
            for name in self._names:
                c = self._controls.get(name)
                run = self._runs.get(name) or (c.run if c is not None else None)
                train = self._histories.get(name, {}).get("train", {})
                out[name] = {
                    "state": self.state(name),
                    "step": run.step if run is not None else (train.get("step") or [0])[-1],
                    "loss": run.last_loss
                    if run is not None
                    else (train.get("loss") or [math.nan])[-1],
                    **(c.in_use() if c is not None else {}),
                    "pending": c.pending() if c is not None else {},
                }
                if name in self._errors:
                    out[name]["error"] = self._errors[name]
        return out


class _Registration(Callback):
    """What :meth:`RunRegistry.callback` returns: each hook goes to the run's control (when the
    registry owns it), then to the registry, then to the observer."""

    def __init__(
        self,
        registry: RunRegistry,
        name: str,
        control: RunControl | None,
        observer: Callback | None,
    ) -> None:
        self.registry, self.name = registry, name
        self.control, self.observer = control, observer

    def _hook(self, hook: str, run: Run, begin: bool = False) -> None:
        registry = self.registry
        if self.control is None:  # a fresh control per run, kept by name
            with registry.lock:
                ctl = registry._controls.get(self.name)
                if begin or ctl is None or ctl.run is not run:
                    ctl = registry._controls[self.name] = RunControl()
            getattr(ctl, hook)(run)
        registry.observe(self.name, run, begin=begin)
        if self.observer is not None:
            getattr(self.observer, hook)(run)

    def on_train_begin(self, run: Run) -> None:
        self._hook("on_train_begin", run, begin=True)

    def on_step_end(self, run: Run) -> None:
        self._hook("on_step_end", run)

    def on_eval_end(self, run: Run) -> None:
        self._hook("on_eval_end", run)

    def on_train_end(self, run: Run) -> None:
        self._hook("on_train_end", run)
