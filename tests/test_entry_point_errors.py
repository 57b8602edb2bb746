"""A bad input at a public entry point of the library (optimizer, models, data, training
config) fails at once with an error that names the argument and says what is allowed;
a NaN gradient leaves the parameters alone."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fwlab.data import (
    har2_labels,
    load_adding,
    load_har2,
    load_noisy_har2,
    load_task,
    mnist_sequences,
    subset_dataset,
)
from fwlab.data.mnist import write_idx
from fwlab.models import IndRNN, SequenceModel
from fwlab.optim import FrankWolfe, NonFiniteError, lmo
from fwlab.train import TrainConfig, get_method


# ------------------------------------------------------------------------ bad inputs: the API
def _w() -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.tensor([1.0, -2.0]))


def _fw(**kw) -> FrankWolfe:
    return FrankWolfe([_w()], **kw)


def _group_with_bad_lr():
    opt = _fw()
    opt.add_param_group({"params": [_w()], "lr": -0.5})


def _closure_mid_streaming():
    w = _w()
    opt = FrankWolfe([w], K=3)
    w.grad = torch.ones(2)
    opt.step()  # inner iteration 1 of 3
    opt.step(lambda: (w**2).sum())


def _nan_gradient():
    w = _w()
    opt = FrankWolfe([w])
    w.grad = torch.tensor([float("nan"), 1.0])
    opt.step()


def _state_dict_with_bad_K():
    opt = _fw()
    sd = opt.state_dict()
    sd["param_groups"][0]["K"] = 0
    _fw().load_state_dict(sd)


def _seq(cell: str) -> SequenceModel:
    return SequenceModel(cell, 2, 4, 3)


API_CASES = [
    # optimizer
    ("optim-lr", lambda: _fw(lr=-1.0), ValueError, r"lr must be a finite number >= 0, got -1"),
    ("optim-delta-0", lambda: _fw(delta=0.0), ValueError, r"delta must be a finite number > 0"),
    ("optim-delta-inf", lambda: _fw(delta=math.inf), ValueError, r"delta must be a finite"),
    ("optim-K-0", lambda: _fw(K=0), ValueError, r"K must be an integer >= 1, got 0"),
    ("optim-K-float", lambda: _fw(K=2.5), ValueError, r"K must be an integer >= 1, got 2.5"),
    ("optim-p-small", lambda: _fw(p=0.5), ValueError, r"p must be a number >= 1 or 'inf'"),
    ("optim-p-word", lambda: _fw(p="two"), ValueError, r"p must be a number >= 1 or 'inf'"),
    ("optim-scope", lambda: _fw(scope="row"), ValueError, r"scope must be one of .*'global'"),
    ("optim-outer", lambda: _fw(outer="momentum"), ValueError, r"outer must be one of .*'adam'"),
    ("optim-betas", lambda: _fw(betas=(0.9, 1.0)), ValueError, r"betas must be a pair .*\[0, 1\)"),
    ("optim-eps", lambda: _fw(eps=0.0), ValueError, r"eps must be a finite number > 0"),
    ("optim-wd", lambda: _fw(weight_decay=-1e-4), ValueError, r"weight_decay must be .* >= 0"),
    ("optim-nonfinite", lambda: _fw(nonfinite="ignore"), ValueError, r"nonfinite must be one of"),
    (
        "optim-complex",
        lambda: FrankWolfe([torch.nn.Parameter(torch.ones(2, dtype=torch.cfloat))]),
        ValueError,
        r"params must be real floating-point tensors, got a torch.complex64",
    ),
    (
        "optim-group-lr",
        _group_with_bad_lr,
        ValueError,
        r"lr must be a finite number >= 0, got -0.5",
    ),
    ("optim-state-dict-K", _state_dict_with_bad_K, ValueError, r"K must be an integer >= 1"),
    (
        "optim-closure-mid-stream",
        _closure_mid_streaming,
        RuntimeError,
        r"middle of a streaming outer step \(param group 0 has done 1 of its K=3.*reset_inner",
    ),
    ("optim-nan-grad", _nan_gradient, NonFiniteError, r"non-finite gradient.*Lower lr/delta"),
    ("lmo-radius", lambda: lmo(torch.ones(3), 2, -1.0), ValueError, r"radius must be .* >= 0"),
    # models
    ("indrnn-hidden", lambda: IndRNN(2, 0), ValueError, r"hidden_size must be an integer >= 1"),
    (
        "indrnn-act",
        lambda: IndRNN(2, 4, nonlinearity="sigmoid"),
        ValueError,
        r"nonlinearity must be one of \['relu', 'tanh'\]",
    ),
    (
        "indrnn-dropout",
        lambda: IndRNN(2, 4, dropout=1.0),
        ValueError,
        r"dropout must be .*\[0, 1\)",
    ),
    (
        "indrnn-umax",
        lambda: IndRNN(2, 4, recurrent_max=-1.0),
        ValueError,
        r"recurrent_max must be a finite number > 0, got -1.0; pass e.g. recurrent_max=1",
    ),
    (
        "indrnn-features",
        lambda: IndRNN(2, 4)(torch.randn(7, 5, 3)),
        ValueError,
        r"input has 3 features \(last dimension of shape \(7, 5, 3\)\), expected input_size=2",
    ),
    (
        "indrnn-hx-shape",
        lambda: IndRNN(2, 4)(torch.randn(7, 5, 2), torch.zeros(1, 4, 4)),
        ValueError,
        r"hx must have shape \(num_layers, N, H\) = \(1, 5, 4\)",
    ),
    (
        "indrnn-int-input",
        lambda: IndRNN(2, 4)(torch.ones(7, 5, 2, dtype=torch.long)),
        ValueError,
        r"input must be a floating-point tensor, got torch.int64; use input.to\(torch.float32\)",
    ),
    (
        "indrnn-T0",
        lambda: IndRNN(2, 4)(torch.randn(0, 5, 2)),
        ValueError,
        r"input must have at least one time step",
    ),
    (
        "indrnn-hx-dtype",
        lambda: IndRNN(2, 4)(torch.randn(7, 5, 2), torch.zeros(1, 5, 4).long()),
        ValueError,
        r"hx is torch.int64 on cpu but input is torch.float32 on cpu; use hx.to\(input\)",
    ),
    ("seq-cell", lambda: SequenceModel("gru", 2, 4, 3), ValueError, r"cell must be one of"),
    (
        "seq-rnn-features",
        lambda: _seq("rnn")(torch.randn(5, 7, 3)),
        ValueError,
        r"x has 3 features per step but the model has input_size=2; pass \(N, T, 2\)",
    ),
    (
        "seq-lstm-features",
        lambda: _seq("lstm")(torch.randn(5, 7, 1)),
        ValueError,
        r"x has 1 features per step but the model has input_size=2",
    ),
    (
        "seq-int-input",
        lambda: _seq("indrnn")(torch.ones(5, 7, 2, dtype=torch.long)),
        ValueError,
        r"x must be a floating-point tensor, got torch.int64; use x.float\(\)",
    ),
    (
        "seq-time-major",
        lambda: _seq("rnn")(torch.randn(7, 2)),
        ValueError,
        r"x must be batch-first \(N, T, F\)",
    ),
    (
        "seq-rnn-state",
        lambda: _seq("rnn")(torch.randn(5, 7, 2), torch.zeros(1, 4, 4)),
        ValueError,
        r"state must have shape \(num_layers, N, hidden_size\) = \(1, 5, 4\)",
    ),
    (
        "seq-lstm-state-shape",
        lambda: _seq("lstm")(torch.randn(5, 7, 2), (torch.zeros(1, 5, 4), torch.zeros(2, 5, 4))),
        ValueError,
        r"state must have shape .* got \(2, 5, 4\); pass None",
    ),
    (
        "seq-lstm-state-type",
        lambda: _seq("lstm")(torch.randn(5, 7, 2), torch.zeros(1, 5, 4)),
        ValueError,
        r"state for cell='lstm' must be a tuple \(h, c\)",
    ),
    (
        "seq-lstm-nonlin",
        lambda: SequenceModel("lstm", 2, 4, 3, nonlinearity="relu"),
        ValueError,
        r"nonlinearity is fixed for cell='lstm'; leave it None",
    ),
    (
        "seq-rnn-umax",
        lambda: SequenceModel("rnn", 2, 4, 3, recurrent_max=1.0),
        ValueError,
        r"recurrent_max and seq_len_hint apply to cell='indrnn' only",
    ),
    # data
    ("task-name", lambda: load_task("mnist"), ValueError, r"name must be one of .*pixel_mnist"),
    ("adding-seq-len", lambda: load_adding(seq_len=1), ValueError, r"seq_len must be .* >= 2"),
    (
        "mnist-source",
        lambda: mnist_sequences(source="internet"),
        ValueError,
        r"source must be one of \['offline', 'torchvision'\], got 'internet'; "
        r"pass e.g. source='offline'",
    ),
    (
        "noisy-har-std-0",
        lambda: load_noisy_har2(noise_std=0.0),
        ValueError,
        r"noise_std must be > 0 for Noisy-HAR-2; use load_har2\(\)",
    ),
    (
        "har-std-neg",
        lambda: load_har2(noise_std=-1.0),
        ValueError,
        r"noise_std must be a finite number >= 0",
    ),
    ("har-labels", lambda: har2_labels(np.array([0, 7])), ValueError, r"activity ids .* 1..6"),
    (
        "subset-size",
        lambda: subset_dataset(load_adding(seq_len=4, n_train=10).train, 0),
        ValueError,
        r"subset size must be an integer in \[1, 10\]",
    ),
    (
        "idx-values",
        lambda: write_idx(Path("unused"), np.array([300])),
        ValueError,
        r"array must hold integers in \[0, 255\]",
    ),
    # training configuration
    ("config-length", lambda: TrainConfig(), ValueError, r"epochs or steps must be set"),
    (
        "config-loss",
        lambda: TrainConfig(steps=1, loss="hinge"),
        ValueError,
        r"loss must be one of .*'sigmoid_mse'",
    ),
    (
        "config-gamma",
        lambda: TrainConfig(steps=1, lr_gamma=0.0),
        ValueError,
        r"lr_gamma must be a number in \(0, 1\]",
    ),
    ("method-name", lambda: get_method("adam_fw"), ValueError, r"method must be one of"),
]


@pytest.mark.parametrize(
    ("make", "exc", "match"), [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES]
)
def test_bad_input_raises_an_error_naming_it(make, exc, match, tmp_path, monkeypatch):
    monkeypatch.setenv("FWLAB_DATA", str(tmp_path))  # data look-ups never touch the real cache
    with pytest.raises(exc, match=match):
        make()


def test_nan_gradient_case_left_the_parameters_alone():
    w = _w()
    opt = FrankWolfe([w], K=2)
    w.grad = torch.ones(2)
    opt.step()
    shifted = w.detach().clone()
    w.grad = torch.tensor([math.inf, 0.0])
    with pytest.raises(NonFiniteError):
        opt.step()
    assert torch.equal(w, torch.tensor([1.0, -2.0])) and not opt.state  # rolled back to omega
    assert not torch.equal(shifted, w)
