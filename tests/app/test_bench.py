"""``fwlab bench`` (fwlab/app/bench/): runs in --quick mode, writes the JSON keys with the right
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
import torch

from fwlab.app.bench import DEFAULT_KEYS, KEYS, TARGETS, format_table, peak_bytes, run_bench

ROOT = Path(__file__).resolve().parents[2]


def _check_figures(result: dict, keys) -> None:
    assert set(result) == set(keys) | {"meta"}
    for key in keys:
        value = result[key]
        assert type(value) is float and math.isfinite(value) and value > 0, (key, value)
    meta = result["meta"]
    assert meta["targets"] == {k: TARGETS[k][0] for k in keys}
    assert meta["passed"] == {
        k: None if TARGETS[k][0] is None else result[k] <= TARGETS[k][0] for k in keys
    }
    assert set(meta["details"]) == set(keys)


@pytest.mark.timeout(300)
def test_quick_bench_through_the_command_line_writes_the_json(tmp_path):
    out = tmp_path / "sub" / "bench.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "fwlab.app.cli", "bench", "--quick", "--json", str(out)],
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
        if TARGETS[key][0] is None:  # reported, not judged
            assert line.split()[2:4] == ["-", "-"]
        else:
            assert f"<= {TARGETS[key][0]:g}" in line and ("pass" in line or "FAIL" in line)


def test_only_measures_the_keys_asked_for_and_restores_threads():
    threads = torch.get_num_threads()
    result = run_bench(["indrnn_vs_rnn", "fw_closure_overhead"], quick=True, repeats=1, threads=2)
    _check_figures(result, ["indrnn_vs_rnn", "fw_closure_overhead"])
    assert result["meta"]["threads"] == 2 and result["meta"]["config"]["repeats"] == 1
    assert torch.get_num_threads() == threads
    table = format_table(result)
    assert "indrnn_vs_rnn" in table and "toy_recompute_ms" not in table
    d = result["meta"]["details"]["indrnn_vs_rnn"]  # the reference loop timed in the same rounds
    assert d["reference_ms"] > 0 and d["reference_vs_rnn"] > 0
    assert "the reference autograd loop" in table


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"keys": ["speed"]}, r"unknown bench keys \['speed'\]; choose from"),
        ({"repeats": 0}, r"repeats must be an integer >= 1, got 0"),
        ({"threads": 0}, r"threads must be an integer >= 1, got 0"),
        ({"device": "tpu"}, r"device must be one of \['cpu', 'cuda'\], got 'tpu'"),
        ({"keys": "indrnn_vs_rnn"}, r"keys must be a list of bench keys, got the string"),
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


def test_indrnn6_keys_are_measured_together_once(monkeypatch):
    from fwlab.app.bench import indrnn, run

    calls = []
    real = indrnn.bench_indrnn6

    def counting(cfg):
        calls.append(cfg)
        return real(cfg)

    monkeypatch.setitem(run._MULTI_BENCHES, "indrnn6_step_ms", counting)
    monkeypatch.setitem(run._MULTI_BENCHES, "indrnn6_fw_vs_adam", counting)
    result = run_bench(["indrnn6_step_ms", "indrnn6_fw_vs_adam"], quick=True, repeats=1)
    _check_figures(result, ["indrnn6_step_ms", "indrnn6_fw_vs_adam"])
    assert len(calls) == 1
    d = result["meta"]["details"]["indrnn6_step_ms"]
    assert d["fw_step_ms"] == pytest.approx(result["indrnn6_step_ms"])
    assert "FW K=5 streaming" in d["settings"] and "BN, dropout 0.1" in d["settings"]


def test_peak_bytes_counts_live_tensor_bytes():
    n = 256 * 1024  # 1 MiB of float32

    def two_live_then_one():
        a = torch.ones(n)
        b = torch.ones(n)
        del a, b
        c = torch.ones(n)
        return c

    def one_at_a_time():
        for _ in range(3):
            torch.ones(n)

    assert 2 * 4 * n <= peak_bytes(two_live_then_one) < 2 * 4 * n + 4096
    assert 4 * n <= peak_bytes(one_at_a_time) < 4 * n + 4096
    held = torch.ones(4 * n)  # held before the call: not counted
    assert peak_bytes(lambda: held.mul_(2)) < 4096


def test_memory_figure_compares_indrnn_with_rnn():
    result = run_bench(["indrnn_memory_vs_rnn"], quick=True)
    d = result["meta"]["details"]["indrnn_memory_vs_rnn"]
    assert d["indrnn_mib"] > 0 and d["rnn_mib"] > 0
    assert result["indrnn_memory_vs_rnn"] == pytest.approx(d["indrnn_mib"] / d["rnn_mib"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_cuda_device_is_refused_without_cuda(capsys):
    with pytest.raises(ValueError, match=r"device='cuda' but torch .* sees no CUDA device"):
        run_bench(["indrnn_vs_rnn"], quick=True, device="cuda")
    from fwlab.app.cli import main

    assert main(["bench", "--device", "cuda", "--quick", "--only", "indrnn_vs_rnn"]) == 2
    assert "--device cuda but torch" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none here)")
def test_cuda_bench_runs_the_model_figures_on_the_gpu():
    keys = ["indrnn_vs_rnn", "indrnn_memory_vs_rnn", "indrnn6_step_ms", "indrnn6_fw_vs_adam"]
    result = run_bench(keys, quick=True, repeats=1, device="cuda")
    _check_figures(result, keys)
    assert result["meta"]["device"] == "cuda" and result["meta"]["gpu"]
    assert result["meta"]["details"]["indrnn_memory_vs_rnn"]["how"].startswith("torch.cuda")


@pytest.mark.parametrize("case", ["folder", "under_a_file", "read_only"])
def test_unusable_json_path_is_refused_before_measuring(tmp_path, case, capsys, monkeypatch):
    from fwlab.app.bench import cli as bench_cli
    from fwlab.app.cli import main

    target = {"folder": tmp_path, "under_a_file": tmp_path / "f" / "b.json"}.get(case)
    if case == "under_a_file":
        (tmp_path / "f").write_text("")
    if case == "read_only":
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = ro / "b.json"
        if os.access(ro, os.W_OK):  # root ignores permissions
            pytest.skip("running as root: a read-only folder is writable")
    monkeypatch.setattr(bench_cli, "run_bench", lambda *a, **k: pytest.fail("measured anyway"))
    assert main(["bench", "--quick", "--json", str(target)]) == 2
    assert f"--json {target}" in capsys.readouterr().err
