"""fwlab/util/validate.py: one rule per kind of argument, the same at every entry point.

The table below sends the same bad value to every public entry point that takes the argument
(the optimizer, the method presets, TrainConfig, the dashboard's RunControl.set, the toy
trajectory and the command line) and asserts one message; numpy scalars are accepted by all of
them and stored as plain Python numbers.
"""

import json
import math
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from fwlab.app.cli import main
from fwlab.data.adding import adding_problem
from fwlab.models import IndRNN
from fwlab.optim import FrankWolfe, NormalizedAdam
from fwlab.toy import trajectory
from fwlab.train import TrainConfig, get_method
from fwlab.train.background import RunControl
from fwlab.util import validate


def _frank_wolfe(name, value):
    return FrankWolfe([nn.Parameter(torch.ones(2))], **{name: value}).param_groups[0][name]


def _method(name, value):
    return getattr(get_method("fw_k5", **{name: value}), name)


def _config(name, value):
    return getattr(TrainConfig(steps=1, **{name: value}), name)


def _control(name, value):
    return RunControl("fw").set(**{name: value})[name]


def _trajectory(name, value):
    return getattr(trajectory("quadratic", steps=2, **{name: value}), name)


#: argument → (its rule in fwlab.util.validate, the entry points that take it)
ENTRY_POINTS = {
    "K": (validate.positive_int, [_frank_wolfe, _method, _control, _trajectory]),
    "lr": (validate.nonnegative_float, [_frank_wolfe, _config, _control, _trajectory]),
    "delta": (validate.positive_float, [_frank_wolfe, _config, _control, _trajectory]),
    "p": (validate.p_exponent, [_frank_wolfe, _method, _control, _trajectory]),
}

BAD = [
    ("K", 0),
    ("K", np.int64(0)),
    ("K", 5.0),
    ("K", np.float64(5.0)),
    ("K", True),
    ("K", "5"),
    ("K", None),
    ("lr", -1.0),
    ("lr", np.float32(-1.0)),
    ("lr", math.nan),
    ("lr", math.inf),
    ("lr", True),
    ("lr", "0.1"),
    ("delta", 0.0),
    ("delta", np.float32(0.0)),
    ("delta", -0.5),
    ("delta", math.inf),
    ("p", 0.5),
    ("p", np.float64(0.5)),
    ("p", "two"),
    ("p", math.nan),
    ("p", False),
]


@pytest.mark.parametrize("name,value", BAD, ids=lambda v: repr(v))
def test_a_bad_value_gets_one_message_from_every_entry_point(name, value):
    rule, entry_points = ENTRY_POINTS[name]
    with pytest.raises(ValueError) as expected:
        rule(name, value)
    message = str(expected.value)
    assert message.startswith(f"{name} must be ") and "; pass e.g. " in message
    assert "\n" not in message
    for enter in entry_points:
        with pytest.raises(ValueError) as got:
            enter(name, value)
        assert str(got.value) == message, enter.__name__


GOOD = [
    ("K", np.int64(5), 5),
    ("K", np.int32(3), 3),
    ("K", torch.tensor(4), 4),
    ("lr", np.float32(0.5), 0.5),
    ("lr", np.float64(0.25), 0.25),
    ("lr", np.int64(1), 1.0),
    ("delta", np.float32(0.125), 0.125),
    ("delta", torch.tensor(0.5), 0.5),
    ("p", np.float64(3.0), 3.0),
    ("p", np.int64(1), 1.0),
    ("p", "inf", math.inf),
]


@pytest.mark.parametrize("name,value,stored", GOOD, ids=lambda v: repr(v))
def test_numpy_scalars_are_accepted_everywhere_and_stored_plain(name, value, stored):
    rule, entry_points = ENTRY_POINTS[name]
    for enter in [rule, *entry_points]:
        out = enter(name, value)
        assert out == stored and type(out) is type(stored), (enter.__name__, out)


CLI_BAD = [("K", "0"), ("K", "2.0"), ("K", "x"), ("lr", "-1"), ("lr", "nan"), ("delta", "0"),
           ("delta", "-0.5"), ("p", "0.5"), ("p", "two")]  # fmt: skip


@pytest.mark.parametrize("name,text", CLI_BAD)
def test_the_command_line_words_the_same_rule_for_its_option(name, text, capsys):
    rule, _ = ENTRY_POINTS[name]
    try:  # the value as the command line reads it: the number its text holds, else the text
        value = (int if name == "K" else float)(text)
    except ValueError:
        value = text
    with pytest.raises(ValueError) as expected:
        rule(name, value)
    python = str(expected.value)
    argv = ["train", "--task", "adding", "--steps", "1", "--no-progress", f"--{name}", text]
    with pytest.raises(SystemExit) as code:
        main(argv)
    assert code.value.code == 2  # argparse: before anything is loaded or written
    err = capsys.readouterr().err.strip().splitlines()[-1]
    body = python.removeprefix(f"{name} ").replace(f"; pass e.g. {name}=", "; pass e.g. ")
    assert err == f"fwlab train: error: argument --{name}: {body}; see 'fwlab train --help'"


def test_optimizers_validate_at_construction_add_param_group_and_load_state_dict():
    w = nn.Parameter(torch.ones(2))
    for make in (lambda: FrankWolfe([w], lr=0.1, delta=0.1), lambda: NormalizedAdam([w], lr=0.1)):
        opt = make()
        with pytest.raises(ValueError, match=r"^lr must be a finite number >= 0, got -1"):
            opt.add_param_group({"params": [nn.Parameter(torch.ones(1))], "lr": -1})
        assert len(opt.param_groups) == 1  # refused before anything changed
        state = opt.state_dict()
        state["param_groups"][0]["lr"] = np.float32(-1)
        with pytest.raises(ValueError, match=r"^state_dict param group 0: lr must be a finite"):
            opt.load_state_dict(state)
        assert opt.param_groups[0]["lr"] == 0.1
        state["param_groups"][0]["lr"] = np.float32(0.5)  # stored as a plain float
        opt.load_state_dict(state)
        assert type(opt.param_groups[0]["lr"]) is float and opt.param_groups[0]["lr"] == 0.5


def test_normalized_adam_does_not_validate_at_every_step():
    """As torch.optim: a group's values are checked where they enter, not in step()."""
    w = nn.Parameter(torch.ones(2))
    opt = NormalizedAdam([w], lr=0.1)
    opt.param_groups[0]["lr"] = torch.tensor(0.05)  # what an LR scheduler may write
    w.grad = torch.ones(2)
    opt.step()
    assert isinstance(opt.param_groups[0]["lr"], torch.Tensor)  # not rewritten by a check


@pytest.mark.parametrize(
    "rule,args,value,message",
    [
        (validate.int_at_least, (1,), 0, "n must be an integer >= 1, got 0; pass e.g. n=1"),
        (validate.int_at_least, (2,), 1.0, "n must be an integer >= 2, got 1.0; pass e.g. n=2"),
        (validate.int_in_range, (1, 30), 31, "n must be an integer in [1, 30], got 31; pass e.g. "
         "n=1"),
        (validate.int_in_range, (1, 30), "7", "n must be an integer in [1, 30], got '7'; pass e.g. "
         "n=7"),
        (validate.nonnegative_int, (), -1, "n must be an integer >= 0, got -1; pass e.g. n=0"),
        (validate.positive_float, (), "0.1", "n must be a finite number > 0, got '0.1'; pass "
         "e.g. n=0.1"),
        (validate.fraction, (), 0, "n must be a number in (0, 1], got 0; pass e.g. n=1"),
        (validate.in_range, (0, 1), 1.5, "n must be a number in [0, 1], got 1.5; pass e.g. n=0"),
        (validate.finite_number, (), math.inf, "n must be a finite number, got inf; pass e.g. n=0"),
        (validate.boolean, (), 1, "n must be True or False, got 1; pass e.g. n=True"),
        (validate.one_of, (("a", "b"),), "c", "n must be one of ['a', 'b'], got 'c'; pass e.g. "
         "n='a'"),
        (validate.one_of, ((1, 2),), True, "n must be one of [1, 2], got True; pass e.g. n=1"),
        (validate.one_of, ((),), "c", "n must be one of [], got 'c'"),  # nothing would do
        (validate.point, (), [1.0], "n must be two finite numbers (x, y), got [1.0]; pass e.g. "
         "n=(0.5, 0.5)"),
    ],
)  # fmt: skip
def test_each_rule_names_the_argument_the_rule_and_a_value_that_would_do(
    rule, args, value, message
):
    with pytest.raises(ValueError) as err:
        rule("n", value, *args)
    assert str(err.value) == message


@pytest.mark.parametrize("value", [0, -1, True, np.bool_(True), 8.0, "8", None, np.float64(3)])
def test_integers_refuse_what_is_not_an_integer(value):
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got .*; pass e.g. n=\d+$"):
        validate.positive_int("n", value)


@pytest.mark.parametrize("value", [1, 7, np.int64(7), np.int8(1), torch.tensor([7])])
def test_integers_are_returned_plain(value):
    out = validate.positive_int("n", value)
    assert out == value and type(out) is int


def test_optional_and_booleans():
    assert validate.optional(validate.positive_int, "tbptt", None) is None
    with pytest.raises(ValueError, match=r"^tbptt must be an integer >= 1, got 0; "):
        validate.optional(validate.positive_int, "tbptt", 0)
    assert validate.boolean("flag", np.bool_(False)) is False
    for bad in (0, 1, "True", None):
        with pytest.raises(ValueError, match="^flag must be True or False"):
            validate.boolean("flag", bad)


def test_a_refusal_keeps_its_parts_across_processes():
    with pytest.raises(ValueError) as err:
        validate.positive_float("delta", -1)
    back = pickle.loads(pickle.dumps(err.value))
    assert type(back) is ValueError and str(back) == str(err.value)
    assert (back.name, back.rule, back.value, back.example) == (
        "delta",
        "a finite number > 0",
        -1,
        "1",
    )


def test_the_same_rule_in_models_data_and_config():
    for make in (
        lambda: IndRNN(2, 0),
        lambda: adding_problem(0, 10),
        lambda: TrainConfig(hidden_size=0, steps=1),
    ):
        with pytest.raises(ValueError, match="must be an integer >= 1, got 0; pass e.g."):
            make()


def test_train_config_stores_numpy_numbers_as_plain_ones():
    cfg = TrainConfig(hidden_size=np.int64(8), steps=np.int32(3), lr=np.float32(0.5))
    assert type(cfg.hidden_size) is int and type(cfg.steps) is int and type(cfg.lr) is float
    json.dumps(cfg.to_dict())  # the history holds the config as JSON


def test_validate_needs_no_torch():
    import subprocess
    import sys

    code = "import sys, fwlab.util.validate; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "seeds, parameters, match",
    [
        ([], (), r"^seeds must be a non-empty list of integers >= 0, got \[\]$"),
        ([0, -1], (), r"^seed must be an integer >= 0, got -1; pass e.g. seed=0$"),
        ([2, 2], (), r"^seeds lists a seed twice: \[2, 2\]; give each seed once$"),
        ([1], ("x", "seed"), r"^give the seed once: as seeds=, not also as a parameter 'seed'$"),
    ],
)
def test_seed_list_is_one_rule_for_a_study_and_a_search(tmp_path, seeds, parameters, match):
    from fwlab.integrations.optuna import search
    from fwlab.runs import Study

    with pytest.raises(ValueError, match=match):
        validate.seed_list("seeds", seeds, parameters)
    fixed = {"seed": 0} if "seed" in parameters else None
    with pytest.raises(ValueError, match=match):
        Study("fwlab.runs.examples:square", tmp_path / "s", {"x": [1]}, fixed=fixed, seeds=seeds)
    with pytest.raises(ValueError, match=match):
        search(
            "fwlab.runs.examples:square",
            tmp_path / "s",
            {"x": "float:0:1"},
            fixed=fixed,
            seeds=seeds,
            trials=1,
            metric="loss",
        )
    assert not (tmp_path / "s").exists()
    assert validate.seed_list("seeds", (np.int64(3), 0), ["x"]) == [3, 0]
