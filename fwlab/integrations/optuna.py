"""Optuna searches on the run engine: every trial is a run (or one run per seed) of a target.

:func:`search` asks Optuna for a trial (``study.ask``), executes its runs with the engine's
executors (local worker processes, a Dask cluster, or this process), and tells Optuna the
result (``study.tell``): the engine keeps control of execution, and only this process touches
the Optuna storage. Each run is an ordinary fwlab run in ``out/trial-0007`` (or
``out/trial-0007__seed=1``): claimed, ``status.json``, ``results.json``, skipped when it is
already ``"ok"`` with the same digest.

* **Value**: the run's ``results[metric]`` (what the function returned or the notebook passed to
  :func:`fwlab.record`); with ``seeds``, the mean over the trial's runs. A failed run, a
  missing metric or a non-finite value (a diverged run) make the trial ``FAIL``.
* **Pruning**: a run reports intermediate values with
  :func:`fwlab.runs.intermediate.report`; the search passes the metric's value at each
  step (the mean over the trial's runs once all have reached it) to the pruner (default:
  :class:`optuna.pruners.MedianPruner`) and, when it prunes, asks the runs to stop; the trial
  ends ``PRUNED``.
* **Storage and resuming**: the study lives in ``sqlite:///OUT/study.db`` unless ``storage``
  names another; running the same search again continues it until ``trials`` trials have
  ended (complete, pruned or failed). Its definition (target, space, metric, fixed parameters,
  seeds) is stored with it, and a search with another one is refused. Trials interrupted by
  Ctrl-C (or left running by a killed process) are marked ``FAIL`` and queued again with the
  same parameters, first; their finished runs are skipped by digest.
* **Ctrl-C**: as the engine's (:meth:`fwlab.runs.Study.run`): the runs stop, nothing new
  starts, and :class:`fwlab.runs.Interrupted` is raised with one line naming the trials done,
  the ones interrupted and how to resume.

Example (a toy objective whose minimum is at x = 0.3; ``jobs=2``: two worker processes):

    >>> import io, tempfile
    >>> from fwlab.runs import Inline
    >>> out = tempfile.mkdtemp()
    >>> found = search("fwlab.integrations.search_examples:bowl", out, {"x": "float:-1:1"},
    ...                trials=12, metric="loss", sampler_seed=0, executor=Inline(),
    ...                log=io.StringIO())
    >>> found.counts, abs(found.best["params"]["x"] - 0.3) < 0.2
    ({'COMPLETE': 12}, True)
    >>> again = search("fwlab.integrations.search_examples:bowl", out, {"x": "float:-1:1"},
    ...                trials=12, metric="loss", executor=Inline(), log=io.StringIO())
    >>> again.started  # resumed: all 12 trials had ended
    []
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fwlab.integrations.search_space import distributions
from fwlab.runs import intermediate
from fwlab.runs.execute import task
from fwlab.runs.executors import Executor, executor_for
from fwlab.runs.files import CSV_FILE, RESULTS_FILE, STUDY_CLAIM_FILE, _read_json
from fwlab.runs.intermediate import PRUNE_FILE, read_intermediate
from fwlab.runs.results import gather, write_csv
from fwlab.runs.run import Run
from fwlab.runs.study import GRACE_S, Interrupted, _Loop
from fwlab.runs.target import Target, as_target
from fwlab.util.outdir import claim
from fwlab.util.validate import one_of, positive_int, seed_list

__all__ = ["DIRECTIONS", "STORAGE_FILE", "TRIALS_FILE", "SearchOutcome", "search"]

DIRECTIONS = ("minimize", "maximize")
STORAGE_FILE = "study.db"
TRIALS_FILE = "trials.csv"
#: study user attribute: what the search is (compared when it resumes)
_DEFINITION = "fwlab_search"
#: trial user attributes
_RUN = "fwlab_run"  # the runs' folder prefix (a retried trial keeps its first one)
_INTERRUPTED = "fwlab_interrupted"
_ERROR = "fwlab_error"


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ValueError(
            "searches need Optuna: pip install 'fwlab[search]' (or pip install optuna)"
        ) from None
    return optuna


@dataclass
class SearchOutcome:
    """A search's Optuna ``study`` as it stands and the trial numbers this call ``started``."""

    study: Any
    started: list[int] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """How many trials are in each state (``COMPLETE``, ``PRUNED``, ``FAIL``, ...)."""
        return dict(collections.Counter(t.state.name for t in self.study.trials))

    @property
    def best(self) -> dict[str, Any] | None:
        """The best complete trial: ``{"number", "value", "params"}`` (``None``: none yet)."""
        done = [t for t in self.study.trials if t.state.name == "COMPLETE"]
        if not done:
            return None
        t = self.study.best_trial
        return {"number": t.number, "value": t.value, "params": dict(t.params)}

    @property
    def table(self) -> Any:
        """One row per trial (a :class:`pandas.DataFrame`): number, state, value, the
        parameters, the runs' folder prefix, the error of a failed trial, seconds."""
        import pandas as pd

        rows = []
        for t in self.study.trials:
            seconds = None
            if t.datetime_start and t.datetime_complete:
                seconds = round((t.datetime_complete - t.datetime_start).total_seconds(), 3)
            rows.append({"number": t.number, "state": t.state.name, "value": t.value,
                         **t.params, "runs": t.user_attrs.get(_RUN),
                         "error": t.user_attrs.get(_ERROR), "seconds": seconds})  # fmt: skip
        return pd.DataFrame(rows)

    def best_trials(self, n: int = 5) -> Any:
        """The ``n`` best complete trials, best first (ties: the earlier trial)."""
        table = self.table
        if table.empty:
            return table
        done = table[table["state"] == "COMPLETE"]
        ascending = self.study.direction.name == "MINIMIZE"
        return done.sort_values(["value", "number"], ascending=[ascending, True]).head(n)


def search(
    target: Target | str | os.PathLike[str] | Any,
    out: str | os.PathLike[str],
    space: Mapping[str, Any],
    *,
    trials: int,
    metric: str,
    direction: str = "minimize",
    fixed: Mapping[str, Any] | None = None,
    seeds: Sequence[int] | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    sampler: Any = "tpe",
    sampler_seed: int | None = None,
    pruner: Any = "median",
    jobs: int = 2,
    scheduler: str | None = None,
    executor: Executor | None = None,
    log: Any = None,
    resume: str | None = None,
    grace: float = GRACE_S,
) -> SearchOutcome:
    """Search ``space`` for the parameters of ``target`` that minimize (or maximize) ``metric``,
    until ``trials`` trials of the study have ended; return its :class:`SearchOutcome`.

    Args:
        target: a :class:`~fwlab.runs.Function`, :class:`~fwlab.runs.Notebook`, a ``.ipynb``
            path or ``"module:name"`` (see :mod:`fwlab.runs`).
        out: the search's folder: one folder per run, ``study.db``, ``trials.csv`` (one row
            per trial) and ``results.csv`` (one row per run).
        space: ``{name: spec}``, a spec being a string of
            :mod:`fwlab.integrations.search_space` (``"log:1e-4:1e-1"``, ``"int:1:10"``,
            ``"cat:fw_k1,sgd"``) or an Optuna distribution.
        trials: how many trials the study should have ended (complete, pruned or failed);
            a resumed search runs only the rest.
        metric, direction: the results key to optimize, ``"minimize"`` or ``"maximize"``.
        fixed: parameters passed to every run unchanged.
        seeds: run every trial once per seed (passed as ``seed``); its value is the mean.
        storage, study_name: Optuna's storage URL (default ``sqlite:///OUT/study.db``) and the
            study's name (default: the name of ``out``).
        sampler, sampler_seed: ``"tpe"`` (default), ``"random"`` or an Optuna sampler; the
            seed of the named ones (shifted by the number of trials already in the study, so a
            resumed search does not propose its first trials again).
        pruner: ``"median"`` (:class:`optuna.pruners.MedianPruner`, default), ``"none"`` or an
            Optuna pruner.
        jobs, scheduler, executor: where the runs execute, as for
            :meth:`fwlab.runs.Study.run`; at most ``jobs`` runs at a time (on Dask too).
        log, resume, grace: as for :meth:`fwlab.runs.Study.run`.

    Raises:
        ValueError: a bad argument, or a study in ``storage`` that another search started
            (before anything runs).
        fwlab.runs.Interrupted: Ctrl-C (its message: one line, with how to resume).
    """
    optuna = _optuna()
    trials, jobs = positive_int("trials", trials), positive_int("jobs", jobs)
    one_of("direction", direction, DIRECTIONS)
    if not isinstance(metric, str) or not metric:
        raise ValueError(f"metric must be the name of a result, got {metric!r}")
    target = as_target(target)
    dists = distributions(space)
    if not dists:
        raise ValueError("space is empty; give at least one parameter to search")
    fixed = dict(fixed or {})
    clash = sorted(set(fixed) & set(dists))
    if clash:
        raise ValueError(f"parameter(s) {', '.join(clash)} given both in the space and as fixed")
    if seeds is not None:
        seeds = seed_list("seeds", seeds, [*fixed, *dists])
    target.check_names([*dists, *fixed, *(["seed"] if seeds is not None else [])])
    samplers = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
    if isinstance(sampler, str) and sampler not in samplers:
        raise ValueError(
            f"sampler must be one of {list(samplers)} or an Optuna sampler, got {sampler!r}"
        )
    pruners = {"median": optuna.pruners.MedianPruner, "none": optuna.pruners.NopPruner}
    if isinstance(pruner, str) and pruner not in pruners:
        raise ValueError(
            f"pruner must be one of {list(pruners)} or an Optuna pruner, got {pruner!r}"
        )
    log = sys.stdout if log is None else log
    if executor is None:
        executor = executor_for(jobs, scheduler)
    with executor, claim(out, lock_name=STUDY_CLAIM_FILE) as out_dir, _quiet(optuna):
        url = storage or f"sqlite:///{out_dir / STORAGE_FILE}"
        definition = {
            "target": target.name,
            "space": {
                n: json.loads(optuna.distributions.distribution_to_json(d))
                for n, d in dists.items()
            },  # fmt: skip
            "metric": metric,
            "fixed": json.loads(json.dumps(fixed, default=repr)),
            "seeds": seeds,
            "out": str(out_dir),
        }
        study = _open_study(optuna, url, study_name or out_dir.name, direction, definition)
        existing = len(study.trials)
        if isinstance(sampler, str):
            seed = None if sampler_seed is None else sampler_seed + existing
            sampler = samplers[sampler](seed=seed)
        study.sampler = sampler
        study.pruner = pruners[pruner]() if isinstance(pruner, str) else pruner
        state = _Search(optuna, study, target, out_dir, dists, fixed, seeds, metric, trials,
                        jobs, log)  # fmt: skip
        print(
            f"{target.name}: search of {', '.join(dists)} for the "
            f"{'lowest' if direction == 'minimize' else 'highest'} {metric}; "
            f"{state.ended()} of {trials} trials ended, {trials - state.ended()} to run "
            f"{executor.description} -> {out_dir} ({url})",
            file=log,
            flush=True,
        )
        stop_file = out_dir / f".stop-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        loop = _SearchLoop(state, executor, stop_file, grace, log)
        intermediate._IN_PROCESS_POLL = lambda: state.poll(loop)
        try:
            loop.run()
        finally:
            intermediate._IN_PROCESS_POLL = None
            stop_file.unlink(missing_ok=True)
            interrupted = state.interrupt_pending()
        outcome = SearchOutcome(study, state.started)
        _write_tables(outcome, out_dir)
        if loop.stopping:
            raise Interrupted(_interrupted_line(loop, state, interrupted, resume), outcome)
        return outcome


@contextlib.contextmanager
def _quiet(optuna: Any) -> Iterator[None]:
    """Optuna's per-trial INFO lines off while the search prints its own."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def _open_study(optuna: Any, url: str, name: str, direction: str, definition: dict) -> Any:
    """Create the study, or load it and check that it is this search's; trials left
    ``RUNNING`` by a killed process are marked ``FAIL`` and queued again."""
    try:
        study = optuna.create_study(storage=url, study_name=name, direction=direction,
                                    load_if_exists=True)  # fmt: skip
    except Exception as err:  # noqa: BLE001 - a bad URL, an unreadable file: one line
        raise ValueError(f"cannot open the Optuna storage {url} ({type(err).__name__}: {err}); "
                         "pass another --storage or --out") from None  # fmt: skip
    old = study.user_attrs.get(_DEFINITION)
    if old is None and not study.trials:
        study.set_user_attr(_DEFINITION, definition)
    elif old != definition or study.direction.name.lower() != direction:
        old = old or {}
        if study.direction.name.lower() != direction:
            diff = [f"direction {study.direction.name.lower()} (now {direction})"]
        else:
            diff = [f"{k} {old.get(k)!r} (now {v!r})" for k, v in definition.items()
                    if old.get(k) != v]  # fmt: skip
        raise ValueError(
            f"the study {name!r} in {url} was started by another search: {'; '.join(diff)}; "
            "run that search again to resume it, or pass another --out (or --study-name)"
        )
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        _fail_and_retry(optuna, study, t._trial_id, t.number, t.params, t.user_attrs.get(_RUN))
    return study


def _fail_and_retry(optuna: Any, study: Any, trial_id: int, number: int, params: dict,
                    prefix: str | None) -> None:  # fmt: skip
    """Trial ``number`` ends ``FAIL`` (interrupted: not counted) and a trial with the same
    parameters and runs' folders is queued (Optuna's ``enqueue_trial``: asked first)."""
    optuna.trial.Trial(study, trial_id).set_user_attr(_INTERRUPTED, True)
    study.tell(number, state=optuna.trial.TrialState.FAIL)
    study.enqueue_trial(params, user_attrs={_RUN: prefix} if prefix else None)


@dataclass
class _Trial:
    trial: Any
    prefix: str
    keys: list[int]
    statuses: dict[int, dict[str, Any]] = field(default_factory=dict)
    reported: set[int] = field(default_factory=set)
    pruning: bool = False


class _Search:
    """The trials in flight: asked from Optuna, their runs queued, told when they end."""

    def __init__(self, optuna: Any, study: Any, target: Target, out: Path, dists: dict,
                 fixed: dict, seeds: list[int] | None, metric: str, trials: int, jobs: int,
                 log: Any) -> None:  # fmt: skip
        self.optuna, self.study, self.target, self.out = optuna, study, target, out
        self.dists, self.fixed, self.seeds, self.metric = dists, fixed, seeds, metric
        self.trials, self.jobs, self.log = trials, jobs, log
        self.identity = target.identity()
        self.pending: dict[int, _Trial] = {}  # trial number -> its state
        self.by_key: dict[int, int] = {}  # run key -> trial number
        self.run_dirs: dict[int, Path] = {}  # run key -> its folder
        self.started: list[int] = []
        self.next_key = 0

    def ended(self) -> int:
        """Trials that count towards the budget: complete, pruned, or failed (not interrupted)."""
        ts = self.optuna.trial.TrialState
        return sum(
            1
            for t in self.study.get_trials(deepcopy=False)
            if t.state in (ts.COMPLETE, ts.PRUNED)
            or (t.state == ts.FAIL and not t.user_attrs.get(_INTERRUPTED))
        )

    def ask(self, loop: _SearchLoop) -> bool:
        """Ask Optuna for the next trial and queue its runs; ``False`` when the budget is
        reached (counting the trials in flight)."""
        if self.ended() + len(self.pending) >= self.trials:
            return False
        trial = self.study.ask(self.dists)
        prefix = trial.user_attrs.get(_RUN) or f"trial-{trial.number:04d}"
        trial.set_user_attr(_RUN, prefix)
        keys = []
        for seed in self.seeds if self.seeds is not None else [None]:
            key, self.next_key = self.next_key, self.next_key + 1
            name = prefix if seed is None else f"{prefix}__seed={seed}"
            run = Run(self.target, {**self.fixed, **trial.params}, seed=seed, name=name,
                      index=trial.number)  # fmt: skip
            data = task(run, self.out / name, run.digest(self.identity),
                        stop_file=loop.stop_file, force=False)  # fmt: skip
            loop.tasks[key], loop.names[key] = data, name
            loop.queue.append(key)
            keys.append(key)
            self.by_key[key] = trial.number
            self.run_dirs[key] = self.out / name
        self.pending[trial.number] = _Trial(trial, prefix, keys)
        self.started.append(trial.number)
        shown = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
        print(f"[trial {trial.number}] {shown}", file=self.log, flush=True)
        return True

    def run_ended(self, key: int, status: dict[str, Any], loop: _SearchLoop) -> None:
        pending = self.pending.get(self.by_key.get(key, -1))
        if pending is None:
            return
        pending.statuses[key] = status
        state = status.get("status")
        if state not in ("ok", "skipped", "failed", "busy"):
            return  # interrupted or cancelled: the trial is retried when the search resumes
        if len(self.seeds or [None]) > 1 and state not in ("ok", "skipped"):
            print(f"  {loop.names[key]}: {state} - {status.get('error')}", file=self.log)
        if all(pending.statuses.get(k, {}).get("status") in ("ok", "skipped", "failed", "busy")
               for k in pending.keys):  # fmt: skip
            self.poll(loop, only=pending)
            self._tell(pending)

    def _tell(self, p: _Trial) -> None:
        ts = self.optuna.trial.TrialState
        errors = [st.get("error") or "failed" for st in p.statuses.values()
                  if st.get("status") not in ("ok", "skipped")]  # fmt: skip
        pruned = p.pruning or any(str(e).startswith("TrialPruned") for e in errors)
        value, error = None, None
        if pruned:
            self.study.tell(p.trial, state=ts.PRUNED)
            what = f"pruned at step {max(p.reported, default=0)}"
        elif errors:
            error = str(errors[0]).splitlines()[0]
        else:
            values = []
            for key in p.keys:
                results = _read_json(self.run_dirs[key] / RESULTS_FILE) or {}
                if self.metric not in results:
                    error = (f"{self.run_dirs[key].name} recorded no {self.metric!r} (it recorded: "
                             f"{', '.join(results) or 'nothing'})")  # fmt: skip
                    break
                v = results[self.metric]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    name = self.run_dirs[key].name
                    error = f"{name}: {self.metric} is {v!r}, not a finite number"
                    break
                values.append(float(v))
            else:
                value = sum(values) / len(values)
        if not pruned:
            if error is not None:
                p.trial.set_user_attr(_ERROR, error)
                self.study.tell(p.trial, state=ts.FAIL)
                what = f"failed: {error}"
            else:
                self.study.tell(p.trial, value)
                best = self.study.best_trial
                what = (
                    f"{self.metric} {_short(value)} (best {_short(best.value)}, "
                    f"trial {best.number})"
                )
        del self.pending[p.trial.number]
        print(f"[trial {p.trial.number}] {what} ({self.ended()}/{self.trials} ended)",
              file=self.log, flush=True)  # fmt: skip

    def poll(self, loop: _SearchLoop, only: _Trial | None = None) -> None:
        """Pass new intermediate values to the pruner; ask a pruned trial's runs to stop."""
        for p in [only] if only is not None else list(self.pending.values()):
            if p.pruning:
                continue
            curves = [read_intermediate(self.run_dirs[k]) for k in p.keys]
            steps = set.intersection(*(
                {s for s, v in c.items() if self.metric in v} for c in curves))  # fmt: skip
            for step in sorted(steps - p.reported):
                values = [c[step][self.metric] for c in curves]
                mean = sum(values) / len(values)
                if math.isfinite(mean):
                    p.trial.report(mean, step)
                p.reported.add(step)
            if steps and only is None and p.trial.should_prune():
                p.pruning = True
                for k in p.keys:
                    (self.run_dirs[k] / PRUNE_FILE).touch()
                    if k in loop.queue:  # not started: never will be
                        loop.queue.remove(k)
                        p.statuses[k] = {"status": "ok"}
                if all(p.statuses.get(k) for k in p.keys):
                    self._tell(p)

    def interrupt_pending(self) -> list[str]:
        """Mark the trials in flight ``FAIL`` (interrupted) and queue them again (a trial
        being pruned ends ``PRUNED``); return their names."""
        names = []
        for p in list(self.pending.values()):
            if p.pruning:  # its runs were told to stop: pruned, whatever they did since
                self.study.tell(p.trial, state=self.optuna.trial.TrialState.PRUNED)
                del self.pending[p.trial.number]
                continue
            _fail_and_retry(self.optuna, self.study, p.trial._trial_id, p.trial.number,
                            p.trial.params, p.prefix)  # fmt: skip
            names.append(f"trial {p.trial.number}")
            del self.pending[p.trial.number]
        return names


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class _SearchLoop(_Loop):
    """The engine's loop (its Ctrl-C handling, its bookkeeping of runs) fed by a search: a run
    is queued when a trial is asked, and a trial is asked when a slot is free."""

    def __init__(self, search: _Search, executor: Executor, stop_file: Path, grace: float,
                 log: Any) -> None:  # fmt: skip
        super().__init__(executor, {}, stop_file, grace, log)
        self.search = search

    def _has_next(self) -> bool:
        return len(self.running) < self.search.jobs and (bool(self.queue) or self.search.ask(self))

    def _submitting(self, key: int) -> None:
        (Path(self.tasks[key]["run_dir"]) / PRUNE_FILE).unlink(missing_ok=True)

    def _waited(self) -> None:
        self.search.poll(self)

    def _ended(self, key: int, st: dict[str, Any], state: str | None) -> None:
        self.search.run_ended(key, st, self)


def _interrupted_line(loop: _SearchLoop, s: _Search, interrupted: list[str],
                      resume: str | None) -> str:  # fmt: skip
    how = resume or "run the same search again to resume it"
    when = "ended at once (second Ctrl-C)" if loop.killed else "interrupted (Ctrl-C)"
    parts = [f"{s.ended()} of {s.trials} trials ended"]
    best = SearchOutcome(s.study).best
    if best is not None:
        parts[0] += f" (best {s.metric} {_short(best['value'])}, trial {best['number']})"
    if interrupted:
        shown = ", ".join(interrupted[:4]) + (", ..." if len(interrupted) > 4 else "")
        parts.append(f"{len(interrupted)} interrupted ({shown}; queued again, first)")
    return f"{when}: {', '.join(parts)}; {how}"


def _write_tables(outcome: SearchOutcome, out: Path) -> None:
    from fwlab.util.atomic import atomic_write_text

    atomic_write_text(out / TRIALS_FILE, outcome.table.to_csv(index=False))
    write_csv(gather(out), out / CSV_FILE)
