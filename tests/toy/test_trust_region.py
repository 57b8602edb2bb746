"""fwlab.toy.trust_region: projections, the exact 2-D trust-region step, PG and FW iterates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fwlab.toy import get_loss, trajectory
from fwlab.toy.trust_region import (
    exact_step,
    frank_wolfe_steps,
    fw_gap,
    p_norm,
    project_ball,
    projected_gradient_steps,
    step_zoom,
)

PS = (1.0, 1.5, 2.0, 3.0, math.inf)


def _ball_samples(p, r, n=400):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    d = np.stack([np.cos(t), np.sin(t)], -1)
    d /= p_norm(d, p)[:, None]
    rho = np.linspace(0, 1, 60)
    return r * (rho[:, None, None] * d[None]).reshape(-1, 2)


@pytest.mark.parametrize("p", PS)
def test_projection_is_feasible_and_nearest(p):
    rng = np.random.default_rng(1)
    v = rng.normal(size=(20, 2)) * 1.5
    x = project_ball(v, p, 0.7)
    assert x.shape == v.shape
    assert np.all(p_norm(x, p) <= 0.7 * (1 + 1e-12))
    ys = _ball_samples(p, 0.7)
    for vi, xi in zip(v, x, strict=True):
        # no point of a dense sample of the ball is closer to v than the projection
        assert np.hypot(*(vi - xi)) <= np.hypot(*(vi - ys).T).min() + 1e-12


@pytest.mark.parametrize("p", PS)
def test_points_inside_are_unchanged(p):
    v = np.array([[0.1, -0.2], [0.0, 0.0]])
    assert np.array_equal(project_ball(v, p, 1.0), v)


def test_projection_closed_forms():
    assert project_ball([3.0, 1.0], 1, 1.0).tolist() == [1.0, 0.0]
    assert np.allclose(project_ball([2.0, 1.0], 1, 2.0), [1.5, 0.5])
    assert project_ball([0.3, -2.0], "inf", 1.0).tolist() == [0.3, -1.0]
    assert np.allclose(project_ball([3.0, 4.0], 2, 1.0), [0.6, 0.8])
    # p = 3: v - x is parallel to the normal |x|^(p-1) sign(x) of the boundary
    x = project_ball([1.0, -2.0], 3, 0.5)
    n = np.sign(x) * np.abs(x) ** 2
    d = np.array([1.0, -2.0]) - x
    assert abs(d[0] * n[1] - d[1] * n[0]) < 1e-14 and p_norm(x, 3) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"v": [1.0, 1.0], "p": 2, "radius": 0.0}, "radius must be a finite number > 0"),
        ({"v": [1.0, 1.0], "p": 2, "radius": math.inf}, "radius must be a finite"),
        ({"v": [1.0, 1.0], "p": 2, "radius": True}, "radius must be a finite number > 0"),
        ({"v": [1.0, 1.0], "p": 2, "radius": "1"}, "radius must be a finite number > 0"),
        ({"v": [math.nan, 1.0], "p": 2, "radius": 1.0}, "v must hold finite points"),
        ({"v": [1.0, 1.0], "p": 0.5, "radius": 1.0}, "p"),
    ],
)
def test_projection_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        project_ball(**kwargs)


def _quadratic_tr_step(g, A, delta):
    """Moré-Sorensen for p = 2 on a convex quadratic: Δ = -(A + λI)^-1 g, ||Δ|| = δ."""
    lo, hi = 0.0, 1e6
    for _ in range(200):
        lam = 0.5 * (lo + hi)
        d = -np.linalg.solve(A + lam * np.eye(2), g)
        lo, hi = (lam, hi) if np.linalg.norm(d) > delta else (lo, lam)
    return d


def test_exact_step_matches_the_quadratic_trust_region_solution():
    A = np.array([[7.0, -6.0 * math.sqrt(3.0)], [-6.0 * math.sqrt(3.0), 19.0]])
    w = np.array([-2.5, -2.0])
    for delta in (0.05, 0.5, 2.0):
        d = exact_step("quadratic", w, delta=delta, p=2)
        assert np.allclose(d, _quadratic_tr_step(A @ w, A, delta), atol=1e-7)
        assert abs(fw_gap("quadratic", w, d, delta, 2.0)) < 1e-6
    # a ball that holds the minimizer: the step goes there (an interior solution)
    assert np.allclose(exact_step("quadratic", w, delta=3.5, p=2), -w, atol=1e-7)


@pytest.mark.parametrize("p", PS)
def test_exact_step_beats_every_point_of_a_dense_sample(p):
    spec = get_loss("rosenbrock")
    w = np.array(spec.start)
    d = exact_step(spec, w, delta=0.5, p=p)
    assert p_norm(d, p) <= 0.5 * (1 + 1e-12)
    f_star = float(spec.at(w + d))
    assert f_star <= spec.at(w + _ball_samples(p, 0.5)).min() + 1e-12
    assert abs(fw_gap(spec, w, d, 0.5, p)) < 1e-6


def test_exact_step_errors():
    with pytest.raises(ValueError, match="delta"):
        exact_step("quadratic", (0.0, 0.0), delta=-1.0)
    with pytest.raises(ValueError, match="omega must be two finite numbers"):
        exact_step("quadratic", (0.0, math.nan), delta=1.0)
    with pytest.raises(ValueError, match="unknown loss"):
        exact_step("nope", (0.0, 0.0), delta=1.0)


@pytest.mark.parametrize("p", PS)
def test_projected_gradient_is_feasible_monotone_and_converges_on_the_quadratic(p):
    spec = get_loss("quadratic")
    w = np.array(spec.start)
    pg = projected_gradient_steps(spec, w, delta=0.5, p=p, K=60)
    assert pg.shape == (60, 2)
    assert np.all(p_norm(pg, p) <= 0.5 * (1 + 1e-12))
    f = spec.at(w + pg)
    assert np.all(np.diff(f) <= 1e-12)
    assert np.hypot(*(pg[-1] - exact_step(spec, w, delta=0.5, p=p))) < 1e-6


def test_projected_gradient_rejects_bad_K():
    with pytest.raises(ValueError, match="K must be an integer >= 1"):
        projected_gradient_steps("quadratic", (1.0, 1.0), delta=0.5, K=0)


def test_frank_wolfe_steps_are_the_first_outer_step_of_trajectory():
    dw, s, gaps = frank_wolfe_steps("beale", (-1.0, 2.0), delta=0.3, p=1.5, K=7)
    r = trajectory("beale", (-1.0, 2.0), lr=1.0, delta=0.3, K=7, p=1.5, steps=1)
    assert np.array_equal(dw, r.dw[0]) and np.array_equal(s, r.vertices[0])
    assert np.array_equal(gaps, r.gaps[0])


def test_step_zoom_distances_and_values():
    z = step_zoom("himmelblau", delta=0.5, p=2, K=30)
    assert z.fw_dw.shape == z.pg_dw.shape == z.fw_vertices.shape == (30, 2)
    assert np.allclose(z.fw_distance, np.linalg.norm(z.fw_dw - z.exact, axis=1))
    assert np.allclose(z.pg_distance, np.linalg.norm(z.pg_dw - z.exact, axis=1))
    assert z.f_exact <= min(z.f_fw.min(), z.f_pg.min()) + 1e-12
    assert abs(z.exact_gap) < 1e-6
    # on this smooth step both converge; the averages more slowly (O(1/k))
    assert z.pg_distance[-1] < 1e-6 < z.fw_distance[-1] < z.fw_distance[0]
