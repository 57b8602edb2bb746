"""fwlab.toy.figures and fwlab.widgets.step_zoom: the lesson's figures draw their data functions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fwlab.widgets.step_zoom import LmoExplorer, StepZoomExplorer

from fwlab.toy import get_loss, step_zoom, trajectory
from fwlab.toy.figures import (
    STEP_ZOOM_TRACES,
    k_sweep_figure,
    lines_figure,
    lmo_figure,
    lmo_trace_data,
    lr_delta_figure,
    paths_figure,
    paths_window,
    step_zoom_figure,
    step_zoom_trace_data,
)
from fwlab.toy.lesson import k_sweep
from fwlab.toy.trust_region import p_norm


@pytest.fixture(scope="module")
def zoom():
    return step_zoom("rosenbrock", delta=0.5, p=2, K=12)


def test_step_zoom_figure_traces_follow_k(zoom):
    fig = step_zoom_figure(zoom, 4)
    assert [t.meta for t in fig.data] == list(STEP_ZOOM_TRACES)
    tr = {t.meta: t for t in fig.data}
    w = zoom.omega
    assert list(tr["fw:vertices"].text) == ["s1", "s2", "s3", "s4"]
    assert np.allclose(np.c_[tr["fw:vertices"].x, tr["fw:vertices"].y], w + zoom.fw_vertices[:4])
    assert len(tr["fw:path"].x) == len(tr["pg:path"].x) == 5  # ω, then k = 1..4
    assert np.allclose([tr["pg:k"].x[0], tr["pg:k"].y[0]], w + zoom.pg_dw[3])
    assert np.allclose([tr["exact"].x[0], tr["exact"].y[0]], w + zoom.exact)
    # the ball is drawn at radius δ around ω
    ring = np.c_[tr["ball"].x, tr["ball"].y] - w
    assert np.allclose(p_norm(ring, 2.0), 0.5)
    assert list(tr["dist:k"].x) == [4, 4]
    assert fig.layout.title.text.endswith("k = 4")


def test_step_zoom_trace_data_rejects_k_outside_1_K(zoom):
    for bad in (0, 13, 2.0, True):
        with pytest.raises(ValueError, match=r"k must be an integer in \[1, 12\]"):
            step_zoom_trace_data(zoom, bad)


@pytest.mark.parametrize("delta", [0.3, 2.0])
def test_lmo_figure_draws_balls_at_delta_and_labels_every_vertex(delta):
    fig = lmo_figure(200.0, delta)
    tr = {t.meta: t for t in fig.data}
    for lab, p in (("1", 1.0), ("1.5", 1.5), ("2", 2.0), ("3", 3.0), ("∞", math.inf)):
        ring = np.c_[tr[f"ball:{lab}"].x, tr[f"ball:{lab}"].y]
        assert np.allclose(p_norm(ring, p), delta)
        assert tr[f"lmo:{lab}"].text[1] == f"p = {lab}"
        s = np.array([tr[f"lmo:{lab}"].x[1], tr[f"lmo:{lab}"].y[1]])
        assert p_norm(s, p) == pytest.approx(delta)
    g = np.array([math.cos(math.radians(200)), math.sin(math.radians(200))])
    # p = 2's vertex is -δ g: the normalized gradient step
    assert np.allclose([tr["lmo:2"].x[1], tr["lmo:2"].y[1]], -delta * g)
    assert fig.layout.xaxis.range == (-1.5 * delta, 1.5 * delta)
    with pytest.raises(ValueError, match="delta must be a finite number > 0"):
        lmo_trace_data(0.0, 0.0)


def test_k_sweep_paths_and_lr_delta_figures_have_their_traces():
    fw = trajectory("quadratic", lr=0.5, delta=0.5, K=5, p=2, steps=20)
    s = k_sweep("quadratic", fw.centers[::5], delta=0.5, p=2, Ks=(1, 2, 3))
    fig = k_sweep_figure(s)
    assert [t.meta for t in fig.data] == ["length", "angle", "downhill"]
    assert list(fig.data[0].y) == list(s["length"])
    runs = {"a": fw, "b": trajectory("quadratic", lr=0.5, delta=0.2, K=1, steps=5)}
    pf = paths_figure("quadratic", runs)
    assert [t.meta for t in pf.data] == ["contour", "a", "b", "start"]
    grid = np.array([[1.0, 2.0], [3.0, 4.0]])
    lf = lr_delta_figure({"K = 1": grid}, [0.1, 1.0], [0.1, 1.0])
    assert np.allclose(lf.data[0].z, np.log10(grid))


def test_k_sweeps_side_by_side_and_lines_figure():
    fw = trajectory("quadratic", lr=0.5, delta=0.5, K=5, p=2, steps=20)
    a = k_sweep("quadratic", fw.centers[::5], delta=0.5, p=2, Ks=(1, 2, 3))
    b = k_sweep("rosenbrock", fw.centers[::5], delta=0.5, p=2, Ks=(1, 2, 3))
    fig = k_sweep_figure({"q": a, "r": b})
    assert [t.meta for t in fig.data] == [f"{k}:{n}" for n in "qr" for k in
                                          ("length", "angle", "downhill")]  # fmt: skip
    assert list(fig.data[4].y) == list(b["angle"]) and fig.data[0].showlegend
    lf = lines_figure([1, 2, 3], {"x": [3, 2, 1], "y": [1, 1, 1]}, x_title="K", y_title="L",
                      log_x=True, log_y=True, highlight="y")  # fmt: skip
    assert [t.meta for t in lf.data] == ["x", "y"] and lf.layout.xaxis.type == "log"
    assert lf.data[1].line.width > lf.data[0].line.width and lf.layout.yaxis.type == "log"


def test_paths_figure_zooms_to_short_paths():
    """Section 6's paths stay within 0.14 of the start: in the loss's 4 × 4 window they hid under
    the start marker; window="fit" draws the square around them."""
    runs = {
        f"p = {p:g}": trajectory("rosenbrock", lr=0.5, delta=0.5, K=5, p=p, steps=100)
        for p in (1.0, math.inf)
    }
    (x0, x1), (y0, y1) = paths_window(runs, pad=0.1)
    pts = np.vstack([r.iterates for r in runs.values()])
    assert np.all((pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1))
    assert x1 - x0 == pytest.approx(y1 - y0) and x1 - x0 < 0.2  # not the 4 × 4 window
    fig = paths_figure("rosenbrock", runs, window="fit")
    assert tuple(fig.layout.xaxis.range) == pytest.approx((x0, x1), rel=0.2)
    contour = fig.data[0]
    assert contour.x[0] >= x0 - 0.1 and contour.x[-1] <= x1 + 0.1  # contours of that square
    still = {"a": trajectory("quadratic", lr=0.5, delta=0.5, K=1, steps=0)}
    (a0, a1), _ = paths_window(still)  # a single point: a tiny square, not a crash
    assert 0 < a1 - a0 < 1e-6


def test_step_zoom_explorer_k_slider_redraws_without_recomputing():
    ex = StepZoomExplorer("himmelblau", delta=0.5, p=2.0, K=10, k=2)
    zoom = ex.zoom
    ex.controls["k"].value = 7
    assert ex.zoom is zoom
    tr = {t.meta: t for t in ex.figure.data}
    assert len(tr["fw:vertices"].x) == 7 and ex.figure.layout.title.text.endswith("k = 7")
    ex.set(delta=0.2, p="inf")
    assert ex.zoom is not zoom and ex.zoom.delta == 0.2 and math.isinf(ex.zoom.p)
    assert np.allclose(p_norm(np.c_[tr["ball"].x, tr["ball"].y] - ex.zoom.omega, math.inf), 0.2)
    ex.controls["loss"].value = "beale"
    assert ex.zoom.loss == "beale" and tuple(ex.zoom.omega) == get_loss("beale").start
    static = {t.meta: t for t in ex.static_figure().data}
    assert np.array_equal(static["fw:path"].x, tr["fw:path"].x)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 10\], got 11"):
        ex.set(k=11)
    with pytest.raises(ValueError, match="delta must be"):
        StepZoomExplorer(delta=0.0)


def test_lmo_explorer_direction_slider_moves_the_vertices():
    ex = LmoExplorer(direction_deg=0.0, delta=0.5)
    tr = {t.meta: t for t in ex.figure.data}
    assert np.allclose([tr["lmo:1"].x[1], tr["lmo:1"].y[1]], [-0.5, 0.0])
    ex.controls["direction"].value = 90.0
    assert np.allclose([tr["lmo:1"].x[1], tr["lmo:1"].y[1]], [0.0, -0.5], atol=1e-12)
    assert "90°" in ex.figure.layout.title.text
    with pytest.raises(ValueError, match="direction_deg must be a finite number"):
        LmoExplorer(direction_deg=math.nan)
