"""fwlab.toy.lesson: the vectorized numbers behind notebook 01's claims."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fwlab.toy import get_loss, lmo_2d, trajectory
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
