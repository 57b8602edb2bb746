"""FrankWolfe against PyTorch's generic optimizer contract (the behaviours of torch's
test/test_optim.py over ``optim_db``, inputs from torch/testing/_internal/common_optimizers.py)
and against hostile inputs at every public entry of fwlab.optim."""

import copy
import io
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from fwlab.optim import FrankWolfe, NonFiniteError, NormalizedAdam, lmo, lmo_global, lp_norm
from tests.optim.test_frank_wolfe import (
    assert_bit_identical,
    closure_for,
    lock_step,
    outer_step,
    snapshot,
)


def linear(seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    model = nn.Linear(3, 2).to(dtype)
    x = torch.randn(8, 3, dtype=dtype)
    y = torch.randn(8, 2, dtype=dtype)
    return model, lambda m=model: ((m(x) - y) ** 2).mean()


def same_params(m1, m2):
    return all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))


def hyperparameters(opt):
    return [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]


def one_param(*shape, dtype=torch.float32):
    return nn.Parameter(torch.randn(*shape, dtype=dtype))


# ---------------------------------------------------------------- a table of error cases
W = one_param(1, 1)
ERRORS = [
    # torch's get_error_inputs_for_all_optims
    (lambda: FrankWolfe(W), TypeError, "params argument given to the optimizer should be an"),
    (lambda: FrankWolfe([{"params": W}, {"params": W}]), ValueError, "more than one parameter"),
    (lambda: FrankWolfe([W], lr=torch.tensor([1e-3, 1e-3])), ValueError, "^Tensor lr must be 1"),
    (lambda: FrankWolfe([("w", W), one_param(1)]), ValueError, "with/without names"),
    (lambda: FrankWolfe([]), ValueError, "empty parameter list"),
    (
        lambda: FrankWolfe(nn.Linear(2, 1)),
        TypeError,
        r"got the module Linear; pass FrankWolfe\(model",
    ),
    (lambda: NormalizedAdam(nn.Linear(2, 1)), TypeError, r"pass NormalizedAdam\(model.parameters"),
    # complex and integer parameters
    (
        lambda: FrankWolfe([nn.Parameter(torch.ones(2, dtype=torch.complex64))]),
        ValueError,
        r"^params must be real floating-point tensors, got a torch.complex64 tensor of shape "
        r"\(2,\).*view_as_real",
    ),
    # one rule per quantity, whatever the type of the bad value
    (
        lambda: FrankWolfe([W], lr=math.inf),
        ValueError,
        r"^lr must be a finite number >= 0, got inf",
    ),
    (lambda: FrankWolfe([W], lr=np.float32("nan")), ValueError, "^lr must be a finite number >= 0"),
    (lambda: FrankWolfe([W], lr=torch.tensor(-1.0)), ValueError, "^lr must be a finite number"),
    (lambda: FrankWolfe([W], lr=True), ValueError, "^lr must be a finite number >= 0, got True"),
    (lambda: FrankWolfe([W], lr=None), ValueError, "^lr must be a finite number >= 0, got None"),
    (lambda: FrankWolfe([W], delta=np.inf), ValueError, "^delta must be a finite number > 0"),
    (lambda: FrankWolfe([W], delta=torch.tensor(0.0)), ValueError, "^delta must be a finite"),
    (lambda: FrankWolfe([W], delta=torch.ones(2)), ValueError, "^delta must be a finite"),
    (lambda: FrankWolfe([W], delta=False), ValueError, "^delta must be a finite number > 0"),
    (lambda: FrankWolfe([W], K=np.float64(2.0)), ValueError, "^K must be an integer >= 1"),
    (
        lambda: FrankWolfe([W], K=np.int64(0)),
        ValueError,
        r"^K must be an integer >= 1, got np.int64\(0\)",
    ),
    (lambda: FrankWolfe([W], K=torch.tensor(True)), ValueError, "^K must be an integer >= 1"),
    (lambda: FrankWolfe([W], p=torch.tensor(0.5)), ValueError, "^p must be a number >= 1"),
    (lambda: FrankWolfe([W], p=None), ValueError, "^p must be a number >= 1 or 'inf'"),
    (lambda: FrankWolfe([W], betas=(0.9, np.nan)), ValueError, r"^betas must be a pair"),
    (lambda: FrankWolfe([W], betas=0.9), ValueError, r"^betas must be a pair"),
    (lambda: FrankWolfe([W], eps=np.float32(-1)), ValueError, "^eps must be a finite number > 0"),
    (lambda: FrankWolfe([W], weight_decay=math.inf), ValueError, "^weight_decay must be a fin"),
    (lambda: FrankWolfe([W], maximize=np.int64(1)), ValueError, "^maximize must be True or F"),
    (lambda: FrankWolfe([W], tie_delta_to_lr=None), ValueError, "^tie_delta_to_lr must be T"),
    (lambda: FrankWolfe([W], scope=None), ValueError, "^scope must be one of"),
    (lambda: FrankWolfe([W], outer=1), ValueError, "^outer must be one of"),
    (lambda: FrankWolfe([W], nonfinite=None), ValueError, "^nonfinite must be one of"),
    # step and the counters
    (lambda: FrankWolfe([W]).step(torch.tensor(1.0)), ValueError, "^closure must be a function"),
    (
        lambda: FrankWolfe([W]).inner_step(1),
        ValueError,
        r"^group_index must be an integer in \[0, 1\)",
    ),
    (lambda: NormalizedAdam([W]).step(1.0), ValueError, "^closure must be a function"),
    # the functional LMO
    (lambda: lmo(torch.ones(3), p=0.5, radius=1.0), ValueError, "^p must be a number >= 1"),
    (lambda: lmo(torch.ones(3), p=2, radius=-1.0), ValueError, "^radius must be a finite numb"),
    (lambda: lmo(torch.ones(3), p=2, radius=math.nan), ValueError, "^radius must be a finite"),
    (lambda: lmo(torch.ones(3), p=2, radius=True), ValueError, "^radius must be a finite"),
    (lambda: lmo(torch.ones(3, dtype=torch.int64), 2, 1.0), ValueError, "^grad must be a real fl"),
    (lambda: lmo(torch.ones(2, dtype=torch.complex64), 2, 1.0), ValueError, "view_as_real"),
    (lambda: lmo([1.0, 2.0], p=2, radius=1.0), ValueError, "^grad must be a torch.Tensor, got l"),
    (lambda: lmo_global([torch.ones(2)], p="two", radius=1.0), ValueError, "^p must be a number"),
    (lambda: lmo(torch.tensor([math.nan, 1.0]), 1.5, 1.0), ValueError, "^grad must be finite"),
    (lambda: lmo(torch.tensor([math.inf, 1.0]), 2, 1.0), ValueError, "^grad must be finite"),
    (lambda: lmo_global(torch.ones(3, 2), 2, 1.0), ValueError, r"^grads must be a list of tensors"),
    (lambda: lp_norm([3.0, 4.0], 2), ValueError, "^x must be a floating-point tensor, got list"),
    (lambda: lp_norm(torch.ones(2), -1), ValueError, "^p must be a number >= 1"),
]


@pytest.mark.parametrize("make,error,regex", ERRORS)
def test_error_table(make, error, regex):
    with pytest.raises(error, match=regex):
        make()


def test_duplicate_parameter_in_a_group_warns_as_torch_does():
    with pytest.warns(UserWarning, match="duplicate parameters"):
        FrankWolfe([W, W])


def test_closure_returning_a_vector_is_refused_and_nothing_moves():
    w = one_param(3)
    w0 = w.detach().clone()
    opt = FrankWolfe([w], lr=1.0, delta=0.1, K=2)

    def closure():
        opt.zero_grad()
        loss = w * 2.0
        loss.sum().backward()
        return loss  # not reduced

    with pytest.raises(ValueError, match=r"closure must return the loss.*shape \(3,\).*\.mean"):
        opt.step(closure)
    assert torch.equal(w, w0) and opt.inner_step() == 0 and not opt.state


# ---------------------------------------------------------------- hostile but valid inputs
def test_numpy_scalars_and_0d_tensors_are_stored_as_plain_numbers():
    w = one_param(2)
    opt = FrankWolfe(
        [w],
        lr=np.float32(0.5),
        delta=torch.tensor(0.25),
        K=np.int64(3),
        p=np.float64(2.0),
        betas=(np.float32(0.5), torch.tensor(0.75)),
        eps=np.float64(1e-6),
        weight_decay=np.int32(0),
        maximize=np.bool_(False),
    )
    g = opt.param_groups[0]
    assert (g["lr"], g["delta"], g["K"], g["p"], g["betas"]) == (0.5, 0.25, 3, 2.0, (0.5, 0.75))
    for key in ("lr", "delta", "p", "eps", "weight_decay"):
        assert type(g[key]) is float, key
    assert type(g["K"]) is int and type(g["maximize"]) is bool
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=True)["param_groups"][0]["K"] == 3


# ---------------------------------------------------------------- tensor lr (issue 13 item 9)
@pytest.mark.parametrize("shape", [(), (1,)])
def test_tensor_lr_moves_like_a_float_lr_and_initial_lr_is_a_copy(shape):
    m1, f1 = linear(1)
    m2 = copy.deepcopy(m1)
    f2 = lambda: f1(m2)  # noqa: E731
    lr = torch.full(shape, 0.5, dtype=torch.float64)
    o1 = FrankWolfe(m1.parameters(), lr=lr, delta=0.1, K=2)
    o2 = FrankWolfe(m2.parameters(), lr=0.5, delta=0.1, K=2)
    assert o1.param_groups[0]["lr"] is lr
    initial = o1.param_groups[0]["initial_lr"]
    assert torch.is_tensor(initial) and initial is not lr
    lock_step([(o1, f1), (o2, f2)], 3, gamma=0.5)
    assert o1.param_groups[0]["lr"] is lr and float(lr) == pytest.approx(0.0625)  # in place
    assert float(o1.param_groups[0]["initial_lr"]) == 0.5  # not moved by the scheduler
    assert o1.stats[0]["delta"] == pytest.approx(o2.stats[0]["delta"])
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.allclose(a, b, rtol=0, atol=1e-12)


def test_tensor_lr_given_in_a_param_group_gets_its_own_initial_lr_copy():
    a, b = one_param(2), one_param(2)
    lr = torch.tensor(0.1)
    opt = FrankWolfe([{"params": [a]}, {"params": [b], "lr": lr}], lr=1.0, delta=0.1)
    assert opt.param_groups[1]["initial_lr"] is not lr
    lr.fill_(0.05)
    assert float(opt.param_groups[1]["initial_lr"]) == pytest.approx(0.1)


# ---------------------------------------------------------------- state dicts
def test_adam_step_saved_as_a_plain_number_loads_and_continues_in_lock_step():
    m1, f1 = linear(2)
    kw = dict(lr=0.05, delta=0.1, K=2, outer="adam")
    o1 = FrankWolfe(m1.parameters(), **kw)
    for _ in range(3):
        o1.step(closure_for(o1, f1))
    sd = copy.deepcopy(o1.state_dict())
    for saved in sd["state"].values():
        saved["step"] = float(saved["step"])  # as older checkpoints have it
    m2 = copy.deepcopy(m1)
    f2 = lambda: f1(m2)  # noqa: E731
    o2 = FrankWolfe(m2.parameters(), **kw)
    o2.load_state_dict(sd)
    assert all(torch.is_tensor(st["step"]) for st in o2.state.values())
    for _ in range(3):
        for o, f in ((o1, f1), (o2, f2)):
            o.step(closure_for(o, f))
    assert same_params(m1, m2)


def test_state_dict_of_another_optimizer_is_refused_before_anything_changes():
    model, loss_fn = linear(3)
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    closure_for(adam, loss_fn)()
    adam.step()
    opt = FrankWolfe(model.parameters(), lr=0.1, delta=0.2, K=2)
    groups0 = hyperparameters(opt)
    with pytest.raises(ValueError, match=r"not a FrankWolfe state dict: its param group 0 has no "):
        opt.load_state_dict(adam.state_dict())
    assert hyperparameters(opt) == groups0 and not opt.state
    with pytest.raises(ValueError, match="^state_dict must be a dict with 'state' and 'param_g"):
        opt.load_state_dict({"model": 1})
    bad = copy.deepcopy(opt.state_dict())
    bad["param_groups"][0]["delta"] = -1.0
    with pytest.raises(ValueError, match="^state_dict param group 0: delta must be a finite"):
        opt.load_state_dict(bad)
    assert hyperparameters(opt) == groups0


def test_state_dict_of_an_earlier_version_without_a_newer_key_takes_the_default():
    model, _ = linear(4)
    opt = FrankWolfe(model.parameters(), lr=0.1, delta=0.2, nonfinite="skip")
    sd = copy.deepcopy(opt.state_dict())
    del sd["param_groups"][0]["nonfinite"]
    fresh = FrankWolfe(model.parameters(), nonfinite="skip")
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["nonfinite"] == "skip" and fresh.param_groups[0]["delta"] == 0.2


def test_state_dict_saved_with_torch_save_loads_with_weights_only_mid_outer_step():
    m1, f1 = linear(5)
    o1 = FrankWolfe(m1.parameters(), lr=torch.tensor(0.1), delta=0.1, K=3, p="inf", outer="adam")
    for _ in range(4):  # one outer step and one inner iteration of the next
        o1.zero_grad()
        f1().backward()
        o1.step()
    buf = io.BytesIO()
    torch.save(o1.state_dict(), buf)
    buf.seek(0)
    m2 = copy.deepcopy(m1)
    f2 = lambda: f1(m2)  # noqa: E731
    o2 = FrankWolfe(m2.parameters())
    o2.load_state_dict(torch.load(buf, weights_only=True))
    assert o2.inner_step() == 1
    for _ in range(5):
        for o, f in ((o1, f1), (o2, f2)):
            o.zero_grad()
            f().backward()
            o.step()
    assert same_params(m1, m2)


def test_named_parameters_are_accepted_and_saved():
    model, loss_fn = linear(6)
    opt = FrankWolfe(model.named_parameters(), lr=0.1, delta=0.1)
    opt.step(closure_for(opt, loss_fn))
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]


def test_adam_eps_that_rounds_to_zero_in_float16_is_refused():
    w = nn.Parameter(torch.zeros(3, dtype=torch.float16))
    with pytest.raises(ValueError, match=r"^eps must be >= 6.1e-05 for torch.float16 .*eps=1e-4"):
        FrankWolfe([w], outer="adam")
    opt = FrankWolfe([w], outer="adam", eps=1e-4)
    opt.param_groups[0]["eps"] = 1e-8  # changed later: refused at the step, nothing moves
    w.grad = torch.tensor([1.0, 1e-4, 0.0], dtype=torch.float16)
    with pytest.raises(ValueError, match="^eps must be >= "):
        opt.step()
    assert torch.equal(w, torch.zeros(3, dtype=torch.float16)) and not opt.state


# ---------------------------------------------------------------- generic behaviours
@pytest.mark.parametrize("outer", ["sgd", "adam"])
@pytest.mark.parametrize("K", [1, 3])
def test_zero_gradients_do_not_move_the_parameters(outer, K):
    model, _ = linear(7)
    params0 = [q.detach().clone() for q in model.parameters()]
    opt = FrankWolfe(model.parameters(), lr=0.1, delta=0.1, K=K, outer=outer)
    for _ in range(2 * K):
        for q in model.parameters():
            q.grad = torch.zeros_like(q)
        opt.step()
    assert all(torch.equal(q, q0) for q, q0 in zip(model.parameters(), params0))


def test_param_group_added_later_takes_part_from_the_next_step():
    model, loss_fn = linear(8)
    extra = nn.Parameter(torch.ones(2, dtype=torch.float64))
    opt = FrankWolfe([model.weight], lr=0.1, delta=0.1, K=2)
    opt.step(closure_for(opt, lambda: loss_fn() + (extra**2).sum()))
    assert torch.equal(extra, torch.ones(2, dtype=torch.float64))
    opt.add_param_group({"params": [extra, model.bias], "lr": 1.0, "delta": 0.5})
    assert len(opt.stats) == 2 and opt.param_groups[1]["initial_lr"] == 1.0
    opt.step(closure_for(opt, lambda: loss_fn() + (extra**2).sum()))
    assert opt.stats[1]["step"] == 1 and opt.stats[1]["delta"] == 0.5
    assert float(torch.linalg.vector_norm(extra.detach() - 1)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [extra]})


@pytest.mark.parametrize("mode", ["closure", "streaming"])
def test_step_hooks_fire_once_per_step_call(mode):
    model, loss_fn = linear(9)
    opt = FrankWolfe(model.parameters(), lr=0.1, delta=0.1, K=3)
    calls = []
    h1 = opt.register_step_pre_hook(lambda o, args, kwargs: calls.append(("pre", o.inner_step())))
    h2 = opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", o.inner_step())))
    if mode == "closure":
        opt.step(closure_for(opt, loss_fn))
        assert calls == [("pre", 0), ("post", 0)]
    else:
        for _ in range(3):
            closure_for(opt, loss_fn)()
            opt.step()
        assert calls == [("pre", 0), ("post", 1), ("pre", 1), ("post", 2), ("pre", 2), ("post", 0)]
    h1.remove()
    h2.remove()
    opt.step(closure_for(opt, loss_fn))
    assert len(calls) in (2, 6)


def test_global_and_local_step_hooks_fire_in_torch_order():
    from torch.optim.optimizer import (
        register_optimizer_step_post_hook,
        register_optimizer_step_pre_hook,
    )

    model, loss_fn = linear(14)
    opt = FrankWolfe(model.parameters(), lr=0.1, delta=0.1, K=2)
    order = []
    handles = [
        register_optimizer_step_pre_hook(lambda o, a, k: order.append("global pre")),
        register_optimizer_step_post_hook(lambda o, a, k: order.append("global post")),
        opt.register_step_pre_hook(lambda o, a, k: order.append("pre")),
        opt.register_step_post_hook(lambda o, a, k: order.append("post")),
    ]
    try:
        opt.step(closure_for(opt, loss_fn))
    finally:
        for h in handles:
            h.remove()
    assert order == ["global pre", "pre", "post", "global post"]


def test_adam_step_counter_follows_the_default_dtype():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model, loss_fn = linear(15)
        opt = FrankWolfe(model.parameters(), lr=0.1, delta=0.1, outer="adam")
        opt.step(closure_for(opt, loss_fn))
    finally:
        torch.set_default_dtype(previous)
    assert {st["step"].dtype for st in opt.state.values()} == {torch.float64}


def test_state_dict_hooks_fire():
    model, loss_fn = linear(10)
    opt = FrankWolfe(model.parameters(), lr=0.1, delta=0.1)
    seen = []
    opt.register_state_dict_post_hook(lambda o, sd: seen.append("saved") or sd)
    opt.register_load_state_dict_post_hook(lambda o: seen.append("loaded"))
    opt.load_state_dict(opt.state_dict())
    assert seen == ["saved", "loaded"]


def test_zero_grad_sets_to_none_by_default_and_zeroes_when_asked():
    model, loss_fn = linear(11)
    opt = FrankWolfe(model.parameters())
    loss_fn().backward()
    opt.zero_grad(set_to_none=False)
    assert all(torch.equal(q.grad, torch.zeros_like(q)) for q in model.parameters())
    opt.zero_grad()
    assert all(q.grad is None for q in model.parameters())


def test_deepcopy_copies_every_public_attribute():
    model, loss_fn = linear(12)
    opt = FrankWolfe(model.parameters(), lr=torch.tensor(0.1), delta=0.1, K=2, outer="adam")
    opt.step(closure_for(opt, loss_fn))
    clone = copy.deepcopy(opt)
    public = {k for k in vars(opt) if not k.startswith("_")}
    assert public == {k for k in vars(clone) if not k.startswith("_")}
    assert {"defaults", "state", "param_groups", "stats"} <= public
    assert clone.stats == opt.stats and clone.param_groups[0]["K"] == 2


@pytest.mark.parametrize("outer", ["sgd", "adam"])
def test_mixed_dtypes_in_one_group(outer):
    a = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float32))
    b = nn.Parameter(torch.tensor([3.0], dtype=torch.float64))
    for scope in ("tensor", "global"):
        opt = FrankWolfe([a, b], lr=0.1, delta=0.1, K=2, scope=scope, outer=outer)
        for _ in range(2):
            opt.zero_grad()
            ((a**2).sum() + (b**2).sum()).backward()
            opt.step()
        assert a.dtype == torch.float32 and b.dtype == torch.float64
        assert math.isfinite(opt.stats[0]["angle_deg"]) and opt.stats[0]["fw_gap"] >= -1e-6


def test_scheduler_attached_goes_downhill_with_per_group_lr():
    model, loss_fn = linear(13)
    opt = FrankWolfe(
        [{"params": [model.weight]}, {"params": [model.bias], "lr": 0.5}], lr=1.0, delta=0.05
    )
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    start = float(loss_fn().detach())
    for _ in range(10):
        opt.step(closure_for(opt, loss_fn))
        sched.step()
    assert float(loss_fn().detach()) < start
    assert opt.param_groups[1]["lr"] == pytest.approx(0.5 * 0.9**10)


# ---------------------------------------------------------------- nonfinite per group
def test_nonfinite_is_read_from_the_groups_concerned():
    a, b = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(2))
    opt = FrankWolfe(
        [{"params": [a], "nonfinite": "skip"}, {"params": [b], "nonfinite": "raise"}],
        lr=1.0,
        delta=0.1,
    )
    a.grad, b.grad = torch.tensor([math.nan, 0.0]), torch.ones(2)
    with pytest.warns(RuntimeWarning, match="non-finite gradient"):
        opt.step()  # only group 0's gradient, and group 0 skips
    a.grad, b.grad = torch.ones(2), torch.tensor([math.inf, 0.0])
    with pytest.raises(NonFiniteError, match="non-finite gradient"):
        opt.step()  # group 1 raises, though group 0 (the old rule's only reader) skips
    assert torch.equal(a, torch.ones(2)) and torch.equal(b, torch.ones(2))

    def nan_loss():
        opt.zero_grad()
        loss = (a.sum() + b.sum()) * math.nan
        loss.backward()
        return loss

    with pytest.raises(NonFiniteError, match="non-finite loss"):
        opt.step(nan_loss)  # a loss concerns every group
    opt.param_groups[1]["nonfinite"] = "skip"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt.step(nan_loss)
    assert [str(w.message)[:30] for w in caught] == ["FrankWolfe met a non-finite lo"]


# ---------------------------------------------------------------- half precision
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("K,outer", [(1, "sgd"), (3, "sgd"), (3, "adam")])
@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_diagnostics_of_half_precision_parameters_match_float32(dtype, K, outer, scope):
    torch.manual_seed(0)
    big = (torch.randn(64, 64) * 3e3).to(dtype)  # sum of |g|^2 overflows float16 (max 65504)
    small = torch.full((16,), 1e-3, dtype=dtype)
    stats = {}
    for dt in (dtype, torch.float32):
        w = nn.Parameter(torch.zeros(64, 64, dtype=dt))
        v = nn.Parameter(torch.zeros(16, dtype=dt))
        opt = FrankWolfe([w, v], lr=1.0, delta=0.5, K=K, outer=outer, scope=scope, eps=1e-4)
        for _ in range(K):
            w.grad, v.grad = big.to(dt), small.to(dt)
            opt.step()
        assert torch.isfinite(w).all() and torch.isfinite(v).all()
        stats[dt] = opt.stats[0]
    half, ref = stats[dtype], stats[torch.float32]
    for key in ("fw_gap", "dw_norm", "angle_deg"):
        assert math.isfinite(half[key]), key
        assert half[key] == pytest.approx(ref[key], rel=1e-2, abs=0.5 if key == "angle_deg" else 0)
    bound = 0.5 * (math.sqrt(2) if scope == "tensor" else 1.0)  # two balls of 0.5, or one
    assert half["dw_norm"] <= bound * 1.01


# ---------------------------------------------------------------- property: validation
HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(-2, 2).map(np.float32),
    st.integers(-3, 3).map(np.int64),
    st.floats(-2, 2).map(torch.tensor),
    st.text(max_size=3),
    st.just((0.9, 0.999)),
)
RULES = {
    "lr": lambda v: math.isfinite(v) and v >= 0,
    "delta": lambda v: math.isfinite(v) and v > 0,
    "eps": lambda v: math.isfinite(v) and v > 0,
    "weight_decay": lambda v: math.isfinite(v) and v >= 0,
}


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from([*RULES, "K"]), value=HOSTILE)
def test_any_value_is_stored_as_a_valid_plain_number_or_refused_by_name(name, value):
    try:
        opt = FrankWolfe([W], **{name: value})
    except ValueError as err:
        assert str(err).startswith(f"{name} must be ")
        return
    stored = opt.param_groups[0][name]
    assert not isinstance(value, (bool, np.bool_, str)) and value is not None
    if name == "K":
        assert type(stored) is int and stored >= 1 and stored == value
    elif name == "lr" and torch.is_tensor(value):
        assert stored is value and RULES["lr"](float(value))
    else:
        assert type(stored) is float and RULES[name](stored) and stored == float(value)


# ---------------------------------------------------------------- torch's generic suite, restated
# The behaviours torch's test/test_optim.py checks for every optimizer of optim_db, written here
# for FrankWolfe in both modes: hooks around load_state_dict, state dicts that survive a round
# trip unchanged, steps without gradients that change nothing, and lock-step after a load.
def stepped(mode, K=3, steps=4, seed=20, **kw):
    model, loss_fn = linear(seed)
    opt = FrankWolfe(model.parameters(), lr=0.1, delta=0.2, K=K, **kw)
    for _ in range(steps):
        outer_step(opt, closure_for(opt, loss_fn), mode, 1)
    return model, loss_fn, opt


@pytest.mark.parametrize("mode", ["closure", "streaming"])
def test_load_state_dict_pre_hooks_edit_or_replace_and_a_post_hook_may_store_any_value(mode):
    _, _, opt = stepped(mode, outer="adam")
    saved = opt.state_dict()

    def edit(o, sd):
        sd["param_groups"][0]["lr"] = 0.002

    def replace(o, sd):
        mine = copy.deepcopy(sd)
        mine["param_groups"][0]["lr"] = 0.003
        return mine

    def post(o):  # torch's own post-hook test stores booleans beside the per-parameter dicts
        o.state["ran_replace"] = o.param_groups[0]["lr"] == 0.003
        o.state["ran_post"] = True

    opt.register_load_state_dict_pre_hook(edit)
    opt.register_load_state_dict_pre_hook(replace)
    opt.register_load_state_dict_post_hook(post)
    opt.load_state_dict(saved)
    assert opt.state["ran_replace"] is True and opt.state["ran_post"] is True
    opt.load_state_dict(opt.state_dict())  # a second load meets the non-dict values: kept
    assert opt.state["ran_post"] is True and opt.param_groups[0]["lr"] == 0.003


@pytest.mark.parametrize("mode", ["closure", "streaming"])
@pytest.mark.parametrize("outer", ["sgd", "adam"])
def test_state_dict_is_the_same_after_a_round_trip_into_a_fresh_optimizer(mode, outer):
    m1, f1, o1 = stepped(mode, outer=outer, steps=4)  # streaming: mid outer step (4 = 3 + 1)
    m2 = copy.deepcopy(m1)
    o2 = FrankWolfe(m2.parameters(), lr=0.5, delta=0.5, K=1, outer=outer)
    o2.load_state_dict(copy.deepcopy(o1.state_dict()))
    assert set(o2.param_groups[0]) == set(o1.param_groups[0])  # no key gained: differentiable
    assert_bit_identical(o2, m2, snapshot(o1, m1))
    f2 = lambda: f1(m2)  # noqa: E731
    for _ in range(5):  # and the two continue in lock step
        for o, f in ((o1, f1), (o2, f2)):
            outer_step(o, closure_for(o, f), mode, 1)
    assert same_params(m1, m2)


@pytest.mark.parametrize("outer", ["sgd", "adam"])
def test_a_step_without_any_gradient_changes_nothing(outer):
    model, loss_fn, opt = stepped("closure", outer=outer, steps=2)
    snap = snapshot(opt, model)
    opt.zero_grad()
    opt.step()  # streaming, no .grad anywhere
    assert opt.step(lambda: None) is None  # a closure that computes nothing
    assert opt.inner_step() == 0
    assert_bit_identical(opt, model, snap)


def test_optimizer_prints_every_hyperparameter_of_every_group():
    model, _ = linear(21)
    opt = FrankWolfe([{"params": [model.weight], "K": 4}, {"params": [model.bias]}], p="inf")
    text = repr(opt)
    assert text.startswith("FrankWolfe (") and "Parameter Group 1" in text
    assert "K: 4" in text and "p: inf" in text and "differentiable" not in text


# ---------------------------------------------------------------- one outer step, one setting
@pytest.mark.parametrize("mode", ["closure", "streaming"])
def test_p_K_and_scope_changed_mid_step_act_from_the_next_outer_step(mode):
    torch.manual_seed(22)
    w = nn.Parameter(torch.zeros(64, dtype=torch.float64))
    u = nn.Parameter(torch.zeros(8, dtype=torch.float64))
    opt = FrankWolfe([w, u], lr=1.0, delta=0.5, K=4, p=2, scope="tensor")
    group = opt.param_groups[0]
    grads = [(torch.randn(64, dtype=torch.float64), torch.randn(8, dtype=torch.float64))
             for _ in range(4)]  # fmt: skip
    changes = {1: dict(p=1.0), 2: dict(p=math.inf, scope="global", K=2)}
    calls = []

    def closure():
        k = len(calls)
        group.update(changes.get(k, {}))
        calls.append(k)
        w.grad, u.grad = (g.clone() for g in grads[k])
        return torch.tensor(1.0)

    outer_step(opt, closure, mode, 4)
    assert len(calls) == 4 and opt.inner_step() == 0  # K = 4 held: not cut short at 2
    norms = [float(q.detach().norm()) for q in (w, u)]
    assert max(norms) <= 0.5 + 1e-12  # inside the p = 2 balls of radius 0.5
    assert opt.stats[0]["K"] == 4 and opt.stats[0]["p"] == 2.0
    # the reference: the same four gradients with nothing changed
    w2 = nn.Parameter(torch.zeros(64, dtype=torch.float64))
    u2 = nn.Parameter(torch.zeros(8, dtype=torch.float64))
    ref = FrankWolfe([w2, u2], lr=1.0, delta=0.5, K=4, p=2, scope="tensor")
    for gw, gu in grads:
        w2.grad, u2.grad = gw.clone(), gu.clone()
        ref.step()
    assert torch.equal(w, w2) and torch.equal(u, u2)
    # the next outer step uses the new values: K = 2, p = inf over one global ball
    calls.clear()
    changes.clear()
    outer_step(opt, closure, mode, 2)
    assert len(calls) == 2 and opt.stats[0]["K"] == 2 and opt.stats[0]["p"] == math.inf


def test_a_state_dict_saved_mid_step_keeps_the_held_settings():
    _, _, opt = stepped("streaming", K=3, steps=1, p=2)
    opt.param_groups[0]["p"] = 1.0
    sd = opt.state_dict()
    first = sd["param_groups"][0]["params"][0]
    assert sd["state"][first]["fw_p"] == 2.0 and sd["state"][first]["fw_K"] == 3
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=True)["state"][first]["fw_global"] is False


@pytest.mark.parametrize("saved_mid_step", [False, True])
def test_load_state_dict_into_an_optimizer_mid_step_puts_the_parameters_back_at_omega(
    saved_mid_step,
):
    model, loss_fn, opt = stepped("streaming", K=3, steps=3)  # one outer step done
    omega = [q.detach().clone() for q in model.parameters()]
    m2 = copy.deepcopy(model)
    other = FrankWolfe(m2.parameters(), lr=0.1, delta=0.2, K=3)
    other.load_state_dict(copy.deepcopy(opt.state_dict()))
    if saved_mid_step:  # a state dict of an optimizer that is itself mid-step
        closure_for(other, lambda: loss_fn(m2))()
        other.step()
        assert other.inner_step() == 1
    saved = copy.deepcopy(other.state_dict())
    closure_for(opt, loss_fn)()
    opt.step()  # now mid-step: the parameters hold omega + dw
    assert opt.inner_step() == 1
    assert not all(torch.equal(a, b) for a, b in zip(omega, model.parameters()))
    opt.load_state_dict(saved)
    assert all(torch.equal(a, b) for a, b in zip(omega, model.parameters()))
    assert opt.inner_step() == (1 if saved_mid_step else 0)
    ids = saved["param_groups"][0]["params"]
    held = [opt.state[q].get("omega") for q in model.parameters()]
    if saved_mid_step:
        assert all(torch.equal(h, saved["state"][i]["omega"]) for h, i in zip(held, ids))
    else:
        assert held == [None, None]


def test_state_dict_of_other_groups_is_refused_before_the_step_under_way_is_abandoned():
    model, loss_fn, opt = stepped("streaming", K=3, steps=1)
    shifted = [q.detach().clone() for q in model.parameters()]
    small = FrankWolfe([nn.Parameter(torch.zeros(2))]).state_dict()
    with pytest.raises(ValueError, match=r"^state_dict does not fit this optimizer: it holds 1 "):
        opt.load_state_dict(small)
    assert opt.inner_step() == 1
    assert all(torch.equal(a, b) for a, b in zip(shifted, model.parameters()))


def test_the_group_keys_are_frankwolfes_hyperparameters():
    from fwlab.optim.frank_wolfe import _HYPERPARAMETERS

    opt = FrankWolfe([one_param(2)])
    assert set(opt.param_groups[0]) - {"params", "initial_lr"} == set(_HYPERPARAMETERS)
