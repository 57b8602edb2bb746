"""Tests of fwlab/experiments/record.py and fwlab/experiments/recorded.py: resumable recorded
comparisons,
their compaction into the stored format, and loading it back."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fwlab.experiments.record import COMPARISONS, record, run_folder, run_state
from fwlab.experiments.recorded import (
    compact_comparison,
    compact_history,
    load_recorded,
    seed_histories,
    write_recorded,
)
from fwlab.train import fit

TINY = dataclasses.replace(
    COMPARISONS["adding-paper"],
    name="tiny",
    task_options=dict(seq_len=6, n_train=120, n_test=30),
    n_valid=20,
    config=COMPARISONS["adding-paper"].config.replace(
        hidden_size=4, steps=12, eval_every=3, checkpoint_every=4
    ),
    methods=(("bptt_adam", "sgd", {}), ("fw_k2", "fw_k1", {"K": 2})),
    seeds=(0, 1),
    lead=1,
)


def test_queue_runs_core_methods_on_two_seeds_first():
    q = COMPARISONS["adding-paper"].queue()
    core = ["bptt_adam", "fw_k1", "sgd_clip", "normalized_adam"]
    assert q[:8] == [(n, s) for s in (0, 1) for n in core]
    assert q[8:10] == [("fw_k5", 0), ("fw_decay_k5", 0)]
    assert len(q) == len(set(q)) == 60  # 6 runs x 10 seeds


def test_record_trains_skips_done_and_compacts(tmp_path):
    first = record(TINY, tmp_path, allow_dirty=True)
    assert [(r["run"], r["seed"], r["state"]) for r in first] == [
        ("bptt_adam", 0, "trained"), ("bptt_adam", 1, "trained"),
        ("fw_k2", 0, "trained"), ("fw_k2", 1, "trained"),
    ]  # fmt: skip
    folder = run_folder(tmp_path, TINY, "fw_k2", 1)
    h = json.loads((folder / "history.json").read_text())
    assert h["method"]["K"] == 2 and h["data"]["n_valid"] == 20 and h["summary"]["steps"] == 12
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["command"] == TINY.train_command("fw_k2", 1) and prov["wall_seconds"] >= 0
    assert prov["record_command"] == TINY.command() + " --only fw_k2 --seeds 1"
    assert {r["state"] for r in record(TINY, tmp_path, allow_dirty=True)} == {"done"}

    recorded = compact_comparison(tmp_path, TINY, points=5)
    assert recorded["not_recorded"] == []
    path = write_recorded(recorded, tmp_path / "tiny.json")
    loaded = load_recorded(path)
    by_seed = seed_histories(loaded, "fw_k2")
    assert sorted(by_seed) == [0, 1]
    assert by_seed[1]["summary"] == h["summary"]
    assert len(by_seed[1]["train"]["loss"]) == 5 and by_seed[1]["train"]["step"][-1] == 12
    assert by_seed[1]["provenance"]["command"] == by_seed[1]["command"]
    assert by_seed[1]["first_losses"] == h["train"]["loss"]  # 12 batches < 300: all, unbinned


def test_a_stopped_run_resumes_and_unfinished_runs_are_listed(tmp_path):
    folder = run_folder(tmp_path, TINY, "bptt_adam", 0)

    def stop_at_8(event, run):
        if event == "step" and run.step == 8:
            run.request_stop()

    fit(TINY.method("bptt_adam"), TINY.data(0), TINY.config.replace(seed=0), out_dir=folder,
        callbacks=[stop_at_8], progress=False)  # fmt: skip
    assert run_state(folder, 12) == "partial"
    record(TINY, tmp_path, only=["bptt_adam"], seeds=[0], allow_dirty=True)
    assert run_state(folder, 12) == "done"
    resumed = json.loads((folder / "history.json").read_text())
    record(TINY, tmp_path / "fresh", only=["bptt_adam"], seeds=[0], allow_dirty=True)
    fresh = json.loads(
        (run_folder(tmp_path / "fresh", TINY, "bptt_adam", 0) / "history.json").read_text()
    )
    assert resumed["train"]["loss"] == fresh["train"]["loss"]
    listed = compact_comparison(tmp_path, TINY)["not_recorded"]
    assert [(r["run"], r["seed"], r["state"]) for r in listed] == [
        ("bptt_adam", 1, "todo"), ("fw_k2", 0, "todo"), ("fw_k2", 1, "todo"),
    ]  # fmt: skip
    assert listed[0]["command"].startswith("OMP_NUM_THREADS=1 nice -n 10 fwlab record tiny")


def test_a_run_another_recorder_holds_is_skipped_and_trained_by_nobody_else(tmp_path):
    from fwlab.runs import claim

    with claim(run_folder(tmp_path, TINY, "bptt_adam", 0)):  # the run engine's claim
        visited = record(TINY, tmp_path, allow_dirty=True)
    assert [(r["run"], r["seed"], r["state"]) for r in visited] == [
        ("bptt_adam", 0, "running"), ("bptt_adam", 1, "trained"),
        ("fw_k2", 0, "trained"), ("fw_k2", 1, "trained"),
    ]  # fmt: skip
    assert run_state(run_folder(tmp_path, TINY, "bptt_adam", 0)) == "todo"


def test_a_run_a_recorder_from_before_the_engine_holds_fails_and_the_others_train(tmp_path):
    """The recorder before the run engine claimed a run with RUNS/<name>/.<run>-seed<k>.lock:
    one of those still running on the folder keeps its run (one line says so), never trained
    twice."""
    from filelock import FileLock

    (tmp_path / "tiny").mkdir()
    with FileLock(str(tmp_path / "tiny" / ".bptt_adam-seed0.lock")):
        with pytest.raises(
            ValueError,
            match=r"^bptt_adam seed 0 is being trained by an older "
            r"fwlab record process \(it holds .*\.bptt_adam-seed0\.lock\); run",
        ):
            record(TINY, tmp_path, allow_dirty=True)  # fmt: skip
    assert run_state(run_folder(tmp_path, TINY, "bptt_adam", 0)) == "todo"
    assert run_state(run_folder(tmp_path, TINY, "fw_k2", 1), 12) == "done"  # the others trained
    assert {r["state"] for r in record(TINY, tmp_path, allow_dirty=True)[1:]} == {"done"}


def test_two_recorders_on_one_folder_share_the_queue(tmp_path):
    """Two processes of the same command: every run is trained once, by one of them."""
    import subprocess
    import sys

    code = (
        "import dataclasses, json, sys; from fwlab.experiments.record import COMPARISONS, record; "
        "base = COMPARISONS['adding-paper']; "
        "tiny = dataclasses.replace(base, name='tiny', task_options=dict(seq_len=6, n_train=120, "
        "n_test=30), n_valid=20, config=base.config.replace(hidden_size=4, steps=40, "
        "eval_every=10, checkpoint_every=20), methods=(('a', 'sgd', {}), ('b', 'fw_k1', {})), "
        "seeds=(0, 1, 2), lead=1); "
        "print(json.dumps([(r['run'], r['seed'], r['state']) "
        "for r in record(tiny, sys.argv[1], allow_dirty=True)]))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )  # fmt: skip
        for _ in range(2)
    ]
    outs = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    trained = [(run, seed) for out in outs for run, seed, state in out if state == "trained"]
    assert sorted(trained) == [(r, s) for r in "ab" for s in (0, 1, 2)]  # each run once
    for run, seed in trained:
        h = json.loads((tmp_path / "tiny" / run / f"seed{seed}" / "history.json").read_text())
        assert h["summary"]["steps"] == 40


def _old_layout_run(runs, run_name, seed, stop_at=None):
    """A run folder as the recorder before the run engine left it: fit's files and the
    provenance in ``<run>/seed<k>`` (no status.json), its lock file beside the run folders."""
    from fwlab.runs.provenance import ProvenanceFile

    folder = run_folder(runs, TINY, run_name, seed)

    def stop(event, run):
        if event == "step" and run.step == stop_at:
            run.request_stop()

    prov = ProvenanceFile(folder, TINY.train_command(run_name, seed), allow_dirty=True,
                          record_command=TINY.run_command(run_name, seed))  # fmt: skip
    fit(TINY.method(run_name), TINY.data(seed), TINY.config.replace(seed=seed), out_dir=folder,
        callbacks=[prov, stop], progress=False)  # fmt: skip
    (folder.parents[1] / f".{run_name}-seed{seed}.lock").touch()
    return folder


def test_folders_of_the_recorder_before_the_engine_count_resume_and_compact(
    tmp_path, monkeypatch, capsys
):
    from fwlab.app.cli import main

    done = _old_layout_run(tmp_path, "bptt_adam", 0)
    partial = _old_layout_run(tmp_path, "fw_k2", 0, stop_at=8)
    before = (done / "history.json").read_bytes()
    assert not (done / "status.json").exists() and run_state(partial, 12) == "partial"
    visited = record(TINY, tmp_path, seeds=[0], allow_dirty=True)
    assert [(r["run"], r["seed"], r["state"]) for r in visited] == [
        ("bptt_adam", 0, "done"), ("fw_k2", 0, "trained"),
    ]  # fmt: skip
    assert (done / "history.json").read_bytes() == before  # not trained again
    resumed = json.loads((partial / "history.json").read_text())
    assert resumed["summary"]["steps"] == 12 and resumed["train"]["step"][0] == 1
    assert json.loads((partial / "provenance.json").read_text())["resumed"]  # continued
    monkeypatch.setitem(COMPARISONS, TINY.name, TINY)
    stored = tmp_path / "tiny.json"
    assert main(["record", "tiny", "--runs", str(tmp_path), "--compact", str(stored)]) == 0
    assert capsys.readouterr().out.strip() == f"{stored}: 2 runs recorded, 2 not yet"
    loaded = load_recorded(stored)
    assert seed_histories(loaded, "bptt_adam")[0]["summary"] == json.loads(before)["summary"]
    assert sorted(seed_histories(loaded, "fw_k2")) == [0]


def test_a_file_where_the_runs_folder_should_be(tmp_path):
    (tmp_path / "tiny").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="is a file; pass --runs a folder"):
        record(TINY, tmp_path, allow_dirty=True)


def test_compact_history_bins_and_keeps_the_best_evaluation():
    n = 1000
    h = {
        "train": {"step": list(range(1, n + 1)), "loss": [float(i % 10) for i in range(n)]},
        "eval": {"step": list(range(10, n + 1, 10)), "test_loss": [1.0] * 100},
        "optimizer": {"step": [], "fw_gap": []},
        "summary": {"steps": n},
    }
    h["eval"]["test_loss"][37] = 0.01
    c = compact_history(h, points=10)
    assert c["train"]["step"] == list(range(100, n + 1, 100))
    assert c["train"]["loss"] == [4.5] * 10  # mean of 0..9
    assert 0.01 in c["eval"]["test_loss"] and c["eval"]["step"][-1] == n
    assert c["summary"] == h["summary"] and c["compacted"]["batches"] == n
    with pytest.raises(ValueError, match="points must be an integer >= 2"):
        compact_history(h, points=1)


def test_load_recorded_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no recorded comparison at"):
        load_recorded("no-such-comparison")
    with pytest.raises(FileNotFoundError, match="is a folder"):
        load_recorded(tmp_path)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="is not JSON"):
        load_recorded(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ValueError, match="is not a recorded comparison"):
        load_recorded(tmp_path / "other.json")
    (tmp_path / "ok.json").write_text('{"runs": {}, "not_recorded": []}')
    with pytest.raises(ValueError, match="run_name must be one of"):
        seed_histories(load_recorded(tmp_path / "ok.json"), "fw_k1")


def test_the_readme_counts_the_recorded_runs_that_ship():
    """README's recorded-state table says how many runs of each comparison are stored: it must
    be the stored files' count (update the README with each --compact)."""
    import re

    from fwlab.experiments.recorded import load_recorded, recorded_names

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("<!-- recorded-state -->")[1].split("<!-- /recorded-state -->")[0]
    said = {
        name: (int(recorded), int(missing))
        for name, recorded, missing in re.findall(
            r"^\| `([\w-]+)` \| (\d+)[^|]*\| (\d+)", block, flags=re.M
        )
    }
    stored = {}
    for name in recorded_names():
        r = load_recorded(name)
        stored[name] = (sum(len(s) for s in r["runs"].values()), len(r["not_recorded"]))
    assert said == stored


def test_a_file_written_with_fewer_seeds_lists_the_comparisons_other_runs_as_not_recorded(
    tmp_path,
):
    """A stored file from before a comparison had its ten seeds does not look complete: every
    (run, seed) the comparison asks for and the file lacks is listed with its command."""
    from fwlab.experiments.record import COMPARISONS
    from fwlab.experiments.recorded import RECORDED_DIR, load_recorded

    rec = json.loads((RECORDED_DIR / "table3-har2.json").read_text())
    rec["runs"] = {run: {"0": seeds["0"]} for run, seeds in rec["runs"].items()}
    rec["not_recorded"] = []
    (tmp_path / "few.json").write_text(json.dumps(rec))
    back = load_recorded(tmp_path / "few.json")
    comparison = COMPARISONS["table3-har2"]
    want = {(r, s) for r, s in comparison.queue() if s != 0}
    assert {(r["run"], r["seed"]) for r in back["not_recorded"]} == want
    assert all(r["state"] == "not started" for r in back["not_recorded"])
    first = back["not_recorded"][0]
    assert first["command"] == comparison.run_command(first["run"], first["seed"])
