"""``fwlab bench`` (fwlab/bench.py): runs in --quick mode, writes the JSON keys with the right
types. Timings on a shared machine are noisy, so no test asserts a timing threshold."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from fwlab.bench import DEFAULT_KEYS, KEYS, TARGETS, format_table, run_bench

ROOT = Path(__file__).resolve().parents[1]


def _check_figures(result: dict, keys) -> None:
    assert set(result) == set(keys) | {"meta"}
    for key in keys:
        value = result[key]
        assert type(value) is float and math.isfinite(value) and value > 0, (key, value)
    meta = result["meta"]
    assert meta["targets"] == {k: TARGETS[k][0] for k in keys}
    assert meta["passed"] == {k: result[k] <= TARGETS[k][0] for k in keys}
    assert set(meta["details"]) == set(keys)


@pytest.mark.timeout(300)
def test_quick_bench_through_the_command_line_writes_the_json(tmp_path):
    out = tmp_path / "sub" / "bench.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "fwlab.cli", "bench", "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    _check_figures(result, DEFAULT_KEYS)
    assert result["meta"]["quick"] is True and result["meta"]["threads"] == 1
    details = result["meta"]["details"]
    for key in ("mid_step_vs_adam", "kth_step_vs_adam"):
        value = details["fw_streaming_vs_adam"][key]
        assert math.isfinite(value) and value > 0
    for key in DEFAULT_KEYS:  # the table shows every figure with its target and a verdict
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(key))
        assert f"<= {TARGETS[key][0]:g}" in line and ("pass" in line or "FAIL" in line)


def test_only_measures_the_keys_asked_for_and_restores_threads():
    import torch

    threads = torch.get_num_threads()
    result = run_bench(["indrnn_vs_rnn", "fw_closure_overhead"], quick=True, repeats=1, threads=2)
    _check_figures(result, ["indrnn_vs_rnn", "fw_closure_overhead"])
    assert result["meta"]["threads"] == 2 and result["meta"]["config"]["repeats"] == 1
    assert torch.get_num_threads() == threads
    table = format_table(result)
    assert "indrnn_vs_rnn" in table and "toy_recompute_ms" not in table


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"keys": ["speed"]}, r"unknown bench keys \['speed'\]; choose from"),
        ({"repeats": 0}, r"repeats must be an integer >= 1, got 0"),
        ({"threads": 0}, r"threads must be an integer >= 1, got 0"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_bench(**{"keys": ["toy_recompute_ms"], "quick": True, **kwargs})


def test_every_key_has_a_target():
    assert set(KEYS) == set(TARGETS) and "notebooks_s" not in DEFAULT_KEYS


@pytest.mark.notebooks
@pytest.mark.timeout(300)
def test_notebooks_key_times_each_notebook_of_a_folder(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import fwlab\nx = 1 + 1")]
    nb.metadata["kernelspec"] = {"name": "fwlab", "display_name": "fwlab", "language": "python"}
    nbformat.write(nb, tmp_path / "a.ipynb")
    result = run_bench(["notebooks_s"], quick=True, notebooks_dir=tmp_path)
    _check_figures(result, ["notebooks_s"])
    assert list(result["meta"]["details"]["notebooks_s"]["per_notebook_s"]) == ["a.ipynb"]


def test_notebooks_key_without_notebooks_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no notebooks found"):
        run_bench(["notebooks_s"], quick=True, notebooks_dir=tmp_path)
