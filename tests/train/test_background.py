"""BackgroundRun / RunControl / replay_callback: steering a running fit, and replaying it."""

from __future__ import annotations

import json
import math
import threading
import time
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait

import pytest
import torch

from fwlab.data import load_task
from fwlab.optim.frank_wolfe import effective_delta
from fwlab.train import (
    BackgroundRun,
    RunControl,
    TrainConfig,
    fit,
    get_method,
    replay_callback,
    start_fit,
)
from fwlab.train.background import check_hyperparameters, group_updates
from fwlab.util.turns import Turns

CONFIG = TrainConfig(hidden_size=8, batch_size=25, steps=40, lr=1e-2, delta=1e-2, eval_every=10)
WAIT = 120  # seconds; generous, the machine is shared


@pytest.fixture(scope="module")
def data():
    return load_task("adding", seq_len=12, n_train=300, n_test=100)


def _without_wall_clock(history):
    h = json.loads(json.dumps(history))  # also: what a saved history.json holds
    h["eval"].pop("seconds")
    h["summary"].pop("wall_time")
    return h


class Gate:
    """A callback that holds the training thread at given steps until the test lets it go."""

    def __init__(self, *steps):
        self.reached = {s: threading.Event() for s in steps}
        self.go = {s: threading.Event() for s in steps}

    def __call__(self, event, run):
        if event == "step" and run.step in self.reached:
            self.reached[run.step].set()
            assert self.go[run.step].wait(WAIT), "the test never released the gate"

    def at(self, step):
        assert self.reached[step].wait(WAIT), f"the run never reached step {step}"

    def release(self, step):
        self.go[step].set()


def test_changes_made_while_running_are_recorded_and_replay_gives_the_same_history(data):
    method = get_method("fw_k5")
    gate = Gate(10, 24)
    job = BackgroundRun(method, data, CONFIG, callbacks=[gate])
    job.pause()  # parks at "begin", before the first batch
    job.start()
    assert job.wait_paused(WAIT) and job.step == 0 and job.running
    job.set(delta=3e-3)
    job.resume()

    gate.at(10)  # an outer-step boundary (K = 5) whose control callback has already run
    assert job.set(K=2, lr=5e-3) == {"K": 2, "lr": 5e-3}
    gate.release(10)

    gate.at(24)
    job.set(p=math.inf)
    job.stop()  # the stop wins: the queued p is dropped
    gate.release(24)
    history = job.join(WAIT)

    assert history["events"] == [
        {
            "step": 0,
            "kind": "set",
            "values": {"lr": 1e-2, "initial_lr": 1e-2, "delta": 3e-3},
        },
        {
            "step": 15,  # the next boundary after step 10
            "kind": "set",
            "values": {"K": 2, "lr": 5e-3, "initial_lr": 5e-3, "delta": 3e-3},
        },
        {"step": 25, "kind": "stop"},
    ]
    op = history["optimizer"]
    assert op["step"] == [5, 10, 15, 17, 19, 21, 23, 25]
    assert op["delta"] == pytest.approx([3e-3] * 8)  # η changed, δ in use did not
    assert history["train"]["lr"][14:16] == [1e-2, 5e-3]
    assert history["summary"]["steps"] == 25 and history["summary"]["stopped_early"]

    replay = replay_callback(history["events"])
    again = fit(method, data, CONFIG, callbacks=[replay], progress=False)
    assert _without_wall_clock(again) == _without_wall_clock(history)
    # the replay also works from the JSON of the history (p = inf, floats round-trip)
    events = json.loads(json.dumps(history["events"]))
    third = fit(method, data, CONFIG, callbacks=[replay_callback(events)], progress=False)
    assert _without_wall_clock(third) == _without_wall_clock(history)
    # and without the replayed changes the run is a different one
    plain = fit(method, data, CONFIG, progress=False)
    assert plain["train"]["loss"][:25] != history["train"]["loss"]


def test_pause_parks_the_thread_and_resume_continues(data):
    job = start_fit(get_method("fw_k1"), data, CONFIG.replace(steps=400, eval_every=None))
    job.pause()
    assert job.wait_paused(WAIT)
    parked_at = job.step
    time.sleep(0.3)
    assert job.step == parked_at and job.parked and job.paused and job.running
    # a change made while paused applies right there (K = 1: every batch is a boundary)
    job.set(p=1.0)
    job.resume()
    history = job.join(WAIT)
    assert not job.parked and job.done and history["summary"]["steps"] == 400
    assert history["events"] == [{"step": parked_at, "kind": "set", "values": {"p": 1.0}}]
    again = fit(
        get_method("fw_k1"),
        data,
        CONFIG.replace(steps=400, eval_every=None),
        callbacks=[replay_callback(history["events"])],
        progress=False,
    )
    assert _without_wall_clock(again) == _without_wall_clock(history)


def test_stop_while_paused_ends_at_the_parked_step(data):
    job = BackgroundRun(get_method("sgd"), data, CONFIG.replace(steps=10_000))
    job.start()
    job.pause()
    assert job.wait_paused(WAIT)
    parked_at = job.step
    job.stop()
    history = job.join(WAIT)
    assert history["summary"]["steps"] == parked_at
    assert history["events"] == [{"step": parked_at, "kind": "stop"}]
    assert history["eval"]["step"][-1] == parked_at


def test_an_exception_in_the_thread_is_surfaced_by_join_and_error(data):
    def boom(event, run):
        if event == "step" and run.step == 3:
            raise ArithmeticError("boom at step 3")

    finished = []
    job = BackgroundRun(get_method("fw_k1"), data, CONFIG, callbacks=[boom])
    job.add_done_callback(finished.append)
    job.start()
    with pytest.raises(ArithmeticError, match="boom at step 3"):
        job.join(WAIT)
    assert isinstance(job.error, ArithmeticError) and job.done and not job.running
    assert finished == [job] and job.step == 3


def test_the_future_holds_the_history_and_calls_back_when_done(data):
    job = BackgroundRun(get_method("sgd"), data, CONFIG.replace(steps=6))
    assert isinstance(job.future, Future) and not job.future.running() and not job.done
    job.pause()
    job.start()
    assert job.future.running() and job.running
    with pytest.raises(TimeoutError):
        job.future.result(timeout=0.05)  # parked at "begin"
    job.resume()
    done, _ = futures_wait([job.future], WAIT)
    assert done == {job.future} and job.done and not job.running
    history = job.future.result()
    assert history is job.join() is job.history and history["summary"]["steps"] == 6
    late = []
    job.add_done_callback(late.append)  # added after the end: called at once, here
    assert late == [job] and job.future.exception() is None and job.error is None


def test_a_failed_run_sets_the_futures_exception(data):
    def boom(event, run):
        if event == "step" and run.step == 2:
            raise ArithmeticError("boom")

    job = start_fit(get_method("sgd"), data, CONFIG, callbacks=[boom])
    err = job.future.exception(WAIT)
    assert isinstance(err, ArithmeticError) and job.error is err
    assert job.history is job.run.history and job.run.step == 2


def test_a_non_finite_loss_is_surfaced_too(data):
    def poison(event, run):
        if event == "step" and run.step == 2:
            with torch.no_grad():
                next(run.model.parameters()).fill_(math.nan)

    job = start_fit(get_method("fw_k1"), data, CONFIG, callbacks=[poison])
    from fwlab.optim import NonFiniteError

    with pytest.raises(NonFiniteError):
        job.join(WAIT)


def test_set_validates_in_the_calling_thread(data):
    job = BackgroundRun(get_method("sgd"), data, CONFIG)
    with pytest.raises(ValueError, match=r"cannot set \['delta'\] on a 'adam' run"):
        job.set(delta=0.1)
    fw = BackgroundRun(get_method("fw_k1"), data, CONFIG)
    for bad, match in [
        ({"K": 0}, "K must be an integer >= 1"),
        ({"K": 2.0}, "K must be an integer >= 1"),
        ({"delta": 0.0}, "delta must be a finite number > 0"),
        ({"lr": -1.0}, "lr must be a finite number >= 0"),
        ({"lr": math.inf}, "lr must be a finite number >= 0"),
        ({"p": 0.5}, "p must be a number >= 1"),
        ({"eta": 0.1}, "cannot set"),
        ({}, "nothing to set"),
    ]:
        with pytest.raises(ValueError, match=match):
            fw.set(**bad)
    assert fw.pending() == {}
    assert fw.set(p="inf", K=3) == {"p": math.inf, "K": 3}


def test_lifecycle_errors(data):
    job = BackgroundRun(get_method("sgd"), data, CONFIG.replace(steps=5))
    with pytest.raises(RuntimeError, match="never started"):
        job.join()
    assert job.history is None and not job.done
    job.start()
    with pytest.raises(RuntimeError, match="started already"):
        job.start()
    history = job.join(WAIT)
    assert job.history is history and history["summary"]["steps"] == 5

    slow = BackgroundRun(get_method("sgd"), data, CONFIG.replace(steps=10_000))
    slow.pause()
    slow.start()
    with pytest.raises(TimeoutError, match="still training"):
        slow.join(timeout=0.05)
    slow.stop()
    assert slow.join(WAIT)["summary"]["steps"] == 0


def test_lr_control_keeps_delta_and_a_scheduler_still_scales_both(data):
    # StepLR every epoch (300/25 = 12 batches) by 0.5; FW K=1 so every batch is an outer step
    cfg = CONFIG.replace(steps=30, lr_step=1, lr_gamma=0.5, eval_every=None)
    gate = Gate(6)
    job = start_fit(get_method("fw_k1"), data, cfg, callbacks=[gate])
    gate.at(6)
    job.set(lr=2e-2)
    gate.release(6)
    h = job.join(WAIT)
    delta, lr = h["optimizer"]["delta"], h["train"]["lr"]
    assert h["events"][0]["step"] == 7
    assert delta[:12] == pytest.approx([1e-2] * 12)  # δ_t unchanged by the η change
    assert lr[6] == 1e-2 and lr[7] == 2e-2
    assert delta[12:24] == pytest.approx([5e-3] * 12)  # epoch 1: both halved
    assert lr[12] == pytest.approx(1e-2)
    assert delta[24:] == pytest.approx([2.5e-3] * 6)


def test_group_updates_re_anchor_a_tied_group():
    tied = {"lr": 1e-3, "initial_lr": 1e-2, "delta": 1e-2, "tie_delta_to_lr": True}
    assert effective_delta(tied) == pytest.approx(1e-3)
    up = group_updates(tied, {"delta": 4e-3})
    assert up == {"lr": 1e-3, "initial_lr": 1e-3, "delta": 4e-3}
    assert effective_delta({**tied, **up}) == 4e-3  # the δ asked for is the δ in use
    up = group_updates(tied, {"lr": 5e-4, "K": 3})
    assert effective_delta({**tied, **up}) == pytest.approx(1e-3) and up["K"] == 3
    untied = {**tied, "tie_delta_to_lr": False}
    assert group_updates(untied, {"lr": 5e-4}) == {"lr": 5e-4}
    assert group_updates({"lr": 1e-3}, {"lr": 2e-3}) == {"lr": 2e-3}  # Adam
    assert check_hyperparameters({"lr": 1}, "adam") == {"lr": 1.0}


def test_replay_callback_checks_its_events(data):
    with pytest.raises(ValueError, match="order of their steps"):
        replay_callback([{"step": 5, "kind": "stop"}, {"step": 2, "kind": "stop"}])
    with pytest.raises(ValueError, match="step must be an integer"):
        replay_callback([{"step": -1, "kind": "stop"}])
    with pytest.raises(ValueError, match="needs a dict of values"):
        replay_callback([{"step": 1, "kind": "set"}])
    cfg = CONFIG.replace(steps=6, eval_every=None)
    too_late = replay_callback([{"step": 50, "kind": "set", "values": {"K": 2}}])
    with pytest.raises(RuntimeError, match="not replayed, the first at step 50"):
        fit(get_method("fw_k1"), data, cfg, callbacks=[too_late], progress=False)
    # K_switch events are fit's own and are not replayed; kinds other than set/stop neither
    ignored = replay_callback(
        [{"step": 1, "kind": "K_switch", "values": {"K": 9}}, {"step": 2, "kind": "note"}]
    )
    h = fit(get_method("fw_k1"), data, cfg, callbacks=[ignored], progress=False)
    assert h["events"] == []


def test_run_control_is_a_plain_callback_in_a_synchronous_fit(data):
    control = RunControl()

    def steer(event, run):
        if event == "step" and run.step == 4:
            control.set(K=2)
        if event == "step" and run.step == 9:
            control.stop()

    h = fit(get_method("fw_k1"), data, CONFIG, callbacks=[control, steer], progress=False)
    assert h["events"] == [
        {"step": 5, "kind": "set", "values": {"K": 2}},
        {"step": 10, "kind": "stop"},
    ]
    assert control.ended and control.in_use()["K"] == 2


def test_callbacks_are_added_before_start_only_and_wait_does_not_raise(data):
    seen = []
    job = BackgroundRun(get_method("sgd"), data, CONFIG.replace(steps=4))
    job.add_callback(lambda event, run: seen.append((event, run.step)))
    with pytest.raises(RuntimeError, match="never started"):
        job.wait(0)
    job.pause()
    job.start()
    with pytest.raises(RuntimeError, match="add callbacks before start"):
        job.add_callback(print)
    assert job.wait(0.05) is False  # parked at "begin"
    job.resume()
    assert job.wait(WAIT) is True
    assert seen[0] == ("begin", 0) and seen[-1] == ("end", 4)
    assert [s for e, s in seen if e == "step"] == [1, 2, 3, 4]


def test_listeners_hear_every_change_of_state_from_the_thread_that_made_it(data):
    job = BackgroundRun(get_method("fw_k1"), data, CONFIG.replace(steps=10_000))
    heard: list[tuple[str, bool]] = []  # (what the control says, from the training thread?)

    def listener(control):
        assert control is job
        state = (
            "ended" if control.ended
            else "stop" if control.stop_requested
            else "parked" if control.parked
            else "pausing" if control.paused
            else f"queued {control.pending()}" if control.pending()
            else "running"
        )  # fmt: skip
        heard.append((state, threading.current_thread() is job._thread))

    job.add_listener(listener)
    job.set(delta=5e-3)  # before the run: queued, heard here
    job.start()
    deadline = time.monotonic() + WAIT
    while job.pending() and time.monotonic() < deadline:  # applied at the first outer step
        time.sleep(0.01)
    job.pause()
    assert job.wait_paused(WAIT)
    job.resume()
    job.stop()
    job.join(WAIT)
    here = [s for s, in_thread in heard if not in_thread]
    there = [s for s, in_thread in heard if in_thread]
    assert here[:2] == ["queued {'delta': 0.005}", "pausing"] and here[-1] == "stop"
    assert there[0] == "running" and "parked" in there and there[-1] == "ended"
    assert heard.index(("pausing", False)) < heard.index(("parked", True))


def test_a_run_that_fails_before_its_end_event_is_heard_ending(data):
    def boom(event, run):
        if event == "step" and run.step == 2:
            raise ArithmeticError("boom")

    job = BackgroundRun(get_method("sgd"), data, CONFIG, callbacks=[boom])
    ended = []
    job.add_listener(lambda c: ended.append(c.ended))
    job.start()
    with pytest.raises(ArithmeticError):
        job.join(WAIT)
    assert ended and ended[-1] is True


def test_runs_sharing_slots_train_at_most_that_many_at_a_time_with_the_same_results(data):
    """Five runs with two slots: never more than two inside fit at once, all five finish, each
    with the history it has alone."""
    from fwlab.train import Callback

    lock, inside, most = threading.Lock(), [0], [0]

    class Count(Callback):
        def on_train_begin(self, run):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])

        def on_train_end(self, run):
            with lock:
                inside[0] -= 1

    slots = threading.BoundedSemaphore(2)
    configs = [CONFIG.replace(seed=s, steps=15) for s in range(5)]
    runs = [start_fit(get_method("fw_k1"), data, c, callbacks=[Count()], slots=slots)
            for c in configs]  # fmt: skip
    histories = [r.join(WAIT) for r in runs]
    assert most[0] == 2 and inside[0] == 0
    for config, h in zip(configs, histories):
        alone = fit(get_method("fw_k1"), data, config, progress=False)
        assert h["train"]["loss"] == alone["train"]["loss"]


def test_slots_must_be_a_semaphore(data):
    with pytest.raises(ValueError, match=r"^slots must be a threading.Semaphore or None, got int"):
        BackgroundRun(get_method("sgd"), data, CONFIG, slots=2)
    with pytest.raises(ValueError, match=r"^turns must be a fwlab.util.turns.Turns or None, got "):
        BackgroundRun(get_method("sgd"), data, CONFIG, turns=threading.Semaphore(1))


def test_runs_sharing_turns_compute_one_at_a_time_and_each_makes_progress(data):
    """Three runs that would train until stopped, one turn: never two in a batch at once, yet
    every run advances (the turn is handed on between batches); a paused run gives its turn
    up; stopped, each history equals the same run alone, stopped at the same step."""
    from fwlab.train import Callback

    class HolderTurns(Turns):  # which threads hold a turn
        def __init__(self, n, **kw):
            super().__init__(n, **kw)
            self.holders, self.outside = set(), []

        def acquire(self):
            super().acquire()
            self.holders.add(threading.get_ident())

        def release(self):
            self.holders.discard(threading.get_ident())
            super().release()

    class Check(Callback):  # after the control's hook: the thread goes on to its next batch
        def on_step_end(self, run):
            if threading.get_ident() not in turns.holders:
                turns.outside.append(run.step)

    turns = HolderTurns(1, quantum=0.0)
    configs = [CONFIG.replace(seed=s, steps=10**6, eval_every=10**6) for s in range(3)]
    runs = [start_fit(get_method("fw_k1"), data, c, callbacks=[Check()], turns=turns)
            for c in configs]  # fmt: skip
    try:
        _share_turns(runs, turns)
    finally:  # also when an assertion fails: the runs would train on
        for r in runs:
            r.stop()
    histories = [r.join(WAIT) for r in runs]
    assert turns.held == 0 and turns.waiting == 0
    for config, h in zip(configs, histories):
        steps = h["summary"]["steps"]
        alone = fit(get_method("fw_k1"), data, config.replace(steps=steps), progress=False)
        assert h["train"]["loss"] == alone["train"]["loss"]


def _share_turns(runs, turns):
    deadline = time.monotonic() + WAIT
    while min(r.step for r in runs) < 5:
        assert time.monotonic() < deadline, [r.step for r in runs]
        time.sleep(0.01)
    assert turns.outside == []  # every batch computed with the one turn held
    runs[0].pause()
    assert runs[0].wait_paused(WAIT)
    parked_at = runs[0].step
    before = [r.step for r in runs[1:]]
    deadline = time.monotonic() + WAIT
    while not all(r.step > b + 5 for r, b in zip(runs[1:], before)):
        assert time.monotonic() < deadline, "the others did not get the paused run's turn"
        time.sleep(0.01)
    assert runs[0].step == parked_at and turns.outside == []
