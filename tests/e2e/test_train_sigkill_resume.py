"""A ``fwlab train`` process killed with SIGKILL mid-run and resumed with ``--resume`` ends with
the same history.json as an uninterrupted run (wall-clock fields aside)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fwlab.app.cli import main
from fwlab.train.loop import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT_EVERY = 18
STEPS = 240
#: tiny adding task: 240 batches of 16 sequences of 20 steps, hidden 6, FW with K = 5, so that a
#: checkpoint can fall in the middle of an outer step (18 is not a multiple of 5)
ARGS = [
    "--task", "adding", "--seq-len", "20", "--subset", "160", "--test-subset", "64",
    "--method", "fw_k5", "--hidden", "6", "--batch-size", "16", "--lr", "0.01",
    "--steps", str(STEPS), "--eval-every", "40", "--checkpoint-every", str(CHECKPOINT_EVERY),
    "--seed", "3", "--no-progress",
]  # fmt: skip
WALL_CLOCK = ("seconds", "wall_time")


def _train(out: Path, *extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        # one intra-op thread: 3x faster for this tiny model on a busy machine, and the same
        # for all three runs, so their numbers are comparable bit for bit
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "fwlab.app.cli", "train", *ARGS, "--out", str(out), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err


def _without_wall_clock(obj):
    if isinstance(obj, dict):
        return {k: _without_wall_clock(v) for k, v in obj.items() if k not in WALL_CLOCK}
    if isinstance(obj, list):
        return [_without_wall_clock(v) for v in obj]
    return obj


def _checkpoint_step(path: Path) -> int:
    try:
        return int(load_checkpoint(path)["counters"]["step"])
    except (FileNotFoundError, RuntimeError):  # not written yet
        return -1


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sigkilled_train_resumed_with_resume_equals_uninterrupted(tmp_path):
    cut, whole = tmp_path / "cut", tmp_path / "whole"
    proc = _train(cut)
    try:
        # wait for the second checkpoint: the process has then run past a checkpoint, and the
        # batches it trains after it are lost by the kill and must be redone identically
        deadline = time.monotonic() + 240
        while _checkpoint_step(cut / "checkpoint.pt") < 2 * CHECKPOINT_EVERY:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "no second checkpoint within 240 s"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (cut / "history.json").exists()  # written at the end only
    killed_at = torch.load(cut / "checkpoint.pt", weights_only=True)["counters"]["step"]
    assert 2 * CHECKPOINT_EVERY <= killed_at < STEPS and killed_at % CHECKPOINT_EVERY == 0

    # the resumed and the uninterrupted run need no process of their own: main() in this one
    # (one intra-op thread here too, tests/conftest.py)
    assert main(["train", *ARGS, "--out", str(cut), "--resume"]) == 0
    assert main(["train", *ARGS, "--out", str(whole)]) == 0

    resumed = json.loads((cut / "history.json").read_text())
    uninterrupted = json.loads((whole / "history.json").read_text())
    assert resumed["summary"]["steps"] == STEPS
    assert len(resumed["train"]["loss"]) == STEPS
    assert len(resumed["optimizer"]["fw_gap"]) == STEPS // 5
    assert _without_wall_clock(resumed) == _without_wall_clock(uninterrupted)
    final = load_checkpoint(cut / "checkpoint.pt")
    reference = load_checkpoint(whole / "checkpoint.pt")
    for name, value in reference["model"].items():
        assert torch.equal(final["model"][name], value), name
