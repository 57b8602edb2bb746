"""Turns (fwlab/util/turns.py): at most n holders, first come first served, handed on between
units of work after a quantum, and refused arguments named."""

from __future__ import annotations

import signal
import threading
import time

import pytest

import fwlab.util.turns as turns_module
from fwlab.util.turns import Turns, idle_cpus

WAIT = 60  # seconds; generous, the machine is shared


def _until(condition, what):
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def test_at_most_n_compute_at_once_and_every_thread_gets_its_turns():
    """Five threads, two turns, each doing 30 units of work and handing on after each: never
    more than two inside, every thread finishes, and none waits for all the others to end."""
    turns, lock = Turns(2, quantum=0.0), threading.Lock()
    inside, most, done = [0], [0], []

    def work(name):
        with turns:
            for unit in range(30):
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.001)
                with lock:
                    inside[0] -= 1
                done.append((name, unit))
                turns.pass_on()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert most[0] == 2 and turns.held == 0 and turns.waiting == 0
    assert sorted(done) == [(i, u) for i in range(5) for u in range(30)]
    # interleaved: every thread had done some work before the first thread finished all of it
    first_finished = min(done.index((i, 29)) for i in range(5))
    assert {name for name, _ in done[: first_finished + 1]} == set(range(5))


def test_turns_go_first_come_first_served_and_pass_on_waits_for_the_quantum():
    turns, log = Turns(1, quantum=0.0), []

    def work(name):
        with turns:
            for _ in range(2):
                log.append(name)
                turns.pass_on()

    with turns:  # hold the only turn while a, b, c queue in that order
        threads = []
        for i, name in enumerate("abc"):
            threads.append(threading.Thread(target=work, args=(name,)))
            threads[-1].start()
            _until(lambda: turns.waiting == i + 1, f"{name} queues")
    for t in threads:
        t.join(WAIT)
    assert log == ["a", "b", "c", "a", "b", "c"]

    # a holder keeps its turn until it has held it for the quantum, also while others wait
    slow = Turns(1, quantum=60.0)
    slow.acquire()
    waiter = threading.Thread(target=lambda: (slow.acquire(), slow.release()))
    waiter.start()
    _until(lambda: slow.waiting == 1, "the second thread queues")
    assert slow.pass_on() is False and slow.held == 1 and slow.waiting == 1
    slow.quantum = 0.0
    assert slow.pass_on() is True  # handed on, then taken back once the waiter released it
    waiter.join(WAIT)
    assert slow.held == 1 and slow.waiting == 0
    slow.release()
    assert Turns(1).pass_on() is False  # nobody waits: nothing to do


def test_an_interrupted_wait_leaves_the_queue_and_the_next_thread_gets_the_turn():
    """Ctrl-C (here SIGALRM's handler raising) while queued: the waiter leaves the queue, the
    turn it would have had goes to the thread behind it."""
    turns = Turns(1)
    turns.acquire()
    got = threading.Event()

    def behind():
        _until(lambda: turns.waiting == 1, "the main thread queues")
        with turns:
            got.set()

    class Interrupted(Exception):
        pass

    def interrupt(signum, frame):
        raise Interrupted

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        # hand the held turn back from another thread once both wait, then interrupt this one
        helper = threading.Thread(target=behind)
        helper.start()
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(Interrupted):
            turns.acquire()  # queued first, interrupted while waiting
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert turns.waiting == 1  # only the helper is left queued
    turns.release()
    assert got.wait(WAIT)
    helper.join(WAIT)
    assert turns.held == 0 and turns.waiting == 0


def test_refusals_name_the_argument():
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got 0; pass e.g. n=1$"):
        Turns(0)
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got 2.0"):
        Turns(2.0)
    with pytest.raises(ValueError, match=r"^quantum must be .*>= 0, got -1"):
        Turns(1, quantum=-1)
    with pytest.raises(RuntimeError, match=r"without a turn held; call acquire\(\) first"):
        Turns(1).release()
    assert repr(Turns(2)) == "Turns(2, quantum=0.25): 0 held, 0 waiting"


@pytest.mark.parametrize(
    "load, idle",
    [(0.0, 4), (0.99, 4), (1.0, 3), (2.7, 2), (3.99, 1), (4.0, 1), (40.0, 1)],
)
def test_idle_cpus_are_the_cpus_less_the_whole_load(monkeypatch, load, idle):
    monkeypatch.setattr(turns_module.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(turns_module.os, "getloadavg", lambda: (load, 9.0, 9.0))
    assert idle_cpus() == idle


def test_idle_cpus_without_a_load_average_or_an_affinity(monkeypatch):
    def unreadable():
        raise OSError("no load average")

    monkeypatch.setattr(turns_module.os, "getloadavg", unreadable)
    monkeypatch.delattr(turns_module.os, "sched_getaffinity")
    monkeypatch.setattr(turns_module.os, "cpu_count", lambda: 3)
    assert idle_cpus() == 3
    monkeypatch.delattr(turns_module.os, "getloadavg")
    monkeypatch.setattr(turns_module.os, "cpu_count", lambda: None)
    assert idle_cpus() == 1
