"""Checkpoints are never half-written (fwlab/train/checkpoint.py): a SIGKILL or a crash
inside torch.save keeps the previous checkpoint whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from fwlab.train.loop import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------ checkpoints
_SAVER = textwrap.dedent(
    """
    import sys, torch
    from pathlib import Path
    from fwlab.train.checkpoint import _atomic_torch_save

    path = Path(sys.argv[1])
    for version in range(1, 1000):
        # ~32 MB per save, so that the kill lands inside torch.save most of the time
        _atomic_torch_save({"version": version, "w": torch.full((8_000_000,), float(version))},
                           path)
        print(version, flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkill_during_a_large_save_leaves_the_previous_checkpoint_whole(tmp_path):
    path = tmp_path / "checkpoint.pt"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", _SAVER, str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "1"  # a first complete checkpoint exists
        time.sleep(0.05)  # the second save is under way
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    ckpt = torch.load(path, weights_only=True)  # loads: never a half-written file
    assert ckpt["version"] >= 1
    assert torch.equal(ckpt["w"], torch.full((8_000_000,), float(ckpt["version"])))
    assert load_checkpoint(path)["version"] == ckpt["version"]
    # what the kill can leave is an orphan temp file beside it, never a torn checkpoint.pt
    assert {p.name for p in tmp_path.iterdir()} - {"checkpoint.pt"} <= {
        p.name for p in tmp_path.glob(".checkpoint.pt.*.tmp")
    }


def test_crash_inside_torch_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    import fwlab.train.checkpoint as checkpoint

    path = tmp_path / "checkpoint.pt"
    checkpoint._atomic_torch_save({"version": 1, "w": torch.ones(3)}, path)
    good = path.read_bytes()
    real_save = torch.save

    def save_then_die(obj, f):
        real_save(obj, f)
        f.truncate(10)  # a torn write ...
        raise KeyboardInterrupt  # ... then the process is interrupted before the rename

    monkeypatch.setattr(checkpoint.torch, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        checkpoint._atomic_torch_save({"version": 2, "w": torch.zeros(3)}, path)
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["checkpoint.pt"]
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["version"] == 1 and torch.equal(ckpt["w"], torch.ones(3))
