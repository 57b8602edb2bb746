"""Output folders that are checked before work starts and owned by one process while it runs.

Two guards, shared by ``fwlab train`` (:func:`fwlab.train.fit`), ``fwlab run`` and
``fwlab sweep``:

* :func:`check_output_dir` fails fast, before any training or notebook execution, when the folder
  cannot hold results: a regular file is in the way (at the path or at one of its parents) or the
  folder is not writable.
* :func:`claim_run_dir` decides whether a run may write into a folder: a folder that holds
  anything is refused unless the run continues it (``resume``, which needs its checkpoint) or
  replaces it (``overwrite``, which first removes the previous run's files).
* :func:`set_aside` moves a previous run's files out of the way of a run that replaces it
  (``--overwrite``) and puts them back if the new run fails before it has started.
* :func:`lock_output_dir` holds an exclusive ``flock`` on the folder itself for as long as its
  ``with`` block runs. The operating system drops the lock when the process dies (even by
  SIGKILL), so a crashed run never leaves a stale lock behind, and no lock file is written into the
  folder. A second process that asks for the same folder gets a ``ValueError`` at once, naming the
  folder and the process that holds it.

The lock is advisory and per open folder: it stops fwlab processes (and threads) from writing
into each other's folders; it does not stop other programs.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "run"
    >>> import subprocess, sys
    >>> with lock_output_dir(folder):
    ...     other = subprocess.run([sys.executable, "-c", "import sys; from fwlab.outdir import "
    ...         "lock_output_dir; lock_output_dir(sys.argv[1]).__enter__()", str(folder)],
    ...         capture_output=True, text=True)
    >>> print(other.stderr.splitlines()[-1])  # doctest: +ELLIPSIS
    ValueError: output folder ... is in use by pid ...; wait for that run to finish ...
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

__all__ = [
    "check_output_dir",
    "claim_run_dir",
    "lock_output_dir",
    "lock_holder",
    "restore_leftovers",
    "set_aside",
]


def check_output_dir(path: str | os.PathLike[str], *, option: str = "--out") -> Path:
    """Create ``path`` (and its parents) and check that files can be written into it.

    Returns the resolved folder. Raises ``ValueError`` naming ``option``, the path and the fix
    when a file is in the way or the folder is not writable, so that the problem is found before
    a run spends minutes training.

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "a-file"
        >>> _ = f.write_text("x")
        >>> check_output_dir(f / "run")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: --out .../a-file/run cannot be a folder: .../a-file is a file; ...
    """
    if isinstance(path, (bytes, bool)) or not isinstance(path, (str, os.PathLike)):
        raise ValueError(
            f"{option} must be a folder path (str or pathlib.Path), got {type(path).__name__} "
            f"{path!r}"
        )
    folder = Path(path).expanduser().absolute()
    blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise ValueError(
            f"{option} {folder} cannot be a folder: {blocker} is a file; pass another {option} "
            "or move the file"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".fwlab-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(
            f"{option} {folder} is not a writable folder ({err.strerror or err}); pass a folder "
            "you can write to"
        ) from None
    return folder.resolve()


def lock_holder(path: str | os.PathLike[str]) -> str:
    """Describe the process holding the ``flock`` on ``path`` (``"pid 123 (fwlab train ...)"``),
    read from ``/proc/locks``; ``"another process"`` where that cannot be told."""
    try:
        st = os.stat(path)
        with open("/proc/locks") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return "another process"
    for line in lines:
        fields = line.split()
        if "->" in fields or len(fields) < 6 or fields[1] != "FLOCK":
            continue  # a waiter, or a POSIX record lock
        pid, dev_ino = fields[4], fields[5].split(":")
        try:
            major, minor, ino = int(dev_ino[0], 16), int(dev_ino[1], 16), int(dev_ino[2])
        except (IndexError, ValueError):
            continue
        if (major, minor, ino) == (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino):
            try:
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                command = " ".join(raw.decode(errors="replace").replace("\0", " ").split())
            except OSError:
                command = ""
            return f"pid {pid}" + (f" ({command[:200]})" if command else "")
    return "another process"


_HELD: dict[Path, tuple[int, int]] = {}  # folder -> (thread id, depth) of this process's locks
_HELD_GUARD = threading.Lock()


@contextlib.contextmanager
def lock_output_dir(path: str | os.PathLike[str], *, option: str = "--out") -> Iterator[Path]:
    """Hold an exclusive lock on the output folder ``path`` while the ``with`` block runs.

    The folder is created (see :func:`check_output_dir`) and the resolved path is yielded. If
    another process, or another thread of this one, holds it, ``ValueError`` is raised at once,
    naming the folder and the holder. The thread that holds a folder may lock it again (a
    command line locks its ``--out`` before loading data, then ``fit`` locks it too); the lock
    is released when the outermost block ends. SIGKILL of the process frees it.
    """
    import fcntl

    folder = check_output_dir(path, option=option)
    me = threading.get_ident()
    with _HELD_GUARD:
        holder, depth = _HELD.get(folder, (None, 0))
        if holder == me:
            _HELD[folder] = (me, depth + 1)
        elif holder is not None:
            raise ValueError(
                f"output folder {folder} is in use by another thread of this process "
                f"(pid {os.getpid()}); wait for that run to finish, or pass another {option}"
            )
    if holder == me:
        try:
            yield folder
        finally:
            with _HELD_GUARD:
                _HELD[folder] = (me, _HELD[folder][1] - 1)
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(
                f"output folder {folder} is in use by {lock_holder(folder)}; wait for that run "
                f"to finish (or stop it), or pass another {option}"
            ) from None
        with _HELD_GUARD:
            _HELD[folder] = (me, 1)
        try:
            yield folder
        finally:
            with _HELD_GUARD:
                del _HELD[folder]
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def claim_run_dir(
    folder: str | os.PathLike[str],
    *,
    resume: bool,
    overwrite: bool,
    checkpoint: str,
    outputs: Sequence[str],
    option: str = "--out",
) -> None:
    """Check that a run may write into ``folder``, before it starts (hold its lock first).

    * ``resume``: ``folder/checkpoint`` must exist (``FileNotFoundError`` otherwise);
    * ``overwrite``: the files ``outputs`` of a previous run are removed, others are kept;
    * neither: ``folder`` must be empty (``ValueError`` naming it, its content and both fixes).

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp())
        >>> _ = (f / "history.json").write_text("{}")
        >>> claim_run_dir(f, resume=False, overwrite=False, checkpoint="checkpoint.pt",
        ...               outputs=["checkpoint.pt", "history.json"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: ... already holds a run (history.json); pass overwrite=True (--overwrite) ...
    """
    folder = Path(folder)
    restore_leftovers(folder)
    if resume and overwrite:
        raise ValueError(
            "resume and overwrite exclude each other: resume continues the run in the folder, "
            "overwrite replaces it; pass one of them"
        )
    if resume:
        if not (folder / checkpoint).is_file():
            raise FileNotFoundError(
                f"--resume: there is no {checkpoint} in {folder} to continue from; drop resume "
                "(--resume) to start a new run there, or pass the folder of the run to continue"
            )
        return
    if overwrite:
        for name in outputs:
            (folder / name).unlink(missing_ok=True)
        return
    held = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if held:
        listed = ", ".join(held[:4]) + (", ..." if len(held) > 4 else "")
        raise ValueError(
            f"{folder} already holds a run ({listed}); pass overwrite=True (--overwrite) to "
            f"replace it, resume=True (--resume) to continue it, or another {option} folder"
        )


class _SetAside:
    """What :func:`set_aside` yields: ``release()`` deletes the files it moved aside;
    ``release_if_replaced()`` does so once the ``replaced`` test says the new run can stand
    in for the old one."""

    def __init__(
        self, folder: Path, names: list[str], aside: Path, replaced: Callable[[], bool]
    ) -> None:
        self.folder, self.names, self.aside, self.replaced = folder, names, aside, replaced
        self.released = False

    def release_if_replaced(self) -> None:
        if not self.released and self.replaced():
            self.release()

    def release(self) -> None:
        if not self.released:
            self.released = True
            shutil.rmtree(self.aside, ignore_errors=True)

    def restore(self) -> None:
        for name in self.names:
            new = self.folder / name
            if new.is_dir() and not new.is_symlink():
                shutil.rmtree(new)
            else:
                new.unlink(missing_ok=True)  # the failed new run's file of that name
            os.replace(self.aside / name, new)
        self.aside.rmdir()


@contextlib.contextmanager
def set_aside(
    folder: str | os.PathLike[str],
    outputs: Sequence[str] | None,
    replaced: Callable[[], bool] | None = None,
) -> Iterator[_SetAside]:
    """Move a previous run's files out of ``folder`` while a new run replaces it.

    ``outputs``: the names of the run's files (those present are moved), or ``None`` for
    everything in the folder. They go into a hidden folder inside ``folder`` (a rename: no
    copy, nothing lost on a full disk). ``replaced()`` says whether the new run can stand in
    for the old one yet (it has written its checkpoint, say; default: never before the block
    ends). The ``with`` block yields a handle whose ``release_if_replaced()`` deletes the old
    files once that holds. If the block raises first (a failed start, Ctrl-C, a crash), the
    new run's files of those names are removed and the old ones put back; if the new run had
    replaced it, the old files are deleted. A block that ends normally releases them. A process
    killed meanwhile leaves them in the hidden folder: :func:`restore_leftovers` (called by
    :func:`claim_run_dir` and this function) puts them back. Hold the folder's lock
    (:func:`lock_output_dir`) around it.
    """
    folder = Path(folder)
    restore_leftovers(folder)
    present = sorted(
        p.name
        for p in folder.iterdir()
        if not p.name.startswith(_ASIDE_PREFIX) and (outputs is None or p.name in outputs)
    )
    aside = Path(tempfile.mkdtemp(prefix=_ASIDE_PREFIX, dir=folder))
    moved: list[str] = []
    handle = _SetAside(folder, moved, aside, replaced or (lambda: False))
    try:
        for name in present:
            os.replace(folder / name, aside / name)
            moved.append(name)
        yield handle
    except BaseException:
        handle.release_if_replaced()
        if not handle.released:
            handle.restore()
        raise
    handle.release()


#: the prefix of the hidden folder that holds a replaced run until the new one has started
_ASIDE_PREFIX = ".fwlab-replaced-"


def restore_leftovers(folder: str | os.PathLike[str]) -> list[str]:
    """Put back the files a replacing run set aside and never released: it was killed
    (SIGKILL, power loss) before it could stand in for the old run, which is still the run of
    the folder. If any file of the same name is in the folder (the new run got further), the
    old files are all left in their hidden folder, never mixed with the new ones. Returns the
    names put back; call it holding the lock.
    """
    folder = Path(folder)
    back: list[str] = []
    if not folder.is_dir():
        return back
    for aside in sorted(folder.glob(_ASIDE_PREFIX + "*")):
        if not aside.is_dir():
            continue
        items = sorted(aside.iterdir())
        if any((folder / item.name).exists() for item in items):
            continue
        for item in items:
            os.replace(item, folder / item.name)
            back.append(item.name)
        with contextlib.suppress(OSError):
            aside.rmdir()  # only when empty
    return back
