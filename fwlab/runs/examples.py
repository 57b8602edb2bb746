"""Small functions to run as studies: the package docstring's example and the engine's tests.

They are real targets (importable by name in any worker), not stand-ins: ``square`` computes,
``nap`` sleeps (a run that takes a while, to interrupt), ``fail`` raises.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

__all__ = ["fail", "nap", "square"]


def square(x: float, seed: int | None = None) -> dict[str, Any]:
    """``{"y": x * x}``; the seed is recorded beside it."""
    return {"y": x * x, "seed_seen": seed}


def nap(seconds: float, run_dir: Path, tag: str = "") -> dict[str, Any]:
    """Sleep ``seconds`` in steps of 50 ms (a run to interrupt), writing the pid of the process
    that runs it into ``started`` in its folder first; returns the seconds slept."""
    (Path(run_dir) / "started").write_text(str(os.getpid()))
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        time.sleep(0.05)
    return {"slept": round(time.monotonic() - t0, 3)}


def fail(message: str) -> None:
    """Raise ``ValueError(message)``: a failing run."""
    raise ValueError(message)
