"""How every ``fwlab`` command fails: one line on stderr that names the problem and a fix that
loses nothing, and an exit status; no traceback unless asked for.

:func:`fwlab.app.cli.main` runs every sub-command through :func:`report`, so a command raises and
never prints its own failure. A command that knows better advice for its context raises
:class:`CommandError` with it (``fwlab train`` for a diverged run, say); every other exception
is described here by its type:

======================================  ======  ===============================================
exception                               status  the line says
======================================  ======  ===============================================
``CommandError``                        its own its message, as written by the command
``ValueError``, ``TypeError``,          2       the message (fwlab's validation names the
``FileNotFoundError``, ``KeyError``             argument and the fix)
``KeyboardInterrupt`` (Ctrl-C)          130     its message, or that it stopped and what is kept
``BrokenPipeError``                     141     that the reader of the output went away
``OSError`` ENOSPC / EDQUOT             1       no space left, where, and to free some and rerun
``PermissionError`` / EACCES / EROFS    1       which path cannot be written or read
other ``OSError``                       1       the system's reason and the path
``MemoryError``                         1       out of memory, and to ask for less
anything else                           1       its type and message, and to rerun with
                                                ``--debug`` for the traceback
======================================  ======  ===============================================

``--debug`` (any sub-command) or ``FWLAB_DEBUG=1`` re-raises instead, with the traceback.

Example:
    >>> import errno
    >>> describe(OSError(errno.ENOSPC, "No space left on device", "runs/a/history.json"))
    ('no space left on device writing runs/a/history.json; free some space (or pass a folder on \
another disk) and run the same command again: what was written before is kept', 1)
    >>> describe(ValueError("--lr must be > 0, got 0"))
    ('--lr must be > 0, got 0', 2)
"""

from __future__ import annotations

import errno
import os
import sys

__all__ = ["DEBUG_ENV", "CommandError", "describe", "report"]

#: set (to anything but "" or 0) for tracebacks instead of one-line failures
DEBUG_ENV = "FWLAB_DEBUG"
#: the errors of a path that cannot be read or written
_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)


class CommandError(Exception):
    """A failure a command has already put in words (problem and fix), with its exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _where(err: OSError) -> str:
    names = [n for n in (err.filename, err.filename2) if n is not None]
    return " -> ".join(os.fsdecode(n) for n in names)


def describe(err: BaseException) -> tuple[str, int]:
    """The one line (problem and fix) and exit status for ``err``; see the module's table."""
    if isinstance(err, CommandError):
        return _one_line(str(err)), err.status
    if isinstance(err, KeyboardInterrupt):  # a message says what was kept (fit's does)
        said = _one_line(str(err))
        generic = "interrupted (Ctrl-C); what was written before it is kept; run the command again"
        return said or generic, 130
    if isinstance(err, BrokenPipeError):
        return "the output pipe was closed by its reader; nothing else is affected", 141
    if isinstance(err, FileNotFoundError) and err.errno is not None and err.filename:
        return (
            f"no such file or folder: {_where(err)}; check the path (a parent folder may be "
            "missing or mistyped) and run the same command again",
            2,
        )
    if isinstance(err, (ValueError, TypeError, FileNotFoundError, KeyError)):
        text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        return _one_line(str(text)) or type(err).__name__, 2
    if isinstance(err, OSError) and err.errno is None:  # fwlab's own words (FileExistsError(...))
        return _one_line(str(err)) or type(err).__name__, 2
    if isinstance(err, OSError):
        where = _where(err)
        at = f" {where}" if where else ""
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            return (
                f"no space left on device writing{at}; free some space (or pass a folder on "
                "another disk) and run the same command again: what was written before is kept",
                1,
            )
        if isinstance(err, PermissionError) or err.errno in _DENIED:
            return (
                f"permission denied:{at or ' (no path given)'} ({err.strerror or err}); pass a "
                "path you can read and write, or change its permissions",
                1,
            )
        reason = err.strerror or _one_line(str(err)) or type(err).__name__
        return f"{reason}{':' + at if at else ''}; check the path and run the same command again", 1
    if isinstance(err, MemoryError):
        return "out of memory; ask for less (a smaller model, batch or data subset)", 1
    first = _one_line(str(err))[:300]
    return (
        f"unexpected {type(err).__name__}: {first or '(no message)'}; rerun with --debug "
        f"(or {DEBUG_ENV}=1) to see the traceback, and report it if it looks like fwlab's fault",
        1,
    )


def report(command: str, err: BaseException, *, debug: bool = False) -> int:
    """Print ``fwlab COMMAND: <problem and fix>`` on stderr and return the exit status; with
    ``debug`` (or :data:`DEBUG_ENV`) re-raise ``err`` instead, so its traceback shows.

    A closed stdout (``fwlab ... | head``) is pointed at ``/dev/null`` first, so that Python's
    own flush at exit does not raise a second ``BrokenPipeError``.
    """
    debug = debug or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")
    if debug and not isinstance(err, BrokenPipeError):
        raise err
    line, status = describe(err)
    if isinstance(err, BrokenPipeError):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
    try:
        print(f"fwlab {command}: {line}" if command else f"fwlab: {line}", file=sys.stderr,
              flush=True)  # fmt: skip
    except (OSError, ValueError):  # stderr itself is gone: the status still says it
        pass
    return status
