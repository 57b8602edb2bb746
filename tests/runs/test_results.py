"""fwlab/runs/results.py: run folders gathered into rows, results.csv, a DataFrame, a table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from fwlab.runs import format_table, gather, to_frame, write_csv


def fake_point(root: Path, name: str, index, params, status, metrics=None, error=None):
    folder = root / name
    folder.mkdir(parents=True)
    st = {"status": status, "params": params, "index": index, "seconds": 1.5, "error": error}
    (folder / "status.json").write_text(json.dumps(st))
    if metrics is not None:
        (folder / "results.json").write_text(
            metrics if isinstance(metrics, str) else json.dumps(metrics)
        )


def test_gather_flattens_in_grid_order(tmp_path):
    fake_point(tmp_path, "K=5", 1, {"K": 5}, "ok", {"loss": 0.1, "K": 50})
    fake_point(tmp_path, "K=1", 0, {"K": 1}, "ok", {"loss": 0.3, "acc": 0.5})
    fake_point(tmp_path, "K=9", 2, {"K": 9}, "failed", None, "ValueError: boom")
    fake_point(tmp_path, "K=7", None, {"K": 7}, "ok", "{not json")
    (tmp_path / "no_status").mkdir()
    rows = gather(tmp_path)
    assert [r["point"] for r in rows] == ["K=1", "K=5", "K=9", "K=7"]
    assert rows[0] == {"K": 1, "loss": 0.3, "acc": 0.5, "status": "ok", "seconds": 1.5,
                       "error": None, "point": "K=1"}  # fmt: skip
    assert rows[1]["K"] == 5 and rows[1]["result.K"] == 50  # a metric never hides a parameter
    assert rows[2]["status"] == "failed" and rows[2]["error"] == "ValueError: boom"
    assert "loss" not in rows[2] and "loss" not in rows[3]
    assert gather(tmp_path / "missing") == []


def test_csv_and_table_hold_every_row(tmp_path):
    fake_point(tmp_path, "a", 0, {"K": 1, "p": "inf"}, "ok", {"loss": 0.123456, "curve": [1, 2]})
    fake_point(tmp_path, "b", 1, {"K": 5, "p": "inf"}, "failed", None, "ValueError: boom")
    rows = gather(tmp_path)
    with write_csv(rows, tmp_path / "results.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert [r["K"] for r in table] == ["1", "5"]
    assert list(table[0]) == ["K", "p", "loss", "curve", "status", "seconds", "error", "point"]
    assert table[0]["curve"] == "[1, 2]" and table[1]["loss"] == ""
    text = format_table(rows)
    header, rule, first, second = text.splitlines()[:4]
    assert header.split() == ["K", "p", "loss", "curve", "status", "seconds"]
    assert first.split()[:3] == ["1", "inf", "0.1235"] and "failed" in second
    assert "FAILED b: ValueError: boom" in text


def test_to_frame_holds_the_rows_in_the_columns_of_the_csv(tmp_path):
    fake_point(tmp_path, "a", 0, {"K": 1}, "ok", {"loss": 0.25})
    fake_point(tmp_path, "b", 1, {"K": 5}, "failed", None, "ValueError: boom")
    rows = gather(tmp_path)
    df = to_frame(rows)
    with write_csv(rows, tmp_path / "results.csv").open() as fh:
        header = next(csv.reader(fh))
    assert list(df.columns) == header == ["K", "loss", "status", "seconds", "error", "point"]
    assert df["K"].tolist() == [1, 5] and df["status"].tolist() == ["ok", "failed"]
    assert df.loc[0, "loss"] == 0.25 and df["loss"].isna().tolist() == [False, True]
    assert list(to_frame([]).columns) == ["status", "seconds", "error", "point"]
