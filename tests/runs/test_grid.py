"""fwlab/runs/grid.py: command-line values, parameter grids and the folder name of a point."""

from __future__ import annotations

import math

import pytest

from fwlab.runs import grid, parse_grid, parse_value, point_name


@pytest.mark.parametrize(
    "text, value",
    [
        ("5", 5),
        ("-3", -3),
        ("1e-3", 1e-3),
        ("0.5", 0.5),
        ("True", True),
        ("False", False),
        ("None", None),
        ("inf", math.inf),
        ("adam", "adam"),
        ("true", "true"),  # like papermill: only Python's spellings are booleans
        ("[1, 2]", [1, 2]),
        ("(8, 16)", (8, 16)),
        ("{'a': 1}", {"a": 1}),
        ("'5'", "5"),
        ('"x y"', "x y"),
        ("2,adam", "2,adam"),
        ("", ""),
    ],
)
def test_parse_value(text, value):
    got = parse_value(text)
    assert got == value and type(got) is type(value)


def test_parse_value_bad_literal_says_to_quote():
    with pytest.raises(ValueError, match="quote it"):
        parse_value("[1, 2")


def test_parse_grid_splits_outside_brackets_and_quotes():
    axes = parse_grid(["K=1, 5,10", "p=2,inf", "hidden=[8,8],(16,)", "tag='a,b',c"])
    assert axes == {"K": [1, 5, 10], "p": [2, math.inf], "hidden": [[8, 8], (16,)],
                    "tag": ["a,b", "c"]}  # fmt: skip


@pytest.mark.parametrize(
    "specs, match",
    [
        (["K"], "NAME=v1,v2"),
        (["K="], "NAME=v1,v2"),
        (["=1,2"], "NAME=v1,v2"),
        (["1x=1"], "NAME=v1,v2"),
        (["K=1", "K=2"], "given twice"),
        (["K=1,1"], "twice"),
    ],
)
def test_parse_grid_errors(specs, match):
    with pytest.raises(ValueError, match=match):
        parse_grid(specs)


def test_grid_is_the_cartesian_product_first_axis_slowest():
    points = grid({"K": [1, 5, 10], "p": [2, "inf"]})
    assert len(points) == 6
    assert points[0] == {"K": 1, "p": 2} and points[1] == {"K": 1, "p": "inf"}
    assert points[-1] == {"K": 10, "p": "inf"}
    assert grid({}) == [{}]


@pytest.mark.parametrize("axes", [{"K": []}, {"K": "15"}, {"K": 3}])
def test_grid_rejects_non_lists(axes):
    with pytest.raises(ValueError, match="'K'"):
        grid(axes)


def test_point_name_is_stable_and_filesystem_safe():
    assert point_name({"K": 5, "lr": 0.001, "outer": "adam"}) == "K=5__lr=0.001__outer=adam"
    assert point_name({"p": math.inf, "bn": True, "x": None}) == "p=inf__bn=True__x=None"
    assert point_name({}) == "default"
    odd = {"path": "../data sets/*", "dims": [8, 16]}
    name = point_name(odd)
    assert name == point_name(dict(odd))  # same input, same folder, every time
    assert all(c.isalnum() or c in "._=+-" for c in name) and "/" not in name
    assert not name.startswith(".")


def test_point_name_never_merges_different_points():
    points = [{"tag": "a/b"}, {"tag": "a_b"}, {"tag": "a b"}, {"K": 1}, {"K": 1.0}, {"K": "1"}]
    names = [point_name(p) for p in points]
    assert len(set(names)) == len(names)
    assert point_name({"tag": "a_b"}) == "tag=a_b"  # nothing lost: no hash
    long = point_name({f"name{i}": "x" * 20 for i in range(10)})
    assert len(long) <= 96
