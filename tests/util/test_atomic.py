"""fwlab/util/atomic.py: the one atomic writer behind checkpoints, histories, sweep files and
caches."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from fwlab.runs.results import write_csv
from fwlab.train.history import save_history
from fwlab.util.atomic import atomic_open, atomic_write, atomic_write_text


def test_text_and_bytes_round_trip_and_leave_no_temp_file(tmp_path):
    assert atomic_write(tmp_path / "a" / "b.bin", [b"x", b"yz"]).read_bytes() == b"xyz"
    assert atomic_write_text(tmp_path / "c.txt", "π ≈ 3.14").read_text("utf-8") == "π ≈ 3.14"
    with atomic_open(tmp_path / "d.csv", "w", newline="") as f:
        f.write("a,b\r\n")
    assert (tmp_path / "d.csv").read_bytes() == b"a,b\r\n"  # newline="" keeps the csv's \r\n
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b.bin", "c.txt", "d.csv"]


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_an_exception_inside_keeps_the_old_file_and_removes_the_temp(tmp_path, exc):
    target = tmp_path / "status.json"
    target.write_text('{"status": "ok"}')
    with pytest.raises(type(exc)):
        with atomic_open(target, "w") as f:
            f.write('{"status": "runn')
            raise exc
    assert json.loads(target.read_text()) == {"status": "ok"}
    assert os.listdir(tmp_path) == ["status.json"]


def test_mode_other_than_w_or_wb_is_refused(tmp_path):
    with pytest.raises(ValueError, match="mode must be 'w' or 'wb', got 'a'"):
        with atomic_open(tmp_path / "x", "a"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_history_and_csv_writers_go_through_it(tmp_path, monkeypatch):
    import fwlab.util.atomic as atomic

    opened = []
    real = atomic.os.replace

    def spy(src, dst):
        opened.append((os.path.basename(src).startswith("."), os.path.basename(dst)))
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", spy)
    save_history({"summary": {"loss": float("nan")}}, tmp_path / "history.json")
    write_csv([{"K": 1, "status": "ok"}], tmp_path / "results.csv")
    assert opened == [(True, "history.json"), (True, "results.csv")]
    assert (tmp_path / "results.csv").read_text().splitlines()[0] == "K,status,seconds,error,point"


_WRITER = textwrap.dedent(
    """
    import sys
    from fwlab.util.atomic import atomic_write
    path = sys.argv[1]
    for version in range(1, 100000):
        atomic_write(path, [str(version).encode() * 1_000_000])
        print(version, flush=True)
    """
)


def test_sigkill_mid_write_leaves_a_whole_file(tmp_path):
    path = tmp_path / "big.bin"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "1"
        proc.stdout.readline()  # a few writes later, one is under way
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    data = path.read_bytes()
    version = data[: len(data) // 1_000_000]
    assert data == version * 1_000_000  # one complete version, never a mix or a truncation
    leftovers = {p.name for p in tmp_path.iterdir()} - {"big.bin"}
    assert all(n.startswith(".big.bin.") and n.endswith(".tmp") for n in leftovers)


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX file modes")
def test_written_files_get_the_mode_open_would_give_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        assert (atomic_write(tmp_path / "page.html", b"x").stat().st_mode & 0o777) == 0o644
        os.umask(0o077)
        assert (atomic_write(tmp_path / "private", b"x").stat().st_mode & 0o777) == 0o600
    finally:
        os.umask(old)
