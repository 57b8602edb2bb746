"""Gathering a study's run folders into rows, ``results.csv``, a DataFrame and a text table."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fwlab.runs.files import RESULTS_FILE, STATUS_FILE, _read_json
from fwlab.util.atomic import atomic_open
from fwlab.util.table import text_table

_STATUS_COLUMNS = ("status", "seconds", "error", "point")


def gather(out_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """One flat row per run found under ``out_dir`` (its sub-folders, and itself).

    A row holds the run's parameters, then its recorded metrics, then ``status``, ``seconds``,
    ``error`` and ``point`` (the folder name). A metric whose name is also a parameter or one of
    those columns is renamed ``result.<name>``. Rows follow the grid order of the sweep
    (``index`` in ``status.json``), then the folder name. Folders without a ``status.json`` are
    ignored; a ``results.json`` that cannot be read leaves the metrics empty.
    """
    root = Path(out_dir)
    folders = [root, *sorted(p for p in root.iterdir() if p.is_dir())] if root.is_dir() else []
    found = []
    for folder in folders:
        row = read_row(folder)
        if row is not None:
            index = row.pop("_index")
            found.append(((index if isinstance(index, int) else math.inf, folder.name), row))
    found.sort(key=lambda item: item[0])
    return [row for _, row in found]


def read_row(folder: Path, point: str | None = None) -> dict[str, Any] | None:
    """The row of the run in ``folder`` (``None`` without a ``status.json``); ``point`` names
    it (default: the folder's name); ``_index`` holds its place in its study."""
    st = _read_json(folder / STATUS_FILE)
    if not isinstance(st, dict):
        return None
    metrics = _read_json(folder / RESULTS_FILE)
    metrics = metrics if isinstance(metrics, dict) else {}
    params = st.get("params") or {}
    row: dict[str, Any] = dict(params)
    for key, value in metrics.items():
        taken = key in params or key in _STATUS_COLUMNS
        row[f"result.{key}" if taken else key] = value
    row.update(status=st.get("status"), seconds=st.get("seconds"), error=st.get("error"),
               point=folder.name if point is None else point, _index=st.get("index"))  # fmt: skip
    return row


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        for key in row:
            if key not in cols and key not in _STATUS_COLUMNS:
                cols.append(key)
    return cols + list(_STATUS_COLUMNS)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write ``rows`` (from :func:`gather`) as a CSV with the union of their columns."""
    path = Path(path)
    cols = _columns(rows)
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in cols])
    return path


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table of ``rows``: parameters, metrics, status and seconds (errors below it).

    Example:
        >>> print(format_table([{"K": 1, "loss": 0.123456, "status": "ok", "seconds": 2.0,
        ...                      "error": None, "point": "K=1"}]))
        K  loss    status  seconds
        -  ------  ------  -------
        1  0.1235  ok      2
    """
    cols = [c for c in _columns(rows) if c not in ("error", "point")]

    def fmt(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        text = _cell(value)
        return text if len(text) <= 40 else text[:37] + "..."

    lines = text_table([cols, *([fmt(r.get(c)) for c in cols] for r in rows)])
    failed = [r for r in rows if r.get("status") != "ok"]
    if failed:
        lines.append("")
        lines += [f"{r.get('status', '?').upper()} {r['point']}: {r.get('error')}" for r in failed]
    return "\n".join(lines)


def to_frame(rows: Sequence[Mapping[str, Any]]) -> Any:
    """``rows`` (from :func:`gather`) as a :class:`pandas.DataFrame`, the columns in the order
    of ``results.csv`` (parameters, results, then status, seconds, error, point).

    Example:
        >>> df = to_frame([{"K": 1, "status": "ok", "seconds": 2.0, "error": None,
        ...                 "point": "K=1", "loss": 0.5}])
        >>> list(df.columns), df["loss"].tolist()
        (['K', 'loss', 'status', 'seconds', 'error', 'point'], [0.5])
    """
    import pandas as pd

    return pd.DataFrame(list(rows), columns=_columns(rows))
