r"""Notebooks headless with papermill, alone (``fwlab run``) or over a grid (``fwlab sweep``):
studies of a :class:`fwlab.runs.Notebook` on the run engine (:mod:`fwlab.runs`).

A notebook reports its results with :func:`fwlab.record` (:func:`fwlab.runs.record`), which
writes them into the run's folder under the engine and only returns them in JupyterLab.

**What a run leaves on disk.** Every run (one ``fwlab run`` or one grid point of a sweep) writes one
folder holding

* the executed notebook, under the input notebook's file name (outputs and tracebacks included);
* ``results.json``: what the notebook passed to :func:`record` (absent if it never called it);
* ``status.json``: ``status`` (``"running"``, ``"ok"``, ``"failed"`` or ``"interrupted"``),
  ``params``, ``digest`` (what ran: the notebook's bytes and the parameters),
  ``notebook_sha256``, ``seconds``,
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

__all__ = ["notebook_parameters", "run_notebook", "run_sweep"]


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

    A study of one run (:class:`fwlab.runs.Study` with ``flat=True``) that reruns every time (a
    single run is what was asked for): the module docstring lists what it writes, and a failure
    inside the notebook comes back as ``status="failed"`` with ``error`` and ``traceback``.
    ``kernel``, ``timeout``, ``cwd``, ``tensorboard``, ``mlflow``, ``mlflow_experiment`` and
    ``fit_callbacks`` are :class:`fwlab.runs.Notebook`'s (``mlflow`` runs are named
    ``<out_dir name>/<method>-seed<seed>``). Unknown parameter names, a bad timeout and an
    ``out_dir`` that cannot be a writable folder raise ``ValueError`` before anything runs
    (``check_names=False`` skips the names). ``out_dir`` is claimed while the notebook runs (a
    second run into it fails at once). A kernel that dies (killed, out of memory) fails the run
    within seconds with ``DeadKernelError``. Ctrl-C stops the run (``status="interrupted"``) and
    raises :class:`fwlab.runs.Interrupted`.
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
    a :class:`fwlab.runs.Study`, each point in ``out_dir/<point_name(grid values)>``; returns
    the rows of this sweep's points in grid order, also written to ``out_dir/results.csv``
    (folders of other sweeps in ``out_dir`` are left out of both).

    ``jobs``, ``scheduler``, ``force``, ``log`` and ``resume`` are :meth:`fwlab.runs.Study.run`'s
    (skip if done, claims, a failing point recorded while the others go on, Ctrl-C); the other
    options are :func:`run_notebook`'s, ``tensorboard`` and ``mlflow`` naming each point's runs
    ``<name>/...``.
    """
    target = Notebook(Path(notebook), kernel=kernel, timeout=timeout, cwd=cwd,
                      tensorboard=tensorboard, mlflow=mlflow,
                      mlflow_experiment=mlflow_experiment,
                      fit_callbacks=tuple(fit_callbacks))  # fmt: skip
    study = Study(target, out_dir, axes, fixed=fixed)
    return study.run(jobs=jobs, scheduler=scheduler, force=force, log=log, resume=resume).rows
