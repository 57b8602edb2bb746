"""fwlab/runs/params.py: a parameters cell read by Python's parser; values parsed by type."""

from __future__ import annotations

import math

import pytest
from nbformat.v4 import new_code_cell
from papermill.translators import PythonTranslator

from fwlab.runs import parse_value
from fwlab.runs.params import cell_parameters, parse_typed

CELL = """\
K: int = 5  # inner iterations
lr: float = 1e-3  # η = δ, Adam's learning rate ("=" in the comment)
tag: str = "run"
mode = "sgd"  # unannotated, a str default
seed = 0
flag: bool = False
sizes: list = [8, 16]
ints: list[int] = [1]
shape: tuple = (2, 3)
opts: dict = {}
maybe: int | None = None
old: Optional[float] = None
either: Union[int, str] = 1
anything: Any = 1
a = b = 2
import math
x: int  # declared without a value: not a parameter
"""


@pytest.fixture(scope="module")
def declared():
    return cell_parameters(CELL)


def test_cell_parameters_reads_every_assignment_with_its_type_and_comment(declared):
    assert list(declared) == [
        "K", "lr", "tag", "mode", "seed", "flag", "sizes", "ints", "shape", "opts", "maybe",
        "old", "either", "anything", "a", "b",
    ]  # fmt: skip
    assert declared["K"] == {
        "name": "K",
        "inferred_type_name": "int",
        "default": "5",
        "help": "inner iterations",
    }
    # papermill's reader drops this line (the "=" in its comment); ours keeps it
    papermill_names = [p.name for p in PythonTranslator.inspect(new_code_cell(CELL))]
    assert "K" in papermill_names and "lr" not in papermill_names
    assert declared["lr"]["inferred_type_name"] == "float"
    assert declared["lr"]["help"].startswith("η = δ, Adam's")
    assert declared["maybe"]["inferred_type_name"] == "int | None"
    assert declared["mode"]["inferred_type_name"] == "None"


def test_cell_that_is_not_python_is_a_clear_error():
    with pytest.raises(ValueError, match="parameters cell is not valid Python .*line 1"):
        cell_parameters("K: int = = 5")


def _p(name, text, declared):
    return parse_typed(name, text, declared.get(name), fallback=parse_value)


@pytest.mark.parametrize(
    "name, text, value",
    [
        ("K", "7", 7),
        ("K", "-3", -3),
        ("lr", "0.5", 0.5),
        ("lr", "1", 1.0),
        ("lr", "inf", math.inf),
        ("tag", "007", "007"),
        ("tag", "True", "True"),
        ("tag", "'quoted'", "quoted"),
        ("tag", "''", ""),
        ("tag", "a b", "a b"),
        ("mode", "007", "007"),  # an unannotated str default is a str
        ("seed", "3", 3),  # other unannotated values: parse_value
        ("seed", "1e-3", 1e-3),
        ("flag", "True", True),
        ("sizes", "[1, 2]", [1, 2]),
        ("ints", "[3, 4]", [3, 4]),
        ("shape", "(1, 2)", (1, 2)),
        ("opts", "{'a': 1}", {"a": 1}),
        ("maybe", "None", None),
        ("maybe", "4", 4),
        ("old", "None", None),
        ("old", "2", 2.0),
        ("either", "3", 3),
        ("either", "x", "x"),
        ("anything", "abc", "abc"),
        ("undeclared", "5", 5),
    ],
)
def test_values_follow_the_declared_type(declared, name, text, value):
    got = _p(name, text, declared)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    "name, text, match",
    [
        ("K", "abc", r"-p K: the notebook declares K: int, got 'abc'; pass an integer"),
        ("K", "1.5", r"K: int, got '1.5'"),
        ("K", "True", r"K: int, got 'True'"),
        ("lr", "fast", r"lr: float, got 'fast'; pass a number"),
        ("flag", "yes", r"flag: bool, got 'yes'; pass True or False"),
        ("flag", "1", r"flag: bool, got '1'"),
        ("sizes", "8", r"sizes: list, got '8'; pass a list such as \[1, 2\]"),
        ("ints", "['a']", r"ints: list\[int\], got"),
        ("shape", "[1, 2]", r"shape: tuple, got"),
        ("maybe", "x", r"maybe: int \| None, got 'x'"),
        ("K", "", r"-p K: empty value"),
        ("tag", "  ", r"-p tag: empty value"),
    ],
)
def test_values_that_do_not_fit_name_parameter_type_and_value(declared, name, text, match):
    with pytest.raises(ValueError, match=match):
        _p(name, text, declared)


def test_grid_values_split_at_top_level_and_follow_the_declared_types(declared):
    from fwlab.runs import parse_grid

    axes = parse_grid(["sizes=[1,2],[3,[4,5]]", "tag=007,'a,b'", "K=1, 2"], declared)
    assert axes == {"sizes": [[1, 2], [3, [4, 5]]], "tag": ["007", "a,b"], "K": [1, 2]}
    assert [type(v) for v in axes["tag"]] == [str, str]
