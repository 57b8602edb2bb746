"""TrajectoryRecorder: what it keeps, where, and within which memory (fwlab/train/recorder.py)."""

import math

import pytest
import torch

from fwlab.data import load_task
from fwlab.train import TrainConfig, TrajectoryRecorder, build_model, fit, get_method

TINY = dict(hidden_size=6, batch_size=16, lr=0.3, delta=0.3)
FW_GLOBAL = get_method("fw_k5").replace(K=3, p=2.0, scope="global", outer="sgd")


@pytest.fixture(scope="module")
def adding():
    return load_task("adding", seq_len=8, n_train=320, n_test=32, seed=0)


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def run(method, data, steps, rec, **config):
    cfg = TrainConfig(steps=steps, **{**TINY, **config})
    model = build_model(method, data, cfg)
    start = flat(model).clone()
    fit(method, data, cfg, model=model, callbacks=[rec], progress=False)
    return model, start


def test_records_start_every_outer_step_and_the_final_point(adding):
    rec = TrajectoryRecorder()
    model, start = run(FW_GLOBAL, adding, 12, rec)
    assert rec.outer_steps == [0, 1, 2, 3, 4]
    assert rec.steps == [0, 3, 6, 9, 12]  # batches: an outer step is K = 3 of them
    pts = rec.points
    assert pts.dtype == torch.float32 and pts.shape == (5, rec.n_params)
    assert rec.n_params == sum(p.numel() for p in model.parameters())
    torch.testing.assert_close(pts[0], start)
    torch.testing.assert_close(pts[-1], flat(model))
    assert (pts[1:] - pts[:-1]).norm(dim=1).min() > 0  # it moved at every outer step
    assert rec.inner_points.shape == (0, rec.n_params)  # inner=False
    names = [s.name for s in rec.layout]
    assert names == [n for n, _ in model.named_parameters()]
    assert rec.layout[-1].offset + rec.layout[-1].numel == rec.n_params


def test_every_keeps_multiples_and_appends_an_off_grid_final_point(adding):
    rec = TrajectoryRecorder(every=3)
    model, _ = run(get_method("fw_k1"), adding, 10, rec)
    assert rec.outer_steps == [0, 3, 6, 9, 10]
    torch.testing.assert_close(rec.points[-1], flat(model))


def test_adam_records_every_batch_and_no_balls(adding):
    rec = TrajectoryRecorder(inner=True)
    run(get_method("sgd"), adding, 5, rec, lr=1e-2, delta=None)
    assert rec.outer_steps == [0, 1, 2, 3, 4, 5]
    assert rec.balls == {} and rec.inner_k == []


def test_inner_points_lie_in_the_l2_ball_of_their_iterate(adding):
    rec = TrajectoryRecorder(inner=True, dtype=torch.float64)
    run(FW_GLOBAL, adding, 12, rec)
    assert rec.inner_outer == [0, 0, 1, 1, 2, 2, 3, 3]
    assert rec.inner_k == [1, 2] * 4
    pts, inner = rec.points, rec.inner_points
    dist = torch.stack(
        [(inner[i] - pts[rec.outer_steps.index(o)]).norm() for i, o in enumerate(rec.inner_outer)]
    )
    delta = TINY["delta"]  # the parameters are float32: distances carry ~1e-7 rounding
    assert bool((dist <= delta * (1 + 1e-6)).all())
    assert bool((dist[1::2] < delta * (1 - 1e-3)).all())  # Δω_2 averages two vertices
    # Δω_1 = s_1 is a vertex of the ball: δ away
    torch.testing.assert_close(
        dist[::2], torch.full((4,), delta, dtype=torch.float64), rtol=1e-6, atol=0
    )
    for o in range(4):
        assert rec.balls[o].deltas == pytest.approx((delta,))
        assert rec.balls[o].ps == (2.0,) and rec.balls[o].scopes == ("global",)
    assert 4 not in rec.balls  # the final iterate starts no step


def test_float32_inner_points_are_within_rounding_of_the_ball(adding):
    rec = TrajectoryRecorder(inner=True)
    run(FW_GLOBAL, adding, 9, rec)
    pts = rec.points
    for i, o in enumerate(rec.inner_outer):
        assert float((rec.inner_points[i] - pts[o]).norm()) <= TINY["delta"] * (1 + 1e-5)


def test_interrupted_outer_step_ends_at_omega_without_a_duplicate(adding):
    rec = TrajectoryRecorder(inner=True)
    model, _ = run(FW_GLOBAL, adding, 10, rec)  # 3 outer steps + 1 inner step of the 4th
    assert rec.outer_steps == [0, 1, 2, 3]
    assert rec.inner_outer[-1] == 3 and rec.inner_k[-1] == 1
    torch.testing.assert_close(rec.points[-1], flat(model))


class Watch:
    """Calls the recorder and checks the byte limit after every event."""

    def __init__(self, rec):
        self.rec, self.peak = rec, 0

    def __call__(self, event, run):
        self.rec(event, run)
        self.peak = max(self.peak, self.rec.nbytes)
        assert self.rec.nbytes <= self.rec.max_bytes


def test_memory_limit_is_never_exceeded_and_thinning_keeps_even_spacing(adding):
    probe = TrajectoryRecorder()
    run(get_method("fw_k1"), adding, 1, probe)
    per_point = probe.bytes_per_point
    assert per_point == 4 * probe.n_params
    rec = TrajectoryRecorder(max_bytes=5 * per_point + per_point // 2)  # room for 5 points
    watch = Watch(rec)
    cfg = TrainConfig(steps=40, **TINY)
    fit(get_method("fw_k1"), adding, cfg, callbacks=[watch], progress=False)
    assert watch.peak <= rec.max_bytes
    assert rec.thinned >= 1 and rec.every == 2**rec.thinned
    assert rec.outer_steps[0] == 0 and rec.outer_steps[-1] == 40
    grid = rec.outer_steps[:-1] if rec.outer_steps[-1] % rec.every else rec.outer_steps
    assert grid == list(range(0, grid[-1] + 1, rec.every))
    assert len(rec.outer_steps) <= 5


def test_memory_limit_with_inner_points(adding):
    probe = TrajectoryRecorder()
    run(get_method("fw_k1"), adding, 1, probe)
    rec = TrajectoryRecorder(inner=True, max_bytes=7 * probe.bytes_per_point)
    watch = Watch(rec)
    method = get_method("fw_k5").replace(K=4)
    fit(method, adding, TrainConfig(steps=60, **TINY), callbacks=[watch], progress=False)
    assert watch.peak <= rec.max_bytes
    assert rec.outer_steps[-1] == 15 and rec.thinned >= 1
    kept = set(rec.outer_steps)
    assert set(rec.inner_outer) <= kept  # every inner point has its iterate
    assert all(o % rec.every == 0 for o in rec.inner_outer)


def test_too_small_a_limit_is_refused_at_begin(adding):
    rec = TrajectoryRecorder(max_bytes=100)
    with pytest.raises(ValueError, match="at least 2"):
        run(get_method("fw_k1"), adding, 2, rec)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(every=0), "every"),
        (dict(every=1.5), "every"),
        (dict(max_bytes=0), "max_bytes"),
        (dict(max_bytes=True), "max_bytes"),
        (dict(dtype=torch.int32), "dtype"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrajectoryRecorder(**kwargs)


def test_a_reused_recorder_starts_afresh(adding):
    rec = TrajectoryRecorder(every=2)
    run(get_method("fw_k1"), adding, 6, rec)
    first = rec.outer_steps
    run(get_method("fw_k1"), adding, 3, rec)
    assert first == [0, 2, 4, 6] and rec.outer_steps == [0, 2, 3]
    assert not math.isnan(float(rec.points.sum()))


def _stop_at(step):
    def callback(event, run):
        if event == "step" and run.step >= step and run.inner_step == 0:
            run.request_stop()

    return callback


@pytest.mark.parametrize("stop", [3, 9])  # stopped at an outer-step boundary
def test_a_resumed_run_keeps_the_earlier_path(adding, tmp_path, stop):
    cfg = TrainConfig(steps=12, checkpoint_every=1, **TINY)
    whole = TrajectoryRecorder(inner=True)
    fit(FW_GLOBAL, adding, cfg, callbacks=[whole], progress=False)

    rec = TrajectoryRecorder(inner=True)
    stopper = _stop_at(stop)
    fit(FW_GLOBAL, adding, cfg, callbacks=[rec, stopper], out_dir=tmp_path, progress=False)
    first = list(rec.steps)
    assert first[0] == 0 and first[-1] < 12
    fit(FW_GLOBAL, adding, cfg, callbacks=[rec], out_dir=tmp_path, resume=True, progress=False)
    assert rec.steps == whole.steps == [0, 3, 6, 9, 12]
    assert rec.outer_steps == whole.outer_steps
    assert rec.inner_outer == whole.inner_outer and rec.inner_k == whole.inner_k
    torch.testing.assert_close(rec.points, whole.points)
    torch.testing.assert_close(rec.inner_points, whole.inner_points)
    assert rec.balls == whole.balls


def test_a_fresh_recorder_continues_the_path_from_the_checkpoint(adding, tmp_path):
    """A new process resuming the run: its recorder gets the path from checkpoint.pt (loaded
    weights-only) and ends with the uninterrupted run's path."""
    cfg = TrainConfig(steps=12, checkpoint_every=1, **TINY)
    whole = TrajectoryRecorder(inner=True)
    fit(FW_GLOBAL, adding, cfg, callbacks=[whole], progress=False)
    first = TrajectoryRecorder(inner=True)
    fit(FW_GLOBAL, adding, cfg, callbacks=[first, _stop_at(9)], out_dir=tmp_path,
        progress=False)  # fmt: skip
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["callbacks"]
    assert saved["TrajectoryRecorder[0]"]["steps"] == [0, 3, 6, 9]
    fresh = TrajectoryRecorder(inner=True)
    fit(FW_GLOBAL, adding, cfg, callbacks=[fresh], out_dir=tmp_path, resume=True, progress=False)
    assert fresh.steps == whole.steps == [0, 3, 6, 9, 12]
    assert fresh.outer_steps == whole.outer_steps and fresh.layout == whole.layout
    assert fresh.inner_outer == whole.inner_outer and fresh.inner_k == whole.inner_k
    torch.testing.assert_close(fresh.points, whole.points)
    torch.testing.assert_close(fresh.inner_points, whole.inner_points)
    assert fresh.balls == whole.balls


def test_a_recorder_refuses_a_checkpoint_path_larger_than_its_max_bytes(adding, tmp_path):
    cfg = TrainConfig(steps=6, checkpoint_every=1, **TINY)
    fit(FW_GLOBAL, adding, cfg, callbacks=[TrajectoryRecorder(inner=True)], out_dir=tmp_path,
        progress=False)  # fmt: skip
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["callbacks"]
    small = TrajectoryRecorder(max_bytes=8 * state["TrajectoryRecorder[0]"]["points"].shape[1])
    with pytest.raises(ValueError, match=r"holds \d+ points, more than max_bytes=\d+ holds \(2\)"):
        small.load_state_dict(state["TrajectoryRecorder[0]"])


def test_a_fresh_recorder_on_a_resumed_run_counts_outer_steps_from_the_run(adding, tmp_path):
    cfg = TrainConfig(steps=12, checkpoint_every=1, **TINY)
    fit(FW_GLOBAL, adding, cfg, callbacks=[_stop_at(6)], out_dir=tmp_path, progress=False)
    rec = TrajectoryRecorder()
    with pytest.warns(UserWarning, match=r"no state for \['TrajectoryRecorder\[0\]'\]"):
        fit(FW_GLOBAL, adding, cfg, callbacks=[rec], out_dir=tmp_path, resume=True,
            progress=False)  # fmt: skip
    assert rec.steps == [6, 9, 12] and rec.outer_steps == [2, 3, 4]


def test_a_new_run_with_the_same_recorder_starts_a_new_path(adding):
    rec = TrajectoryRecorder()
    run(FW_GLOBAL, adding, 6, rec)
    run(FW_GLOBAL, adding, 3, rec)
    assert rec.steps == [0, 3] and rec.outer_steps == [0, 1]
