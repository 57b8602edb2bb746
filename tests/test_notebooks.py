"""Every notebook in notebooks/: committed clean, one typed parameters cell, and it runs headless
under papermill (kernel ``fwlab``) on its defaults and with parameters overridden.

Notebook 01 is executed by tests/test_notebook_01.py (with more specific checks); here it gets the
structure checks only.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from jupyter_client.kernelspec import find_kernel_specs

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "fwlab"  # registered by .ci/setup: python -m ipykernel install --sys-prefix --name fwlab
PLOTLY = "application/vnd.plotly.v1+json"
TRAINING = ("02_adding_task", "03_pixel_mnist", "04_har2")  # with the dashboard
EXECUTED_ELSEWHERE = ("01_trust_region_playground",)  # tests/test_notebook_01.py

# per notebook: what a run on the defaults prints, and whether it shows a plotly figure
DEFAULTS = {
    "02_adding_task": (["adding problem, T = 30", "all checks passed"], True),
    "03_pixel_mnist": (["pixel_mnist (offline)", "all checks passed"], True),
    "04_har2": (["all checks passed"], True),
    "05_reproduce_paper": (["runs/reproduce/table3-smoke-seed0", "all checks passed"], True),
    "table_row": (["Ours K=5"], False),
}

# notebook 02's defaults are a calibrated ~1-minute live run (3 x 3,000 batches); the suite runs
# them with a shorter budget (its calibrated claim is asserted only at the full defaults)
DEFAULT_BUDGETS = {"02_adding_task": {"steps": 150, "n_train": 500, "n_test": 200}}

# cheap overrides per notebook, and what the run must print with them
OVERRIDES = {
    "02_adding_task": (
        {
            "seq_len": 20,
            "methods": ["sgd", "fw_k5"],
            "K": 2,
            "delta": 5e-3,
            "steps": 30,
            "n_train": 300,
            "n_test": 100,
            "background": False,
        },
        ["T = 20", "BPTT+Adam, Frank-Wolfe K=2; 30 batches each; δ = 0.005", "all checks passed"],
    ),
    "03_pixel_mnist": (
        {
            "task": "permuted_mnist",
            "cell": "rnn",
            "K": 1,
            "subset": 100,
            "test_subset": 50,
            "hidden_size": 16,
            "steps": 12,
        },
        [
            "permuted_mnist (offline): 100 train / 50 test",
            "BPTT+Adam, Frank-Wolfe K=1; 12 batches each",
            "all checks passed",
        ],
    ),
    "04_har2": (
        {"task": "basicmotions", "methods": ["sgd", "tbptt_fw"], "epochs": 3},
        [
            "BasicMotions (sktime; not HAR-2)",
            "2 methods × 3 epochs",
            "TBPTT(16)+Frank-Wolfe K=1",
            "all checks passed",
        ],
    ),
    "05_reproduce_paper": (
        {"rows": "sgd", "jobs": 2, "out_dir": "runs/override"},
        ["runs/override/table3-smoke-seed0", "SGD ", "all checks passed"],
    ),
    "table_row": ({"method": "sgd", "task": "noisy_har2"}, ["SGD", "noisy_basicmotions"]),
}
EXECUTED = [p for p in NOTEBOOKS if p.stem not in EXECUTED_ELSEWHERE]


def _id(path: Path) -> str:
    return path.stem


def test_every_notebook_is_executed_here_or_in_its_own_test():
    assert {p.stem for p in EXECUTED} == set(DEFAULTS) == set(OVERRIDES)
    assert set(TRAINING) <= set(DEFAULTS)
    assert all((ROOT / "tests" / f"test_notebook_{n[:2]}.py").exists() for n in EXECUTED_ELSEWHERE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
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


def _run(path, tmp_path, monkeypatch, **parameters):
    if KERNEL not in find_kernel_specs():
        pytest.fail(
            f"Jupyter kernel {KERNEL!r} is not installed; run `bash .ci/setup` or "
            f"`python -m ipykernel install --sys-prefix --name {KERNEL}`"
        )
    # the kernel imports fwlab/widgets from this checkout, whatever is installed in the venv
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    # tiny models train fastest on one CPU thread (and much faster on a shared machine)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    results = tmp_path / "results"
    results.mkdir()
    monkeypatch.setenv("FWLAB_RESULTS_DIR", str(results))  # what fwlab run/sweep set
    # run in a copy of notebooks/: what a notebook writes (runs/...) stays out of the checkout
    folder = tmp_path / "notebooks"
    shutil.copytree(path.parent, folder, ignore=shutil.ignore_patterns("runs", ".ipynb_*"))
    out = tmp_path / path.name
    pm.execute_notebook(
        str(folder / path.name),
        str(out),
        parameters=parameters,
        kernel_name=KERNEL,
        cwd=str(folder),
        progress_bar=False,
        execution_timeout=240,
    )
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    mimes = {m for o in outputs for m in o.get("data", {})}
    recorded = results / "results.json"
    return text, mimes, json.loads(recorded.read_text()) if recorded.exists() else None


@pytest.mark.notebooks
@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", EXECUTED, ids=_id)
def test_notebook_runs_headless_with_its_defaults(path, tmp_path, monkeypatch):
    text, mimes, recorded = _run(path, tmp_path, monkeypatch, **DEFAULT_BUDGETS.get(path.stem, {}))
    expected, has_figure = DEFAULTS[path.stem]
    for line in expected:
        assert line in text
    # a static plotly figure is in the outputs even without a widget front end
    assert (PLOTLY in mimes) == has_figure
    if path.stem in TRAINING:
        assert recorded, "a training notebook records its final metrics for sweeps"
        assert any(k.endswith("/wall_time") for k in recorded)
        assert all(v is not None for k, v in recorded.items() if k.endswith("_test_loss"))


@pytest.mark.notebooks
@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", EXECUTED, ids=_id)
def test_notebook_parameters_can_be_overridden(path, tmp_path, monkeypatch):
    parameters, expected = OVERRIDES[path.stem]
    text, _, recorded = _run(path, tmp_path, monkeypatch, **parameters)
    for line in expected:
        assert line in text
    if path.stem == "02_adding_task":
        assert recorded["fw_k5/steps"] == 30 and "sgd/final_test_loss" in recorded
    if path.stem == "04_har2":
        assert recorded["task"] == "basicmotions"
        assert recorded["tbptt_fw/steps"] == 3 * 4 * 7  # epochs × batches × chunks of 16
