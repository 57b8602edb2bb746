"""The files of a run folder (results, status, csv) and their atomic JSON I/O."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RESULTS_ENV = "FWLAB_RESULTS_DIR"
RESULTS_FILE = "results.json"
STATUS_FILE = "status.json"
CSV_FILE = "results.csv"
DEFAULT_KERNEL = "fwlab"


def _write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
