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

So a second turn buys wall time with CPU, which pays only where a CPU would otherwise be idle.
:class:`IdleCpus` measures how many CPUs other processes leave idle, and a :class:`Turns` given
it as ``measure`` re-sizes itself to that count while its threads compute (``compare`` does).
Measured on the same twelve runs beside two busy processes (2 CPUs): two turns took 54 s of CPU
and 95 s of wall time, one turn 42 s of CPU and 61 s of wall time; sized by :class:`IdleCpus`
they ran in one turn throughout (41 s of CPU, 61 s of wall time), and on 2 idle CPUs in two
(48 s of CPU, 29 s of wall time).

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from fwlab.util.validate import nonnegative_float, positive_float, positive_int

__all__ = ["IdleCpus", "Turns"]


def _cpus() -> list[int] | None:
    """The CPUs this process may run on (``None``: all; not on Linux)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None


#: the columns of a ``cpuN`` line of /proc/stat (user nice system idle iowait irq softirq steal
#: guest guest_nice) that count as busy: user (guest time included), system, irq, softirq, steal
_BUSY_COLUMNS = (0, 2, 5, 6, 7)


def _proc_stat_busy(cpus: list[int] | None, stat: Path = Path("/proc/stat")) -> float | None:
    """CPU seconds spent busy on ``cpus`` (``None``: all), from /proc/stat's lines keyed by CPU
    number (psutil's per-CPU list is by position, and offline CPUs leave gaps); the whole
    machine's line where one of them is missing (offline, or renumbered in a container);
    ``None`` where there is no /proc/stat."""
    try:
        text = stat.read_text()
    except OSError:
        return None
    rows = {}
    for line in text.splitlines():
        name, _, values = line.partition(" ")
        if name.startswith("cpu"):
            rows[name[3:]] = [int(v) for v in values.split()]
    wanted = [""] if cpus is None else [str(i) for i in cpus]
    if not all(w in rows for w in wanted):
        wanted = [""]
    if "" not in rows and wanted == [""]:
        return None
    busy = sum(rows[w][c] for w in wanted for c in _BUSY_COLUMNS if c < len(rows[w]))
    return busy / os.sysconf("SC_CLK_TCK")


def _psutil_busy() -> float | None:
    """CPU seconds the whole machine spent busy, from psutil (systems without /proc/stat)."""
    try:
        t = psutil.cpu_times()
    except (OSError, psutil.Error):
        return None
    left_out = ("idle", "iowait", "nice", "guest", "guest_nice", "interrupt", "dpc")
    return sum(t) - sum(getattr(t, f, 0.0) for f in left_out)


def _own_busy() -> float:
    """CPU seconds this process spent, as /proc/stat books them outside ``nice``: all of them,
    or where this process is niced, its system time alone (its user time is in ``nice``)."""
    t = os.times()
    niced = hasattr(os, "getpriority") and os.getpriority(os.PRIO_PROCESS, 0) > 0
    return t.system if niced else t.user + t.system


class IdleCpus:
    r"""Calling it measures the CPUs this process may use that *other* processes left idle since
    the previous call (or since it was made), rounded, at least 1:

    .. math:: \max\bigl(1, \operatorname{round}(c - (B - b)/\Delta t)\bigr)

    for the :math:`c` CPUs of the process's affinity, the CPU seconds :math:`B` the system spent
    busy on them in the :math:`\Delta t` seconds (user, system, interrupts and steal: not idle,
    waiting on I/O or running niced processes, which yield to a process that is not niced) and
    the CPU seconds :math:`b` this process spent (of them, as the system books them). A machine
    whose other processes are idle gives :math:`c` however busy this process is; one where
    others keep every CPU busy gives 1; where the system's CPU times cannot be read,
    :math:`c`. Where a CPU of the affinity is missing from /proc/stat, :math:`B` is the whole
    machine's (it then errs towards fewer turns).

    Example (a measurement is a count of CPUs):
        >>> idle = IdleCpus()
        >>> 1 <= idle() <= (os.cpu_count() or 1)
        True
    """

    def __init__(self) -> None:
        self._cpus = _cpus()
        self.cpus = len(self._cpus) if self._cpus is not None else psutil.cpu_count() or 1
        self._last = self._sample()

    def _sample(self) -> tuple[float, float, float] | None:
        busy = _proc_stat_busy(self._cpus)
        if busy is None:
            busy = _psutil_busy()
        if busy is None:
            return None
        return time.monotonic(), busy, _own_busy()

    def __call__(self) -> int:
        last, now = self._last, self._sample()
        self._last = now
        if last is None or now is None or now[0] <= last[0]:
            return self.cpus
        t0, busy0, own0 = last
        seconds = now[0] - t0
        others = max(0.0, (now[1] - busy0) - (now[2] - own0)) / seconds
        return max(1, min(self.cpus, math.floor(self.cpus - others + 0.5)))


class Turns:
    """At most ``n`` holders at a time, served first come, first served.

    Args:
        n: how many threads may hold a turn at once (e.g. the CPUs the process may use).
        quantum: seconds a holder keeps its turn before :meth:`pass_on` hands it on to a waiting
            thread (0: at every call while one waits).
        measure: called with no arguments, the number of turns there should be now (e.g. an
            :class:`IdleCpus`); a holder calls it in :meth:`pass_on` at most every ``every``
            seconds and sets ``n`` to its answer (``None``: ``n`` stays).
        every: seconds between two calls of ``measure``.

    Raises:
        ValueError: ``n`` not an integer >= 1, ``quantum`` negative, ``measure`` not callable,
            or ``every`` not positive.
    """

    def __init__(
        self,
        n: int,
        *,
        quantum: float = 0.25,
        measure: Callable[[], int] | None = None,
        every: float = 1.0,
    ) -> None:
        self.n = positive_int("n", n)
        self.quantum = nonnegative_float("quantum", quantum)
        if measure is not None and not callable(measure):
            raise ValueError(
                f"measure must be a callable returning the number of turns (e.g. IdleCpus()) or "
                f"None, got {type(measure).__name__}"
            )
        self.measure = measure
        self.every = positive_float("every", every)
        self._measured = time.monotonic()
        self._cond = threading.Condition()
        self._held = 0
        self._queue: collections.deque[object] = collections.deque()
        self._since = threading.local()  # per thread: when it took its turn, turns it holds

    @property
    def held(self) -> int:
        """How many turns are held now."""
        return self._held

    @property
    def waiting(self) -> int:
        """How many threads wait for a turn now."""
        return len(self._queue)

    def acquire(self) -> None:
        """Wait for a turn (after every thread that queued before this one) and take it."""
        ticket, taken = object(), False
        with self._cond:
            self._queue.append(ticket)
            try:
                self._cond.wait_for(lambda: self._held < self.n and self._queue[0] is ticket)
                self._queue.popleft()
                self._held += 1
                taken = True
                self._since.holding = getattr(self._since, "holding", 0) + 1
                self._cond.notify_all()  # the next in line may take another free turn
            except BaseException:  # interrupted (Ctrl-C): leave the queue or the turn, wake
                if taken:
                    self._held -= 1
                    self._since.holding -= 1
                elif ticket in self._queue:
                    self._queue.remove(ticket)
                self._cond.notify_all()
                raise
        self._since.t = time.monotonic()

    def release(self) -> None:
        """Give the turn back. Raises ``RuntimeError`` when no turn is held."""
        with self._cond:
            if self._held <= 0:
                raise RuntimeError("Turns.release() without a turn held; call acquire() first")
            self._held -= 1
            self._since.holding = max(0, getattr(self._since, "holding", 0) - 1)
            self._cond.notify_all()

    def resize(self, n: int) -> None:
        """Allow ``n`` holders from now on: more wake waiting threads at once; with fewer, the
        holders over the count give their turns up at their next :meth:`pass_on`."""
        n = positive_int("n", n)
        with self._cond:
            self.n = n
            self._cond.notify_all()

    def pass_on(self) -> bool:
        """Between two units of work: when another thread waits and this one has held its turn
        for ``quantum`` seconds, or when more turns are held than ``n`` allows (``measure``
        lowered it), hand the turn on and queue for the next. Returns whether it did. Call it
        only while holding a turn."""
        if self.measure is not None and time.monotonic() - self._measured >= self.every:
            with self._cond:  # one holder measures per interval
                due = time.monotonic() - self._measured >= self.every
                if due:
                    self._measured = time.monotonic()
            if due and (n := self.measure()) is not None:
                self.resize(n)
        if self._held > self.n:  # over a lowered count: give this turn up (one per excess)
            with self._cond:
                over = self._held > self.n
                if over:
                    self._held -= 1
                    self._since.holding = max(0, getattr(self._since, "holding", 0) - 1)
                    self._cond.notify_all()
            if over:
                self.acquire()
                return True
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
        # not when this thread holds no turn: a pass_on interrupted (Ctrl-C) while queued for
        # its next turn gave the last one up already
        if getattr(self._since, "holding", 0) > 0:
            self.release()

    def __repr__(self) -> str:
        return f"Turns({self.n}, quantum={self.quantum}): {self.held} held, {self.waiting} waiting"
