"""Output folders that are checked before work starts and owned by one process while it runs.

Shared by ``fwlab train`` (:func:`fwlab.train.fit`), ``fwlab run``, ``fwlab sweep``, ``fwlab
search`` and every run of the engine (:mod:`fwlab.runs`): :func:`check_output_dir` fails fast,
before any training or notebook execution, when the folder cannot hold results;
:func:`claim` holds it for one process; :func:`claim_run_dir` decides whether a run may write
into it; :func:`set_aside` keeps a replaced run's files until the new run has started.

A claim is an exclusive :class:`filelock.FileLock` on a lock file inside the folder
(:data:`CLAIM_FILE`, ``.claim.lock``; a study's folder uses ``.study.lock``). On Unix that is an
``flock``, which the operating system drops when the process dies, even by SIGKILL: a crashed
run never leaves a stale claim. The holder writes its pid and command beside the lock file
(``.claim.pid``, removed when the claim ends) so that a refused claim can name it. The claim is
advisory: it stops fwlab processes (and threads) from writing into each other's folders; it
does not stop other programs.

Example:
    >>> import subprocess, sys, tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "run"
    >>> with claim(folder) as held:
    ...     other = subprocess.run([sys.executable, "-c",
    ...         "import sys; from fwlab.util.outdir import claim; "
    ...         "claim(sys.argv[1]).__enter__()", str(folder)],
    ...         capture_output=True, text=True)
    ...     sorted(p.name for p in held.iterdir())
    ['.claim.lock', '.claim.pid']
    >>> print(other.stderr.splitlines()[-1])  # doctest: +ELLIPSIS
    fwlab.util.outdir.Claimed: output folder ... is in use by pid ...; wait for that run to ...
    >>> sorted(p.name for p in folder.iterdir())
    ['.claim.lock']
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from fwlab.util.atomic import atomic_write_text

__all__ = [
    "CLAIM_FILE",
    "Claimed",
    "check_output_dir",
    "claim",
    "claim_run_dir",
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


#: the lock file of a claim (:func:`claim`): a filelock lock file, empty, left in place
CLAIM_FILE = ".claim.lock"


class Claimed(ValueError):
    """The folder is claimed by another process (or by another claim in this one)."""


def _holder_file(lock_file: Path) -> Path:
    """Where a claim's holder writes its pid and command (``.claim.lock`` -> ``.claim.pid``),
    read only to name it in a refused claim's message."""
    return lock_file.with_suffix(".pid")


def lock_holder(folder: str | os.PathLike[str], *, lock_name: str = CLAIM_FILE) -> str:
    """Describe the process that claims ``folder`` (``"pid 123 (fwlab train ...)"``), as its
    claim wrote it beside the lock file; ``"another process"`` where that cannot be told (no
    claim, a holder killed before it removed the file, or one that could not write it)."""
    try:
        pid_line, _, command = _holder_file(Path(folder) / lock_name).read_text().partition("\n")
        pid = int(pid_line)
        if pid <= 0:
            return "another process"
        if os.name == "posix":  # (on Windows, signal 0 is CTRL_C_EVENT)
            os.kill(pid, 0)  # only asks whether the process exists
    except PermissionError:
        pass  # it exists, run by another user
    except (OSError, ValueError):
        return "another process"
    command = " ".join(command.split())
    return f"pid {pid}" + (f" ({command[:200]})" if command else "")


@contextlib.contextmanager
def claim(
    folder: str | os.PathLike[str], *, lock_name: str = CLAIM_FILE, option: str = "--out"
) -> Iterator[Path]:
    """Hold the claim on ``folder`` (created if missing) while the ``with`` block runs.

    Yields the resolved folder. Raises :class:`Claimed` at once if another process, or another
    claim in this one (another thread, a nested claim), holds it, naming the folder and the
    holder; ``ValueError`` naming ``option`` when the folder cannot be created or written
    (:func:`check_output_dir`).
    """
    from filelock import FileLock, Timeout

    path = check_output_dir(folder, option=option)
    lock_file = path / lock_name
    # thread_local=False: the claim belongs to the process; a second FileLock object on the
    # same file (another thread, or a nested claim) is refused rather than shared
    lock = FileLock(lock_file, timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise Claimed(
            f"output folder {path} is in use by {lock_holder(path, lock_name=lock_name)}; wait "
            f"for that run to finish (or stop it), or pass another {option}"
        ) from None
    holder = _holder_file(lock_file)
    try:
        with contextlib.suppress(OSError):  # a full disk: the claim holds, its holder is unnamed
            atomic_write_text(holder, f"{os.getpid()}\n{' '.join(sys.orig_argv)}\n")
        yield path
    finally:
        with contextlib.suppress(OSError):
            holder.unlink(missing_ok=True)  # ours: no one else writes it while we hold the lock
        lock.release()


def _is_claim_file(name: str) -> bool:
    """Whether ``name`` is a claim's own file (its lock or holder file), not a run's output."""
    return name in (CLAIM_FILE, _holder_file(Path(CLAIM_FILE)).name)


def claim_run_dir(
    folder: str | os.PathLike[str],
    *,
    resume: bool,
    overwrite: bool,
    checkpoint: str,
    outputs: Sequence[str],
    option: str = "--out",
) -> None:
    """Check that a run may write into ``folder``, before it starts (hold its claim first).

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
    held = sorted(
        p.name for p in (folder.iterdir() if folder.is_dir() else ()) if not _is_claim_file(p.name)
    )
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
    :func:`claim_run_dir` and this function) puts them back. Hold the folder's claim
    (:func:`claim`) around it.
    """
    folder = Path(folder)
    restore_leftovers(folder)
    present = sorted(
        p.name
        for p in folder.iterdir()
        if not p.name.startswith(_ASIDE_PREFIX)
        and not _is_claim_file(p.name)
        and (outputs is None or p.name in outputs)
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
    names put back; call it holding the claim.
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
