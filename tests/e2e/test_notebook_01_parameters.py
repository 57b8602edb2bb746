"""Notebook 01's parameters: a bad value raises naming it, in process and through
papermill; the defaults pass."""

from __future__ import annotations

import contextlib
import io
import math
import os
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from tests.notebook_tools import SAVE_AT_THE_END

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_01 = ROOT / "notebooks" / "01_trust_region_playground.ipynb"


# ------------------------------------------------------------------------ bad inputs: notebook 01
def _run_notebook_in_process(path: Path, **parameters) -> None:
    """Execute the notebook's code cells here, with ``parameters`` injected after its tagged
    ``parameters`` cell exactly as papermill does; the notebook's own checks do the rest."""
    nb = nbformat.read(path, as_version=4)
    ns: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            exec(compile(cell.source, f"{path.name}", "exec"), ns)
            if "parameters" in cell.metadata.get("tags", []):
                ns.update(parameters)


NOTEBOOK_CASES = [
    ({"loss": "banana"}, r"unknown loss 'banana'; choose one of \['rosenbrock'"),
    ({"p": 0.5}, r"p must be one of \['1', '1.5', '2', '3', '∞'\], got 0.5; pass e.g. p=2"),
    ({"p": 2.5}, r"p must be one of \['1', '1.5', '2', '3', '∞'\], got 2.5"),
    ({"delta": -0.1}, r"delta must be one of the δ slider's values \(0.001 ... 3\), got -0.1"),
    ({"delta": 100.0}, r"delta must be one of the δ slider's values .*got 100.0: the nearest is 3"),
    ({"delta": 0.123}, r"delta must be one of .*got 0.123: the nearest are 0.1 and 0.125"),
    ({"K": 0}, r"K must be an integer in \[1, 30\]"),
    ({"K": 50}, r"K must be an integer in \[1, 30\] \(the slider's range\), got 50"),
    ({"K": 2.5}, r"K must be an integer in \[1, 30\]"),
    ({"lr": 5.0}, r"lr must be one of the η slider's values \(0.05 ... 2\), got 5.0"),
    ({"steps": 1000}, r"steps must be an integer in \[0, 300\]"),
    ({"steps": -3}, r"steps must be an integer in \[0, 300\]"),
    ({"gd_lr": -1.0}, r"gd_lr must be a number in \[1e-05, 1\]"),
    ({"x0": math.inf}, r"x0 must be two finite numbers \(x, y\), got \(inf, 2.0\); pass e.g. x0="),
]


def test_notebook_01_declares_the_parameters_the_cases_use():
    declared = pm.inspect_notebook(str(NOTEBOOK_01))
    assert {name for params, _ in NOTEBOOK_CASES for name in params} <= set(declared)
    # K=2.5 and steps=-3 are wrong for these declared types; loss/p are checked by fwlab
    assert declared["K"]["inferred_type_name"] == "int"
    assert declared["steps"]["inferred_type_name"] == "int"


@pytest.mark.parametrize(
    ("params", "match"),
    NOTEBOOK_CASES,
    ids=[",".join(f"{k}={v}" for k, v in c[0].items()) for c in NOTEBOOK_CASES],
)
def test_bad_notebook_01_parameter_raises_naming_it(params, match):
    with pytest.raises(ValueError, match=match):
        _run_notebook_in_process(NOTEBOOK_01, **params)


def test_notebook_01_defaults_pass_in_process():
    _run_notebook_in_process(NOTEBOOK_01)  # the same harness accepts good values


@pytest.mark.notebooks
@pytest.mark.timeout(300)
def test_bad_parameter_through_papermill_fails_with_the_message(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    with pytest.raises(pm.PapermillExecutionError, match=r"K must be an integer in \[1, 30\]"):
        pm.execute_notebook(
            str(NOTEBOOK_01),
            str(tmp_path / "out.ipynb"),
            parameters={"K": 99},
            kernel_name="fwlab",
            cwd=str(NOTEBOOK_01.parent),
            progress_bar=False,
            execution_timeout=240,
            **SAVE_AT_THE_END,
        )
