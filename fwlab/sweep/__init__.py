r"""Run notebooks headless with papermill, alone (``fwlab run``) or over a grid (``fwlab sweep``).

**How a notebook reports results.** A notebook calls :func:`record` with the numbers it wants in
the results table::

    from fwlab.sweep import record
    record(final_loss=float(loss), best_acc=best, seconds=elapsed)

The runner sets the environment variable ``FWLAB_RESULTS_DIR`` (:data:`RESULTS_ENV`) for the
kernel; :func:`record` then merges its arguments into ``$FWLAB_RESULTS_DIR/results.json`` (several
calls accumulate, a later value of the same name wins). Opened interactively, the variable is unset
and :func:`record` only returns the dict, so the same notebook runs in JupyterLab and in a sweep.

**What a run leaves on disk.** Every run (one ``fwlab run`` or one grid point of a sweep) writes one
folder holding

* the executed notebook, under the input notebook's file name (outputs and tracebacks included);
* ``results.json``: what the notebook passed to :func:`record` (absent if it never called it);
* ``status.json``: written by the runner: ``status`` (``"running"``, ``"ok"`` or ``"failed"``),
  ``params``, ``seconds``, ``started``/``finished`` (UTC ISO 8601), ``error`` (``"Type: message"``)
  and ``traceback`` (its last lines, ANSI colours stripped) for a failed run.

A sweep puts one such folder per grid point under its output folder, named by :func:`point_name`,
and gathers them with :func:`gather` into ``results.csv`` and a printed table.

Grid points run in separate worker processes (``--jobs``): papermill changes the working directory
of the process that drives a kernel and the results folder reaches the kernel through its
environment, so neither can be shared between threads. With ``--scheduler tcp://HOST:8786`` (or
``FWLAB_DASK_SCHEDULER``) the points go to the workers of a Dask cluster instead, with the same
guarantees (:mod:`fwlab.sweep.executors`).
"""

from fwlab.sweep._files import CSV_FILE, DEFAULT_KERNEL, RESULTS_ENV, RESULTS_FILE, STATUS_FILE
from fwlab.sweep.cli import (
    configure_run_parser,
    configure_sweep_parser,
    run_run_cli,
    run_sweep_cli,
)
from fwlab.sweep.executors import SCHEDULER_ENV
from fwlab.sweep.grid import grid, parse_grid, parse_value, point_name
from fwlab.sweep.record import record
from fwlab.sweep.results import format_table, gather, write_csv
from fwlab.sweep.runner import check_kernel, notebook_parameters, run_notebook, run_sweep

__all__ = [
    "CSV_FILE",
    "DEFAULT_KERNEL",
    "RESULTS_ENV",
    "RESULTS_FILE",
    "SCHEDULER_ENV",
    "STATUS_FILE",
    "check_kernel",
    "configure_run_parser",
    "configure_sweep_parser",
    "format_table",
    "gather",
    "grid",
    "notebook_parameters",
    "parse_grid",
    "parse_value",
    "point_name",
    "record",
    "run_notebook",
    "run_run_cli",
    "run_sweep",
    "run_sweep_cli",
    "write_csv",
]
