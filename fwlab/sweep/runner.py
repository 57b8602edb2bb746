"""Executing notebooks with papermill: one run or a grid of runs, and their Jupyter kernel."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import threading
import time
import traceback as _tb
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any

from fwlab.outdir import lock_output_dir
from fwlab.sweep._files import (
    CSV_FILE,
    DEFAULT_KERNEL,
    RESULTS_ENV,
    RESULTS_FILE,
    STATUS_FILE,
    TENSORBOARD_ENV,
    _read_json,
    _write_json,
)
from fwlab.sweep.executors import point_executor, resolve_scheduler
from fwlab.sweep.grid import grid, point_name
from fwlab.sweep.kernel import kernel_manager_class
from fwlab.sweep.results import gather, write_csv

_TRACEBACK_LINES = 30
_ENVIRON_LOCK = threading.Lock()
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def notebook_parameters(notebook: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The parameters declared in the notebook's cell tagged ``parameters``.

    Returns ``{name: {"name", "inferred_type_name", "default", "help"}}`` in the format of
    papermill's ``inspect_notebook``, read by :func:`fwlab.sweep.params.cell_parameters` (Python's
    own parser: lines papermill's reader drops, such as a comment holding ``=`` or an
    ``int | None`` annotation, are kept). Raises ``ValueError`` if there is no such cell or the
    file is not a notebook.
    """
    import nbformat

    from fwlab.sweep.params import cell_parameters

    path = Path(notebook)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; pass the notebook file (.ipynb) to run")
    if not path.is_file():
        raise FileNotFoundError(f"notebook not found: {path}")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # noqa: BLE001 - JSON errors, validation errors, bad encodings
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(
            f"{path} is not a Jupyter notebook that can be read ({first[:200]}); pass an .ipynb"
        ) from None
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ValueError(
            f"{path.name} has no cell tagged 'parameters'; tag the cell of defaults "
            "(View > Cell Toolbar > Tags in Jupyter) so that papermill can override them"
        )
    return cell_parameters(cells[0].source)


def _check_names(notebook: Path, names: Iterable[str]) -> None:
    declared = notebook_parameters(notebook)
    for name in names:
        if name not in declared:
            valid = ", ".join(declared) or "(none)"
            raise ValueError(
                f"unknown parameter {name!r} for {notebook.name}; its parameters cell "
                f"declares: {valid}"
            )


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _error_fields(err: BaseException) -> tuple[str, str]:
    """``("Type: message", traceback tail)`` of an exception, from the notebook when it has one."""
    ename = getattr(err, "ename", None)
    if ename is not None:  # papermill.PapermillExecutionError: the error raised in a cell
        message = f"{ename}: {err.evalue}"
        lines = "\n".join(err.traceback or []).splitlines()
    else:
        message = f"{type(err).__name__}: {err}"
        lines = "".join(_tb.format_exception(type(err), err, err.__traceback__)).splitlines()
    lines = [_ANSI.sub("", line) for line in lines]
    return message, "\n".join(lines[-_TRACEBACK_LINES:])


def run_notebook(
    notebook: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    kernel: str = DEFAULT_KERNEL,
    timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
    index: int | None = None,
    check_names: bool = True,
    tensorboard: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Execute ``notebook`` with papermill into ``out_dir`` and return its status dict.

    Writes ``out_dir/<notebook name>`` (the executed notebook), ``results.json`` (through
    :func:`record` in the notebook) and ``status.json``; a previous ``results.json`` is removed
    first. A failure inside the notebook does not raise: it comes back as ``status="failed"`` with
    ``error`` and ``traceback``. ``timeout`` is papermill's per-cell execution timeout in seconds
    (``None``: no limit; otherwise a number > 0); ``cwd`` is the kernel's working directory
    (default: the notebook's folder, as in JupyterLab). Unknown parameter names, a bad timeout
    and an ``out_dir`` that cannot be a writable folder raise ``ValueError`` before anything runs.

    ``out_dir`` is locked while the notebook runs (:func:`fwlab.outdir.lock_output_dir`): a
    second run into it fails at once. ``status.json`` records the SHA-256 of the notebook file
    (``notebook_sha256``), which :func:`run_sweep` uses to tell an edited notebook. A kernel that
    dies (killed, out of memory) fails the run within seconds with ``DeadKernelError``.

    ``tensorboard``: a folder; every :func:`fwlab.train.fit` in the notebook also writes a
    TensorBoard run under it (through ``FWLAB_TENSORBOARD_DIR``,
    :func:`fwlab.train.tensorboard.environment_loggers`).

    Sets ``FWLAB_RESULTS_DIR`` (and ``FWLAB_TENSORBOARD_DIR``) in this process's environment for
    the kernel while it runs (and restores them after), so call it from one thread at a time per
    process.
    """
    nb_path = Path(notebook).resolve()
    params = dict(parameters or {})
    _check_timeout(timeout)
    _check_cwd(cwd)
    if check_names:
        _check_names(nb_path, params)
    with lock_output_dir(out_dir) as out:
        return _run_locked(nb_path, out, params, kernel, timeout, cwd, index, tensorboard)


def _check_cwd(cwd: str | os.PathLike[str] | None) -> None:
    if cwd is not None and not Path(cwd).is_dir():
        what = "a file" if Path(cwd).exists() else "missing"
        raise ValueError(
            f"--cwd {cwd} is {what}; the kernel's working directory must be an existing folder"
        )


def _check_timeout(timeout: Any) -> None:
    if timeout is None:
        return
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not (math.isfinite(timeout) and timeout > 0)
    ):
        raise ValueError(
            f"timeout must be None (no limit) or a finite number of seconds > 0, got {timeout!r}"
        )


def notebook_digest(notebook: str | os.PathLike[str]) -> str:
    """The SHA-256 of the notebook file's bytes: what a sweep compares to skip a finished point."""
    return hashlib.sha256(Path(notebook).read_bytes()).hexdigest()


def _run_locked(
    nb_path: Path,
    out: Path,
    params: dict[str, Any],
    kernel: str,
    timeout: float | None,
    cwd: str | os.PathLike[str] | None,
    index: int | None,
    tensorboard: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    import papermill
    from nbclient.exceptions import DeadKernelError

    (out / RESULTS_FILE).unlink(missing_ok=True)
    status: dict[str, Any] = {
        "status": "running",
        "notebook": str(nb_path),
        "notebook_sha256": notebook_digest(nb_path),
        "params": params,
        "point": out.name,
        "index": index,
        "kernel": kernel,
        "output": nb_path.name,
        "started": _now(),
        "finished": None,
        "seconds": None,
        "error": None,
        "traceback": None,
    }
    _write_json(out / STATUS_FILE, status)
    kernel_env = {RESULTS_ENV: str(out), TENSORBOARD_ENV: None}
    if tensorboard is not None:
        kernel_env[TENSORBOARD_ENV] = str(Path(tensorboard).resolve())
    previous = {name: os.environ.get(name) for name in kernel_env}
    _set_environ(kernel_env)
    t0 = time.perf_counter()
    try:
        # the kernel's Unix sockets live in a private folder, removed with it even when the
        # kernel died without cleaning up
        with tempfile.TemporaryDirectory(prefix="fwlab-kernel-") as sockets:
            papermill.execute_notebook(
                str(nb_path),
                str(out / nb_path.name),
                parameters=params,
                kernel_name=kernel,
                execution_timeout=timeout,
                cwd=str(Path(cwd).resolve() if cwd is not None else nb_path.parent),
                progress_bar=False,
                kernel_manager_class=kernel_manager_class(sockets),
            )
        status["status"] = "ok"
    except DeadKernelError as err:
        status["status"] = "failed"
        status["error"] = (
            f"DeadKernelError: the kernel died while running the notebook ({err}): killed by a "
            "signal, or out of memory; the executed notebook shows the cell it was running"
        )
        status["traceback"] = _error_fields(err)[1]
    except Exception as err:  # noqa: BLE001 - a failed notebook is a result, not a crash
        status["status"] = "failed"
        status["error"], status["traceback"] = _error_fields(err)
    except KeyboardInterrupt:  # Ctrl-C: the folder says so, then the caller stops
        status.update(status="failed", error="KeyboardInterrupt: interrupted (Ctrl-C)")
        status.update(seconds=round(time.perf_counter() - t0, 3), finished=_now())
        _write_json(out / STATUS_FILE, status)
        raise
    finally:
        _set_environ(previous)
    status["seconds"] = round(time.perf_counter() - t0, 3)
    status["finished"] = _now()
    _write_json(out / STATUS_FILE, status)
    return status


def _set_environ(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _run_point(task: dict[str, Any]) -> dict[str, Any]:
    """Worker entry of a sweep: one grid point (top level so that it pickles). One point at a
    time per process: run_notebook hands the results folder to its kernel via os.environ (a Dask
    worker may run several threads)."""
    try:
        with _ENVIRON_LOCK:
            return run_notebook(**task, check_names=False)
    except Exception as err:  # noqa: BLE001 - e.g. an unwritable folder: still one row
        message, tb = _error_fields(err)
        return {
            "status": "failed",
            "params": task["parameters"],
            "point": Path(task["out_dir"]).name,
            "index": task["index"],
            "error": message,
            "traceback": tb,
            "seconds": None,
        }


def run_sweep(
    notebook: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    axes: Mapping[str, Sequence[Any]],
    fixed: Mapping[str, Any] | None = None,
    *,
    jobs: int = 2,
    kernel: str = DEFAULT_KERNEL,
    timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
    force: bool = False,
    log: Any = None,
    scheduler: str | None = None,
    tensorboard: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Run ``notebook`` at every point of ``grid(axes)`` (with the ``fixed`` parameters too).

    Each point runs in ``out_dir/<point_name(grid values)>`` via :func:`run_notebook`, ``jobs`` at
    a time in worker processes that die with this process (even by SIGKILL; their kernels follow
    them). ``out_dir`` is locked while the sweep runs. A point whose ``status.json`` says ``"ok"``
    for a notebook of the same content (SHA-256, wherever the file lives) and the same
    parameters (fixed ones included) is skipped unless ``force``; an edited notebook re-runs. A
    failing point is recorded and the others go on. Returns the :func:`gather` rows of this
    sweep's points, in grid order, after writing them to ``out_dir/results.csv`` (folders of
    other sweeps in ``out_dir`` are left out of both). ``log`` (a file, default stdout) gets one
    line per point.

    ``scheduler``: a Dask scheduler address (``"tcp://HOST:8786"``) sends the points to that
    cluster instead of the local pool; ``None`` uses ``$FWLAB_DASK_SCHEDULER`` when set;
    ``"local"`` forces the local pool (:mod:`fwlab.sweep.executors`). The guarantees are the
    same; a point whose worker dies is run again on another worker. ``tensorboard``: every
    ``fit`` of point ``<name>`` also logs to TensorBoard under ``tensorboard/<name>``.
    """
    log = sys.stdout if log is None else log
    nb_path = Path(notebook).resolve()
    fixed = dict(fixed or {})
    clash = sorted(set(fixed) & set(axes))
    if clash:
        raise ValueError(f"parameter(s) {', '.join(clash)} given both as --grid and as -p")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    _check_timeout(timeout)
    _check_cwd(cwd)
    scheduler = resolve_scheduler(scheduler)
    _check_names(nb_path, [*axes, *fixed])
    with lock_output_dir(out_dir) as out:
        return _sweep_locked(
            nb_path, out, axes, fixed, jobs, kernel, timeout, cwd, force, log, scheduler,
            None if tensorboard is None else Path(tensorboard).resolve(),
        )  # fmt: skip


def _sweep_locked(
    nb_path: Path,
    out: Path,
    axes: Mapping[str, Sequence[Any]],
    fixed: dict[str, Any],
    jobs: int,
    kernel: str,
    timeout: float | None,
    cwd: str | os.PathLike[str] | None,
    force: bool,
    log: Any,
    scheduler: str | None,
    tensorboard: Path | None,
) -> list[dict[str, Any]]:
    digest = notebook_digest(nb_path)
    points = grid(axes)
    names = [point_name(p) for p in points]
    tasks, skipped = [], 0
    for i, (point, name) in enumerate(zip(points, names)):
        params = {**point, **fixed}
        old = _read_json(out / name / STATUS_FILE) or {}
        same = (
            old.get("params") == json.loads(json.dumps(params))
            and old.get("notebook_sha256") == digest
        )
        if not force and same and old.get("status") == "ok":
            skipped += 1
            print(f"[skip] {name}: already ok ({old.get('seconds')} s)", file=log, flush=True)
            continue
        tasks.append(
            dict(
                notebook=str(nb_path),
                out_dir=str(out / name),
                parameters=params,
                kernel=kernel,
                timeout=timeout,
                cwd=None if cwd is None else str(cwd),
                index=i,
                tensorboard=None if tensorboard is None else str(tensorboard / name),
            )
        )
    print(
        f"sweep {nb_path.name}: {len(points)} points, {len(tasks)} to run, {skipped} already ok "
        f"-> {out}",
        file=log,
        flush=True,
    )
    if tasks:
        with point_executor(jobs, len(tasks), scheduler) as (pool, where):
            print(f"running {len(tasks)} points {where}", file=log, flush=True)
            futures = {pool.submit(_run_point, t): t for t in tasks}
            for done, fut in enumerate(as_completed(futures), 1):
                try:
                    st = fut.result()
                except Exception as err:  # noqa: BLE001 - e.g. a worker process was killed
                    task = futures[fut]
                    st = {
                        "status": "failed",
                        "point": Path(task["out_dir"]).name,
                        "seconds": None,
                        "error": _error_fields(err)[0],
                    }
                line = f"[{done}/{len(tasks)}] {st['point']}: {st['status']}"
                if st.get("seconds") is not None:
                    line += f" ({st['seconds']:.1f} s)"
                if st["status"] != "ok":
                    line += f" - {st['error']}"
                print(line, file=log, flush=True)
    by_point = {r["point"]: r for r in gather(out)}
    rows = []
    for point, name in zip(points, names):
        if name not in by_point:  # the worker could not even write status.json
            by_point[name] = {
                **point,
                **fixed,
                "status": "failed",
                "seconds": None,
                "error": "no status.json was written",
                "point": name,
            }
        rows.append(by_point[name])
    write_csv(rows, out / CSV_FILE)
    return rows


def check_kernel(name: str) -> None:
    """Raise ``ValueError`` saying how to get the Jupyter kernel ``name`` if it cannot start;
    the notebooks' own kernel ``fwlab`` is registered for this Python if it is missing
    (:func:`fwlab.jupyter_kernel.ensure_kernel`)."""
    from fwlab.jupyter_kernel import ensure_kernel

    ensure_kernel(name)
