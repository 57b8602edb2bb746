"""fwlab/util/outdir.py: output folders checked before work starts, claimed while a run writes
them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fwlab.util.outdir import (
    Claimed,
    check_output_dir,
    claim,
    claim_run_dir,
    lock_holder,
    set_aside,
)

HOLD = (
    "import sys, time\n"
    "from fwlab.util.outdir import claim\n"
    "with claim(sys.argv[1]):\n"
    "    print('locked', flush=True)\n"
    "    time.sleep(120)\n"
)


def test_check_creates_the_folder_and_its_parents(tmp_path):
    folder = check_output_dir(tmp_path / "a" / "b")
    assert folder == (tmp_path / "a" / "b").resolve() and folder.is_dir()
    assert list(folder.iterdir()) == []  # the write probe is gone


@pytest.mark.parametrize("where", ["at", "above"])
def test_a_file_in_the_way_is_named(tmp_path, where):
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    target = blocker if where == "at" else blocker / "run"
    with pytest.raises(ValueError, match=rf"--out .*cannot be a folder: {blocker} is a file"):
        check_output_dir(target)
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="not a writable folder"):
            check_output_dir(ro)
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("bad", [3, None, b"bytes", True])
def test_a_path_of_the_wrong_type_names_the_option(bad):
    with pytest.raises(ValueError, match=r"out_dir must be a folder path .*got"):
        check_output_dir(bad, option="out_dir")


def test_a_second_claim_in_this_process_is_refused_naming_it(tmp_path):
    errors = []

    def other_thread():
        try:
            with claim(tmp_path / "run"):
                pass
        except Claimed as err:
            errors.append(str(err))

    with claim(tmp_path / "run") as folder:
        assert sorted(p.name for p in folder.iterdir()) == [".claim.lock", ".claim.pid"]
        with pytest.raises(Claimed, match=rf"{folder} is in use by pid {os.getpid()} \("):
            with claim(tmp_path / "run" / ".." / "run"):  # the same folder, nested: no reentry
                pass
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert lock_holder(folder).startswith(f"pid {os.getpid()} (")  # still held
    assert len(errors) == 1 and f"in use by pid {os.getpid()} (" in errors[0]
    assert errors[0].endswith("or pass another --out")
    thread = threading.Thread(target=other_thread)  # released on exit: now it gets it
    thread.start()
    thread.join()
    assert len(errors) == 1
    # the lock file stays (empty: waiters share its inode); the holder's pid file is gone
    assert [p.name for p in folder.iterdir()] == [".claim.lock"]
    assert (folder / ".claim.lock").read_bytes() == b""
    assert lock_holder(folder) == "another process"


def test_a_claim_whose_holder_file_cannot_be_written_still_holds(tmp_path, monkeypatch):
    import fwlab.util.outdir

    def full_disk(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fwlab.util.outdir, "atomic_write_text", full_disk)
    with claim(tmp_path / "run") as folder:
        with pytest.raises(Claimed, match="in use by another process; wait"):
            with claim(folder):
                pass
    with claim(folder):  # released
        pass


def _holder(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_another_process_is_named_and_sigkill_frees_the_lock(tmp_path):
    folder = tmp_path / "run"
    proc = _holder(folder)
    try:
        assert lock_holder(folder).startswith(f"pid {proc.pid} (")
        t0 = time.monotonic()
        with pytest.raises(Claimed, match=rf"in use by pid {proc.pid} .*pass another --out"):
            with claim(folder):
                pass
        assert time.monotonic() - t0 < 5  # fails fast, does not wait
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # its pid file is left behind, but names no live process
    assert (folder / ".claim.pid").read_text().startswith(f"{proc.pid}\n")
    assert lock_holder(folder) == "another process"
    with claim(folder):  # the OS dropped the dead holder's lock
        assert lock_holder(folder).startswith(f"pid {os.getpid()} (")


def test_holder_of_an_unlocked_folder_is_unknown(tmp_path):
    assert lock_holder(tmp_path) == "another process"
    assert lock_holder(tmp_path / "missing") == "another process"
    for text in ("", "not a pid\n", "0\n", "-1\ncommand\n"):
        (tmp_path / ".claim.pid").write_text(text)
        assert lock_holder(tmp_path) == "another process"


def test_a_claims_own_files_are_not_a_run(tmp_path):
    """A folder holding only a claim's files is empty to claim_run_dir, and set_aside leaves
    them where they are (a moved lock file would let a second process claim the folder)."""
    with claim(tmp_path / "run") as folder:
        claim_run_dir(folder, resume=False, overwrite=False, checkpoint="c", outputs=())
        (folder / "events.out").write_text("old")
        with set_aside(folder, None) as aside:
            assert sorted(p.name for p in folder.iterdir() if not p.is_dir()) == [
                ".claim.lock",
                ".claim.pid",
            ]
            assert [p.name for p in aside.aside.iterdir()] == ["events.out"]


def test_set_aside_restores_on_failure_releases_on_success_and_recovers_after_sigkill(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.json").write_text("old")
    (run / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError), set_aside(run, ["history.json", "checkpoint.pt"]):
        assert not (run / "history.json").exists() and (run / "notes.txt").exists()
        (run / "history.json").write_text("new, half written")
        raise RuntimeError("failed to start")
    assert (run / "history.json").read_text() == "old" and len(list(run.iterdir())) == 2
    with set_aside(run, ["history.json"]) as aside:
        (run / "history.json").write_text("new")
        aside.release()
    assert (run / "history.json").read_text() == "new" and len(list(run.iterdir())) == 2
    # a replacing process killed before its first step: the next claim puts the old run back
    code = (
        "import sys, os, time; from fwlab.util.outdir import set_aside\n"
        "with set_aside(sys.argv[1], ['history.json']):\n"
        "    print('aside', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "aside"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert not (run / "history.json").exists()
    with pytest.raises(ValueError, match="already holds a run"):
        claim_run_dir(run, resume=False, overwrite=False, checkpoint="c", outputs=())
    assert (run / "history.json").read_text() == "new"
    assert sorted(p.name for p in run.iterdir()) == ["history.json", "notes.txt"]
