"""Tests of fwlab/experiments/protocol.py: synthetic per-seed data with known answers, checked
against scipy.stats directly; ties, zero differences, diverged seeds, n = 1 and 2, unequal seed
sets, Holm by hand, direction, the verdict sentences, and the stored comparisons."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from fwlab.experiments import protocol
from fwlab.experiments.protocol import (
    Metric,
    Pair,
    compare_family,
    compare_recorded,
    holm,
    min_p_value,
    paired_test,
)
from fwlab.experiments.recorded import RECORDED_DIR, load_recorded

LOSS = Metric("loss", higher_is_better=False, label="test loss")
ACC = Metric("acc", higher_is_better=True, label="test accuracy")
INF, NAN = float("inf"), float("nan")


def one(a, b, metric=LOSS, **kwargs):
    """The protocol on one pair (a family of one: p_Holm = p)."""
    return compare_family([Pair("A", "B", a, b, metric)], **kwargs).results[0]


def seeds(values):
    return dict(enumerate(values))


def scipy_sign_flip(d, alternative="two-sided"):
    res = stats.permutation_test(
        (np.asarray(d, dtype=float),),
        lambda x, axis: np.mean(x, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=np.inf,
        alternative=alternative,
    )
    return res.pvalue


@pytest.mark.parametrize(
    "d",
    [
        [0.3, 0.1, 0.2],
        [0.5, -0.1, 0.2, 0.4, 0.3],
        [1.0, 2.0, -0.5, 3.0, 0.25, 1.5, -2.0, 0.75],
        [0.0, 0.0, 1.0, 2.0, 3.0, 4.0],  # zero differences
        [1.0, 1.0, 1.0, -1.0, 1.0, 1.0, 1.0],  # tied magnitudes
        list(np.random.default_rng(3).normal(0.4, 1.0, 12)),
    ],
)
def test_p_value_is_scipys_exact_sign_flip_test(d):
    # B = 1, A = 1 - d: A lower (better) by d on each seed
    r = one(seeds([1.0 - x for x in d]), seeds([1.0] * len(d)))
    assert r.p == pytest.approx(scipy_sign_flip(d), rel=1e-12)
    assert r.p_holm == r.p and r.exact and r.statistic == "mean"
    assert r.mean_difference == pytest.approx(-np.mean(d))
    assert r.median_difference == pytest.approx(-np.median(d))
    one_sided = one(seeds([1.0 - x for x in d]), seeds([1.0] * len(d)), alternative="a_better")
    assert one_sided.p == pytest.approx(scipy_sign_flip(d, "greater"), rel=1e-12)


@pytest.mark.parametrize(("n", "p"), [(3, 0.25), (5, 0.0625), (6, 0.03125), (10, 2**-9)])
def test_every_seed_better_gives_the_smallest_reachable_p(n, p):
    r = one(seeds([0.1 * (i + 1) for i in range(n)]), seeds([0.1 * (i + 1) + 1 for i in range(n)]))
    assert r.p == pytest.approx(p) and r.min_p == min_p_value(n) == pytest.approx(p)
    assert r.verdict == ("A better" if p <= 0.05 else "not shown")


def test_min_p_value():
    assert [min_p_value(n) for n in (0, 1, 2, 3, 4)] == [1.0, 1.0, 0.5, 0.25, 0.125]
    assert min_p_value(3, "a_better") == 0.125
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        min_p_value(-1)


def test_all_zero_differences():
    r = one(seeds([0.2] * 7), seeds([0.2] * 7))
    assert r.p == 1.0 and r.mean_difference == 0.0 and r.median_difference == 0.0
    assert r.ci_mean == (0.0, 0.0) and r.ci_median == (0.0, 0.0)  # every resample gives 0
    assert r.text == "not shown (difference 0, 95 % CI [0, 0])"


def test_a_diverged_seed_is_ranked_worst_by_the_signed_rank_test():
    # A lower (better) on 5 seeds, diverged on seed 5: the exact Wilcoxon signed-rank test
    a = {0: 0.1, 1: 0.2, 2: 0.3, 3: 0.4, 4: 0.5, 5: NAN}
    b = {s: 1.0 for s in a}
    r = one(a, b)
    assert r.statistic == "signed ranks" and r.diverged_a == (5,) and r.diverged_b == ()
    d = [0.9, 0.8, 0.7, 0.6, 0.5, -100.0]  # B - A; the diverged seed has the largest magnitude
    assert r.p == pytest.approx(stats.wilcoxon(d, method="exact").pvalue, rel=1e-12)
    assert r.differences[5] == INF  # A - B: A infinitely worse
    assert math.isnan(r.mean_difference) and r.median_difference == pytest.approx(-0.65)
    assert r.ci_mean is None and r.ci_note == "no 95 % CI: a seed diverged"
    assert r.text.startswith("not shown (difference median -0.65, no 95 % CI: a seed diverged")
    text = compare_family([Pair("A", "B", a, b, LOSS)]).text()
    assert "diverged (NaN/inf, ranked worst): A on 1 seed (5)" in text


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
@pytest.mark.parametrize("metric", [LOSS, ACC])
def test_any_non_finite_value_is_worst_in_either_direction(bad, metric):
    good = seeds([0.5 + 0.01 * i for i in range(6)])
    r = one(good, {s: bad for s in good}, metric)
    assert r.p == pytest.approx(2**-5) and r.verdict == "A better" and r.diverged_b == tuple(good)
    assert one({s: bad for s in good}, good, metric).verdict == "B better"


def test_two_diverged_runs_tie():
    r = one(seeds([NAN, INF, 0.1]), seeds([INF, NAN, 0.2]))
    assert r.differences[:2] == (0.0, 0.0) and r.statistic == "mean"
    assert r.diverged_a == r.diverged_b == (0, 1)


def test_one_seed_is_not_tested_and_leaves_the_family():
    r = one({0: 0.1}, {0: 0.2})
    assert math.isnan(r.p) and math.isnan(r.p_holm) and r.family_size == 0
    assert r.text == ("not shown (difference -0.1, no 95 % CI at n = 1 seed; n = 1 seed: no test)")
    fam = compare_family(
        [
            Pair("A", "B", {0: 0.1}, {0: 0.2}, LOSS),
            Pair("C", "D", seeds([0] * 6), seeds([1] * 6), LOSS),
        ]
    )
    assert fam.results[1].p_holm == fam.results[1].p == pytest.approx(2**-5)  # a family of 1


def test_two_seeds():
    r = one({0: 0.1, 1: 0.2}, {0: 0.3, 1: 0.5})
    assert r.p == pytest.approx(0.5) and r.min_p == 0.5
    assert r.text == (
        "not shown (difference -0.25, no 95 % CI at n = 2 seeds; n = 2 cannot reach p < 0.5)"
    )


def test_unequal_seed_sets_compare_the_common_seeds_and_say_how_many_were_left_out():
    a = {s: 0.1 for s in range(6)}
    b = {s: 0.2 for s in range(2, 10)}
    r = one(a, b)
    assert r.seeds == (2, 3, 4, 5) and r.left_out_a == (0, 1) and r.left_out_b == (6, 7, 8, 9)
    assert r.p == pytest.approx(2**-3)
    text = compare_family([Pair("A", "B", a, b, LOSS)]).text()
    assert "left out (no pair): A, 2 seeds (0, 1)" in text
    assert "left out (no pair): B, 4 seeds (6, 7, 8, 9)" in text
    assert one({0: 0.1}, {1: 0.2}).text == "not shown (no common seeds; n = 0 seeds: no test)"


def test_holm_by_hand():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 -> monotone: 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, NAN, 0.2]) == pytest.approx([0.5, NAN, 0.4], nan_ok=True)
    assert holm([0.6, 0.7]) == [1.0, 1.0]
    with pytest.raises(ValueError, match=r"p-values must lie in \[0, 1\]"):
        holm([1.5])


def test_family_is_holm_adjusted_and_the_noise_floor_stays_out():
    # p = 2^-6·2, 2^-9·2, 0.0625·... : every-seed-better pairs of n = 7, 10 and 5 seeds
    pairs = [Pair(f"A{n}", f"B{n}", seeds([0.0] * n), seeds([1.0] * n), LOSS) for n in (7, 10, 5)]
    floor = Pair("FW K=1", "normalized Adam", seeds([0.0] * 8), seeds([1.0] * 8), LOSS)
    fam = compare_family(pairs, noise_floor=floor)
    p = [2**-6, 2**-9, 2**-4]
    assert [r.p for r in fam.results] == pytest.approx(p)
    assert [r.p_holm for r in fam.results] == pytest.approx(holm(p))
    assert [r.p_holm for r in fam.results] == pytest.approx([2 * 2**-6, 3 * 2**-9, 2**-4])
    assert [r.verdict for r in fam.results] == ["A better", "A better", "not shown"]
    assert fam.results[0].text == "A7 better (p_Holm = 0.0312)"
    assert fam.noise_floor.noise_floor and math.isnan(fam.noise_floor.p_holm)
    assert fam.noise_floor.text == "FW K=1 better (p = 0.00781)"  # unadjusted, outside the family
    assert fam[("A10", "B10")] is fam.results[1] and fam[("FW K=1", "normalized Adam")].noise_floor
    with pytest.raises(KeyError, match="no comparison"):
        fam[("A", "Z")]
    assert fam.below_noise_floor(fam.noise_floor) == (
        "FW K=1 vs normalized Adam (noise floor): |mean difference| 1; "
        "3 of 3 comparisons on test loss differ by no more than rounding alone did"
    )
    table = fam.table()
    assert list(table["comparison"]) == ["A7 vs B7", "A10 vs B10", "A5 vs B5",
                                         "FW K=1 vs normalized Adam (noise floor)"]  # fmt: skip
    assert table["p_Holm"].iloc[:3].tolist() == pytest.approx(holm(p))


def test_holm_says_when_the_family_leaves_no_reachable_verdict():
    pairs = [Pair(f"A{i}", f"B{i}", seeds([0.0] * 6), seeds([1.0] * 6), LOSS) for i in range(8)]
    r = compare_family(pairs).results[0]
    assert r.p == pytest.approx(2**-5) and r.p_holm == 0.25 and r.min_p_holm == 0.25
    assert r.verdict == "not shown"
    assert r.text.endswith("with 8 comparisons, n = 6 cannot reach p_Holm < 0.25)")


def test_direction_decides_who_is_better():
    a, b = seeds([90.0 + i for i in range(6)]), seeds([80.0 + i for i in range(6)])
    higher = one(a, b, ACC)
    lower = one(a, b, Metric("acc", higher_is_better=False))
    assert higher.p == lower.p
    assert higher.text == "A better (p_Holm = 0.0312)"
    assert lower.text == "B better (p_Holm = 0.0312)"
    assert higher.mean_difference == lower.mean_difference == 10.0  # A - B in the metric's units
    assert "(higher is better)" in compare_family([Pair("A", "B", a, b, ACC)]).text()


def test_bootstrap_interval_is_scipys_paired_bootstrap():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.3, 0.1, 8), rng.normal(0.5, 0.1, 8)
    r = one(seeds(a), seeds(b))
    ref = stats.bootstrap(
        (a, b),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=9999,
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert r.ci_mean == pytest.approx((ref.low, ref.high))
    assert r.ci_mean[0] < r.mean_difference < r.ci_mean[1]
    assert r.ci_median is not None and r.ci_median[0] <= r.median_difference <= r.ci_median[1]
    few = one(seeds(a[:5]), seeds(b[:5]))
    assert few.ci_mean is None and few.ci_note == "no 95 % CI at n = 5 seeds"
    assert protocol.MIN_CI_SEEDS == 6  # 1 - 2^(1-n) < 0.95 below 6 seeds


def test_verdict_strings():
    shown = one(seeds([0.0] * 6), seeds([1.0] * 6))
    assert shown.text == "A better (p_Holm = 0.0312)" and shown.verdict == "A better"
    d = [0.05, -0.02, 0.04, 0.03, -0.01, 0.06]
    r = one(seeds([1 - x for x in d]), seeds([1.0] * 6))
    lo, hi = r.ci_mean
    assert r.text == f"not shown (difference {r.mean_difference:.4g}, 95 % CI [{lo:.4g}, {hi:.4g}])"


def test_more_than_16_seeds_use_random_sign_patterns():
    fam = compare_family([Pair("A", "B", seeds([0.0] * 17), seeds([1.0] * 17), LOSS)])
    assert not fam.results[0].exact and fam.results[0].p < 1e-4
    assert "65,536 random sign patterns" in fam.text()


def test_paired_test_statistics():
    t = paired_test([1.0, 2.0, -INF, 3.0])
    assert t.statistic == "signed ranks" and t.observed == pytest.approx((1 + 2 - 4 + 3) / 4)
    with pytest.raises(ValueError, match="gains must not be NaN"):
        paired_test([1.0, NAN])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(alpha=0.0), r"alpha must be a number in \(0, 1\)"),
        (dict(alternative="less"), "alternative must be one of"),
        (dict(pairs=[]), "pairs must hold at least one Pair"),
        (dict(pairs=[Pair("A", "B", {0: 1.0}, {0: 2.0}, LOSS)] * 2), "each pair must appear once"),
        (dict(pairs=[Pair("A", "B", {0: "x"}, {0: 2.0}, LOSS)]), r"A values\[0\] must be a number"),
        (dict(pairs=[Pair("A", "B", [1.0], {0: 2.0}, LOSS)]), "A values must be a mapping"),
        (dict(pairs=[("A", "B")]), "pairs must be Pair objects"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = dict(pairs=[Pair("A", "B", {0: 1.0}, {0: 2.0}, LOSS)]) | kwargs
    with pytest.raises(ValueError, match=match):
        compare_family(args.pop("pairs"), **args)


def test_metric_is_checked():
    with pytest.raises(ValueError, match="higher_is_better must be True or False"):
        Metric("acc", "yes")
    with pytest.raises(ValueError, match="key must be a non-empty string"):
        Metric("", True)


def test_stored_comparisons_and_their_noise_floor():
    adding = load_recorded("adding-paper")
    fam = compare_recorded(adding, [("fw_k1", "bptt_adam"), ("fw_k5", "fw_k1")])
    r = fam[("fw_k1", "bptt_adam")]
    assert r.metric.key == "test_loss_at_best_valid" and not r.metric.higher_is_better
    stored = {
        int(s): h["summary"]["test_loss_at_best_valid"] for s, h in adding["runs"]["fw_k1"].items()
    }
    assert r.a_values == stored and r.a == adding["labels"]["fw_k1"]
    assert fam.noise_floor is not None and fam.noise_floor.key == ("fw_k1", "normalized_adam")
    har = load_recorded("table3-har2")
    fam = compare_recorded(har, [("lstm_fw", "lstm_adam")])
    assert fam.results[0].metric.key == "test_acc_at_best_valid"
    assert fam.results[0].metric.higher_is_better
    if not {"fw_k1", "normalized_adam"} <= set(har["runs"]):
        assert fam.noise_floor is None and "no noise-floor row" in fam.text()
    with pytest.raises(ValueError, match="key must be a summary value of the recorded runs"):
        compare_recorded(har, [("lstm_fw", "lstm_adam")], metric=Metric("test_acc_at_best", True))


def test_a_changed_stored_file_changes_the_verdict(tmp_path):
    """More seeds in a stored file change a verdict with no change of code."""
    rec = json.loads((RECORDED_DIR / "table3-har2.json").read_text())
    pair = [("lstm_fw", "lstm_adam")]
    before = compare_recorded(load_recorded("table3-har2"), pair).results[0]
    # ten seeds on which LSTM+Adam is 5 points above LSTM+FW (the shipped seeds lean the other way)
    for run, acc in (("lstm_fw", 90.0), ("lstm_adam", 95.0)):
        template = next(iter(rec["runs"][run].values()))
        rec["runs"][run] = {
            str(s): template
            | {"summary": template["summary"] | {"test_acc_at_best_valid": acc + s / 10}}
            for s in range(10)
        }
    path = tmp_path / "table3-har2.json"
    path.write_text(json.dumps(rec))
    after = compare_recorded(load_recorded(path), pair).results[0]
    assert before.n >= 3 and before.verdict != "B better"
    assert after.n == 10 and after.verdict == "B better"
    assert after.text == f"{rec['labels']['lstm_adam']} better (p_Holm = 0.00195)"


def test_a_pair_with_a_run_not_stored_is_listed_not_compared(tmp_path):
    rec = json.loads((RECORDED_DIR / "adding-paper.json").read_text())
    rec["runs"].pop("fw_decay_k5", None)
    rec["runs"].pop("normalized_adam", None)
    path = tmp_path / "adding-paper.json"
    path.write_text(json.dumps(rec))
    fam = compare_recorded(load_recorded(path), [("fw_k1", "bptt_adam"), ("fw_decay_k5", "fw_k1")])
    assert [r.key for r in fam.results] == [("fw_k1", "bptt_adam")]
    assert fam.not_stored == ("adding-paper: fw_decay_k5 vs fw_k1 (fw_decay_k5 not stored)",)
    assert fam.noise_floor is None
    text = fam.text()
    assert "not compared (a run is not stored): adding-paper: fw_decay_k5 vs fw_k1" in text
    assert "no noise-floor row: fw_k1 and normalized_adam are not both stored" in text
