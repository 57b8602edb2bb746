"""Ctrl-C during :func:`fwlab.train.fit`: finish the batch, then stop at a consistent point.

A ``KeyboardInterrupt`` that lands in the middle of a batch (inside the forward pass, the
backward pass or between the bookkeeping of a step) would leave the model, the optimizer, the
counters and the history describing different moments. :class:`DeferredInterrupt` turns the first
Ctrl-C (SIGINT, in the main thread) or a ``KeyboardInterrupt`` raised by a callback into a request
that ``fit`` honours at the end of the batch: it writes a checkpoint (the model at the iterate ω),
returns the model to ω and raises ``KeyboardInterrupt``. A second Ctrl-C raises at once.

Example:
    >>> with DeferredInterrupt() as interrupt:
    ...     interrupt.request()   # what a first Ctrl-C does
    ...     interrupt.requested
    True
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["DeferredInterrupt", "request_stop"]

#: the deferrals in progress per thread (innermost last): what :func:`request_stop` reaches
_ACTIVE: dict[int, list[DeferredInterrupt]] = {}


def request_stop(thread_id: int | None = None) -> bool:
    """Ask the innermost ``fit`` in progress in thread ``thread_id`` (default: the main thread)
    to stop at the end of its batch, as a first Ctrl-C does; ``False`` when it runs none. How a
    caller that owns SIGINT (the run engine, :mod:`fwlab.runs`) stops a training function
    without losing its checkpoint."""
    stack = _ACTIVE.get(threading.main_thread().ident if thread_id is None else thread_id)
    if not stack:
        return False
    stack[-1].request()
    return True


class DeferredInterrupt:
    """Inside the ``with`` block, the first SIGINT sets :attr:`requested` instead of raising.

    The SIGINT handler is installed only in the main thread (where Python delivers signals) and
    only over Python's default handler; the previous handler is restored on exit. A second SIGINT
    while a request is pending raises ``KeyboardInterrupt`` at once (an escape hatch when a
    batch takes too long).
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def request(self) -> None:
        """Ask the loop to stop at the next consistent point."""
        self.requested = True

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> DeferredInterrupt:
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        _ACTIVE.setdefault(threading.get_ident(), []).append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        stack = _ACTIVE.get(threading.get_ident(), [])
        if self in stack:
            stack.remove(self)
        if not stack:
            _ACTIVE.pop(threading.get_ident(), None)
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
