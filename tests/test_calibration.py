"""Tests of fwlab/experiments/calibration.py: the rule, the rows read off long runs, the stored
table's loader and the notebook parameters of a row."""

from __future__ import annotations

import pytest

from fwlab.experiments.calibration import (
    best_by_method,
    calibration_rows,
    cheapest_effect,
    effect_holds,
    load_calibration,
    notebook_parameters,
)


def _run(T, method, seed, losses, seconds_per_eval=1.0):
    steps = [100 * (i + 1) for i in range(len(losses))]
    h = {"eval": {"step": steps, "test_loss": losses,
                  "seconds": [seconds_per_eval * (i + 1) for i in range(len(losses))]}}  # fmt: skip
    return dict(seq_len=T, hidden_size=16, seed=seed, method=method, history=h)


def test_rows_read_each_budget_off_the_long_runs():
    runs = []
    for seed in (0, 1):
        runs.append(_run(30, "BPTT+Adam", seed, [0.17, 0.16, 0.15, 0.16]))
        runs.append(_run(30, "Frank-Wolfe K=1", seed, [0.17, 0.15, 0.08, 0.05]))
    rows = calibration_rows(runs, [200, 400])
    assert [(r["budget"], r["effect"]) for r in rows] == [(200, False), (400, True)]
    assert rows[1]["best"] == {"BPTT+Adam": [0.15, 0.15], "Frank-Wolfe K=1": [0.05, 0.05]}
    assert rows[1]["seconds"] == 8.0 and rows[0]["seconds"] == 4.0  # two methods, one seed
    assert cheapest_effect({"rows": rows}) is rows[1]
    assert cheapest_effect({"rows": rows[:1]}) is None


@pytest.mark.parametrize(
    ("best", "holds"),
    [
        ({"BPTT+Adam": [0.16, 0.14], "clip": [0.05, 0.09]}, True),
        ({"BPTT+Adam": [0.16, 0.13], "clip": [0.05, 0.09]}, False),  # 0.13 < 0.8 / 6
        ({"BPTT+Adam": [0.16, 0.14], "clip": [0.05, 0.10]}, False),  # 0.10 is not < 0.1
    ],
)
def test_effect_rule(best, holds):
    assert effect_holds(best) is holds


def test_best_by_method_keeps_k1_frank_wolfe_and_the_baselines():
    def h(name, K, optimizer, best):
        return {"method": {"name": name, "K": K, "optimizer": optimizer},
                "summary": {"best_test_loss": best}}  # fmt: skip

    hs = {"a": h("sgd", 1, "adam", 0.16), "b": h("fw_k1", 1, "fw", 0.05),
          "c": h("fw_k1", 5, "fw", 0.01), "d": h("sgd_clip", 1, "adam", 0.06)}  # fmt: skip
    assert best_by_method(hs) == {
        "BPTT+Adam": [0.16], "BPTT+Adam, clip 1": [0.06], "Frank-Wolfe K=1": [0.05]
    }  # fmt: skip


def test_notebook_parameters_and_missing_table(tmp_path):
    p = notebook_parameters({"seq_len": 30, "hidden_size": 32, "budget": 2000})
    assert (p["seq_len"], p["hidden_size"], p["steps"], p["n_train"]) == (30, 32, 2000, 2000)
    with pytest.raises(FileNotFoundError, match="python -m fwlab.experiments.calibration --out"):
        load_calibration(tmp_path / "none.json")


def test_partial_table_keeps_complete_settings_and_lists_the_rest(tmp_path):
    import json

    from fwlab.experiments.calibration import GRID, _point_name, main

    T, H = GRID["seq_len"][0], GRID["hidden_size"][0]
    for seed in GRID["seeds"]:
        for preset, loss in (("sgd", 0.16), ("sgd_clip", 0.05), ("fw_k1", 0.04)):
            h = {"eval": {"step": [500, 3000], "test_loss": [0.2, loss], "seconds": [1.0, 6.0]},
                 "summary": {"wall_time": 6.0}}  # fmt: skip
            (tmp_path / _point_name(T, H, seed, preset)).write_text(json.dumps(h))
    out = tmp_path / "table.json"
    assert main(["--out", str(out), "--cache", str(tmp_path), "--partial"]) == 0
    table = json.loads(out.read_text())
    assert {(r["seq_len"], r["hidden_size"]) for r in table["rows"]} == {(T, H)}
    assert len(table["not_run"]) == len(GRID["seq_len"]) * len(GRID["hidden_size"]) - 1
    row = next(r for r in table["rows"] if r["budget"] == 3000)
    assert row["effect"] and row["seconds"] == 18.0
    assert table["provenance"]["wall_seconds"] == 36.0  # 6 runs x 6 s
    assert "--partial" in table["provenance"]["command"]


def test_cheapest_partial_effect_names_who_left():
    from fwlab.experiments.calibration import left_plateau, stalls

    rows = [
        {"best": {"BPTT+Adam": [0.15, 0.14], "clip": [0.08, 0.11], "fw": [0.08, 0.07]},
         "seconds": 50.0, "effect": False, "complete": True},
        {"best": {"BPTT+Adam": [0.15, 0.14], "clip": [0.08, 0.09], "fw": [0.08, 0.07]},
         "seconds": 90.0, "effect": True, "complete": True},
        {"best": {"BPTT+Adam": [0.15], "clip": [0.01], "fw": [0.01]},
         "seconds": 10.0, "effect": False, "complete": False},
    ]  # fmt: skip
    assert cheapest_effect({"rows": rows}) is rows[1]
    assert cheapest_effect({"rows": rows}, partial=True) is rows[0]  # incomplete rows never count
    assert left_plateau(rows[0]["best"]) == ["fw"] and stalls(rows[0]["best"])
