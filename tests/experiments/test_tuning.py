"""Tuned baselines at equal budget (fwlab/experiments/tuning.py): the selection rule on synthetic
tuning tables, the seeds kept apart, the study on the run engine at a tiny size, the stored
tables against the tuned comparisons that use them, and what becomes of an ordering (notebook 04
states it from the stored files: tests/e2e/test_notebook_overrides.py)."""

from __future__ import annotations

import dataclasses
import io
import math
from types import SimpleNamespace

import pytest

from fwlab.experiments.record import COMPARISONS
from fwlab.experiments.tuning import (
    OUTCOMES,
    SELECTION,
    TUNING,
    TuningPlan,
    after_tuning,
    check_disjoint,
    load_tuning,
    select,
    select_table,
    survivals,
    tuning_study,
    tuning_table,
)

NAN = float("nan")
LRS = [1e-3, 1e-2, 1e-1]
SEEDS = [100, 101]


def rows_of(values: dict[tuple[str, float], list[float]]) -> list[dict]:
    return [
        dict(run=run, lr=lr, seed=seed, valid_loss=v, status="ok")
        for (run, lr), vs in values.items()
        for seed, v in zip(SEEDS, vs)
    ]


def pick(values, **kw):
    runs = sorted({run for run, _ in values})
    return select(rows_of(values), runs=runs, lrs=LRS, seeds=SEEDS,
                  reporting_seeds=range(10), **kw)  # fmt: skip


def test_the_lowest_mean_validation_loss_wins():
    values = {("a", 1e-3): [0.5, 0.3], ("a", 1e-2): [0.1, 0.5], ("a", 1e-1): [0.9, 0.9]}
    sel = pick(values)["a"]
    assert sel.lr == 1e-2  # means 0.4, 0.3, 0.9
    assert sel.scores == {1e-3: pytest.approx(0.4), 1e-2: pytest.approx(0.3), 1e-1: 0.9}
    assert sel.values[1e-3] == {100: 0.5, 101: 0.3}


def test_equal_means_go_to_the_smaller_learning_rate():
    values = {("a", 1e-3): [0.5, 0.5], ("a", 1e-2): [0.2, 0.2], ("a", 1e-1): [0.2, 0.2]}
    assert pick(values)["a"].lr == 1e-2
    values = {("a", lr): [0.7, 0.7] for lr in LRS}
    assert pick(values)["a"].lr == 1e-3


def test_a_rate_that_diverged_on_one_seed_ranks_worst():
    values = {("a", 1e-3): [0.9, 0.9], ("a", 1e-2): [0.01, NAN], ("a", 1e-1): [0.8, math.inf]}
    sel = pick(values)["a"]
    assert sel.lr == 1e-3 and math.isnan(sel.scores[1e-2]) and math.isnan(sel.scores[1e-1])
    everywhere = {("a", lr): [NAN, NAN] for lr in LRS}  # all worst: equal, the smaller rate
    assert pick(everywhere)["a"].lr == 1e-3


def test_a_failed_run_or_a_missing_value_counts_as_diverged():
    rows = rows_of({("a", 1e-3): [0.9, 0.9], ("a", 1e-2): [0.1, 0.1], ("a", 1e-1): [0.5, 0.5]})
    rows[2] = {**rows[2], "status": "failed"}  # lr 1e-2, seed 100
    rows[4] = {k: v for k, v in rows[4].items() if k != "valid_loss"}  # lr 1e-1, seed 100
    sel = select(rows, runs=["a"], lrs=LRS, seeds=SEEDS, reporting_seeds=range(10))["a"]
    assert sel.lr == 1e-3 and math.isnan(sel.scores[1e-2]) and math.isnan(sel.scores[1e-1])


def test_higher_is_better_flips_the_order_but_not_the_tie_break():
    values = {("a", 1e-3): [90, 80], ("a", 1e-2): [95, 95], ("a", 1e-1): [95, 95]}
    rows = [{**r, "valid_acc": r.pop("valid_loss")} for r in rows_of(values)]
    sel = select(rows, runs=["a"], lrs=LRS, seeds=SEEDS, reporting_seeds=range(10),
                 key="valid_acc", higher_is_better=True)  # fmt: skip
    assert sel["a"].lr == 1e-2


def test_each_method_is_selected_on_its_own_rows():
    values = {("a", lr): [v, v] for lr, v in zip(LRS, [0.3, 0.2, 0.1])}
    values |= {("b", lr): [v, v] for lr, v in zip(LRS, [0.1, 0.2, 0.3])}
    chosen = pick(values)
    assert (chosen["a"].lr, chosen["b"].lr) == (1e-1, 1e-3)


def test_a_tuning_seed_among_the_reporting_seeds_is_refused():
    values = {("a", lr): [0.1, 0.1] for lr in LRS}
    with pytest.raises(ValueError, match=r"tuning seed\(s\) \[101\] are also reporting seeds"):
        select(rows_of(values), runs=["a"], lrs=LRS, seeds=SEEDS, reporting_seeds=[0, 101])
    with pytest.raises(ValueError, match="also reporting seeds"):
        check_disjoint([3, 4], range(10))
    check_disjoint([100], range(10))  # disjoint: nothing raised
    plan = TUNING["adding-small-tuned"]
    with pytest.raises(ValueError, match=r"\[10\] are also reporting seeds"):
        dataclasses.replace(plan, seeds=(10, 100))


def test_a_table_with_rows_of_a_reporting_seed_or_missing_rows_is_refused():
    rows = rows_of({("a", lr): [0.1, 0.1] for lr in LRS})
    stray = {**rows[0], "seed": 3}
    with pytest.raises(ValueError, match=r"\[3\] are also reporting seeds"):
        select([*rows, stray], runs=["a"], lrs=LRS, seeds=SEEDS, reporting_seeds=range(10))
    with pytest.raises(ValueError, match="1 run\\(s\\) of the grid have no row .*a lr=0.001 seed "
                       "100.*finish the tuning study first"):  # fmt: skip
        select(rows[1:], runs=["a"], lrs=LRS, seeds=SEEDS, reporting_seeds=range(10))
    with pytest.raises(ValueError, match="two rows"):
        select([*rows, rows[0]], runs=["a"], lrs=LRS, seeds=SEEDS, reporting_seeds=range(10))
    with pytest.raises(ValueError, match="outside the grid"):
        select([*rows, {**rows[0], "lr": 0.5}], runs=["a"], lrs=LRS, seeds=SEEDS,
               reporting_seeds=range(10))  # fmt: skip


def test_a_plan_states_a_log_grid_around_the_papers_rate_and_disjoint_seeds():
    for plan in TUNING.values():
        assert plan.fixed_lr in plan.lrs and len(plan.lrs) == 5
        ratios = [b / a for a, b in zip(plan.lrs, plan.lrs[1:])]
        assert all(3.1 < r < 3.2 for r in ratios), ratios  # half a decade apart
        assert plan.seeds == (100, 101, 102) and not set(plan.seeds) & set(plan.reporting_seeds)
        fixed = COMPARISONS[plan.fixed]
        assert fixed.config.lr == plan.fixed_lr and fixed.config.delta is None  # δ tied to η
        assert set(plan.runs) <= {m[0] for m in fixed.methods}
        assert not set(plan.seeds) & set(fixed.seeds)
    with pytest.raises(ValueError, match="must hold the fixed lr"):
        dataclasses.replace(TUNING["adding-small-tuned"], fixed_lr=2e-3)
    with pytest.raises(ValueError, match="increasing"):
        dataclasses.replace(TUNING["adding-small-tuned"], lrs=(1e-2, 1e-3))


def test_the_study_runs_on_the_engine_and_its_table_selects(tmp_path, monkeypatch):
    """A tiny adding comparison tuned over two rates × two seeds: the engine trains each run once
    (a second call skips them), the table holds every (run, lr, seed), and the selection on it
    is the rule's on the returned validation losses."""
    from fwlab.runs import Inline
    from fwlab.train.config import TrainConfig

    tiny = dataclasses.replace(
        COMPARISONS["adding-small-fixed"],
        name="tiny-fixed",
        task_options=dict(seq_len=5, n_train=60, n_test=20),
        n_valid=20,
        config=TrainConfig(hidden_size=4, batch_size=10, lr=1e-2, steps=6, eval_every=3),
    )
    monkeypatch.setitem(COMPARISONS, "tiny-fixed", tiny)
    plan = TuningPlan("tiny-tuned", "tiny-fixed", ("sgd", "fw_k1"), (1e-2, 1e-1), (100, 101),
                      (0, 1), 1e-2)  # fmt: skip
    study = tuning_study(plan, tmp_path)
    assert len(study.runs()) == 8
    outcome = study.run(executor=Inline(), log=io.StringIO())
    assert not outcome.failed
    assert study.run(executor=Inline(), log=io.StringIO()).started == []  # all done: skipped
    table = tuning_table(plan, tmp_path)
    assert len(table["rows"]) == 8 and all(r["status"] == "ok" for r in table["rows"])
    assert {(r["run"], r["lr"], r["seed"]) for r in table["rows"]} == {
        (run, lr, s) for run in plan.runs for lr in plan.lrs for s in plan.seeds
    }
    assert all(r["steps"] == 6 and r["valid_loss"] > 0 for r in table["rows"])
    assert table["selection"] == SELECTION and table["delta"].startswith("tied")
    assert table["provenance"]["commits"] and table["provenance"]["dirty"] in (True, False)
    chosen = select_table(table)
    for run in plan.runs:
        mean = {
            lr: sum(r["valid_loss"] for r in table["rows"] if (r["run"], r["lr"]) == (run, lr)) / 2
            for lr in plan.lrs
        }
        assert chosen[run].lr == min(plan.lrs, key=lambda lr: (mean[lr], lr))


def test_what_becomes_of_an_ordering():
    def fam(*verdicts):
        return SimpleNamespace(results=[
            SimpleNamespace(key=(f"a{i}", "b"), a=f"a{i}", b="b", verdict=v, text=v)
            for i, v in enumerate(verdicts)
        ])  # fmt: skip

    fixed = fam("A better", "A better", "A better", "not shown", "not shown")
    tuned = fam("A better", "B better", "not shown", "B better", "not shown")
    got = survivals(fixed, tuned)
    assert [o for _, o, _ in got] == list(OUTCOMES)
    assert got[0][2] == "a0 vs b: fixed lr: A better; tuned: A better -> survives"
    assert after_tuning(fixed.results[1], tuned.results[1]) == "reversed"
    assert survivals(fixed, fam()) == []  # a pair the tuned family lacks is not stated


@pytest.mark.parametrize("name", sorted(TUNING))
def test_the_tuned_comparison_trains_each_method_at_the_rate_its_stored_table_selects(name):
    """The learning rates written into the tuned comparison are the selection rule's on the
    stored tuning table, which was run from a clean commit in reproducible mode; the rest of its
    setting is the fixed comparison's."""
    plan = TUNING[name]
    table = load_tuning(name)
    assert (table["runs"], table["lrs"], table["seeds"]) == (
        list(plan.runs),
        list(plan.lrs),
        list(plan.seeds),
    )
    assert table["provenance"]["dirty"] is False and table["provenance"]["reproducible"]
    assert all(r["status"] == "ok" for r in table["rows"])
    tuned, fixed = COMPARISONS[name], COMPARISONS[plan.fixed]
    assert tuned.seeds == plan.reporting_seeds
    assert [m[0] for m in tuned.methods] == list(plan.runs)
    chosen = select_table(table)
    for run in plan.runs:
        config = tuned.config_for(run, 0)
        assert config.lr == chosen[run].lr, run
        assert config.replace(lr=fixed.config.lr) == fixed.config_for(run, 0)
    assert (tuned.task, tuned.task_options, tuned.n_valid) == (
        fixed.task,
        fixed.task_options,
        fixed.n_valid,
    )


def test_the_tuning_figure_leaves_a_diverged_rate_out_of_the_line_and_names_it():
    from fwlab.plots import tuning_figure

    values = {("a", 1e-3): [0.5, 0.3], ("a", 1e-2): [0.1, NAN], ("a", 1e-1): [0.9, 0.7]}
    rows = rows_of(values)
    table = dict(rows=rows, runs=["a"], lrs=LRS, seeds=SEEDS, fixed_lr=1e-2,
                 metric={"key": "valid_loss", "higher_is_better": False})  # fmt: skip
    fig = tuning_figure(table, select_table(table | {"reporting_seeds": [0]}))
    line, dots, star = fig.data
    assert list(line.y) == [pytest.approx(0.4), None, pytest.approx(0.8)]
    assert "diverged or failed" in line.hovertext[1]
    assert sorted(dots.y) == [0.1, 0.3, 0.5, 0.7, 0.9]  # the finite seed of 1e-2 still shown
    assert list(star.x) == [1e-3]
