"""TrainingDashboard: live traces during fit, stop button, sliders, throttling, static figure."""

from __future__ import annotations

import asyncio
import html
import math
import threading

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import pytest
from fwlab.widgets._page_acks import PROBE
from fwlab.widgets.dashboard import TrainingDashboard

from fwlab.data import STALLED_MSE, load_task
from fwlab.plots import TRAINING_SERIES
from fwlab.train import TrainConfig, fit, get_method
from tests.widget_tools import Clock, acknowledge

CONFIG = TrainConfig(hidden_size=8, batch_size=25, steps=20, lr=1e-2)


@pytest.fixture(scope="module")
def data():
    # 500 / 25 = 20 batches per epoch: steps=20 is exactly one epoch (one evaluation at the end)
    return load_task("adding", seq_len=12, n_train=500, n_test=100)


def _trace(dash, meta):
    return next(t for t in dash.figure.data if t.meta == meta)


def _ys(dash, meta):
    return np.asarray(_trace(dash, meta).y, dtype=float)


def test_public_attributes():
    dash = TrainingDashboard()
    assert isinstance(dash.figure, go.FigureWidget)
    assert isinstance(dash.widget, W.VBox) and dash.figure in dash.widget.children
    assert set(dash.controls) == {"target", "delta", "K", "p", "lr", "pause", "resume", "stop"}
    assert isinstance(dash.controls["stop"], W.Button)
    assert dash.histories == {} and dash.redraws == 0
    assert [t.meta for t in dash.figure.data] == [PROBE]  # lets a first drawing prove itself
    # sliders send one change on release, not a stream of changes while dragging
    assert all(not dash.controls[n].continuous_update for n in ("delta", "K", "p", "lr"))


def test_as_a_callback_it_updates_the_figure_widget_during_fit(data):
    dash = TrainingDashboard(throttle_seconds=0.0)
    seen = []

    def spy(event, run):
        if event == "step":
            seen.append((run.step, len(_trace(dash, "loss:Frank-Wolfe K=5").y)))

    method = get_method("fw_k5")
    h = fit(method, data, CONFIG, callbacks=[dash, spy], progress=False)
    # after every batch the loss trace holds every loss so far
    assert seen == [(s, s) for s in range(1, 21)]
    np.testing.assert_array_equal(_ys(dash, "loss:Frank-Wolfe K=5"), h["train"]["loss"])
    # FW diagnostics: one point per outer step (every K = 5 batches)
    assert list(_trace(dash, "fw_gap:Frank-Wolfe K=5").x) == [5, 10, 15, 20]
    np.testing.assert_allclose(_ys(dash, "angle_deg:Frank-Wolfe K=5"), h["optimizer"]["angle_deg"])
    np.testing.assert_allclose(_ys(dash, "delta:Frank-Wolfe K=5"), h["optimizer"]["delta"])
    np.testing.assert_allclose(_ys(dash, "metric:Frank-Wolfe K=5"), h["eval"]["test_loss"])
    assert dash.histories["Frank-Wolfe K=5"] is h
    assert [t.meta for t in dash.figure.data] == [f"{s}:Frank-Wolfe K=5" for s in TRAINING_SERIES]
    assert dash.status()["Frank-Wolfe K=5"]["state"] == "done"


def test_several_methods_side_by_side(data):
    dash = TrainingDashboard(throttle_seconds=0.0, throttle_steps=10)
    h_sgd = dash.fit("sgd", data, CONFIG)
    h_fw = dash.fit(get_method("fw_k1"), data, CONFIG, name="FW")
    assert list(dash.histories) == ["BPTT+Adam", "FW"]
    np.testing.assert_array_equal(_ys(dash, "loss:BPTT+Adam"), h_sgd["train"]["loss"])
    np.testing.assert_array_equal(_ys(dash, "loss:FW"), h_fw["train"]["loss"])
    # Adam has no Frank-Wolfe diagnostics; its lr is drawn per batch
    assert len(_trace(dash, "fw_gap:BPTT+Adam").x) == 0 and len(_trace(dash, "fw_gap:FW").x) == 20
    assert len(_trace(dash, "lr:BPTT+Adam").x) == 20
    assert _trace(dash, "loss:BPTT+Adam").line.color != _trace(dash, "loss:FW").line.color
    # only the loss traces appear in the legend, one entry per run
    assert [t.meta for t in dash.figure.data if t.showlegend] == ["loss:BPTT+Adam", "loss:FW"]


def test_stop_button_ends_the_run_after_the_current_batch_at_the_iterate(data):
    dash = TrainingDashboard()
    method = get_method("fw_k5")
    state = {}

    def clicker(event, run):
        if event == "step" and run.step == 7:  # in the middle of the second outer step
            dash.controls["stop"].click()
        if event == "end":
            state["inner"] = run.optimizer.inner_step()

    h = fit(method, data, CONFIG, callbacks=[clicker, dash], progress=False)
    assert h["summary"]["steps"] == 7 and h["summary"]["stopped_early"] is True
    assert len(h["train"]["loss"]) == 7 and h["eval"]["step"][-1] == 7
    assert h["events"] == [{"step": 7, "kind": "stop"}]
    assert state["inner"] == 0  # parameters back at ω, no half-finished outer step
    assert dash.status()["Frank-Wolfe K=5"]["state"] == "stopped"
    # a later run under the same dashboard is not stopped by the old click
    h2 = dash.fit(method, data, CONFIG.replace(steps=6), name="again")
    assert h2["summary"]["steps"] == 6 and not h2["summary"]["stopped_early"]


def test_sliders_steer_the_run_from_the_next_outer_step_and_show_the_values_in_use(data):
    dash = TrainingDashboard(throttle_seconds=0.0)

    def mover(event, run):
        if event == "step" and run.step == 3:
            dash.controls["delta"].value = 0.05  # queued: FW K=5 is inside an outer step
            dash.controls["K"].value = 2

    method = get_method("fw_k5")
    h = fit(method, data, CONFIG.replace(delta=1e-3), callbacks=[mover, dash], progress=False)
    # applied at step 5, the first outer-step boundary after the move, as one event
    assert [e["step"] for e in h["events"]] == [5]
    values = h["events"][0]["values"]
    assert values["delta"] == 0.05 and values["K"] == 2
    assert values["lr"] == values["initial_lr"] == CONFIG.lr  # η kept
    op = h["optimizer"]
    assert op["step"] == [5, 7, 9, 11, 13, 15, 17, 19]
    assert op["delta"][0] == pytest.approx(1e-3) and op["delta"][1:] == [0.05] * 7
    # the sliders show what is in use (set by the user here, and equal after the change)
    assert dash.controls["delta"].value == pytest.approx(0.05)
    assert dash.controls["K"].value == 2


def test_sliders_follow_a_frank_wolfe_run_when_adam_runs_train_beside_it(data):
    dash = TrainingDashboard(throttle_seconds=0.0)
    seen = {}

    def look(event, run):
        if event == "step" and run.step == 2:
            seen["disabled"] = {n: dash.controls[n].disabled for n in ("delta", "K", "p", "lr")}
            seen["delta"] = dash.controls["delta"].value

    gate = threading.Event()

    def hold(event, run):  # keeps the Adam run alive (a target) while the FW run trains
        if event == "step" and run.step == 1:
            assert gate.wait(60)

    adam = dash.start("sgd", data, CONFIG.replace(steps=2), callbacks=[hold])
    while adam.step < 1:
        adam.wait(0.01)
    dash.fit("fw_k1", data, CONFIG.replace(steps=3, delta=2e-3), callbacks=[look])
    gate.set()
    dash.wait(60)
    assert seen["disabled"] == {"delta": False, "K": False, "p": False, "lr": False}
    assert seen["delta"] == pytest.approx(2e-3)


def test_slider_values_are_validated_and_set_names_checked(data):
    dash = TrainingDashboard()
    with pytest.raises(ValueError, match="unknown controls"):
        dash.set(eta=0.1)
    # a bad value is refused before any slider moves, by the rule every entry point applies
    with pytest.raises(ValueError, match=r"^K must be an integer >= 1, got 0; pass e.g. K=1$"):
        dash.set(delta=0.5, K=0)
    assert dash.controls["delta"].value == pytest.approx(1e-3)
    # without a run to steer, a move only says so
    dash.set(K=np.int64(3))
    assert dash.controls["K"].value == 3
    assert "no run is training" in dash._status.value

    def adam_mover(event, run):
        if event == "step" and run.step == 2:
            dash.set(K=4)  # Adam has no K: refused, the run goes on

    h = fit(get_method("sgd"), data, CONFIG, callbacks=[adam_mover, dash], progress=False)
    assert h["events"] == [] and h["summary"]["steps"] == 20
    assert "cannot set ['K'] on a 'adam' run" in html.unescape(dash._status.value)


def test_throttling_by_steps():
    data = load_task("adding", seq_len=8, n_train=500, n_test=50)
    dash = TrainingDashboard(throttle_steps=5, throttle_seconds=0.0)
    fit(get_method("sgd"), data, CONFIG, callbacks=[dash], progress=False)
    # begin + steps 5, 10, 15, 20 + the evaluation at the epoch's end + end
    assert dash.redraws == 7
    assert len(_trace(dash, "loss:BPTT+Adam").y) == 20  # the last redraw shows everything


def test_throttling_by_time_with_a_fake_clock():
    data = load_task("adding", seq_len=8, n_train=500, n_test=50)
    now = [0.0]
    dash = TrainingDashboard(throttle_steps=1, throttle_seconds=0.25, clock=lambda: now[0])
    redrawn_at = []
    original = dash.redraw

    def redraw():
        redrawn_at.append(now[0])
        original()

    dash.redraw = redraw

    def tick(event, run):
        if event == "step":
            now[0] = round(now[0] + 0.1, 10)  # each batch takes 0.1 s

    fit(get_method("sgd"), data, CONFIG, callbacks=[dash, tick], progress=False)
    # begin at t=0, then every third batch (0.3 s >= 0.25 s), the end always
    assert redrawn_at == [0.0, 0.3, 0.6, 0.9, 1.2, 1.5, 1.8, 2.0]
    gaps = np.diff(redrawn_at[:-1])  # the last redraw (end of the run) is never throttled
    assert np.all(gaps >= 0.25 - 1e-9)


def test_a_redraw_is_one_batched_message(data, monkeypatch):
    dash = TrainingDashboard(throttle_seconds=0.0, throttle_steps=2)
    sent = {"update": 0, "restyle": 0, "relayout": 0}
    for kind in sent:
        monkeypatch.setattr(
            dash.figure,
            f"_send_{kind}_msg",
            lambda *a, kind=kind, **k: sent.__setitem__(kind, sent[kind] + 1),
        )
    per_redraw = []
    original = dash.redraw

    def redraw():
        before = dict(sent)
        original()
        per_redraw.append({k: sent[k] - before[k] for k in sent})

    dash.redraw = redraw
    dash.fit("fw_k1", data, CONFIG.replace(steps=8))
    assert len(per_redraw) == 1 + 4 + 1 + 1  # begin, steps 2/4/6/8, evaluation, end
    # every redraw that changes data sends one plotly_update message, nothing piecemeal
    assert all(d["restyle"] == 0 and d["relayout"] == 0 for d in per_redraw)
    assert all(d["update"] == 1 for d in per_redraw[1:5])


def test_static_figure_has_the_traces_of_every_run(data):
    dash = TrainingDashboard(reference_loss=STALLED_MSE, title="adding task")
    h = dash.fit("fw_k1", data, CONFIG)
    dash.fit("sgd_clip", data, CONFIG)
    fig = dash.static_figure()
    assert isinstance(fig, go.Figure) and not isinstance(fig, go.FigureWidget)
    metas = [t.meta for t in fig.data]
    assert metas == [
        f"{s}:{n}" for n in ("Frank-Wolfe K=1", "BPTT+Adam+clip 1") for s in TRAINING_SERIES
    ]
    loss = next(t for t in fig.data if t.meta == "loss:Frank-Wolfe K=1")
    np.testing.assert_array_equal(np.asarray(loss.y, dtype=float), h["train"]["loss"])
    # the stalled level is drawn in the training and the test loss panels
    assert [s.y0 for s in fig.layout.shapes] == [STALLED_MSE, STALLED_MSE]
    assert fig.layout.title.text == "adding task"
    assert fig.layout.annotations[1].text == "test loss"


def test_the_reference_line_is_drawn_in_the_live_figure_before_any_data(data):
    dash = TrainingDashboard(reference_loss=STALLED_MSE)
    # the loss panel is still empty: the line must be there anyway
    assert [(s.y0, s.yref) for s in dash.figure.layout.shapes] == [(STALLED_MSE, "y")]
    dash.fit("sgd", data, CONFIG.replace(steps=3))  # a regression task: the test-loss panel too
    assert [(s.y0, s.yref) for s in dash.figure.layout.shapes] == [
        (STALLED_MSE, "y"),
        (STALLED_MSE, "y2"),
    ]


def test_classification_shows_accuracy():
    data = load_task("basicmotions")
    dash = TrainingDashboard(throttle_seconds=0.0)
    h = dash.fit("sgd", data, TrainConfig(hidden_size=8, batch_size=20, epochs=1))
    assert dash.figure.layout.annotations[1].text == "test accuracy (%)"
    np.testing.assert_allclose(_ys(dash, "metric:BPTT+Adam"), h["eval"]["test_acc"])
    assert dash.static_figure().layout.annotations[1].text == "test accuracy (%)"


def test_background_run_with_pause_resume_stop_buttons(data):
    dash = TrainingDashboard(throttle_seconds=0.0)
    cfg = CONFIG.replace(steps=10_000)  # ended by the stop button
    dash.controls["pause"].click()  # nothing to pause yet: explained
    assert "dashboard.start" in dash._status.value
    job = dash.start("fw_k5", data, cfg)
    assert list(dash.controls["target"].options) == ["all", "Frank-Wolfe K=5"]
    dash.controls["pause"].click()
    assert job.wait_paused(60)
    parked_at = job.step
    assert dash.status()["Frank-Wolfe K=5"]["state"] == "paused"
    dash.set(delta=0.02)
    assert dash.status()["Frank-Wolfe K=5"]["pending"] == {"delta": 0.02}
    dash.controls["resume"].click()
    while job.step < parked_at + 12 and job.running:
        job.wait(0.01)
    dash.controls["stop"].click()
    histories = dash.wait(timeout=120)
    h = histories["Frank-Wolfe K=5"]
    assert h["summary"]["stopped_early"] and h["summary"]["steps"] < 10_000
    kinds = [e["kind"] for e in h["events"]]
    assert kinds == ["set", "stop"]
    assert h["events"][0]["step"] % 5 == 0 and h["events"][0]["step"] >= parked_at
    assert h["events"][1]["step"] == h["summary"]["steps"]
    assert dash.status()["Frank-Wolfe K=5"]["state"] == "stopped"
    assert len(_trace(dash, "loss:Frank-Wolfe K=5").y) == h["summary"]["steps"]


def test_in_a_kernel_loop_a_background_run_is_drawn_by_the_loop_thread(data):
    # a Jupyter kernel runs cells inside an asyncio loop; widgets are then only touched there
    async def kernel():
        dash = TrainingDashboard(throttle_seconds=0.0)
        drawn_by = []
        original = dash.redraw

        def redraw():
            drawn_by.append(threading.get_ident())
            original()

        dash.redraw = redraw
        job = dash.start("fw_k1", data, CONFIG)
        while not job.done:  # the kernel is idle: the loop runs the scheduled redraws
            await asyncio.sleep(0.01)
        for _ in range(10):
            await asyncio.sleep(0.01)
        return dash, drawn_by

    dash, drawn_by = asyncio.run(kernel())
    assert drawn_by and set(drawn_by) == {threading.get_ident()}
    assert len(_trace(dash, "loss:Frank-Wolfe K=1").y) == 20
    assert dash.status()["Frank-Wolfe K=1"]["state"] == "done"


def test_an_error_in_a_background_run_is_shown_and_raised_by_wait(data):
    dash = TrainingDashboard()

    def boom(event, run):
        if event == "step" and run.step == 3:
            raise ArithmeticError("boom at step 3")

    dash.start("sgd", data, CONFIG, callbacks=[boom])
    with pytest.raises(ArithmeticError, match="boom at step 3"):
        dash.wait(timeout=60)
    assert dash.status()["BPTT+Adam"]["state"] == "error"
    assert "ArithmeticError: boom at step 3" in dash._status.value


def test_constructor_validates():
    with pytest.raises(ValueError, match="metric"):
        TrainingDashboard(metric="accuracy")
    with pytest.raises(ValueError, match="throttle_steps"):
        TrainingDashboard(throttle_steps=0)
    with pytest.raises(ValueError, match="throttle_seconds"):
        TrainingDashboard(throttle_seconds=-1.0)
    with pytest.raises(ValueError, match="throttle_seconds"):
        TrainingDashboard(throttle_seconds=math.nan)


def test_displaying_the_dashboard_displays_its_widget(monkeypatch):
    import fwlab.widgets._display as mod

    dash = TrainingDashboard()
    shown = []
    monkeypatch.setattr(mod, "display", lambda bundle, raw: shown.append(bundle))
    dash._ipython_display_()
    (bundle,) = shown
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == dash.widget.model_id
    assert (
        bundle["text/plain"].startswith("[TrainingDashboard:")
        and "VBox" not in bundle["text/plain"]
    )


def test_a_figure_the_page_stopped_following_is_replaced_with_every_run_drawn(data):
    dash = TrainingDashboard(throttle_seconds=0.0, reference_loss=STALLED_MSE)
    clock = Clock()
    dash._acks._clock = clock
    old = dash.figure
    # a page drew it once (edit id 0), then drops every update: the first run's 20 batches go
    # unacknowledged; after 3 s the next redraw draws a new figure
    acknowledge(old, 0)
    fit(get_method("sgd"), data, CONFIG, callbacks=[dash], progress=False)
    assert dash.figure is old and dash.figures_replaced == 0
    clock.t += 5.0
    h = fit(get_method("fw_k5"), data, CONFIG, callbacks=[dash], progress=False)
    new = dash.figure
    assert new is not old and dash.figures_replaced == 1 and old.comm is None
    assert dash.widget.children[-1] is new and old not in dash.widget.children
    assert "drawn anew (1×)" in dash._status.value
    # the new figure holds both runs, and later redraws update it like the first figure
    np.testing.assert_array_equal(_ys(dash, "loss:Frank-Wolfe K=5"), h["train"]["loss"])
    assert len(_ys(dash, "loss:BPTT+Adam")) == 20
    static = dash.static_figure()
    assert [t.meta for t in new.data] == [t.meta for t in static.data]
    assert len(new.layout.shapes) == len(static.layout.shapes) >= 1  # the reference line


def test_the_status_line_follows_pause_resume_stop_without_a_redraw(data):
    # in a kernel: the training thread parks (no more steps, so no redraw) and the status line
    # still says "paused", and "training" again once resumed
    async def kernel():
        dash = TrainingDashboard(throttle_seconds=0.0)
        job = dash.start("sgd", data, CONFIG.replace(steps=100_000))
        while job.step < 3:
            await asyncio.sleep(0.01)
        dash.controls["pause"].click()
        assert "<td>pausing</td>" in dash._status.value  # the click's own refresh
        while not job.parked:
            await asyncio.sleep(0.01)
        for _ in range(5):
            await asyncio.sleep(0.01)
        redraws, step = dash.redraws, job.step
        assert "<td>paused</td>" in dash._status.value and f"step {step}<" in dash._status.value
        dash.controls["resume"].click()
        while job.parked:
            await asyncio.sleep(0.01)
        for _ in range(5):
            await asyncio.sleep(0.01)
        paused_redraws = redraws
        assert "<td>training</td>" in dash._status.value
        dash.controls["stop"].click()
        await dash.wait_async(timeout=120)
        return dash, paused_redraws

    dash, paused_redraws = asyncio.run(kernel())
    assert "<td>stopped</td>" in dash._status.value and dash.redraws > paused_redraws


def test_a_queued_change_shows_until_the_run_applies_it(data):
    async def kernel():
        dash = TrainingDashboard(throttle_seconds=0.0)
        job = dash.start("fw_k5", data, CONFIG.replace(steps=100_000))
        dash.controls["pause"].click()
        while not job.parked:
            await asyncio.sleep(0.01)
        dash.set(delta=0.02)
        assert "queued δ = 0.02" in dash._status.value
        dash.controls["resume"].click()
        while job.pending():
            await asyncio.sleep(0.01)
        for _ in range(5):
            await asyncio.sleep(0.01)
        shown = dash._status.value
        dash.controls["stop"].click()
        await dash.wait_async(timeout=120)
        return shown

    shown = asyncio.run(kernel())
    assert "δ = 0.02" in shown and "queued δ" not in shown.split("</table>")[0]


def test_wait_async_lets_the_loop_handle_the_controls_while_it_waits(data):
    # what "Run All" and Voila need: the cell awaits the runs, the controls act meanwhile
    async def kernel():
        dash = TrainingDashboard(throttle_seconds=0.0)
        job = dash.start("sgd", data, CONFIG.replace(steps=100_000))

        async def user():
            while job.step < 3:
                await asyncio.sleep(0.01)
            dash.controls["pause"].click()
            while not job.parked:
                await asyncio.sleep(0.01)
            parked_at = job.step
            await asyncio.sleep(0.3)
            assert job.step == parked_at
            dash.controls["stop"].click()
            return parked_at

        clicks = asyncio.ensure_future(user())
        histories = await dash.wait_async(timeout=120)
        return histories, await clicks

    histories, parked_at = asyncio.run(kernel())
    assert histories["BPTT+Adam"]["summary"]["steps"] == parked_at
    with pytest.raises(TimeoutError, match="still training"):
        asyncio.run(_wait_async_times_out(data))


async def _wait_async_times_out(data):
    dash = TrainingDashboard()
    job = dash.start("sgd", data, CONFIG.replace(steps=100_000))
    try:
        await dash.wait_async(timeout=0.2)
    finally:
        job.stop()
        job.join(120)


def test_wait_async_reraises_a_runs_error(data):
    def boom(event, run):
        if event == "step" and run.step == 2:
            raise ArithmeticError("boom at step 2")

    async def kernel():
        dash = TrainingDashboard()
        job = dash.start("sgd", data, CONFIG, callbacks=[boom])
        try:
            await dash.wait_async(timeout=120)
        finally:
            assert job.done and job.step == 2  # awaited to the run's end, not beyond

    with pytest.raises(ArithmeticError, match="boom at step 2"):
        asyncio.run(kernel())


def test_a_page_that_drew_the_figure_with_its_traces_is_never_judged_gone(data):
    # a live page acknowledges its first drawing and then no update (module docstring of
    # widgets/_page_acks.py): that silence is no reason to replace the figure
    dash = TrainingDashboard(throttle_seconds=0.0)
    clock = Clock()
    dash._acks._clock = clock
    fig = dash.figure
    acknowledge(fig, 0, traces=1)  # drew the empty figure's probe trace: its model has the data
    dash.fit("sgd", data, CONFIG)
    clock.t += 3600.0
    dash.fit("fw_k1", data, CONFIG)
    assert dash.figure is fig and dash.figures_replaced == 0
    assert len(_trace(dash, "loss:Frank-Wolfe K=1").y) == 20


def test_the_bottom_panels_x_titles_are_two_lines_that_fit_side_by_side():
    dash = TrainingDashboard()
    for fig in (dash.figure, dash.static_figure()):
        titles = [fig.layout[f"xaxis{i}"].title.text for i in (4, 5, 6)]
        assert titles == ["batches<br>(= gradient evaluations)"] * 3
        assert fig.layout.xaxis.title.text is None  # the top row has none
