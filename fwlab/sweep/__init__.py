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

from fwlab.runs import (
    CSV_FILE,
    DEFAULT_KERNEL,
    RESULTS_ENV,
    RESULTS_FILE,
    SCHEDULER_ENV,
    STATUS_FILE,
    format_table,
    gather,
    grid,
    notebook_parameters,
    parse_grid,
    parse_value,
    point_name,
    record,
    write_csv,
)
from fwlab.sweep.cli import run_command, run_run_cli, run_sweep_cli, sweep_command
from fwlab.sweep.runner import check_kernel, run_notebook, run_sweep

__all__ = [
    "CSV_FILE",
    "DEFAULT_KERNEL",
    "RESULTS_ENV",
    "RESULTS_FILE",
    "SCHEDULER_ENV",
    "STATUS_FILE",
    "check_kernel",
    "format_table",
    "gather",
    "grid",
    "notebook_parameters",
    "parse_grid",
    "parse_value",
    "point_name",
    "record",
    "run_command",
    "run_notebook",
    "run_run_cli",
    "run_sweep",
    "run_sweep_cli",
    "sweep_command",
    "write_csv",
]
