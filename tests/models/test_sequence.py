"""Tests of fwlab/models/sequence.py: bodies, head, batch norm placement, carried state."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fwlab.models import IndRNN, SequenceModel


@pytest.mark.parametrize("cell", ["rnn", "lstm", "indrnn"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_output_shape_and_body_type(cell, num_layers):
    m = SequenceModel(cell, 3, 8, 5, num_layers=num_layers)
    assert isinstance(m.body, {"rnn": nn.RNN, "lstm": nn.LSTM, "indrnn": IndRNN}[cell])
    assert m.body.batch_first
    y = m(torch.randn(4, 9, 3))
    assert y.shape == (4, 5)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "indrnn"])
def test_head_reads_last_step(cell):
    torch.manual_seed(0)
    m = SequenceModel(cell, 2, 6, 3).eval()
    x = torch.randn(3, 7, 2)
    out, _ = m.body(x)
    torch.testing.assert_close(m(x), m.head(out[:, -1]))
    # changing only the last step changes the output; the function is causal
    x2 = x.clone()
    x2[:, -1] += 1.0
    assert not torch.allclose(m(x2), m(x))


def test_default_nonlinearities_and_validation():
    assert SequenceModel("rnn", 1, 2, 1).body.nonlinearity == "tanh"
    assert SequenceModel("indrnn", 1, 2, 1).body.nonlinearity == "relu"
    assert SequenceModel("rnn", 1, 2, 1, nonlinearity="relu").body.nonlinearity == "relu"
    with pytest.raises(ValueError, match="cell"):
        SequenceModel("gru", 1, 2, 1)
    with pytest.raises(ValueError, match="nonlinearity"):
        SequenceModel("lstm", 1, 2, 1, nonlinearity="tanh")
    with pytest.raises(ValueError, match="nonlinearity"):
        SequenceModel("rnn", 1, 2, 1, nonlinearity="gelu")
    with pytest.raises(ValueError, match="output_size"):
        SequenceModel("rnn", 1, 2, 0)
    with pytest.raises(ValueError, match="dropout"):
        SequenceModel("rnn", 1, 2, 1, dropout=1.5)
    with pytest.raises(ValueError, match="recurrent_max"):
        SequenceModel("lstm", 1, 2, 1, recurrent_max=1.1)
    m = SequenceModel("rnn", 3, 4, 1)
    with pytest.raises(ValueError, match="batch-first"):
        m(torch.randn(5, 3))
    with pytest.raises(ValueError, match="tuple"):
        SequenceModel("lstm", 3, 4, 1)(torch.randn(2, 5, 3), torch.zeros(1, 2, 4))


def test_rnn_batch_norm_is_before_the_head():
    torch.manual_seed(0)
    m = SequenceModel("rnn", 2, 6, 1, batch_norm=True)
    assert isinstance(m.norm, nn.BatchNorm1d)
    x = torch.randn(32, 10, 2)
    m(x)  # training: batch statistics of h_T
    h_T = m.body(x)[0][:, -1].detach()
    torch.testing.assert_close(m.norm.running_mean, 0.1 * h_T.mean(0))
    m.eval()
    bn = m.norm
    expected = m.head(
        (h_T - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    )
    torch.testing.assert_close(m(x), expected)


def test_indrnn_batch_norm_is_inside_the_body():
    m = SequenceModel("indrnn", 2, 6, 1, num_layers=3, batch_norm=True, seq_len_hint=20)
    assert isinstance(m.norm, nn.Identity)
    assert m.body.batch_norm and len(m.body.bn) == 3
    assert m.body.recurrent_max == pytest.approx(5 ** (1 / 20))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "indrnn"])
def test_carried_state_equals_full_sequence(cell):
    """Running chunks with the carried state gives the full-sequence output (TBPTT forward)."""
    torch.manual_seed(0)
    m = SequenceModel(cell, 3, 5, 2, num_layers=2).eval()
    x = torch.randn(4, 20, 3)
    full = m(x)
    state = None
    for chunk in x.split(6, dim=1):  # 6, 6, 6, 2
        y, state = m(chunk, state, return_state=True)
        state = m.detach_state(state)
    torch.testing.assert_close(y, full)
    if cell == "lstm":
        assert isinstance(state, tuple) and state[0].shape == (2, 4, 5)
    else:
        assert state.shape == (2, 4, 5)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "indrnn"])
def test_detach_state_cuts_the_graph(cell):
    torch.manual_seed(0)
    m = SequenceModel(cell, 1, 4, 1)
    x1 = torch.randn(2, 5, 1, requires_grad=True)
    _, state = m(x1, return_state=True)
    y, _ = m(torch.randn(2, 5, 1), m.detach_state(state), return_state=True)
    y.sum().backward()
    assert x1.grad is None  # nothing flowed into the first chunk
    x1b = torch.randn(2, 5, 1, requires_grad=True)
    _, state = m(x1b, return_state=True)
    m(torch.randn(2, 5, 1), state).sum().backward()
    assert x1b.grad is not None and x1b.grad.abs().sum() > 0


def test_init_state_is_the_default():
    torch.manual_seed(0)
    m = SequenceModel("lstm", 2, 3, 1).eval()
    x = torch.randn(2, 4, 2)
    h, c = m.init_state(2)
    assert h.shape == c.shape == (1, 2, 3) and not h.any()
    torch.testing.assert_close(m(x, (h, c)), m(x))
    assert m.detach_state(None) is None


def test_trains_on_a_tiny_problem():
    """Goes the right direction: a few Adam steps lower the loss of a learnable mapping."""
    torch.manual_seed(0)
    x = torch.randn(64, 8, 2)
    y = x[:, :, 0].sum(1, keepdim=True)
    m = SequenceModel("indrnn", 2, 16, 1, seq_len_hint=8)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = nn.functional.mse_loss(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


FORWARD_ERRORS = [
    (lambda m: m(np.zeros((2, 3, 3), dtype=np.float32)), r"^x must be a torch.Tensor of shape"),
    (lambda m: m(torch.randn(7, 3)), r"got shape \(7, 3\); for one sequence use x.unsqueeze"),
    (lambda m: m(torch.randn(2, 7, 4)), r"x has 4 features per step but the model has input_"),
    (lambda m: m(torch.randn(0, 7, 3)), r"^x must hold at least one sequence, got N=0"),
    (lambda m: m(torch.randn(2, 0, 3)), r"^x must have at least one time step, got T=0"),
    (lambda m: m(torch.ones(2, 7, 3, dtype=torch.long)), r"^x must be a floating-point"),
    (lambda m: m(torch.randn(2, 7, 3, dtype=torch.float64)), r"x has dtype torch.float64 but"),
    (lambda m: m(torch.empty(2, 7, 3, device="meta")), r"x is on meta but the model is on cpu"),
    (lambda m: m(torch.randn(2, 7, 3), torch.zeros(1, 2, 5)), r"\(num_layers, N, hidden_size\)"),
    (lambda m: m(torch.randn(2, 7, 3), [torch.zeros(1, 2, 8)]), r"^state must hold tensors"),
    (
        lambda m: m(torch.randn(2, 7, 3), torch.zeros(1, 2, 8, dtype=torch.float64)),
        r"^state must have the dtype and device of x",
    ),
]


@pytest.mark.parametrize("call,regex", FORWARD_ERRORS)
def test_forward_errors_name_the_argument_the_shape_given_and_the_expected_one(call, regex):
    m = SequenceModel("rnn", 3, 8, 2)
    with pytest.raises(ValueError, match=regex):
        call(m)


def test_lstm_state_must_be_a_pair_and_batch_norm_needs_two_sequences():
    m = SequenceModel("lstm", 3, 8, 2, batch_norm=True)
    h = torch.zeros(1, 2, 8)
    with pytest.raises(ValueError, match=r"^state for cell='lstm' must be a tuple \(h, c\)"):
        m(torch.randn(2, 5, 3), (h, h, h))
    with pytest.raises(ValueError, match=r"at least 2 sequences.*got N=1.*model.eval\(\)"):
        m(torch.randn(1, 5, 3))
    assert m.eval()(torch.randn(1, 5, 3)).shape == (1, 2)


def test_numpy_integers_are_sizes_and_bad_flags_are_refused():
    m = SequenceModel("rnn", np.int64(3), np.int32(8), np.int64(2), num_layers=np.int64(2))
    assert m(torch.randn(2, 4, 3)).shape == (2, 2) and type(m.hidden_size) is int
    with pytest.raises(ValueError, match=r"^hidden_size must be an integer >= 1, got 8.0"):
        SequenceModel("rnn", 3, 8.0, 2)
    with pytest.raises(ValueError, match=r"^batch_norm must be True or False, got 'no'"):
        SequenceModel("rnn", 3, 8, 2, batch_norm="no")
