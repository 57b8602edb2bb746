"""The loss landscape in the PCA plane of a trajectory (a
:class:`fwlab.train.landscape.Landscape`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from fwlab.plots._style import METHOD_COLORS
from fwlab.util.exponent import format_p

if TYPE_CHECKING:  # fwlab.train.landscape imports the training stack; the figure only reads fields
    from fwlab.train.landscape import Landscape

#: the traces of :func:`landscape_figure`, in order (each trace's ``meta``)
LANDSCAPE_TRACES: tuple[str, ...] = ("contour", "balls", "inner", "path", "start", "final")


def landscape_figure(
    result: Landscape,
    *,
    log: bool = False,
    title: str | None = None,
    height: int = 560,
) -> go.Figure:
    """Contours of the loss in the trajectory's PCA plane, the projected path, the inner points
    ω + Δω_k and the trust region of every drawn step.

    For p = 2 with ``scope="global"`` (``result.ball_kind == "disc"``) each trust region is the
    disc of radius δ around ω_t; otherwise it is the shadow (projection) of the trust region on
    the plane (see :mod:`fwlab.train.landscape`). The axes carry the share of the trajectory's
    variance along each direction; they have equal scales (the plane is orthonormal, so the
    discs are round and distances are true).

    Args:
        result: from :func:`fwlab.train.landscape.landscape`.
        log: contour ``log10(loss)`` instead of the loss.
        title: figure title (default: the explained variance of the plane).
        height: pixels.
    """
    z = np.log10(np.maximum(result.losses, np.finfo(float).tiny)) if log else result.losses
    ex1, ex2 = result.explained
    fig = go.Figure()
    fig.add_trace(
        go.Contour(
            x=result.xs,
            y=result.ys,
            z=z,
            colorscale="Blues",
            reversescale=True,
            ncontours=30,
            opacity=0.8,
            line={"width": 0.5},
            colorbar={"title": {"text": "log₁₀ loss" if log else "loss"}},
            hovertemplate="a=%{x:.3g}<br>b=%{y:.3g}<br>%{z:.4g}<extra></extra>",
            meta="contour",
        )
    )
    if result.ball_kind == "disc":
        ball_name = "‖Δω‖₂ ≤ δ (disc in the plane)"
    elif result.ball_kind:
        ball_name = f"trust region (p = {format_p(result.p)}, {result.scope}), projected"
    else:
        ball_name = "trust region"
    gap = np.full((len(result.ball_xy), 1, 2), np.nan)
    rings = np.concatenate([result.ball_xy, gap], axis=1).reshape(-1, 2)
    fig.add_scatter(
        x=rings[:, 0],
        y=rings[:, 1],
        mode="lines",
        line={"width": 0.8, "color": "rgba(214,39,40,0.45)"},
        name=ball_name,
        hoverinfo="skip",
        visible=bool(len(result.ball_xy)),
        meta="balls",
    )
    fig.add_scatter(
        x=result.inner[:, 0],
        y=result.inner[:, 1],
        mode="markers",
        marker={"size": 4, "color": "rgba(148,103,189,0.85)"},
        name="inner ω + Δω_k",
        customdata=np.stack([result.inner_outer, result.inner_k], axis=1)
        if len(result.inner)
        else None,
        hovertemplate="from ω_%{customdata[0]}, k=%{customdata[1]}<extra></extra>",
        visible=bool(len(result.inner)),
        meta="inner",
    )
    fig.add_scatter(
        x=result.path[:, 0],
        y=result.path[:, 1],
        mode="lines+markers",
        line={"width": 2, "color": METHOD_COLORS["fw"]},
        marker={"size": 4},
        name="iterates ω_t",
        customdata=result.path_steps,
        hovertemplate="batch %{customdata}<extra></extra>",
        meta="path",
    )
    fig.add_scatter(
        x=result.path[:1, 0],
        y=result.path[:1, 1],
        mode="markers",
        marker={"symbol": "star", "size": 14, "color": "gold", "line": {"width": 1}},
        name="start",
        meta="start",
    )
    fig.add_scatter(
        x=result.path[-1:, 0],
        y=result.path[-1:, 1],
        mode="markers",
        marker={"symbol": "x", "size": 11, "color": "black"},
        name=f"final (loss {result.loss_at_origin:.4g})",
        meta="final",
    )
    fig.update_xaxes(
        range=[result.xs[0], result.xs[-1]],
        constrain="domain",
        title_text=f"PC 1 ({100 * ex1:.1f}% of variance)",
    )
    fig.update_yaxes(
        range=[result.ys[0], result.ys[-1]],
        scaleanchor="x",
        scaleratio=1,
        constrain="domain",
        title_text=f"PC 2 ({100 * ex2:.1f}% of variance)",
    )
    if title is None:
        title = (
            f"Loss landscape in the trajectory's PCA plane "
            f"({100 * (ex1 + ex2):.1f}% of the variance)"
        )
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        height=height,
        margin={"l": 50, "r": 20, "t": 60, "b": 40},
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0},
        template="plotly_white",
    )
    return fig
