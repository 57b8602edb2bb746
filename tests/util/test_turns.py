"""Turns (fwlab/util/turns.py): at most n holders, first come first served, handed on between
units of work after a quantum, and refused arguments named."""

from __future__ import annotations

import collections
import os
import signal
import threading
import time

import pytest

import fwlab.util.turns as turns_module
from fwlab.util.turns import IdleCpus, Turns

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


class FakeTimes:
    """The CPU seconds IdleCpus reads, as a test sets them: ``busy[i]`` seconds CPU i spent
    busy (as /proc/stat books it), ``own`` this process's, ``now`` the clock."""

    def __init__(self, monkeypatch, cpus):
        self.busy, self.own, self.now = [0.0] * 4, 0.0, 100.0
        monkeypatch.setattr(turns_module.os, "sched_getaffinity", lambda pid: set(cpus))
        monkeypatch.setattr(turns_module, "_proc_stat_busy", self.proc_stat_busy)
        monkeypatch.setattr(turns_module, "_own_busy", lambda: self.own)
        monkeypatch.setattr(turns_module.time, "monotonic", lambda: self.now)

    def proc_stat_busy(self, cpus):
        return sum(self.busy[i] for i in cpus)

    def advance(self, seconds, busy, own):
        self.now += seconds
        self.busy = [a + b for a, b in zip(self.busy, busy)]
        self.own += own


@pytest.mark.parametrize(
    "busy, own, idle",
    [
        ((0.0, 0.0, 0.0, 0.0), 0.0, 2),  # an idle machine
        ((1.0, 1.0, 0.0, 0.0), 2.0, 2),  # busy with this process alone
        ((1.0, 1.0, 0.0, 0.0), 0.6, 1),  # others keep 1.4 CPUs busy
        ((1.0, 0.4, 0.0, 0.0), 0.0, 1),  # 1.4 by others: rounds to 1 idle
        ((0.4, 0.0, 0.0, 0.0), 0.0, 2),  # 0.4 by others: rounds to 2 idle
        ((1.0, 1.0, 0.0, 0.0), 0.0, 1),  # at least one
        ((0.0, 0.0, 1.0, 1.0), 0.0, 2),  # CPUs outside the affinity do not count
    ],
)
def test_idle_cpus_are_the_cpus_that_others_leave_idle(monkeypatch, busy, own, idle):
    fake = FakeTimes(monkeypatch, cpus=(0, 1))
    measure = IdleCpus()
    assert measure.cpus == 2
    fake.advance(1.0, busy, own)
    assert measure() == idle
    fake.advance(2.0, (0.0,) * 4, 0.0)  # each call measures from the previous one
    assert measure() == 2


def _stat(tmp_path, *lines):
    path = tmp_path / "stat"
    path.write_text("\n".join([*lines, "intr 1 2 3", "ctxt 99", "btime 1", ""]))
    return path


def test_proc_stat_is_read_by_cpu_number_and_counts_busy_columns_only(tmp_path, monkeypatch):
    monkeypatch.setattr(turns_module.os, "sysconf", lambda name: 100)  # ticks per second
    #      user nice system idle iowait irq softirq steal guest guest_nice
    stat = _stat(
        tmp_path,
        "cpu  700 9000 70 5000 400 7 7 7 300 9000",
        "cpu0 100 5000 10 1000 100 1 1 1 50 5000",
        "cpu2 200 4000 20 2000 300 2 2 2 250 4000",  # cpu1 is offline: no line
        "cpu3 400 0 40 2000 0 4 4 4 0 0",
    )
    # user (guest included once) + system + irq + softirq + steal; nice, idle, iowait not busy
    assert turns_module._proc_stat_busy([0], stat) == pytest.approx(1.13)
    assert turns_module._proc_stat_busy([0, 2], stat) == pytest.approx(1.13 + 2.26)
    assert turns_module._proc_stat_busy([3], stat) == pytest.approx(4.52)
    # a CPU missing (offline, renumbered): the whole machine's line
    assert turns_module._proc_stat_busy([0, 1], stat) == pytest.approx(7.91)
    assert turns_module._proc_stat_busy(None, stat) == pytest.approx(7.91)
    assert turns_module._proc_stat_busy([0], tmp_path / "missing") is None


def test_a_niced_process_counts_its_system_time_alone(monkeypatch):
    times = os.times_result((3.0, 0.5, 0.0, 0.0, 0.0))
    monkeypatch.setattr(turns_module.os, "times", lambda: times)
    monkeypatch.setattr(turns_module.os, "getpriority", lambda which, who: 0)
    assert turns_module._own_busy() == 3.5
    monkeypatch.setattr(turns_module.os, "getpriority", lambda which, who: 10)
    assert turns_module._own_busy() == 0.5  # its user time is booked as nice: not busy


def test_unreadable_cpu_times_count_every_cpu_as_idle(monkeypatch):
    fake = FakeTimes(monkeypatch, cpus=(0, 1))
    measure = IdleCpus()
    fake.advance(1.0, (1.0, 1.0, 0.0, 0.0), 0.0)
    monkeypatch.setattr(turns_module, "_proc_stat_busy", lambda cpus: None)
    monkeypatch.setattr(turns_module.psutil, "cpu_times", lambda: (_ for _ in ()).throw(OSError))
    assert measure() == 2
    monkeypatch.setattr(turns_module, "_proc_stat_busy", fake.proc_stat_busy)
    fake.advance(1.0, (1.0, 1.0, 0.0, 0.0), 0.0)
    assert measure() == 2  # no earlier sample to measure from
    fake.advance(1.0, (1.0, 1.0, 0.0, 0.0), 0.0)
    assert measure() == 1


def test_without_proc_stat_psutil_gives_the_machines_busy_time(monkeypatch):
    fields = "user nice system idle iowait guest guest_nice"
    t = collections.namedtuple("t", fields)(5.0, 9.0, 1.0, 50.0, 3.0, 2.0, 9.0)
    monkeypatch.setattr(turns_module.psutil, "cpu_times", lambda: t)
    assert turns_module._psutil_busy() == 6.0  # user (guest included once) and system


def test_turns_resize_to_what_measure_says_at_most_every_interval(monkeypatch):
    fake = FakeTimes(monkeypatch, cpus=(0, 1))
    answers = [3, None, 1]
    turns = Turns(2, quantum=10.0, measure=lambda: answers.pop(0), every=1.0)
    turns.acquire()
    assert turns.pass_on() is False and turns.n == 2 and len(answers) == 3  # too early
    fake.advance(1.0, (0.0,) * 4, 0.0)
    assert turns.pass_on() is False and turns.n == 3 and answers == [None, 1]
    fake.advance(0.5, (0.0,) * 4, 0.0)
    assert turns.pass_on() is False and answers == [None, 1]
    fake.advance(0.5, (0.0,) * 4, 0.0)
    assert turns.pass_on() is False and turns.n == 3 and answers == [1]  # None: n stays
    fake.advance(1.0, (0.0,) * 4, 0.0)
    assert turns.pass_on() is False and turns.n == 1 and answers == []  # one held: not over
    turns.release()


def test_a_lowered_count_takes_the_turn_of_a_holder_over_it():
    turns, order = Turns(2, quantum=10.0), []
    b_holds, b_may_end = threading.Event(), threading.Event()

    def b():
        with turns:
            b_holds.set()
            b_may_end.wait(5)
            order.append("B releases")

    turns.acquire()  # holder A: this thread
    thread = threading.Thread(target=b)
    thread.start()
    assert b_holds.wait(5) and turns.held == 2
    turns.resize(1)
    threading.Timer(0.2, b_may_end.set).start()
    assert turns.pass_on() is True  # nobody waits, quantum not reached: over the count alone
    order.append("A holds again")
    thread.join(5)
    assert order == ["B releases", "A holds again"] and turns.held == 1
    turns.release()


def test_a_raised_count_lets_a_waiting_thread_in_at_once():
    turns, got = Turns(1), threading.Event()
    turns.acquire()
    thread = threading.Thread(target=lambda: (turns.acquire(), got.set()))
    thread.start()
    while not turns.waiting:
        time.sleep(0.001)
    assert not got.wait(0.1)
    turns.resize(2)
    assert got.wait(5) and turns.held == 2
    turns.release()
    turns.release()


def test_bad_measure_and_every():
    with pytest.raises(ValueError, match="measure must be a callable"):
        Turns(1, measure=3)
    with pytest.raises(ValueError, match="every"):
        Turns(1, measure=lambda: 1, every=0)
    with pytest.raises(ValueError, match="n must"):
        Turns(1).resize(0)


def test_ctrl_c_just_after_a_turn_is_taken_gives_it_back():
    turns = Turns(1)
    real, calls = turns._cond.notify_all, []

    def interrupted_once():  # the wake-up acquire sends once it has taken the turn
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        real()

    turns._cond.notify_all = interrupted_once
    with pytest.raises(KeyboardInterrupt):
        turns.acquire()
    assert turns.held == 0 and turns.waiting == 0
    turns._cond.notify_all = real
    with turns:
        assert turns.held == 1


def test_a_with_block_left_by_a_ctrl_c_in_pass_on_gives_back_no_other_threads_turn():
    """Ctrl-C while pass_on waits for this thread's next turn: the turn it handed on stays with
    the thread that took it, and leaving the ``with`` block releases nothing (it holds none)."""
    turns, took, may_end = Turns(1, quantum=0.0), threading.Event(), threading.Event()

    def other():
        _until(lambda: turns.held == 1, "the main thread holds the turn")
        with turns:
            took.set()
            may_end.wait(WAIT)

    class Interrupted(Exception):
        pass

    def interrupt(signum, frame):
        raise Interrupted

    thread = threading.Thread(target=other)
    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        with pytest.raises(Interrupted), turns:
            thread.start()
            _until(lambda: turns.waiting == 1, "the other thread queues")
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            turns.pass_on()  # hands the turn on, queues for the next, interrupted there
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert took.is_set() and turns.held == 1 and turns.waiting == 0  # the other's turn
    may_end.set()
    thread.join(WAIT)
    assert turns.held == 0
