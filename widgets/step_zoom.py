r"""Live versions of notebook 01's step-zoom and LMO figures.

``StepZoomExplorer``: one trust-region step at a point, solved exactly, by projected gradient and
by Frank-Wolfe (:func:`fwlab.toy.step_zoom`), with a **k** slider that walks through the inner
iterations. ``LmoExplorer``: the LMO vertices of the p-balls with a slider for the gradient's
direction. Both redraw a ``go.FigureWidget`` from the same ``*_trace_data`` functions that build
the static figures (:mod:`fwlab.toy.figures`), and both have ``static_figure()`` for headless
runs.

Example:
    >>> z = StepZoomExplorer("himmelblau", delta=0.5, p=2.0, K=10, k=2)
    >>> z.set(k=7); z.figure.layout.title.text.endswith("k = 7")
    True
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W
import plotly.graph_objects as go

from fwlab.toy import get_loss, loss_names, step_zoom
from fwlab.toy.figures import (
    lmo_figure,
    lmo_trace_data,
    step_zoom_figure,
    step_zoom_title,
    step_zoom_trace_data,
)
from fwlab.toy.sliders import slider_value
from fwlab.toy.trust_region import StepZoom
from fwlab.util.validate import finite_number, int_in_range

from ._page_acks import RecoveringFigure
from .explorer import P_OPTIONS, _p_option, _start_point, delta_slider

__all__ = ["LmoExplorer", "StepZoomExplorer"]


class StepZoomExplorer(RecoveringFigure):
    """Controls for the loss, the point ω, δ, p and the inner iteration k of one step.

    Args:
        loss: the toy loss; ``omega``: the point (``None``: the loss's start).
        delta, p: the ball; ``K``: inner iterations computed; ``k``: the one shown (1..K).

    Attributes:
        zoom: the current :class:`fwlab.toy.StepZoom`; ``figure``: the ``go.FigureWidget`` (a
        new one, drawn from the current state, when the page stopped acknowledging the updates
        of the last: see ``widgets/_page_acks.py``; ``figures_replaced`` counts them);
        controls: ``name → widget`` (``loss``, ``delta``, ``p``, ``k``, ``x0``, ``y0``).
    """

    headless_text = (
        "[StepZoomExplorer: sliders for one trust-region step; they need a running kernel "
        "with a widget front end. static_figure() draws the same state.]"
    )

    def __init__(
        self,
        loss: str = "rosenbrock",
        *,
        omega: tuple[float, float] | None = None,
        delta: float = 0.5,
        p: float | str = 2.0,
        K: int = 30,
        k: int = 5,
    ) -> None:
        spec = get_loss(loss)
        slider_value("delta", delta)
        K = slider_value("K", K)
        k = int_in_range("k", k, 1, K)
        w = spec.start if omega is None else _start_point(omega)
        self.K = int(K)
        style = {"description_width": "initial"}
        self.controls: dict[str, W.ValueWidget] = {
            "loss": W.Dropdown(options=loss_names(), value=spec.name, description="loss"),
            "delta": delta_slider(delta, style=style),
            "p": W.SelectionSlider(
                options=list(P_OPTIONS), value=_p_option(p), description="p (norm)", style=style
            ),
            "k": W.IntSlider(value=k, min=1, max=self.K, description="k (inner)", style=style),
            "x0": W.FloatText(value=w[0], description="ω x", style=style),
            "y0": W.FloatText(value=w[1], description="ω y", style=style),
        }
        self.zoom: StepZoom = self._compute()
        self._new_figure(step_zoom_figure(self.zoom, k))
        for name in ("delta", "p", "x0", "y0"):
            self.controls[name].observe(self._on_change, names="value")
        self.controls["k"].observe(self._on_k, names="value")
        self.controls["loss"].observe(self._on_loss, names="value")
        c = self.controls
        self.widget = W.VBox(
            [W.HBox([W.VBox([c["loss"], c["delta"], c["p"]]), W.VBox([c["k"], c["x0"], c["y0"]])]),
             self.figure]
        )  # fmt: skip

    def _compute(self) -> StepZoom:
        c = self.controls
        return step_zoom(
            c["loss"].value,
            (float(c["x0"].value), float(c["y0"].value)),
            delta=float(c["delta"].value),
            p=c["p"].value,
            K=self.K,
        )

    def redraw(self) -> None:
        """Redraw the figure from :attr:`zoom` at the k of the slider (a new figure if the page
        stopped following this one)."""
        k = int(self.controls["k"].value)
        (cx, cy), half = self.zoom.omega, 1.35 * self.zoom.delta
        self._redraw(
            step_zoom_trace_data(self.zoom, k),
            title_text=step_zoom_title(self.zoom, k),
            xaxis_range=[cx - half, cx + half],
            yaxis_range=[cy - half, cy + half],
        )

    def set(self, **values: Any) -> None:
        """Set several controls at once (``z.set(delta=0.2, k=10)``), recomputing once."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(f"unknown controls {sorted(unknown)}; known: {sorted(self.controls)}")
        if "delta" in values:
            slider_value("delta", values["delta"])
        if "k" in values:
            values["k"] = int_in_range("k", values["k"], 1, self.K)
        with self._held():
            for name, v in values.items():
                self.controls[name].value = _p_option(v) if name == "p" else v
        self.zoom = self._compute()
        self.redraw()

    def static_figure(self) -> go.Figure:
        """The current state as a static ``go.Figure``."""
        return step_zoom_figure(self.zoom, int(self.controls["k"].value))

    def _on_change(self, change: Any) -> None:
        if not self._hold:
            self.zoom = self._compute()
            self.redraw()

    def _on_k(self, change: Any) -> None:
        if not self._hold:
            self.redraw()

    def _on_loss(self, change: Any) -> None:
        spec = get_loss(change["new"])
        with self._held():
            self.controls["x0"].value, self.controls["y0"].value = spec.start
        self.zoom = self._compute()
        self.redraw()


class LmoExplorer(RecoveringFigure):
    """A direction slider (degrees) and a δ slider driving :func:`fwlab.toy.figures.lmo_figure`."""

    headless_text = (
        "[LmoExplorer: a slider for the gradient's direction; it needs a running kernel with "
        "a widget front end. static_figure() draws the same state.]"
    )

    def __init__(self, direction_deg: float = 20.0, delta: float = 1.0) -> None:
        slider_value("delta", delta)
        direction_deg = finite_number("direction_deg", direction_deg)
        self.controls = {
            "direction": W.FloatSlider(
                value=float(direction_deg) % 360.0, min=0.0, max=359.0, step=1.0,
                description="∇F direction (°)", style={"description_width": "initial"},
            ),
            "delta": delta_slider(delta),
        }  # fmt: skip
        self._new_figure(self.static_figure())
        for c in self.controls.values():
            c.observe(self._on_change, names="value")
        self.widget = W.VBox([W.HBox(list(self.controls.values())), self.figure])

    def static_figure(self) -> go.Figure:
        """The current state as a static ``go.Figure``."""
        return lmo_figure(self.controls["direction"].value, self.controls["delta"].value)

    def _on_change(self, change: Any) -> None:
        d = self.controls["delta"].value
        self._redraw(
            lmo_trace_data(self.controls["direction"].value, d),
            title_text=self.static_figure().layout.title.text,
            xaxis_range=[-1.5 * d, 1.5 * d],
            yaxis_range=[-1.5 * d, 1.5 * d],
        )
