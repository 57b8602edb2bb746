"""fwlab/train/outer_steps.py: what training reads from an optimizer, FrankWolfe or not."""

import math

import pytest
import torch

from fwlab.data import load_task
from fwlab.models import SequenceModel
from fwlab.optim import FrankWolfe, NormalizedAdam
from fwlab.train import TrainConfig, build_model, fit, get_method
from fwlab.train.outer_steps import (
    OuterStepOptimizer,
    abandon_outer_step,
    at_iterate,
    inner_step,
    outer_stats,
    takes_outer_steps,
)


def _fw(K=3):
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    return w, FrankWolfe([w], lr=0.1, delta=0.1, K=K)


def _streaming_step(w, opt):
    w.grad = torch.tensor([0.3, -0.1, 0.2])
    opt.step()


@pytest.mark.parametrize(
    "make", [torch.optim.SGD, torch.optim.Adam, lambda ps, lr: NormalizedAdam(ps, lr=lr)]
)
def test_other_optimizers_take_one_outer_step_per_step(make):
    w = torch.nn.Parameter(torch.ones(3))
    opt = make([w], lr=0.1)
    assert not takes_outer_steps(opt) and not isinstance(opt, OuterStepOptimizer)
    w.grad = torch.ones(3)
    opt.step()
    assert inner_step(opt) == 0 and outer_stats(opt) is None
    assert abandon_outer_step(opt) is False
    before = w.detach().clone()
    with at_iterate(opt):
        assert torch.equal(w, before)  # ω is the parameters themselves


def test_frank_wolfe_inner_steps_stats_and_iterate():
    w, opt = _fw(K=3)
    omega = w.detach().clone()
    assert takes_outer_steps(opt) and isinstance(opt, OuterStepOptimizer)
    _streaming_step(w, opt)
    assert inner_step(opt) == 1 and outer_stats(opt) is None  # mid outer step: no stats
    assert not torch.equal(w.detach(), omega)  # the parameters hold ω + Δω_1
    with at_iterate(opt):
        assert torch.equal(w.detach(), omega)
    assert not torch.equal(w.detach(), omega)  # back at the inner point after the context
    _streaming_step(w, opt)
    _streaming_step(w, opt)
    st = outer_stats(opt)
    assert inner_step(opt) == 0 and st is not None
    assert {"fw_gap", "dw_norm", "angle_deg", "delta"} <= set(st)
    assert st["delta"] == pytest.approx(0.1)


def test_abandon_outer_step_puts_the_parameters_back_at_omega():
    w, opt = _fw(K=4)
    omega = w.detach().clone()
    _streaming_step(w, opt)
    _streaming_step(w, opt)
    assert abandon_outer_step(opt) is True
    assert inner_step(opt) == 0 and torch.equal(w.detach(), omega)
    assert abandon_outer_step(opt) is False  # nothing under way any more


def test_sequence_model_constrain_clamps_indrnn_u_and_is_a_no_op_otherwise():
    ind = SequenceModel("indrnn", 2, 4, 1, recurrent_max=0.5)
    u = ind.body.weight_hh_l0
    with torch.no_grad():
        u.copy_(torch.tensor([2.0, -3.0, 0.1, 0.5]))
    ind.constrain_()
    assert u.tolist() == [0.5, -0.5, pytest.approx(0.1), 0.5]
    lstm = SequenceModel("lstm", 2, 4, 1)
    before = [p.detach().clone() for p in lstm.parameters()]
    lstm.constrain_()
    assert all(torch.equal(a, b) for a, b in zip(before, lstm.parameters()))


def _max_u_at_outer_steps(model):
    data = load_task("adding", seq_len=10, n_train=100, n_test=50)
    config = TrainConfig(hidden_size=8, batch_size=25, steps=6, lr=1.0, delta=1.0)
    seen = []

    def check(event, run):
        if event == "step" and run.inner_step == 0:
            seen.append(
                max(float(u.detach().abs().max()) for u in run.model.body.recurrent_weights())
            )

    method = get_method("indrnn_fw", K=1, p=math.inf)
    model = model or build_model(method, data, config)
    fit(method, data, config, model=model, callbacks=[check], progress=False)
    return seen, model.body.recurrent_max


def test_fit_keeps_indrnn_u_in_its_bound_through_the_model_hook():
    seen, bound = _max_u_at_outer_steps(None)
    assert len(seen) == 6 and max(seen) <= bound + 1e-6
    # the hook is what holds the bound: without it the same steps leave it
    data = load_task("adding", seq_len=10, n_train=100, n_test=50)
    config = TrainConfig(hidden_size=8, batch_size=25, steps=6, lr=1.0, delta=1.0)
    model = build_model(get_method("indrnn_fw", K=1, p=math.inf), data, config)
    model.constrain_ = lambda: None
    model.body.clamp_recurrent_ = lambda: None  # forward() clamps in training mode too
    seen, bound = _max_u_at_outer_steps(model)
    assert max(seen) > bound


def test_takes_outer_steps_agrees_with_the_protocol_check():
    class Partial:  # some of the members, not all
        param_groups: list = []
        stats: list = []

        def inner_step(self):
            return 0

    class Duck(Partial):  # every member, no FrankWolfe
        def at_omega(self):
            return None

        def reset_inner(self):
            return False

    class Blocked(FrankWolfe):  # a method set to None: not the protocol
        reset_inner = None

    class Named(OuterStepOptimizer):  # names the protocol as its base, implements nothing
        pass

    w = torch.nn.Parameter(torch.zeros(2))
    blocked = Blocked([torch.nn.Parameter(torch.zeros(2))], lr=0.1, delta=0.1, K=2)
    for obj in (_fw()[1], torch.optim.Adam([w]), NormalizedAdam([w], lr=0.1), Partial(), Duck(),
                blocked, Named(), object(), None):  # fmt: skip
        assert takes_outer_steps(obj) == isinstance(obj, OuterStepOptimizer), obj
    assert takes_outer_steps(Duck()) and not takes_outer_steps(Partial())
    assert not takes_outer_steps(blocked) and takes_outer_steps(Named())
