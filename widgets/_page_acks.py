"""Does the page still listen to a ``go.FigureWidget``? Its acknowledgements say.

After each update a FigureWidget's page view redraws and sends back the update's edit id
(plotly's ``_js2py_traceDeltas`` message, the same one plotly uses to keep its defaults in
step). A page view that has drawn the figure but acknowledges no update for a while has
stopped listening. That happens on slow or busy machines: anywidget gives each widget 2 s to
load its JavaScript module and then drops every message to it, and each FigureWidget carries
plotly's 5 MB bundle (README: Troubleshooting). A new FigureWidget is a new widget, with a new
2 s: :class:`RecoveringFigure` gives a widget the figure that replaces itself when its page stopped
listening (the explorer, the step zoom, the LMO widget, the dashboard).

Example:
    >>> import plotly.graph_objects as go
    >>> clock = iter([0.0, 10.0]).__next__
    >>> acks = PageAcks(go.FigureWidget(), grace_s=3.0, clock=clock)
    >>> acks.stopped_listening()      # no page view has drawn it (headless): never "stopped"
    False
    >>> acks.acknowledged(0)          # a page view drew it (edit id 0)
    >>> acks.sent(1)                  # update 1 sent at t = 0 s ...
    >>> acks.stopped_listening()      # ... and not acknowledged at t = 10 s
    True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any


class PageAcks:
    """Watch one FigureWidget's acknowledgements.

    Args:
        figure: the ``go.FigureWidget`` (observed; nothing of it is changed).
        grace_s: how long an update may go unacknowledged before the page counts as no longer
            listening (a busy kernel reads acknowledgements late: keep it seconds, not less).
        clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self, figure: Any, *, grace_s: float = 3.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not grace_s > 0:
            raise ValueError(f"grace_s must be > 0 seconds, got {grace_s!r}")
        self.grace_s = float(grace_s)
        self._clock = clock
        self.drawn = False  # a page view has drawn the figure at least once
        self.acked = -1  # the highest edit id a page view acknowledged
        self._oldest_unacked: tuple[int, float] | None = None
        self._figure = figure
        figure.observe(self._on_trace_deltas, names="_js2py_traceDeltas")

    def _on_trace_deltas(self, change: Mapping[str, Any]) -> None:
        msg = change["new"]
        if isinstance(msg, Mapping) and msg.get("trace_edit_id") is not None:
            self.acknowledged(int(msg["trace_edit_id"]))

    def acknowledged(self, edit_id: int) -> None:
        """A page view drew the figure up to update ``edit_id`` (0: its first drawing)."""
        self.drawn = True
        self.acked = max(self.acked, edit_id)
        if self._oldest_unacked is not None and self._oldest_unacked[0] <= self.acked:
            self._oldest_unacked = None

    def sent(self, edit_id: int | None = None) -> None:
        """Update ``edit_id`` was sent to the page now (``None``: the last update the figure
        sent; plotly numbers each update and the page's view acknowledges that number)."""
        if edit_id is None:
            edit_id = self._figure._last_trace_edit_id
        if edit_id > self.acked and self._oldest_unacked is None:
            self._oldest_unacked = (edit_id, self._clock())

    def stopped_listening(self) -> bool:
        """A page view drew the figure, and an update has waited more than ``grace_s`` for
        its acknowledgement."""
        if not self.drawn or self._oldest_unacked is None:
            return False
        return self._clock() - self._oldest_unacked[1] > self.grace_s


class RecoveringFigure:
    """Mixin for a widget whose ``figure`` (a ``go.FigureWidget``) sits in the ipywidgets box
    ``widget`` and whose ``static_figure()`` draws its current state.

    ``_new_figure(fig)`` makes ``figure`` (with ``_traces``: meta → trace, and its
    :class:`PageAcks`); a redraw asks ``_stopped_listening()`` first and, if so, calls
    ``_replace_figure()`` (a new figure from ``static_figure()`` in place of the old one, which
    is closed; ``figures_replaced`` counts them); otherwise it updates ``figure`` and calls
    ``_acks.sent()``.
    """

    figures_replaced = 0
    figure: Any
    widget: Any

    def static_figure(self) -> Any:
        raise NotImplementedError

    def _new_figure(self, figure: Any) -> None:
        import plotly.graph_objects as go

        self.figure = go.FigureWidget(figure)
        self._traces = {t.meta: t for t in self.figure.data}
        self._acks = PageAcks(self.figure)

    def _stopped_listening(self) -> bool:
        return self._acks.stopped_listening()

    def _replace_figure(self) -> None:
        old = self.figure
        self._new_figure(self.static_figure())
        self.widget.children = tuple(self.figure if c is old else c for c in self.widget.children)
        old.close()  # the page drops its view and draws the new figure
        self.figures_replaced += 1
