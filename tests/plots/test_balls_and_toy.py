"""Static plotly builders: p-ball boundaries and the trajectory figure."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from fwlab.plots import (
    TRAJECTORY_TRACES,
    balls_xy,
    contour_data,
    format_p,
    lmo_ball_figure,
    trajectory_figure,
    trajectory_trace_data,
    unit_ball,
)
from fwlab.toy import get_loss, trajectory

P_VALUES = [1.0, 1.5, 2.0, 3.0, math.inf]


@pytest.mark.parametrize("p", P_VALUES)
def test_unit_ball_boundary_has_unit_p_norm_and_is_closed(p):
    ring = unit_ball(p)
    assert ring.ndim == 2 and ring.shape[1] == 2
    np.testing.assert_allclose(np.linalg.norm(ring, ord=p, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(ring[0], ring[-1], atol=1e-15)
    # it goes all the way round: every quadrant is visited, the extreme coordinates are ±1
    assert ring[:, 0].max() == pytest.approx(1.0) and ring[:, 0].min() == pytest.approx(-1.0)
    assert ring[:, 1].max() == pytest.approx(1.0) and ring[:, 1].min() == pytest.approx(-1.0)


def test_l1_ball_has_exact_corners_and_linf_ball_is_the_square():
    corners = {tuple(v) for v in unit_ball(1.0).round(15).tolist()}
    assert {(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)} <= corners
    assert unit_ball(math.inf).tolist() == [[1, 1], [-1, 1], [-1, -1], [1, -1], [1, 1]]


def test_balls_xy_one_polyline_with_breaks():
    centers = np.array([[0.0, 0.0], [2.0, 1.0]])
    x, y = balls_xy(centers, 0.5, 2.0, n=9)
    assert x.shape == y.shape == (2 * 10,)
    assert np.isnan(x[9]) and np.isnan(x[19])
    r = np.hypot(x[10:19] - 2.0, y[10:19] - 1.0)
    np.testing.assert_allclose(r, 0.5, rtol=1e-12)


def test_format_p():
    assert [format_p(p) for p in P_VALUES] == ["1", "1.5", "2", "3", "∞"]
    assert format_p("inf") == "∞"


def _runs(name="himmelblau", K=4, p=2.0, steps=20):
    fw = trajectory(name, lr=0.8, delta=0.4, K=K, p=p, steps=steps)
    bl = {
        "gd": trajectory(name, method="gd", lr=get_loss(name).gd_lr, steps=steps),
        "ngd": trajectory(name, method="ngd", lr=0.8, delta=0.4, steps=steps),
        "adam": trajectory(name, method="adam", lr=0.32, steps=steps),
    }
    return fw, bl


def test_trajectory_figure_structure_and_data():
    fw, bl = _runs()
    fig = trajectory_figure("himmelblau", fw, bl, visible={"gd": False})
    assert isinstance(fig, go.Figure)
    assert tuple(t.meta for t in fig.data) == TRAJECTORY_TRACES
    tr = {t.meta: t for t in fig.data}
    np.testing.assert_array_equal(tr["path:fw"].x, fw.iterates[:, 0])
    np.testing.assert_array_equal(tr["inner"].y, fw.inner.reshape(-1, 2)[:, 1])
    assert len(tr["balls"].x) == fw.steps * (49 + 1)
    assert len(tr["minima"].x) == 4
    assert tr["path:gd"].visible is False and tr["path:ngd"].visible is True
    np.testing.assert_array_equal(tr["path:adam"].y, bl["adam"].iterates[:, 1])
    assert tr["gap:first"].y.shape == (fw.steps,)
    assert "ηδ = 0.32" in tr["path:fw"].name
    # contour on the left with equal aspect (balls must look like balls); log panels on the right
    assert tr["contour"].xaxis == "x" and fig.layout.yaxis.scaleanchor == "x"
    assert tr["loss:fw"].xaxis == "x2" and fig.layout.yaxis2.type == "log"
    assert tr["gap:last"].xaxis == "x3" and fig.layout.yaxis3.type == "log"
    assert "δ = 0.4" in fig.layout.title.text and "p = 2" in fig.layout.title.text


def test_missing_baselines_are_empty_and_hidden():
    fw, _ = _runs(steps=5)
    fig = trajectory_figure("himmelblau", fw)
    tr = {t.meta: t for t in fig.data}
    for m in ("gd", "ngd", "adam"):
        assert tr[f"path:{m}"].visible is False and len(tr[f"path:{m}"].x) == 0
    with pytest.raises(ValueError, match="baselines must be among"):
        trajectory_trace_data("himmelblau", fw, {"sgd": fw})


@pytest.mark.parametrize("p", P_VALUES)
def test_every_inner_point_lies_inside_the_drawn_ball_around_its_centre(p):
    fw, _ = _runs(name="rosenbrock", K=6, p=p, steps=10)
    data = trajectory_trace_data("rosenbrock", fw)
    bx = np.asarray(data["balls"]["x"]).reshape(fw.steps, -1)[:, :-1]
    by = np.asarray(data["balls"]["y"]).reshape(fw.steps, -1)[:, :-1]
    for t in range(fw.steps):
        c = fw.centers[t]
        # the drawn boundary is at distance δ from the centre, the inner points within it
        ring = np.stack([bx[t] - c[0], by[t] - c[1]], axis=1)
        np.testing.assert_allclose(np.linalg.norm(ring, ord=p, axis=1), fw.delta, rtol=1e-9)
        assert np.all(np.linalg.norm(fw.inner[t] - c, ord=p, axis=1) <= fw.delta * (1 + 1e-9))


def test_gap_panel_breaks_on_zero_gaps_instead_of_dropping_the_log_axis():
    # p = 1 on a quadratic often repeats a vertex: the k-th gap is then exactly 0
    fw = trajectory("quadratic", (2.0, 0.0), lr=0.5, delta=0.5, K=3, p=1, steps=10)
    data = trajectory_trace_data("quadratic", fw)
    y = np.asarray(data["gap:last"]["y"], dtype=float)
    assert np.all(np.isnan(y[fw.gaps[:, -1] <= 0]))
    assert np.all(y[fw.gaps[:, -1] > 0] > 0)


def test_contour_data_uses_log_scale_where_declared():
    rb = contour_data("rosenbrock", n=20)
    q = contour_data("quadratic", n=20)
    assert rb["z"].shape == (20, 20) and rb["name"].startswith("log")
    assert rb["z"].max() < 5  # log10 of ~2500
    assert q["name"] == "F" and q["z"].max() > 10


def test_lmo_ball_figure_draws_each_ball_and_its_vertex():
    fig = lmo_ball_figure(grad=(1.0, 0.4), radius=0.5)
    tr = {t.meta: t for t in fig.data}
    assert set(tr) == {f"{k}:{p}" for k in ("ball", "lmo") for p in ("1", "1.5", "2", "3", "∞")} | {
        "-grad"
    }
    g = np.array([1.0, 0.4])
    for p, label in zip(P_VALUES, ["1", "1.5", "2", "3", "∞"], strict=True):
        s = np.array([tr[f"lmo:{label}"].x[1], tr[f"lmo:{label}"].y[1]])
        assert np.linalg.norm(s, ord=p) == pytest.approx(0.5)  # on the sphere of radius δ
        q = 1.0 if p == math.inf else (math.inf if p == 1.0 else p / (p - 1))
        assert s @ g == pytest.approx(-0.5 * np.linalg.norm(g, ord=q))  # Hölder equality
    assert (tr["lmo:1"].x[1], tr["lmo:1"].y[1]) == (-0.5, 0.0)
    assert (tr["lmo:∞"].x[1], tr["lmo:∞"].y[1]) == (-0.5, -0.5)


def test_balls_are_thinned_and_drawn_at_the_decayed_radius():
    fw = trajectory("rosenbrock", lr=0.5, delta=0.5, K=5, p=2, steps=100, delta_decay=0.97)
    data = trajectory_trace_data("rosenbrock", fw, max_balls=25)
    bx = np.asarray(data["balls"]["x"]).reshape(25, -1)[:, :-1]
    by = np.asarray(data["balls"]["y"]).reshape(25, -1)[:, :-1]
    for i, t in enumerate(range(0, 100, 4)):
        ring = np.stack([bx[i], by[i]], axis=1) - fw.centers[t]
        np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 0.5 * 0.97**t, rtol=1e-9)
    assert (
        "δ_t = 0.5·0.97^(t−1)" in data["balls"]["name"] and "every 4th t" in data["balls"]["name"]
    )


def test_training_figure_fits_the_default_export_width():
    """At 700 px (the default width of figure files) every centred panel title fits its panel
    and half of each gap beside it at 12 px (0.55 em per character, DejaVu Sans' average on
    these titles), ticks are 10 px and at most 5 per axis, and the x axis's title is written
    once, not three times side by side."""
    from fwlab.plots import training_figure
    from fwlab.plots.training import training_panel_titles

    fig = training_figure({}, metric="test_acc")
    margin = fig.layout.margin
    plot_width = 700 - margin.l - margin.r
    gap = (fig.layout.xaxis2.domain[0] - fig.layout.xaxis.domain[1]) * plot_width
    assert gap >= 50
    for i, title in enumerate(training_panel_titles("test_acc")):
        axis = fig.layout[f"xaxis{i + 1 if i else ''}"]
        panel = (axis.domain[1] - axis.domain[0]) * plot_width
        assert fig.layout.annotations[i].font.size == 12
        assert len(title) * 0.55 * 12 <= panel + gap, (title, panel)
        assert axis.tickfont.size == 10 and axis.nticks == 5
    x_titles = [fig.layout[a].title.text for a in fig.layout if a.startswith("xaxis")]
    assert [t for t in x_titles if t] == ["batches (= gradient evaluations)"]
