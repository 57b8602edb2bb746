"""Tests of fwlab/data/adding.py: mask layout, target, seeding and the 1/6 stalled level."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fwlab.data import STALLED_MSE, SequenceData, adding_problem, load_adding


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 20), T=st.integers(2, 60), seed=st.integers(0, 2**31 - 1))
def test_mask_one_per_half_and_target_is_sum_of_marked(n, T, seed):
    x, y = adding_problem(n, T, seed=seed)
    assert x.shape == (n, T, 2) and y.shape == (n, 1)
    assert x.dtype == y.dtype == torch.float32
    values, mask = x[..., 0], x[..., 1]
    half = T // 2
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.all(mask[:, :half].sum(1) == 1)
    assert torch.all(mask[:, half:].sum(1) == 1)
    assert torch.all((values >= 0) & (values < 1))
    torch.testing.assert_close(y[:, 0], (values * mask).sum(1))


def test_seeded_and_seed_sensitive():
    a = adding_problem(5, 30, seed=3)
    b = adding_problem(5, 30, seed=3)
    c = adding_problem(5, 30, seed=4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_constant_one_predictor_mse_is_one_sixth():
    _, y = adding_problem(20_000, 100, seed=0, dtype=torch.float64)
    mse = float(((y - 1.0) ** 2).mean())
    # Var[(U1+U2-1)^2] = E[(.)^4] - (1/6)^2 = 1/15 - 1/36; sd of the mean on 20k ~ 0.0014
    assert mse == pytest.approx(STALLED_MSE, abs=0.006)
    assert float(y.mean()) == pytest.approx(1.0, abs=0.01)


def test_marked_positions_cover_each_half_uniformly():
    x, _ = adding_problem(20_000, 10, seed=1)
    counts = x[..., 1].sum(0)  # per position; each half gets 20k marks over 5 positions
    torch.testing.assert_close(counts, torch.full((10,), 4000.0), atol=300, rtol=0)


def test_load_adding_shapes_and_independent_test_set():
    d = load_adding(25, n_train=30, n_test=7, seed=5)
    assert isinstance(d, SequenceData)
    assert d.task == "regression" and d.output_size == 1 and d.n_classes is None
    assert d.train.tensors[0].shape == (30, 25, 2) and d.test.tensors[1].shape == (7, 1)
    bigger = load_adding(25, n_train=60, n_test=7, seed=5)
    assert torch.equal(bigger.test.tensors[0], d.test.tensors[0])  # test set unchanged
    assert not torch.equal(d.train.tensors[0][:7], d.test.tensors[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(n=0, seq_len=5), "n must"), (dict(n=3, seq_len=1), "seq_len"),
     (dict(n=3, seq_len=5.0), "seq_len")],
)  # fmt: skip
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        adding_problem(**kwargs)
    with pytest.raises(ValueError, match="n_test"):
        load_adding(10, n_test=0)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        load_adding(10, seed=-1)
