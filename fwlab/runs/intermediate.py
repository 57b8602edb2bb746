"""A run's intermediate values during a search, and the search's answer: go on, or prune.

A trial of :func:`fwlab.integrations.optuna.search` runs where the run engine puts it (a
worker process, a Dask worker, a notebook kernel). It reports with :func:`report`, which merges
``{step: {name: value}}`` into ``intermediate.json`` in the run's folder (atomically); the
search, in its own process, reads the file, passes the search metric's values to Optuna's
pruner and, when the pruner says so, writes ``prune`` into that folder. :func:`report` returns
``True`` from then on: the run should stop and return (or ``raise optuna.TrialPruned()``).
Only the search's process touches the Optuna storage.

Outside a run (``FWLAB_RESULTS_DIR`` unset) nothing is written and the answer is ``False``.

Example:
    >>> import os
    >>> os.environ.pop("FWLAB_RESULTS_DIR", None)
    >>> report(10, valid_loss=0.25)
    False
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

from fwlab.runs.files import RESULTS_ENV, _read_json, _write_json
from fwlab.util.validate import nonnegative_int

__all__ = ["INTERMEDIATE_FILE", "PRUNE_FILE", "read_intermediate", "report", "should_prune"]

INTERMEDIATE_FILE = "intermediate.json"
PRUNE_FILE = "prune"
#: set by a search while it runs trials in its own process (the Inline executor): called after
#: each report, so that the pruner judges the run before it goes on
_IN_PROCESS_POLL: Callable[[], None] | None = None


def _run_dir() -> Path | None:
    folder = os.environ.get(RESULTS_ENV)
    return Path(folder) if folder else None


def should_prune() -> bool:
    """Whether the search asked this run to stop (its pruner judged the trial unpromising)."""
    folder = _run_dir()
    return folder is not None and (folder / PRUNE_FILE).exists()


def report(step: int, values: dict[str, float] | None = None, /, **kwargs: float) -> bool:
    """Report the values of this run at ``step`` (e.g. an evaluation's ``valid_loss``) and
    return :func:`should_prune`. Values are numbers (NaN and ±inf allowed: a diverged run)."""
    step = nonnegative_int("step", step)
    merged = {**(values or {}), **kwargs}
    clean = {}
    for name, value in merged.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"report(): {name} must be a number, got {value!r}")
        clean[str(name)] = float(value)
    folder = _run_dir()
    if folder is None:
        return False
    path = folder / INTERMEDIATE_FILE
    current = _read_json(path) or {}
    current.setdefault(str(step), {}).update({k: _json_number(v) for k, v in clean.items()})
    _write_json(path, current)
    if _IN_PROCESS_POLL is not None:
        _IN_PROCESS_POLL()
    return should_prune()


def _json_number(value: float) -> float | str:
    return value if math.isfinite(value) else repr(value)  # "nan", "inf": valid JSON


def read_intermediate(run_dir: str | os.PathLike[str]) -> dict[int, dict[str, float]]:
    """``{step: {name: value}}`` reported by the run in ``run_dir`` (empty when none)."""
    raw = _read_json(Path(run_dir) / INTERMEDIATE_FILE)
    if not isinstance(raw, dict):
        return {}
    out = {}
    for step, values in raw.items():
        if isinstance(values, dict):
            out[int(step)] = {k: float(v) for k, v in values.items()}
    return dict(sorted(out.items()))
