"""fit, evaluate, checkpoints and callbacks (fwlab/train/: loop, build, checkpoint, history)."""

import json
import math

import pytest
import torch

from fwlab.data import load_task
from fwlab.optim import FrankWolfe
from fwlab.train import (
    TrainConfig,
    build_model,
    build_optimizer,
    evaluate,
    fit,
    get_method,
    load_checkpoint,
    loss_kind,
)
from fwlab.train import loop as loop_module

TINY = dict(hidden_size=8, batch_size=16, lr=1e-2)


@pytest.fixture(scope="module")
def adding():
    return load_task("adding", seq_len=12, n_train=320, n_test=32, seed=0)


@pytest.fixture(scope="module")
def motions():
    return load_task("basicmotions")


def strip_times(history):
    h = json.loads(json.dumps(history))
    h["eval"].pop("seconds")
    h["summary"].pop("wall_time")
    return h


@pytest.mark.parametrize("name", ["sgd", "fw_k1", "fw_k5", "tbptt_fw", "lstm_adam", "indrnn_fw"])
def test_history_layout(adding, name):
    cfg = TrainConfig(**TINY, steps=10, eval_every=5)
    h = fit(get_method(name, tbptt=4) if "tbptt" in name else get_method(name), adding, cfg,
            progress=False)  # fmt: skip
    assert h["task"] == "adding" and h["method"]["name"] == name
    assert h["train"]["step"] == list(range(1, 11)) and len(h["train"]["loss"]) == 10
    assert all(math.isfinite(v) for v in h["train"]["loss"])
    assert h["eval"]["step"] == [5, 10]
    assert h["summary"]["steps"] == 10 and h["summary"]["final_test_loss"] > 0
    if get_method(name).optimizer == "fw":
        K = get_method(name).K
        assert h["optimizer"]["step"] == list(range(K, 11, K))
        assert all(g >= -1e-9 for g in h["optimizer"]["fw_gap"])
    else:
        assert h["optimizer"]["step"] == []
    json.dumps(h)


def test_classification_metrics_best_and_final(motions):
    cfg = TrainConfig(hidden_size=8, batch_size=8, lr=1e-2, epochs=3)
    h = fit(get_method("fw_k1"), motions, cfg, progress=False)
    accs = h["eval"]["test_acc"]
    assert h["eval"]["epoch"] == [1, 2, 3] and len(accs) == 3
    assert all(0 <= a <= 100 for a in accs)
    assert h["summary"]["best_test_acc"] == max(accs)
    assert h["summary"]["final_test_acc"] == accs[-1]
    assert h["summary"]["epochs"] == 3 and h["summary"]["steps"] == 3 * 5


def test_evaluation_happens_at_the_iterate_not_the_shifted_point(adding):
    seen = []

    def cb(event, run):
        if event == "eval":
            with run.optimizer.at_omega():
                seen.append(evaluate(run.model, adding.test, "mse")["loss"])

    cfg = TrainConfig(**TINY, steps=7, eval_every=7)  # 7 = mid outer step for K=3
    h = fit(get_method("fw_k1", K=3), adding, cfg, callbacks=[cb], progress=False)
    assert h["eval"]["test_loss"][0] == pytest.approx(seen[0], rel=1e-6)


def test_stopping_mid_outer_step_returns_to_the_iterate(adding):
    cfg = TrainConfig(**TINY, steps=7)
    model = build_model(get_method("fw_k5"), adding, cfg)
    fit(get_method("fw_k5"), adding, cfg, model=model, progress=False)
    final = evaluate(model, adding.test, "mse")["loss"]
    h = fit(get_method("fw_k5"), adding, cfg, progress=False)
    assert h["summary"]["final_test_loss"] == pytest.approx(final, rel=1e-6)


def test_same_seed_same_history_other_seed_differs(adding):
    cfg = TrainConfig(**TINY, steps=6)
    a = strip_times(fit(get_method("fw_k1"), adding, cfg, progress=False))
    b = strip_times(fit(get_method("fw_k1"), adding, cfg, progress=False))
    c = strip_times(fit(get_method("fw_k1"), adding, cfg.replace(seed=1), progress=False))
    assert a == b and a["train"]["loss"] != c["train"]["loss"]


@pytest.mark.parametrize("name", ["fw_k5", "indrnn_fw", "sgd"])
def test_killed_run_resumed_from_checkpoint_equals_uninterrupted(adding, tmp_path, name):
    method = (
        get_method(name, dropout=0.2, num_layers=2) if name == "indrnn_fw" else get_method(name)
    )
    cfg = TrainConfig(**TINY, steps=23, eval_every=4, checkpoint_every=3)
    whole = fit(method, adding, cfg, out_dir=tmp_path / "whole", progress=False)

    class Killed(Exception):
        pass

    def kill_at_step_11(event, run):
        if event == "step" and run.step == 11:  # last checkpoint at batch 9, mid outer step
            raise Killed

    with pytest.raises(Killed):
        fit(method, adding, cfg, out_dir=tmp_path / "cut", callbacks=[kill_at_step_11],
            progress=False)  # fmt: skip
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["counters"]["step"] == 9
    resumed = fit(method, adding, cfg, out_dir=tmp_path / "cut", resume=True, progress=False)
    assert strip_times(resumed) == strip_times(whole)
    saved = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert saved["summary"]["steps"] == 23


def test_resume_refuses_a_checkpoint_of_another_run(adding, tmp_path):
    cfg = TrainConfig(**TINY, steps=4, checkpoint_every=2)
    fit(get_method("fw_k1"), adding, cfg, out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="belongs to another run"):
        fit(get_method("fw_k5"), adding, cfg, out_dir=tmp_path, resume=True, progress=False)


def test_checkpoint_is_atomic_and_loads_weights_only(adding, tmp_path, monkeypatch):
    cfg = TrainConfig(**TINY, steps=4, checkpoint_every=2)
    fit(get_method("fw_k1"), adding, cfg, out_dir=tmp_path, progress=False)
    good = (tmp_path / "checkpoint.pt").read_bytes()
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["counters"]["step"] == 4 and "model" in ckpt and "optimizer" in ckpt

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(loop_module.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        fit(get_method("fw_k1"), adding, cfg, out_dir=tmp_path, resume=True, progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == good
    # no temporary file left; the claim's lock file stays (empty), its pid file is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".claim.lock",
        "checkpoint.pt",
        "history.json",
    ]


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"\x00garbage")
    with pytest.raises(RuntimeError, match="cannot be read.*it is left as it is: keep it aside"):
        load_checkpoint(tmp_path / "checkpoint.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_tbptt_steps_per_chunk_and_carries_state(adding):
    calls = []

    class Spy(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x, state=None, return_state=False):
            calls.append((x.shape[1], state is None))
            return self.inner(x, state, return_state)

    method = get_method("tbptt", tbptt=5)  # 12 steps -> chunks of 5, 5, 2
    cfg = TrainConfig(**TINY, steps=6)
    model = Spy(build_model(method, adding, cfg))
    h = fit(method, adding, cfg, model=model, progress=False)
    train_calls = [c for c in calls if c[0] in (5, 2)][:6]
    assert train_calls == [(5, True), (5, False), (2, False)] * 2
    assert h["summary"]["steps"] == 6


def test_clipping_by_value_and_norm(adding):
    seen = []

    def cb(event, run):
        if event == "step":
            grads = [p.grad for p in run.model.parameters() if p.grad is not None]
            norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
            seen.append((max(g.abs().max().item() for g in grads), norm.item()))

    cfg = TrainConfig(**{**TINY, "lr": 1.0}, steps=3)
    fit(get_method("sgd", clip_value=1e-3), adding, cfg, callbacks=[cb], progress=False)
    assert all(v <= 1e-3 + 1e-9 for v, _ in seen)
    seen.clear()
    fit(get_method("sgd_clip", clip_norm=1e-2), adding, cfg, callbacks=[cb], progress=False)
    assert all(n <= 1e-2 * (1 + 1e-5) for _, n in seen)


def test_indrnn_recurrent_bound_and_weight_decay_groups(adding):
    method = get_method("indrnn_fw", num_layers=2, weight_decay=1e-4, K=1)
    cfg = TrainConfig(**{**TINY, "lr": 0.5}, steps=6)
    model = build_model(method, adding, cfg)
    opt = build_optimizer(model, method, cfg)
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decayed) == (p.dim() >= 2), name
    fit(method, adding, cfg, model=model, progress=False)
    bound = model.body.recurrent_max
    assert all(u.abs().max().item() <= bound + 1e-6 for u in model.body.recurrent_weights())


def test_k_switch_changes_K_and_is_recorded(adding):
    cfg = TrainConfig(**TINY, steps=12)
    h = fit(get_method("fw_k1", K_switch=(4, 3)), adding, cfg, progress=False)
    assert h["events"] == [{"step": 4, "kind": "K_switch", "values": {"K": 3}}]
    assert h["optimizer"]["step"] == [1, 2, 3, 4, 7, 10]
    assert h["optimizer"]["K"] == [1, 1, 1, 1, 3, 3]  # the K of each outer step


def test_a_checkpoint_from_before_K_was_a_series_resumes(adding, tmp_path):
    """Its history has no optimizer K: the resumed run records K from then on, None before."""
    cfg = TrainConfig(**TINY, steps=8, checkpoint_every=4)

    def kill(event, run):
        if event == "step" and run.step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(get_method("fw_k1"), adding, cfg, out_dir=tmp_path, callbacks=[kill], progress=False)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["counters"]["step"] == 5  # Ctrl-C checkpoints where it stopped
    del ckpt["history"]["optimizer"]["K"]
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    h = fit(get_method("fw_k1"), adding, cfg, out_dir=tmp_path, resume=True, progress=False)
    assert h["optimizer"]["step"] == list(range(1, 9))
    assert h["optimizer"]["K"] == [None] * 5 + [1] * 3


def test_callback_stop_request_and_set_hyperparameters(adding):
    def cb(event, run):
        if event == "step" and run.step == 2:
            run.set_hyperparameters(delta=5e-3, K=2)
        if event == "step" and run.step == 6:
            run.request_stop()

    cfg = TrainConfig(**TINY, steps=100)
    h = fit(get_method("fw_k1"), adding, cfg, callbacks=[cb], progress=False)
    assert h["summary"]["steps"] == 6 and h["summary"]["stopped_early"]
    assert h["events"] == [{"step": 2, "kind": "set", "values": {"delta": 5e-3, "K": 2}}]
    assert h["optimizer"]["step"] == [1, 2, 4, 6]
    assert h["optimizer"]["delta"][-1] == pytest.approx(5e-3)


def test_loss_kinds(adding, motions):
    cfg = TrainConfig(**TINY, steps=1)
    assert loss_kind(cfg, adding) == "mse" and loss_kind(cfg, motions) == "ce"
    assert build_model(get_method("sgd"), motions, cfg).head.out_features == 4
    with pytest.raises(ValueError, match="sigmoid_mse' needs 2 classes"):
        loss_kind(cfg.replace(loss="sigmoid_mse"), motions)
    with pytest.raises(ValueError, match="regression"):
        loss_kind(cfg.replace(loss="ce"), adding)
    binary = load_task("basicmotions")
    x, y = binary.train.tensors
    from torch.utils.data import TensorDataset

    from fwlab.data.sequence_data import SequenceData

    two = SequenceData("two", TensorDataset(x, (y > 1).long()), TensorDataset(x, (y > 1).long()),
                       task="classification", n_classes=2)  # fmt: skip
    assert loss_kind(cfg, two) == "sigmoid_mse"
    assert build_model(get_method("sgd"), two, cfg).head.out_features == 1
    h = fit(get_method("fw_k1"), two, cfg.replace(epochs=1, steps=None), progress=False)
    assert 0 <= h["summary"]["final_test_acc"] <= 100


@pytest.mark.parametrize(
    "changes,name",
    [
        (dict(hidden_size=0), "hidden_size"),
        (dict(batch_size=1.5), "batch_size"),
        (dict(steps=0), "steps"),
        (dict(epochs=-1), "epochs"),
        (dict(steps=None, epochs=None), "epochs or steps"),
        (dict(lr=-1e-3), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(delta=0.0), "delta"),
        (dict(lr_gamma=0.0), "lr_gamma"),
        (dict(loss="l1"), "loss"),
        (dict(seed="0"), "seed"),
        (dict(checkpoint_every=0), "checkpoint_every"),
    ],
)
def test_invalid_config(changes, name):
    with pytest.raises(ValueError, match=f"^{name} must"):
        TrainConfig(**{**dict(steps=1), **changes})


def test_step_lr_shrinks_lr_and_delta_together(motions):
    cfg = TrainConfig(hidden_size=8, batch_size=8, lr=1e-2, epochs=3, lr_step=1, lr_gamma=0.5)
    h = fit(get_method("fw_k1"), motions, cfg, progress=False)
    assert sorted(set(h["train"]["lr"]), reverse=True) == pytest.approx([1e-2, 5e-3, 2.5e-3])
    assert h["optimizer"]["delta"][-1] == pytest.approx(2.5e-3)


def test_fw_optimizer_settings_come_from_the_method(adding):
    cfg = TrainConfig(**TINY, steps=1, delta=0.3)
    model = build_model(get_method("fw_k1_alg1"), adding, cfg)
    opt = build_optimizer(model, get_method("fw_k1_alg1", p=math.inf), cfg)
    g = opt.param_groups[0]
    assert isinstance(opt, FrankWolfe)
    assert (g["scope"], g["outer"], g["p"], g["delta"], g["lr"]) == (
        "global",
        "sgd",
        math.inf,
        0.3,
        1e-2,
    )


def test_k_switch_happens_once_and_a_later_k_set_by_a_callback_stays():
    from fwlab.data import load_task
    from fwlab.train import TrainConfig, fit, get_method

    data = load_task("adding", seq_len=10, n_train=100, n_test=50)
    method = get_method("fw_decay_k5").replace(K_switch=(4, 5))

    def set_k(event, run):
        if event == "step" and run.step == 14:
            run.set_hyperparameters(K=2)

    h = fit(
        method,
        data,
        TrainConfig(hidden_size=8, batch_size=25, steps=30),
        callbacks=[set_k],
        progress=False,
    )
    assert [e["kind"] for e in h["events"]] == ["K_switch", "set"]
    assert h["optimizer"]["step"] == [1, 2, 3, 4, 9, 14, 16, 18, 20, 22, 24, 26, 28, 30]


def test_lr_schedule_waits_for_the_outer_step_boundary(motions):
    # 5 batches per epoch, K = 3: epochs end mid outer step; delta must not change inside one
    cfg = TrainConfig(hidden_size=8, batch_size=8, lr=1e-2, epochs=3, lr_step=1, lr_gamma=0.5)
    h = fit(get_method("fw_k1", K=3), motions, cfg, progress=False)
    lrs = h["train"]["lr"]
    # the lr in use changes only right after an outer step (every 3rd batch)
    changes = [i for i in range(1, len(lrs)) if lrs[i] != lrs[i - 1]]
    assert changes and all(i % 3 == 0 for i in changes), changes
    assert h["optimizer"]["delta"] == pytest.approx([1e-2] * 2 + [5e-3] * 2 + [2.5e-3])
