"""notebooks/01_trust_region_playground.ipynb: structure, and headless runs under papermill."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from jupyter_client.kernelspec import find_kernel_specs

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "01_trust_region_playground.ipynb"
KERNEL = "fwlab"  # registered by .ci/setup: python -m ipykernel install --sys-prefix --name fwlab

DEFAULTS = {
    "loss": ("str", '"rosenbrock"'),
    "delta": ("float", "0.5"),
    "K": ("int", "5"),
    "p": ("float", "2.0"),
    "lr": ("float", "0.5"),
    "steps": ("int", "100"),
    "x0": ("float", 'float("nan")'),
    "y0": ("float", 'float("nan")'),
    "gd_lr": ("float", 'float("nan")'),
}


def test_committed_notebook_is_clean_and_has_one_typed_parameters_cell():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == KERNEL
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "clear outputs"
    params = pm.inspect_notebook(str(NOTEBOOK))
    assert {k: (v["inferred_type_name"], v["default"]) for k, v in params.items()} == DEFAULTS
    assert all(v["help"] for v in params.values()), "every parameter has a comment"
    # the notebook ends with its asserts
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert last.source.count("assert ") >= 5


def _run(tmp_path, monkeypatch, **parameters):
    if KERNEL not in find_kernel_specs():
        pytest.fail(
            f"Jupyter kernel {KERNEL!r} is not installed; run `bash .ci/setup` or "
            f"`python -m ipykernel install --sys-prefix --name {KERNEL}`"
        )
    # the kernel imports fwlab/widgets from this checkout, whatever is installed in the venv
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "01_out.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters=parameters,
        kernel_name=KERNEL,
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
        execution_timeout=240,
    )
    nb = nbformat.read(out, as_version=4)
    text = "\n".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream"
    )
    mimes = {
        m for c in nb.cells if c.cell_type == "code" for o in c.outputs for m in o.get("data", {})
    }
    return text, mimes


@pytest.mark.notebooks
@pytest.mark.timeout(300)
def test_notebook_runs_headless_with_its_defaults(tmp_path, monkeypatch):
    text, mimes = _run(tmp_path, monkeypatch)
    assert "Rosenbrock" in text and "δ = 0.5, K = 5, p = 2.0, η = 0.5, T = 100" in text
    assert "start (-1.5, 2.0)" in text
    assert "all checks passed" in text
    # a static plotly figure is in the outputs even without a widget front end
    assert "application/vnd.plotly.v1+json" in mimes


@pytest.mark.notebooks
@pytest.mark.timeout(300)
def test_notebook_parameters_can_be_overridden(tmp_path, monkeypatch):
    text, _ = _run(
        tmp_path,
        monkeypatch,
        loss="saddle",
        delta=0.3,
        K=3,
        p=float("inf"),
        lr=1.0,
        steps=40,
        x0=1.5,
        y0=0.1,
    )
    assert "Saddle" in text and "start (1.5, 0.1)" in text
    assert "δ = 0.3, K = 3, p = inf, η = 1.0, T = 40" in text
    assert "after 40 steps" in text and "all checks passed" in text
