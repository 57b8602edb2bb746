"""fwlab/checks.py: one rule per kind of quantity, used by models, data and TrainConfig."""

import json

import numpy as np
import pytest

from fwlab.checks import check_bool, check_int, is_finite_number
from fwlab.data.adding import adding_problem
from fwlab.models import IndRNN
from fwlab.train import TrainConfig


@pytest.mark.parametrize("value", [0, -1, True, np.bool_(True), 8.0, "8", None, np.float64(3)])
def test_check_int_refuses_naming_the_argument_and_the_fix(value):
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got .*; pass e.g. n=1$"):
        check_int("n", value, 1)


@pytest.mark.parametrize("value", [1, 7, np.int64(7), np.int8(1)])
def test_check_int_returns_a_plain_int(value):
    out = check_int("n", value, 1)
    assert out == value and type(out) is int


def test_check_bool_and_is_finite_number():
    assert check_bool("flag", np.bool_(False)) is False
    for bad in (0, 1, "True", None):
        with pytest.raises(ValueError, match="flag must be True or False"):
            check_bool("flag", bad)
    assert [is_finite_number(x) for x in (1, 2.5, True, float("inf"), "1")] == [
        True, True, False, False, False,
    ]  # fmt: skip


def test_the_same_rule_everywhere():
    for make in (
        lambda: IndRNN(2, 0),
        lambda: adding_problem(0, 10),
        lambda: TrainConfig(hidden_size=0, steps=1),
    ):
        with pytest.raises(ValueError, match="must be an integer >= 1, got 0; pass e.g."):
            make()


def test_train_config_stores_numpy_integers_as_ints():
    cfg = TrainConfig(hidden_size=np.int64(8), steps=np.int32(3))
    assert type(cfg.hidden_size) is int and type(cfg.steps) is int
    json.dumps(cfg.to_dict())  # the history holds the config as JSON
