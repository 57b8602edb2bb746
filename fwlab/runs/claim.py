"""Claims: one process at a time per run folder (and per study folder), through ``filelock``.

A claim is an exclusive :class:`filelock.FileLock` on a lock file inside the folder
(``.claim.lock`` for a run, ``.study.lock`` for a study). On Unix it is an ``flock``, which the
operating system drops when the process dies, even by SIGKILL: a crashed run never leaves a
stale claim. A second claim fails at once with :class:`Claimed` (a ``ValueError``) naming the
folder and the process that holds it, read from ``/proc/locks``
(:func:`fwlab.outdir.lock_holder`).

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "run"
    >>> with claim(folder) as held:
    ...     held == folder.resolve(), sorted(p.name for p in folder.iterdir())
    (True, ['.claim.lock'])
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from fwlab.outdir import check_output_dir, lock_holder
from fwlab.runs.files import CLAIM_FILE

__all__ = ["Claimed", "claim"]


class Claimed(ValueError):
    """The folder is claimed by another process (or another thread of this one)."""


@contextlib.contextmanager
def claim(
    folder: str | os.PathLike[str], *, lock_name: str = CLAIM_FILE, option: str = "--out"
) -> Iterator[Path]:
    """Hold the claim on ``folder`` (created if missing) while the ``with`` block runs.

    Yields the resolved folder. Raises :class:`Claimed` at once if another process holds it,
    and ``ValueError`` naming ``option`` when the folder cannot be created or written
    (:func:`fwlab.outdir.check_output_dir`).
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
            f"output folder {path} is in use by {lock_holder(lock_file)}; wait for that run to "
            f"finish (or stop it), or pass another {option}"
        ) from None
    try:
        yield path
    finally:
        lock.release()
