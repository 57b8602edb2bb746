"""Tests of fwlab/models/indrnn_fused.py: the hand-written recurrence against the reference
autograd loop (fwlab.models.indrnn_recurrence / IndRNN(recurrence="reference")).

Tolerances, per tensor, scaled by s = max(1, max|reference|):
|fused − reference| ≤ atol·s + rtol·|reference| with float64 rtol = 1e-10, atol = 1e-12 and
float32 rtol = 1e-5, atol = 1e-5. The fused backward sums ∂L/∂u, ∂L/∂W and ∂L/∂b block by block,
the reference step by step, so the two differ by rounding only; gradients of long sequences reach
1e5 and more, hence the scale."""

from __future__ import annotations

import pytest
import torch

from fwlab.models import IndRNN, indrnn_layer_fused, indrnn_recurrence, indrnn_recurrence_fused
from fwlab.models import indrnn_fused as fused_module

TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-5)}
ACT = {"relu": torch.relu, "tanh": torch.tanh}


def assert_close(got, want, msg=None):
    tol = TOL[want.dtype]
    scale = max(1.0, float(want.detach().abs().max())) if want.numel() else 1.0
    torch.testing.assert_close(got, want, rtol=tol["rtol"], atol=tol["atol"] * scale, msg=msg)


def _pair(dtype, **kwargs):
    """Two IndRNNs with identical parameters, one fused and one reference."""
    torch.manual_seed(0)
    fused = IndRNN(recurrence="fused", **kwargs).to(dtype)
    with torch.no_grad():  # biases and BN affine away from their trivial initial values
        for name, p in fused.named_parameters():
            if "bias" in name or name.startswith("bn"):
                p.uniform_(-0.3, 0.3) if "bias" in name else p.uniform_(0.5, 1.5)
    ref = IndRNN(recurrence="reference", **kwargs).to(dtype)
    ref.load_state_dict(fused.state_dict())
    return fused, ref


def _run(model, x, h0, seed):
    torch.manual_seed(seed)  # the same dropout masks on both sides
    x = x.clone().requires_grad_()
    h0 = h0.clone().requires_grad_()
    out, h_n = model(x, h0)
    g_out = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    g_h = torch.linspace(1, -0.5, h_n.numel(), dtype=out.dtype).view_as(h_n)
    ((out * g_out).sum() + (h_n * g_h).sum()).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    return out.detach(), h_n.detach(), x.grad, h0.grad, grads


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
@pytest.mark.parametrize("stack", ["plain", "bn_dropout"])
def test_module_fused_equals_reference(dtype, batch_first, nonlinearity, stack):
    extra = dict(batch_norm=True, dropout=0.3) if stack == "bn_dropout" else {}
    kw = dict(input_size=3, hidden_size=6, num_layers=3, nonlinearity=nonlinearity)
    fused, ref = _pair(dtype, batch_first=batch_first, recurrent_max=1.1, **kw, **extra)
    T, N = 70, 4  # three backward blocks of 32, 32 and 6 steps
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N, T, 3, generator=g, dtype=dtype)
    if not batch_first:
        x = x.transpose(0, 1).contiguous()
    h0 = 0.5 * torch.randn(3, N, 6, generator=g, dtype=dtype)
    a, b = _run(fused, x, h0, seed=5), _run(ref, x, h0, seed=5)
    for got, want in zip(a[:4], b[:4], strict=True):
        assert_close(got, want)
    assert set(a[4]) == set(b[4]) and all(a[4][n] is not None for n in a[4])
    for name in a[4]:  # weight_ih, weight_hh, bias of every layer and the BN affine parameters
        assert_close(a[4][name], b[4][name], msg=name)


@pytest.mark.parametrize("T", [1, 31, 32, 33, 65])
@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
def test_recurrence_fused_equals_reference_at_block_edges(T, nonlinearity):
    g = torch.Generator().manual_seed(T)
    z = torch.randn(T, 3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    u = torch.empty(5, dtype=torch.float64).uniform_(-1.1, 1.1, generator=g).requires_grad_()
    h0 = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    got = indrnn_recurrence_fused(z, u, h0, nonlinearity)
    want = indrnn_recurrence(z, u, h0, ACT[nonlinearity])
    assert_close(got, want)
    w = torch.randn(got.shape, generator=g, dtype=torch.float64)
    for a, b in zip(
        torch.autograd.grad(got, (z, u, h0), w),
        torch.autograd.grad(want, (z, u, h0), w),
        strict=True,
    ):
        assert_close(a, b)


def test_recurrence_fused_batch_first_layout():
    z = torch.randn(2, 9, 4)  # (N, T, H)
    u, h0 = torch.rand(4), torch.randn(2, 4)
    bf = indrnn_recurrence_fused(z, u, h0, "tanh", time_dim=1)
    tm = indrnn_recurrence_fused(z.transpose(0, 1), u, h0, "tanh", time_dim=0)
    assert bf.shape == (2, 9, 4)
    torch.testing.assert_close(bf, tm.transpose(0, 1))


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
def test_gradcheck_and_gradgradcheck(nonlinearity, monkeypatch):
    monkeypatch.setattr(fused_module, "_CHUNK", 3)  # several blocks on a short sequence
    g = torch.Generator().manual_seed(2)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()

    # relu: pre-activations kept away from the kink (|z| >= 0.2 and a positive h0)
    x, w, b = r(7, 2, 3), r(4, 3), (0.5 + torch.rand(4, dtype=torch.float64)).requires_grad_()
    u = (0.9 * torch.rand(4, dtype=torch.float64, generator=g)).requires_grad_()
    h0 = (0.1 * torch.rand(2, 4, dtype=torch.float64, generator=g)).requires_grad_()
    layer = (x, w, b, u, h0)

    def f_layer(*a):
        return indrnn_layer_fused(*a, nonlinearity)

    z = torch.randn(7, 2, 4, dtype=torch.float64, generator=g)
    z = (z + 0.2 * z.sign()).requires_grad_()

    def f_rec(z, u, h0):
        return indrnn_recurrence_fused(z, u, h0, nonlinearity)

    assert torch.autograd.gradcheck(f_layer, layer)
    assert torch.autograd.gradcheck(f_rec, (z, u, h0))
    assert torch.autograd.gradgradcheck(f_layer, layer)
    assert torch.autograd.gradgradcheck(f_rec, (z, u, h0))


def test_layer_without_input_grad_and_without_bias():
    x, w, u, h0 = torch.randn(5, 2, 3), torch.randn(4, 3), torch.rand(4), torch.zeros(2, 4)
    w.requires_grad_()
    out = indrnn_layer_fused(x, w, None, u, h0, "relu")
    (gw,) = torch.autograd.grad(out.sum(), (w,))
    want = indrnn_recurrence(torch.nn.functional.linear(x, w), u, h0, torch.relu)
    torch.testing.assert_close(gw, torch.autograd.grad(want.sum(), (w,))[0])


def test_auto_uses_the_reference_under_torch_func():
    """autograd Functions without setup_context cannot run under torch.func transforms."""
    torch.manual_seed(0)
    rnn = IndRNN(2, 3, num_layers=2, batch_first=True).double().eval()
    x = torch.randn(2, 5, 2, dtype=torch.float64)
    params = {n: p.detach() for n, p in rnn.named_parameters()}

    def loss(p):
        return torch.func.functional_call(rnn, p, (x,))[0].square().sum()

    got = torch.func.grad(loss)(params)
    want = torch.autograd.grad(loss(dict(rnn.named_parameters())), list(rnn.parameters()))
    for name, w in zip(params, want, strict=True):
        torch.testing.assert_close(got[name], w)


def _rec(z=(3, 2, 4), u=(4,), h0=(2, 4), dtype=torch.float32, **kw):
    return lambda: indrnn_recurrence_fused(
        torch.ones(z, dtype=dtype), torch.ones(u, dtype=dtype), torch.zeros(h0, dtype=dtype), **kw
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (_rec(nonlinearity="gelu"), "nonlinearity must be one of"),
        (_rec(u=(5,)), r"u must have shape \(H,\) = \(4,\), got \(5,\)"),
        (_rec(h0=(3, 4)), r"h0 must have shape \(N, H\) = \(2, 4\), got \(3, 4\)"),
        (_rec(z=(3, 4)), "z must be 3-D"),
        (_rec(z=(0, 2, 4)), "at least one time step"),
        (_rec(time_dim=2), "time_dim must be 0 or 1, got 2"),
        (_rec(dtype=torch.long), "z must be a floating-point tensor"),
        (
            lambda: indrnn_recurrence_fused(
                torch.ones(3, 2, 4), torch.ones(4, dtype=torch.float64), torch.zeros(2, 4)
            ),
            r"u is torch.float64 .* convert u with u.to\(z\)",
        ),
    ],
)
def test_recurrence_fused_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none here)")
@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
def test_cuda_fused_equals_cpu_reference(nonlinearity):
    kw = dict(input_size=3, hidden_size=8, num_layers=2, nonlinearity=nonlinearity)
    fused, ref = _pair(torch.float64, batch_first=True, batch_norm=True, recurrent_max=1.1, **kw)
    fused.cuda()
    x = torch.randn(4, 40, 3, dtype=torch.float64)
    h0 = 0.5 * torch.randn(2, 4, 8, dtype=torch.float64)
    a = _run(fused, x.cuda(), h0.cuda(), seed=0)
    b = _run(ref, x, h0, seed=0)
    for got, want in zip(a[:4], b[:4], strict=True):
        assert_close(got.cpu(), want)
    for name in b[4]:
        assert_close(a[4][name].cpu(), b[4][name], msg=name)


def test_autocast_auto_takes_the_reference_and_fused_computes_in_the_parameter_dtype():
    torch.manual_seed(0)
    fused, ref = _pair(torch.float32, input_size=3, hidden_size=8, num_layers=2, batch_first=True)
    auto = IndRNN(3, 8, num_layers=2, batch_first=True)
    auto.load_state_dict(ref.state_dict())
    x = torch.randn(4, 40, 3)
    results = {}
    for name, model in (("fused", fused), ("ref", ref), ("auto", auto)):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, _ = model(x)
            out.float().square().sum().backward()  # backward inside autocast too
        results[name] = (out.detach().float(), model.weight_hh_l0.grad)
    assert torch.equal(results["auto"][0], results["ref"][0])  # auto = the reference
    assert torch.equal(results["auto"][1], results["ref"][1])
    # fused ran in float32 (no bfloat16 projection): the numbers of a float32 run
    fused.zero_grad()
    out32, _ = fused(x)
    out32.square().sum().backward()
    torch.testing.assert_close(results["fused"][0], out32.detach())
    torch.testing.assert_close(results["fused"][1], fused.weight_hh_l0.grad)
    assert not torch.allclose(results["ref"][0], out32.detach())  # the reference used bfloat16


def test_sizes_accept_numpy_integers():
    import numpy as np

    rnn = IndRNN(np.int64(3), np.int32(4), num_layers=np.int64(2), seq_len_hint=np.int64(10))
    assert (rnn.input_size, rnn.hidden_size, rnn.num_layers) == (3, 4, 2)
    assert type(rnn.hidden_size) is int and rnn(torch.randn(5, 2, 3))[0].shape == (5, 2, 4)


def _masked_run(model, x, lengths, edit):
    """Forward, then change the output in place as nn.RNN users do (zero the padded steps of
    each sequence, batch-first), then backward; the output, input and parameter gradients."""
    x = x.clone().requires_grad_()
    out, h_n = model(x)
    edit(out, lengths)
    g = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    ((out * g).sum() + h_n.sum()).backward()
    return out.detach(), x.grad, {n: p.grad for n, p in model.named_parameters()}


def _mask_padding(out, lengths):
    for i, n in enumerate(lengths):
        out[i, n:] = 0.0


def _scale_and_clamp(out, lengths):
    out.mul_(2.0).clamp_(max=0.5)


def _masked_fill(out, lengths):
    steps = torch.arange(out.shape[1]).unsqueeze(0)
    out.masked_fill_((steps >= torch.tensor(lengths).unsqueeze(1)).unsqueeze(-1), 0.0)


@pytest.mark.parametrize("edit", [_mask_padding, _scale_and_clamp, _masked_fill])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
def test_output_changed_in_place_gives_the_reference_gradients(edit, num_layers, nonlinearity):
    fused, ref = _pair(torch.float64, input_size=3, hidden_size=5, num_layers=num_layers,
                       nonlinearity=nonlinearity, batch_first=True)  # fmt: skip
    x = torch.randn(3, 7, 3, dtype=torch.float64)
    lengths = [7, 4, 2]
    got = _masked_run(fused, x, lengths, edit)
    want = _masked_run(ref, x, lengths, edit)
    assert_close(got[0], want[0])
    assert_close(got[1], want[1])
    for name, g in want[2].items():
        assert_close(got[2][name], g, msg=name)
    # and what nn.RNN accepts, the same code runs on it
    rnn = torch.nn.RNN(3, 5, num_layers=num_layers, batch_first=True).double()
    out, _ = _masked_run(rnn, x, lengths, edit)[:2]
    assert out[2, 2:].eq(0).all() if edit is not _scale_and_clamp else out.max() <= 0.5


def test_recurrence_output_changed_in_place_and_a_second_backward_with_retain_graph():
    torch.manual_seed(3)
    z = torch.randn(6, 2, 4, dtype=torch.float64, requires_grad=True)
    u = torch.rand(4, dtype=torch.float64, requires_grad=True)
    h0 = torch.zeros(2, 4, dtype=torch.float64)
    grads = []
    for fn in (indrnn_recurrence_fused, lambda *a: indrnn_recurrence(*a, torch.tanh, 0)):
        args = (z, u, h0, "tanh") if fn is indrnn_recurrence_fused else (z, u, h0)
        h = fn(*args)
        h[3:] *= 0.5
        (h**2).sum().backward(retain_graph=True)
        first = (z.grad.clone(), u.grad.clone())
        (h**2).sum().backward()  # the same graph again: twice the first gradients
        assert_close(z.grad, 2 * first[0])
        grads.append(first)
        z.grad = u.grad = None
    assert_close(grads[0][0], grads[1][0])
    assert_close(grads[0][1], grads[1][1])


def test_output_is_not_a_view_so_any_in_place_op_is_allowed():
    x, w = torch.randn(5, 2, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    b = torch.randn(4, requires_grad=True)
    h = indrnn_layer_fused(x, w, b, torch.rand(4), torch.zeros(2, 4), "relu")
    assert not h._is_view()
    h.mul_(2.0).add_(1.0)[0].zero_()
    h.sum().backward()
    assert x.grad.shape == x.shape and torch.isfinite(w.grad).all()


def test_inference_mode_runs_and_gives_the_grad_mode_output():
    """Under torch.inference_mode (the loss landscape's grid) the output is an inference tensor,
    which has no version counter: the fused layer must not ask for one."""
    torch.manual_seed(0)
    model, x = IndRNN(3, 8, num_layers=2), torch.randn(4, 10, 3)
    with torch.inference_mode():
        fast, _ = model(x)
    assert fast.is_inference()
    with torch.no_grad():
        plain, _ = model(x)
    assert torch.equal(fast, plain)
