"""fwlab.toy.lesson: the vectorized numbers behind notebook 01's claims."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fwlab.toy import get_loss, lmo_2d, project_ball, trajectory
from fwlab.toy.lesson import (
    final_loss_grid,
    fw_inner_batch,
    identity_model_step,
    k_sweep,
    lmo_rows,
    tail_points,
)
from fwlab.toy.trust_region import p_norm

PS = (1.0, 1.5, 2.0, 3.0, math.inf)


@pytest.mark.parametrize("p", PS)
def test_lmo_rows_agrees_with_lmo_2d(p):
    rng = np.random.default_rng(0)
    g = rng.normal(size=(50, 2))
    g[0] = 0.0
    g[1] = [2.0, -2.0]  # a tie for p = 1
    s = lmo_rows(g, p, 0.7)
    ref = np.array([lmo_2d(float(a), float(b), p, 0.7) for a, b in g])
    assert np.allclose(s, ref, rtol=0, atol=1e-15)
    assert np.array_equal(s[0], [0.0, 0.0])


@pytest.mark.parametrize("p", PS)
def test_fw_inner_batch_matches_the_trajectory_inner_loop(p):
    fw = trajectory("beale", lr=0.5, delta=0.4, K=6, p=p, steps=12)
    dw, s, gaps = fw_inner_batch("beale", fw.centers, delta=0.4, p=p, K=6)
    assert np.allclose(dw, fw.dw, atol=1e-12) and np.allclose(s, fw.vertices, atol=1e-12)
    assert np.allclose(gaps, fw.gaps, rtol=1e-10, atol=1e-12)


def test_k_sweep_lengths_and_the_even_k_cancellation():
    fw = trajectory("rosenbrock", lr=0.5, delta=0.5, K=5, p=2, steps=100)
    r = k_sweep("rosenbrock", fw.centers[::10], delta=0.5, p=2, Ks=(1, 2, 3, 30))
    assert r["length"][0] == pytest.approx(1.0)  # K = 1: the vertex itself, on the sphere
    assert np.all(r["length"] <= 1.0 + 1e-12) and r["exact"].shape == (10, 2)
    # the vertices alternate across the valley: even K nearly cancels, odd K keeps s_1 / K
    assert r["length"][1] < 0.2 and r["length"][2] == pytest.approx(1 / 3, abs=0.05)
    assert r["angle"][1] < 10 < 60 < r["angle"][2]


def test_identity_model_step_is_normalized_only_for_large_gradients():
    assert np.allclose(identity_model_step([3.0, 4.0], 1.0), [-0.6, -0.8])
    assert np.allclose(identity_model_step([0.3, 0.4], 1.0), [-0.3, -0.4])
    assert np.array_equal(identity_model_step([0.0, 0.0], 1.0), [0.0, 0.0])
    # brute force over the ball agrees
    g = np.array([0.2, -0.1])
    t = np.linspace(0, 2 * np.pi, 721)
    rho = np.linspace(0, 1, 401)
    pts = 0.5 * (rho[:, None, None] * np.stack([np.cos(t), np.sin(t)], -1)[None]).reshape(-1, 2)
    best = pts[np.argmin(pts @ g + 0.5 * (pts * pts).sum(1))]
    assert np.allclose(identity_model_step(g, 0.5), best, atol=2e-3)


def test_tail_points_counts_a_bounce():
    fixed = trajectory("rosenbrock", lr=0.5, delta=0.5, K=5, p=math.inf, steps=100)
    decayed = trajectory(
        "rosenbrock", lr=0.5, delta=0.5, K=5, p=math.inf, steps=100, delta_decay=0.97
    )
    assert tail_points(fixed.iterates) == 2 and tail_points(decayed.iterates) == 20
    assert decayed.losses[-1] < fixed.losses[-1]


def test_final_loss_grid_depends_only_on_lr_times_delta_when_K_is_1():
    spec = get_loss("himmelblau")
    a = final_loss_grid(spec, spec.start, lrs=[0.2, 0.4], deltas=[0.4, 0.2], K=1, p=2, steps=30)
    assert a.shape == (2, 2)
    assert a[0, 0] == pytest.approx(a[1, 1], rel=1e-12)  # 0.2 * 0.4 == 0.4 * 0.2
    b = final_loss_grid(spec, spec.start, lrs=[0.2, 0.4], deltas=[0.4, 0.2], K=5, p=2, steps=30)
    assert b[0, 0] != pytest.approx(b[1, 1], rel=1e-6)
    assert np.all(p_norm(np.zeros((1, 2)), 2) == 0)


@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
def test_final_loss_grid_matches_trajectory(p):
    lrs, deltas = [0.1, 0.7], [0.05, 0.3, 1.0]
    grid = final_loss_grid("quadratic", (-2.5, -2.0), lrs=lrs, deltas=deltas, K=4, p=p, steps=40)
    ref = [
        [trajectory("quadratic", (-2.5, -2.0), lr=a, delta=d, K=4, p=p, steps=40).losses[-1]
         for d in deltas]
        for a in lrs
    ]  # fmt: skip
    assert np.allclose(grid, ref, rtol=1e-9, atol=1e-12)


# --- claims over the sliders' ranges and the checkers' accept/reject tables -------------------


def test_ball_claims_hold_over_every_setting_of_the_sliders():
    from fwlab.toy.lesson import ball_claims, slider_settings

    settings = slider_settings()
    assert len(settings) == 6 * 5 * 4
    worst = ball_claims(settings)
    assert worst["max_length"] <= 1 + 1e-12 and worst["k1_error"] <= 1e-12
    assert worst["first_gap_error"] <= 1e-9 and worst["min_gap"] >= -1e-12


def test_length_is_not_monotone_in_K_in_general():
    from fwlab.toy.lesson import length_curves, slider_settings

    curves = length_curves(slider_settings())
    monotone = np.all(np.diff(curves, axis=1) <= 1e-12, axis=1)
    assert curves.shape == (120, 30) and np.all(curves[:, 0] <= 1.0 + 1e-12)
    assert monotone.sum() == 21  # of 120: neither a rule nor never
    d = length_curves([("rosenbrock", 2.0, 0.5)])[0]
    assert d[2] > d[1]  # K = 3 longer than K = 2 at the defaults


def test_mean_moves_and_frozen_ks_at_the_defaults():
    from fwlab.toy.lesson import alternating_vertices, frozen_ks, mean_moves
    from fwlab.toy.sliders import DELTA_VALUES

    m = mean_moves("rosenbrock", deltas=DELTA_VALUES, lr=0.5, K=5, p=2, steps=100)
    assert DELTA_VALUES[int(np.argmax(m))] == 1.5 and np.all(m <= 0.5 * np.array(DELTA_VALUES))
    kw = dict(delta=0.5, lr=0.5, steps=100)
    assert frozen_ks("rosenbrock", p=1.0, **kw) == [2, 4, 6]
    assert frozen_ks("rosenbrock", p=math.inf, **kw) == [2, 4, 6, 8]
    assert frozen_ks("rosenbrock", p=2.0, **kw) == []
    assert frozen_ks("rosenbrock", p=1.0, delta=0.5, lr=0.5, steps=0) == []  # no step: none
    v = trajectory("rosenbrock", lr=0.5, delta=0.5, K=8, p=math.inf, steps=1).vertices[0]
    assert alternating_vertices(v) == 8
    assert alternating_vertices(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])) == 2


CS = (3.0, 0.1, 7.0, 1 / 3, 4.0)


@pytest.mark.parametrize("loss", ["rosenbrock", "quadratic", "rastrigin", "beale"])
@pytest.mark.parametrize("p", PS)
def test_same_path_checker_accepts_every_c_and_rejects_another_product(loss, p):
    from fwlab.toy.lesson import check_same_path

    kw = dict(loss=loss, lr=0.5, delta=0.5, K=1, p=p, steps=100)
    for c in CS:  # accept: (cη, δ/c) for every c, powers of two or not
        assert check_same_path(0.5 * c, 0.5 / c, **kw), c
    for lr_b, delta_b in ((1.5, 0.5), (0.5, 0.25), (0.5, 0.5 * 1.001), (1.0, 0.5)):  # reject
        assert not check_same_path(lr_b, delta_b, **kw), (lr_b, delta_b)


def test_same_path_checker_rejects_the_k1_rule_at_k5_and_validates():
    from fwlab.toy.lesson import check_same_path

    assert not check_same_path(1.0, 0.25, lr=0.5, delta=0.5, K=5, p=2.0)
    assert check_same_path(0.5, 0.5, lr=0.5, delta=0.5, K=5, p=2.0)  # the same pair
    with pytest.raises(ValueError, match="delta_b must be a finite number > 0"):
        check_same_path(1.0, 0.0)


def _l1_correct(v, r):
    v = np.asarray(v, float)
    if np.abs(v).sum() <= r:
        return v
    u1, u2 = sorted(np.abs(v), reverse=True)
    theta = u1 - r if u1 - u2 >= r else (u1 + u2 - r) / 2
    return np.sign(v) * np.maximum(np.abs(v) - theta, 0.0)


def _l1_bisection(v, r):
    v = np.asarray(v, float)
    if np.abs(v).sum() <= r:
        return v
    lo, hi = 0.0, np.abs(v).max()
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.maximum(np.abs(v) - mid, 0).sum() > r else (lo, mid)
    return np.sign(v) * np.maximum(np.abs(v) - hi, 0.0)


@pytest.mark.parametrize(
    "project, correct",
    [
        (_l1_correct, True),
        (_l1_bisection, True),
        (lambda v, r: project_ball(v, 1.0, r), True),
        (lambda v, r: v, False),  # the identity
        (lambda v, r: v * min(1.0, r / max(np.abs(v).sum(), 1e-300)), False),  # radial rescale
        (lambda v, r: np.clip(v, -r, r), False),  # the l-inf box
        (lambda v, r: _l1_correct(v, r) if np.abs(v).sum() > r else 0 * v, False),  # inside → 0
        (lambda v, r: 1 / 0, False),  # raises
    ],
)
def test_projection_checker_table(project, correct):
    from fwlab.toy.lesson import check_projection_l1
    from fwlab.toy.trust_region import project_ball  # noqa: F401 (used by a lambda above)

    assert bool(check_projection_l1(project)) is correct


@pytest.mark.parametrize(
    "delta, K, correct",
    [(0.1, 30, True), (0.125, 30, True), (0.08, 30, True), (0.15, 30, True),
     (0.5, 5, False), (0.5, 1, False), (0.1, 5, False), (0.2, 30, False), (0.05, 30, False)],
)  # fmt: skip
def test_exercise_3_checker_table_agrees_with_an_independent_computation(delta, K, correct):
    from fwlab.toy.lesson import check_exercise_3

    assert bool(check_exercise_3(delta, K)) is correct
    # independently: the vectorized FW recursion and a plain GD loop
    spec = get_loss("quadratic")
    fw = final_loss_grid(spec, spec.start, lrs=[0.5], deltas=[delta], K=K, p=2, steps=100)[0, 0]
    w = np.array(spec.start)
    for _ in range(100):
        w = w - spec.gd_lr * spec.grad_at(w)
    assert bool(fw < float(spec.at(w))) is correct


def test_exercise_3_checker_refuses_values_no_slider_shows():
    from fwlab.toy.lesson import check_exercise_3

    with pytest.raises(ValueError, match="delta must be one of the δ slider's values"):
        check_exercise_3(0.11, 30)
    with pytest.raises(ValueError, match="K must be an integer in"):
        check_exercise_3(0.1, 31)


def test_prompt_checkers_accept_the_computed_answer_and_reject_the_other():
    from fwlab.toy import step_zoom
    from fwlab.toy.lesson import (
        check_decay_prediction,
        check_eta_delta_prediction,
        check_gap_prediction,
        check_k_prediction,
        check_lmo_prediction,
        check_zoom_prediction,
    )

    z = step_zoom("rosenbrock", delta=0.5, p=2.0, K=30)
    zq = step_zoom("quadratic", delta=0.5, p=2.0, K=30)
    table = [  # (checker, right answer, a wrong answer)
        (lambda **a: check_zoom_prediction(z, **a), dict(reaches=False, steadily=False),
         dict(reaches=True, steadily=False)),
        (lambda **a: check_zoom_prediction(zq, **a), dict(reaches=False, steadily=True),
         dict(reaches=False, steadily=False)),
        (lambda **a: check_lmo_prediction(**a), dict(jump=[1, "inf"]), dict(jump=[1])),
        (lambda **a: check_lmo_prediction(**a), dict(jump=[math.inf, 1.0]), dict(jump=[2])),
        (lambda **a: check_k_prediction(**a), dict(fastest=4), dict(fastest=2)),
        (lambda **a: check_eta_delta_prediction(**a), dict(k1_changes=False, k5_changes=True),
         dict(k1_changes=True, k5_changes=True)),
        (lambda **a: check_decay_prediction(**a), dict(lower=True, still_bounces=False),
         dict(lower=True, still_bounces=True)),
        (lambda **a: check_gap_prediction(zq, **a), dict(below=False), dict(below=True)),
        (lambda **a: check_gap_prediction(z, **a), dict(below=True), dict(below=False)),
    ]  # fmt: skip
    for check, right, wrong in table:
        assert check(**right).correct is True, right
        assert check(**wrong).correct is False, wrong
        shown = check()  # no guess: the answer, neither right nor wrong
        assert shown.correct is None and not shown and "the answer" in str(shown)
    with pytest.raises(ValueError, match=r"^below must be True or False, got .no.; pass e"):
        check_gap_prediction(zq, below="no")


@pytest.mark.slow
def test_parity_is_not_a_rule_over_the_sliders_settings():
    """'Even K aims well, odd K across the valley' holds at the defaults, not in general: over
    every loss × p × δ ∈ {0.1, 0.5, 2} (5 path points each) K = 3 aims better than K = 2 at some
    settings and worse at others, on the quadratic too."""
    from fwlab.toy.lesson import path_centres, slider_settings

    wins = {}
    for loss, p, delta in slider_settings(deltas=(0.1, 0.5, 2.0)):
        c = path_centres(loss, delta=delta, p=p, every=20)
        a = k_sweep(loss, c, delta=delta, p=p, Ks=(2, 3))["angle"]
        wins[(loss, p, delta)] = bool(a[1] < a[0])
    odd = sum(wins.values())
    assert 0 < odd < len(wins) == 90, odd
    quad = [v for (loss, _, _), v in wins.items() if loss == "quadratic"]
    assert sum(quad) > len(quad) / 2  # odd K wins most settings there
    assert not wins[("rosenbrock", 2.0, 0.5)]  # and loses at the defaults
