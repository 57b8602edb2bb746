r"""Mean and spread of a series across seeds: the bands drawn over recorded runs.

For seeds :math:`s = 1..n` with values :math:`y_s(x)` of one series at the steps ``x`` they share
(batches = gradient evaluations), the band is

.. math::

    \bar y(x) = \frac1n \sum_s y_s(x), \qquad
    \mathrm{lo}(x) = \min_s y_s(x), \qquad \mathrm{hi}(x) = \max_s y_s(x),

i.e. the mean and the full spread (min..max) over seeds. Seeds evaluated at different steps are
linearly interpolated onto the steps of the first seed inside the range all seeds cover.

NaN and inf are outcomes, never averaged: a seed's non-finite values are left out of its series
(so the band ends where the first kept seed stops being finite), a seed with no finite value at
all (diverged from the start) is left out of the band, and the result says so: ``n`` counts the
seeds in the band, ``dropped`` names the seeds left out, ``nonfinite`` counts the values removed.

Example:
    >>> h0 = {"eval": {"step": [10, 20, 30], "test_loss": [0.3, 0.2, 0.1]}}
    >>> h1 = {"eval": {"step": [10, 20, 30], "test_loss": [0.5, 0.2, 0.3]}}
    >>> b = seed_band({0: h0, 1: h1}, "eval", "test_loss")
    >>> b["x"].tolist(), b["mean"].round(3).tolist(), b["lo"].tolist(), b["hi"].tolist(), b["n"]
    ([10.0, 20.0, 30.0], [0.4, 0.2, 0.2], [0.3, 0.2, 0.1], [0.5, 0.2, 0.3], 2)
    >>> h2 = {"eval": {"step": [10, 20, 30], "test_loss": [float("nan")] * 3}}
    >>> b = seed_band({0: h0, 1: h1, 2: h2}, "eval", "test_loss")
    >>> b["n"], b["dropped"], b["nonfinite"], band_note(b)
    (2, [2], 3, '2 of 3 seeds; seed 2 left out: no finite value (diverged)')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["band_note", "seed_band"]


def _series(h: Mapping[str, Any], part: str, key: str) -> tuple[np.ndarray, np.ndarray, int]:
    """The finite points of one seed's series, and how many non-finite ones were left out."""
    block = h.get(part, {})
    if key not in block or "step" not in block:
        raise ValueError(f"history has no series {part}.{key}; recorded keys: {sorted(block)}")
    pairs = [(s, v) for s, v in zip(block["step"], block[key], strict=True) if v is not None]
    if not pairs:
        return np.zeros(0), np.zeros(0), 0
    x, y = np.asarray(pairs, dtype=float).T
    ok = np.isfinite(y)
    return x[ok], y[ok], int((~ok).sum())


def band_note(band: Mapping[str, Any]) -> str:
    """How many seeds a band holds and, where some were left out or had non-finite values,
    which and why: the words a figure shows beside the band (see the module docstring)."""
    total = band["n"] + len(band["dropped"])
    note = f"{band['n']} of {total} seeds" if band["dropped"] else f"{band['n']} seeds"
    if band["dropped"]:
        which = ", ".join(str(s) for s in band["dropped"])
        plural = "s" if len(band["dropped"]) > 1 else ""
        note += f"; seed{plural} {which} left out: no finite value (diverged)"
    kept_nonfinite = band["nonfinite"] - band.get("dropped_values", 0)
    if kept_nonfinite:
        plural = "s" if kept_nonfinite > 1 else ""
        note += f"; {kept_nonfinite} NaN/inf value{plural} of the others left out"
    return note


def seed_band(
    histories: Mapping[int, Mapping[str, Any]], part: str = "eval", key: str = "test_loss"
) -> dict[str, Any]:
    """The band of ``histories[seed][part][key]`` over seeds (see the module docstring).

    Args:
        histories: seed → history (raw or compacted, :mod:`fwlab.experiments.recorded`).
        part, key: the series, e.g. ``("eval", "test_loss")``, ``("eval", "test_acc")``,
            ``("train", "loss")``.

    Returns:
        ``{"x", "mean", "lo", "hi"}`` as float arrays of one length, ``n`` (seeds in the band),
        ``dropped`` (seeds left out: no finite value), ``nonfinite`` (NaN/inf values left out,
        all seeds) and ``dropped_values`` (those of the dropped seeds).

    Raises:
        ValueError: no histories, or a history without that series.
    """
    if not histories:
        raise ValueError("histories must hold at least one seed's history, got none")
    every = [(seed, *_series(h, part, key)) for seed, h in sorted(histories.items())]
    series = [(x, y) for _, x, y, _ in every if len(x)]
    dropped = [seed for seed, x, _, bad in every if not len(x) and bad]
    counts = {
        "dropped": dropped,
        "nonfinite": sum(bad for *_, bad in every),
        "dropped_values": sum(bad for seed, *_, bad in every if seed in dropped),
    }
    if not series:
        empty = np.zeros(0)
        return {"x": empty, "mean": empty, "lo": empty, "hi": empty, "n": 0, **counts}
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
        **counts,
    }
