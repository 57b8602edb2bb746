"""TensorBoard logging and loading (fwlab/train/tensorboard.py): what the logger writes is read
back with TensorBoard's own event reader and compared to the history ``fit`` returned."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.hparams import plugin_data_pb2

from fwlab.app.cli import main
from fwlab.data import load_task
from fwlab.train import TensorBoardLogger, TrainConfig, fit, get_method, load_histories
from fwlab.train.tensorboard import SCALAR_TAGS, history_scalars, read_tensorboard_run

TINY = dict(hidden_size=8, batch_size=16, lr=1e-2)


@pytest.fixture(scope="module")
def adding():
    return load_task("adding", seq_len=12, n_train=160, n_test=32, seed=0)


def accumulator(path):
    acc = ea.EventAccumulator(str(path), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    return acc


def assert_scalars_match(acc, history):
    """Every series of SCALAR_TAGS in TensorBoard equals the history's (float32 precision)."""
    for (part, key), tag in SCALAR_TAGS.items():
        block = history[part]
        expected = [(s, v) for s, v in zip(block["step"], block[key]) if v is not None]
        if not expected:
            assert tag not in acc.Tags()["scalars"], tag
            continue
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert [s for s, _ in got] == [s for s, _ in expected], tag
        np.testing.assert_allclose([v for _, v in got], [v for _, v in expected], rtol=1e-6)


def hparams(acc):
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    values = {}
    for k, v in start.session_start_info.hparams.items():
        kind = v.WhichOneof("kind")
        values[k] = getattr(v, kind)
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    metrics = [m.name.tag for m in experiment.experiment.metric_infos]
    end = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_end_info"])
    return values, metrics, end.session_end_info.status


def test_frank_wolfe_run_written_and_read_back_by_tensorboard(adding, tmp_path):
    cfg = TrainConfig(**TINY, steps=12, eval_every=4, delta=0.02)
    h = fit(get_method("fw_k5", K=3), adding, cfg, callbacks=[TensorBoardLogger(tmp_path / "tb")],
            progress=False)  # fmt: skip
    acc = accumulator(tmp_path / "tb")
    assert set(acc.Tags()["scalars"]) == {
        "train/loss", "train/lr", "eval/train_loss", "eval/test_loss", "eval/epoch",
        "eval/seconds", "fw/delta", "fw/K", "fw/gap", "fw/dw_norm", "fw/angle_deg",
    }  # fmt: skip
    assert_scalars_match(acc, h)
    assert [e.step for e in acc.Scalars("fw/gap")] == [3, 6, 9, 12]  # one per outer step (K=3)
    assert [e.value for e in acc.Scalars("fw/delta")] == pytest.approx([0.02] * 4)
    values, metrics, status = hparams(acc)
    assert values["method"] == "fw_k5" and values["K"] == 3 and values["p"] == "2.0"
    assert values["task"] == "adding" and values["delta"] == pytest.approx(0.02)
    assert values["lr"] == pytest.approx(1e-2) and values["hidden_size"] == 8
    assert metrics == ["eval/test_loss"]  # regression: no accuracy
    assert status == 1  # STATUS_SUCCESS

    back = read_tensorboard_run(tmp_path / "tb")
    for key in ("task", "method", "config", "data", "events", "summary"):
        assert back[key] == json.loads(json.dumps(h[key])), key
    for part in ("train", "eval", "optimizer"):
        assert back[part]["step"] == h[part]["step"]
        for key in h[part]:
            want = [math.nan if v is None else v for v in h[part][key]]
            got = [math.nan if v is None else v for v in back[part][key]]
            np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"{part}/{key}")


def test_classification_adam_run_logs_accuracy_and_no_fw_series(tmp_path):
    motions = load_task("basicmotions")
    h = fit(get_method("sgd"), motions, TrainConfig(**TINY, epochs=1),
            callbacks=[TensorBoardLogger(tmp_path)], progress=False)  # fmt: skip
    acc = accumulator(tmp_path)
    assert not [t for t in acc.Tags()["scalars"] if t.startswith("fw/")]
    assert [e.value for e in acc.Scalars("eval/test_acc")] == pytest.approx(h["eval"]["test_acc"])
    values, metrics, _ = hparams(acc)
    assert metrics == ["eval/test_loss", "eval/test_acc"] and values["optimizer"] == "adam"


def test_steering_events_round_trip(adding, tmp_path):
    def steer(event, run):
        if event == "step" and run.step == 3:
            run.set_hyperparameters(lr=5e-3)

    logger = TensorBoardLogger(tmp_path)
    h = fit(get_method("sgd"), adding, TrainConfig(**TINY, steps=6), callbacks=[steer, logger],
            progress=False)  # fmt: skip
    back = read_tensorboard_run(tmp_path)
    assert back["events"] == h["events"] == [{"step": 3, "kind": "set", "values": {"lr": 5e-3}}]
    assert back["train"]["lr"][2:4] == pytest.approx([1e-2, 5e-3])


def test_K_is_a_series_that_follows_a_live_change(adding, tmp_path):
    """K set while training (the dashboard's control) shows in ``fw/K`` from the next outer step
    on, not only in the hparams column that holds the K the run started with."""

    def steer(event, run):
        if event == "step" and run.step == 4:  # an outer-step boundary of K = 2
            run.set_hyperparameters(K=3)

    h = fit(get_method("fw_k5", K=2), adding, TrainConfig(**TINY, steps=10),
            callbacks=[steer, TensorBoardLogger(tmp_path)], progress=False)  # fmt: skip
    acc = accumulator(tmp_path)
    got = [(e.step, e.value) for e in acc.Scalars("fw/K")]
    assert got == [(2, 2), (4, 2), (7, 3), (10, 3)]
    assert h["optimizer"]["K"] == [2, 2, 3, 3] and hparams(acc)[0]["K"] == 2
    assert read_tensorboard_run(tmp_path)["optimizer"]["K"] == [2, 2, 3, 3]


@pytest.mark.parametrize("first_file", [0, 9])
def test_resumed_run_shows_each_step_once(adding, tmp_path, monkeypatch, first_file):
    """Killed after its checkpoint at step 4 but having logged steps 5 and 6, then resumed:
    TensorBoard shows steps 1..8 once each, equal to an uninterrupted run. Also when the
    process's event-file counter goes from 9 to 10 (file names sort as text) within a second."""
    from tensorboard.summary.writer import event_file_writer

    monkeypatch.setattr(
        event_file_writer, "_global_uid", event_file_writer.AtomicCounter(first_file)
    )
    cfg = TrainConfig(**TINY, steps=8, checkpoint_every=4)
    whole = fit(get_method("fw_k1"), adding, cfg, progress=False)

    class Killed(Exception):
        pass

    def kill(event, run):
        if event == "step" and run.step == 6:
            raise Killed

    first = TensorBoardLogger(tmp_path / "tb")
    with pytest.raises(Killed):
        fit(get_method("fw_k1"), adding, cfg, callbacks=[first, kill], out_dir=tmp_path / "run",
            progress=False)  # fmt: skip
    first.close()  # what a killed process had flushed
    fit(get_method("fw_k1"), adding, cfg, callbacks=[TensorBoardLogger(tmp_path / "tb")],
        out_dir=tmp_path / "run", resume=True, progress=False)  # fmt: skip
    acc = accumulator(tmp_path / "tb")
    assert [e.step for e in acc.Scalars("train/loss")] == list(range(1, 9))
    np.testing.assert_allclose(
        [e.value for e in acc.Scalars("train/loss")], whole["train"]["loss"], rtol=1e-6
    )


def test_history_scalars_cursor_and_partial_lists():
    h = {
        "train": {"step": [1, 2, 3], "loss": [0.5, 0.4, 0.3], "lr": [0.1, 0.1]},  # lr lags
        "eval": {"step": [2], "test_loss": [0.45], "test_acc": [None]},
        "optimizer": {"step": []},
    }
    scalars, cursor = history_scalars(h)
    assert ("train/loss", 0.3, 3) not in scalars  # waits until lr of step 3 is there
    assert ("eval/test_loss", 0.45, 2) in scalars and not any("acc" in t for t, _, _ in scalars)
    assert cursor == {"train": 2, "eval": 1, "optimizer": 0}
    h["train"]["lr"].append(0.1)
    assert history_scalars(h, cursor)[0] == [("train/loss", 0.3, 3), ("train/lr", 0.1, 3)]


def test_load_histories_from_tensorboard_runs_and_json_files(adding, tmp_path):
    cfg = TrainConfig(**TINY, steps=4)
    a = fit(get_method("fw_k1"), adding, cfg, callbacks=[TensorBoardLogger(tmp_path / "tb/fw")],
            progress=False)  # fmt: skip
    b = fit(get_method("sgd"), adding, cfg, out_dir=tmp_path / "runs/sgd", progress=False)
    assert sorted(load_histories(tmp_path)) == ["runs/sgd", "tb/fw"]
    loaded = load_histories(tmp_path / "runs")
    assert list(loaded) == ["sgd"] and loaded["sgd"]["train"] == b["train"]
    assert load_histories(tmp_path / "runs/sgd/history.json")["sgd"]["summary"] == b["summary"]
    tb = load_histories(tmp_path / "tb/fw")["fw"]
    assert tb["optimizer"]["step"] == a["optimizer"]["step"]

    from fwlab.plots import training_figure

    fig = training_figure(load_histories(tmp_path))
    assert {t.meta for t in fig.data} >= {"loss:tb/fw", "fw_gap:tb/fw", "loss:runs/sgd"}


def test_loading_and_logging_errors_name_the_problem(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no runs under"):
        load_histories(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_histories(tmp_path / "missing")
    bad = tmp_path / "bad" / "history.json"
    bad.parent.mkdir()
    bad.write_text('{"train": {}}')
    with pytest.raises(ValueError, match="not a fwlab history"):
        load_histories(tmp_path / "bad")
    bad.write_text("{trunc")
    with pytest.raises(ValueError, match="not JSON"):
        load_histories(bad)
    with pytest.raises(FileNotFoundError, match="no TensorBoard event files"):
        read_tensorboard_run(tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        TensorBoardLogger(tmp_path / "file")
    with pytest.raises(ValueError, match="flush_secs"):
        TensorBoardLogger(tmp_path, flush_secs=0)
    with pytest.raises(TypeError, match="log_dir must be a path"):
        TensorBoardLogger(3)


def test_train_cli_tensorboard_option(tmp_path, capsys):
    args = "train --task adding --seq-len 8 --subset 64 --test-subset 16 --hidden 4 "
    args += "--batch-size 16 --steps 5 --method fw_k1 --no-progress --tensorboard"
    rc = main([*args.split(), str(tmp_path / "tb")])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    acc = accumulator(tmp_path / "tb")
    assert [e.step for e in acc.Scalars("fw/gap")] == [1, 2, 3, 4, 5]
    assert acc.Scalars("eval/test_loss")[-1].value == pytest.approx(summary["final_test_loss"])
    (tmp_path / "f").write_text("")
    assert main(["train", "--steps", "1", "--tensorboard", str(tmp_path / "f")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_dashboard_shows_loaded_runs_beside_live_ones(adding, tmp_path):
    from fwlab.widgets.dashboard import TrainingDashboard

    cfg = TrainConfig(**TINY, steps=4)
    fit(get_method("fw_k1"), adding, cfg, callbacks=[TensorBoardLogger(tmp_path / "tb/fw")],
        progress=False)  # fmt: skip
    b = fit(get_method("sgd"), adding, cfg, out_dir=tmp_path / "runs/sgd", progress=False)
    dash = TrainingDashboard(throttle_seconds=0.0)
    live = dash.fit(get_method("sgd"), adding, cfg.replace(steps=3), name="live", progress=False)
    assert dash.add_histories(tmp_path) == ["runs/sgd", "tb/fw"]
    assert list(dash.histories) == ["live", "runs/sgd", "tb/fw"]
    traces = {t.meta: t for t in dash.figure.data}
    assert list(traces["loss:runs/sgd"].y) == pytest.approx(b["train"]["loss"])
    assert len(traces["fw_gap:tb/fw"].y) == 4 and len(traces["loss:live"].y) == 3
    status = dash.status()
    assert status["tb/fw"]["state"] == "loaded" and status["tb/fw"]["step"] == 4
    assert status["live"]["state"] == "done" and live["summary"]["steps"] == 3
    with pytest.raises(ValueError, match="already shown"):
        dash.add_histories({"live": b})
    assert {t.meta for t in dash.static_figure().data} >= {"loss:tb/fw", "loss:live"}


def test_environment_loggers_pick_a_folder_per_run(tmp_path, monkeypatch):
    from fwlab.runs.files import TENSORBOARD_ENV as SWEEP_ENV
    from fwlab.train.tensorboard import TENSORBOARD_ENV, environment_loggers

    assert SWEEP_ENV == TENSORBOARD_ENV  # the sweep sets what fit reads
    monkeypatch.delenv(TENSORBOARD_ENV, raising=False)
    assert environment_loggers("sgd", 0) == []
    monkeypatch.setenv(TENSORBOARD_ENV, str(tmp_path))
    first = environment_loggers("sgd", 3)[0].log_dir
    assert first == tmp_path / "sgd-seed3"
    first.mkdir()
    (first / "events.out.tfevents.1").write_bytes(b"")
    assert environment_loggers("sgd", 3)[0].log_dir == tmp_path / "sgd-seed3-2"
    assert environment_loggers("sgd", 3, resume=True)[0].log_dir == first


def test_sweep_tensorboard_option_logs_every_fit_of_every_point(tmp_path, monkeypatch):
    from fwlab.runs.sweep import run_sweep
    from tests.notebook_tools import write_fit_notebook

    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    path = write_fit_notebook(tmp_path / "fit.ipynb")
    rows = run_sweep(path, tmp_path / "sweep", {"method": ["sgd", "fw_k1"]},
                     tensorboard=tmp_path / "tb")  # fmt: skip
    assert [r["status"] for r in rows] == ["ok", "ok"]
    runs = load_histories(tmp_path / "tb")
    assert sorted(runs) == ["method=fw_k1/fw_k1-seed0", "method=sgd/sgd-seed0"]
    assert runs["method=fw_k1/fw_k1-seed0"]["optimizer"]["step"] == [1, 2, 3]
