"""Atomic file writes: a reader sees the old file or the complete new one, never half of it.

Every file fwlab writes that another process may read while it is written, or that a crash
(SIGKILL, Ctrl-C, a full disk) must not leave torn, goes through :func:`atomic_open`: the bytes
go to a hidden temporary file beside the target (``.<name>.<random>.tmp``), are flushed and
fsync'ed, and the temporary file is renamed over the target with :func:`os.replace` (atomic on
POSIX and Windows). On any exception, ``KeyboardInterrupt`` included, the temporary file is
removed and the target is untouched; only a SIGKILL between the two can leave an orphan
temporary file, never a torn target.

Example:
    >>> import json, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_open(folder / "status.json", "w") as f:
    ...     json.dump({"status": "ok"}, f)
    >>> atomic_write_text(folder / "note.txt", "done").read_text(), sorted(
    ...     p.name for p in folder.iterdir())
    ('done', ['note.txt', 'status.json'])
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_open", "atomic_write", "atomic_write_text"]


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "wb", *, newline: str | None = None
) -> Iterator[IO[Any]]:
    """A file object whose content replaces ``path`` when the ``with`` block ends without an
    exception (see the module docstring). ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8);
    missing parent folders are created."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise _naming(err, path) from None
    try:
        # mkstemp makes the file private (0600); give it the mode open() would have given it
        # (0666 less the umask), so a page or table written here can be served or shared
        if hasattr(os, "fchmod"):  # POSIX
            os.fchmod(fd, 0o666 & ~_umask())
        encoding = None if mode == "wb" else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:  # a full disk, say: the error names the file being replaced
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise _naming(err, path) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _naming(err: OSError, path: Path) -> OSError:
    """``err`` about ``path`` (the file the caller asked for), not about the temporary file
    beside it; the same type and errno, so callers still tell ENOSPC from EACCES."""
    temporaries = [str(p) for p in path.parent.glob(f".{path.name}.*.tmp")]
    if err.errno is None or err.filename not in (None, *temporaries, str(path.parent)):
        return err
    return type(err)(err.errno, err.strerror, str(path))


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it: put it straight back
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], chunks: bytes | Iterable[bytes]) -> Path:
    """Write ``chunks`` (bytes, or an iterable of bytes) to ``path`` atomically; returns the path.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
        >>> atomic_write(p, [b"ab", b"c"]).read_bytes()
        b'abc'
    """
    if isinstance(chunks, (bytes, bytearray, memoryview)):
        chunks = [bytes(chunks)]
    with atomic_open(path, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_open(path, "w") as f:
        f.write(text)
    return Path(path)
