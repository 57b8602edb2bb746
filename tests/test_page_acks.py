"""widgets/_page_acks.py: a live figure whose page stopped acknowledging its updates is drawn
anew, in every widget with a live figure; a figure no page drew (headless) never is."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
from widget_tools import Clock, acknowledge

from widgets._page_acks import PageAcks
from widgets.step_zoom import LmoExplorer, StepZoomExplorer


def test_acks_follow_the_oldest_unacknowledged_update():
    clock = Clock()
    figure = go.FigureWidget()
    acks = PageAcks(figure, grace_s=3.0, clock=clock)
    acks.sent(1)
    clock.t = 10.0
    assert not acks.stopped_listening()  # never drawn by a page: headless
    acknowledge(figure, 0)
    assert acks.drawn and acks.acked == 0 and acks.stopped_listening()  # update 1: 10 s old
    acknowledge(figure, 1)
    assert not acks.stopped_listening()
    acks.sent(2)
    clock.t = 12.0
    acks.sent(3)  # the oldest unacknowledged one counts
    clock.t = 13.5
    assert acks.stopped_listening()
    acknowledge(figure, 3)  # a later acknowledgement covers the earlier updates
    assert not acks.stopped_listening() and acks.acked == 3
    figure._js2py_traceDeltas = None  # plotly resets the trait after reading it: ignored
    assert acks.acked == 3
    with pytest.raises(ValueError, match="grace_s must be > 0"):
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
