"""The 2-D toy losses: one body on floats, numpy and torch; analytic gradients; minima."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fwlab.toy import LOSSES, ToyLoss, get_loss, loss_names

NAMES = loss_names()


def test_registry_has_the_six_losses():
    assert NAMES == ["rosenbrock", "beale", "himmelblau", "quadratic", "saddle", "rastrigin"]
    for name in NAMES:
        assert get_loss(name) is LOSSES[name]
        assert get_loss(LOSSES[name]) is LOSSES[name]


def test_unknown_loss_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown loss 'booth'.*rosenbrock"):
        get_loss("booth")
    with pytest.raises(ValueError, match="no function body named 'booth'"):
        ToyLoss(
            name="booth", title="", window=((0, 1), (0, 1)), start=(0, 0), minima=(), min_value=0.0
        )


def test_losses_are_frozen_data_without_callables():
    loss = get_loss("beale")
    with pytest.raises(dataclasses.FrozenInstanceError):
        loss.delta = 1.0  # type: ignore[misc]
    for field in dataclasses.fields(loss):
        assert not callable(getattr(loss, field.name)), field.name
    # configurations refer to losses by name: equal data ⇒ equal loss
    assert dataclasses.replace(loss) == loss


@pytest.mark.parametrize("name", NAMES)
def test_window_contains_start_and_minima(name):
    loss = get_loss(name)
    (x0, x1), (y0, y1) = loss.window
    for x, y in (loss.start, *loss.minima):
        assert x0 <= x <= x1 and y0 <= y <= y1


def _window_points(name):
    (x0, x1), (y0, y1) = get_loss(name).window
    return st.tuples(st.floats(x0, x1, allow_nan=False), st.floats(y0, y1, allow_nan=False))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_analytic_gradient_matches_autograd(name, data):
    loss = get_loss(name)
    x, y = data.draw(_window_points(name))
    w = torch.tensor([x, y], dtype=torch.float64, requires_grad=True)
    loss.at(w).backward()
    gx, gy = loss.grad(x, y)
    scale = 1.0 + float(w.grad.abs().max())
    assert abs(gx - float(w.grad[0])) <= 1e-12 * scale
    assert abs(gy - float(w.grad[1])) <= 1e-12 * scale


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_same_body_on_floats_numpy_and_torch(name, data):
    loss = get_loss(name)
    x, y = data.draw(_window_points(name))
    v_float = loss(x, y)
    v_numpy = loss(np.array([x]), np.array([y]))
    v_torch = loss(torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64))
    assert isinstance(v_float, float)
    assert isinstance(v_numpy, np.ndarray) and v_numpy.shape == (1,)
    assert isinstance(v_torch, torch.Tensor)
    assert v_numpy[0] == pytest.approx(v_float, rel=1e-14, abs=1e-12)
    assert float(v_torch) == pytest.approx(v_float, rel=1e-14, abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_meshgrid_evaluation_and_vectorized_gradient(name):
    loss = get_loss(name)
    xs, ys, Z = loss.grid(n=31)
    assert xs.shape == ys.shape == (31,) and Z.shape == (31, 31)
    assert Z[4, 7] == pytest.approx(loss(xs[7], ys[4]), rel=1e-14, abs=1e-12)
    assert np.all(Z >= loss.min_value - 1e-9), "the minimum value is a lower bound"
    W = np.stack(np.meshgrid(xs[:5], ys[:3]), axis=-1)
    G = loss.grad_at(W)
    assert G.shape == (3, 5, 2)
    assert tuple(G[2, 4]) == pytest.approx(loss.grad(xs[4], ys[2]), rel=1e-14)
    C = loss.contour_values(Z)
    assert C.shape == Z.shape and np.all(np.isfinite(C))
    if loss.log_contour:
        assert C.min() >= 0.0 and C.max() < Z.max()


@pytest.mark.parametrize("name", NAMES)
def test_known_minima_have_the_value_and_zero_gradient(name):
    loss = get_loss(name)
    assert loss.minima
    for x, y in loss.minima:
        assert loss(x, y) == pytest.approx(loss.min_value, abs=1e-12)
        gx, gy = loss.grad(x, y)
        assert math.hypot(gx, gy) < 1e-9
    # and they are minima on the grid: nothing in the window is lower
    _, _, Z = loss.grid(n=201)
    assert Z.min() >= loss.min_value - 1e-12


def test_saddle_has_a_saddle_point_at_the_origin():
    loss = get_loss("saddle")
    assert loss.grad(0.0, 0.0) == (0.0, 0.0)
    h = 1e-3
    assert loss(h, 0.0) > loss(0.0, 0.0) > loss(0.0, h)


def test_quadratic_condition_number_is_25():
    loss = get_loss("quadratic")
    A = np.array([loss.grad(1.0, 0.0), loss.grad(0.0, 1.0)]).T
    assert np.allclose(A, A.T)
    assert np.linalg.eigvalsh(A) == pytest.approx([1.0, 25.0])
