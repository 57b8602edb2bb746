"""The files of a run folder: ``status.json``, ``results.json``, and their JSON I/O (the claim's
``.claim.lock`` is :func:`fwlab.util.outdir.claim`'s).

``status.json`` is the run's state, written atomically (:mod:`fwlab.util.atomic`) when the run
starts (``"running"``) and when it ends (``"ok"``, ``"failed"`` or ``"interrupted"``), so a
reader never sees half a file and a run killed mid-way still says ``"running"``. A run is
*done* when its status says ``"ok"`` for the same :attr:`~fwlab.runs.Run.digest` (what it ran:
the notebook's bytes or the function's identity and source, and its parameters and seed).

**A full disk** must not leave a run saying ``"running"``: a run holds :data:`RESERVE_FILE`
(:data:`RESERVE_BYTES` of zeros) from its start and removes it just before writing its final
status (:func:`write_final_status`), so that status finds room even when the run filled the
disk. A run killed mid-way leaves the reserve behind; the next run of the folder replaces it.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from fwlab.util.atomic import atomic_write, atomic_write_text

RESULTS_ENV = "FWLAB_RESULTS_DIR"
#: read by fwlab.train.fit in the kernel (fwlab.train.tensorboard.TENSORBOARD_ENV)
TENSORBOARD_ENV = "FWLAB_TENSORBOARD_DIR"
#: read by fwlab.train.fit in the kernel (fwlab.train.environment.CALLBACKS_ENV): the
#: "module:function" factories of callbacks every fit adds (a Notebook target's fit_callbacks)
FIT_CALLBACKS_ENV = "FWLAB_FIT_CALLBACKS"
#: read in the kernel by the MLflow integration's factory (named in FIT_CALLBACKS_ENV by
#: --mlflow): the MLflow store, experiment and the run's point (the first part of each run's name)
MLFLOW_ENV, MLFLOW_EXPERIMENT_ENV, MLFLOW_RUN_ENV = (
    "FWLAB_MLFLOW_URI",
    "FWLAB_MLFLOW_EXPERIMENT",
    "FWLAB_MLFLOW_RUN",
)
RESULTS_FILE = "results.json"
STATUS_FILE = "status.json"
CSV_FILE = "results.csv"
#: the space a run holds for its final status.json (see the module docstring)
RESERVE_FILE = ".status.reserve"
RESERVE_BYTES = 64 * 1024
#: the study's own claim on its folder
STUDY_CLAIM_FILE = ".study.lock"
#: the kernel the notebooks' metadata names
DEFAULT_KERNEL = "fwlab"


def _write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def reserve_space(run_dir: Path) -> None:
    """Hold :data:`RESERVE_BYTES` in ``run_dir`` for the run's final status (an ``OSError``, e.g.
    ENOSPC naming the reserve, when the disk has not even that much)."""
    atomic_write(run_dir / RESERVE_FILE, bytes(RESERVE_BYTES))


def write_final_status(run_dir: Path, status: dict[str, Any]) -> None:
    """Write a run's final ``status.json`` on a disk the run may have filled: first free the
    reserve; failing that, drop the traceback and free the old status file too (a reader
    then sees no status, which is not done, rather than ``"running"``)."""
    (run_dir / RESERVE_FILE).unlink(missing_ok=True)
    path = run_dir / STATUS_FILE
    try:
        _write_json(path, status)
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        _write_json(path, {**status, "traceback": None})


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_status(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's ``status.json`` as a dict, or ``None`` when it is missing or unreadable."""
    status = _read_json(Path(run_dir) / STATUS_FILE)
    return status if isinstance(status, dict) else None


def is_done(run_dir: str | Path, digest: str) -> bool:
    """Whether the run in ``run_dir`` finished ``"ok"`` with this ``digest``: an edited notebook,
    a changed function or other parameters are not done."""
    status = read_status(run_dir) or {}
    return status.get("status") == "ok" and status.get("digest") == digest
