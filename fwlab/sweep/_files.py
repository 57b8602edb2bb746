"""The files of a run folder (results, status, csv) and their atomic JSON I/O."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fwlab.atomic import atomic_write_text

RESULTS_ENV = "FWLAB_RESULTS_DIR"
#: read by fwlab.train.fit in the kernel (fwlab.train.tensorboard.TENSORBOARD_ENV)
TENSORBOARD_ENV = "FWLAB_TENSORBOARD_DIR"
RESULTS_FILE = "results.json"
STATUS_FILE = "status.json"
CSV_FILE = "results.csv"
DEFAULT_KERNEL = "fwlab"


def _write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
