"""Tests of fwlab/models/indrnn.py: shapes, equality with a naive loop, gradients, init,
the recurrent bound, batch norm, dropout and validation."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call

from fwlab.models import IndRNN, indrnn_recurrence


def naive_indrnn(model: IndRNN, x: torch.Tensor, h0: torch.Tensor | None = None):
    """Per-step, per-layer loop written from the formula, time-major x (T, N, F), eval mode."""
    T, N, _ = x.shape
    act = torch.relu if model.nonlinearity == "relu" else torch.tanh
    layer_in = x
    h_n = []
    for k in range(model.num_layers):
        W = getattr(model, f"weight_ih_l{k}")
        u = getattr(model, f"weight_hh_l{k}")
        b = getattr(model, f"bias_l{k}") if model.bias else torch.zeros(model.hidden_size)
        h = torch.zeros(N, model.hidden_size, dtype=x.dtype) if h0 is None else h0[k]
        outs = []
        for t in range(T):
            h = act(layer_in[t] @ W.T + u * h + b)
            outs.append(h)
        layer_out = torch.stack(outs)
        h_n.append(h)
        if model.bn is not None:
            bn = model.bn[k]
            layer_out = (layer_out - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
            layer_out = layer_out * bn.weight + bn.bias
        layer_in = layer_out
    return layer_in, torch.stack(h_n)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("num_layers", [1, 3])
def test_output_and_h_n_shapes(batch_first, num_layers):
    rnn = IndRNN(5, 7, num_layers=num_layers, batch_first=batch_first)
    x = torch.randn(4, 11, 5) if batch_first else torch.randn(11, 4, 5)
    out, h_n = rnn(x)
    assert out.shape == ((4, 11, 7) if batch_first else (11, 4, 7))
    assert h_n.shape == (num_layers, 4, 7)  # regardless of batch_first


def test_unbatched_input():
    rnn = IndRNN(3, 6, num_layers=2)
    out, h_n = rnn(torch.randn(9, 3), torch.zeros(2, 6))
    assert out.shape == (9, 6) and h_n.shape == (2, 6)


def test_parameter_names_and_shapes():
    rnn = IndRNN(3, 6, num_layers=2)
    shapes = {n: tuple(p.shape) for n, p in rnn.named_parameters()}
    assert shapes == {
        "weight_ih_l0": (6, 3),
        "weight_hh_l0": (6,),
        "bias_l0": (6,),
        "weight_ih_l1": (6, 6),
        "weight_hh_l1": (6,),
        "bias_l1": (6,),
    }
    assert "bias_l0" not in dict(IndRNN(3, 6, bias=False).named_parameters())


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_equals_naive_loop(nonlinearity, batch_norm):
    torch.manual_seed(0)
    rnn = IndRNN(3, 5, num_layers=2, nonlinearity=nonlinearity, batch_norm=batch_norm).double()
    if batch_norm:  # non-trivial running statistics and affine parameters
        for bn in rnn.bn:
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.3, 0.3)
    with torch.no_grad():
        for k in range(2):
            getattr(rnn, f"bias_l{k}").uniform_(-0.2, 0.2)
    rnn.eval()
    x = torch.randn(13, 4, 3, dtype=torch.float64)
    h0 = torch.randn(2, 4, 5, dtype=torch.float64)
    out, h_n = rnn(x, h0)
    ref_out, ref_h = naive_indrnn(rnn, x, h0)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h_n, ref_h)
    # batch-first gives the same numbers, transposed
    rnn.batch_first = True
    out_bf, h_bf = rnn(x.transpose(0, 1), h0)
    torch.testing.assert_close(out_bf, ref_out.transpose(0, 1))
    torch.testing.assert_close(h_bf, ref_h)


def test_recurrence_core_both_layouts():
    z = torch.randn(6, 2, 3)
    u = torch.tensor([0.5, -1.0, 1.2])
    h0 = torch.randn(2, 3)
    tm = indrnn_recurrence(z, u, h0, torch.tanh, time_dim=0)
    bf = indrnn_recurrence(z.transpose(0, 1), u, h0, torch.tanh, time_dim=1)
    torch.testing.assert_close(bf, tm.transpose(0, 1))
    h = h0
    for t in range(6):
        h = torch.tanh(z[t] + u * h)
    torch.testing.assert_close(tm[-1], h)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_gradcheck_inputs_and_parameters(nonlinearity):
    torch.manual_seed(1)
    rnn = IndRNN(2, 3, num_layers=2, nonlinearity=nonlinearity, batch_first=True).double()
    with torch.no_grad():  # keep relu pre-activations away from the kink
        for k in range(2):
            getattr(rnn, f"bias_l{k}").fill_(0.3)
    rnn.eval()
    names = [n for n, _ in rnn.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in rnn.parameters()]
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    h0 = (0.1 * torch.rand(2, 2, 3, dtype=torch.float64)).requires_grad_()

    def f(x, h0, *ps):
        out, h_n = functional_call(rnn, dict(zip(names, ps, strict=True)), (x, h0))
        return out, h_n

    assert torch.autograd.gradcheck(f, (x, h0, *params))


def test_reference_initialization():
    torch.manual_seed(0)
    T = 784
    rnn = IndRNN(1, 2000, num_layers=3, seq_len_hint=T)
    bound = 5 ** (1 / T)
    assert rnn.recurrent_max == pytest.approx(bound)
    for k in range(2):
        u = rnn.get_parameter(f"weight_hh_l{k}").detach()
        assert float(u.min()) >= 0.0 and float(u.max()) <= bound
        assert float(u.min()) < 0.01  # spread over (0, bound), not concentrated near 1
    last = rnn.weight_hh_l2.detach()
    assert float(last.min()) >= 5 ** (-1 / T) and float(last.max()) <= bound
    for k in range(3):
        assert torch.count_nonzero(rnn.get_parameter(f"bias_l{k}")) == 0
    # kaiming_uniform(a=8): U(-b, b) with b = sqrt(6 / ((1 + a^2) fan_in))
    w = rnn.weight_ih_l1.detach()
    b = math.sqrt(6 / (65 * 2000))
    assert float(w.abs().max()) <= b and float(w.abs().max()) > 0.95 * b


def test_no_bound_without_hint():
    rnn = IndRNN(2, 50)
    assert rnn.recurrent_max is None
    u = rnn.weight_hh_l0.detach()
    assert 0.0 <= float(u.min()) and float(u.max()) <= 1.0
    with torch.no_grad():
        rnn.weight_hh_l0.fill_(3.0)
    rnn.clamp_recurrent_()
    assert torch.all(rnn.weight_hh_l0 == 3.0)


def test_recurrent_bound_holds_after_adam_with_big_lr():
    torch.manual_seed(0)
    rnn = IndRNN(2, 8, num_layers=2, recurrent_max=1.05, batch_first=True)
    opt = torch.optim.Adam(rnn.parameters(), lr=1.0)
    x = torch.randn(4, 10, 2)
    left_ball = False
    for _ in range(5):
        out, _ = rnn(x)  # training mode: clamps before the forward
        for u in rnn.recurrent_weights():
            assert float(u.detach().abs().max()) <= 1.05
        (-out.sum()).backward()  # pushes u up
        opt.step()
        opt.zero_grad()
        left_ball |= any(float(u.detach().abs().max()) > 1.05 for u in rnn.recurrent_weights())
    assert left_ball  # the optimizer did try to leave the ball
    rnn.clamp_recurrent_()
    assert all(float(u.detach().abs().max()) <= 1.05 for u in rnn.recurrent_weights())


def test_forward_uses_clamped_u_in_training_only():
    rnn = IndRNN(1, 1, recurrent_max=1.0, bias=False)
    with torch.no_grad():
        rnn.weight_ih_l0.fill_(1.0)
        rnn.weight_hh_l0.fill_(2.0)
    x = torch.tensor([[[1.0]], [[0.0]]])  # T=2, N=1
    rnn.eval()
    assert float(rnn(x)[0][-1].detach()) == 2.0  # eval leaves parameters alone: u = 2
    rnn.train()
    assert float(rnn(x)[0][-1].detach()) == 1.0  # clamped to u = 1 first
    assert float(rnn.weight_hh_l0.detach()) == 1.0


def test_batch_norm_train_and_eval():
    torch.manual_seed(0)
    rnn = IndRNN(3, 4, batch_norm=True, nonlinearity="tanh")
    x = 3 * torch.randn(10, 16, 3) + 1
    out, _ = rnn(x)
    flat = out.reshape(-1, 4)  # statistics over batch and time
    torch.testing.assert_close(flat.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(flat.var(0, unbiased=False), torch.ones(4), atol=1e-3, rtol=0)
    assert torch.count_nonzero(rnn.bn[0].running_mean) > 0
    rnn.eval()
    out_eval, _ = rnn(x)
    assert not torch.allclose(out_eval, out)  # running statistics, not batch statistics
    out_eval2, _ = rnn(x[:, :2])
    torch.testing.assert_close(out_eval2, out_eval[:, :2])  # eval is per-sample


def test_dropout_mask_shared_over_time_and_off_in_eval():
    torch.manual_seed(0)
    rnn = IndRNN(2, 64, num_layers=2, dropout=0.5, bias=False)
    with torch.no_grad():  # layer 1 = identity on positive inputs: out_t = mask * h_t
        rnn.weight_ih_l1.copy_(torch.eye(64))
        rnn.weight_hh_l1.zero_()
        rnn.weight_ih_l0.uniform_(0.5, 1.0)
    x = torch.rand(20, 3, 2) + 0.5  # positive input: every layer-0 unit is active
    out, _ = rnn(x)
    zero = out == 0
    assert torch.equal(zero, zero[:1].expand_as(zero))  # same units dropped at every t
    frac = zero[0].float().mean()
    assert 0.3 < float(frac) < 0.7
    kept_ratio = out[~zero] / _layer0(rnn, x)[~zero]
    torch.testing.assert_close(kept_ratio, torch.full_like(kept_ratio, 2.0))  # 1/(1-p)
    rnn.eval()
    out_eval, _ = rnn(x)
    assert torch.count_nonzero(out_eval == 0) == 0
    torch.testing.assert_close(out_eval, _layer0(rnn, x))


def _layer0(rnn, x):
    return indrnn_recurrence(
        x @ rnn.weight_ih_l0.T, rnn.weight_hh_l0, torch.zeros(x.shape[1], 64), torch.relu
    ).detach()


def test_no_dropout_after_last_layer():
    torch.manual_seed(0)
    rnn = IndRNN(2, 32, num_layers=1, dropout=0.9)
    x = torch.rand(5, 3, 2) + 1
    torch.testing.assert_close(rnn(x)[0], rnn.eval()(x)[0])


@settings(max_examples=25, deadline=None)
@given(
    T=st.integers(1, 12),
    N=st.integers(1, 4),
    H=st.integers(1, 6),
    L=st.integers(1, 3),
    batch_first=st.booleans(),
)
def test_shapes_property(T, N, H, L, batch_first):
    rnn = IndRNN(2, H, num_layers=L, batch_first=batch_first)
    x = torch.randn(N, T, 2) if batch_first else torch.randn(T, N, 2)
    out, h_n = rnn(x)
    assert out.shape[:2] == x.shape[:2] and out.shape[2] == H
    assert h_n.shape == (L, N, H)
    last = out[:, -1] if batch_first else out[-1]
    torch.testing.assert_close(h_n[-1], last)  # no BN: last output = last state


@pytest.mark.parametrize("batch_norm", [False, True])
def test_carried_state_equals_one_pass(batch_norm):
    """h_n is the pre-BN recurrent state, so chunks continue the sequence exactly."""
    torch.manual_seed(0)
    rnn = IndRNN(3, 5, num_layers=2, batch_first=True, batch_norm=batch_norm)
    rnn(torch.randn(8, 12, 3))  # non-trivial running statistics
    rnn.eval()
    x = torch.randn(2, 12, 3)
    full, h_full = rnn(x)
    a, h = rnn(x[:, :7])
    b, h2 = rnn(x[:, 7:], h)
    torch.testing.assert_close(torch.cat([a, b], 1), full)
    torch.testing.assert_close(h2, h_full)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(input_size=0, hidden_size=3), "input_size"),
        (dict(input_size=2, hidden_size=-1), "hidden_size"),
        (dict(input_size=2, hidden_size=3, num_layers=0), "num_layers"),
        (dict(input_size=2.5, hidden_size=3), "input_size"),
        (dict(input_size=2, hidden_size=3, nonlinearity="sigmoid"), "nonlinearity"),
        (dict(input_size=2, hidden_size=3, dropout=1.0), "dropout"),
        (dict(input_size=2, hidden_size=3, dropout=-0.1), "dropout"),
        (dict(input_size=2, hidden_size=3, recurrent_max=0.0), "recurrent_max"),
        (dict(input_size=2, hidden_size=3, recurrent_max=math.inf), "recurrent_max"),
        (dict(input_size=2, hidden_size=3, seq_len_hint=0), "seq_len_hint"),
    ],
)
def test_constructor_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        IndRNN(**kwargs)


def test_forward_validation():
    rnn = IndRNN(2, 3, num_layers=2)
    with pytest.raises(ValueError, match="input_size=2"):
        rnn(torch.randn(4, 1, 5))
    with pytest.raises(ValueError, match="hx must have shape"):
        rnn(torch.randn(4, 1, 2), torch.zeros(1, 1, 3))
    with pytest.raises(ValueError, match="3-D"):
        rnn(torch.randn(4, 1, 1, 2))


# ---------------------------------------------------------------- the recurrent bound and autograd
@pytest.mark.parametrize("recurrence", ["fused", "reference"])
def test_two_forwards_share_one_backward_with_a_bound(recurrence):
    """The clamp before a training forward must not invalidate an earlier forward's graph."""
    torch.manual_seed(0)
    rnn = IndRNN(2, 5, num_layers=2, seq_len_hint=20, recurrence=recurrence).double()
    assert rnn.recurrent_max is not None and rnn.training
    x1, x2 = torch.randn(20, 3, 2, dtype=torch.float64), torch.randn(20, 3, 2, dtype=torch.float64)
    loss = rnn(x1)[0].square().mean() + rnn(x2)[0].square().mean()
    versions = [u._version for u in rnn.recurrent_weights()]
    loss.backward()  # raised "modified by an inplace operation" when forward clamped in place
    both = [p.grad.clone() for p in rnn.parameters()]
    rnn.zero_grad()
    rnn(x1)[0].square().mean().backward()
    rnn(x2)[0].square().mean().backward()
    for got, want in zip(both, [p.grad for p in rnn.parameters()], strict=True):
        torch.testing.assert_close(got, want)
    assert [u._version for u in rnn.recurrent_weights()] == versions  # nothing was written


@pytest.mark.parametrize("recurrence", ["fused", "reference"])
def test_tbptt_without_detaching_equals_one_pass(recurrence):
    torch.manual_seed(1)
    rnn = IndRNN(3, 4, num_layers=2, recurrent_max=1.05, recurrence=recurrence).double()
    x = torch.randn(30, 2, 3, dtype=torch.float64)
    out, _ = rnn(x)
    out.sum().backward()
    whole = [p.grad.clone() for p in rnn.parameters()]
    rnn.zero_grad()
    h, total = None, 0
    for chunk in x.split(7):  # 7, 7, 7, 7, 2 steps; the state is carried, not detached
        out, h = rnn(chunk, h)
        total = total + out.sum()
    total.backward()
    for got, want in zip([p.grad for p in rnn.parameters()], whole, strict=True):
        torch.testing.assert_close(got, want)


def test_clamp_writes_only_out_of_bound_weights():
    rnn = IndRNN(1, 3, num_layers=2, recurrent_max=1.0)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.tensor([0.5, -0.9, 1.0]))
        rnn.weight_hh_l1.copy_(torch.tensor([2.0, -3.0, 0.1]))
    v0, v1 = rnn.weight_hh_l0._version, rnn.weight_hh_l1._version
    rnn(torch.randn(4, 2, 1))
    assert rnn.weight_hh_l0._version == v0  # inside the bound: untouched
    assert rnn.weight_hh_l1._version > v1
    assert rnn.weight_hh_l1.detach().tolist() == [1.0, -1.0, pytest.approx(0.1)]


def test_graph_across_a_clamping_step_is_refused_not_wrong():
    """An optimizer step that leaves the ball changes u; a graph saved before must then fail
    (as it does for any parameter an optimizer moved), never give gradients of the old u."""
    rnn = IndRNN(1, 2, recurrent_max=1.0, recurrence="fused")
    out1, _ = rnn(torch.randn(5, 1, 1))
    with torch.no_grad():
        rnn.weight_hh_l0.fill_(3.0)
    rnn(torch.randn(5, 1, 1))  # clamps: u changed in place
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out1.sum().backward()


# ---------------------------------------------------------------- hostile inputs
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch_first="yes"), r"batch_first must be True or False, got 'yes'"),
        (dict(bias=1), r"bias must be True or False, got 1"),
        (dict(batch_norm=None), r"batch_norm must be True or False, got None"),
        (dict(nonlinearity=None), r"nonlinearity must be one of \['relu', 'tanh'\], got None"),
        (dict(recurrence="cuda"), r"recurrence must be one of \['auto', 'fused', 'reference'\]"),
        (dict(num_layers=True), r"num_layers must be an integer >= 1, got True; pass e\.g\."),
        (dict(dropout="0.5"), r"dropout must be a number in \[0, 1\), got '0.5'"),
        (dict(recurrent_max=float("nan")), r"recurrent_max must be a finite number > 0"),
    ],
)
def test_constructor_rejects_hostile_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        IndRNN(2, 3, **kwargs)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ([[0.0, 1.0]] * 4, None), r"input must be a torch.Tensor, got list; convert it"),
        (lambda: (torch.ones(4, 1, 2, dtype=torch.long), None), r"floating-point.*input\.to\("),
        (lambda: (torch.ones(4, 1, 2, dtype=torch.float64), None), r"input is torch.float64 on "),
        (lambda: (torch.ones(4, 1, 5), None), r"input has 5 features .* input_size=2"),
        (lambda: (torch.ones(2), None), r"input must be 3-D \(T, N, F\) or 2-D \(T, F\), got"),
        (lambda: (torch.ones(0, 3, 2), None), r"at least one time step, got T=0"),
        (lambda: (torch.ones(4, 0, 2), None), r"empty batch \(N=0"),
        (lambda: (torch.ones(4, 3, 2), torch.zeros(2, 1, 3)), r"hx must have shape .* \(2, 3, 3\)"),
        (lambda: (torch.ones(4, 3, 2), torch.zeros(2, 3)), r"hx must have shape .* = \(2, 3, 3\)"),
        (lambda: (torch.ones(4, 2), torch.zeros(2, 1, 3)), r"\(num_layers, H\) for 2-D input"),
        (lambda: (torch.ones(4, 3, 2), [[0.0]]), r"hx must be a torch.Tensor of shape \(2, 3, 3\)"),
        (
            lambda: (torch.ones(4, 3, 2), torch.zeros(2, 3, 3, dtype=torch.float64)),
            r"hx is torch.float64 .* use hx\.to\(input\)",
        ),
    ],
)
def test_forward_rejects_hostile_inputs(make, match):
    rnn = IndRNN(2, 3, num_layers=2)
    x, hx = make()
    with pytest.raises(ValueError, match=match):
        rnn(x, hx)


def test_bad_inputs_leave_the_parameters_alone():
    rnn = IndRNN(2, 3, recurrent_max=1.0)
    with torch.no_grad():
        rnn.weight_hh_l0.fill_(5.0)
    with pytest.raises(ValueError):
        rnn(torch.ones(4, 1, 7))
    assert torch.all(rnn.weight_hh_l0 == 5.0)  # validation runs before the clamp


def test_paper_preset_model_two_forwards_one_backward():
    """Issue 13 item 8 at the level users meet it: the pixel-MNIST IndRNN (BN, dropout, bound)."""
    from fwlab.models import SequenceModel

    torch.manual_seed(0)
    model = SequenceModel(
        "indrnn", 1, 8, 10, num_layers=3, batch_norm=True, dropout=0.1, seq_len_hint=30
    )
    assert model.body.recurrent_max is not None
    x = torch.randn(4, 30, 1)
    y = torch.randint(0, 10, (4,))
    loss = sum(torch.nn.functional.cross_entropy(model(x[i : i + 2]), y[i : i + 2]) for i in (0, 2))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
