"""Does the page still listen to a ``go.FigureWidget``? Its acknowledgements say.

A FigureWidget's page view sends back plotly's ``_js2py_traceDeltas`` message (one delta per
trace it drew, and an edit id) when it first draws the figure. A page can stop listening on a
slow or busy machine: anywidget gives each widget 2 s to load its JavaScript module and then
drops every message to it, and each FigureWidget carries plotly's 5 MB bundle (README:
Troubleshooting). A new FigureWidget is a new widget, with a new 2 s: :class:`RecoveringFigure`
gives a widget the figure that replaces itself when its page stopped listening (the explorer,
the step zoom, the LMO widget, the dashboard).

What the page sends, measured in JupyterLab 4.6 with plotly 7.1, anywidget 0.11 and ipywidgets
8.1 (the websocket frames read in Chromium): a view acknowledges its first drawing and then
nothing more: 16 updates of a live, idle page (``batch_update``, restyle, animate, deleteTraces)
drew and sent no acknowledgement back. A page whose model missed anywidget's deadline
acknowledges its first drawing too, with no trace in it: it never got the figure's data, and
drops every update. So:

* an acknowledgement with trace deltas proves that the page's model holds the figure and follows
  its updates, for good (anywidget decides once per model whether it initialised);
* only a page that drew the figure without proving that is judged by time: an update that goes
  unacknowledged longer than ``grace_s`` (:meth:`PageAcks.stopped_listening`).

Counting the silence after a first drawing against every page replaced live figures that were
following perfectly: 4 replacements in a 2-minute live training run in JupyterLab.

The kernel reads acknowledgements on its event loop, between cells or while a cell awaits. A cell
that blocks (``dashboard.wait()``, a ``fit(...)`` drawing a live figure) keeps them unread, so
inside a running loop only the time the loop was free to read them counts towards ``grace_s`` (a
tick every 0.25 s; a longer gap between ticks counts 0.5 s). A page is also given at least twice
the time it took to draw the figure first (from the figure's creation, at most 120 s): on a
machine so loaded that the first drawing took 10 s, a page is slow, not gone.

Example:
    >>> import plotly.graph_objects as go
    >>> now = [0.0]
    >>> acks = PageAcks(go.FigureWidget(), grace_s=3.0, clock=lambda: now[0])
    >>> acks.stopped_listening()      # no page view has drawn it (headless): never "stopped"
    False
    >>> acks.acknowledged(0)          # a page view drew it (edit id 0), with no trace
    >>> acks.sent(1)                  # update 1 sent at t = 0 s ...
    >>> now[0] = 10.0
    >>> acks.stopped_listening()      # ... and not acknowledged at t = 10 s
    True
    >>> acks.acknowledged(1, traces=2)  # a drawing with the figure's traces: it follows
    >>> acks.sent(2); now[0] = 1e6; acks.stopped_listening()
    False
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from fwlab.util.validate import positive_float

_TICK_S = 0.25  # how often a running loop checks it is free (see the module docstring)
_TICK_CAP_S = 0.5  # a longer gap between ticks: the loop was blocked, count this much of it
_GRACE_CAP_S = 120.0  # the most a slow page's own pace may stretch grace_s to
PROBE = "page-probe"  # meta of the empty trace a figure without traces gets (RecoveringFigure)


class PageAcks:
    """Watch one FigureWidget's acknowledgements.

    Args:
        figure: the ``go.FigureWidget`` (observed; nothing of it is changed).
        grace_s: how long an update may go unacknowledged before a page that has not proved
            it follows counts as no longer listening (keep it seconds, not less); inside a
            running event loop, seconds the loop was free (module docstring).
        clock: seconds, monotonic (tests pass a fake one).

    Attributes:
        drawn: a page view has drawn the figure. ``following``: a page view acknowledged a
        drawing with the figure's traces in it, so it follows the figure for good.
        ``first_draw_s``: seconds from this object's creation to the first drawing.
    """

    def __init__(
        self, figure: Any, *, grace_s: float = 3.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        grace_s = positive_float("grace_s", grace_s)  # seconds
        self.grace_s = float(grace_s)
        self._clock = clock
        self.drawn = False
        self.following = False
        self.acked = -1  # the highest edit id a page view acknowledged
        self._created = clock()
        self.first_draw_s: float | None = None
        self._oldest_unacked: tuple[int, float] | None = None
        self._heard = 0.0  # loop-free seconds since the oldest unacknowledged update was sent
        self._last_tick = 0.0
        self._ticking = False
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # plain Python: wall-clock time counts
            self._loop = None
        self._figure = figure
        figure.observe(self._on_trace_deltas, names="_js2py_traceDeltas")

    def _on_trace_deltas(self, change: Mapping[str, Any]) -> None:
        msg = change["new"]
        if isinstance(msg, Mapping) and msg.get("trace_edit_id") is not None:
            self.acknowledged(int(msg["trace_edit_id"]), traces=len(msg.get("trace_deltas") or ()))

    def acknowledged(self, edit_id: int, traces: int = 0) -> None:
        """A page view drew the figure up to update ``edit_id`` (0: its first drawing), with
        ``traces`` traces in it."""
        if not self.drawn:
            self.first_draw_s = max(0.0, self._clock() - self._created)
        self.drawn = True
        self.following = self.following or traces > 0
        self.acked = max(self.acked, edit_id)
        if self._oldest_unacked is not None and self._oldest_unacked[0] <= self.acked:
            self._oldest_unacked = None

    def sent(self, edit_id: int | None = None) -> None:
        """Update ``edit_id`` was sent to the page now (``None``: the last update the figure
        sent; plotly numbers each update)."""
        if edit_id is None:
            edit_id = self._figure._last_trace_edit_id
        if edit_id > self.acked and self._oldest_unacked is None:
            self._oldest_unacked = (edit_id, self._clock())
            self._heard, self._last_tick = 0.0, self._clock()
            if self._loop is not None and not self._ticking and not self._loop.is_closed():
                self._ticking = True
                self._loop.call_later(_TICK_S, self._tick)

    def _tick(self) -> None:
        """On the loop: count the time since the last tick, at most ``_TICK_CAP_S``."""
        now = self._clock()
        self._heard += min(now - self._last_tick, _TICK_CAP_S)
        self._last_tick = now
        self._ticking = self._oldest_unacked is not None and not self._loop.is_closed()
        if self._ticking:
            self._loop.call_later(_TICK_S, self._tick)

    def stopped_listening(self) -> bool:
        """A page view drew the figure without proving it follows it (no trace in any of its
        acknowledgements), and an update has waited more than :meth:`patience_s` for one (in
        a running loop: seconds of the loop's free time)."""
        if self.following or not self.drawn or self._oldest_unacked is None:
            return False
        if self._loop is None:
            return self._clock() - self._oldest_unacked[1] > self.patience_s()
        return self._heard > self.patience_s()

    def patience_s(self) -> float:
        """``grace_s``, or twice the page's first drawing time if longer (at most 120 s)."""
        drawn_in = 2.0 * (self.first_draw_s or 0.0)
        return max(self.grace_s, min(drawn_in, _GRACE_CAP_S))


class RecoveringFigure:
    """Mixin for a widget whose ``figure`` (a ``go.FigureWidget``) sits in the ipywidgets box
    ``widget`` and whose ``static_figure()`` draws its current state.

    ``_new_figure(fig)`` makes ``figure`` (with ``_traces``: meta → trace, and its
    :class:`PageAcks`; a figure without traces gets an empty one, meta :data:`PROBE`, so that
    the page's first drawing can prove it follows); a redraw asks ``_stopped_listening()``
    first and, if so, calls ``_replace_figure()`` (a new figure from ``static_figure()`` in
    place of the old one, which is closed; ``figures_replaced`` counts them); otherwise it
    updates ``figure`` and calls ``_acks.sent()``: :meth:`_redraw` does both. Displayed, it
    shows ``widget``, with ``headless_text`` for front ends that cannot draw widgets.
    """

    figures_replaced = 0
    figure: Any
    widget: Any
    headless_text: str
    _hold = False  # set while code moves controls: their observers do not recompute

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        """Move controls inside without each move recomputing (``_hold``)."""
        self._hold = True
        try:
            yield
        finally:
            self._hold = False

    def _ipython_display_(self) -> None:
        from ._display import display_widget

        display_widget(self.widget, self.headless_text)

    def static_figure(self) -> Any:
        raise NotImplementedError

    def _new_figure(self, figure: Any) -> None:
        import plotly.graph_objects as go

        if not figure.data:  # a first drawing proves the page follows only with a trace in it
            figure.add_trace(go.Scatter(x=[], y=[], meta=PROBE, showlegend=False, hoverinfo="skip"))
        self.figure = go.FigureWidget(figure)
        self._traces = {t.meta: t for t in self.figure.data}
        self._acks = PageAcks(self.figure)

    def _stopped_listening(self) -> bool:
        return self._acks.stopped_listening()

    def _redraw(self, data: Mapping[str, Mapping[str, Any]], **layout: Any) -> None:
        """Update the traces (``meta → properties``) and the layout (plotly's names:
        ``title_text=...``) in one ``batch_update``; if the page stopped following the figure,
        put a new one drawn from the current state in its place instead."""
        if self._stopped_listening():
            self._replace_figure()
            return
        with self.figure.batch_update():
            for meta, props in data.items():
                self._traces[meta].update(props)
            self.figure.update_layout(**layout)
        self._acks.sent()

    def _replace_figure(self) -> None:
        old = self.figure
        self._new_figure(self.static_figure())
        self.widget.children = tuple(self.figure if c is old else c for c in self.widget.children)
        old.close()  # the page drops its view and draws the new figure
        self.figures_replaced += 1
