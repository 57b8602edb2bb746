"""The history of a run (plain JSON data): its layout, summary and atomic file I/O."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from fwlab.atomic import atomic_open
from fwlab.data.sequence_data import SequenceData
from fwlab.train.config import TrainConfig
from fwlab.train.methods import Method
from fwlab.train.run import Run

HISTORY = "history.json"


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
        "train": {"step": [], "loss": [], "lr": []},
        "eval": {
            "step": [],
            "epoch": [],
            "train_loss": [],
            "test_loss": [],
            "test_acc": [],
            "valid_loss": [],
            "valid_acc": [],
            "seconds": [],
        },
        "optimizer": {
            "step": [],
            "fw_gap": [],
            "dw_norm": [],
            "angle_deg": [],
            "delta": [],
            "K": [],
        },
        "events": [],
        "summary": {},
    }


def save_history(history: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``history`` as JSON atomically (temp file + rename); returns the path."""
    path = Path(path)
    with atomic_open(path, "w") as f:
        json.dump(history, f, allow_nan=True)
    return path


def _recent_train_loss(history: dict[str, Any], window: int) -> float:
    losses = history["train"]["loss"][-window:]
    return sum(losses) / len(losses) if losses else math.nan


def _summary(history: dict[str, Any], run: Run, wall: float) -> dict[str, Any]:
    ev = history["eval"]
    accs = [a for a in ev["test_acc"] if a is not None]
    summary: dict[str, Any] = {
        "steps": run.step,
        "epochs": run.epoch,
        "wall_time": wall,
        "stopped_early": run.stop_requested,
        "final_test_loss": ev["test_loss"][-1] if ev["test_loss"] else None,
        "best_test_loss": min(ev["test_loss"]) if ev["test_loss"] else None,
    }
    if accs:
        summary["final_test_acc"] = accs[-1]
        summary["best_test_acc"] = max(accs)
    summary.update(selected_by_validation(ev))
    return summary


def selected_by_validation(ev: dict[str, list]) -> dict[str, Any]:
    """The test values at the evaluation with the best validation value (first one on ties).

    Classification selects by the highest validation accuracy, regression by the lowest
    validation loss; returns ``{}`` when the run had no validation split.

    Example:
        >>> ev = {"step": [1, 2, 3], "test_loss": [0.5, 0.4, 0.1], "test_acc": [None] * 3,
        ...       "valid_loss": [0.6, 0.3, 0.35], "valid_acc": [None] * 3}
        >>> selected_by_validation(ev)
        {'selected_step': 2, 'test_loss_at_best_valid': 0.4}
    """
    vl = ev.get("valid_loss") or []
    if not vl or vl[0] is None:
        return {}
    va = ev.get("valid_acc") or []
    if va and va[0] is not None:
        i = max(range(len(va)), key=lambda j: (va[j], -j))
        return {
            "selected_step": ev["step"][i],
            "test_acc_at_best_valid": ev["test_acc"][i],
            "test_loss_at_best_valid": ev["test_loss"][i],
        }
    i = min(range(len(vl)), key=lambda j: (vl[j], j))
    return {"selected_step": ev["step"][i], "test_loss_at_best_valid": ev["test_loss"][i]}
