"""Properties of the p-norm-ball LMOs (fwlab/optim/lmo.py)."""

import math

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given, settings
from hypothesis.extra.numpy import arrays

from fwlab.optim import as_p, dual_exponent, lmo, lmo_global, lp_norm

PS = [1.0, 1.5, 2.0, 3.0, math.inf]

grads = arrays(
    "float64",
    st.integers(1, 12),
    elements=st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False),
)


def _dual_norm(g: torch.Tensor, p: float) -> float:
    return float(torch.linalg.vector_norm(g, ord=dual_exponent(p)))


@pytest.mark.parametrize("p", PS)
@settings(max_examples=60, deadline=None)
@given(g=grads, radius=st.floats(1e-3, 10.0), seed=st.integers(0, 2**16))
def test_lmo_feasible_optimal_and_value(p, g, radius, seed):
    g = torch.from_numpy(g)
    s = lmo(g, p, radius)
    assert s.shape == g.shape and s.dtype == g.dtype
    assert torch.isfinite(s).all()
    assert float(lp_norm(s, p)) <= radius * (1 + 1e-6)
    # value = -radius * ||g||_q (Hölder equality)
    assert float(s @ g) == pytest.approx(-radius * _dual_norm(g, p), rel=1e-6, abs=1e-9)
    # no random feasible point does better
    gen = torch.Generator().manual_seed(seed)
    for _ in range(20):
        v = torch.randn(g.shape, generator=gen, dtype=g.dtype)
        n = float(lp_norm(v, p))
        if n > 0:
            v = v * (radius / n) * float(torch.rand((), generator=gen, dtype=g.dtype))
        assert float(s @ g) <= float(v @ g) + 1e-9 * (1 + abs(float(v @ g)))


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 0)])
def test_zero_gradient_gives_zeros_never_nan(p, shape):
    s = lmo(torch.zeros(shape), p, 0.7)
    assert s.shape == shape
    assert torch.equal(s, torch.zeros(shape))


@pytest.mark.parametrize("p", PS)
def test_tiny_and_huge_gradients_stay_finite(p):
    for scale in (1e-30, 1e30):
        g = torch.tensor([1.0, -2.0, 3.0]) * scale
        s = lmo(g, p, 1.0)
        assert torch.isfinite(s).all()
        assert float(lp_norm(s, p)) == pytest.approx(1.0, rel=1e-5)


def test_closed_forms():
    g = torch.tensor([3.0, -4.0, 0.0])
    assert torch.allclose(lmo(g, 2, 2.0), torch.tensor([-1.2, 1.6, 0.0]))
    assert torch.equal(lmo(g, "inf", 0.5), torch.tensor([-0.5, 0.5, 0.0]))
    assert torch.equal(lmo(g, 1, 0.5), torch.tensor([0.0, 0.5, 0.0]))
    # p = 1 with ties: one vertex, the first index
    assert torch.equal(lmo(torch.tensor([2.0, -2.0, 1.0]), 1, 1.0), torch.tensor([-1.0, 0.0, 0.0]))
    # 1 < p < inf: s_i = -r sign(g_i) |g_i|^{q-1} / ||g||_q^{q-1}; p = 3 -> q = 1.5
    g = torch.tensor([1.0, -8.0], dtype=torch.float64)
    q = 1.5
    expect = -torch.sign(g) * g.abs() ** (q - 1) / torch.linalg.vector_norm(g, q) ** (q - 1)
    assert torch.allclose(lmo(g, 3, 1.0), expect)


def test_ball_covers_the_whole_tensor_not_rows():
    g = torch.tensor([[3.0, 4.0], [0.0, 1e-3]])
    s = lmo(g, 2, 1.0)
    assert float(torch.linalg.vector_norm(s)) == pytest.approx(1.0)
    assert float(torch.linalg.vector_norm(s[1])) < 1e-3  # a per-row ball would give 1 here


@pytest.mark.parametrize("p", PS)
def test_global_equals_lmo_of_concatenation(p):
    torch.manual_seed(0)
    gs = [torch.randn(3, 2), torch.randn(4), torch.randn(1, 1, 5)]
    s = lmo_global(gs, p, 0.3)
    flat = lmo(torch.cat([g.flatten() for g in gs]), p, 0.3)
    assert [t.shape for t in s] == [g.shape for g in gs]
    assert torch.equal(torch.cat([t.flatten() for t in s]), flat)
    assert lmo_global([], p, 1.0) == []


def test_dual_exponent_and_as_p():
    assert dual_exponent(1) == math.inf
    assert dual_exponent(math.inf) == 1.0
    assert dual_exponent(4) == pytest.approx(4 / 3)
    assert as_p("inf") == math.inf and as_p("INF") == math.inf and as_p(3) == 3.0


@pytest.mark.parametrize("bad", [0.5, 0, -1, float("nan"), "two", True, None, [2]])
def test_invalid_p(bad):
    with pytest.raises(ValueError, match="p must be"):
        lmo(torch.ones(2), bad, 1.0)


@pytest.mark.parametrize("bad", [-1.0, "1", None, True])
def test_invalid_radius(bad):
    with pytest.raises(ValueError, match="radius must be"):
        lmo(torch.ones(2), 2, bad)


@pytest.mark.parametrize("p", [40.0, 400.0, 1e6, 1e300])
@pytest.mark.parametrize("scale", [1e-30, 0.3, 4.0, 1e30])
def test_lp_norm_of_a_large_p_tends_to_the_max_norm(p, scale):
    x = torch.tensor([3.0, -4.0, 1.0], dtype=torch.float64) * scale
    got = float(lp_norm(x, p))
    assert 4.0 * scale <= got * (1 + 1e-12) and got <= 4.0 * scale * 3 ** (1 / p) * (1 + 1e-12)
    assert float(lp_norm(x.float(), p)) == pytest.approx(got, rel=1e-5)


def test_lp_norm_keeps_zero_and_non_finite_inputs_as_they_are():
    assert float(lp_norm(torch.zeros(3), 1e6)) == 0.0
    assert math.isnan(float(lp_norm(torch.tensor([1.0, float("nan")]), 3)))
    assert math.isinf(float(lp_norm(torch.tensor([1.0, float("inf")]), 3)))
    assert float(lp_norm(torch.tensor([3.0, 4.0]), 2)) == 5.0
