"""Tests of fwlab/experiments/calibration.py: the rule, the rows read off long runs, the stored
table's loader and the notebook parameters of a row; the calibration as a study on the run
engine (resumable); selection seeds apart from reporting seeds; the effect's frequency."""

from __future__ import annotations

import io
import json

import pytest

from fwlab.experiments.calibration import (
    CALIBRATION_METHODS,
    GRID,
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


def test_notebook_parameters_and_missing_table(tmp_path):
    p = notebook_parameters({"seq_len": 30, "hidden_size": 32, "budget": 2000})
    assert (p["seq_len"], p["hidden_size"], p["steps"], p["n_train"]) == (30, 32, 2000, 2000)
    with pytest.raises(FileNotFoundError, match="python -m fwlab.experiments.calibration --out"):
        load_calibration(tmp_path / "none.json")


def _finish_by_hand(study, keep, loss_of):
    """Write status.json + results.json of the study's runs that ``keep`` accepts, as a finished
    run of the engine would (the digest of what the study asks now)."""
    from fwlab.runs.files import RESULTS_FILE, STATUS_FILE

    identity = study.target.identity()
    for run in study.runs():
        if not keep(run.arguments):
            continue
        folder = study.run_dir(run)
        folder.mkdir(parents=True)
        loss = loss_of(run.arguments["method"])
        ev = {"step": [500, 3000], "test_loss": [0.2, loss], "seconds": [1.0, 6.0]}
        results = {"best_test_loss": loss, "wall_time": 6.0, "eval": ev}
        (folder / RESULTS_FILE).write_text(json.dumps(results))
        status = {"status": "ok", "digest": run.digest(identity), "params": run.arguments}
        (folder / STATUS_FILE).write_text(json.dumps(status))


def test_partial_table_keeps_complete_settings_and_lists_the_rest(tmp_path):
    from fwlab.experiments.calibration import GRID, calibration_study, main

    T, H = GRID["seq_len"][0], GRID["hidden_size"][0]
    losses = {"sgd": 0.16, "sgd_clip": 0.05, "fw_k1": 0.04}
    study = calibration_study(tmp_path / "runs")
    _finish_by_hand(study, lambda a: (a["seq_len"], a["hidden_size"]) == (T, H), losses.get)
    out = tmp_path / "table.json"
    assert main(["--out", str(out), "--runs", str(tmp_path / "runs"), "--partial"]) == 0
    table = json.loads(out.read_text())
    assert {(r["seq_len"], r["hidden_size"]) for r in table["rows"]} == {(T, H)}
    assert len(table["not_run"]) == len(GRID["seq_len"]) * len(GRID["hidden_size"]) - 1
    row = next(r for r in table["rows"] if r["budget"] == 3000)
    assert row["effect"] and row["seconds"] == 18.0
    assert row["best"]["Frank-Wolfe K=1"] == [0.04, 0.04]
    assert table["provenance"]["wall_seconds"] == 36.0  # 6 runs x 6 s
    assert "--partial" in table["provenance"]["command"]
    # the old option name still works, and a run whose status says another digest is not done
    status = next((tmp_path / "runs").glob("*/status.json"))
    status.write_text(json.dumps(json.loads(status.read_text()) | {"digest": "edited"}))
    assert main(["--out", str(out), "--cache", str(tmp_path / "runs"), "--partial"]) == 0
    assert json.loads(out.read_text())["rows"] == []


#: a calibration grid of tiny runs (seconds in all)
TINY = dict(seq_len=(6,), hidden_size=(4,), seeds=(2, 3), steps=4, eval_every=2, n_train=40,
            n_test=20, lr=1e-3, batch_size=10)  # fmt: skip


def test_calibration_study_trains_each_point_once_and_resumes(tmp_path):
    """The calibration is a study on the run engine: a second call skips every finished point,
    a point whose run is lost is the only one trained again, and the rows read the same."""
    from fwlab.experiments.calibration import calibration_study, finished_runs
    from fwlab.runs import Inline

    study = calibration_study(tmp_path, TINY)
    assert [r.name for r in study.runs()][:2] == [
        "seq_len=6__hidden_size=4__method=sgd__seed=2",
        "seq_len=6__hidden_size=4__method=sgd__seed=3",
    ]
    first = study.run(executor=Inline(), log=io.StringIO())
    assert len(first.started) == 6 and not first.failed
    runs = finished_runs(study)
    assert len(runs) == 6 and {r["method"] for r in runs} == set(CALIBRATION_METHODS)
    for r in runs:
        assert r["history"]["eval"]["step"] == [2, 4]
        assert r["history"]["best_test_loss"] == min(r["history"]["eval"]["test_loss"])
    again = study.run(executor=Inline(), log=io.StringIO())
    assert again.started == []  # all done: nothing trained
    lost = study.run_dir(study.runs()[4])
    (lost / "status.json").unlink()
    third = study.run(executor=Inline(), log=io.StringIO())
    assert third.started == [study.runs()[4].name]
    # the same seed trains the same run: the rows read the same values (not the same seconds)
    rows = calibration_rows(finished_runs(study), [4], seeds=2)
    assert [r["best"] for r in rows] == [r["best"] for r in calibration_rows(runs, [4])]
    assert rows[0]["complete"] and len(rows[0]["best"]["BPTT+Adam"]) == 2


def test_selection_and_reporting_seeds_are_disjoint():
    """The default is selected on the calibration's seeds and reported on others: the
    recorded comparison's seeds share none, and an overlap is refused everywhere."""
    from fwlab.experiments.calibration import (
        REPORTING,
        SELECTION_SEEDS,
        calibration_study,
        check_disjoint,
        reporting_seeds,
    )
    from fwlab.experiments.record import COMPARISONS

    assert SELECTION_SEEDS == (0, 1) and len(reporting_seeds()) >= 10
    assert not set(SELECTION_SEEDS) & set(COMPARISONS[REPORTING].seeds)
    check_disjoint(SELECTION_SEEDS, reporting_seeds())
    with pytest.raises(ValueError, match=r"include seed 1 that the calibration selected"):
        check_disjoint((0, 1), [1, 20, 21, 22])
    with pytest.raises(ValueError, match=r"include seeds 10, 11 that"):
        calibration_study("unused", dict(TINY, seeds=(10, 11)))


def test_reported_comparison_is_the_calibrated_default():
    """The recorded comparison trains what notebook 02's defaults train: the calibrated row's
    setting, 2,000 training sequences after its validation split."""
    from fwlab.experiments.calibration import REPORTING
    from fwlab.experiments.record import COMPARISONS

    c = COMPARISONS[REPORTING]
    row = {"seq_len": 30, "hidden_size": 16, "budget": 2500}
    p = notebook_parameters(row)
    assert [preset for _, preset, _ in c.methods] == p["methods"]
    assert (c.config.hidden_size, c.config.steps, c.config.lr, c.config.batch_size) == (
        p["hidden_size"], p["steps"], p["lr"], p["batch_size"])  # fmt: skip
    assert c.config.delta is None and c.config.eval_every == GRID["eval_every"]
    data = c.data(c.seeds[0])
    assert (len(data.train), len(data.test), data.info["seq_len"]) == (2000, 500, 30)


def test_effect_frequency_counts_seed_by_seed():
    from fwlab.experiments.calibration import effect_frequency

    def h(v):
        return {"summary": {"best_test_loss": v}}

    rec = {"runs": {
        "bptt_adam": {"10": h(0.15), "11": h(0.12), "12": h(float("nan")), "13": h(0.16)},
        "sgd_clip": {"10": h(0.11), "11": h(0.05), "12": h(0.09), "13": h(0.05)},
        "fw_k1": {"10": h(0.05), "11": h(0.05), "12": h(0.099), "13": h(0.1)},
    }}  # fmt: skip
    f = effect_frequency(rec)
    assert f.seeds == (10, 11, 12, 13)
    assert f.stalled == (10, 12, 13)  # a diverged BPTT+Adam learned nothing: stalled
    assert f.below == {"bptt_adam": (), "sgd_clip": (11, 12, 13), "fw_k1": (10, 11, 12)}
    assert f.effect == (10, 12) and f.only == (10,)  # 0.1 is not below 0.1
    assert f.nonfinite == {"bptt_adam": (12,), "sgd_clip": (), "fw_k1": ()}
    assert "on 2 of 4 seeds (10, 12)" in f.text()
    del rec["runs"]["sgd_clip"]["13"]  # a seed without every run is not counted
    assert effect_frequency(rec).seeds == (10, 11, 12)
    with pytest.raises(ValueError, match="lacks"):
        effect_frequency({"runs": {"fw_k1": {}}})


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


def test_the_stored_frequency_follows_the_stored_file(tmp_path):
    """Notebook 02's frequency statement is computed from the stored runs of the recorded
    comparison: one seed's Frank-Wolfe value moved across 0.1 moves the count by one."""
    from fwlab.experiments.calibration import REPORTING, effect_frequency, reporting_seeds
    from fwlab.experiments.recorded import RECORDED_DIR, load_recorded

    stored = load_recorded(REPORTING)
    shipped = effect_frequency(stored)
    assert len(shipped.seeds) >= 10 and set(shipped.seeds) <= set(reporting_seeds())
    assert shipped.best["fw_k1"] == {
        int(s): h["summary"]["best_test_loss"] for s, h in stored["runs"]["fw_k1"].items()
    }
    stalled = [s for s in shipped.seeds if s in shipped.stalled]
    assert stalled, "BPTT+Adam stalls on some stored seed"
    seed = stalled[0]
    raw = json.loads((RECORDED_DIR / f"{REPORTING}.json").read_text())
    run = raw["runs"]["fw_k1"][str(seed)]
    was_below = seed in shipped.below["fw_k1"]
    run["summary"]["best_test_loss"] = 0.15 if was_below else 0.05
    (tmp_path / f"{REPORTING}.json").write_text(json.dumps(raw))
    changed = effect_frequency(load_recorded(tmp_path / f"{REPORTING}.json"))
    assert len(changed.effect) == len(shipped.effect) + (-1 if was_below else 1)
    n = len(shipped.seeds)
    said = f"Frank-Wolfe K=1 gets below 0.1: on {len(changed.effect)} of {n} seeds"
    assert said in changed.text() and said not in shipped.text()
