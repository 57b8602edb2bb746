"""Tests of fwlab/runs/provenance.py, fwlab/util/reproducible.py and the recording commands'
guards in fwlab/experiments/record.py: provenance taken at a run's start, the dirty-tree refusal,
the
reproducible mode's checks, the one command that re-trains a run, and `fwlab record`'s refusals
(--only, --seeds, --compact over more runs, a run of another configuration)."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from fwlab.app.cli import main
from fwlab.experiments.record import COMPARISONS, record, run_folder, run_state
from fwlab.experiments.recorded import compact_comparison, load_recorded, write_recorded
from fwlab.runs import provenance as prov_module
from fwlab.runs.provenance import ProvenanceFile, cpu_info, kernel_environment, provenance
from fwlab.train import fit
from tests.experiments.test_recorded import TINY

REPO = Path(__file__).resolve().parents[2]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A real git checkout with one commit, standing in for the one fwlab is imported from."""
    repo = tmp_path / "checkout"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "code.py").write_text("x = 1\n")
    _git(repo, "add", "code.py")
    _git(repo, "commit", "-q", "-m", "one")
    monkeypatch.setattr(prov_module, "_CHECKOUT", repo)
    monkeypatch.delenv("FWLAB_COMMIT", raising=False)
    return repo


def test_provenance_names_the_commit_machine_kernels_and_environment(monkeypatch):
    import torch

    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    p = provenance("fwlab train --task adding", allow_dirty=True)
    keys = "command commit dirty allow_dirty date machine cpu torch numpy python libc environment"
    for key in [*keys.split(), "reproducible", "wall_seconds"]:
        assert key in p, key
    # the commit is one the repository holds (cat-file -e fails on a commit that does not exist)
    if os.environ.get("FWLAB_COMMIT") is None:
        subprocess.run(["git", "cat-file", "-e", f"{p['commit']}^{{commit}}"], cwd=REPO, check=True)
    assert isinstance(p["dirty"], bool) and p["allow_dirty"] is True and p["wall_seconds"] is None
    assert p["torch"]["version"] == torch.__version__
    assert p["torch"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert p["torch"]["threads"] == torch.get_num_threads()
    assert p["torch"]["mkldnn_enabled"] == torch.backends.mkldnn.enabled
    if torch.backends.mkl.is_available():
        assert p["torch"]["mkl"] and p["torch"]["mkl"] in torch.__config__.show()
    assert p["environment"]["OPENBLAS_CORETYPE"] == "Haswell"
    assert p["environment"]["MKL_CBWR"] == "COMPATIBLE"
    assert p["environment"]["ONEDNN_MAX_CPU_ISA"] == os.environ.get("ONEDNN_MAX_CPU_ISA")
    if Path("/proc/cpuinfo").is_file() and platform.machine() == "x86_64":
        assert p["cpu"]["model"] and p["cpu"]["model"] in p["machine"]
        assert p["cpu"]["flags"] and "sse2" in p["cpu"]["flags"]  # every x86-64 has SSE2
    json.dumps(p)  # plain data


def test_cpu_info_reads_the_first_processor(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B14\n"
        "flags\t\t: fpu sse2 avx2 avx512f\n\nprocessor\t: 1\nmodel name\t: other\n"
    )
    info = cpu_info(f)
    assert (info["model"], info["vendor"]) == ("AMD EPYC 9B14", "AuthenticAMD")
    assert info["flags"] == ["avx2", "avx512f", "fpu", "sse2"]
    assert cpu_info(tmp_path / "none")["flags"] is None


def test_kernel_environment_lists_every_kernel_variable():
    env = kernel_environment({"OPENBLAS_NUM_THREADS": "3", "KMP_AFFINITY": "compact", "HOME": "/"})
    assert env["OPENBLAS_NUM_THREADS"] == "3" and env["KMP_AFFINITY"] == "compact"
    assert env["ATEN_CPU_CAPABILITY"] is None and env["OMP_NUM_THREADS"] is None
    assert "HOME" not in env


def test_record_refuses_a_dirty_checkout_unless_told_and_says_so(checkout, tmp_path):
    (checkout / "code.py").write_text("x = 2\n")  # an uncommitted change
    with pytest.raises(ValueError, match="uncommitted changes.*--allow-dirty"):
        record(TINY, tmp_path / "runs", only=["bptt_adam"], seeds=[0])
    assert not (tmp_path / "runs" / "tiny").exists()  # refused before anything was written
    rc = main(["record", "adding-paper", "--runs", str(tmp_path / "runs"), "--only", "fw_k1"])
    assert rc == 2 and not (tmp_path / "runs" / "adding-paper").exists()

    record(TINY, tmp_path / "runs", only=["bptt_adam"], seeds=[0], allow_dirty=True)
    p = json.loads(
        (run_folder(tmp_path / "runs", TINY, "bptt_adam", 0) / "provenance.json").read_text()
    )
    assert p["dirty"] is True and p["allow_dirty"] is True
    assert p["commit"] == _git(checkout, "rev-parse", "HEAD").strip()


def test_record_from_a_clean_checkout_needs_no_flag(checkout, tmp_path):
    record(TINY, tmp_path / "runs", only=["bptt_adam"], seeds=[0])
    p = json.loads(
        (run_folder(tmp_path / "runs", TINY, "bptt_adam", 0) / "provenance.json").read_text()
    )
    assert p["dirty"] is False and p["allow_dirty"] is False
    _git(checkout, "cat-file", "-e", f"{p['commit']}^{{commit}}")


def test_provenance_is_written_when_the_run_starts_and_a_resume_is_recorded(tmp_path):
    folder = tmp_path / "run"

    def stop_at_8(event, run):
        if event == "step" and run.step == 8:
            assert json.loads((folder / "provenance.json").read_text())["wall_seconds"] is None
            run.request_stop()

    writer = ProvenanceFile(folder, "fwlab train --task adding", allow_dirty=True, note="x")
    method, data, config = TINY.method("bptt_adam"), TINY.data(0), TINY.config
    fit(method, data, config, out_dir=folder, callbacks=[writer, stop_at_8], progress=False)
    started = json.loads((folder / "provenance.json").read_text())
    assert started["note"] == "x" and "resumed" not in started
    fit(method, data, config, out_dir=folder, resume=True, callbacks=[writer], progress=False)
    ended = json.loads((folder / "provenance.json").read_text())
    assert ended["date"] == started["date"] and ended["resumed"][0]["at_step"] == 8
    assert ended["wall_seconds"] >= 0


def test_record_refuses_unknown_runs_and_seeds_with_the_valid_choices(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    assert main(["record", "adding-paper", "--runs", runs, "--only", "fw-k5"]) == 2
    err = capsys.readouterr().err
    assert "--only must name runs of adding-paper: bptt_adam, fw_k1," in err and "'fw-k5'" in err
    assert main(["record", "adding-paper", "--runs", runs, "--seeds", "99"]) == 2
    assert "--seeds must be seeds of adding-paper: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9; got 99" in (
        capsys.readouterr().err
    )
    assert main(["record", "adding-paper", "--runs", runs, "--only"]) == 2
    assert "got nothing" in capsys.readouterr().err
    assert not Path(runs).exists()  # nothing trained, nothing created


def _tiny_cli(monkeypatch, comparison=TINY):
    monkeypatch.setitem(COMPARISONS, comparison.name, comparison)


def test_compact_refuses_a_file_holding_runs_the_folder_lacks(tmp_path, monkeypatch, capsys):
    _tiny_cli(monkeypatch)
    record(TINY, tmp_path / "full", allow_dirty=True)
    stored = tmp_path / "tiny.json"
    write_recorded(compact_comparison(tmp_path / "full", TINY), stored)
    before = stored.read_bytes()
    record(TINY, tmp_path / "part", only=["fw_k2"], seeds=[0], allow_dirty=True)
    rc = main(["record", "tiny", "--runs", str(tmp_path / "part"), "--compact", str(stored)])
    err = capsys.readouterr().err
    assert rc == 2 and stored.read_bytes() == before
    assert "holds 3 run(s) that" in err and "bptt_adam seed0" in err and "--replace" in err
    rc = main(["record", "tiny", "--runs", str(tmp_path / "part"), "--compact", str(stored),
               "--replace"])  # fmt: skip
    assert rc == 0 and "dropped 3 run(s)" in capsys.readouterr().err
    assert {r: sorted(s) for r, s in load_recorded(stored)["runs"].items()} == {"fw_k2": ["0"]}
    # the folder holding as many runs as the file: no refusal
    rc = main(["record", "tiny", "--runs", str(tmp_path / "full"), "--compact", str(stored)])
    assert rc == 0


def test_a_finished_run_of_another_configuration_is_reported_not_compacted(
    tmp_path, monkeypatch, capsys
):
    _tiny_cli(monkeypatch)
    other = dataclasses.replace(TINY, config=TINY.config.replace(hidden_size=5))
    record(other, tmp_path, only=["bptt_adam"], seeds=[0], allow_dirty=True)
    folder = run_folder(tmp_path, TINY, "bptt_adam", 0)
    expected = (TINY.method("bptt_adam"), TINY.config.replace(seed=0))
    assert run_state(folder, 12, expected) == "foreign" and run_state(folder, 12) == "done"
    visited = record(TINY, tmp_path, only=["bptt_adam"], seeds=[0], allow_dirty=True)
    assert [v["state"] for v in visited] == ["foreign"]
    assert json.loads((folder / "history.json").read_text())["config"]["hidden_size"] == 5
    listed = compact_comparison(tmp_path, TINY)
    assert "bptt_adam" not in listed["runs"]
    assert listed["not_recorded"][0]["state"] == "foreign"
    assert "another configuration" in listed["not_recorded"][0]["reason"]
    rc = main(["record", "tiny", "--runs", str(tmp_path), "--only", "bptt_adam", "--seeds", "0",
               "--allow-dirty"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "another configuration" in err and "bptt_adam seed0" in err
    assert "fwlab train" not in err  # advice for this command, not another


def test_the_train_command_of_a_recorded_run_retrains_it(tmp_path, monkeypatch, capsys):
    """A run recorded by `fwlab record` and its stored `fwlab train` command give the same
    history (same process, so the same kernels): the command leaves nothing out."""
    import shlex

    record(TINY, tmp_path / "runs", only=["fw_k2"], seeds=[1], allow_dirty=True)
    folder = run_folder(tmp_path / "runs", TINY, "fw_k2", 1)
    recorded = json.loads((folder / "history.json").read_text())
    command = json.loads((folder / "provenance.json").read_text())["command"]
    words = shlex.split(command)
    assert words[:2] == ["fwlab", "train"] and "--valid" in words and "--reproducible" in words
    words.remove("--reproducible")  # this pytest process was not started pinned
    words[words.index("--out") + 1] = str(tmp_path / "again")
    assert main([*words[1:], "--no-progress"]) == 0
    again = json.loads((tmp_path / "again" / "history.json").read_text())
    for key in ("task", "method", "config", "data", "train"):
        assert again[key] == recorded[key], key
    assert again["eval"]["valid_loss"] == recorded["eval"]["valid_loss"]


def test_train_cli_noise_and_validation_options(tmp_path, capsys):
    out = tmp_path / "r"
    rc = main(["train", "--task", "basicmotions", "--noise-std", "2", "--valid", "4", "--method",
               "sgd", "--hidden", "4", "--batch-size", "8", "--steps", "3", "--out", str(out),
               "--no-progress"])  # fmt: skip
    assert rc == 0
    h = json.loads((out / "history.json").read_text())
    assert h["task"] == "noisy_basicmotions" and h["data"]["n_valid"] == 4
    assert h["eval"]["valid_acc"][-1] is not None
    p = json.loads((out / "provenance.json").read_text())
    assert "--noise-std 2.0 --valid 4" in p["command"] and p["wall_seconds"] >= 0
    rc = main(["train", "--task", "basicmotions", "--valid", "40", "--steps", "1", "--no-progress"])
    assert rc == 2 and "n_valid must be an integer in [1, 39]" in capsys.readouterr().err


def test_reproducible_mode_refuses_a_process_not_started_pinned(monkeypatch, capsys):
    from fwlab.util import reproducible

    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert any("ATEN_CPU_CAPABILITY='avx2'" in p for p in reproducible.problems())
    with pytest.raises(RuntimeError, match="must be chosen before torch is imported"):
        reproducible.activate()
    assert main(["train", "--steps", "1", "--reproducible", "--no-progress"]) == 2
    assert "FWLAB_REPRODUCIBLE=1" in capsys.readouterr().err
    monkeypatch.setenv("FWLAB_REPRODUCIBLE", "1")  # the API's switch: fit refuses too
    with pytest.raises(RuntimeError, match="must be chosen before torch is imported"):
        fit(TINY.method("bptt_adam"), TINY.data(0), TINY.config, progress=False)


def test_fwlab_train_reproducible_runs_pinned_and_records_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATEN_", "MKL_", "FWLAB_R"))}
    out = tmp_path / "r"
    argv = [sys.executable, "-m", "fwlab.app.cli", "train", "--task", "adding", "--seq-len", "5",
            "--subset", "60", "--test-subset", "20", "--hidden", "4", "--steps", "3",
            "--reproducible", "--out", str(out), "--no-progress"]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    p = json.loads((out / "provenance.json").read_text())
    assert p["reproducible"] is True and p["torch"]["cpu_capability"] == "DEFAULT"
    assert p["torch"]["threads"] == 1 and p["torch"]["mkldnn_enabled"] is False
    assert p["environment"]["MKL_CBWR"] == "COMPATIBLE"
    assert p["command"].endswith("--reproducible --out " + str(out))


def test_record_interrupted_gives_its_own_resume_advice(tmp_path, monkeypatch, capsys):
    """Ctrl-C during `fwlab record` (here a KeyboardInterrupt at batch 5, which fit defers to
    the batch's end like a SIGINT) names the run and the fwlab record command that resumes it,
    not fwlab train's options."""
    import fwlab.experiments.record as record_module

    _tiny_cli(monkeypatch)

    def interrupt_at_5(event, run):
        if event == "step" and run.step == 5:
            raise KeyboardInterrupt

    def fit_interrupted(*args, callbacks=(), **kwargs):
        return fit_claimed(*args, callbacks=[*callbacks, interrupt_at_5], **kwargs)

    fit_claimed = record_module.fit_claimed  # each run trains in its engine-claimed folder
    monkeypatch.setattr(record_module, "fit_claimed", fit_interrupted)
    rc = main(["record", "tiny", "--runs", str(tmp_path), "--allow-dirty"])
    err = capsys.readouterr().err
    assert rc == 130 and "bptt_adam seed 0 interrupted at step 5" in err
    assert "fwlab record tiny --runs RUNS" in err and "fwlab train" not in err
    assert run_state(run_folder(tmp_path, TINY, "bptt_adam", 0), 12) == "partial"
