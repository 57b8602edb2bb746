"""FrankWolfe against Algorithm 1, torch.optim conventions and faults."""

import copy
import math
import pickle

import pytest
import torch
from torch import nn

from fwlab.optim import FrankWolfe, NonFiniteError, lmo

PS = [1.0, 1.5, 2.0, 3.0, math.inf]


# ---------------------------------------------------------------- reference Algorithm 1
def algorithm1(w0, grad_fn, *, lr, delta, K, p, T):
    """Algorithm 1 of the paper on one flat vector, written as plainly as possible."""
    w = w0.clone()
    history = [w.clone()]
    for _ in range(T):
        dw = torch.zeros_like(w)
        for k in range(1, K + 1):
            s = lmo(grad_fn(w + dw), p, delta)
            dw = (1 - 1 / k) * dw + s / k
        w = w + lr * dw
        history.append(w.clone())
    return history


def flat(params):
    return torch.cat([q.detach().reshape(-1) for q in params])


def unflatten_into(vec, params):
    out, i = [], 0
    for q in params:
        out.append(vec[i : i + q.numel()].view_as(q))
        i += q.numel()
    return out


def least_squares(seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(20, 5, generator=g, dtype=torch.float64)
    b = torch.randn(20, generator=g, dtype=torch.float64)
    model = nn.Linear(5, 1).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, 5, generator=g, dtype=torch.float64))
        model.bias.zero_()

    def loss_fn(m=model):
        return ((m(A).squeeze(-1) - b) ** 2).mean()

    return model, loss_fn


def tiny_rnn(seed=0):
    torch.manual_seed(seed)
    model = nn.ModuleDict({"rnn": nn.RNN(3, 4, batch_first=True), "head": nn.Linear(4, 1)}).double()
    x = torch.randn(6, 7, 3, dtype=torch.float64)
    y = torch.randn(6, 1, dtype=torch.float64)

    def loss_fn(m=model):
        out, _ = m["rnn"](x)
        return ((m["head"](out[:, -1]) - y) ** 2).mean()

    return model, loss_fn


def closure_for(opt, loss_fn):
    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    return closure


def outer_step(opt, closure, mode, inner):
    """One outer step of ``opt``, ``closure`` computing the loss and its gradients: in one call
    (``mode == "closure"``), or streaming: ``inner`` times ``closure()`` then ``opt.step()``."""
    if mode == "closure":
        opt.step(closure)
    else:
        for _ in range(inner):
            closure()
            opt.step()


def lock_step(runs, steps, gamma=None, step_size=1):
    """``steps`` closure steps of each ``(optimizer, loss_fn)`` in ``runs``, side by side; with
    ``gamma``, a StepLR scheduler on each, stepped after every step."""
    scheds = [
        torch.optim.lr_scheduler.StepLR(o, step_size=step_size, gamma=gamma)
        for o, _ in (runs if gamma is not None else [])
    ]
    for _ in range(steps):
        for o, f in runs:
            o.step(closure_for(o, f))
        for s in scheds:
            s.step()


def vector_grad_fn(model, loss_fn):
    params = list(model.parameters())

    def grad_fn(vec):
        with torch.no_grad():
            saved = flat(params)
            for q, v in zip(params, unflatten_into(vec, params)):
                q.copy_(v)
        for q in params:
            q.grad = None
        loss_fn().backward()
        g = flat([q.grad for q in params])
        with torch.no_grad():
            for q, v in zip(params, unflatten_into(saved, params)):
                q.copy_(v)
        return g

    return grad_fn


def snapshot(opt, model):
    """Parameters and a deep copy of the state dict, to compare bit for bit."""
    return [q.detach().clone() for q in model.parameters()], copy.deepcopy(opt.state_dict())


def assert_bit_identical(opt, model, snap):
    params0, state0 = snap
    for q, q0 in zip(model.parameters(), params0):
        assert torch.equal(q, q0)
    state1 = opt.state_dict()
    assert state1["state"].keys() == state0["state"].keys()
    for i, st in state0["state"].items():
        assert st.keys() == state1["state"][i].keys()
        for key, val in st.items():
            other = state1["state"][i][key]
            assert torch.equal(val, other) if torch.is_tensor(val) else val == other
    assert state1["param_groups"] == state0["param_groups"]


# ---------------------------------------------------------------- exactness
@pytest.mark.parametrize("make", [least_squares, tiny_rnn])
@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("K", [1, 2, 5])
def test_closure_mode_is_algorithm1_with_global_scope(make, p, K):
    model, loss_fn = make()
    params = list(model.parameters())
    ref = algorithm1(flat(params), vector_grad_fn(model, loss_fn), lr=0.5, delta=0.1, K=K, p=p, T=6)
    opt = FrankWolfe(params, lr=0.5, delta=0.1, K=K, p=p, scope="global", outer="sgd")
    for t in range(1, 7):
        opt.step(closure_for(opt, loss_fn))
        assert torch.allclose(flat(params), ref[t], rtol=0, atol=1e-12), f"outer step {t}"


@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
@pytest.mark.parametrize("scope", ["tensor", "global"])
@pytest.mark.parametrize("outer", ["sgd", "adam"])
def test_streaming_mode_equals_closure_mode(p, scope, outer):
    m1, f1 = tiny_rnn(1)
    m2 = copy.deepcopy(m1)
    _, f2 = tiny_rnn(1)
    f2 = (lambda m: lambda: f1(m))(m2)
    kw = dict(lr=0.3, delta=0.05, K=3, p=p, scope=scope, outer=outer)
    o1, o2 = FrankWolfe(m1.parameters(), **kw), FrankWolfe(m2.parameters(), **kw)
    for _ in range(4):
        o1.step(closure_for(o1, f1))
        for k in range(3):
            o2.zero_grad()
            f2().backward()
            o2.step()
            assert o2.inner_step() == (k + 1) % 3
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(a, b)
    assert o1.stats[0]["fw_gap"] == pytest.approx(o2.stats[0]["fw_gap"], rel=1e-12)


def test_streaming_holds_the_shifted_point_between_calls():
    w = nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    opt = FrankWolfe([w], lr=1.0, delta=0.5, K=3, p=2)
    w0 = w.detach().clone()
    (w**2).sum().backward()
    opt.step()
    s1 = -0.5 * w0 / w0.norm()
    assert torch.allclose(w.detach(), w0 + s1)  # omega + dw_1, dw_1 = s_1
    assert torch.equal(opt.state[w]["omega"], w0)
    assert torch.allclose(opt.state[w]["dw"], s1)


def test_closure_called_K_times_and_returns_first_loss():
    model, loss_fn = least_squares()
    opt = FrankWolfe(model.parameters(), lr=0.1, delta=0.1, K=4)
    calls = []

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        calls.append(loss.item())
        return loss

    first = opt.step(closure)
    assert len(calls) == 4
    assert first.item() == calls[0]
    assert opt.stats[0]["loss"] == calls[0]


@pytest.mark.parametrize("lr,delta", [(1.0, 0.1), (0.3, 2.0)])
def test_K1_p2_is_normalized_gradient_descent(lr, delta):
    model, loss_fn = tiny_rnn(2)
    params = list(model.parameters())
    opt = FrankWolfe(params, lr=lr, delta=delta, K=1, p=2, scope="global")
    for _ in range(5):
        before = flat(params)
        opt.zero_grad()
        loss_fn().backward()
        g = flat([q.grad for q in params])
        opt.step()
        expect = before - lr * delta * g / g.norm()
        assert torch.allclose(flat(params), expect, atol=1e-12)
        assert float((flat(params) - before).norm()) == pytest.approx(lr * delta)


def per_tensor_displacement(model, loss_fn, *, K, p, delta):
    """Delta omega_K of Algorithm 1 with one ball per tensor, on a copy of ``model``."""
    twin = copy.deepcopy(model)
    params = list(twin.parameters())
    omega = [q.detach().clone() for q in params]
    dw = [torch.zeros_like(q) for q in params]
    for k in range(1, K + 1):
        with torch.no_grad():
            for q, o, d in zip(params, omega, dw):
                q.copy_(o + d)
        twin.zero_grad()
        loss_fn(twin).backward()
        dw = [(1 - 1 / k) * d + lmo(q.grad, p, delta) / k for q, d in zip(params, dw)]
    return dw


@pytest.mark.parametrize("K", [1, 3])
def test_outer_adam_equals_torch_adam_on_pseudo_gradient(K):
    m1, f1 = tiny_rnn(3)
    m2 = copy.deepcopy(m1)
    kw = dict(betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2)
    fw = FrankWolfe(m1.parameters(), lr=0.01, delta=0.2, K=K, p=2, outer="adam", **kw)
    adam = torch.optim.Adam(m2.parameters(), lr=0.01, **kw)
    for _ in range(5):
        dw = per_tensor_displacement(m2, f1, K=K, p=2, delta=0.2)
        fw.step(closure_for(fw, lambda: f1(m1)))
        for q, d in zip(m2.parameters(), dw):
            q.grad = -d / 0.2
        adam.step()
        for a, b in zip(m1.parameters(), m2.parameters()):
            assert torch.allclose(a, b, atol=1e-12, rtol=0)
        # the Adam moments are the same too
        for a, b in zip(m1.parameters(), m2.parameters()):
            assert torch.allclose(fw.state[a]["exp_avg_sq"], adam.state[b]["exp_avg_sq"])


def test_tensor_scope_is_one_ball_per_tensor():
    a = nn.Parameter(torch.tensor([3.0, 4.0]))
    b = nn.Parameter(torch.tensor([1e-3]))
    opt = FrankWolfe([a, b], lr=1.0, delta=1.0, K=1, p=2, scope="tensor")
    a.grad, b.grad = a.detach().clone(), b.detach().clone()
    opt.step()
    assert torch.allclose(a.detach(), torch.tensor([3.0 - 0.6, 4.0 - 0.8]))
    assert torch.allclose(b.detach(), torch.tensor([1e-3 - 1.0]))  # its own unit ball
    # the same step with one global ball barely moves b
    a2, b2 = nn.Parameter(torch.tensor([3.0, 4.0])), nn.Parameter(torch.tensor([1e-3]))
    opt2 = FrankWolfe([a2, b2], lr=1.0, delta=1.0, K=1, p=2, scope="global")
    a2.grad, b2.grad = a2.detach().clone(), b2.detach().clone()
    opt2.step()
    assert abs(b2.item() - 1e-3) < 1e-3


@pytest.mark.parametrize("mode", ["closure", "streaming"])
@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_parameter_without_grad_in_the_middle_changes_nothing(mode, scope):
    torch.manual_seed(0)
    x = torch.randn(8, 3)
    w1, w3 = nn.Parameter(torch.randn(3)), nn.Parameter(torch.randn(3))
    frozen = nn.Parameter(torch.randn(5))
    v1, v3 = nn.Parameter(w1.detach().clone()), nn.Parameter(w3.detach().clone())
    kw = dict(lr=0.2, delta=0.3, K=3, p=2, scope=scope, outer="adam")
    o_with = FrankWolfe([w1, frozen, w3], **kw)
    o_without = FrankWolfe([v1, v3], **kw)
    frozen0 = frozen.detach().clone()

    def run(opt, a, c):
        def f():
            opt.zero_grad()
            loss = ((x @ a).tanh() * (x @ c)).pow(2).mean()
            loss.backward()
            return loss

        outer_step(opt, f, mode, 3)

    for _ in range(3):
        run(o_with, w1, w3)
        run(o_without, v1, v3)
    assert torch.equal(w1, v1) and torch.equal(w3, v3)
    assert torch.equal(frozen, frozen0) and frozen not in o_with.state


def test_step_without_any_grad_is_a_noop():
    w = nn.Parameter(torch.randn(4))
    w0 = w.detach().clone()
    opt = FrankWolfe([w], lr=1.0, delta=1.0, K=2)
    opt.step()
    opt.step()
    assert torch.equal(w, w0) and opt.inner_step() == 0 and len(opt.state) == 0


@pytest.mark.parametrize("outer", ["sgd", "adam"])
def test_goes_downhill_and_maximize_goes_uphill(outer):
    for maximize in (False, True):
        torch.manual_seed(0)
        w = nn.Parameter(torch.randn(10))
        target = torch.randn(10)
        opt = FrankWolfe([w], lr=0.5, delta=0.1, K=3, outer=outer, maximize=maximize)

        def closure():
            opt.zero_grad()
            loss = ((w - target) ** 2).sum()
            loss.backward()
            return loss

        start = float(closure().detach())
        for _ in range(30):
            opt.step(closure)
        end = float(closure().detach())
        assert (end > start) if maximize else (end < start)


# ---------------------------------------------------------------- diagnostics
@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("K", [1, 4])
def test_stats_gap_nonnegative_norm_bounded_and_angle(p, K):
    model, loss_fn = tiny_rnn(4)
    opt = FrankWolfe(model.parameters(), lr=0.1, delta=0.05, K=K, p=p, scope="global")
    opt.step(closure_for(opt, loss_fn))
    st = opt.stats[0]
    assert st["fw_gap"] >= -1e-12
    assert st["step"] == 1 and st["K"] == K and st["delta"] == 0.05
    assert 0.0 <= st["angle_deg"] <= 180.0
    if p == 2 and K == 1:
        assert st["angle_deg"] == pytest.approx(0.0, abs=1e-5)
        assert st["dw_norm"] == pytest.approx(0.05)
    if p == 2:
        assert st["dw_norm"] <= 0.05 * (1 + 1e-9)


def test_fw_gap_of_K1_is_delta_times_dual_norm():
    w = nn.Parameter(torch.tensor([3.0, -4.0], dtype=torch.float64))
    opt = FrankWolfe([w], lr=1.0, delta=0.5, K=1, p=1)
    w.grad = torch.tensor([3.0, -4.0], dtype=torch.float64)
    opt.step()
    assert opt.stats[0]["fw_gap"] == pytest.approx(0.5 * 4.0)  # delta * ||g||_inf


# ---------------------------------------------------------------- torch.optim conventions
@pytest.mark.parametrize("mid_outer_step", [False, True])
def test_state_dict_round_trip_continues_in_lock_step(mid_outer_step):
    m1, f1 = tiny_rnn(5)
    kw = dict(lr=0.05, delta=0.1, K=3, p=2, outer="adam")
    o1 = FrankWolfe(m1.parameters(), **kw)
    for _ in range(2 * 3 + (1 if mid_outer_step else 0)):
        o1.zero_grad()
        f1().backward()
        o1.step()
    m2 = copy.deepcopy(m1)
    o2 = FrankWolfe(m2.parameters(), lr=9.0, delta=9.0, K=7, p=1)  # overwritten by the load
    sd = pickle.loads(pickle.dumps(o1.state_dict()))
    o2.load_state_dict(sd)
    assert o2.param_groups[0]["K"] == 3 and o2.inner_step() == o1.inner_step()
    f2 = lambda: f1(m2)  # noqa: E731
    for _ in range(7):
        for o, f in ((o1, f1), (o2, f2)):
            o.zero_grad()
            f().backward()
            o.step()
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(a, b)


def test_step_lr_changes_eta_and_delta_when_tied():
    for tied in (True, False):
        w = nn.Parameter(torch.tensor([1.0, 1.0], dtype=torch.float64))
        opt = FrankWolfe([w], lr=1.0, delta=0.2, K=1, p=2, tie_delta_to_lr=tied)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        moves = []
        for _ in range(3):
            before = w.detach().clone()
            w.grad = torch.tensor([1.0, 0.0], dtype=torch.float64)
            opt.step()
            sched.step()
            moves.append(float((w.detach() - before).norm()))
        # move = lr_t * delta_t: tied shrinks by 1/4 per step, untied by 1/2
        factor = 0.25 if tied else 0.5
        assert moves == pytest.approx([0.2, 0.2 * factor, 0.2 * factor**2])
        assert opt.stats[0]["delta"] == pytest.approx(0.2 * (0.25 if tied else 1.0))


def test_per_group_hyperparameters():
    a, b = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(2))
    opt = FrankWolfe([{"params": [a]}, {"params": [b], "lr": 2.0, "K": 2}], lr=1.0, delta=0.5)
    assert opt.param_groups[1]["K"] == 2 and opt.param_groups[0]["K"] == 1
    a.grad, b.grad = torch.ones(2), torch.ones(2)
    opt.step()
    assert opt.inner_step(0) == 0 and opt.inner_step(1) == 1
    assert float(a.detach().sub(1).norm()) == pytest.approx(0.5)


INVALID = [
    (dict(lr=-1.0), "lr"),
    (dict(lr="0.1"), "lr"),
    (dict(lr=float("nan")), "lr"),
    (dict(delta=0.0), "delta"),
    (dict(delta=-1e-3), "delta"),
    (dict(delta=math.inf), "delta"),
    (dict(K=0), "K"),
    (dict(K=2.5), "K"),
    (dict(K=True), "K"),
    (dict(p=0.5), "p"),
    (dict(p="two"), "p"),
    (dict(p=float("nan")), "p"),
    (dict(scope="layer"), "scope"),
    (dict(outer="sgdm"), "outer"),
    (dict(betas=(1.0, 0.999)), "betas"),
    (dict(betas=(0.9,)), "betas"),
    (dict(betas=(0.9, -0.1)), "betas"),
    (dict(eps=0.0), "eps"),
    (dict(weight_decay=-1e-4), "weight_decay"),
    (dict(tie_delta_to_lr="yes"), "tie_delta_to_lr"),
    (dict(maximize=1), "maximize"),
    (dict(nonfinite="ignore"), "nonfinite"),
]


@pytest.mark.parametrize("kwargs,name", INVALID)
def test_invalid_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        FrankWolfe([nn.Parameter(torch.ones(1))], **kwargs)


def test_invalid_group_value_rejected_and_group_not_added():
    opt = FrankWolfe([nn.Parameter(torch.ones(1))])
    with pytest.raises(ValueError, match="^K must"):
        opt.add_param_group({"params": [nn.Parameter(torch.ones(1))], "K": 0})
    assert len(opt.param_groups) == 1 and len(opt.stats) == 1


def test_p_accepts_inf_string_and_options_are_keyword_only():
    opt = FrankWolfe([nn.Parameter(torch.ones(1))], p="inf")
    assert opt.param_groups[0]["p"] == math.inf
    with pytest.raises(TypeError):
        FrankWolfe([nn.Parameter(torch.ones(1))], 1e-3, 1e-3, 1, 2.0, "global")


# ---------------------------------------------------------------- faults
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("at_k", [1, 2, 3])
@pytest.mark.parametrize("outer", ["sgd", "adam"])
def test_nonfinite_gradient_leaves_everything_bit_identical(bad, at_k, outer):
    model, loss_fn = tiny_rnn(6)
    opt = FrankWolfe(model.parameters(), lr=0.1, delta=0.1, K=3, outer=outer)
    opt.step(closure_for(opt, loss_fn))  # some Adam state first
    snap = snapshot(opt, model)
    calls = []

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        calls.append(1)
        if len(calls) == at_k:
            next(iter(model.parameters())).grad[0] = bad
        return loss

    with pytest.raises(NonFiniteError, match="non-finite gradient"):
        opt.step(closure)
    assert len(calls) == at_k
    assert_bit_identical(opt, model, snap)
    # the optimizer is usable afterwards
    opt.step(closure_for(opt, loss_fn))


def test_nonfinite_loss_in_streaming_mode_and_skip_option():
    w = nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = FrankWolfe([w], lr=1.0, delta=0.1, K=2, nonfinite="skip")
    w0 = w.detach().clone()
    w.grad = torch.ones(2)
    opt.step()  # inner 1 of 2: w moved to the shifted point
    assert not torch.equal(w, w0)
    w.grad = torch.tensor([float("nan"), 0.0])
    with pytest.warns(RuntimeWarning, match="non-finite gradient"):
        opt.step()
    assert torch.equal(w, w0) and opt.inner_step() == 0 and not opt.state
    opt2 = FrankWolfe([w], lr=1.0, delta=0.1, K=2)

    def closure():
        opt2.zero_grad()
        loss = (w * float("inf")).sum()
        loss.backward()
        return loss

    with pytest.raises(NonFiniteError, match="non-finite loss"):
        opt2.step(closure)
    assert torch.equal(w, w0)


def test_closure_step_refused_mid_streaming_and_reset_inner():
    w = nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = FrankWolfe([w], lr=1.0, delta=0.1, K=3)
    w.grad = torch.ones(2)
    opt.step()
    with pytest.raises(RuntimeError, match="middle of a streaming outer step"):
        opt.step(lambda: 0.0)
    opt.reset_inner()
    assert torch.equal(w, torch.tensor([1.0, 2.0])) and opt.inner_step() == 0


def test_repr_deepcopy_and_pickle():
    model, loss_fn = tiny_rnn(7)
    opt = FrankWolfe(model.parameters(), lr=0.1, delta=0.2, K=2, outer="adam")
    opt.step(closure_for(opt, loss_fn))
    text = repr(opt)
    assert text.startswith("FrankWolfe (") and "delta: 0.2" in text and "K: 2" in text
    clone = copy.deepcopy(opt)
    assert clone.stats == opt.stats and clone.param_groups[0]["K"] == 2
    pickle.dumps(opt.state_dict())


def test_sparse_gradient_rejected_and_complex_parameter_rejected():
    emb = nn.Embedding(5, 2, sparse=True)
    opt = FrankWolfe(emb.parameters())
    emb(torch.tensor([1])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()
    with pytest.raises(
        ValueError, match="real floating-point tensors, got a torch.complex64.*view_as_real"
    ):
        FrankWolfe([nn.Parameter(torch.ones(2, dtype=torch.complex64))])


def test_at_omega_shows_the_iterate_and_restores_the_shifted_point():
    w = nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = FrankWolfe([w], lr=1.0, delta=0.1, K=3)
    with opt.at_omega():  # between outer steps: nothing to swap
        assert torch.equal(w, torch.tensor([1.0, 2.0]))
    w.grad = torch.ones(2)
    opt.step()
    shifted = w.detach().clone()
    with opt.at_omega():
        assert torch.equal(w, torch.tensor([1.0, 2.0]))
    assert torch.equal(w, shifted)
    with pytest.raises(KeyError), opt.at_omega():
        raise KeyError("restored even on errors")
    assert torch.equal(w, shifted)


def test_tiny_gradient_whose_squares_underflow_stays_in_the_ball():
    # |g| = 1e-25 in float32: g**2 underflows, so torch's norm of g reads 0
    w = nn.Parameter(torch.zeros(4))
    opt = FrankWolfe([w], lr=1.0, delta=0.1, K=1, p=2)
    w.grad = torch.full((4,), 1e-25)
    opt.step()
    assert torch.allclose(w.data, torch.full((4,), -0.05))
    assert opt.stats[0]["dw_norm"] <= 0.1 * (1 + 1e-6)


def test_adam_outer_with_lr_scheduled_to_zero_stays_finite():
    # tie_delta_to_lr: lr = 0 gives delta_t = 0 and dw = 0; -dw / delta_t must not be NaN
    w = nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = FrankWolfe([w], lr=0.1, delta=0.1, K=2, outer="adam")
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3, eta_min=0.0)
    for _ in range(5):

        def closure():
            opt.zero_grad()
            loss = (w**2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        sched.step()
    assert torch.isfinite(w).all()
    assert all(torch.isfinite(v).all() for v in opt.state[w].values() if torch.is_tensor(v))


# ---------------------------------------------------------------- exceptions mid-step
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("at_k", [1, 2, 3])
@pytest.mark.parametrize("outer", ["sgd", "adam"])
def test_exception_in_closure_leaves_omega_and_state_then_resumes_in_lock_step(error, at_k, outer):
    m1, f1 = tiny_rnn(8)
    m2 = copy.deepcopy(m1)
    f2 = lambda: f1(m2)  # noqa: E731
    kw = dict(lr=0.1, delta=0.1, K=3, outer=outer)
    o1, o2 = FrankWolfe(m1.parameters(), **kw), FrankWolfe(m2.parameters(), **kw)
    for o, f in ((o1, f1), (o2, f2)):
        o.step(closure_for(o, f))  # Adam moments and a step count to protect
    snap = snapshot(o1, m1)
    calls = []

    def failing():
        calls.append(1)
        loss = closure_for(o1, f1)()
        if len(calls) == at_k:
            raise error("interrupted inside the closure")
        return loss

    with pytest.raises(error, match="inside the closure"):
        o1.step(failing)
    assert len(calls) == at_k and o1.inner_step() == 0
    assert_bit_identical(o1, m1, snap)
    for o, f in ((o1, f1), (o2, f2)):  # not refused; continues as if never interrupted
        for _ in range(2):
            o.step(closure_for(o, f))
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("at_k", [1, 2])
def test_reset_inner_abandons_a_streaming_step_after_user_code_failed(at_k):
    m1, f1 = tiny_rnn(9)
    m2 = copy.deepcopy(m1)
    f2 = lambda: f1(m2)  # noqa: E731
    o1 = FrankWolfe(m1.parameters(), lr=0.1, delta=0.1, K=3, outer="adam")
    o2 = FrankWolfe(m2.parameters(), lr=0.1, delta=0.1, K=3, outer="adam")
    for o, f in ((o1, f1), (o2, f2)):
        for _ in range(3):
            o.zero_grad()
            f().backward()
            o.step()
    snap = snapshot(o1, m1)
    for _ in range(at_k):  # user code fails after at_k inner iterations
        o1.zero_grad()
        f1().backward()
        o1.step()
    assert not torch.equal(next(m1.parameters()), snap[0][0])  # at the shifted point
    with pytest.raises(RuntimeError, match="middle of a streaming outer step.*reset_inner"):
        o1.step(closure_for(o1, f1))
    assert o1.reset_inner() is True
    assert_bit_identical(o1, m1, snap)
    assert o1.reset_inner() is False
    for o, f in ((o1, f1), (o2, f2)):
        for _ in range(3):
            o.zero_grad()
            f().backward()
            o.step()
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(a, b)


def test_error_raised_by_step_itself_mid_streaming_rolls_back_to_omega():
    w = nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = FrankWolfe([w], lr=1.0, delta=0.1, K=3)
    w.grad = torch.ones(2)
    opt.step()
    opt.param_groups[0]["delta"] = -1.0  # a callback set an invalid value mid-step
    w.grad = torch.ones(2)
    with pytest.raises(ValueError, match="^delta must"):
        opt.step()
    assert torch.equal(w, torch.tensor([1.0, 2.0])) and opt.inner_step() == 0 and not opt.state


@pytest.mark.parametrize("mode", ["closure", "streaming"])
def test_ctrl_c_during_the_outer_update_is_delivered_after_it(
    mode, monkeypatch, interactive_sigint
):
    import signal

    import fwlab.optim.frank_wolfe as fw

    real = fw._outer_sgd_

    def interrupted(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)  # Ctrl-C between the update's kernels
        real(*args, **kwargs)

    monkeypatch.setattr(fw, "_outer_sgd_", interrupted)
    w = nn.Parameter(torch.tensor([1.0, 0.0], dtype=torch.float64))
    opt = FrankWolfe([w], lr=1.0, delta=0.5, K=2)

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    with pytest.raises(KeyboardInterrupt):
        outer_step(opt, closure, mode, 2)
    # the step is complete, not half applied: w = 1 - 0.5 (K=2 on a straight line), counted
    assert torch.allclose(w.detach(), torch.tensor([0.5, 0.0], dtype=torch.float64))
    assert opt.inner_step() == 0 and opt.stats[0]["step"] == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ---------------------------------------------------------------- the radius is kept
def ball_norms(tensors, p, scope):
    if scope == "global":
        return [float(torch.linalg.vector_norm(flat(tensors), ord=p))]
    return [float(torch.linalg.vector_norm(t.reshape(-1), ord=p)) for t in tensors]


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_scheduler_stepped_every_batch_cannot_widen_the_trust_region(p, scope):
    torch.manual_seed(3)
    model = nn.Linear(4, 2).double()
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    opt = FrankWolfe(model.parameters(), lr=0.02, delta=0.05, K=5, p=p, scope=scope)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=60, pct_start=0.5)
    params = list(model.parameters())
    worst, outer_steps = 0.0, 0
    for _ in range(59):
        if opt.inner_step() == 0:  # an outer step begins: its radius and lr
            omega = [q.detach().clone() for q in params]
            delta0 = float(opt.param_groups[0]["delta"]) * (
                opt.param_groups[0]["lr"] / opt.param_groups[0]["initial_lr"]
            )
            lr0 = opt.param_groups[0]["lr"]
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
        sched.step()  # every batch, in the middle of outer steps too
        moved = [q.detach() - o for q, o in zip(params, omega)]
        if opt.inner_step() == 0:  # the outer update: omega + lr0 * dw_K
            outer_steps += 1
            assert opt.stats[0]["delta"] == pytest.approx(delta0, rel=1e-12)
            assert opt.stats[0]["lr"] == lr0
            bound = lr0 * delta0
        else:
            bound = delta0
        for n in ball_norms(moved, p, scope):
            assert n <= bound * (1 + 1e-6)
            worst = max(worst, n / bound)
    assert outer_steps == 11 and worst > 0.5  # the ball was really used
