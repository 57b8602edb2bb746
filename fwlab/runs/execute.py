"""Executing one run where it lands (this process, a local worker, a Dask worker).

:func:`execute` takes a task (plain data, see :func:`task`), claims the run's folder, writes
``status.json`` (:mod:`fwlab.runs.files`), runs the notebook or function and returns the final
status dict. It never raises for a failed run: a failure is a result. It raises only when it is
asked to stop at once (a second Ctrl-C).

**A full disk** (or any ``OSError`` writing the run's files) fails the run with
:func:`fwlab.util.failure.describe`'s line, its final status written in the space the run
reserved (:mod:`fwlab.runs.files`). The executed notebook is saved atomically after each cell
(:class:`_AtomicOutput`). An earlier run's executed notebook and ``results.json`` are removed when
the run starts: what the folder holds after a failure is this run's.

**Stopping a run** (the engine's first Ctrl-C): the study creates its *stop file*; a watcher
thread of :func:`execute` sees it within a fraction of a second and

* a notebook run: kills the notebook's kernel (the process whose environment names this run's
  folder), so papermill ends within about a second (its dead-kernel check);
* a function run in the main thread of a worker process (or of this one): a
  :func:`fwlab.train.fit` in progress is asked to stop at its batch's end
  (:func:`fwlab.optim.interrupt.request_stop`: it writes its checkpoint and raises
  ``KeyboardInterrupt``), else ``KeyboardInterrupt`` is raised in it
  (:func:`_thread.interrupt_main`). A function run in a
  Dask worker's thread cannot be interrupted and finishes;

the run is then recorded as ``"interrupted"``, without a traceback. A run that has not started
when the stop file exists does not start (``"cancelled"``, nothing written). In a worker
process SIGINT (a terminal's Ctrl-C reaches the whole process group) does the same as the stop
file, once.
"""

from __future__ import annotations

import _thread
import contextlib
import datetime as _dt
import logging
import os
import re
import signal
import sys
import threading
import time
import traceback as _tb
from collections.abc import Iterator, Mapping
from hashlib import sha256
from pathlib import Path
from typing import Any

from fwlab.runs.files import (
    FIT_CALLBACKS_ENV,
    MLFLOW_ENV,
    MLFLOW_EXPERIMENT_ENV,
    MLFLOW_RUN_ENV,
    RESERVE_FILE,
    RESULTS_ENV,
    RESULTS_FILE,
    STATUS_FILE,
    TENSORBOARD_ENV,
    _read_json,
    _write_json,
    is_done,
    reserve_space,
    write_final_status,
)
from fwlab.util.atomic import atomic_write_text
from fwlab.util.environ import temporary_environ
from fwlab.util.failure import describe
from fwlab.util.outdir import Claimed, claim

__all__ = ["StopNow", "execute", "report", "task"]

_TRACEBACK_LINES = 30
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_WATCH_S = 0.2
#: a notebook run's private folder for its kernel's sockets: PREFIX + the pid of the process that
#: runs it + "-" + a random part (tempfile), so that whoever SIGKILLs that process can remove it
KERNEL_DIR_PREFIX = "fwlab-kernel-"
#: one run at a time per process: a run hands its folder to its kernel through os.environ
_ENVIRON_LOCK = threading.Lock()


class StopNow(KeyboardInterrupt):
    """Raised to end a study at once (the second Ctrl-C); the run is left ``"interrupted"``."""


def task(
    run: Any, run_dir: Path, digest: str, *, stop_file: Path, force: bool, flat: bool = False
) -> dict[str, Any]:
    """The plain-data task for :func:`execute`: what a worker needs to execute ``run``
    (``flat``: the run is its study's only one, in the study's folder)."""
    target = run.target
    data: dict[str, Any] = dict(
        kind=target.kind,
        params=run.arguments,
        seed=run.seed,
        name=run.name,
        index=run.index,
        run_dir=str(run_dir),
        digest=digest,
        stop_file=str(stop_file),
        force=force,
    )
    if target.kind == "notebook":
        data.update(
            notebook=str(target.path),
            kernel=target.kernel,
            timeout=target.timeout,
            cwd=None if target.cwd is None else str(target.cwd),
            tensorboard=None
            if target.tensorboard is None
            else str(target.tensorboard if flat else target.tensorboard / run.name),  # fmt: skip
            mlflow=target.mlflow,
            mlflow_experiment=target.mlflow_experiment,
            fit_callbacks=list(target.fit_callbacks),
            mlflow_run=run_dir.name if flat else run.name,
        )
    else:
        data.update(function=target.ref)
    return data


def report(
    data: Mapping[str, Any], status: str, error: str | None = None, traceback: str | None = None
) -> dict[str, Any]:
    """The status dict of a run that wrote none (cancelled, busy, or its process died): what an
    executor returns for it."""
    return {"point": data["name"], "index": data["index"], "params": data["params"],
            "status": status, "seconds": None, "error": error, "traceback": traceback}  # fmt: skip


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def error_fields(err: BaseException) -> tuple[str, str]:
    """``("Type: message", traceback tail)`` of an exception, from the notebook when it has one."""
    ename = getattr(err, "ename", None)
    if ename is not None:  # papermill.PapermillExecutionError: the error raised in a cell
        message = f"{ename}: {err.evalue}"  # type: ignore[attr-defined]
        lines = "\n".join(err.traceback or []).splitlines()  # type: ignore[attr-defined]
        lines += "\n".join(getattr(err, "__notes__", [])).splitlines()  # the kernel's output
    else:
        # an OSError (a full disk, say) in fwlab's words: the file, and to free space and rerun
        said = describe(err)[0] if isinstance(err, OSError) else str(err)
        message = f"{type(err).__name__}: {said}"
        lines = "".join(_tb.format_exception(type(err), err, err.__traceback__)).splitlines()
    lines = [_ANSI.sub("", line) for line in lines]
    return message, "\n".join(lines[-_TRACEBACK_LINES:])


class _Execution:
    """The run this process is executing, for the watcher and the SIGINT handler."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.stop_requested = threading.Event()
        self.main_thread = threading.current_thread() is threading.main_thread()
        self.thread_id = threading.get_ident()

    def stop(self) -> bool:
        """Stop this run (once); ``True`` when the caller, in the main thread, should raise
        ``KeyboardInterrupt`` into it (a function run that is not inside ``fit``: a ``fit`` in
        progress is asked to stop at its batch's end instead, so it keeps its checkpoint)."""
        if self.stop_requested.is_set():
            return False
        self.stop_requested.set()
        if self.data["kind"] == "notebook":
            kill_kernels(self.data["run_dir"])
            return False
        # not imported: no fit runs in this process (and importing torch here would take seconds)
        fits = sys.modules.get("fwlab.optim.interrupt")
        return self.main_thread and not (fits is not None and fits.request_stop(self.thread_id))


_CURRENT: _Execution | None = None
#: set in fwlab's own worker processes: their SIGINT handler and watcher may interrupt the main
#: thread (never in a process that merely calls the engine)
_IN_WORKER = False
#: while a run's function is imported (:func:`_sigint_held`), :func:`request_stop` only records
#: the stop (``_HELD``); it is raised once the import is done
_HOLD_SIGINT = False
_HELD = False


def request_stop() -> bool:
    """Ask the run in progress in this process to stop; ``True`` when the caller (a signal
    handler in the main thread) should raise ``KeyboardInterrupt``. No-op without a run. While
    the run's function is imported (:func:`_sigint_held`) it says ``False`` and the stop is
    raised when the import is done."""
    global _HELD
    current = _CURRENT
    if current is None or not current.stop():
        return False
    if _HOLD_SIGINT:
        _HELD = True
        return False
    return True


def kill_kernels(run_dir: str | os.PathLike[str]) -> None:
    """SIGKILL the Jupyter kernels (and their children) this process started for ``run_dir``:
    the child processes whose environment sets ``FWLAB_RESULTS_DIR`` to it."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            if child.environ().get(RESULTS_ENV) == str(run_dir):
                kill_tree(child.pid)


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its descendants (kernels included: they start their own sessions),
    and remove the kernel folders they can no longer remove themselves
    (:func:`remove_kernel_dirs`)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    for proc in procs:
        remove_kernel_dirs(proc.pid)


def remove_kernel_dirs(pid: int | None = None) -> None:
    """Remove the kernel socket folders (:data:`KERNEL_DIR_PREFIX`) of the process ``pid``, which
    was killed: it would have removed them as its notebook run ended. ``pid=None``: those of
    every process that no longer exists (killed where nobody could clean up after it, e.g. with
    the study's process SIGKILLed); a notebook run does this before it makes its own."""
    import shutil
    import tempfile

    import psutil

    pattern = f"{KERNEL_DIR_PREFIX}{'*' if pid is None else int(pid)}-*"
    for folder in Path(tempfile.gettempdir()).glob(pattern):
        owner = folder.name.removeprefix(KERNEL_DIR_PREFIX).partition("-")[0]
        if pid is None and (not owner.isdigit() or psutil.pid_exists(int(owner))):
            continue
        shutil.rmtree(folder, ignore_errors=True)


def _watch(execution: _Execution, stop_file: Path, done: threading.Event) -> None:
    while not done.wait(_WATCH_S):
        if stop_file.exists():
            if execution.data["kind"] == "function" and _IN_WORKER and execution.main_thread:
                _thread.interrupt_main(signal.SIGINT)  # worker_sigint stops it and raises
            else:
                execution.stop()
            return


def worker_sigint(signum: int, frame: Any) -> None:
    """SIGINT in a worker process: stop the run in progress (once), else nothing; the study's
    process decides what happens next."""
    if request_stop():
        raise KeyboardInterrupt


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Within the block a Ctrl-C (a worker's SIGINT, or the study's in its own process) stops
    the run only when the block ends. An import is no
    place to raise ``KeyboardInterrupt``: torch's C++ initialisation calls back into Python, and
    an exception raised there cannot unwind through it (the worker aborted with "terminate called
    after throwing an instance of 'pybind11::error_already_set'" and 100 lines of stack, seen in
    the suite when Ctrl-C came while a worker imported torch)."""
    global _HOLD_SIGINT, _HELD
    _HOLD_SIGINT, _HELD = True, False
    try:
        yield
    finally:
        _HOLD_SIGINT = False
        held, _HELD = _HELD, False
        if held:
            raise KeyboardInterrupt


def execute(data: Mapping[str, Any]) -> dict[str, Any]:
    """Execute the task ``data`` (:func:`task`) and return its final status dict.

    Statuses: ``"ok"``, ``"failed"`` (``error``, ``traceback``), ``"interrupted"`` (stopped by
    the study), ``"skipped"`` (another process finished it meanwhile; the status on disk is
    returned), ``"busy"`` (another process holds its claim) and ``"cancelled"`` (the study was
    stopping before it started); only the first three are written to ``status.json``.
    """
    global _CURRENT
    stop_file = Path(data["stop_file"])
    run_dir = Path(data["run_dir"])
    if stop_file.exists():
        return report(data, "cancelled")
    with _ENVIRON_LOCK:
        try:
            with claim(run_dir):
                if not data["force"] and is_done(run_dir, data["digest"]):
                    return {**(_read_json(run_dir / STATUS_FILE) or {}), "status": "skipped"}
                execution = _Execution(data)
                _CURRENT = execution
                try:
                    return _execute_claimed(data, run_dir, execution, stop_file)
                finally:
                    _CURRENT = None
        except Claimed as err:
            return report(data, "busy", str(err))
        except (OSError, ValueError) as err:  # e.g. an unwritable folder: still one row
            return report(data, "failed", *error_fields(err))


def _execute_claimed(
    data: Mapping[str, Any], run_dir: Path, execution: _Execution, stop_file: Path
) -> dict[str, Any]:
    # what an earlier run left is not this run's: results, and the executed notebook (unless
    # the run writes over its own input)
    (run_dir / RESULTS_FILE).unlink(missing_ok=True)
    if data["kind"] == "notebook":
        output = _output(data, run_dir)
        if output.resolve() != Path(data["notebook"]).resolve():
            output.unlink(missing_ok=True)
    reserve_space(run_dir)  # before "running": a disk too full for it fails the run here
    status: dict[str, Any] = {"status": "running"}
    if data["kind"] == "notebook":
        nb = Path(data["notebook"])
        nb_sha256 = sha256(nb.read_bytes()).hexdigest()
        status.update(notebook=str(nb), notebook_sha256=nb_sha256, kernel=data["kernel"],
                      output=nb.name)  # fmt: skip
    else:
        status.update(function=data["function"])
    status.update(
        params=data["params"], seed=data["seed"], digest=data["digest"], point=data["name"],
        index=data["index"], started=_now(), finished=None, seconds=None, error=None,
        traceback=None,
    )  # fmt: skip
    try:
        _write_json(run_dir / STATUS_FILE, status)
    except OSError:
        (run_dir / RESERVE_FILE).unlink(missing_ok=True)
        raise
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(execution, stop_file, done), daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    try:
        with _run_environment(data, run_dir):
            if data["kind"] == "notebook":
                _run_notebook(data, run_dir)
            else:
                _run_function(data, run_dir)
        status["status"] = "ok"
    except StopNow:
        _finish(status, run_dir, t0, "interrupted", "interrupted (a second Ctrl-C)")
        raise
    except KeyboardInterrupt:
        _finish(status, run_dir, t0, "interrupted", "interrupted (Ctrl-C)")
        if not execution.stop_requested.is_set():  # Ctrl-C of this process, not the study's
            raise
        return status
    except Exception as err:  # noqa: BLE001 - a failed run is a result, not a crash
        if execution.stop_requested.is_set():  # the kernel was killed to stop the run
            _finish(status, run_dir, t0, "interrupted", "interrupted (Ctrl-C)")
            return status
        status["status"] = "failed"
        status["error"], status["traceback"] = error_fields(err)
        if type(err).__name__ == "DeadKernelError":
            status["error"] = (
                f"DeadKernelError: the kernel died while running the notebook ({err}): killed "
                "by a signal, or out of memory; the executed notebook shows the cell it was "
                "running"
            )
    finally:
        done.set()
    _finish(status, run_dir, t0, status["status"], status["error"])
    return status


def _finish(status: dict[str, Any], run_dir: Path, t0: float, state: str, error: Any) -> None:
    status.update(status=state, error=error, seconds=round(time.perf_counter() - t0, 3),
                  finished=_now())  # fmt: skip
    write_final_status(run_dir, status)


def _run_environment(data: Mapping[str, Any], run_dir: Path) -> contextlib.AbstractContextManager:
    """``FWLAB_RESULTS_DIR`` for the run (and for a notebook's kernel ``FWLAB_TENSORBOARD_DIR``,
    ``FWLAB_FIT_CALLBACKS`` and ``FWLAB_MLFLOW_*`` from its target; a function run keeps its
    process's, e.g. those ``fwlab record --mlflow`` sets), restored after."""
    values: dict[str, str | None] = {RESULTS_ENV: str(run_dir)}
    if data["kind"] == "notebook":
        factories = ",".join(data.get("fit_callbacks") or ()) or None
        values.update({TENSORBOARD_ENV: data.get("tensorboard"), MLFLOW_ENV: None,
                       MLFLOW_EXPERIMENT_ENV: None, MLFLOW_RUN_ENV: None,
                       FIT_CALLBACKS_ENV: factories})  # fmt: skip
        if data.get("mlflow") is not None:
            values.update({MLFLOW_ENV: data["mlflow"], MLFLOW_RUN_ENV: data["mlflow_run"],
                           MLFLOW_EXPERIMENT_ENV: data["mlflow_experiment"]})  # fmt: skip
    return temporary_environ(values)


class _QuietWhileStopping(logging.Filter):
    """Drops papermill's and nbclient's log lines ("Kernel died while waiting for execute
    reply") once the run is being stopped: the engine killed that kernel on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = _CURRENT
        return current is None or not current.stop_requested.is_set()


_QUIET = _QuietWhileStopping()


def _output(data: Mapping[str, Any], run_dir: Path) -> Path:
    """Where a notebook run writes its executed notebook."""
    return run_dir / Path(data["notebook"]).name


class _AtomicOutput:
    """papermill's I/O handler for one run's executed notebook: every save (after each cell,
    and the last) replaces the file atomically (:mod:`fwlab.util.atomic`), so a full disk or a kill
    during a save leaves the previous complete save, never a torn or empty notebook; a failed
    save raises an ``OSError`` naming the notebook."""

    def __init__(self, path: Path) -> None:
        self.path = path.absolute()  # papermill runs the kernel in another working directory

    def write(self, buf: str, path: str) -> None:
        atomic_write_text(self.path, buf)

    def read(self, path: str) -> str:
        return self.path.read_text(encoding="utf-8")

    def pretty_path(self, path: str) -> str:
        return path


@contextlib.contextmanager
def _atomic_output(output: Path) -> Iterator[None]:
    """papermill writes ``output`` through :class:`_AtomicOutput` within the block. papermill
    picks a handler by the path's prefix ("scheme"): the output's own path is one."""
    from papermill.iorw import papermill_io

    entry = (str(output), _AtomicOutput(output))
    papermill_io.register(*entry)
    try:
        yield
    finally:  # papermill has no unregister
        with contextlib.suppress(ValueError, AttributeError):
            papermill_io._handlers.remove(entry)


def _run_notebook(data: Mapping[str, Any], run_dir: Path) -> None:
    import tempfile

    import papermill

    from fwlab.runs.kernel import kernel_manager_class

    nb = Path(data["notebook"])
    output = _output(data, run_dir)
    logging.getLogger("papermill").addFilter(_QUIET)
    # the kernel's Unix sockets live in a private folder, removed with it even when the kernel
    # died without cleaning up
    remove_kernel_dirs()  # left by killed runs
    prefix = f"{KERNEL_DIR_PREFIX}{os.getpid()}-"
    with tempfile.TemporaryDirectory(prefix=prefix) as sockets, _atomic_output(output):
        log = Path(sockets) / "kernel.log"  # the kernel process's own output, off the terminal
        try:
            papermill.execute_notebook(
                str(nb),
                str(output),
                parameters=dict(data["params"]),
                kernel_name=data["kernel"],
                execution_timeout=data["timeout"],
                cwd=data["cwd"] or str(nb.parent),
                progress_bar=False,
                kernel_manager_class=kernel_manager_class(sockets, log),
            )
        except Exception as err:  # a failed run's status keeps what the kernel process said
            tail = _tail(log)
            if tail and hasattr(err, "add_note"):
                err.add_note(f"the kernel process's last output:\n{tail}")
            raise


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _run_function(data: Mapping[str, Any], run_dir: Path) -> None:
    from fwlab.runs.record import record
    from fwlab.runs.target import Function

    with _sigint_held():  # imports the function's module (and torch, mostly)
        target = Function(data["function"])
    kwargs = dict(data["params"])
    if target.accepts("run_dir") and "run_dir" not in kwargs:
        kwargs["run_dir"] = run_dir
    result = target.resolve()(**kwargs)
    if result is not None:
        if not isinstance(result, Mapping):
            raise TypeError(
                f"{target.ref} returned a {type(result).__name__}; a run's function returns a "
                "dict of results (or None)"
            )
        record(dict(result))
