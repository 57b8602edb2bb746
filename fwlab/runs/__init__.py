r"""The run engine: a run is (target, parameters, seed); a study is a grid × seeds of runs.

Every command that runs many things (``fwlab run``, ``fwlab sweep``, ``fwlab record``,
``fwlab reproduce``, ``fwlab search``; and the calibration of notebook 02's defaults,
:func:`fwlab.experiments.calibration.calibration_study`) is a :class:`Study` of one *target*:

* :class:`Notebook` ``(path, kernel=, timeout=, cwd=, tensorboard=)``: executed by papermill,
  the parameters injected after its cell tagged ``parameters``; it reports results with
  :func:`record` (``fwlab.record``).
* :class:`Function` ``("module:name")``: called as ``fn(**params)`` (plus ``seed=`` when the run
  has one, ``run_dir=`` when it takes it); it returns a dict of results (JSON data).

A :class:`Run` is ``(target, params, seed)``, its :meth:`Run.digest` the SHA-256 of what ran.
A :class:`Study` ``(target, out, grid, fixed=, seeds=)`` is every grid point × seed, each run
in ``out/<point_name>`` (``K=5__seed=0``); :meth:`Study.run` executes them and returns an
:class:`Outcome` (``.rows``; ``.table``: a pandas DataFrame), also written to
``out/results.csv``. What the engine guarantees:

* **skip if done**: a run whose ``status.json`` says ``"ok"`` for the same digest is not run
  again (``force=True`` re-runs); an edited target or other parameters are not done;
* **claims** (:func:`claim`, ``filelock``): the study claims ``out``, the process executing a
  run claims its folder; the OS frees a claim when its process dies, even by SIGKILL;
* **status** (:mod:`fwlab.runs.files`): ``status.json``, written atomically, says
  ``"running"``, then ``"ok"``, ``"failed"`` or ``"interrupted"``; a failing run does not stop
  the others, and a full disk fails the run, never leaves it ``"running"``
  (:mod:`fwlab.runs.execute`);
* **executors** with one interface (:mod:`fwlab.runs.executors`): :class:`Inline`,
  :class:`LocalProcesses` and :class:`Dask`;
* **Ctrl-C** (:meth:`Study.run`): the first cancels the runs not started and stops the ones in
  progress, raising :class:`Interrupted` with one line naming what finished and how to resume;
  the second ends every run and worker at once. No process of the study survives it.

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
