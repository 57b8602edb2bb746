"""Tests of the recorded-run overlay: fwlab/plots/recorded.py and TrainingDashboard.add_recorded."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fwlab.widgets import TrainingDashboard

from fwlab.data import load_task
from fwlab.experiments.recorded import load_recorded, write_recorded
from fwlab.plots.recorded import recorded_band_traces
from fwlab.train import TrainConfig, fit, get_method


def _h(offset):
    steps = list(range(1, 11))
    return {
        "train": {"step": steps, "loss": [1.0 / s + offset for s in steps], "lr": [1e-3] * 10},
        "eval": {
            "step": [5, 10],
            "test_loss": [0.5 + offset, 0.2 + offset],
            "test_acc": [None] * 2,
        },
        "optimizer": {"step": [], "fw_gap": [], "dw_norm": [], "angle_deg": [], "delta": []},
        "events": [],
        "summary": {"steps": 10},
    }


RECORDED = {
    "runs": {"bptt_adam": {"0": _h(0.0), "1": _h(0.1), "2": _h(0.2)}, "fw_k1": {"0": _h(-0.1)}},
    "labels": {"bptt_adam": "BPTT+Adam", "fw_k1": "Frank-Wolfe K=1"},
    "not_recorded": [],
}


def test_band_traces_are_mean_and_spread_over_seeds():
    traces = {t.meta: t for t in recorded_band_traces(RECORDED, "test_loss")}
    assert len(traces) == 2 * 2 * 3  # runs x panels x (lo, hi, mean)
    np.testing.assert_allclose(traces["recorded:metric:bptt_adam:mean"].y, [0.6, 0.3])
    np.testing.assert_allclose(traces["recorded:metric:bptt_adam:lo"].y, [0.5, 0.2])
    np.testing.assert_allclose(traces["recorded:metric:bptt_adam:hi"].y, [0.7, 0.4])
    assert traces["recorded:metric:bptt_adam:hi"].fill == "tonexty"
    assert list(traces["recorded:loss:bptt_adam:mean"].x) == list(range(1, 11))
    assert "3 seeds" in traces["recorded:loss:bptt_adam:mean"].name
    assert "Frank-Wolfe K=1 (1 seeds)" in traces["recorded:loss:fw_k1:mean"].name
    assert "left out" not in traces["recorded:loss:bptt_adam:mean"].name
    with pytest.raises(ValueError, match="runs must be recorded runs"):
        recorded_band_traces(RECORDED, runs=["sgd_clip"])
    with pytest.raises(ValueError, match="metric must be"):
        recorded_band_traces(RECORDED, "accuracy")


def test_dashboard_overlays_recorded_runs_from_disk_beside_a_live_run(tmp_path):
    path = write_recorded(RECORDED, tmp_path / "rec.json")
    dash = TrainingDashboard(throttle_seconds=0.0, metric="test_loss")
    metas = dash.add_recorded(load_recorded(path), runs=["bptt_adam"])
    assert len(metas) == 6
    data = load_task("adding", seq_len=6, n_train=60, n_test=20)
    fit(get_method("sgd"), data, TrainConfig(hidden_size=4, batch_size=20, steps=3),
        callbacks=[dash], progress=False)  # fmt: skip
    by_meta = {t.meta: t for t in dash.figure.data}
    # the live run is drawn
    assert "loss:BPTT+Adam" in by_meta and len(by_meta["loss:BPTT+Adam"].y) == 3
    mean = by_meta["recorded:metric:bptt_adam:mean"]
    assert mean.xaxis == "x2" and mean.yaxis == "y2"  # the metric panel
    assert by_meta["recorded:loss:bptt_adam:mean"].xaxis == "x"
    static = {t.meta for t in dash.static_figure().data}
    assert set(metas) <= static and "metric:BPTT+Adam" in static


def test_add_recorded_of_a_name_names_the_loader():
    # the dashboard (library) does not read the shipped comparisons: the caller loads one
    dash = TrainingDashboard()
    with pytest.raises(TypeError, match=r"got 'adding-paper': pass load_recorded\(NAME\)"):
        dash.add_recorded("adding-paper")
    assert dash.add_recorded(load_recorded("adding-paper"), runs=["bptt_adam"])


def test_mnist_overlay_shows_accuracy_the_metric_notebook_03_reasons_about():
    """Notebook 03's view of the recorded MNIST runs: the metric panel is the test accuracy (%,
    linear axis), also before any live run, in the widget and in its static figure."""
    from fwlab.experiments.recorded import load_recorded, seed_histories
    from fwlab.plots import training_figure

    assert training_figure({}, metric="test_acc").layout.annotations[1].text == "test accuracy (%)"
    recorded = load_recorded("mnist-offline")
    view = TrainingDashboard(metric="test_acc", title=recorded["title"])
    view.add_recorded(recorded)
    for fig in (view.figure, view.static_figure()):
        assert fig.layout.annotations[1].text == "test accuracy (%)"
        assert fig.layout.yaxis2.type == "linear"
    mean = next(t for t in view.figure.data if t.meta == "recorded:metric:indrnn_fw:mean")
    accs = [h["eval"]["test_acc"][-1] for h in seed_histories(recorded, "indrnn_fw").values()]
    assert mean.y[-1] == pytest.approx(np.mean(accs)) and 10.0 < mean.y[-1] < 100.0


def test_a_diverged_seed_left_out_of_a_band_is_said_in_its_name():
    diverged = _h(0.3)
    diverged["eval"]["test_loss"] = [math.nan] * len(diverged["eval"]["test_loss"])
    diverged["train"]["loss"] = [math.inf] * len(diverged["train"]["loss"])
    rec = {**RECORDED, "runs": {"bptt_adam": {**RECORDED["runs"]["bptt_adam"], "3": diverged}}}
    traces = {t.meta: t for t in recorded_band_traces(rec, "test_loss")}
    for panel in ("loss", "metric"):
        name = traces[f"recorded:{panel}:bptt_adam:mean"].name
        assert "(3 of 4 seeds; seed 3 left out: no finite value (diverged))" in name, name
    np.testing.assert_allclose(traces["recorded:metric:bptt_adam:mean"].y, [0.6, 0.3])


def test_seed_bands_set_live_seeds_beside_recorded_ones():
    """Two sets of seeds of the same runs, one panel per run: each set's band is the min..max
    and mean over its own seeds, the figure's traces are the trace data, and a run a set lacks
    is drawn empty and says so."""
    from fwlab.plots import seed_bands_figure, seed_bands_trace_data

    def h(values):
        return {"eval": {"step": [100, 200, 300], "test_loss": values}}

    live = {"runs": {"fw_k1": {20: h([0.2, 0.1, 0.05]), 21: h([0.3, 0.2, 0.15])},
                     "sgd": {20: h([0.17, 0.16, 0.16])}}}  # fmt: skip
    recorded = {"runs": {"fw_k1": {"10": h([0.16, 0.12, 0.08]), "11": h([0.18, 0.1, 0.02]),
                                   "12": h([0.2, float("nan"), 0.04])}}}  # fmt: skip
    sources = {"live, seeds 20-21": live, "recorded, seeds 10-12": recorded}
    data = seed_bands_trace_data(sources, ["sgd", "fw_k1"])
    assert len(data) == 2 * 2 * 3
    fw = "live, seeds 20-21:fw_k1"
    np.testing.assert_allclose(data[f"{fw}:mean"]["y"], [0.25, 0.15, 0.1])
    np.testing.assert_allclose(data[f"{fw}:lo"]["y"], [0.2, 0.1, 0.05])
    np.testing.assert_allclose(data[f"{fw}:hi"]["y"], [0.3, 0.2, 0.15])
    rec = "recorded, seeds 10-12:fw_k1"
    assert data[f"{rec}:mean"]["name"] == (
        "recorded, seeds 10-12 (3 seeds; 1 NaN/inf value of the others left out)"
    )
    np.testing.assert_allclose(data[f"{rec}:lo"]["y"], [0.16, 0.1, 0.02])
    assert list(data["recorded, seeds 10-12:sgd:mean"]["y"]) == []  # not recorded: empty
    assert data["recorded, seeds 10-12:sgd:mean"]["name"] == "recorded, seeds 10-12 (no seed)"
    fig = seed_bands_figure(sources, ["sgd", "fw_k1"], titles={"fw_k1": "Frank-Wolfe K=1"},
                            hlines=[(1 / 6, "1/6")])  # fmt: skip
    assert [a.text for a in fig.layout.annotations][:2] == ["sgd", "Frank-Wolfe K=1"]
    assert {t.meta for t in fig.data} == set(data)
    for trace in fig.data:
        np.testing.assert_allclose(trace.y, data[trace.meta]["y"])
        assert trace.name == data[trace.meta]["name"]
    # the band is filled between its edges; one legend entry per set of seeds
    assert [t.fill for t in fig.data[:3]] == [None, "tonexty", None]
    assert sum(bool(t.showlegend) for t in fig.data) == 2
