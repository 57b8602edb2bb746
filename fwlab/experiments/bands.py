r"""Mean and spread of a series across seeds: the bands drawn over recorded runs.

For seeds :math:`s = 1..n` with values :math:`y_s(x)` of one series at the steps ``x`` they share
(batches = gradient evaluations), the band is

.. math::

    \bar y(x) = \frac1n \sum_s y_s(x), \qquad
    \mathrm{lo}(x) = \min_s y_s(x), \qquad \mathrm{hi}(x) = \max_s y_s(x),

i.e. the mean and the full spread (min..max) over seeds. Seeds evaluated at different steps are
linearly interpolated onto the steps of the first seed inside the range all seeds cover.

Example:
    >>> h0 = {"eval": {"step": [10, 20, 30], "test_loss": [0.3, 0.2, 0.1]}}
    >>> h1 = {"eval": {"step": [10, 20, 30], "test_loss": [0.5, 0.2, 0.3]}}
    >>> b = seed_band({0: h0, 1: h1}, "eval", "test_loss")
    >>> b["x"].tolist(), b["mean"].round(3).tolist(), b["lo"].tolist(), b["hi"].tolist(), b["n"]
    ([10.0, 20.0, 30.0], [0.4, 0.2, 0.2], [0.3, 0.2, 0.1], [0.5, 0.2, 0.3], 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["seed_band"]


def _series(h: Mapping[str, Any], part: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    block = h.get(part, {})
    if key not in block or "step" not in block:
        raise ValueError(f"history has no series {part}.{key}; recorded keys: {sorted(block)}")
    pairs = [(s, v) for s, v in zip(block["step"], block[key], strict=True) if v is not None]
    if not pairs:
        return np.zeros(0), np.zeros(0)
    x, y = np.asarray(pairs, dtype=float).T
    ok = np.isfinite(y)
    return x[ok], y[ok]


def seed_band(
    histories: Mapping[int, Mapping[str, Any]], part: str = "eval", key: str = "test_loss"
) -> dict[str, Any]:
    """The band of ``histories[seed][part][key]`` over seeds (see the module docstring).

    Args:
        histories: seed → history (raw or compacted, :mod:`fwlab.train.recorded`).
        part, key: the series, e.g. ``("eval", "test_loss")``, ``("eval", "test_acc")``,
            ``("train", "loss")``.

    Returns:
        ``{"x", "mean", "lo", "hi"}`` as float arrays of one length, and ``n`` (seeds).

    Raises:
        ValueError: no histories, or a history without that series.
    """
    if not histories:
        raise ValueError("histories must hold at least one seed's history, got none")
    series = [_series(h, part, key) for _, h in sorted(histories.items())]
    series = [(x, y) for x, y in series if len(x)]
    if not series:
        empty = np.zeros(0)
        return {"x": empty, "mean": empty, "lo": empty, "hi": empty, "n": 0}
    start = max(x[0] for x, _ in series)
    stop = min(x[-1] for x, _ in series)
    grid = series[0][0]
    grid = grid[(grid >= start) & (grid <= stop)]
    ys = np.stack([np.interp(grid, x, y) for x, y in series])
    return {
        "x": grid,
        "mean": ys.mean(0),
        "lo": ys.min(0),
        "hi": ys.max(0),
        "n": len(series),
    }
