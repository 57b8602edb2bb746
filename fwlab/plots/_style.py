"""What several figure families share: colours, log-axis values."""

from __future__ import annotations

import numpy as np

METHOD_COLORS: dict[str, str] = {
    "fw": "#d62728",
    "gd": "#ff7f0e",
    "ngd": "#e377c2",
    "adam": "#2ca02c",
}


def _positive(v: np.ndarray) -> np.ndarray:
    """NaN where v <= 0 so a log axis shows a break instead of dropping the scale."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v > 0, v, np.nan)
