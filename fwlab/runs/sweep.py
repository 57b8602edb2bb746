r"""Notebooks headless with papermill, alone (``fwlab run``) or over a grid (``fwlab sweep``):
studies of a :class:`fwlab.runs.Notebook` on the run engine (:mod:`fwlab.runs`).

**How a notebook reports results.** A notebook calls :func:`record` (``fwlab.record``) with the
numbers it wants in the results table::

    from fwlab import record
    record(final_loss=float(loss), best_acc=best, seconds=elapsed)

The engine sets the environment variable ``FWLAB_RESULTS_DIR`` (:data:`RESULTS_ENV`) for the
kernel; :func:`record` then merges its arguments into ``$FWLAB_RESULTS_DIR/results.json`` (several
calls accumulate, a later value of the same name wins). Opened interactively, the variable is unset
and :func:`record` only returns the dict, so the same notebook runs in JupyterLab and in a sweep.

**What a run leaves on disk.** Every run (one ``fwlab run`` or one grid point of a sweep) writes one
folder holding

* the executed notebook, under the input notebook's file name (outputs and tracebacks included);
* ``results.json``: what the notebook passed to :func:`record` (absent if it never called it);
* ``status.json``: ``status`` (``"running"``, ``"ok"``, ``"failed"`` or ``"interrupted"``),
  ``params``, ``digest`` (what ran: the notebook's bytes and the parameters), ``seconds``,
  ``started``/``finished`` (UTC ISO 8601), ``error`` (``"Type: message"``) and ``traceback``
  (its last lines, ANSI colours stripped) for a failed run;
* ``.claim.lock``: the claim of the process that runs it (empty; :func:`fwlab.runs.claim`).

A sweep puts one such folder per grid point under its output folder, named by :func:`point_name`,
and gathers them with :func:`gather` into ``results.csv`` and a printed table. Points run in
local worker processes (``--jobs``) or on a Dask cluster (``--scheduler``,
``FWLAB_DASK_SCHEDULER``), with the same guarantees (:mod:`fwlab.runs.executors`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fwlab.runs import (
    DEFAULT_KERNEL,
    Claimed,
    Inline,
    Notebook,
    Study,
    notebook_parameters,
    read_status,
)

__all__ = ["check_kernel", "notebook_parameters", "run_notebook", "run_sweep"]


def run_notebook(
    notebook: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    kernel: str = DEFAULT_KERNEL,
    timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
    check_names: bool = True,
    tensorboard: str | os.PathLike[str] | None = None,
    mlflow: str | None = None,
    mlflow_experiment: str = "fwlab",
    fit_callbacks: Sequence[str] = (),
    log: Any = None,
    resume: str | None = None,
) -> dict[str, Any]:
    """Execute ``notebook`` with papermill into ``out_dir`` in this process; return its status.

    Writes ``out_dir/<notebook name>`` (the executed notebook), ``results.json`` (through
    :func:`fwlab.record` in the notebook) and ``status.json``; a previous ``results.json`` is
    removed first. A failure inside the notebook does not raise: it comes back as
    ``status="failed"`` with ``error`` and ``traceback``. ``timeout`` is papermill's per-cell
    execution timeout in seconds (``None``: no limit; otherwise a number > 0); ``cwd`` is the
    kernel's working directory (default: the notebook's folder, as in JupyterLab). Unknown
    parameter names, a bad timeout and an ``out_dir`` that cannot be a writable folder raise
    ``ValueError`` before anything runs (``check_names=False`` skips the names).

    ``out_dir`` is claimed while the notebook runs (a second run into it fails at once).
    ``status.json`` records the notebook file's SHA-256 (``notebook_sha256``) and the run's
    ``digest``. A kernel that dies (killed, out of memory) fails the run within seconds with
    ``DeadKernelError``. Ctrl-C stops the run (``status="interrupted"``) and raises
    :class:`fwlab.runs.Interrupted`. ``tensorboard``: a folder; every :func:`fwlab.train.fit`
    in the notebook also writes a TensorBoard run under it. ``mlflow``: a tracking URI
    (:func:`fwlab.integrations.mlflow.prepare_store`); every ``fit`` in the notebook also logs
    an MLflow run ``<out_dir name>/<method>-seed<seed>`` into ``mlflow_experiment``, through
    ``fit_callbacks`` (``"module:function"`` factories every ``fit`` calls for callbacks: here
    :data:`fwlab.integrations.mlflow.FIT_CALLBACKS`; see :class:`fwlab.runs.Notebook`).

    Unlike a sweep, the run reruns every time (a single run is what was asked for).
    """
    target = Notebook(Path(notebook), kernel=kernel, timeout=timeout, cwd=cwd,
                      tensorboard=tensorboard, mlflow=mlflow,
                      mlflow_experiment=mlflow_experiment,
                      fit_callbacks=tuple(fit_callbacks))  # fmt: skip
    study = Study(target, out_dir, fixed=parameters, flat=True, check_names=check_names)
    outcome = study.run(executor=Inline(), force=True, log=log or io.StringIO(), resume=resume)
    if outcome.rows[0]["status"] == "busy":  # the folder is a run another process executes
        raise Claimed(outcome.rows[0]["error"])
    return read_status(Path(out_dir)) or outcome.rows[0]


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
    mlflow: str | None = None,
    mlflow_experiment: str = "fwlab",
    fit_callbacks: Sequence[str] = (),
    resume: str | None = None,
) -> list[dict[str, Any]]:
    """Run ``notebook`` at every point of ``grid(axes)`` (with the ``fixed`` parameters too):
    a :class:`fwlab.runs.Study` (see :meth:`fwlab.runs.Study.run` for the guarantees).

    Each point runs in ``out_dir/<point_name(grid values)>``, ``jobs`` at a time in worker
    processes that die with this process (even by SIGKILL; their kernels follow them), or on
    the Dask cluster at ``scheduler`` (``None``: ``$FWLAB_DASK_SCHEDULER`` when set;
    ``"local"`` forces local processes). ``out_dir`` is claimed while the sweep runs. A point
    whose ``status.json`` says ``"ok"`` for a notebook of the same content (wherever the file
    lives) and the same parameters is skipped unless ``force``; an edited notebook re-runs. A
    failing point is recorded and the others go on. Returns the rows of this sweep's points,
    in grid order, after writing them to ``out_dir/results.csv`` (folders of other sweeps in
    ``out_dir`` are left out of both). ``log`` (a file, default stdout) gets one line per
    point. ``tensorboard``: every ``fit`` of point ``<name>`` also logs to TensorBoard under
    ``tensorboard/<name>``; ``mlflow``: a tracking URI
    (:func:`fwlab.integrations.mlflow.prepare_store`), every ``fit`` of point ``<name>`` also
    logs the MLflow run ``<name>/<method>-seed<seed>`` into ``mlflow_experiment`` (through
    ``fit_callbacks``, as in :func:`run_notebook`). Ctrl-C: see
    :meth:`fwlab.runs.Study.run` (``resume`` is the
    command its one line names).
    """
    target = Notebook(Path(notebook), kernel=kernel, timeout=timeout, cwd=cwd,
                      tensorboard=tensorboard, mlflow=mlflow,
                      mlflow_experiment=mlflow_experiment,
                      fit_callbacks=tuple(fit_callbacks))  # fmt: skip
    study = Study(target, out_dir, axes, fixed=fixed)
    return study.run(jobs=jobs, scheduler=scheduler, force=force, log=log, resume=resume).rows


def check_kernel(name: str) -> None:
    """Raise ``ValueError`` saying how to get the Jupyter kernel ``name`` if it cannot start;
    the notebooks' own kernel ``fwlab`` is registered for this Python if it is missing
    (:func:`fwlab.runs.jupyter_kernel.ensure_kernel`)."""
    from fwlab.runs.jupyter_kernel import ensure_kernel

    ensure_kernel(name)
