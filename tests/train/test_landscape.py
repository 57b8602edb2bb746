"""PCA plane, projection, loss grid, trust regions and the landscape figure
(fwlab/train/landscape.py)."""

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from fwlab.data import load_task
from fwlab.models import SequenceModel
from fwlab.plots import LANDSCAPE_TRACES, landscape_figure
from fwlab.train import (
    BallSpec,
    ParamSlice,
    TrainConfig,
    TrajectoryRecorder,
    build_model,
    fit,
    get_method,
)
from fwlab.train.landscape import (
    Plane,
    landscape,
    loss_grid,
    pca_plane,
    project,
    time_landscape,
    trust_region_shadow,
)

FW_GLOBAL = get_method("fw_k5").replace(K=3, p=2.0, scope="global", outer="sgd")
CONFIG = TrainConfig(hidden_size=6, batch_size=16, steps=24, lr=0.5, delta=0.5)


@pytest.fixture(scope="module")
def adding():
    return load_task("adding", seq_len=8, n_train=400, n_test=48, seed=0)


def trained(method, data, config=CONFIG, **rec):
    model = build_model(method, data, config)
    recorder = TrajectoryRecorder(inner=True, **rec)
    fit(method, data, config, model=model, callbacks=[recorder], progress=False)
    return model, recorder


@pytest.fixture(scope="module")
def fw_run(adding):
    return trained(FW_GLOBAL, adding)


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def set_flat(model, vec):
    with torch.no_grad():
        offset = 0
        for p in model.parameters():
            p.copy_(vec[offset : offset + p.numel()].view_as(p))
            offset += p.numel()


def model_loss(model, batch):
    was = model.training
    model.eval()
    with torch.no_grad():
        loss = float(F.mse_loss(model(batch[0]), batch[1]))
    model.train(was)
    return loss


# ------------------------------------------------------------------------------ plane
def anisotropic_points(m=15, n=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    scales = torch.logspace(0, -2, n, dtype=torch.float64)
    return torch.randn(m, n, generator=g, dtype=torch.float64) * scales + 3.0


@pytest.mark.parametrize("m, n", [(15, 30), (40, 12)], ids=["fewer-points", "more-points"])
def test_plane_is_orthonormal_and_explained_variance_matches_numpy(m, n):
    pts = anisotropic_points(m, n)  # from the Gram matrix XX^T, and from X^T X
    plane = pca_plane(pts.float())
    d = plane.directions
    torch.testing.assert_close(d @ d.T, torch.eye(2, dtype=torch.float64), atol=1e-12, rtol=0)
    cov = np.cov(pts.float().double().numpy(), rowvar=False)  # mean-centred, as PCA
    evals, evecs = np.linalg.eigh(cov)
    ratios = evals[::-1][:2] / evals.sum()
    np.testing.assert_allclose(plane.explained, ratios, rtol=1e-9)
    assert plane.explained_total == pytest.approx(ratios.sum())
    for i in range(2):  # the same directions up to sign
        assert abs(float(d[i].numpy() @ evecs[:, -1 - i])) == pytest.approx(1.0, abs=1e-9)
    torch.testing.assert_close(plane.origin, pts[-1].float().double())


def test_plane_signs_put_the_start_on_the_negative_side_and_center_sets_the_origin():
    pts = anisotropic_points(seed=1)
    center = pts.mean(0)
    plane = pca_plane(pts, center=center)
    torch.testing.assert_close(plane.origin, center)
    first = project(pts[0], plane)[0]
    assert bool((first <= 0).all())
    # the mean of the points projects to the origin when the plane goes through it
    torch.testing.assert_close(project(pts, plane).mean(0), torch.zeros(2, dtype=torch.float64))


def test_plane_rejects_too_few_or_collinear_points():
    with pytest.raises(ValueError, match="at least 3"):
        pca_plane(torch.randn(2, 5))
    line = torch.linspace(0, 1, 6)[:, None] * torch.ones(1, 5)
    with pytest.raises(ValueError, match="fewer than 2 directions"):
        pca_plane(line)
    with pytest.raises(ValueError, match="center"):
        pca_plane(torch.randn(4, 5), center=torch.zeros(3))


def test_project_gives_plane_coordinates():
    pts = anisotropic_points()
    plane = pca_plane(pts)
    x = plane.point(2.0, -3.0)
    torch.testing.assert_close(project(x, plane), torch.tensor([[2.0, -3.0]], dtype=torch.float64))
    expected = (pts - plane.origin).numpy() @ plane.directions.numpy().T
    np.testing.assert_allclose(project(pts, plane).numpy(), expected, atol=1e-12)
    with pytest.raises(ValueError, match="entries"):
        project(torch.zeros(3, 7), plane)


# ------------------------------------------------------------------------------ loss grid
def test_grid_loss_at_projected_points_equals_the_model_loss_there(adding):
    torch.manual_seed(0)
    model = SequenceModel("rnn", 2, 5, 1)
    batch = adding.test.tensors
    base = flat(model).clone()
    g = torch.Generator().manual_seed(1)
    # three points always lie in their own PCA plane, wherever its origin is
    pts = torch.stack([base + 0.3 * torch.randn(base.shape, generator=g) for _ in range(3)])
    plane = pca_plane(pts, center=pts.mean(0))
    coords = project(pts, plane)
    for pt, (a, b) in zip(pts, coords.tolist(), strict=True):
        grid = loss_grid(model, plane, [a], [b], batch=batch, criterion=F.mse_loss)
        set_flat(model, pt)
        expected = model_loss(model, batch)
        set_flat(model, base)
        assert grid.shape == (1, 1)
        assert grid[0, 0] == pytest.approx(expected, rel=1e-5)
    torch.testing.assert_close(flat(model), base, rtol=0, atol=0)


def test_grid_layout_rows_are_y():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1, bias=False)
    plane = Plane(
        torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)[:2], (0.5, 0.5)
    )
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

    def loss_fn(m):
        out = m(x)[:, 0]  # (w0, w1): the plane coordinates (a, b)
        return 10 * out[0] + out[1]

    xs, ys = [0.0, 1.0, 2.0], [0.0, 0.5]
    z = loss_grid(model, plane, xs, ys, loss_fn=loss_fn)
    expected = np.array([[10 * a + b for a in xs] for b in ys])  # row j ↔ ys[j]
    np.testing.assert_allclose(z, expected, rtol=1e-6)


def test_parameters_mode_and_buffers_are_restored_even_when_the_loss_raises(adding):
    torch.manual_seed(0)
    model = SequenceModel("rnn", 2, 5, 1, batch_norm=True)
    model.train()
    model(adding.test.tensors[0])  # move the BN running statistics away from their init
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ptrs = [p.data_ptr() for p in model.parameters()]
    n = sum(p.numel() for p in model.parameters())
    g = torch.Generator().manual_seed(0)
    plane = pca_plane(torch.randn(4, n, generator=g, dtype=torch.float64))
    calls = []

    def boom(m):
        calls.append(m.training)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return F.mse_loss(m(adding.test.tensors[0]), adding.test.tensors[1])

    with pytest.raises(RuntimeError, match="boom"):
        loss_grid(model, plane, [0.0, 1.0], [0.0, 1.0], loss_fn=boom)
    assert calls == [False, False, False]  # evaluated in eval mode
    assert model.training
    assert [p.data_ptr() for p in model.parameters()] == ptrs
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    # and after a successful grid too; the BN buffers are not updated by the evaluations
    loss_grid(
        model,
        plane,
        [0.5],
        [0.5],
        loss_fn=lambda m: F.mse_loss(m(adding.test.tensors[0]), adding.test.tensors[1]),
    )
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)


def test_loss_grid_argument_errors_and_threads_restored():
    model = torch.nn.Linear(2, 1)
    plane = Plane(
        torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)[:2], (0.5, 0.5)
    )
    x, y = torch.ones(4, 2), torch.zeros(4, 1)
    with pytest.raises(ValueError, match="either loss_fn"):
        loss_grid(model, plane, [0.0], [0.0])
    with pytest.raises(ValueError, match="either loss_fn"):
        loss_grid(model, plane, [0.0], [0.0], batch=(x, y), criterion=F.mse_loss, loss_fn=len)
    bad = Plane(
        torch.zeros(5, dtype=torch.float64), torch.eye(5, dtype=torch.float64)[:2], (0.5, 0.5)
    )
    with pytest.raises(ValueError, match="3 parameters, the plane 5"):
        loss_grid(model, bad, [0.0], [0.0], batch=(x, y), criterion=F.mse_loss)
    threads = torch.get_num_threads()
    seen = []
    loss_grid(
        model,
        plane,
        [0.0],
        [0.0],
        loss_fn=lambda m: seen.append(torch.get_num_threads()) or 0.0,
        threads=1,
    )
    assert seen == [1] and torch.get_num_threads() == threads


# ------------------------------------------------------------------------------ trust regions
def test_shadow_of_the_global_l2_ball_is_the_disc_of_radius_delta():
    pts = anisotropic_points()
    plane = pca_plane(pts)
    layout = [ParamSlice("w", (20,), 0, 20, 0), ParamSlice("b", (10,), 20, 10, 0)]
    ring = trust_region_shadow(plane, layout, BallSpec((0.7,), (2.0,), ("global",)), n=32)
    assert ring.shape == (33, 2)
    np.testing.assert_allclose(np.hypot(ring[:, 0], ring[:, 1]), 0.7, rtol=1e-9)
    np.testing.assert_allclose(ring[0], ring[-1])


@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
def test_shadow_of_a_product_of_balls_has_the_right_support_function(p):
    pts = anisotropic_points(seed=2)
    plane = pca_plane(pts)
    layout = [ParamSlice("w", (20,), 0, 20, 0), ParamSlice("b", (10,), 20, 10, 0)]
    delta, n = 0.4, 24
    ring = trust_region_shadow(plane, layout, BallSpec((delta,), (p,), ("tensor",)), n=n)
    q = 1.0 if math.isinf(p) else (math.inf if p == 1.0 else 2.0)
    for t, th in enumerate(np.linspace(0, 2 * np.pi, n + 1)[:-1]):
        u = np.array([math.cos(th), math.sin(th)])
        v = (u[0] * plane.directions[0] + u[1] * plane.directions[1]).numpy()
        support = delta * (np.linalg.norm(v[:20], q) + np.linalg.norm(v[20:], q))
        assert float(ring[t] @ u) == pytest.approx(support, rel=1e-9)
    # a product of 2 l2 balls reaches further than one ball (up to √2 δ), never less
    if p == 2.0:
        r = np.hypot(ring[:, 0], ring[:, 1])
        assert r.min() >= delta * (1 - 1e-9) and r.max() <= delta * math.sqrt(2) * (1 + 1e-9)


# ------------------------------------------------------------------------------ landscape
def test_landscape_final_point_grid_loss_equals_the_model_loss(adding, fw_run):
    model, rec = fw_run
    batch = adding.test.tensors
    before = flat(model).clone()
    res = landscape(model, rec, batch, F.mse_loss, resolution=7, threads=1)
    torch.testing.assert_close(flat(model), before, rtol=0, atol=0)
    torch.testing.assert_close(rec.points[-1], before)  # the model is at the final iterate
    np.testing.assert_allclose(res.path[-1], [0.0, 0.0], atol=1e-12)
    i0, j0 = res.origin_index
    assert res.xs[i0] == 0.0 and res.ys[j0] == 0.0
    assert res.losses.shape == (7, 7)
    assert res.loss_at_origin == pytest.approx(model_loss(model, batch), rel=1e-6)
    assert res.losses[j0, i0] == res.loss_at_origin
    # the grid covers the path and the inner points
    both = np.concatenate([res.path, res.inner])
    assert res.xs[0] <= both[:, 0].min() and both[:, 0].max() <= res.xs[-1]
    assert res.ys[0] <= both[:, 1].min() and both[:, 1].max() <= res.ys[-1]
    assert res.path.shape == (len(rec.outer_steps), 2) == (9, 2)
    assert res.inner.shape == (16, 2)
    assert list(res.path_outer) == rec.outer_steps
    assert res.explained == rec_plane_explained(rec)


def rec_plane_explained(rec):
    return pca_plane(rec.points).explained


def test_landscape_draws_delta_discs_that_hold_the_projected_inner_points(fw_run, adding):
    model, rec = fw_run
    res = landscape(
        model, rec, adding.test.tensors, F.mse_loss, resolution=3, max_balls=5, threads=1
    )
    assert res.ball_kind == "disc" and res.p == 2.0 and res.scope == "global"
    assert len(res.ball_centers) == 5
    np.testing.assert_allclose(res.ball_radii, CONFIG.delta)
    for center, ring in zip(res.ball_centers, res.ball_xy, strict=True):
        np.testing.assert_allclose(np.hypot(*(ring - center).T), CONFIG.delta, rtol=1e-9)
    for xy, o in zip(res.inner, res.inner_outer, strict=True):
        c = res.path[list(res.path_outer).index(o)]
        assert np.hypot(*(xy - c)) <= CONFIG.delta * (1 + 1e-5)


def test_landscape_with_tensor_scope_draws_shadows_containing_the_inner_points(adding):
    method = get_method("fw_k5").replace(K=3, p=2.0, scope="tensor", outer="sgd")
    model, rec = trained(method, adding, CONFIG.replace(steps=12))
    res = landscape(model, rec, adding.test.tensors, F.mse_loss, resolution=3, threads=1)
    assert res.ball_kind == "shadow" and res.scope == "tensor"
    n = res.ball_xy.shape[1] - 1
    theta = np.linspace(0, 2 * np.pi, n + 1)[:-1]
    units = np.stack([np.cos(theta), np.sin(theta)], 1)
    for ring, center, o in zip(res.ball_xy, res.ball_centers, res.path_outer, strict=False):
        support = ((ring[:-1] - center) * units).sum(1)  # h(u) at each sampled direction
        for xy in res.inner[res.inner_outer == o]:
            assert bool(((xy - center) @ units.T <= support * (1 + 1e-5) + 1e-7).all())


def test_landscape_of_an_adam_run_has_no_balls(adding):
    threads_before = torch.get_num_threads()
    model, rec = trained(get_method("sgd"), adding, CONFIG.replace(lr=0.05, delta=None, steps=6))
    res = landscape(model, rec, adding.test.tensors, F.mse_loss, resolution=(4, 3), threads=1)
    assert res.ball_kind == "" and res.ball_xy.shape == (0, 65, 2) and res.p is None
    assert res.losses.shape == (3, 4) and res.inner.shape == (0, 2)
    assert torch.get_num_threads() == threads_before
    with pytest.raises(ValueError, match="resolution"):
        landscape(model, rec, adding.test.tensors, F.mse_loss, resolution=1, threads=1)


# ------------------------------------------------------------------------------ figure
def test_landscape_figure_has_the_expected_traces(fw_run, adding):
    model, rec = fw_run
    res = landscape(
        model, rec, adding.test.tensors, F.mse_loss, resolution=4, max_balls=3, threads=1
    )
    fig = landscape_figure(res)
    assert tuple(t.meta for t in fig.data) == LANDSCAPE_TRACES
    traces = {t.meta: t for t in fig.data}
    assert np.asarray(traces["contour"].z).shape == (4, 4)
    assert len(traces["path"].x) == len(rec.outer_steps)
    assert len(traces["inner"].x) == len(rec.inner_k)
    assert int(np.isnan(np.asarray(traces["balls"].x, dtype=float)).sum()) == 3  # one break each
    assert "disc" in traces["balls"].name
    ex1, ex2 = res.explained
    assert f"{100 * ex1:.1f}%" in fig.layout.xaxis.title.text
    assert f"{100 * ex2:.1f}%" in fig.layout.yaxis.title.text
    assert fig.layout.yaxis.scaleanchor == "x"
    logfig = landscape_figure(res, log=True)
    np.testing.assert_allclose(np.asarray(logfig.data[0].z), np.log10(res.losses))


def test_time_landscape_reports_plain_numbers():
    out = time_landscape(hidden_size=4, samples=8, seq_len=5, resolution=3, train_steps=9)
    assert out["evaluations"] == 9 and out["n_params"] == 4 * 2 + 16 + 8 + 5
    assert 0 < out["grid_seconds"] <= out["seconds"]
    assert out["per_eval_ms"] == pytest.approx(1000 * out["grid_seconds"] / 9)
    assert 0 < out["explained_total"] <= 1 + 1e-12
