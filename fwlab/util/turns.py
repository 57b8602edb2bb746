r"""Turns at the CPUs for the threads of one process: at most ``n`` of them compute at a time,
and one that has held its turn for ``quantum`` seconds hands it on, at a point it chooses, to
the thread that has waited longest.

Why threads need turns: a small recurrent network trains in Python more than inside torch's
kernels, and every torch call releases the interpreter lock and takes it back, so threads of one
process that train at the same time spend CPU waiting on one another for that lock. Measured on
notebook 02's live run (twelve runs: 3 methods × 4 seeds, 2,500 batches each, one thread per
run, on 2 idle CPUs): the three methods of a seed as three threads at once took 62 s of CPU and
37 s of wall time; the same threads in two turns of 0.25 s took 50 s of CPU and 30 s of wall
time; in one turn, 40 s of CPU and 41 s of wall time. Every run's history was the same in all
three (a run's numbers do not depend on when it computes).

So a second turn buys wall time with CPU, which pays only where a CPU would otherwise be idle:
:func:`idle_cpus` counts the CPUs that other work leaves free, and :class:`Turns` is sized by it
(``compare`` does). Measured on the same twelve runs beside two busy processes (2 CPUs, 1-minute
load average about 2): two turns took 54 s of CPU and 95 s of wall time, one turn 42 s of CPU
and 61 s of wall time.

A holder calls :meth:`Turns.pass_on` between two units of work (a batch): it returns at once
unless another thread waits and the caller has held its turn for ``quantum`` seconds; then the
caller gives its turn to the longest-waiting thread and queues for the next free one. So every
thread that shares the turns makes progress, also when each would run forever, and turns go in
first-come, first-served order.

Example (two threads, one turn, handed on at every batch):
    >>> import threading, time
    >>> turns, log = Turns(1, quantum=0.0), []
    >>> def work(name):
    ...     with turns:
    ...         for batch in range(2):
    ...             log.append(name)
    ...             turns.pass_on()
    >>> with turns:                           # hold the turn while "a", then "b", queue
    ...     for i, name in enumerate("ab"):
    ...         threading.Thread(target=work, args=(name,)).start()
    ...         while turns.waiting < i + 1:
    ...             time.sleep(0.01)
    >>> while turns.held or turns.waiting:
    ...     time.sleep(0.01)
    >>> log
    ['a', 'b', 'a', 'b']
"""

from __future__ import annotations

import collections
import math
import os
import threading
import time
from typing import Any

from fwlab.util.validate import nonnegative_float, positive_int

__all__ = ["Turns", "idle_cpus"]


def idle_cpus() -> int:
    r"""The CPUs this process may use that other work leaves idle, at least 1:
    :math:`\max(1, c - \lfloor \ell \rfloor)` for the :math:`c` CPUs of the process's affinity
    and the 1-minute load average :math:`\ell` (runnable processes, this one's included; on a
    system without one, :math:`\ell = 0`). A load below 1 counts as idle: the process's own
    cells before a run leave a fraction.

    Example:
        >>> 1 <= idle_cpus() <= (os.cpu_count() or 1)
        True
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows; no load average to read
        load = 0.0
    return max(1, cpus - math.floor(load))


class Turns:
    """At most ``n`` holders at a time, served first come, first served.

    Args:
        n: how many threads may hold a turn at once (e.g. the CPUs the process may use).
        quantum: seconds a holder keeps its turn before :meth:`pass_on` hands it on to a waiting
            thread (0: at every call while one waits).

    Raises:
        ValueError: ``n`` not an integer >= 1, or ``quantum`` negative.
    """

    def __init__(self, n: int, *, quantum: float = 0.25) -> None:
        self.n = positive_int("n", n)
        self.quantum = nonnegative_float("quantum", quantum)
        self._cond = threading.Condition()
        self._free = self.n
        self._queue: collections.deque[object] = collections.deque()
        self._since = threading.local()

    @property
    def held(self) -> int:
        """How many turns are held now."""
        return self.n - self._free

    @property
    def waiting(self) -> int:
        """How many threads wait for a turn now."""
        return len(self._queue)

    def acquire(self) -> None:
        """Wait for a turn (after every thread that queued before this one) and take it."""
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            try:
                self._cond.wait_for(lambda: self._free > 0 and self._queue[0] is ticket)
            except BaseException:  # interrupted while queued: leave the queue, wake the next
                self._queue.remove(ticket)
                self._cond.notify_all()
                raise
            self._queue.popleft()
            self._free -= 1
            self._cond.notify_all()  # the next in line may take another free turn
        self._since.t = time.monotonic()

    def release(self) -> None:
        """Give the turn back. Raises ``RuntimeError`` when no turn is held."""
        with self._cond:
            if self._free >= self.n:
                raise RuntimeError("Turns.release() without a turn held; call acquire() first")
            self._free += 1
            self._cond.notify_all()

    def pass_on(self) -> bool:
        """Between two units of work: when another thread waits and this one has held its turn
        for ``quantum`` seconds, hand the turn on and queue for the next. Returns whether it
        did. Call it only while holding a turn."""
        if not self._queue:  # nobody waits: no lock taken, nothing to do
            return False
        if time.monotonic() - getattr(self._since, "t", 0.0) < self.quantum:
            return False
        self.release()
        self.acquire()
        return True

    def __enter__(self) -> Turns:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Turns({self.n}, quantum={self.quantum}): {self.held} held, {self.waiting} waiting"
