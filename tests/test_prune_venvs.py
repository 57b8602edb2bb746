""".ci/prune-venvs (run by .ci/setup): the venv caches used longest ago go, the current one and
the most recently used stay, a cache whose lock is held stays, and a copy made from a removed
cache keeps working."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "prune-venvs"


def _cache(root: Path, name: str, used: float, *, complete: bool = True) -> Path:
    folder = root / name
    (folder / "lib").mkdir(parents=True)
    (folder / "lib" / "big.so").write_bytes(b"x" * 100)
    if complete:
        (folder / ".complete").touch()
        os.utime(folder / ".complete", (used, used))
    os.utime(folder, (used, used))
    return folder


def _prune(cache: Path, current: str, *keep: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), str(cache), current, *keep],
                          capture_output=True, text=True)  # fmt: skip


def test_keeps_the_current_and_the_most_recently_used_and_a_locked_one(tmp_path):
    cache = tmp_path / "venvs"
    now = 2_000_000_000
    current = _cache(cache, "cur", now - 500)  # the one in use: kept, however old
    recent = _cache(cache, "recent", now)
    second = _cache(cache, "second", now - 100)
    old = _cache(cache, "old", now - 1000)
    partial = _cache(cache, "partial", now - 2000, complete=False)  # a build that stopped
    locked = _cache(cache, "locked", now - 3000)
    # a clone's .venv: a hard-linked copy of the cache that goes
    clone = tmp_path / "clone-venv"
    subprocess.run(["cp", "-al", str(old), str(clone)], check=True)
    with open(cache / ".lock-locked", "w") as fh:  # another setup builds or copies it
        fcntl.flock(fh, fcntl.LOCK_EX)
        done = _prune(cache, "cur", "3")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == [
        "cur", "locked", "recent", "second"
    ]  # fmt: skip
    assert current.is_dir() and recent.is_dir() and second.is_dir() and locked.is_dir()
    assert not old.exists() and not partial.exists()
    assert done.stdout.splitlines() == [
        f"setup: removed the unused venv cache {cache}/old",
        f"setup: removed the unused venv cache {cache}/partial",
    ]
    assert (clone / "lib" / "big.so").read_bytes() == b"x" * 100  # the copy lives on
    # free now, the locked one goes too: only the current and the 2 used last stay
    assert _prune(cache, "cur").returncode == 0
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == ["cur", "recent", "second"]
    assert _prune(cache, "cur", "1").returncode == 0
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == ["cur"]


def test_nothing_to_do_and_refusals(tmp_path):
    assert _prune(tmp_path / "none", "cur").returncode == 0  # no cache folder yet
    assert not (tmp_path / "none").exists()
    for keep in ("0", "-1", "two", ""):
        done = _prune(tmp_path, "cur", keep)
        assert done.returncode == 2
        assert done.stderr == f"prune-venvs: KEEP must be an integer >= 1, got '{keep}'\n"
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("usage: .ci/prune-venvs CACHE_DIR")


def test_setup_touches_its_cache_and_prunes_after_the_copy():
    """.ci/setup marks the cache it used and calls the pruning once its copy is made, with the
    lock released only then."""
    text = (ROOT / ".ci" / "setup").read_text()
    copy, unlock = text.index('cp -al "$deps" "$tmp"'), text.index("flock -u 9")
    prune = text.index('bash .ci/prune-venvs "$cache" "$hash" "$keep"')
    assert text.index('touch "$deps/.complete"') < copy < unlock < prune


@pytest.mark.parametrize("keep", ["0", "two", "-1"])
def test_setup_refuses_a_bad_keep_before_it_changes_anything(keep, tmp_path):
    env = {**os.environ, "FWLAB_VENV_CACHE_KEEP": keep, "FWLAB_VENV_CACHE": str(tmp_path / "c")}
    done = subprocess.run(["bash", str(ROOT / ".ci" / "setup")], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        f"setup: FWLAB_VENV_CACHE_KEEP must be an integer >= 1, got '{keep}'; unset it to keep 3\n"
    )
    assert not (tmp_path / "c").exists()
