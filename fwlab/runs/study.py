"""A study: a grid × seeds of runs of one target, executed resumably, and its results table.

See :mod:`fwlab.runs` for the guarantees and an example.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fwlab.runs.execute import StopNow, task
from fwlab.runs.executors import Executor, executor_for
from fwlab.runs.files import CSV_FILE, STUDY_CLAIM_FILE, read_status, write_final_status
from fwlab.runs.grid import grid as _grid
from fwlab.runs.grid import point_name
from fwlab.runs.results import read_row, to_frame, write_csv
from fwlab.runs.run import Run
from fwlab.runs.target import Target, as_target
from fwlab.util.outdir import Claimed, check_output_dir, claim
from fwlab.util.validate import positive_int, seed_list

__all__ = ["Interrupted", "Outcome", "Study", "resume_command"]

#: seconds the runs in progress get to stop after the first Ctrl-C before they are killed
GRACE_S = 10.0
_NAMES_SHOWN = 4


class Interrupted(KeyboardInterrupt):
    """A study stopped by Ctrl-C. ``str()`` is one line: what finished and how to resume;
    ``outcome`` holds the rows as they stand."""

    def __init__(self, message: str, outcome: Outcome) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass
class Outcome:
    """The rows of a study's runs (in study order): parameters, results, ``status``,
    ``seconds``, ``error``, ``point`` (:func:`fwlab.runs.gather`), and the names of the runs
    this call executed (``started``; the others were done already, finished or held by another
    process meanwhile, or cancelled)."""

    rows: list[dict[str, Any]]
    started: list[str] = field(default_factory=list)

    @property
    def table(self) -> Any:
        """The rows as a :class:`pandas.DataFrame` (:func:`fwlab.runs.to_frame`)."""
        return to_frame(self.rows)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("status") != "ok"]


class Study:
    """Every point of ``grid`` (a dict of axis -> values; the first axis varies slowest), with
    the ``fixed`` parameters too, once per seed of ``seeds`` (``None``: no seed), of ``target``
    (a :class:`~fwlab.runs.Notebook`, a :class:`~fwlab.runs.Function`, a notebook path or
    ``"module:name"``), each run in its own folder under ``out``. ``grid`` may instead be a
    list of points (dicts), run in that order; a point's ``"seed"`` is its run's seed.

    Parameter names are checked against the target (a notebook's parameters cell, a
    function's signature) here, before anything runs (``check_names=False``: the caller did).
    ``flat=True``: a study of one run that writes into ``out`` itself (``fwlab run``).
    ``folder``: the run folders' names as a :meth:`str.format` template of each run's
    arguments (``"{method}/seed{seed}"``; default: :func:`~fwlab.runs.point_name`).
    ``shared=True``: ``out`` is not claimed by the study, so several processes may run the same
    study at once and share its runs (each run is claimed by the one that executes it; the
    others report it ``"busy"``).
    """

    def __init__(
        self,
        target: Target | str | os.PathLike[str] | Any,
        out: str | os.PathLike[str],
        grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None = None,
        *,
        fixed: Mapping[str, Any] | None = None,
        seeds: Sequence[int] | None = None,
        flat: bool = False,
        check_names: bool = True,
        folder: str | None = None,
        shared: bool = False,
    ) -> None:
        self.target = as_target(target)
        self.out = Path(out)
        self.fixed = dict(fixed or {})
        if grid is not None and not isinstance(grid, Mapping):
            points = [dict(p) for p in grid]
            self.axes = {}
        else:
            self.axes = dict(grid or {})
            points = _grid(self.axes)
        names = list(dict.fromkeys(k for p in points for k in p))
        clash = sorted(set(self.fixed) & set(names))
        if clash:
            raise ValueError(f"parameter(s) {', '.join(clash)} given both as --grid and as -p")
        if seeds is not None:
            seeds = seed_list("seeds", seeds, [*names, *self.fixed])
            points = [{**p, "seed": s} for p in points for s in seeds]
            names.append("seed")
        self.seeds = seeds
        self.flat = flat
        self.folder = folder
        self.shared = shared
        if check_names:
            self.target.check_names([*names, *self.fixed])
        self._runs = self._plan(points)
        if flat and len(self._runs) != 1:
            raise ValueError(f"flat=True is a study of one run, this one has {len(self._runs)}")

    def _plan(self, points: list[dict[str, Any]]) -> list[Run]:
        runs = []
        for named in points:
            seed = named.get("seed")
            params = {k: v for k, v in named.items() if k != "seed" or seed is None}
            run = Run(self.target, {**params, **self.fixed}, seed=seed, index=len(runs),
                      name=point_name(named) if self.folder is None else "")  # fmt: skip
            if self.folder is not None:
                run = replace(run, name=_folder_name(self.folder, run.arguments))
            runs.append(run)
        return runs

    def runs(self) -> list[Run]:
        """The study's runs, in order."""
        return list(self._runs)

    def run_dir(self, run: Run) -> Path:
        """Where ``run`` writes: ``out/<run.name>`` (``out`` itself when ``flat``)."""
        return self.out if self.flat else self.out / run.name

    def results(self) -> list[dict[str, Any]]:
        """The rows of the study's runs as they stand on disk (no run started)."""
        return self._rows(self.out.resolve() if self.out.exists() else self.out)

    def run(
        self,
        *,
        jobs: int = 2,
        scheduler: str | None = None,
        executor: Executor | None = None,
        force: bool = False,
        log: Any = None,
        resume: str | None = None,
        grace: float = GRACE_S,
    ) -> Outcome:
        """Execute every run that is not done; return the :class:`Outcome` of all of them.

        A run is skipped when its ``status.json`` says ``"ok"`` for the same digest (an edited
        notebook or function, other parameters or another seed re-run it) unless ``force``.
        ``jobs`` runs at a time in local worker processes, or on the Dask cluster at
        ``scheduler`` (``None``: ``$FWLAB_DASK_SCHEDULER`` if set; ``"local"``), or on the
        given ``executor`` (e.g. :class:`~fwlab.runs.Inline`). A failing run is recorded and the
        others go on. ``out`` is claimed while the study runs (a second study on it fails at
        once, naming the holder), and every run is claimed by the process that executes it.
        ``log`` (a file, default stdout) gets one line per run; ``results.csv`` gathers the
        rows when the study ends.

        Ctrl-C (SIGINT, in the main thread): the first cancels the runs not started, lets
        nothing new start, stops the runs in progress (recorded as ``"interrupted"``; killed
        after ``grace`` seconds) and raises :class:`Interrupted`, whose message names what
        finished and how to resume (``resume``: the command to print; default: run the same
        study again). The second ends every run and worker at once and raises it too.
        """
        log = sys.stdout if log is None else log
        if executor is None:
            jobs = positive_int("jobs", jobs)
            executor = executor_for(jobs, scheduler)
        held = (contextlib.nullcontext(check_output_dir(self.out)) if self.shared
                else claim(self.out, lock_name=STUDY_CLAIM_FILE))  # fmt: skip
        restore: list[Any] = []  # the SIGINT handler to put back once the study has wound down
        try:
            with executor, held as out:
                return self._run_claimed(out, executor, force, log, resume, grace, restore)
        finally:
            if restore:
                signal.signal(signal.SIGINT, restore[0])

    def _run_claimed(
        self, out: Path, executor: Executor, force: bool, log: Any, resume: str | None,
        grace: float, restore: list[Any],
    ) -> Outcome:  # fmt: skip
        identity = self.target.identity()
        stop_file = out / f".stop-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tasks: dict[int, dict[str, Any]] = {}
        skipped: list[str] = []
        for key, run in enumerate(self._runs):
            run_dir = out if self.flat else out / run.name
            digest = run.digest(identity)
            old = read_status(run_dir) or {}
            if not force and old.get("status") == "ok" and old.get("digest") == digest:
                skipped.append(run.name)
                print(f"[skip] {run.name}: already ok ({old.get('seconds')} s)", file=log,
                      flush=True)  # fmt: skip
                continue
            tasks[key] = task(run, run_dir, digest, stop_file=stop_file, force=force,
                              flat=self.flat)  # fmt: skip
        print(
            f"{self.target.name}: {len(self._runs)} runs, {len(tasks)} to run, {len(skipped)} "
            f"already ok -> {out}",
            file=log,
            flush=True,
        )
        if tasks:
            print(f"running {len(tasks)} runs {executor.description}", file=log, flush=True)
        loop = _Loop(executor, tasks, stop_file, grace, log, restore)
        try:
            loop.run()
        finally:
            stop_file.unlink(missing_ok=True)
        rows = self._rows(out, loop.reported)
        ran = [k for k in loop.started
               if loop.reported.get(k, {}).get("status") not in ("skipped", "busy")]  # fmt: skip
        outcome = Outcome(rows, [tasks[k]["name"] for k in ran])
        if loop.stopping:
            raise Interrupted(self._interrupted_line(loop, skipped, rows, resume), outcome)
        write_csv(rows, out / CSV_FILE)
        return outcome

    def _rows(
        self, out: Path, reported: Mapping[int, dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """The gathered rows of this study's runs; a run that wrote no ``status.json`` (busy:
        claimed by another process, whose status is on disk; or it could not write) gets the
        row its executor reported, else a failed one."""
        rows = []
        for key, run in enumerate(self._runs):
            name = out.name if self.flat else run.name
            row = read_row(out if self.flat else out / run.name, name)
            if row is not None:
                row.pop("_index")
            st = (reported or {}).get(key) or {}
            if row is None or st.get("status") == "busy":  # on disk: the other process's run
                row = {**run.arguments, "status": st.get("status", "failed"),
                       "seconds": st.get("seconds"),
                       "error": st.get("error") or "no status.json was written",
                       "point": name}  # fmt: skip
            rows.append(row)
        return rows

    def _interrupted_line(
        self, loop: _Loop, skipped: list[str], rows: list[dict[str, Any]], resume: str | None
    ) -> str:
        """One line: what finished (done before, or now), what was interrupted or failed, how
        many runs did not start, and how to resume."""
        how = resume or "run the same study again to resume (finished runs are skipped)"
        when = "ended at once (second Ctrl-C)" if loop.killed else "interrupted (Ctrl-C)"
        if self.flat:
            state = rows[0].get("status")
            return f"{when}: the run {'finished' if state == 'ok' else 'stopped'}; {how}"
        now_ok = {k for k, st in loop.reported.items() if st.get("status") in ("ok", "skipped")}
        done = [r.name for k, r in enumerate(self._runs) if r.name in skipped or k in now_ok]
        parts = [f"{len(done)} of {len(self._runs)} runs done{_listed(done)}"]
        for what, keys in (("interrupted", loop.interrupted), ("failed", loop.failed)):
            names = [loop.names[k] for k in sorted(keys)]
            if names:
                parts.append(f"{len(names)} {what}{_listed(names)}")
        parts.append(f"{len(loop.tasks) - len(loop.started)} not started")
        return f"{when}: {', '.join(parts)}; {how}"


def resume_command(command: str, out: str | os.PathLike[str]) -> str:
    """``"resume with: fwlab COMMAND ..."``: the ``fwlab`` command line this process runs
    (``sys.argv``), with ``--out`` spelled out when it was left to its default; what a
    command passes as ``resume`` to :meth:`Study.run`."""
    argv = sys.argv[1:] if sys.argv[1:2] == [command] else [command]
    if "--out" not in argv and not any(a.startswith("--out=") for a in argv):
        argv = [*argv, "--out", str(out)]
    return "resume with: " + shlex.join(["fwlab", *argv])


def _folder_name(template: str, arguments: Mapping[str, Any]) -> str:
    """A run's folder under its study from the ``folder`` template: a relative path whose
    parts are plain names (``ValueError`` otherwise, or for a name the template lacks)."""
    try:
        name = template.format(**arguments)
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"folder={template!r} cannot be filled from {arguments}: {err}") from None
    parts = name.split("/")
    if any(p in ("", ".", "..") or not re.fullmatch(r"[A-Za-z0-9._=+-]+", p) for p in parts):
        raise ValueError(
            f"folder={template!r} gives {name!r}; a run folder is a relative path of names made "
            "of letters, digits and ._=+-"
        )
    return name


def _end_if_running(run_dir: Path, **final: Any) -> None:
    """Write ``final`` into the run's status if it still says "running" (its process died)."""
    st = read_status(run_dir)
    if st is not None and st.get("status") == "running":
        write_final_status(run_dir, {**st, **final})


def _listed(names: list[str]) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:_NAMES_SHOWN])
    return f" ({shown}{', ...' if len(names) > _NAMES_SHOWN else ''})"


class _Loop:
    """The study's queue and its Ctrl-C handling (see :meth:`Study.run`)."""

    def __init__(self, executor: Executor, tasks: dict[int, dict[str, Any]], stop_file: Path,
                 grace: float, log: Any, restore: list[Any] | None = None) -> None:  # fmt: skip
        self.executor, self.tasks, self.stop_file = executor, tasks, stop_file
        self.grace, self.log, self.restore = grace, log, restore
        self.names = {k: t["name"] for k, t in tasks.items()}
        self.queue = deque(tasks)
        self.started: list[int] = []
        self.running: set[int] = set()
        self.reported: dict[int, dict[str, Any]] = {}
        self.interrupted: list[int] = []
        self.failed: list[int] = []
        self.stopping = False
        self.killed = False
        self.deadline = 0.0
        self.finished = 0

    def on_sigint(self, signum: int, frame: Any) -> None:
        if self.stopping:  # the second Ctrl-C: everything ends now
            self.killed = True
            # raised only into a run executing in this thread: elsewhere in the loop it would
            # cut the bookkeeping of a finished run, or escape the loop; the loop sees `killed`
            if self.executor.kill():
                raise StopNow
            return
        self.stopping = True
        self.deadline = time.monotonic() + self.grace
        self.queue.clear()
        with contextlib.suppress(OSError):
            self.stop_file.touch()
        if self.executor.interrupt():  # a function run in this thread: interrupt it
            raise KeyboardInterrupt

    def run(self) -> None:
        with self._sigint_handler():
            try:
                self._loop()
            except StopNow:
                self.killed = self.stopping = True
            except KeyboardInterrupt:
                if not self.stopping:
                    raise
        if self.killed:
            self._mark_killed()

    def _loop(self) -> None:
        ex = self.executor
        while True:
            while not self.stopping and ex.slots() > 0 and self._has_next():
                key = self.queue.popleft()
                self.started.append(key)
                self.running.add(key)
                self._submitting(key)
                ex.submit(key, self.tasks[key])
            if not ex.busy() and (self.stopping or not self.queue):
                return
            for key, status in ex.wait(0.25):
                if self.killed:  # a second Ctrl-C: what is left running is marked by run()
                    break
                self._finished(key, status)
            if self.killed:
                return
            if not self.stopping:
                self._waited()
            if self.stopping and ex.busy() and time.monotonic() > self.deadline:
                self.killed = True
                ex.kill()
                return

    # hooks for a loop whose runs are not all known at the start (fwlab.integrations.optuna)
    def _has_next(self) -> bool:
        """Whether a run is queued for the free slot (a subclass may queue one here)."""
        return bool(self.queue)

    def _submitting(self, key: int) -> None:
        """Called just before run ``key`` is handed to the executor."""

    def _waited(self) -> None:
        """Called after each wait for finished runs, while not stopping."""

    def _finished(self, key: int, st: dict[str, Any]) -> None:
        self.running.discard(key)
        self.reported[key] = st
        state = st.get("status")
        if state == "cancelled":
            self.started.remove(key)
            return
        if state == "failed":
            self._record_death(key, st)
        if state == "interrupted":
            self.interrupted.append(key)
        elif state not in ("ok", "skipped"):  # failed, or busy: claimed by another process
            self.failed.append(key)
        self.finished += 1
        self._ended(key, st, state)

    def _ended(self, key: int, st: dict[str, Any], state: str | None) -> None:
        """Run ``key`` ended (not cancelled) and is counted: say so in the log."""
        line = f"[{self.finished}/{len(self.tasks)}] {self.names[key]}: {state}"
        if st.get("seconds") is not None:
            line += f" ({st['seconds']:.1f} s)"
        if state not in ("ok", "skipped", "interrupted"):
            line += f" - {st.get('error')}"
        print(line, file=self.log, flush=True)

    def _record_death(self, key: int, st: dict[str, Any]) -> None:
        """A run whose process died mid-run still says "running": write the executor's report
        (e.g. "the worker process died"), unless another process holds the run meanwhile."""
        run_dir = Path(self.tasks[key]["run_dir"])
        with contextlib.suppress(Claimed, OSError, ValueError), claim(run_dir):
            _end_if_running(run_dir, status="failed", error=st.get("error"))

    def _mark_killed(self) -> None:
        """Runs killed in progress: their status says "running"; say "interrupted"."""
        for key in sorted(self.running):
            run_dir = Path(self.tasks[key]["run_dir"])
            _end_if_running(run_dir, status="interrupted", error="interrupted (ended at once)")
            self.interrupted.append(key)
        self.running.clear()

    @contextlib.contextmanager
    def _sigint_handler(self) -> Iterator[None]:
        """Our SIGINT handler while the study runs, in the main thread, unless SIGINT is
        ignored (a background job: then Ctrl-C cannot reach it anyway)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)
        if previous is signal.SIG_IGN:
            yield
            return
        signal.signal(signal.SIGINT, self.on_sigint)
        try:
            yield
        finally:
            if self.stopping and self.restore is not None:  # the study winds down: a further
                signal.signal(signal.SIGINT, self._late_sigint)  # Ctrl-C only hurries it
                self.restore.append(previous)
            else:
                signal.signal(signal.SIGINT, previous)

    def _late_sigint(self, signum: int, frame: Any) -> None:
        """Ctrl-C after the loop stopped, while the study writes its rows and releases its
        workers: end them at once, without a second traceback over the study's one line."""
        self.killed = True
        self.executor.kill()
