"""Tests of fwlab/experiments/compare.py: one call trains methods side by side, on a dashboard or
not, records the Frank-Wolfe trajectory and landscape, and lists what is wrong with the runs."""

from __future__ import annotations

import os

import pytest
from fwlab.widgets import TrainingDashboard

from fwlab.data import load_task
from fwlab.experiments.compare import compare, run_problems
from fwlab.train import TrainConfig, fit, get_method
from fwlab.util.turns import IdleCpus

DATA = load_task("adding", seq_len=6, n_train=80, n_test=30)
CONFIG = TrainConfig(hidden_size=4, batch_size=20, steps=6, eval_every=3)


def test_compare_on_a_dashboard_records_trajectory_landscape_and_metrics(monkeypatch):
    recorded = {}
    monkeypatch.setattr("fwlab.runs.record", lambda values: recorded.update(values) or values)
    dash = TrainingDashboard(throttle_seconds=0.0)
    methods = [get_method("sgd"), get_method("fw_k1", K=3), get_method("fw_k1")]
    result = compare(methods, DATA, CONFIG, dashboard=dash, background=True,
                     landscape_resolution=3)  # fmt: skip
    assert not result.finished and result.landscape is None  # returned at once
    assert result.finish() is result and result.finished
    assert list(result.histories) == ["BPTT+Adam", "Frank-Wolfe K=3", "Frank-Wolfe K=1"]
    assert list(dash.histories) == list(result.histories)
    assert result.fw_method.K == 3  # the first Frank-Wolfe run's trajectory
    assert result.recorder.outer_steps == [0, 1, 2]  # 6 batches = 2 outer steps of K = 3
    assert result.landscape.losses.shape == (3, 3)
    assert recorded == result.metrics and result.metrics["sgd/steps"] == 6
    assert set(result.metrics) == {
        f"{n}/{k}" for n in ("sgd", "fw_k1")
        for k in ("final_test_loss", "best_test_loss", "steps", "wall_time")
    }  # fmt: skip
    assert run_problems(result) == []


def test_run_problems_finds_a_step_outside_the_trust_region_and_a_nan():
    result = compare([get_method("fw_k1")], DATA, CONFIG, trajectory=False,
                     record_metrics=False)  # fmt: skip
    h = result.histories["Frank-Wolfe K=1"]
    h["optimizer"]["dw_norm"][0] = 1.0
    h["train"]["loss"][2] = float("nan")
    assert run_problems(result) == [
        "Frank-Wolfe K=1: a non-finite training loss",
        "Frank-Wolfe K=1: a step left the trust region",
    ]


@pytest.mark.parametrize(
    ("methods", "kwargs", "match"),
    [
        ([], {}, "methods must be a non-empty list of Method"),
        (["sgd"], {}, "methods must be a non-empty list of Method"),
        ([get_method("sgd"), get_method("sgd")], {}, "distinct run names"),
        ([get_method("sgd")], {"dashboard": object()}, "dashboard must have start/fit/wait"),
    ],
)
def test_bad_arguments(methods, kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare(methods, DATA, CONFIG, **kwargs)


def test_background_runs_train_like_runs_in_the_foreground():
    """Models are initialised before the threads start: background runs repeat foreground ones."""
    methods = [get_method("sgd"), get_method("sgd_clip"), get_method("fw_k1")]
    here = compare(methods, DATA, CONFIG, trajectory=False, record_metrics=False)
    dash = TrainingDashboard(throttle_seconds=0.0)
    there = compare(methods, DATA, CONFIG, dashboard=dash, background=True, trajectory=False,
                    record_metrics=False).finish()  # fmt: skip
    for name, h in here.histories.items():
        assert there.histories[name]["train"]["loss"] == h["train"]["loss"], name


def test_model_initialisation_is_not_reseeded_by_a_run_starting_in_another_thread(monkeypatch):
    """build_model and a run's dropout reseed share a lock: a run started in another thread while
    a model is half initialised waits, and the model equals one built alone."""
    import threading

    import torch

    import fwlab.train.build as build

    method, real = get_method("sgd"), build.SequenceModel
    others: list[threading.Thread] = []

    def half_initialised(*args, **kwargs):
        torch.rand(1)  # the first half of an initialisation
        if others and others[0].ident is None:  # a run starts in another thread, with a second
            # to reseed the RNG
            others[0].start()
            others[0].join(timeout=1.0)
        return real(*args, **kwargs)

    fit(method, DATA, CONFIG.replace(steps=1), progress=False)  # warm: the next run reseeds in ms
    monkeypatch.setattr(build, "SequenceModel", half_initialised)
    alone = [p.detach().clone() for p in build.build_model(method, DATA, CONFIG).parameters()]
    run_model = real(method.cell, DATA.input_size, CONFIG.hidden_size, 1)
    others.append(threading.Thread(target=fit, args=(method, DATA, CONFIG.replace(steps=1)),
                                   kwargs=dict(progress=False, model=run_model)))  # fmt: skip
    raced = list(build.build_model(method, DATA, CONFIG).parameters())
    started = others.pop()
    started.join()
    assert all(torch.equal(a, b) for a, b in zip(raced, alone))


def test_several_seeds_train_every_method_on_every_seed(monkeypatch):
    """With {seed: data} every method trains on every seed in the background, each run as a
    foreground run of that seed would, and by_seed gathers them per preset and seed."""
    recorded = {}
    monkeypatch.setattr("fwlab.runs.record", lambda values: recorded.update(values) or values)
    data = {s: load_task("adding", seq_len=6, n_train=80, n_test=30, seed=s) for s in (20, 21)}
    methods = [get_method("sgd"), get_method("fw_k1")]
    dash = TrainingDashboard(throttle_seconds=0.0)
    result = compare(methods, data, CONFIG, dashboard=dash, background=True,
                     landscape_resolution=3).finish()  # fmt: skip
    assert list(result.histories) == [
        "BPTT+Adam · seed 20", "Frank-Wolfe K=1 · seed 20",
        "BPTT+Adam · seed 21", "Frank-Wolfe K=1 · seed 21",
    ]  # fmt: skip
    by_seed = result.by_seed()
    assert {m: sorted(v) for m, v in by_seed.items()} == {"sgd": [20, 21], "fw_k1": [20, 21]}
    for method in methods:
        for seed in (20, 21):
            alone = fit(method, data[seed], CONFIG.replace(seed=seed), progress=False)
            got = by_seed[method.name][seed]
            assert got["train"]["loss"] == alone["train"]["loss"], (method.name, seed)
            assert got["config"]["seed"] == seed
    assert by_seed["sgd"][20]["train"]["loss"] != by_seed["sgd"][21]["train"]["loss"]
    assert result.landscape.losses.shape == (3, 3)  # of seed 20's Frank-Wolfe run
    finals = [by_seed["fw_k1"][s]["summary"]["final_test_loss"] for s in (20, 21)]
    assert recorded["fw_k1/seed21/final_test_loss"] == finals[1]
    assert recorded["fw_k1/final_test_loss"] == pytest.approx(sum(finals) / 2)
    assert run_problems(result) == []
    # a seed's methods side by side, at least one run per CPU: one semaphore for all four; and
    # they compute in turns, one per CPU that other processes leave idle, re-measured
    jobs = list(dash.jobs.values())
    assert len({id(job._slots) for job in jobs}) == 1 and jobs[0]._slots._initial_value == max(
        len(methods), len(os.sched_getaffinity(0))
    )
    assert len({id(job._turns) for job in jobs}) == 1
    turns = jobs[0]._turns
    assert isinstance(turns.measure, IdleCpus) and turns.measure.cpus == len(
        os.sched_getaffinity(0)
    )
    assert turns.held == 0
    with pytest.raises(ValueError, match="non-empty"):
        compare(methods, {}, CONFIG)
