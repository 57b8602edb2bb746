"""TrajectoryExplorer: controls drive the FigureWidget; clicks move the start; it is fast."""

from __future__ import annotations

import math
import statistics
import time

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from fwlab.widgets.explorer import TrajectoryExplorer
from plotly.callbacks import Points

from fwlab.plots import TRAJECTORY_TRACES
from fwlab.toy import get_loss
from tests.widget_tools import Clock, acknowledge


@pytest.fixture(scope="module")
def ex():
    return TrajectoryExplorer("himmelblau", K=4, steps=30, lr=0.6, show_gd=True)


def _trace(ex, key):
    return next(t for t in ex.figure.data if t.meta == key)


def test_public_attributes(ex):
    assert isinstance(ex.figure, go.FigureWidget)
    assert isinstance(ex.widget, W.VBox) and ex.figure in ex.widget.children
    assert {"delta", "K", "p", "lr", "steps", "loss", "x0", "y0"} <= set(ex.controls)
    assert {"show_gd", "show_ngd", "show_adam", "gd_lr"} <= set(ex.controls)
    assert tuple(t.meta for t in ex.figure.data) == TRAJECTORY_TRACES
    assert [lbl for lbl, _ in ex.controls["p"].options] == ["1", "1.5", "2", "3", "∞"]
    assert ex.controls["p"].options[-1][1] == math.inf
    assert ex.result.loss == "himmelblau" and ex.result.inner.shape == (30, 4, 2)


@pytest.mark.parametrize(
    "name, value, check",
    [
        ("K", 7, lambda ex: ex.result.inner.shape == (ex.result.steps, 7, 2)),
        ("delta", 0.125, lambda ex: ex.result.delta == 0.125),
        ("p", math.inf, lambda ex: ex.result.p == math.inf),
        ("lr", 1.5, lambda ex: ex.result.lr == 1.5),
        ("steps", 12, lambda ex: ex.result.iterates.shape == (13, 2)),
    ],
)
def test_setting_a_slider_from_python_changes_the_figure(ex, name, value, check):
    before_path = np.array(_trace(ex, "path:fw").x, dtype=float)
    before_inner = np.array(_trace(ex, "inner").x, dtype=float)
    ex.controls[name].value = value
    assert check(ex)
    after_path = np.array(_trace(ex, "path:fw").x, dtype=float)
    after_inner = np.array(_trace(ex, "inner").x, dtype=float)
    changed = before_path.shape != after_path.shape or not np.array_equal(before_path, after_path)
    changed |= before_inner.shape != after_inner.shape or not np.array_equal(
        before_inner, after_inner
    )
    assert changed
    # what is drawn is the new result
    np.testing.assert_array_equal(after_path, ex.result.iterates[:, 0])
    np.testing.assert_array_equal(after_inner, ex.result.inner.reshape(-1, 2)[:, 0])


def test_clicking_on_the_contour_moves_the_start_point(ex):
    contour = _trace(ex, "contour")
    points = Points(point_inds=[[10, 20]], xs=[1.25], ys=[-2.5], trace_name="", trace_index=0)
    # the registered handler is the one plotly calls on a click in the browser
    assert contour._click_callbacks
    contour._dispatch_on_click(points, None)
    assert (ex.controls["x0"].value, ex.controls["y0"].value) == (1.25, -2.5)
    assert tuple(ex.result.iterates[0]) == (1.25, -2.5)
    assert tuple(_trace(ex, "start").x) == (1.25,) and tuple(_trace(ex, "start").y) == (-2.5,)
    assert _trace(ex, "path:fw").x[0] == 1.25
    assert tuple(ex.baselines["adam"].iterates[0]) == (1.25, -2.5)


def test_typing_a_start_point_recomputes(ex):
    ex.controls["y0"].value = 0.5
    assert ex.result.iterates[0, 1] == 0.5


def test_baseline_toggles_and_settings(ex):
    ex.controls["show_adam"].value = True
    assert _trace(ex, "path:adam").visible is True
    ex.controls["show_adam"].value = False
    assert _trace(ex, "path:adam").visible is False
    ex.set(lr=0.5, delta=0.2)
    # NGD moves ηδ; Adam runs with lr = ηδ; GD with its own lr
    assert ex.baselines["ngd"].lr * ex.baselines["ngd"].delta == pytest.approx(0.1, rel=0.03)
    assert ex.baselines["adam"].lr == pytest.approx(ex.result.lr * ex.result.delta)
    assert ex.baselines["gd"].lr == pytest.approx(ex.controls["gd_lr"].value)


def test_set_validates_names_and_p(ex):
    with pytest.raises(ValueError, match="unknown controls"):
        ex.set(eta=1.0)
    with pytest.raises(ValueError, match="p must be one of"):
        ex.set(p=4)
    before = {name: c.value for name, c in ex.controls.items()}
    with pytest.raises(
        ValueError, match=r"^K must be an integer in \[1, 30\] \(the slider's range\)"
    ):
        ex.set(loss="quadratic", delta=0.25, K=5.0)  # every value checked before any control moves
    assert {name: c.value for name, c in ex.controls.items()} == before
    ex.set(K=np.int64(7), steps=np.int32(20))  # numpy integers, as everywhere
    assert ex.result.K == 7 and len(ex.result.losses) == 21


@pytest.mark.parametrize(
    "name, value, match",
    [
        ("delta", 0.123, "delta must be one of the δ slider's values, got 0.123: the nearest "
                         "are 0.1 and 0.125"),
        ("delta", 0.501, "the nearest are 0.5 and 0.6"),
        ("delta", 4.0, r"\(0.001 ... 3\), got 4.0: the nearest is 3"),
        ("lr", 0.33, "lr must be one of the η slider's values, got 0.33: the nearest are 0.3 "
                     "and 0.35"),
    ],
)  # fmt: skip
def test_delta_and_lr_take_only_the_values_their_sliders_show(name, value, match):
    with pytest.raises(ValueError, match=match):
        TrajectoryExplorer("quadratic", steps=3, **{name: value})


def test_the_sliders_hold_the_values_the_lesson_uses_exactly():
    """ "K = 1: double η, halve δ" gives the same path on the sliders themselves (the δ log
    slider used to read 0.5 as 0.501 and 0.25 as 0.251: F_T 6.076 vs 6.031)."""
    ex = TrajectoryExplorer("rosenbrock", K=1, lr=0.5, delta=0.5, steps=100)
    options = {name: dict(ex.controls[name].options) for name in ("delta", "lr")}
    for text in ("0.25", "0.5", "1", "2", "3", "0.1", "0.125", "0.3"):
        assert options["delta"][text] == float(text)
    for text in ("0.05", "0.15", "0.5", "1", "1.5", "2"):
        assert options["lr"][text] == float(text)
    before = ex.result.iterates
    ex.controls["lr"].value = options["lr"]["1"]  # as a page sets it: an option's value
    ex.controls["delta"].value = options["delta"]["0.25"]
    assert (ex.result.lr, ex.result.delta) == (1.0, 0.25)
    assert np.array_equal(ex.result.iterates, before)
    ngd = next(t for t in ex.figure.data if t.meta == "path:ngd")
    assert np.array_equal(np.asarray(ngd.x, float), before[:, 0])  # NGD drawn as FW K = 1


def test_switching_the_loss_resets_start_window_and_contour(ex):
    z_before = np.array(_trace(ex, "contour").z)
    ex.controls["loss"].value = "rastrigin"
    spec = get_loss("rastrigin")
    assert (ex.controls["x0"].value, ex.controls["y0"].value) == spec.start
    assert ex.result.loss == "rastrigin" and tuple(ex.result.iterates[0]) == spec.start
    assert tuple(ex.figure.layout.xaxis.range) == spec.window[0]
    assert not np.array_equal(np.array(_trace(ex, "contour").z), z_before)
    assert "Rastrigin" in ex.figure.layout.title.text


def test_static_figure_matches_the_widget(ex):
    fig = ex.static_figure()
    assert isinstance(fig, go.Figure) and not isinstance(fig, go.FigureWidget)
    for key in ("path:fw", "inner", "balls", "gap:last"):
        np.testing.assert_array_equal(
            np.array(next(t for t in fig.data if t.meta == key).y, dtype=float),
            np.array(_trace(ex, key).y, dtype=float),
        )


def test_recompute_and_redraw_is_fast_compared_with_a_torch_optimizer():
    ex = TrajectoryExplorer(
        "rosenbrock", K=10, steps=100, lr=0.5, show_gd=True, show_ngd=True, show_adam=True
    )
    times = [ex.recompute() for _ in range(15)]
    median = statistics.median(times)
    print(f"\nrecompute + redraw (FW 100 x K=10 + 3 baselines): median {median * 1e3:.2f} ms")

    # the same FW trajectory through autograd and the torch optimizer
    from fwlab.optim import FrankWolfe

    loss = get_loss("rosenbrock")
    w = torch.nn.Parameter(torch.tensor(loss.start, dtype=torch.float64))
    opt = FrankWolfe([w], lr=0.5, delta=ex.result.delta, K=10, p=2.0, scope="global")

    def closure():
        opt.zero_grad()
        f = loss.at(w)
        f.backward()
        return f

    t0 = time.perf_counter()
    its = [w.detach().clone()]
    for _ in range(100):
        opt.step(closure)
        its.append(w.detach().clone())
    slow = time.perf_counter() - t0
    print(f"torch FrankWolfe + autograd, same trajectory alone: {slow * 1e3:.1f} ms")
    np.testing.assert_allclose(ex.result.iterates, torch.stack(its).numpy(), atol=1e-10)
    assert slow > 5 * median


def test_displaying_the_explorer_displays_its_widget(ex, monkeypatch):
    import fwlab.widgets._display as mod

    shown = []
    monkeypatch.setattr(mod, "display", lambda bundle, raw: shown.append(bundle))
    ex._ipython_display_()
    (bundle,) = shown
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget.model_id
    # headless front ends show a sentence, not VBox(children=(HBox(...
    assert bundle["text/plain"].startswith("[TrajectoryExplorer:")
    assert "static_figure()" in bundle["text/plain"] and "VBox" not in bundle["text/plain"]


def test_delta_decay_control_shrinks_the_balls_and_stops_the_bounce():
    ex = TrajectoryExplorer("rosenbrock", K=5, p="inf", steps=100)
    assert ex.controls["delta_decay"].value == 1.0
    fixed = ex.result.iterates[-20:]
    assert len({tuple(np.round(x, 9)) for x in fixed}) == 2  # bounces between two points
    ex.set(delta_decay=0.97)
    assert ex.result.delta_decay == 0.97 and ex.baselines["ngd"].delta_decay == 0.97
    assert np.allclose(ex.result.deltas, ex.result.delta * 0.97 ** np.arange(100))
    assert len({tuple(np.round(x, 9)) for x in ex.result.iterates[-20:]}) == 20
    assert "δ_t = δ·0.97^(t−1)" in ex.figure.layout.title.text
    with pytest.raises(ValueError, match=r"delta_decay must be a number in \[0.9, 1\]"):
        ex.set(delta_decay=0.5)
    with pytest.raises(ValueError, match="delta_decay"):
        TrajectoryExplorer("rosenbrock", delta_decay=1.2)


def test_a_figure_no_page_drew_is_never_replaced(ex):
    clock = Clock()
    ex._acks._clock = clock
    figure = ex.figure
    for i in range(3):
        ex.controls["K"].value = 2 + i
        clock.t += 60.0
    assert ex.figure is figure and ex.figures_replaced == 0  # headless: nothing listens, ever


def test_a_page_that_acknowledges_keeps_its_figure(ex):
    clock = Clock()
    ex._acks._clock = clock
    figure = ex.figure
    acknowledge(figure, 0)
    for i in range(3):
        ex.controls["K"].value = 2 + i
        clock.t += 60.0
        acknowledge(figure, figure._last_trace_edit_id)
    assert ex.figure is figure and ex.figures_replaced == 0
    assert "drawn anew" not in ex._status.value


def test_a_figure_the_page_stopped_following_is_replaced_with_the_current_state(ex):
    clock = Clock()
    ex._acks._clock = clock
    old = ex.figure
    acknowledge(old, 0)  # drawn once, then every update is dropped by the page
    ex.controls["K"].value = 3
    clock.t += 2.0  # within the grace period: wait
    ex.controls["K"].value = 4
    assert ex.figure is old
    clock.t += 2.0  # the first unacknowledged update is 4 s old
    ex.controls["delta"].value = 0.2
    new = ex.figure
    assert new is not old and ex.figures_replaced == 1
    assert ex.widget.children[-1] is new and old not in ex.widget.children
    assert old.comm is None  # closed: the page drops its view
    assert new.layout.title.text == ex._title() and "δ = 0.2, K = 4" in ex._title()
    assert {t.meta for t in new.data} == {t.meta for t in old.data}
    assert "drawn anew (1×)" in ex._status.value
    # the new figure is followed like the first one: clicks move the start, updates go to it
    ex._on_contour_click(None, Points(point_inds=[0], xs=[0.5], ys=[0.25]), None)
    assert ex._start() == (0.5, 0.25) and ex.figures_replaced == 1
    acknowledge(new, new._last_trace_edit_id)
    ex.controls["K"].value = 6
    clock.t += 60.0
    acknowledge(new, new._last_trace_edit_id)
    ex.controls["K"].value = 7
    assert ex.figure is new and ex.figures_replaced == 1
