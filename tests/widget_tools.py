"""What the widget tests share: a fake clock and the page's acknowledgement of a figure update."""

from __future__ import annotations


class Clock:
    """A clock the test moves by hand (``clock.t += 5``)."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def acknowledge(figure, edit_id: int, traces: int = 0) -> None:
    """What the page's view of a FigureWidget sends after drawing update ``edit_id`` (0: its
    first drawing) with ``traces`` traces in it (0: what a page whose widget model never got
    the figure's data sends)."""
    deltas = [{"uid": t.uid} for t in figure.data[:traces]]
    figure._js2py_traceDeltas = {"trace_deltas": deltas, "trace_edit_id": edit_id}
