"""Every notebook in notebooks/: committed clean, one typed parameters cell, and it runs headless
under papermill (kernel ``fwlab``) on its defaults (tests/e2e/test_notebook_overrides.py: with
parameters overridden), and nbval finds that run's outputs equal to the notebook's golden copy in
tests/golden/ (tests/golden/golden.py). Notebook 02 runs its calibrated defaults (four live
seeds at the setting of the recorded comparison adding-calibrated), so the checks of its live
run at that setting run here.

Notebook 01 is executed by tests/e2e/test_notebook_01.py (with more specific checks); here it gets
the
structure checks only.
"""

from __future__ import annotations

import json
from ast import literal_eval

import nbformat
import papermill as pm
import pytest

from fwlab.runs.params import notebook_parameters
from tests.golden.golden import NAMES as GOLDEN
from tests.golden.golden import assert_matches_golden
from tests.notebook_tools import (
    DEFAULTS,
    EXECUTED,
    EXECUTED_ELSEWHERE,
    KERNEL,
    NOTEBOOKS,
    OVERRIDES,
    PLOTLY,
    ROOT,
    TRAINING,
    notebook_id,
    run_notebook,
)


def test_every_notebook_is_executed_here_or_in_its_own_test():
    assert {p.stem for p in EXECUTED} == set(DEFAULTS) == set(OVERRIDES)
    assert set(TRAINING) <= set(DEFAULTS)
    assert all(
        (ROOT / "tests" / "e2e" / f"test_notebook_{n[:2]}.py").exists() for n in EXECUTED_ELSEWHERE
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_committed_notebook_is_clean_with_one_typed_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == KERNEL
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "clear outputs"
    params = pm.inspect_notebook(str(path))
    assert params, "the parameters cell declares parameters"
    # papermill reads every parameter too: a line it cannot read (a comment holding "=") makes
    # `papermill -p NAME ...` warn "Passed unknown parameter" and leaves NAME out of --help-notebook
    assert list(params) == list(notebook_parameters(path))
    for name, p in params.items():
        assert p["inferred_type_name"] not in (None, "None"), f"{name} has no type"
        assert p["help"], f"{name} has no comment"
    # the notebook ends with its asserts
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert "assert " in last.source
    assert nb.cells[0].cell_type == "markdown", "it starts by explaining the idea"
    if path.stem in TRAINING:
        assert sum(c.cell_type == "markdown" for c in nb.cells) >= 4
        assert last.source.count("assert ") >= 3 and "all checks passed" in last.source
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "TrainingDashboard(" in text and "static_figure()" in text
        assert "compare(" in text and "run_problems(" in text  # fwlab.experiments, shared


@pytest.mark.notebooks
@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", EXECUTED, ids=notebook_id)
def test_notebook_runs_headless_with_its_defaults(path, tmp_path, monkeypatch):
    text, mimes, recorded = run_notebook(path, tmp_path, monkeypatch)
    expected, has_figure = DEFAULTS[path.stem]
    for line in expected:
        assert line in text
    # a static plotly figure is in the outputs even without a widget front end
    assert (PLOTLY in mimes) == has_figure
    if path.stem in GOLDEN:  # nbval: this run's outputs against tests/golden/ (no second run)
        assert_matches_golden(path.stem, tmp_path / path.name)
    if path.stem == "05_reproduce_paper":  # its har2 point is table_row.ipynb's defaults
        point = tmp_path / "notebooks" / "runs" / "reproduce" / "table3-smoke-seed0"
        status = json.loads((point / "method=fw_k5__task=har2" / "status.json").read_text())
        assert status["status"] == "ok"
        assert status["function"] == "fwlab.experiments.reproduce:train_row"
        # the values 05's study passed are table_row.ipynb's declared defaults, read with
        # fwlab's own parser of a parameters cell
        defaults = notebook_parameters(path.parent / "table_row.ipynb")
        assert status["params"] == {
            name: literal_eval(p["default"]) for name, p in defaults.items()
        }
        result = json.loads((point / "method=fw_k5__task=har2" / "results.json").read_text())
        assert result["label"] == "Ours K=5" and result["data"] == "basicmotions"
    if path.stem in TRAINING:
        assert recorded, "a training notebook records its final metrics for sweeps"
        assert any(k.endswith("/wall_time") for k in recorded)
        assert all(v is not None for k, v in recorded.items() if k.endswith("_test_loss"))
