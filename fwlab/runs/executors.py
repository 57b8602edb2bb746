"""Where runs execute: in this process, in local worker processes, or on a Dask cluster.

All three have one interface (:class:`Executor`), which :meth:`fwlab.runs.Study.run` drives:
``submit`` a task while ``slots()`` says there is room, ``wait`` for finished ones, and on
Ctrl-C ``interrupt`` (the runs in progress stop; the study has already written its stop file,
which :func:`fwlab.runs.execute.execute` watches) or ``kill`` (everything ends now). The study
keeps its own queue, so a cancelled study never has runs waiting inside an executor.

* :class:`Inline`: one run at a time in the calling process (``fwlab run``; a study of one).
* :class:`LocalProcesses`: ``jobs`` spawned worker processes, each executing one run at a time.
  They die with the study's process, even by SIGKILL (``PR_SET_PDEATHSIG``), and their kernels
  with them; they start with SIGINT ignored and then handle it themselves (a terminal's Ctrl-C
  reaches the whole process group: it stops the run in progress, once, and nothing else); a
  worker that dies mid-run fails that run and is replaced.
* :class:`Dask`: ``scheduler="tcp://HOST:8786"`` (or ``$FWLAB_DASK_SCHEDULER``) sends each run
  to that ``dask.distributed`` scheduler's workers, which need fwlab, the Jupyter kernel, and
  the notebook and output folder at the same paths. A worker that dies mid-run has its run
  rescheduled on another (a half-run point never says ``"ok"``: :mod:`fwlab.runs.files`).
  Start workers with one thread each (``dask worker ADDRESS --nthreads 1``, ``--nworkers N``
  for N runs at a time per machine): a notebook run is a whole kernel. On Ctrl-C, queued runs
  return at once and notebook runs in progress are stopped; a function run in progress on a
  cluster finishes.

Example:
    >>> resolve_scheduler("local"), resolve_scheduler("tcp://10.0.0.5:8786")
    (None, 'tcp://10.0.0.5:8786')
"""

from __future__ import annotations

import abc
import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing import get_context
from multiprocessing.connection import wait as wait_ready
from typing import Any

from fwlab.runs import execute as _execute
from fwlab.runs.kernel import die_with_parent
from fwlab.util.validate import positive_int

__all__ = [
    "SCHEDULER_ENV",
    "Dask",
    "Executor",
    "Inline",
    "LocalProcesses",
    "executor_for",
    "resolve_scheduler",
]

SCHEDULER_ENV = "FWLAB_DASK_SCHEDULER"
_CONNECT_TIMEOUT = "20s"
_CLOSE_WAIT_S = 5.0


def resolve_scheduler(scheduler: str | None) -> str | None:
    """The Dask scheduler address to use, or ``None`` for local processes: ``scheduler`` if
    given (``"local"`` forces local processes), else ``$FWLAB_DASK_SCHEDULER`` if set."""
    if scheduler is None:
        scheduler = os.environ.get(SCHEDULER_ENV) or None
    if scheduler is None or scheduler == "local":
        return None
    if not isinstance(scheduler, str) or "://" not in scheduler:
        raise ValueError(
            f"scheduler must be a Dask scheduler address such as tcp://HOST:8786 (or 'local'), "
            f"got {scheduler!r}"
        )
    return scheduler


class Executor(abc.ABC):
    """The interface the study drives (see the module docstring). ``description`` says where
    runs execute (``"2 at a time"``, ``"on the Dask cluster at ..."``)."""

    description = ""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @abc.abstractmethod
    def slots(self) -> int:
        """How many more tasks may be submitted now."""

    @abc.abstractmethod
    def submit(self, key: int, data: dict[str, Any]) -> None:
        """Start the task ``data`` (:func:`fwlab.runs.execute.task`), known as ``key``."""

    @abc.abstractmethod
    def busy(self) -> int:
        """How many submitted tasks have not been returned by :meth:`wait` yet."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> list[tuple[int, dict[str, Any]]]:
        """``(key, status)`` of the tasks that finished, waiting up to ``timeout`` seconds for
        the first."""

    def interrupt(self) -> bool:
        """Ask the runs in progress to stop (the stop file already exists); ``True`` when the
        caller, a SIGINT handler, must raise ``KeyboardInterrupt`` into a run in this thread."""
        return False

    def kill(self) -> bool:
        """End every run and worker now; ``True`` when a run executes in this thread: the
        caller, a SIGINT handler, must raise :class:`~fwlab.runs.execute.StopNow` into it."""
        return False

    def close(self) -> None:  # noqa: B027 - nothing held by default
        """Release the workers (after :meth:`kill`: at once)."""


class Inline(Executor):
    """One run at a time, in this process: :meth:`submit` executes it before returning."""

    description = "in this process"

    def __init__(self) -> None:
        self._done: list[tuple[int, dict[str, Any]]] = []

    def slots(self) -> int:
        return 0 if self._done else 1

    def submit(self, key: int, data: dict[str, Any]) -> None:
        self._done.append((key, _execute.execute(data)))

    def busy(self) -> int:
        return len(self._done)

    def wait(self, timeout: float) -> list[tuple[int, dict[str, Any]]]:
        done, self._done = self._done, []
        return done

    def interrupt(self) -> bool:
        return _execute.request_stop()

    def kill(self) -> bool:
        current = _execute._CURRENT
        if current is not None and current.data["kind"] == "notebook":
            _execute.kill_kernels(current.data["run_dir"])
        return current is not None


def _worker_main(conn: Any, parent_pid: int) -> None:
    """A local worker: execute the tasks it receives, one at a time, until told to stop."""
    from fwlab.util.process_start import start_fwlab_process

    die_with_parent(parent_pid)
    start_fwlab_process()
    # one run at a time: progress bars need no lock across processes, and tqdm's default one is
    # a multiprocessing semaphore, which the resource tracker (the study's child) reports as
    # leaked, on the terminal after the study's line, when the worker is killed (Ctrl-C)
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    _execute._IN_WORKER = True
    signal.signal(signal.SIGINT, _execute.worker_sigint)
    while True:
        try:
            data = conn.recv()
        except (EOFError, OSError):
            return
        if data is None:
            return
        try:
            result = _execute.execute(data)
        except BaseException as err:  # noqa: BLE001 - a second Ctrl-C, or a stop mid-write
            result = _execute.report(data, "interrupted", repr(err))
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while a child process starts, so that it inherits it ignored (Python then
    installs no KeyboardInterrupt handler: a Ctrl-C during its start-up prints nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class LocalProcesses(Executor):
    """Up to ``jobs`` spawned worker processes (started as tasks come), one run each at a time."""

    def __init__(self, jobs: int) -> None:
        jobs = positive_int("jobs", jobs)
        self.jobs = jobs
        self.description = f"{jobs} at a time"
        self._ctx = get_context("spawn")
        self._idle: list[tuple[Any, Any]] = []  # (process, connection)
        self._busy: dict[int, tuple[Any, Any]] = {}  # key -> (process, connection)
        self._tasks: dict[int, dict[str, Any]] = {}
        self._killed = False
        self._interrupted = False

    def slots(self) -> int:
        return 0 if self._killed else self.jobs - len(self._busy)

    def _worker(self) -> tuple[Any, Any]:
        while self._idle:
            proc, conn = self._idle.pop()
            if proc.is_alive():
                return proc, conn
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker_main, args=(child, os.getpid()), daemon=True,
                                 name="fwlab-run-worker")  # fmt: skip
        with _sigint_ignored():
            proc.start()
        child.close()
        return proc, parent

    def submit(self, key: int, data: dict[str, Any]) -> None:
        proc, conn = self._worker()
        self._busy[key] = (proc, conn)
        self._tasks[key] = data
        conn.send(data)

    def busy(self) -> int:
        return len(self._busy)

    def wait(self, timeout: float) -> list[tuple[int, dict[str, Any]]]:
        if not self._busy:
            return []
        by_handle = {
            h: key for key, (proc, conn) in self._busy.items() for h in (conn, proc.sentinel)
        }
        ready = wait_ready(list(by_handle), timeout)
        finished: list[tuple[int, dict[str, Any]]] = []
        for key in dict.fromkeys(by_handle[r] for r in ready):
            proc, conn = self._busy.pop(key)
            try:
                result = conn.recv() if conn.poll() else None
            except (EOFError, OSError):
                result = None
            if result is None:  # the worker died mid-run
                proc.join(1)
                result = _execute.report(
                    self._tasks[key], "failed", f"the worker process died (exit code "
                    f"{proc.exitcode}) during the run: killed, or out of memory",
                )  # fmt: skip
                conn.close()
            else:
                self._idle.append((proc, conn))
            finished.append((key, result))
        return finished

    def interrupt(self) -> bool:
        self._interrupted = True
        for proc, _ in self._busy.values():
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.kill(proc.pid, signal.SIGINT)  # the worker stops its run, once
        return False

    def kill(self) -> bool:
        self._killed = True
        for proc, _ in [*self._busy.values(), *self._idle]:
            if proc.pid is not None:
                _execute.kill_tree(proc.pid)
        return False

    def close(self) -> None:
        workers = [*self._busy.values(), *self._idle]
        self._busy.clear()
        self._idle.clear()
        for _, conn in workers:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
        # after Ctrl-C the workers hold nothing (each reported its run, claims released): they
        # are not waited for (a worker that imported torch takes seconds to shut down)
        wait_s = 0 if self._killed or self._interrupted else _CLOSE_WAIT_S
        for proc, conn in workers:
            proc.join(wait_s)
            if proc.is_alive():
                _execute.kill_tree(proc.pid)
                proc.join(1)
            conn.close()


class Dask(Executor):
    """The workers of the Dask scheduler at ``address`` (every task is submitted at once; the
    cluster schedules them)."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ValueError(
                "a Dask scheduler was given but dask.distributed is not installed: "
                "pip install 'fwlab[cluster]' (or unset FWLAB_DASK_SCHEDULER)"
            ) from None
        try:
            self.client = Client(address, timeout=_CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise ValueError(
                f"cannot reach the Dask scheduler at {address} ({type(err).__name__}: {err}); "
                "start one with `dask scheduler` and workers with `dask worker ADDRESS "
                f"--nthreads 1`, or unset {SCHEDULER_ENV} / drop --scheduler to run locally"
            ) from None
        threads = sum(self.client.nthreads().values())
        self.description = f"on the Dask cluster at {address} ({threads} worker threads now)"
        if not threads:
            self.description += "; no worker yet: the runs wait until workers join"
        self._futures: dict[Any, int] = {}
        self._tasks: dict[int, dict[str, Any]] = {}

    def slots(self) -> int:
        return 1 << 30

    def submit(self, key: int, data: dict[str, Any]) -> None:
        # pure=False: every run is its own task, even with equal arguments
        self._futures[self.client.submit(_execute.execute, data, pure=False)] = key
        self._tasks[key] = data

    def busy(self) -> int:
        return len(self._futures)

    def wait(self, timeout: float) -> list[tuple[int, dict[str, Any]]]:
        if not self._futures:
            return []
        # polled: distributed.wait needs a default client, and this one is not (a study must
        # not change the caller's default Dask client)
        deadline = time.monotonic() + timeout
        while not any(f.done() for f in self._futures) and time.monotonic() < deadline:
            time.sleep(0.05)
        finished = []
        for fut in [f for f in self._futures if f.done()]:
            key = self._futures.pop(fut)
            try:
                result = fut.result()
            except Exception as err:  # noqa: BLE001 - e.g. KilledWorker after repeated deaths
                result = _execute.report(self._tasks[key], "failed", *_execute.error_fields(err))
            finished.append((key, result))
        return finished

    def kill(self) -> bool:
        self.client.cancel(list(self._futures), force=True)
        self._futures.clear()
        return False

    def close(self) -> None:
        self.client.close()


def executor_for(jobs: int, scheduler: str | None, *, inline: bool = False) -> Executor:
    """:class:`Dask` when ``scheduler`` is an address (``None``: ``$FWLAB_DASK_SCHEDULER``),
    else :class:`Inline` when ``inline`` and ``jobs == 1``, else :class:`LocalProcesses`."""
    address = resolve_scheduler(scheduler)
    if address is not None:
        return Dask(address)
    if inline and jobs == 1:
        return Inline()
    return LocalProcesses(jobs)
