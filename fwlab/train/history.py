"""The history of a run (plain JSON data): its layout, summary and atomic file I/O."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from fwlab.data.sequence_data import SequenceData
from fwlab.train.config import TrainConfig
from fwlab.train.methods import Method
from fwlab.train.run import Run
from fwlab.train.scalars import PARTS
from fwlab.util.atomic import atomic_open

HISTORY = "history.json"
#: the series of each per-step part of a history, in order (``optimizer``: per Frank-Wolfe outer
#: step, of the first param group)
SERIES = {
    "train": ("step", "loss", "lr"),
    "eval": (
        "step",
        "epoch",
        "train_loss",
        "test_loss",
        "test_acc",
        "valid_loss",
        "valid_acc",
        "seconds",
    ),
    "optimizer": ("step", "fw_gap", "dw_norm", "angle_deg", "delta", "K"),
}
#: the run's provenance (:class:`fwlab.runs.provenance.ProvenanceFile` writes it)
PROVENANCE = "provenance.json"


def _new_history(method: Method, config: TrainConfig, data: SequenceData) -> dict[str, Any]:
    return {
        "task": data.name,
        "method": method.to_dict(),
        "config": config.to_dict(),
        "data": {
            "n_train": len(data.train),
            "n_test": len(data.test),
            "n_valid": len(data.valid) if data.valid is not None else 0,
            "seq_len": data.seq_len,
        },
        **{part: {key: [] for key in keys} for part, keys in SERIES.items()},
        "events": [],
        "summary": {},
    }


def save_history(history: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``history`` as JSON atomically (temp file + rename); returns the path."""
    path = Path(path)
    with atomic_open(path, "w") as f:
        json.dump(history, f, allow_nan=True)
    return path


def load_history(path: str | os.PathLike) -> dict[str, Any]:
    """Read a history that :func:`save_history` wrote (NaN and inf come back as floats).

    Raises:
        FileNotFoundError: no file at ``path`` (the message names it).
        ValueError: the file is not JSON, or not a fwlab history (it lacks a key of
            :data:`fwlab.train.scalars.PARTS`); one line naming ``path``.

    Example:
        >>> import tempfile
        >>> from fwlab.train.history import load_history, save_history
        >>> h = {"train": {"loss": [float("nan")]}, "eval": {}, "optimizer": {}}
        >>> path = save_history(h, Path(tempfile.mkdtemp()) / HISTORY)
        >>> load_history(path)["train"]
        {'loss': [nan]}
        >>> _ = path.write_text("{trunc")
        >>> load_history(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: '.../history.json' is not a history (not JSON: Expecting property name ...)
    """
    path = Path(path)
    try:
        history = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{str(path)!r} is not a history (not JSON: {err})") from err
    if not isinstance(history, dict) or not all(k in history for k in PARTS):
        raise ValueError(f"{str(path)!r} is not a fwlab history: it needs the keys {list(PARTS)}")
    return history


def _recent_train_loss(history: dict[str, Any], window: int) -> float:
    losses = history["train"]["loss"][-window:]
    return sum(losses) / len(losses) if losses else math.nan


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(value)


def _summary(history: dict[str, Any], run: Run, wall: float) -> dict[str, Any]:
    """Final and best test values. A NaN/inf evaluation is an outcome, never a comparand: the
    final values are the last evaluation's as they are (NaN if it diverged), the best ones are
    taken over the finite evaluations only (None if there is none), and ``nonfinite_evals``
    counts the evaluations whose test loss was NaN/inf."""
    ev = history["eval"]
    losses = ev["test_loss"]
    finite_losses = [v for v in losses if _finite(v)]
    accs = [a for a in ev["test_acc"] if a is not None]
    finite_accs = [a for a in accs if _finite(a)]
    summary: dict[str, Any] = {
        "steps": run.step,
        "epochs": run.epoch,
        "wall_time": wall,
        "stopped_early": run.stop_requested,
        "final_test_loss": losses[-1] if losses else None,
        "best_test_loss": min(finite_losses) if finite_losses else None,
        "nonfinite_evals": sum(1 for v in losses if not _finite(v)),
    }
    if accs:
        summary["final_test_acc"] = accs[-1]
        summary["best_test_acc"] = max(finite_accs) if finite_accs else None
    summary.update(selected_by_validation(ev))
    return summary


def selected_by_validation(ev: dict[str, list]) -> dict[str, Any]:
    """The test values at the evaluation with the best validation value (first one on ties).

    Classification selects by the highest validation accuracy, regression by the lowest
    validation loss; returns ``{}`` when the run had no validation split. Only finite
    validation values compete (a NaN compares false with everything, so it would otherwise
    win or stop the search wherever it stands); ``valid_nonfinite_skipped`` says how many
    evaluations were passed over for that, and when none is finite the selected values are
    ``None``.

    Example:
        >>> ev = {"step": [1, 2, 3], "test_loss": [0.5, 0.4, 0.1], "test_acc": [None] * 3,
        ...       "valid_loss": [float("nan"), 0.3, 0.35], "valid_acc": [None] * 3}
        >>> selected_by_validation(ev)
        {'selected_step': 2, 'test_loss_at_best_valid': 0.4, 'valid_nonfinite_skipped': 1}
    """
    vl = ev.get("valid_loss") or []
    if not vl or vl[0] is None:
        return {}
    va = ev.get("valid_acc") or []
    by_acc = bool(va and va[0] is not None)
    values = va if by_acc else vl
    finite = [j for j, v in enumerate(values) if _finite(v)]
    out: dict[str, Any] = {"selected_step": None}
    if finite:
        if by_acc:
            i = max(finite, key=lambda j: (values[j], -j))
        else:
            i = min(finite, key=lambda j: (values[j], j))
        out["selected_step"] = ev["step"][i]
    pick = (lambda key: ev[key][i]) if finite else (lambda key: None)
    if by_acc:
        out["test_acc_at_best_valid"] = pick("test_acc")
    out["test_loss_at_best_valid"] = pick("test_loss")
    out["valid_nonfinite_skipped"] = len(values) - len(finite)
    return out
