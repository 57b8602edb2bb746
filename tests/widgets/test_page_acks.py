"""widgets/_page_acks.py: a live figure whose page stopped acknowledging its updates is drawn
anew, in every widget with a live figure; a figure no page drew (headless) never is."""

from __future__ import annotations

import asyncio

import plotly.graph_objects as go
import pytest
from fwlab.widgets._page_acks import PageAcks
from fwlab.widgets.step_zoom import LmoExplorer, StepZoomExplorer

from tests.widget_tools import Clock, acknowledge


def test_acks_follow_the_oldest_unacknowledged_update():
    clock = Clock()
    figure = go.FigureWidget()
    acks = PageAcks(figure, grace_s=3.0, clock=clock)
    acks.sent(1)
    clock.t = 10.0
    assert not acks.stopped_listening()  # never drawn by a page: headless
    acknowledge(figure, 0)  # drawn 10 s after the figure was made: the page gets 20 s
    assert acks.drawn and acks.acked == 0 and acks.patience_s() == 20.0
    assert not acks.stopped_listening()
    clock.t = 20.5
    assert acks.stopped_listening()  # update 1: 20.5 s old
    acknowledge(figure, 1)
    assert not acks.stopped_listening()
    acks.sent(2)
    clock.t = 30.0
    acks.sent(3)  # the oldest unacknowledged one counts
    clock.t = 41.0
    assert acks.stopped_listening()
    acknowledge(figure, 3)  # a later acknowledgement covers the earlier updates
    assert not acks.stopped_listening() and acks.acked == 3
    figure._js2py_traceDeltas = None  # plotly resets the trait after reading it: ignored
    assert acks.acked == 3
    with pytest.raises(
        ValueError, match="^grace_s must be a finite number > 0, got 0; pass e.g. grace_s=1$"
    ):
        PageAcks(figure, grace_s=0)


@pytest.mark.parametrize("make", [
    lambda: StepZoomExplorer("himmelblau", delta=0.5, K=10, k=2),
    lambda: LmoExplorer(),
], ids=["step_zoom", "lmo"])  # fmt: skip
def test_the_notebook_01_widgets_draw_a_new_figure_when_the_page_stopped_following(make):
    w = make()
    clock = Clock()
    w._acks._clock = clock
    old = w.figure
    name, value = ("k", 5) if isinstance(w, StepZoomExplorer) else ("direction", 200.0)
    w.controls[name].value = value
    assert w.figure is old  # headless so far
    acknowledge(old, 0)
    w.controls["delta"].value = 0.3
    clock.t = 4.0
    w.controls[name].value = value + 1
    new = w.figure
    assert new is not old and w.figures_replaced == 1 and old.comm is None
    assert new in w.widget.children and old not in w.widget.children
    expected = w.static_figure()
    assert new.layout.title.text == expected.layout.title.text
    assert [t.meta for t in new.data] == [t.meta for t in expected.data]
    w.controls["delta"].value = 0.4  # the new figure is updated like the first one
    assert w.figure is new and new.layout.title.text == w.static_figure().layout.title.text


def test_in_a_kernel_loop_only_the_time_the_loop_was_free_counts():
    # a cell that blocks the loop keeps every acknowledgement unread: that is no silence
    async def kernel():
        clock = Clock()
        figure = go.FigureWidget()
        acks = PageAcks(figure, grace_s=3.0, clock=clock)
        acknowledge(figure, 0)
        acks.sent(1)
        clock.t = 60.0  # a minute in a blocking cell: no tick ran
        blocked = acks.stopped_listening()
        await asyncio.sleep(0.3)  # one tick: counts at most 0.5 s of the minute
        after_one_tick = acks._heard
        for _ in range(12):  # the loop is free: 0.3 s per tick counts
            clock.t += 0.3
            await asyncio.sleep(0.27)
        return blocked, after_one_tick, acks.stopped_listening(), acks

    blocked, after_one_tick, stopped, acks = asyncio.run(kernel())
    assert not blocked  # the kernel could not read an acknowledgement: no silence
    assert after_one_tick == pytest.approx(0.5)
    assert stopped and acks._heard > 3.0


def test_a_drawing_with_the_figures_traces_proves_the_page_follows_for_good():
    clock = Clock()
    figure = go.FigureWidget(go.Figure([go.Scatter(y=[1, 2]), go.Scatter(y=[2, 1])]))
    acks = PageAcks(figure, grace_s=3.0, clock=clock)
    acknowledge(figure, 0, traces=2)
    assert acks.drawn and acks.following
    for t in (10.0, 1e3, 1e6):  # updates never acknowledged (what a live page does)
        figure.data[0].y = [t, t]
        acks.sent()
        clock.t = t
        assert not acks.stopped_listening()
    dead = PageAcks(go.FigureWidget(go.Figure(go.Scatter(y=[1]))), grace_s=3.0, clock=clock)
    acknowledge(dead._figure, 0)  # drew no trace: its model never got the figure
    dead.sent(1)
    clock.t += 4.0
    assert dead.drawn and not dead.following and dead.stopped_listening()


def test_a_page_that_drew_the_figure_slowly_is_given_twice_that_long():
    clock = Clock()
    figure = go.FigureWidget(go.Figure(go.Scatter(y=[1, 2])))
    acks = PageAcks(figure, grace_s=3.0, clock=clock)
    figure.data[0].y = [2, 3]
    acks.sent()  # at t = 0
    clock.t = 10.0
    acknowledge(figure, 0)  # the first drawing took 10 s
    assert acks.first_draw_s == 10.0 and acks.patience_s() == 20.0
    clock.t = 19.0
    assert not acks.stopped_listening()  # slow, as slow as it drew: not gone
    clock.t = 21.0
    assert acks.stopped_listening()
    quick = PageAcks(go.FigureWidget(), grace_s=3.0, clock=clock)
    acknowledge(quick._figure, 0)
    assert quick.patience_s() == 3.0  # drew at once: grace_s
