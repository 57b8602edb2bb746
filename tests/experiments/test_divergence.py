"""Tests of fwlab/experiments/divergence.py: two curves of the same update, rounding or apart."""

from __future__ import annotations

import pytest

from fwlab.experiments.divergence import curve_divergence
from fwlab.train import TrainConfig, fit, get_method


def _h(steps, losses):
    return {"train": {"step": steps, "loss": losses}}


def test_known_answer():
    a = _h([10, 20, 30, 40], [1.0, 0.5, 0.25, 0.2])
    b = _h([10, 20, 30, 40], [1.0, 0.5 * (1 + 1e-7), 0.26, 0.1])
    d = curve_divergence(a, b, early=20, tol=1e-3)
    assert d.early_max_rel == pytest.approx(1e-7, rel=1e-3)
    assert d.first_apart == 30 and d.final_abs == pytest.approx(0.1) and d.steps == 4
    assert curve_divergence(a, a, early=40).first_apart is None


def test_fw_k1_and_normalized_adam_agree_to_rounding_at_first():
    """The claim notebook 02 rests on: the same update, so the same curve up to rounding."""
    from fwlab.data import load_task

    data = load_task("adding", seq_len=10, n_train=200, n_test=50)
    config = TrainConfig(hidden_size=8, batch_size=20, steps=30, eval_every=30)
    fw = fit(get_method("fw_k1"), data, config, progress=False)
    na = fit(get_method("normalized_adam"), data, config, progress=False)
    d = curve_divergence(fw, na, early=30)
    assert d.early_max_rel < 1e-4 and d.first_apart is None


@pytest.mark.parametrize(
    "a, b, kwargs, match",
    [
        (_h([1, 2], [1.0, 1.0]), _h([1, 3], [1.0, 1.0]), {"early": 1}, "same, non-empty steps"),
        (_h([], []), _h([], []), {"early": 1}, "same, non-empty steps"),
        ({"eval": {}}, _h([1], [1.0]), {"early": 1}, "a must be a run history"),
        (_h([5, 6], [1.0, 1.0]), _h([5, 6], [1.0, 1.0]), {"early": 4}, "early must be an int"),
        (_h([5, 6], [1.0, 1.0]), _h([5, 6], [1.0, 1.0]), {"early": 5.0}, "early must be an int"),
        (
            _h([5], [1.0]),
            _h([5], [1.0]),
            {"early": 5, "tol": 0},
            "^tol must be a finite number > 0, got 0; pass e.g. tol=1$",
        ),
    ],
)
def test_errors_name_the_argument(a, b, kwargs, match):
    with pytest.raises(ValueError, match=match):
        curve_divergence(a, b, **kwargs)
