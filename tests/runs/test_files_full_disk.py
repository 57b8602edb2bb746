"""A full disk during a run (fwlab/runs/execute.py, files.py): the run ends "failed" with one
line naming the file it could not write and saying to free space and run the same command
again, never "running"; the executed notebook is never left torn or empty beside it.

The disk is simulated here (:class:`FullDisk`: writes into the run's folder fail with ENOSPC
once the run fills it, until a file that was there is removed), and once for real on a
300 KiB tmpfs in a private mount namespace when the system allows one (``unshare``)."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

import fwlab.util.atomic
from fwlab.runs import RESULTS_ENV, Inline, Study, read_status

ROOT = Path(__file__).resolve().parents[2]
#: the file a run creates in its folder to fill the simulated disk
FULL = "FULL"


class FullDisk:
    """The run folders under ``root`` as one disk that fills when a run creates ``FULL`` in its
    folder: from then on creating a file there fails with ENOSPC (fwlab's atomic writes), and
    papermill's plain writer truncates its file and fails, as a real full disk leaves it; a
    file that was there when the disk filled, once removed, frees it again."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.kept: set[str] | None = None  # files holding space when the disk filled
        self.freed = False
        mkstemp, unlink = tempfile.mkstemp, os.unlink

        def fake_mkstemp(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's own name
            if dir is not None and self.full(Path(dir)):
                raise OSError(errno.ENOSPC, "No space left on device")
            return mkstemp(*args, dir=dir, **kwargs)

        def fake_unlink(path, *args, **kwargs):
            if self.kept is not None and os.fspath(path) in self.kept:
                self.freed = True
            return unlink(path, *args, **kwargs)

        def fake_local_write(handler, buf, path):  # papermill's LocalHandler.write
            with open(path, "w", encoding="utf-8") as f:
                if self.full(Path(path).parent):
                    raise OSError(errno.ENOSPC, "No space left on device")
                f.write(buf)

        monkeypatch.setattr(fwlab.util.atomic.tempfile, "mkstemp", fake_mkstemp)
        monkeypatch.setattr(os, "unlink", fake_unlink)
        monkeypatch.setattr("papermill.iorw.LocalHandler.write", fake_local_write)

    def full(self, folder: Path) -> bool:
        if self.root not in folder.resolve().parents or self.freed:
            return False
        if self.kept is None and (folder / FULL).exists():
            self.kept = {
                os.fspath(p) for p in folder.iterdir() if p.is_file() and p.stat().st_size > 0
            }
        return self.kept is not None


def fill_then_record(x: float, run_dir: Path) -> dict[str, float]:
    """A run's function that fills the disk, then reports its results."""
    (Path(run_dir) / FULL).touch()
    return {"y": x}


def notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x: int = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *map(nbformat.v4.new_code_cell, cells)]
    nb.metadata["kernelspec"] = {"name": "fwlab", "display_name": "fwlab", "language": "python"}
    nbformat.write(nb, path)
    return path


def assert_failed_for_lack_of_space(run_dir: Path, written: Path) -> None:
    """status.json says failed, naming ``written`` and the fix; no temporary or reserve file."""
    status = read_status(run_dir)
    assert status is not None and status["status"] == "failed", status
    assert status["error"] == (
        f"OSError: no space left on device writing {written}; free some space (or pass a folder "
        "on another disk) and run the same command again: what was written before is kept"
    )
    assert status["finished"] is not None and status["seconds"] is not None
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == [".claim.lock"]


def test_a_function_run_that_fills_the_disk_fails_naming_the_file_never_running(
    tmp_path, monkeypatch
):
    FullDisk(tmp_path, monkeypatch)
    out = tmp_path / "study"
    study = Study(f"{__name__}:fill_then_record", out, {"x": [1]})
    outcome = study.run(executor=Inline(), log=io.StringIO())
    run_dir = out / "x=1"
    [row] = outcome.rows
    assert row["status"] == "failed"
    assert_failed_for_lack_of_space(run_dir, run_dir / "results.json")
    assert row["error"] == read_status(run_dir)["error"]
    assert not (run_dir / "results.json").exists()


@pytest.mark.slow
def test_a_notebook_run_that_fills_the_disk_fails_and_leaves_no_torn_notebook(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the kernel imports this checkout's fwlab
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    (tmp_path / "nbs").mkdir()
    nb = notebook(
        tmp_path / "nbs" / "fill.ipynb",
        [
            "import os, pathlib\ny = x + 1",
            f"pathlib.Path(os.environ[{RESULTS_ENV!r}], {FULL!r}).touch()\nprint('full')",
            "z = y * 2",
        ],
    )
    FullDisk(tmp_path, monkeypatch)
    out = tmp_path / "study"
    outcome = Study(nb, out, {"x": [1]}).run(executor=Inline(), log=io.StringIO())
    run_dir = out / "x=1"
    assert [r["status"] for r in outcome.rows] == ["failed"]
    executed = run_dir / "fill.ipynb"
    assert_failed_for_lack_of_space(run_dir, executed)
    # the executed notebook is the last complete save (before the disk filled), never torn
    saved = {c.source.split("\n")[0]: c for c in nbformat.read(executed, as_version=4).cells}
    assert saved["import os, pathlib"].execution_count is not None  # saved after this cell
    filling = saved[f"pathlib.Path(os.environ[{RESULTS_ENV!r}], {FULL!r}).touch()"]
    assert filling.outputs == []  # the save after it failed


@pytest.mark.slow
def test_fwlab_run_on_a_full_disk_says_it_in_one_line_without_the_engine_traceback(
    tmp_path, monkeypatch, capsys
):
    from fwlab.app.cli import main

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    (tmp_path / "nbs").mkdir()
    nb = notebook(
        tmp_path / "nbs" / "fill.ipynb",
        [f"import os, pathlib\npathlib.Path(os.environ[{RESULTS_ENV!r}], {FULL!r}).touch()"],
    )
    FullDisk(tmp_path, monkeypatch)
    out = tmp_path / "r"
    assert main(["run", str(nb), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"FAILED: fill.ipynb: OSError: no space left on device writing {out / 'fill.ipynb'}; "
        "free some space (or pass a folder on another disk) and run the same command again: "
        f"what was written before is kept (traceback in {out / 'status.json'})"
    )
    assert read_status(out)["status"] == "failed"


REAL_DISK = """
import io, json, sys
from pathlib import Path
from fwlab.runs import Inline, Study, read_status
small, nb = Path(sys.argv[1]), Path(sys.argv[2])
outcome = Study(nb, small / "study", {"x": [1]}).run(executor=Inline(), log=io.StringIO())
run_dir = small / "study" / "x=1"
executed = run_dir / nb.name
print(json.dumps({
    "row": outcome.rows[0]["status"],
    "status": read_status(run_dir),
    "executed": executed.read_text() if executed.exists() else None,
    "files": sorted(p.name for p in run_dir.iterdir()),
}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare (util-linux)")
def test_a_notebook_run_on_a_really_full_tmpfs_ends_failed(tmp_path):
    """The same run on a real 300 KiB tmpfs, mounted in a private mount namespace (it vanishes
    with the process); the notebook prints 400 KB, so saving it after that cell fails."""
    (tmp_path / "nbs").mkdir()
    nb = notebook(tmp_path / "nbs" / "big.ipynb", ["y = x + 1", "print('#' * 400_000)", "z = 2"])
    small = tmp_path / "small"
    small.mkdir()
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=300k tmpfs {small}"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a private namespace: {probe.stderr.strip()}")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop(RESULTS_ENV, None)
    script = f'mount -t tmpfs -o size=300k tmpfs {small} && exec {sys.executable} -c "$0" "$@"'
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, REAL_DISK, str(small), str(nb)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    status, executed = seen["status"], small / "study" / "x=1" / "big.ipynb"
    assert seen["row"] == "failed" and status["status"] == "failed", seen
    assert status["error"].startswith(f"OSError: no space left on device writing {executed}; ")
    assert "free some space" in status["error"] and "run the same command again" in status["error"]
    assert seen["executed"] is None or nbformat.reads(seen["executed"], as_version=4).cells
    assert [f for f in seen["files"] if f.startswith(".") and f != ".claim.lock"] == []
