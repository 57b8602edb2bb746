"""NormalizedAdam: Adam on per-tensor normalized gradients, the baseline of FW K=1."""

import copy
import math

import pytest
import torch
from torch import nn

from fwlab.optim import FrankWolfe, NormalizedAdam
from fwlab.optim.normalized_adam import normalized
from tests.optim.test_frank_wolfe import closure_for, lock_step, tiny_rnn


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
@pytest.mark.parametrize("maximize", [False, True])
def test_equals_frank_wolfe_K1_p2_tensor_scope_adam_outer(weight_decay, maximize):
    m1, f1 = tiny_rnn(11)
    m2 = copy.deepcopy(m1)
    f2 = lambda: f1(m2)  # noqa: E731
    kw = dict(betas=(0.8, 0.99), eps=1e-8, weight_decay=weight_decay, maximize=maximize)
    fw = FrankWolfe(
        m1.parameters(), lr=0.01, delta=0.37, K=1, p=2, scope="tensor", outer="adam", **kw
    )
    na = NormalizedAdam(m2.parameters(), lr=0.01, **kw)
    lock_step([(fw, f1), (na, f2)], 20, gamma=0.5, step_size=5)
    moved = max(
        float((a - b).detach().abs().max())
        for a, b in zip(m1.parameters(), tiny_rnn(11)[0].parameters())
    )
    assert moved > 0.05  # the runs went somewhere
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.allclose(a, b, rtol=0, atol=1e-6)


def test_only_the_direction_of_each_tensor_counts_and_zero_gradients_are_safe():
    a, b = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(2))
    opt = NormalizedAdam([a, b], lr=0.1)
    a.grad = torch.tensor([1e-30, 0.0, -1e-30])  # squares underflow in float32
    b.grad = torch.zeros(2)
    opt.step()
    assert torch.allclose(a.detach(), torch.tensor([0.9, 1.0, 1.1]))
    assert torch.equal(b, torch.ones(2))
    assert torch.allclose(normalized(torch.tensor([1e30, 1e30])), torch.full((2,), 0.5**0.5))


def test_state_dict_round_trip_continues_in_lock_step():
    m1, f1 = tiny_rnn(12)
    o1 = NormalizedAdam(m1.parameters(), lr=0.01)
    for _ in range(3):
        o1.step(closure_for(o1, f1))
    m2 = copy.deepcopy(m1)
    f2 = lambda: f1(m2)  # noqa: E731
    o2 = NormalizedAdam(m2.parameters(), lr=1.0)
    o2.load_state_dict(copy.deepcopy(o1.state_dict()))
    lock_step([(o1, f1), (o2, f2)], 3)
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))


@pytest.mark.parametrize(
    "kwargs,regex",
    [
        (dict(lr=math.inf), "^lr must be a finite number >= 0"),
        (dict(lr=torch.ones(2)), "^Tensor lr must be 1-element"),
        (dict(betas=(0.9, 1.0)), "^betas must be a pair"),
        (dict(eps=0.0), "^eps must be a finite number > 0"),
        (dict(weight_decay=-1.0), "^weight_decay must be a finite number >= 0"),
        (dict(maximize="no"), "^maximize must be True or False"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs, regex):
    with pytest.raises(ValueError, match=regex):
        NormalizedAdam([nn.Parameter(torch.ones(1))], **kwargs)


def test_options_are_keyword_only_and_complex_parameters_refused():
    with pytest.raises(TypeError):
        NormalizedAdam([nn.Parameter(torch.ones(1))], 1e-3, (0.9, 0.999))
    with pytest.raises(ValueError, match="real floating-point"):
        NormalizedAdam([nn.Parameter(torch.ones(1, dtype=torch.complex64))])
