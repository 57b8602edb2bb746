"""Provenance of a recorded result: command, commit, date, machine and wall time.

Example:
    >>> p = provenance("fwlab record adding-paper --runs RUNS", wall_seconds=12.34)
    >>> sorted(p), p["wall_seconds"]
    (['command', 'commit', 'date', 'machine', 'wall_seconds'], 12.3)
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = ["provenance", "current_commit"]


def current_commit() -> str | None:
    """``$FWLAB_COMMIT`` if set (a run from an exported snapshot of a commit), else the
    ``git rev-parse HEAD`` of the checkout fwlab is imported from, else ``None``."""
    if os.environ.get("FWLAB_COMMIT"):
        return os.environ["FWLAB_COMMIT"]
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def provenance(command: str, *, wall_seconds: float) -> dict[str, Any]:
    """A dict of ``command``, ``commit``, ``date`` (UTC), ``machine`` and ``wall_seconds``."""
    import torch

    return dict(
        command=command,
        commit=current_commit(),
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)",
        wall_seconds=round(float(wall_seconds), 1),
    )
