r"""``TrajectoryExplorer``: Frank-Wolfe on a 2-D loss, live, with sliders.

One ``plotly.graph_objects.FigureWidget`` (built by :func:`fwlab.plots.trajectory_figure`) is
refreshed inside ``figure.batch_update()`` whenever a control changes. The computation is the
fast path of :func:`fwlab.toy.trajectory` (floats + analytic gradient), so a slider move costs
milliseconds, not an autograd loop.

Controls (``explorer.controls[name]``):

=========== ===============================================================================
delta       δ, radius of the trust region ‖Δω‖_p ≤ δ (:data:`fwlab.toy.sliders.DELTA_VALUES`)
delta_decay γ: step t uses δ_t = δ γ^(t−1) (1: a fixed δ; < 1 ends the bounce of a fixed δ)
K           inner Frank-Wolfe iterations per outer step
p           the norm of the ball: 1, 1.5, 2, 3, ∞
lr          η, the outer step ω ← ω + ηΔω_K (each step ≤ ηδ; :data:`~fwlab.toy.sliders.LR_VALUES`)
steps       outer steps T
loss        the toy loss (:data:`fwlab.toy.LOSSES`); switching resets start point, δ and GD lr
x0, y0      start point (also set by clicking on the contour)
show_gd     plain gradient descent with learning rate ``gd_lr``
show_ngd    normalized GD, step ηδ (FW with K = 1, p = 2: computed by the same code, drawn under it)
show_adam   Adam with learning rate ηδ (its per-coordinate steps are ≈ ηδ, comparable to FW ∞)
gd_lr       learning rate of the GD baseline (log slider)
=========== ===============================================================================

δ and η are selection sliders over exact decimal values, so the value shown is the value used:
(η, δ) = (0.5, 0.5) and (1, 0.25) are both on the grids, as the lesson's prompts need.

Without a widget front end (papermill, nbval, a static HTML export) use
:meth:`TrajectoryExplorer.static_figure`, which returns the same figure as a ``go.Figure``.

Example:
    >>> ex = TrajectoryExplorer("himmelblau", K=5)
    >>> ex.controls["p"].value = 1.0          # recomputes and redraws
    >>> ex.result.p, ex.result.inner.shape
    (1.0, (100, 5, 2))
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go

from fwlab.plots import (
    METHOD_LABELS,
    contour_data,
    format_p,
    trajectory_figure,
    trajectory_trace_data,
)
from fwlab.toy import ToyLoss, Trajectory, get_loss, loss_names, playground_trajectories
from fwlab.toy.sliders import RANGES, SLIDER_VALUES, grid_value, label, slider_value
from fwlab.util.validate import p_exponent, point, refusal

from ._page_acks import RecoveringFigure

__all__ = ["TrajectoryExplorer", "P_OPTIONS", "check_parameters"]

#: the p slider's options: (label, value)
P_OPTIONS: tuple[tuple[str, float], ...] = (
    ("1", 1.0),
    ("1.5", 1.5),
    ("2", 2.0),
    ("3", 3.0),
    ("∞", math.inf),
)

_RECOMPUTE_ON = ("delta", "delta_decay", "K", "p", "lr", "steps", "x0", "y0", "gd_lr")


def grid_slider(name: str, value: float, description: str, **kwargs: Any) -> W.SelectionSlider:
    """A selection slider over :data:`fwlab.toy.sliders.SLIDER_VALUES[name] <fwlab.toy.sliders.
    SLIDER_VALUES>`: exact decimal values, labelled as typed (``value`` must be one of them)."""
    return W.SelectionSlider(
        options=[(label(v), v) for v in SLIDER_VALUES[name]],
        value=grid_value(name, value),
        description=description,
        **kwargs,
    )


def delta_slider(value: float, **kwargs: Any) -> W.SelectionSlider:
    """The δ slider every playground widget uses: :data:`fwlab.toy.sliders.DELTA_VALUES`."""
    return grid_slider("delta", value, "δ (radius)", **kwargs)


def check_parameters(
    loss: str = "rosenbrock",
    *,
    delta: float | None = None,
    K: int = 5,
    p: float | str = 2.0,
    lr: float = 0.5,
    steps: int = 100,
    x0: tuple[float, float] | None = None,
    gd_lr: float | None = None,
    delta_decay: float = 1.0,
) -> tuple[ToyLoss, float, tuple[float, float], float, float]:
    """Check the playground's values against its controls, as :class:`TrajectoryExplorer` does.

    Raises ``ValueError`` naming the first value no control can show (the slider's range, the
    p options, a finite start point). Returns ``(spec, delta, start, p, gd_lr)`` with the loss's
    defaults filled in for ``None``.

    Example:
        >>> check_parameters("quadratic", K=31)
        Traceback (most recent call last):
        ...
        ValueError: K must be an integer in [1, 30] (the slider's range), got 31; pass e.g. K=1
    """
    spec = get_loss(loss)
    delta = spec.delta if delta is None else delta
    gd_lr = spec.gd_lr if gd_lr is None else gd_lr
    for name, value in (("delta", delta), ("K", K), ("lr", lr), ("steps", steps),
                        ("gd_lr", gd_lr), ("delta_decay", delta_decay)):  # fmt: skip
        slider_value(name, value)
    start = spec.start if x0 is None else _start_point(x0)
    return spec, delta, start, _p_option(p), gd_lr


_TOGGLES = {"show_gd": "gd", "show_ngd": "ngd", "show_adam": "adam"}


class TrajectoryExplorer(RecoveringFigure):
    """Sliders for δ, K, p, η and steps, a loss menu and a clickable start point, driving one
    plotly ``FigureWidget`` (contour + FW path + inner points + δ-balls, loss curves, FW gaps).

    Args:
        loss: initial loss name.
        delta: initial δ (``None``: the loss's default radius).
        K, p, lr, steps: initial inner iterations, norm, η and outer steps.
        x0: initial start point (``None``: the loss's default start).
        gd_lr: learning rate of the GD baseline (``None``: the loss's ``gd_lr``).
        delta_decay: γ of the radius schedule δ_t = δ γ^(t−1) (FW and normalized GD).
        show_gd, show_ngd, show_adam: which baselines are drawn.
        grid: contour resolution (points per axis).

    Attributes:
        controls: ``name → widget`` (see the module docstring for the names).
        figure: the ``go.FigureWidget``, replaced by a new one of the current state when the
            page stopped following it (:class:`._page_acks.RecoveringFigure`; the status line
            says so; ``figures_replaced`` counts them).
        widget: the whole UI (controls above the figure); displaying the explorer displays it.
        result: the last Frank-Wolfe :class:`fwlab.toy.Trajectory`.
        baselines: the last baseline trajectories by method (all computed, shown per toggle).
        last_seconds: wall time of the last :meth:`recompute` (computation + redraw).
    """

    headless_text = (
        "[TrajectoryExplorer: sliders and a live figure; they need a running kernel with a widget "
        "front end. explorer.static_figure() draws the same state.]"
    )

    def __init__(
        self,
        loss: str = "rosenbrock",
        *,
        delta: float | None = None,
        K: int = 5,
        p: float | str = 2.0,
        lr: float = 0.5,
        steps: int = 100,
        x0: tuple[float, float] | None = None,
        gd_lr: float | None = None,
        show_gd: bool = False,
        show_ngd: bool = True,
        show_adam: bool = False,
        grid: int = 120,
        delta_decay: float = 1.0,
    ) -> None:
        spec, delta, start, p_value, gd_lr = check_parameters(
            loss, delta=delta, K=K, p=p, lr=lr, steps=steps, x0=x0, gd_lr=gd_lr,
            delta_decay=delta_decay,
        )  # fmt: skip
        self._grid = grid
        style = {"description_width": "initial"}
        slider = {"continuous_update": True, "style": style}
        self.controls: dict[str, W.ValueWidget] = {
            "loss": W.Dropdown(options=loss_names(), value=spec.name, description="loss"),
            "delta": delta_slider(delta, **slider),
            "delta_decay": W.FloatSlider(
                value=delta_decay,
                min=0.9,
                max=1.0,
                step=0.005,
                description="δ decay γ",
                readout_format=".3f",
                **slider,
            ),
            "K": W.IntSlider(value=K, min=1, max=30, description="K (inner)", **slider),
            "p": W.SelectionSlider(
                options=list(P_OPTIONS), value=p_value, description="p (norm)", **slider
            ),
            "lr": grid_slider("lr", lr, "η (outer lr)", **slider),
            "steps": W.IntSlider(value=steps, min=0, max=300, description="steps T", **slider),
            "x0": W.FloatText(value=start[0], description="x₀", style=style),
            "y0": W.FloatText(value=start[1], description="y₀", style=style),
            "show_gd": W.Checkbox(value=show_gd, description=METHOD_LABELS["gd"], indent=False),
            "show_ngd": W.Checkbox(value=show_ngd, description=METHOD_LABELS["ngd"], indent=False),
            "show_adam": W.Checkbox(
                value=show_adam, description=METHOD_LABELS["adam"], indent=False
            ),
            "gd_lr": W.FloatLogSlider(
                value=gd_lr,
                base=10,
                min=-5,
                max=0,
                step=0.05,
                description="GD lr",
                readout_format=".2g",
                **slider,
            ),
        }
        self._status = W.HTML()
        self.last_seconds = math.nan
        self.result: Trajectory
        self.baselines: dict[str, Trajectory]
        self._run()
        self._new_figure(
            trajectory_figure(spec, self.result, self.baselines, visible=self._visible(), grid=grid)
        )

        for name in _RECOMPUTE_ON + tuple(_TOGGLES):
            self.controls[name].observe(self._on_change, names="value")
        self.controls["loss"].observe(self._on_loss, names="value")

        c = self.controls
        self.widget = W.VBox(
            [
                W.HBox(
                    [
                        W.VBox([c["loss"], c["delta"], c["K"], c["p"]]),
                        W.VBox([c["lr"], c["delta_decay"], c["steps"], c["x0"], c["y0"]]),
                        W.VBox(
                            [
                                W.HTML("<b>baselines</b>"),
                                c["show_gd"],
                                c["show_ngd"],
                                c["show_adam"],
                                c["gd_lr"],
                            ]
                        ),
                    ]
                ),
                self._status,
                self.figure,
            ]
        )
        self.recompute()

    # --- state -> computation ------------------------------------------------------------

    def _value(self, name: str) -> Any:
        return self.controls[name].value

    def _start(self) -> tuple[float, float]:
        return float(self._value("x0")), float(self._value("y0"))

    def _run(self) -> None:
        """Frank-Wolfe (:attr:`result`) and the baselines (:attr:`baselines`) of the controls."""
        self.result, self.baselines = playground_trajectories(
            self._value("loss"),
            self._start(),
            lr=float(self._value("lr")),
            delta=float(self._value("delta")),
            K=self._value("K"),
            p=self._value("p"),
            steps=int(self._value("steps")),
            delta_decay=self._value("delta_decay"),
            gd_lr=float(self._value("gd_lr")),
        )

    def _visible(self) -> dict[str, bool]:
        return {m: bool(self._value(key)) for key, m in _TOGGLES.items()}

    # --- public API ----------------------------------------------------------------------

    def recompute(self) -> float:
        """Recompute every trajectory from the controls and redraw; returns the seconds taken."""
        t0 = time.perf_counter()
        self._run()
        data = trajectory_trace_data(
            self._value("loss"), self.result, self.baselines, visible=self._visible()
        )
        self._redraw(data, title_text=self._title())
        self.last_seconds = time.perf_counter() - t0
        self._status.value = self._status_html()
        return self.last_seconds

    def set_start(self, x: float, y: float) -> None:
        """Move the start point to ``(x, y)`` (updates the x₀/y₀ fields) and redraw once."""
        with self._held():
            self.controls["x0"].value = float(x)
            self.controls["y0"].value = float(y)
        self.recompute()

    def set(self, **values: Any) -> float:
        """Set several controls at once (``ex.set(delta=0.2, K=10)``) with a single redraw."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(f"unknown controls {sorted(unknown)}; known: {sorted(self.controls)}")
        # every value checked before any control moves
        values = {
            name: _p_option(v) if name == "p" else slider_value(name, v) if name in RANGES else v
            for name, v in values.items()
        }
        if "loss" in values:
            self.controls["loss"].value = values.pop("loss")
        with self._held():
            for name, v in values.items():
                self.controls[name].value = v
        return self.recompute()

    def _new_figure(self, figure: go.Figure) -> None:
        super()._new_figure(figure)
        self._traces["contour"].on_click(self._on_contour_click)

    def static_figure(self) -> go.Figure:
        """The current state as a static ``go.Figure`` (for papermill/nbval/HTML export)."""
        return trajectory_figure(
            self._value("loss"),
            self.result,
            self.baselines,
            visible=self._visible(),
            grid=self._grid,
        )

    # --- callbacks -----------------------------------------------------------------------

    def _on_change(self, change: Mapping[str, Any]) -> None:
        if not self._hold:
            self.recompute()

    def _on_loss(self, change: Mapping[str, Any]) -> None:
        spec = get_loss(change["new"])
        with self._held():
            self.controls["x0"].value, self.controls["y0"].value = spec.start
            self.controls["delta"].value = spec.delta
            self.controls["gd_lr"].value = spec.gd_lr
        cont = contour_data(spec, self._grid)
        (x0, x1), (y0, y1) = spec.window
        with self.figure.batch_update():
            self._traces["contour"].update(cont)
            self.figure.layout.xaxis.range = [x0, x1]
            self.figure.layout.yaxis.range = [y0, y1]
            self.figure.layout.uirevision = spec.name
        self.recompute()

    def _on_contour_click(self, trace: Any, points: Any, state: Any) -> None:
        if points.xs:
            self.set_start(points.xs[0], points.ys[0])

    def _title(self) -> str:
        r = self.result
        return (
            f"{get_loss(r.loss).title} — Frank-Wolfe δ = {r.delta:.3g}, K = {r.K}, "
            f"p = {format_p(r.p)}, η = {r.lr:g}, {r.steps} steps"
            + (f", δ_t = δ·{r.delta_decay:g}^(t−1)" if r.delta_decay != 1.0 else "")
        )

    def _status_html(self) -> str:
        r = self.result
        return (
            f"F(ω₀) = {r.losses[0]:.4g} → F(ω_T) = {r.losses[-1]:.4g}; "
            f"outer step ≤ ηδ = {r.lr * r.delta:.3g}; "
            f"recompute + redraw {self.last_seconds * 1e3:.1f} ms "
            "<i>(click on the contour to move the start)</i>"
            + (
                f"; the page had stopped following the figure: drawn anew "
                f"({self.figures_replaced}×)"
                if self.figures_replaced
                else ""
            )
        )


def _start_point(x0: Any) -> tuple[float, float]:
    x, y = point("x0", x0)
    return x, y


def _p_option(p: float | str) -> float:
    """``p`` if the p slider offers it (``"inf"`` read as ∞), else ``ValueError`` listing the
    slider's options."""
    try:
        value: float | None = p_exponent("p", p)
    except ValueError:
        value = None
    if value not in dict(P_OPTIONS).values():
        raise refusal("p", f"one of {[lbl for lbl, _ in P_OPTIONS]}", p, "2")
    return value
