"""fwlab/runs/execute.py: a killed run's kernel socket folder does not stay behind, and a worker's
Ctrl-C waits for the import of the run's function.

(The rest of execute.py, a run's lifecycle, is tested through the studies that use it:
tests/runs/test_study.py, test_study_interrupt.py, test_sweep.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from fwlab.runs import execute
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


class _Run:
    """Stands in for the run in progress: its first stop asks the handler to raise."""

    def __init__(self):
        self.stops = 0

    def stop(self):
        self.stops += 1
        return self.stops == 1


def _sigint_and_wait(seconds=2.0):
    """SIGINT this process and give the handler the bytecodes it runs between."""
    os.kill(os.getpid(), signal.SIGINT)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_worker_sigint_during_the_import_of_a_run_stops_it_after_the_import(monkeypatch):
    """A Ctrl-C while a run's function is imported (torch's C++ initialisation calls back into
    Python, where a raised KeyboardInterrupt aborts the process) is held: the import finishes,
    then the run stops; outside the import the same SIGINT raises at once."""
    run = _Run()
    monkeypatch.setattr(execute, "_CURRENT", run)
    previous = signal.signal(signal.SIGINT, execute.worker_sigint)
    try:
        finished = False
        with pytest.raises(KeyboardInterrupt):
            with execute._sigint_held():
                _sigint_and_wait(0.3)
                finished = True  # the block ran to its end
        assert finished and run.stops == 1 and not execute._HOLD_SIGINT
        run.stops = 0
        with pytest.raises(KeyboardInterrupt):
            _sigint_and_wait()
        assert run.stops == 1
        # a second SIGINT of the same run (stop() says no) is not raised again, held or not
        with execute._sigint_held():
            _sigint_and_wait(0.3)
        assert run.stops == 2
        # the study's own handler (a run in its process) asks through request_stop: held too
        run.stops = 0
        with pytest.raises(KeyboardInterrupt):
            with execute._sigint_held():
                assert execute.request_stop() is False  # the caller does not raise
        assert run.stops == 1
    finally:
        signal.signal(signal.SIGINT, previous)
