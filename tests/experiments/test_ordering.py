"""Tests of fwlab/experiments/ordering.py: the rules on synthetic runs with known answers."""

from __future__ import annotations

import pytest

from fwlab.experiments.ordering import order, seed_values


@pytest.mark.parametrize(
    ("a", "b", "rule", "higher", "verdict"),
    [
        ({0: 0.05, 1: 0.06, 2: 0.04}, {0: 0.16, 1: 0.17, 2: 0.15}, "every_seed", False, "better"),
        ({0: 0.16, 1: 0.17}, {0: 0.05, 1: 0.06}, "every_seed", False, "worse"),
        ({0: 0.05, 1: 0.20}, {0: 0.16, 1: 0.17}, "every_seed", False, "undecided"),
        ({0: 0.05, 1: 0.06}, {0: 0.05, 1: 0.07}, "every_seed", False, "undecided"),  # a tie
        ({0: 95.0, 1: 96.0}, {0: 90.0, 1: 91.0}, "every_seed", True, "better"),
        ({0: 95.0, 1: 96.0}, {0: 90.0, 1: 91.0}, "every_seed", False, "worse"),
        # paired by seed: A wins on each seed though the ranges overlap
        ({0: 0.10, 1: 0.20}, {0: 0.15, 1: 0.25}, "every_seed", False, "better"),
        ({0: 0.10, 1: 0.20}, {0: 0.15, 1: 0.25}, "mean_std", False, "undecided"),
        ({0: 0.10, 1: 0.11}, {0: 0.15, 1: 0.16}, "mean_std", False, "better"),
        ({0: 0.10, 1: 0.11}, {0: 0.15, 1: 0.16}, "mean_std", True, "worse"),
    ],
)
def test_known_answers(a, b, rule, higher, verdict):
    assert order(a, b, rule=rule, higher_is_better=higher).verdict == verdict


def test_unpaired_seeds_and_too_few_seeds_are_undecided():
    assert order({0: 0.1, 1: 0.1}, {2: 0.2, 3: 0.2}).verdict == "undecided"
    assert order({0: 0.1}, {0: 0.2}).verdict == "undecided"
    assert order({0: 0.1}, {0: 0.2}, min_seeds=1).verdict == "better"
    assert order({0: 0.1}, {0: 0.2}, rule="mean_std", min_seeds=1).verdict == "undecided"


def test_swapping_a_and_b_swaps_the_verdict():
    a, b = {0: 0.05, 1: 0.06}, {0: 0.16, 1: 0.17}
    for rule in ("every_seed", "mean_std"):
        assert (order(a, b, rule=rule).verdict, order(b, a, rule=rule).verdict) == (
            "better",
            "worse",
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(rule="median"), "rule must be one of"),
        (dict(min_seeds=0), "min_seeds must be an integer >= 1"),
        (dict(b={0: "0.2"}), r"b\[0\] must be a number \(NaN/inf for a diverged run\)"),
        (dict(a=[0.1, 0.2]), "a must be a mapping seed -> value"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = dict(a={0: 0.1}, b={0: 0.2}) | kwargs
    a, b = args.pop("a"), args.pop("b")
    with pytest.raises(ValueError, match=match):
        order(a, b, **args)


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_mean_std_with_a_diverged_seed_is_undecided_not_a_crash(bad):
    # statistics.mean raised "'float' object has no attribute 'numerator'" on an infinite value
    a, b = {0: 0.10, 1: 0.11, 2: bad}, {0: 0.15, 1: 0.16, 2: 0.17}
    o = order(a, b, rule="mean_std")
    assert o.verdict == "undecided" and o.diverged == (1, 0)
    assert order(b, a, rule="mean_std").verdict == "undecided"
    assert "diverged (NaN/inf, ranked worst): A 1, B 0" in o.describe()


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize("higher", [False, True])
def test_every_seed_ranks_a_diverged_seed_worst(bad, higher):
    good = {0: 0.5, 1: 0.6}
    assert order(good, {0: bad, 1: bad}, higher_is_better=higher).verdict == "better"
    assert order({0: bad, 1: bad}, good, higher_is_better=higher).verdict == "worse"
    # two diverged runs tie: nothing is better on that seed
    assert order({0: 0.1, 1: bad}, {0: 0.2, 1: bad}).verdict == "undecided"


def test_describe_names_rule_and_values():
    text = order({0: 0.05, 1: 0.06}, {0: 0.16, 1: 0.17}).describe("FW", "BPTT", "best test MSE")
    assert text == (
        "FW beats BPTT by best test MSE (on every seed): FW [0.05, 0.06] vs BPTT [0.16, 0.17]"
    )


def test_seed_values_from_histories():
    hs = {
        0: {"summary": {"best_test_loss": 0.1}},
        1: {"summary": {}},
        2: {"summary": {"best_test_loss": 0.3}},
    }
    assert seed_values(hs, "best_test_loss") == {0: 0.1, 2: 0.3}


def test_order_recorded_uses_each_recorded_seed():
    from fwlab.experiments.ordering import order_recorded

    def h(v):
        return {"summary": {"test_loss_at_best_valid": v}}

    rec = {
        "runs": {"fw_k1": {"0": h(0.05), "1": h(0.06)}, "bptt_adam": {"0": h(0.16), "1": h(0.17)}},
        "not_recorded": [{"run": "sgd_clip", "seed": 0}],
    }
    assert order_recorded(rec, "fw_k1", "bptt_adam").verdict == "better"
    assert order_recorded(rec, "sgd_clip", "fw_k1").verdict == "undecided"  # nothing recorded


def test_a_misspelled_key_is_refused_with_the_valid_keys_not_undecided():
    from fwlab.experiments.ordering import order_recorded

    def h(v):
        return {"summary": {"test_loss_at_best_valid": v, "best_test_loss": v / 2}}

    rec = {
        "runs": {"fw_k1": {"0": h(0.05), "1": h(0.06)}, "bptt_adam": {"0": h(0.16), "1": h(0.17)}},
        "not_recorded": [],
    }
    valid = r"\['best_test_loss', 'test_loss_at_best_valid'\]"
    with pytest.raises(
        ValueError, match=rf"key must be .*one of {valid}; got 'test_los_at_best_valid'"
    ):
        order_recorded(rec, "fw_k1", "bptt_adam", key="test_los_at_best_valid")
    with pytest.raises(ValueError, match=rf"one of {valid}; got 'best_test_los'"):
        seed_values(rec["runs"]["fw_k1"], "best_test_los")
    with pytest.raises(ValueError, match=r"run_name must be one of \['bptt_adam', 'fw_k1'\]"):
        order_recorded(rec, "fw-k1", "bptt_adam")
    # the valid key still orders, and an empty set of histories has nothing to misspell
    assert order_recorded(rec, "fw_k1", "bptt_adam", key="best_test_loss").verdict == "better"
    assert seed_values({}, "anything") == {}
