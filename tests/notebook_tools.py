"""What tests/e2e/test_notebooks.py and tests/e2e/test_notebook_overrides.py share: the notebooks,
what a
run on their defaults and with cheap overrides must print, and :func:`run_notebook`, which executes
one under papermill in the ``fwlab`` kernel, in a copy of notebooks/."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "fwlab"  # registered by .ci/setup (fwlab.runs.jupyter_kernel.register_kernel)
PLOTLY = "application/vnd.plotly.v1+json"
TRAINING = ("02_adding_task", "03_pixel_mnist", "04_har2")  # with the dashboard
EXECUTED_ELSEWHERE = ("01_trust_region_playground",)  # tests/e2e/test_notebook_01.py

# per notebook: what a run on the defaults prints, and whether it shows a plotly figure
DEFAULTS = {
    "02_adding_task": (
        [
            "adding problem, T = 30",
            "seeds [20, 21, 22, 23]",
            "at the recorded setting (adding-calibrated): True",
            "all checks passed",
        ],
        True,
    ),
    "03_pixel_mnist": (["pixel_mnist (offline)", "all checks passed"], True),
    "04_har2": (["all checks passed"], True),
    "05_reproduce_paper": (["runs/reproduce/table3-smoke-seed0", "all checks passed"], True),
    "table_row": (["Ours K=5"], False),
}


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
    "05_reproduce_paper": (  # jobs=1: one worker process (the defaults' run starts two)
        {"rows": "sgd", "jobs": 1, "out_dir": "runs/override"},
        ["runs/override/table3-smoke-seed0", "SGD ", "all checks passed"],
    ),
    "table_row": ({"method": "sgd", "task": "noisy_har2"}, ["SGD ", "noisy_basicmotions"]),
}
EXECUTED = [p for p in NOTEBOOKS if p.stem not in EXECUTED_ELSEWHERE]


#: papermill writes the output notebook after every cell, and every 30 s of a long cell (a
#: run's progress, for someone watching it: fwlab run keeps that); a test reads it once, at the
#: end. Measured 2026-12-07: the saves cost notebook 01 (22.7 MB of output) 3.0 s of the test
#: process's CPU and 5 s of wall time per run (3.45 s -> 0.44 s of CPU).
SAVE_AT_THE_END = dict(request_save_on_cell_execute=False, autosave_cell_every=0)


def notebook_id(path: Path) -> str:
    return path.stem


def run_notebook(path, tmp_path, monkeypatch, **parameters):
    """Execute ``path`` with ``parameters``; its printed text, output MIME types and recorded
    metrics (``None`` when it records none)."""
    import papermill as pm
    from jupyter_client.kernelspec import find_kernel_specs

    if KERNEL not in find_kernel_specs():
        pytest.fail(f"Jupyter kernel {KERNEL!r} is not installed; run `bash .ci/setup`")
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
        **SAVE_AT_THE_END,
    )
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    mimes = {m for o in outputs for m in o.get("data", {})}
    recorded = results / "results.json"
    return text, mimes, json.loads(recorded.read_text()) if recorded.exists() else None


def write_parameterized_notebook(path: Path, parameters: str, *cells: str) -> Path:
    """Write a notebook to ``path`` for the ``fwlab`` kernel: the code cell ``parameters``,
    tagged ``parameters`` (papermill's), then one code cell per source in ``cells``; returns
    ``path``. The notebook target of the engine's and commands' tests."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(source) for source in cells)]
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": KERNEL, "language": "python"}
    nbformat.write(nb, path)
    return path


def write_fit_notebook(path: Path, after: str = "") -> Path:
    """A notebook whose ``parameters`` cell declares ``method = "sgd"`` and which fits 3
    batches of it on a tiny adding task into ``h``; ``after``: more code in the same cell.
    ``fwlab run``/``fwlab sweep`` tests execute it in the ``fwlab`` kernel."""
    return write_parameterized_notebook(
        path,
        'method = "sgd"',
        "from fwlab.data import load_task\n"
        "from fwlab.train import TrainConfig, fit, get_method\n"
        'data = load_task("adding", seq_len=6, n_train=32, n_test=16)\n'
        "h = fit(get_method(method), data, TrainConfig(hidden_size=4, batch_size=16, "
        "steps=3, eval_every=2), progress=False)\n" + after,
    )
