"""Ctrl-C held back while work that must not be cut half-way runs.

A ``KeyboardInterrupt`` raised between two kernels of an optimizer's update, or in the middle
of a training batch, leaves the parameters, the optimizer state, the counters and the history
describing different moments. :class:`DeferredInterrupt` turns Ctrl-C (SIGINT) into a request
while its ``with`` block runs, in one of two ways:

* ``DeferredInterrupt()``, for a loop with consistent points (:func:`fwlab.train.fit` stops at
  the end of a batch): the first SIGINT sets :attr:`~DeferredInterrupt.requested`, which the
  loop checks at those points; a second SIGINT while that request is pending raises
  ``KeyboardInterrupt`` at once (the escape hatch when a batch takes too long).
* ``DeferredInterrupt(deliver=True)``, for a short section that must complete
  (:class:`~fwlab.optim.FrankWolfe`'s outer update, several kernels on the parameters and the
  Adam moments): every SIGINT that arrives is held, and raised again right after the block, to
  the handler that was in place.

Example (your own loop around an optimizer)::

    with DeferredInterrupt() as interrupt:
        for x, y in batches:
            ...  # forward, backward, opt.step()
            if interrupt.requested:  # Ctrl-C: stop here, where the state is consistent
                save(model, opt)
                raise KeyboardInterrupt

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

#: the loops' deferrals in progress per thread (innermost last): what :func:`request_stop` reaches
_ACTIVE: dict[int, list[DeferredInterrupt]] = {}


def request_stop(thread_id: int | None = None) -> bool:
    """Ask the innermost loop deferring Ctrl-C in thread ``thread_id`` (default: the main
    thread; a ``DeferredInterrupt()`` without ``deliver``, e.g. :func:`fwlab.train.fit`'s) to
    stop at its next consistent point, as a first Ctrl-C does; ``False`` when there is none.
    How a caller that owns SIGINT (the run engine, :mod:`fwlab.runs`) stops a training function
    without losing its checkpoint."""
    stack = _ACTIVE.get(threading.main_thread().ident if thread_id is None else thread_id)
    if not stack:
        return False
    stack[-1].request()
    return True


class DeferredInterrupt:
    """Inside the ``with`` block, SIGINT sets :attr:`requested` instead of raising (and with
    ``deliver``, is raised again after it: see the module docstring).

    Signals reach Python's main thread only: the handler is installed there (elsewhere the block
    runs unguarded) and the previous one is back after the block. Without ``deliver`` it
    replaces only Python's default handler, so that a program's own (a run engine worker's,
    say) keeps its signals; with ``deliver`` any handler, which gets the held signal after the
    block.
    """

    def __init__(self, *, deliver: bool = False) -> None:
        self.deliver = deliver
        #: a Ctrl-C (or :meth:`request`) came while the block ran
        self.requested = False
        self._previous: Any = None

    def request(self) -> None:
        """Ask the loop to stop at its next consistent point (what a first Ctrl-C does)."""
        self.requested = True

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and not self.deliver:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> DeferredInterrupt:
        if not self.deliver:
            _ACTIVE.setdefault(threading.get_ident(), []).append(self)
        if threading.current_thread() is not threading.main_thread():
            return self
        current = signal.getsignal(signal.SIGINT)
        if current is not None and (self.deliver or current is signal.default_int_handler):
            try:
                self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            except (ValueError, OSError):  # no signal handling here (an embedded interpreter)
                pass
        return self

    def __exit__(self, *exc: Any) -> None:
        stack = _ACTIVE.get(threading.get_ident(), [])
        if self in stack:
            stack.remove(self)
        if not stack:
            _ACTIVE.pop(threading.get_ident(), None)
        if self._previous is None:
            return
        signal.signal(signal.SIGINT, self._previous)
        self._previous = None
        if self.deliver and self.requested:
            self.requested = False
            signal.raise_signal(signal.SIGINT)
