"""When a live figure redraws, and on which thread.

:class:`Throttle` decides whether a moment of a run is worth a redraw (at most every ``steps``
batches of a run and every ``seconds`` seconds; a run's begin and end always are).
:class:`OwnerThreadCaller` runs the redraw on the thread that owns the widgets: a training
thread only marks it due, and the Jupyter kernel's event loop (or an explicit :meth:`flush`)
runs it, several requests collapsing into one call.

Example:
    >>> t = Throttle(steps=2, seconds=0.0)
    >>> begin = t.due("a", force=True)
    >>> [begin, *(t.due("a", batch=True) for _ in range(3)), t.due("a", force=True)]
    [True, False, True, False, True]
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable

from fwlab.util.validate import nonnegative_float, positive_int

__all__ = ["OwnerThreadCaller", "Throttle"]


class Throttle:
    """Whether a moment of run ``name`` is due for a redraw (see the module docstring).

    Args:
        steps: redraw at most every this many batches (``due(name, batch=True)``) of a run ...
        seconds: ... and at most every this many seconds (by ``clock``).
        clock: the time source (tests pass a fake one).
    """

    def __init__(
        self, *, steps: int = 1, seconds: float = 0.2, clock: Callable[[], float] = time.monotonic
    ) -> None:
        steps = positive_int("throttle_steps", steps)
        seconds = nonnegative_float("throttle_seconds", seconds)
        self.steps = steps
        self.seconds = float(seconds)
        self._clock = clock
        self._since: dict[str, int] = {}  # batches since the last redraw, per run
        self._last = -math.inf
        self._lock = threading.Lock()

    def due(self, name: str, *, batch: bool = False, force: bool = False) -> bool:
        """``True`` when a redraw should follow this moment of run ``name``: a ``batch`` ended
        (counted), an evaluation (neither), or its begin or end (``force``: always due)."""
        with self._lock:
            if batch:
                self._since[name] = self._since.get(name, 0) + 1
                if self._since[name] < self.steps:
                    return False
            if not force and self._clock() - self._last < self.seconds:
                return False
            self._since[name] = 0
            self._last = self._clock()
            return True


class OwnerThreadCaller:
    """Calls ``fn`` on the thread that created this object (see the module docstring).

    Inside a running asyncio loop (a Jupyter kernel), :meth:`request` from another thread
    schedules one :meth:`flush` on that loop; from the owner thread, or with no loop, it calls
    ``fn`` at once. ``fn`` must be safe to call with nothing new to draw.
    """

    def __init__(self, fn: Callable[[], None]) -> None:
        self._fn = fn
        self._owner = threading.get_ident()
        self._lock = threading.Lock()
        self._dirty = False
        self._scheduled = False
        try:  # inside a Jupyter kernel: the kernel's loop runs calls requested by threads
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    def request(self) -> None:
        """Call ``fn`` now (owner thread, or no loop) or soon on the owner's loop."""
        if self._loop is None or threading.get_ident() == self._owner:
            self._fn()
            return
        with self._lock:
            self._dirty = True
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self.flush)
        except RuntimeError:  # the loop is closed: call it here
            with self._lock:
                self._scheduled = self._dirty = False
            self._fn()

    def flush(self) -> None:
        """Call ``fn`` if a request from another thread is waiting (call on the owner thread)."""
        with self._lock:
            self._scheduled = False
            dirty, self._dirty = self._dirty, False
        if dirty:
            self._fn()
