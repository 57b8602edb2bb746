"""What several figure families share: how p is written, colours, log-axis values."""

from __future__ import annotations

import math

import numpy as np

from fwlab.exponent import as_p

METHOD_COLORS: dict[str, str] = {
    "fw": "#d62728",
    "gd": "#ff7f0e",
    "ngd": "#e377c2",
    "adam": "#2ca02c",
}


def format_p(p: float | str) -> str:
    """``"∞"`` for infinity, else the shortest decimal (``1``, ``1.5``)."""
    p = as_p(p)
    return "∞" if math.isinf(p) else f"{p:g}"


def _positive(v: np.ndarray) -> np.ndarray:
    """NaN where v <= 0 so a log axis shows a break instead of dropping the scale."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v > 0, v, np.nan)
