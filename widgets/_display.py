"""Display a widget with a plain-text line for front ends that cannot draw widgets.

``display(widget)`` puts ``repr(widget)`` (``VBox(children=(HBox(...``) in the text/plain slot,
which is what papermill, nbval and a static export show: it reads like an error. Here the text
says what the widget is and where its headless counterpart is.
"""

from __future__ import annotations

from typing import Any

from IPython.display import display


def display_widget(widget: Any, text: str) -> None:
    """Display ``widget`` (an ipywidget) with ``text`` as its text/plain fallback."""
    bundle = dict(widget._repr_mimebundle_())
    bundle["text/plain"] = text
    display(bundle, raw=True)
