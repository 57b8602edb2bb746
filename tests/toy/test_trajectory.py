"""Trajectories on toy losses: invariants of Algorithm 1, and the fast path against torch."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fwlab.optim import dual_exponent, lmo
from fwlab.toy import LOSSES, METHODS, get_loss, lmo_2d, playground_trajectories, trajectory

P_VALUES = [1.0, 1.5, 2.0, 3.0, math.inf]


def _pnorm(v: np.ndarray, p: float) -> np.ndarray:
    return np.linalg.norm(v, ord=p, axis=-1)


# --- the 2-D LMO --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    g=st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)),
    p=st.sampled_from(P_VALUES + [1.2, 4.0, 10.0]),
    r=st.floats(1e-3, 10.0),
)
def test_lmo_2d_equals_fwlab_lmo(g, p, r):
    expect = lmo(torch.tensor(g, dtype=torch.float64), p, r).tolist()
    got = lmo_2d(g[0], g[1], p, r)
    assert got == pytest.approx(expect, rel=1e-13, abs=1e-13 * r)
    if max(abs(g[0]), abs(g[1])) > 0:
        # Hölder: <g, s> = -r ||g||_q
        q = dual_exponent(p)
        gq = float(np.linalg.norm(np.array(g), ord=q))
        assert g[0] * got[0] + g[1] * got[1] == pytest.approx(-r * gq, rel=1e-9)


def test_lmo_2d_ties_and_zero_gradient():
    assert lmo_2d(2.0, -2.0, 1.0, 0.5) == (-0.5, 0.0)  # first index among ties, as fwlab.optim
    assert lmo_2d(0.0, 0.0, 2.0, 1.0) == (0.0, 0.0)
    assert lmo_2d(0.0, 3.0, math.inf, 1.0) == (0.0, -1.0)


# --- shapes, validation --------------------------------------------------------------------


def test_shapes_and_defaults():
    r = trajectory("himmelblau", K=4, steps=7)
    loss = get_loss("himmelblau")
    assert r.method == "fw" and r.loss == "himmelblau" and r.delta == loss.delta
    assert r.iterates.shape == (8, 2) and r.losses.shape == (8,)
    assert r.inner.shape == r.vertices.shape == r.dw.shape == (7, 4, 2)
    assert r.gaps.shape == (7, 4) and r.moves.shape == (7, 2) and r.steps == 7
    assert tuple(r.iterates[0]) == loss.start
    assert r.losses[3] == pytest.approx(loss(*r.iterates[3]))
    for m in ("gd", "ngd", "adam"):
        b = trajectory("himmelblau", method=m, lr=1e-3, steps=7)
        assert b.K == 0 and b.iterates.shape == (8, 2) and b.inner.shape == (7, 0, 2)
    z = trajectory("quadratic", (1.0, 1.0), steps=0)
    assert z.iterates.shape == (1, 2) and z.inner.shape == (0, 1, 2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "sgd"}, "method must be one of"),
        ({"lr": -1.0}, "lr must be"),
        ({"delta": 0.0}, "delta must be"),
        ({"K": 0}, "K must be an integer"),
        ({"K": 2.0}, "K must be an integer"),
        ({"steps": -1}, "steps must be"),
        ({"p": 0.5}, "p must be"),
        ({"x0": (1.0, float("nan"))}, "x0 must be two finite numbers"),
        ({"x0": (1.0, 2.0, 3.0)}, "x0 must be two finite numbers"),
    ],
)
def test_validation_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        trajectory("quadratic", **kwargs)


# --- invariants of Algorithm 1 -------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["rosenbrock", "beale", "himmelblau", "quadratic", "saddle", "rastrigin"]),
    delta=st.floats(1e-3, 2.0),
    lr=st.floats(0.0, 2.0),
    K=st.integers(1, 12),
    p=st.sampled_from(P_VALUES),
    frac=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_inner_points_stay_in_the_ball_and_outer_moves_are_at_most_lr_delta(
    name, delta, lr, K, p, frac
):
    (x0, x1), (y0, y1) = get_loss(name).window
    start = (x0 + frac[0] * (x1 - x0), y0 + frac[1] * (y1 - y0))
    r = trajectory(name, start, lr=lr, delta=delta, K=K, p=p, steps=15)
    assert np.all(_pnorm(r.dw, p) <= delta * (1 + 1e-9))
    assert np.all(_pnorm(r.vertices, p) <= delta * (1 + 1e-9))
    assert np.all(_pnorm(r.moves, p) <= lr * delta * (1 + 1e-9) + 1e-15)
    # the 1/k average: Δω_K is the mean of the K vertices; ω_t = ω_{t-1} + η Δω_K
    assert np.allclose(r.dw[:, -1], r.vertices.mean(axis=1), rtol=0, atol=1e-12 * delta)
    assert np.allclose(r.moves, lr * r.dw[:, -1], rtol=0, atol=1e-12)
    # FW gaps are >= 0, and at k = 1 (Δω_0 = 0) equal δ ||∇F(ω)||_q
    g = get_loss(name).grad_at(r.centers)
    scale = delta * (1.0 + np.abs(g).max())
    assert np.all(r.gaps >= -1e-12 * scale)
    assert np.allclose(r.gaps[:, 0], delta * _pnorm(g, dual_exponent(p)), rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["quadratic", "saddle", "himmelblau"])
def test_fw_goes_downhill(name):
    loss = get_loss(name)
    r = trajectory(name, lr=0.5, K=5, p=2, steps=100)
    assert r.losses[-1] < r.losses[0]
    assert r.losses[-1] - loss.min_value < 0.1 * (r.losses[0] - loss.min_value)


def test_gd_divergence_is_recorded_not_raised():
    r = trajectory("rosenbrock", method="gd", lr=0.1, steps=50)
    assert r.diverged is not None and 1 <= r.diverged <= 50
    assert np.all(np.isnan(r.iterates[r.diverged :]))
    assert np.all(np.isfinite(r.iterates[: r.diverged]))


# --- the fast path equals torch ------------------------------------------------------------


def _autograd_algorithm1(name, x0, lr, delta, K, p, steps):
    """Algorithm 1 written with autograd and fwlab.optim.lmo on a float64 tensor."""
    loss = get_loss(name)
    w = torch.tensor(x0, dtype=torch.float64)
    its, inner, verts = [w.clone()], [], []
    for _ in range(steps):
        dw = torch.zeros_like(w)
        for k in range(1, K + 1):
            z = (w + dw).requires_grad_(True)
            (g,) = torch.autograd.grad(loss.at(z), z)
            s = lmo(g, p, delta)
            dw = (1 - 1 / k) * dw + s / k
            inner.append(w + dw)
            verts.append(s)
        w = w + lr * dw
        its.append(w.clone())
    return (
        torch.stack(its).numpy(),
        torch.stack(inner).reshape(steps, K, 2).numpy(),
        torch.stack(verts).reshape(steps, K, 2).numpy(),
    )


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("K", [1, 3, 10])
@pytest.mark.parametrize("name", ["quadratic", "rosenbrock"])
def test_fast_path_equals_autograd_algorithm_1(name, K, p):
    x0, lr, delta, steps = (-1.3, 1.7), 0.7, 0.3, 25
    its, inner, verts = _autograd_algorithm1(name, x0, lr, delta, K, p, steps)
    r = trajectory(name, x0, lr=lr, delta=delta, K=K, p=p, steps=steps)
    np.testing.assert_allclose(r.iterates, its, rtol=0, atol=1e-10)
    np.testing.assert_allclose(r.inner, inner, rtol=0, atol=1e-10)
    np.testing.assert_allclose(r.vertices, verts, rtol=0, atol=1e-10)


def _frank_wolfe():
    try:
        from fwlab.optim import FrankWolfe
    except ImportError:  # lands with the lead's optimizer commit on main
        pytest.skip("fwlab.optim.FrankWolfe is not available on this branch yet")
    return FrankWolfe


def _torch_fw_closure(name, x0, lr, delta, K, p, steps):
    FrankWolfe = _frank_wolfe()
    loss = get_loss(name)
    w = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    opt = FrankWolfe([w], lr=lr, delta=delta, K=K, p=p, scope="global", outer="sgd")

    def closure():
        opt.zero_grad()
        f = loss.at(w)
        f.backward()
        return f

    its, gaps = [w.detach().clone()], []
    for _ in range(steps):
        opt.step(closure)
        its.append(w.detach().clone())
        gaps.append(float(opt.stats[0]["fw_gap"]))
    return torch.stack(its).numpy(), np.array(gaps)


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("K", [1, 3, 10])
@pytest.mark.parametrize("name", ["quadratic", "rosenbrock", "himmelblau"])
def test_fast_path_equals_torch_frank_wolfe_closure_mode(name, K, p):
    x0, lr, delta, steps = (-1.3, 1.7), 0.7, 0.3, 25
    its, last_gaps = _torch_fw_closure(name, x0, lr, delta, K, p, steps)
    r = trajectory(name, x0, lr=lr, delta=delta, K=K, p=p, steps=steps)
    np.testing.assert_allclose(r.iterates, its, rtol=0, atol=1e-10)
    np.testing.assert_allclose(r.gaps[:, -1], last_gaps, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
def test_inner_points_equal_torch_frank_wolfe_streaming_mode(p):
    # between streaming calls the parameter holds ω + Δω_k and state["dw"] holds Δω_k
    # (k < K; the K-th call applies the outer update and clears the transient state)
    FrankWolfe = _frank_wolfe()
    name, x0, lr, delta, K, steps = "himmelblau", (0.3, -0.4), 0.9, 0.4, 4, 12
    loss = get_loss(name)
    w = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    opt = FrankWolfe([w], lr=lr, delta=delta, K=K, p=p, scope="global", outer="sgd")
    its, shifted, dws = [w.detach().clone()], [], []
    for _ in range(steps):
        for k in range(1, K + 1):
            opt.zero_grad()
            loss.at(w).backward()
            opt.step()
            if k < K:
                shifted.append(w.detach().clone())
                dws.append(opt.state[w]["dw"].detach().clone())
        its.append(w.detach().clone())
    r = trajectory(name, x0, lr=lr, delta=delta, K=K, p=p, steps=steps)
    np.testing.assert_allclose(r.iterates, torch.stack(its).numpy(), rtol=0, atol=1e-10)
    shape = (steps, K - 1, 2)
    np.testing.assert_allclose(
        r.inner[:, :-1], torch.stack(shifted).reshape(shape).numpy(), rtol=0, atol=1e-10
    )
    np.testing.assert_allclose(
        r.dw[:, :-1], torch.stack(dws).reshape(shape).numpy(), rtol=0, atol=1e-10
    )
    # and Δω_K is what the outer step applied
    np.testing.assert_allclose(r.moves, lr * r.dw[:, -1], rtol=0, atol=1e-12)


def _torch_baseline(name, x0, method, lr, steps):
    loss = get_loss(name)
    w = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    if method == "gd":
        opt = torch.optim.SGD([w], lr=lr)
    else:
        opt = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999), eps=1e-8)
    its = [w.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        loss.at(w).backward()
        opt.step()
        its.append(w.detach().clone())
    return torch.stack(its).numpy()


@pytest.mark.parametrize("method, lr", [("gd", 1e-3), ("adam", 0.05)])
@pytest.mark.parametrize("name", ["rosenbrock", "beale", "rastrigin", "saddle"])
def test_baselines_equal_torch_optimizers(name, method, lr):
    x0 = get_loss(name).start
    expect = _torch_baseline(name, x0, method, lr, steps=60)
    r = trajectory(name, x0, method=method, lr=lr, steps=60)
    np.testing.assert_allclose(r.iterates, expect, rtol=0, atol=1e-10)


def _ngd_formula(name, x0, lr, delta, steps):
    """Normalized GD as its own formula, ω − (ηδ/‖u‖₂)·u with u = ∇F/max|∇F_i| (the explorer's
    code before it ran normalized GD through Frank-Wolfe's): another order of operations."""
    grad = get_loss(name).grad
    x, y = (float(v) for v in x0)
    pts = [(x, y)]
    for _ in range(steps):
        gx, gy = grad(x, y)
        gmax = max(abs(gx), abs(gy))
        if gmax > 0:
            ux, uy = gx / gmax, gy / gmax
            c = lr * delta / math.sqrt(ux * ux + uy * uy)
            x, y = x - c * ux, y - c * uy
        pts.append((x, y))
    return np.array(pts)


def _random_settings(n, seed=0):
    from fwlab.toy.sliders import DELTA_VALUES, LR_VALUES

    rng = np.random.default_rng(seed)
    names = list(LOSSES)
    for _ in range(n):
        name = names[rng.integers(len(names))]
        lo, hi = np.array(get_loss(name).window).T
        x0 = tuple(float(v) for v in rng.uniform(lo, hi))
        yield name, x0, float(rng.choice(LR_VALUES)), float(rng.choice(DELTA_VALUES))


def test_normalized_gd_is_fw_with_k1_p2_to_the_last_bit():
    """300 random settings of the explorer's sliders: the normalized-GD path the explorer draws
    is the Frank-Wolfe K = 1, p = 2 path, bit for bit (it is computed by the same code)."""
    for (name, x0, lr, delta), gamma in zip(_random_settings(300), [1.0, 0.97, 0.9] * 100):
        kw = dict(lr=lr, delta=delta, steps=100, delta_decay=gamma)
        ngd = trajectory(name, x0, method="ngd", **kw)
        fw = trajectory(name, x0, method="fw", K=1, p=2, **kw)
        assert np.array_equal(ngd.iterates, fw.iterates), (name, x0, kw)
    assert np.allclose(np.linalg.norm(ngd.moves, axis=1), lr * ngd.deltas)


def test_normalized_gd_as_its_own_formula_drifts_apart_by_rounding():
    """Why the explorer computes normalized GD through Frank-Wolfe's code: the same method
    written as its own formula agrees for the first steps, but rounding grows along chaotic
    paths (Rastrigin, Rosenbrock's valley) until the two are drawn apart."""
    apart = []
    for name, x0, lr, delta in _random_settings(300):
        fw = trajectory(name, x0, lr=lr, delta=delta, K=1, p=2, steps=100)
        own = _ngd_formula(name, x0, lr, delta, 100)
        scale = 1 + np.abs(fw.iterates[:4]).max()
        np.testing.assert_allclose(own[:4], fw.iterates[:4], rtol=0, atol=1e-13 * scale)
        if np.abs(own - fw.iterates).max() > 1e-3:
            apart.append(name)
    assert 5 <= len(apart) <= 60 and "rastrigin" in apart, apart  # 23 of 300 when written


def test_method_names():
    assert METHODS == ("fw", "gd", "ngd", "adam")


def test_fast_path_is_much_faster_than_autograd_and_a_torch_optimizer():
    name, x0, lr, delta, K, p, steps = "rosenbrock", (-1.5, 2.0), 0.5, 0.5, 10, 2.0, 100

    def best_of(n, fn):
        best = math.inf
        for _ in range(n):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        return best

    fast = best_of(5, lambda: trajectory(name, x0, lr=lr, delta=delta, K=K, p=p, steps=steps))
    try:
        _frank_wolfe()
        slow_fn = lambda: _torch_fw_closure(name, x0, lr, delta, K, p, steps)  # noqa: E731
        label = "torch FrankWolfe + autograd"
    except pytest.skip.Exception:
        slow_fn = lambda: _autograd_algorithm1(name, x0, lr, delta, K, p, steps)  # noqa: E731
        label = "autograd + fwlab.optim.lmo"
    slow = best_of(2, slow_fn)
    print(f"\n100 x K=10 trajectory: fast path {fast * 1e3:.2f} ms, {label} {slow * 1e3:.1f} ms")
    assert slow > 5 * fast


@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
def test_delta_decay_shrinks_the_ball_and_makes_the_path_summable(p):
    r = trajectory("rosenbrock", lr=0.5, delta=0.5, K=5, p=p, steps=200, delta_decay=0.97)
    assert r.delta_decay == 0.97
    assert np.allclose(r.deltas, 0.5 * 0.97 ** np.arange(200), rtol=1e-14)
    assert np.all(_pnorm(r.dw, p) <= r.deltas[:, None] * (1 + 1e-9))
    assert np.all(_pnorm(r.moves, p) <= 0.5 * r.deltas * (1 + 1e-9))
    assert _pnorm(r.moves, p).sum() <= 0.5 * 0.5 / (1 - 0.97)
    # a fixed delta is the default and reproduces the old run bit for bit
    fixed = trajectory("rosenbrock", lr=0.5, delta=0.5, K=5, p=p, steps=20)
    again = trajectory("rosenbrock", lr=0.5, delta=0.5, K=5, p=p, steps=20, delta_decay=1.0)
    assert np.array_equal(fixed.iterates, again.iterates) and np.all(fixed.deltas == 0.5)


def test_delta_decay_applies_to_normalized_gd_and_is_validated():
    r = trajectory("quadratic", method="ngd", lr=1.0, delta=0.4, steps=10, delta_decay=0.5)
    assert np.allclose(np.linalg.norm(r.moves, axis=1), 0.4 * 0.5 ** np.arange(10))
    for bad in (0.0, 1.5, -0.1, math.nan):
        with pytest.raises(ValueError, match=r"delta_decay must be a number in \(0, 1\]"):
            trajectory("quadratic", delta_decay=bad)


def test_playground_trajectories_are_fw_and_the_three_baselines_with_their_settings():
    spec = get_loss("rosenbrock")
    fw, base = playground_trajectories(
        "rosenbrock", (0.5, -1.0), lr=0.4, delta=0.2, K=3, p="inf", steps=15, delta_decay=0.97
    )
    settings = {"lr": 0.4, "delta": 0.2, "steps": 15, "delta_decay": 0.97}
    same = trajectory(spec, (0.5, -1.0), K=3, p="inf", **settings)
    np.testing.assert_array_equal(fw.iterates, same.iterates)
    assert (fw.K, fw.p, sorted(base)) == (3, math.inf, ["adam", "gd", "ngd"])
    expected = {
        "gd": trajectory(spec, (0.5, -1.0), method="gd", lr=spec.gd_lr, steps=15),
        "ngd": trajectory(spec, (0.5, -1.0), method="ngd", **settings),
        "adam": trajectory(spec, (0.5, -1.0), method="adam", lr=0.4 * 0.2, steps=15),
    }
    for method, want in expected.items():
        np.testing.assert_array_equal(base[method].iterates, want.iterates)
        assert base[method].lr == want.lr
    _, base = playground_trajectories("rosenbrock", lr=0.4, K=1, steps=3, gd_lr=1e-4)
    assert (base["gd"].lr, base["ngd"].delta) == (1e-4, spec.delta)
    with pytest.raises(ValueError, match="K"):
        playground_trajectories("rosenbrock", lr=0.4, K=0, steps=3)
