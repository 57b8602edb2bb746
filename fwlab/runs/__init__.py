r"""The run engine: a run is (target, parameters, seed); a study is a grid × seeds of runs.

Every command that runs many things (``fwlab run``, ``fwlab sweep``, ``fwlab record``,
``fwlab reproduce``, ``fwlab search``, and next the calibration) is a :class:`Study` of one
*target*:

* :class:`Notebook` ``(path, kernel=, timeout=, cwd=, tensorboard=)``: executed by papermill,
  the parameters injected after its cell tagged ``parameters``; it reports results with
  :func:`record` (``fwlab.record``).
* :class:`Function` ``("module:name")``: called as ``fn(**params)`` (plus ``seed=`` when the run
  has one, ``run_dir=`` when it takes it); it returns a dict of results (JSON data).

A :class:`Run` is ``(target, params, seed)``; its :meth:`Run.digest` is the SHA-256 of the
target's identity (the notebook's bytes; the function's name and source) and the arguments.
A :class:`Study` ``(target, out, grid, fixed=, seeds=)`` is every grid point × seed, each run
in ``out/<point_name>`` (``K=5__seed=0``). :meth:`Study.run` executes them and returns an
:class:`Outcome` (``.rows``; ``.table``: a pandas DataFrame); ``out/results.csv`` holds the
same rows. What the engine guarantees:

* **skip if done**: a run whose ``status.json`` says ``"ok"`` for the same digest is not run
  again (``force=True`` re-runs); an edited notebook or function, or other parameters, are
  not done;
* **claims** (:func:`claim`, ``filelock``): the study claims ``out``; the process executing a
  run claims its folder; the OS frees a claim when its process dies, even by SIGKILL;
* **status** (``status.json``, written atomically): ``"running"``, then ``"ok"``,
  ``"failed"`` (error and traceback) or ``"interrupted"``; a failing run does not stop the
  others. A full disk fails the run, never leaves it ``"running"``: the run holds a little space
  for its final status from its start, and the error names the file it could not write and says
  to free space and run the same command again; a notebook's executed copy is saved atomically
  after each cell (the last complete save, never torn or empty);
* **executors** with one interface (:mod:`fwlab.runs.executors`): :class:`Inline` (this
  process), :class:`LocalProcesses` (``jobs`` spawned workers that die with the study) and
  :class:`Dask` (``scheduler="tcp://HOST:8786"``); notebook kernels on private Unix sockets,
  a dead kernel fails its run within seconds (:mod:`fwlab.runs.kernel`);
* **Ctrl-C**: the first cancels the runs not started, lets nothing new start, stops the runs in
  progress (``"interrupted"``, no traceback; killed after 10 s) and raises
  :class:`Interrupted` (a ``KeyboardInterrupt``) whose message is one line naming what
  finished and how to resume; the second ends every run and worker at once. No process of
  the study survives it.

Example (a function over a grid × 2 seeds, in this process; ``jobs=2`` uses two workers):

    >>> import io, tempfile
    >>> from fwlab.runs import Inline, Study
    >>> out = tempfile.mkdtemp()
    >>> study = Study("fwlab.runs.examples:square", out, {"x": [1, 2]}, seeds=[0, 1])
    >>> [r.name for r in study.runs()]
    ['x=1__seed=0', 'x=1__seed=1', 'x=2__seed=0', 'x=2__seed=1']
    >>> outcome = study.run(executor=Inline(), log=io.StringIO())
    >>> outcome.table[["x", "seed", "y", "status"]].values.tolist()
    [[1, 0, 1, 'ok'], [1, 1, 1, 'ok'], [2, 0, 4, 'ok'], [2, 1, 4, 'ok']]
    >>> again = study.run(executor=Inline(), log=io.StringIO())  # all done: skipped
    >>> again.table["seconds"].tolist() == outcome.table["seconds"].tolist()
    True

**A recorded comparison** (``fwlab record``, :func:`fwlab.experiments.record.record`) is a
``Study(train_one, RUNS / name, [{"run": ..., "seed": ...}, ...], folder="{run}/seed{seed}",
shared=True)``: a list of points in queue order, each run in ``<run>/seed<k>``; ``shared``
leaves the study folder unclaimed, so two processes on one folder share the work (each run is
claimed; the other process reports it ``"busy"``); the calibration of
notebook 02's defaults is a study too (:func:`fwlab.experiments.calibration.calibration_study`).
"""

from fwlab.runs.executors import (
    SCHEDULER_ENV,
    Dask,
    Executor,
    Inline,
    LocalProcesses,
    resolve_scheduler,
)
from fwlab.runs.files import (
    CSV_FILE,
    DEFAULT_KERNEL,
    RESULTS_ENV,
    RESULTS_FILE,
    STATUS_FILE,
    STATUSES,
    is_done,
    read_status,
)
from fwlab.runs.grid import grid, parse_grid, parse_value, point_name
from fwlab.runs.params import notebook_parameters
from fwlab.runs.record import record
from fwlab.runs.results import format_table, gather, to_frame, write_csv
from fwlab.runs.run import Run
from fwlab.runs.study import Interrupted, Outcome, Study, resume_command
from fwlab.runs.target import Function, Notebook
from fwlab.util.outdir import Claimed, claim

__all__ = [
    "CSV_FILE",
    "Claimed",
    "DEFAULT_KERNEL",
    "Dask",
    "Executor",
    "Function",
    "Inline",
    "Interrupted",
    "LocalProcesses",
    "Notebook",
    "Outcome",
    "RESULTS_ENV",
    "RESULTS_FILE",
    "Run",
    "SCHEDULER_ENV",
    "STATUSES",
    "STATUS_FILE",
    "Study",
    "claim",
    "format_table",
    "gather",
    "grid",
    "is_done",
    "notebook_parameters",
    "parse_grid",
    "parse_value",
    "point_name",
    "read_status",
    "record",
    "resolve_scheduler",
    "resume_command",
    "to_frame",
    "write_csv",
]
