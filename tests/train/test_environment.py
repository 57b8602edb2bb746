"""The callbacks fit adds from the environment (fwlab/train/environment.py): the factories that
FWLAB_FIT_CALLBACKS names are imported and called once per fit, with its method, seed and
resume; a malformed entry fails in one line before training."""

from __future__ import annotations

import pytest

from fwlab.data import load_task
from fwlab.runs.target import Notebook
from fwlab.train import Callback, TrainConfig, fit, get_method
from fwlab.train.environment import CALLBACKS_ENV, callback_factories, environment_callbacks

CALLS: list[tuple[str, int, bool]] = []


class Steps(Callback):
    """Counts the steps it saw."""

    def __init__(self) -> None:
        self.steps = 0

    def on_step_end(self, run) -> None:
        self.steps += 1


SEEN: list[Steps] = []


def steps_factory(method_name: str, seed: int, *, resume: bool = False) -> list[Callback]:
    CALLS.append((method_name, seed, resume))
    SEEN.append(Steps())
    return [SEEN[-1]]


def nothing(method_name: str, seed: int, *, resume: bool = False) -> list[Callback]:
    return []


HERE = __name__


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    monkeypatch.delenv(CALLBACKS_ENV, raising=False)
    monkeypatch.delenv("FWLAB_TENSORBOARD_DIR", raising=False)
    CALLS.clear()
    SEEN.clear()


def test_no_variable_adds_nothing():
    assert callback_factories() == [] and environment_callbacks("sgd", 0) == []


def test_fit_calls_every_named_factory_and_uses_its_callbacks(monkeypatch):
    monkeypatch.setenv(CALLBACKS_ENV, f"{HERE}:steps_factory, {HERE}:nothing,")
    assert callback_factories() == [steps_factory, nothing]
    data = load_task("adding", seq_len=4, n_train=16, n_test=8)
    fit(get_method("sgd"), data, TrainConfig(hidden_size=2, batch_size=8, steps=3, seed=7),
        progress=False)  # fmt: skip
    assert CALLS == [("sgd", 7, False)]
    assert [c.steps for c in SEEN] == [3]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("no_colon", "is not 'module:function'"),
        (":f", "is not 'module:function'"),
        ("fwlab.no_such_module:f", "cannot load 'fwlab.no_such_module:f'"),
        (f"{HERE}:no_such_factory", "cannot load"),
        (f"{HERE}:HERE", "is not callable"),
    ],
)
def test_a_bad_entry_fails_in_one_line_before_training(monkeypatch, value, match):
    monkeypatch.setenv(CALLBACKS_ENV, value)
    data = load_task("adding", seq_len=4, n_train=16, n_test=8)
    with pytest.raises(ValueError, match=match) as err:
        fit(get_method("sgd"), data, TrainConfig(hidden_size=2, batch_size=8, steps=2),
            progress=False)  # fmt: skip
    assert str(err.value).startswith(f"{CALLBACKS_ENV}: ") and "\n" not in str(err.value)


def test_a_notebook_target_checks_its_factories(tmp_path):
    nb = tmp_path / "a.ipynb"
    nb.write_text("{}")
    assert Notebook(nb, fit_callbacks=[f"{HERE}:nothing"]).fit_callbacks == (f"{HERE}:nothing",)
    with pytest.raises(ValueError, match="must be 'module:function', got 'nothing'"):
        Notebook(nb, fit_callbacks=["nothing"])
    with pytest.raises(ValueError, match="must be a list of entries"):
        Notebook(nb, fit_callbacks=f"{HERE}:nothing")
    with pytest.raises(ValueError, match="mlflow needs fit_callbacks"):
        Notebook(nb, mlflow="sqlite:///x.db")
