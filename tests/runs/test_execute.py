"""fwlab/runs/execute.py's kernel socket folders: a killed run's folder does not stay behind.

(The rest of execute.py, a run's lifecycle, is tested through the studies that use it:
tests/runs/test_study.py, test_study_interrupt.py, test_sweep.py.)"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from fwlab.runs.execute import KERNEL_DIR_PREFIX, kill_tree, remove_kernel_dirs


def _folder(pid: int | str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{KERNEL_DIR_PREFIX}{pid}-"))


def test_orphaned_kernel_folders_go_and_live_or_foreign_ones_stay():
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(dead.stdout)
    assert not psutil.pid_exists(dead_pid)
    orphan, own, foreign = _folder(dead_pid), _folder(psutil.Process().pid), _folder("x")
    (orphan / "kernel-1").write_text("")
    try:
        remove_kernel_dirs()
        assert not orphan.exists()
        assert own.is_dir() and foreign.is_dir()  # a live process's, and one not named by a pid
    finally:
        for folder in (orphan, own, foreign):
            if folder.exists():
                folder.rmdir()


def test_kill_tree_removes_the_kernel_folders_of_the_processes_it_kills():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    folder = _folder(child.pid)
    (folder / "kernel.log").write_text("")
    try:
        kill_tree(child.pid)
        assert child.wait(10) == -9
        assert not folder.exists()
    finally:
        child.kill()
        if folder.exists():
            (folder / "kernel.log").unlink()
            folder.rmdir()
