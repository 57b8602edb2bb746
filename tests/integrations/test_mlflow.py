"""MLflow tracking (fwlab/integrations/mlflow.py): what MLflowCallback logs is read back with
MLflow's own client, from a local SQLite store and from a real ``mlflow server`` started here
(its REST API and its UI in headless Chromium too), and compared to the history ``fit``
returned."""

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from fwlab.app.cli import main
from fwlab.data import load_task
from fwlab.integrations.mlflow import (
    FORMAT_TAG,
    MLflowCallback,
    check_tracking_uri,
    load_mlflow_histories,
    read_mlflow_run,
    tracking_uri,
)
from fwlab.train import TrainConfig, fit, get_method
from fwlab.train.scalars import history_scalars
from tests.browser_tools import (
    CHROMIUM_ARGS,
    chromium,
    expect,
    free_port,
    sync_playwright,
    wait_until_serving,
)
from tests.mlflow_tools import MlflowClient, needs_mlflow
from tests.process_tools import dies_with_test

pytestmark = needs_mlflow

TINY = dict(hidden_size=8, batch_size=16, lr=1e-2)
# the metrics of a Frank-Wolfe run on a regression task (no accuracy), and its events
FW_METRICS = {
    "train/loss", "train/lr", "eval/train_loss", "eval/test_loss", "eval/epoch", "eval/seconds",
    "fw/delta", "fw/K", "fw/gap", "fw/dw_norm", "fw/angle_deg", "events/K", "events/lr",
}  # fmt: skip


@pytest.fixture(scope="module")
def adding():
    return load_task("adding", seq_len=12, n_train=160, n_test=32, seed=0)


def steer(event, run):
    """What a dashboard does live: K and lr changed at an outer-step boundary (K = 2)."""
    if event == "step" and run.step == 4:
        run.set_hyperparameters(K=3, lr=5e-3)


def series(client, run_id, key):
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def expected(history, tag):
    scalars, _ = history_scalars(history)
    return [(step, value) for t, value, step in scalars if t == tag]


def assert_logged(client, run_id, h):
    """The MLflow run ``run_id`` holds ``h``: parameters, every metric per step, the events,
    the summary, the artifacts, and it is FINISHED."""
    run = client.get_run(run_id)
    params = run.data.params
    assert params["method"] == "fw_k5" and params["K"] == "2" and params["seed"] == "0"
    assert params["task"] == "adding" and params["lr"] == "0.01" and params["delta"] == "0.01"
    assert params["epochs"] == "None" and params["data.n_train"] == "160"
    assert params["commit"] == run.data.tags["fwlab.provenance.commit"]
    assert run.data.tags[FORMAT_TAG] == "1" and run.info.status == "FINISHED"
    assert set(run.data.metrics) == FW_METRICS | {
        f"summary/{k}" for k, v in h["summary"].items() if not isinstance(v, (bool, type(None)))
    }
    for tag in ("train/loss", "train/lr", "eval/test_loss", "fw/gap", "fw/K", "fw/angle_deg"):
        assert series(client, run_id, tag) == expected(h, tag), tag  # float64: exact
    assert series(client, run_id, "fw/K") == [(2, 2), (4, 2), (7, 3), (10, 3)]
    assert series(client, run_id, "events/K") == [(4, 3)]
    assert series(client, run_id, "events/lr") == [(4, 5e-3)]
    assert run.data.metrics["summary/final_test_loss"] == pytest.approx(
        h["summary"]["final_test_loss"]
    )
    files = {a.path for a in client.list_artifacts(run_id)}
    files |= {a.path for d in ("fwlab", "figures") for a in client.list_artifacts(run_id, d)}
    assert files >= {"history.json", "fwlab/run.json", "fwlab/events.json",
                     "figures/training.html"}  # fmt: skip
    assert {"command", "date", "machine", "wall_seconds"} <= {
        k.removeprefix("fwlab.provenance.") for k in run.data.tags
    }


def test_tracking_uri_and_argument_errors(tmp_path):
    assert tracking_uri(tmp_path / "t.db") == f"sqlite:///{tmp_path / 't.db'}"
    assert tracking_uri(tmp_path / "tracking") == f"sqlite:///{tmp_path / 'tracking/mlflow.db'}"
    assert tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    with pytest.raises(TypeError, match="must be a URI or a path, got int"):
        tracking_uri(5)
    with pytest.raises(ValueError, match="the MLflow store is empty"):
        MLflowCallback(" ")
    with pytest.raises(
        ValueError, match="^flush_secs must be a finite number > 0, got 0; pass e.g. flush_secs=1$"
    ):
        MLflowCallback(tmp_path / "t.db", flush_secs=0)
    with pytest.raises(ValueError, match=r"figures must be among .*, got \['gif'\]"):
        MLflowCallback(tmp_path / "t.db", figures=("gif",))
    with pytest.raises(ValueError, match="experiment must be a non-empty string"):
        MLflowCallback(tmp_path / "t.db", experiment="")
    with pytest.raises(TypeError, match=r"tags must map strings to strings; not so for \['a'\]"):
        MLflowCallback(tmp_path / "t.db", tags={"a": 1})
    with pytest.raises(ValueError, match="status must be one of"):
        MLflowCallback(tmp_path / "t.db").finish("DONE")
    (tmp_path / "afile").write_text("")
    with pytest.raises(ValueError, match="is under a file"):
        check_tracking_uri(tracking_uri(tmp_path / "afile" / "t.db"))
    with pytest.raises(ValueError, match="is a folder, not an SQLite file"):
        check_tracking_uri(f"sqlite:///{tmp_path}")
    port = free_port()  # nothing listens there
    with pytest.raises(ValueError, match=f"no MLflow server answers at http://127.0.0.1:{port}"):
        check_tracking_uri(f"http://127.0.0.1:{port}", timeout=2)


def test_local_store_round_trip_and_the_dashboard(adding, tmp_path):
    """A local SQLite store (no server): every series, event and parameter is in MLflow, a
    finished run loads back as the history ``fit`` returned, beside a live run."""
    store = tmp_path / "tracking" / "mlflow.db"  # the folder does not exist yet
    cb = MLflowCallback(store, experiment="local")
    h = fit(get_method("fw_k5", K=2), adding, TrainConfig(**TINY, steps=10, eval_every=5),
            callbacks=[steer, cb], progress=False)  # fmt: skip
    client = MlflowClient(tracking_uri(store))
    assert_logged(client, cb.run_id, h)
    experiment = client.get_experiment_by_name("local")
    assert experiment.artifact_location == (tmp_path / "tracking" / "mlartifacts").as_uri()
    back = load_mlflow_histories(store, experiment="local")
    assert list(back) == ["fw_k5-seed0"] and back["fw_k5-seed0"] == json.loads(json.dumps(h))

    from fwlab.widgets import TrainingDashboard

    dash = TrainingDashboard(throttle_seconds=0.0)
    dash.fit(get_method("sgd"), adding, TrainConfig(**TINY, steps=3), name="live", progress=False)
    assert dash.add_histories(back) == ["fw_k5-seed0"]
    traces = {t.meta: t for t in dash.figure.data}
    assert list(traces["loss:fw_k5-seed0"].y) == pytest.approx(h["train"]["loss"])
    assert len(traces["fw_gap:fw_k5-seed0"].y) == 4 and len(traces["loss:live"].y) == 3
    assert dash.status()["fw_k5-seed0"]["state"] == "loaded"
    with pytest.raises(ValueError, match="no MLflow experiment 'other' in sqlite:.*'local'"):
        load_mlflow_histories(store, experiment="other")
    with pytest.raises(FileNotFoundError, match="no fwlab runs in .* matching"):
        load_mlflow_histories(store, experiment="local", filter_string="params.method = 'sgd'")


def test_a_run_that_stopped_is_rebuilt_from_its_metrics(adding, tmp_path):
    """Killed at step 6 (no history.json): the history comes back from the metrics sent so far
    (flush_secs tiny: every batch is sent), with its events; the run is marked FAILED."""

    class Killed(Exception):
        pass

    def kill(event, run):
        if event == "step" and run.step == 6:
            raise Killed

    store = tmp_path / "mlflow.db"
    cb = MLflowCallback(store, flush_secs=1e-9, figures=())
    seen = {}

    def keep(event, run):
        seen["history"] = run.history

    with pytest.raises(Killed):
        fit(get_method("fw_k5", K=2), adding, TrainConfig(**TINY, steps=10),
            callbacks=[steer, cb, keep, kill], progress=False)  # fmt: skip
    cb.finish("FAILED")
    back = read_mlflow_run(cb.run_id, store)
    h = seen["history"]
    for part in ("train", "optimizer"):
        assert back[part] == h[part], part  # float64 as sent: exact
    assert back["optimizer"]["K"] == [2, 2] and back["train"]["step"] == list(range(1, 7))
    assert back["events"] == h["events"] and back["config"] == h["config"]
    assert MlflowClient(tracking_uri(store)).get_run(cb.run_id).info.status == "FAILED"


def test_a_resumed_fit_continues_its_mlflow_run(adding, tmp_path):
    """Killed after its checkpoint at step 4, resumed by a new process's callback: one MLflow
    run, FINISHED, whose history is the uninterrupted run's (the run id rode in the
    checkpoint)."""
    cfg = TrainConfig(**TINY, steps=8, checkpoint_every=4)
    whole = fit(get_method("fw_k1"), adding, cfg, progress=False)

    class Killed(Exception):
        pass

    def kill(event, run):
        if event == "step" and run.step == 6:
            raise Killed

    store = tmp_path / "mlflow.db"
    first = MLflowCallback(store, flush_secs=1e-9, figures=())
    with pytest.raises(Killed):
        fit(get_method("fw_k1"), adding, cfg, callbacks=[first, kill], out_dir=tmp_path / "run",
            progress=False)  # fmt: skip
    second = MLflowCallback(store, flush_secs=1e-9, figures=())
    h = fit(get_method("fw_k1"), adding, cfg, callbacks=[second], out_dir=tmp_path / "run",
            resume=True, progress=False)  # fmt: skip
    client = MlflowClient(tracking_uri(store))
    assert second.run_id == first.run_id
    assert len(client.search_runs([client.get_experiment_by_name("fwlab").experiment_id])) == 1
    run = client.get_run(second.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["fwlab.resumed_at_step"] == "4"
    losses = dict(series(client, second.run_id, "train/loss"))  # steps 5, 6 were sent twice
    assert [losses[s] for s in range(1, 9)] == whole["train"]["loss"] == h["train"]["loss"]


def test_train_cli_mlflow_option_errors(tmp_path, capsys, monkeypatch):
    port = free_port()
    args = ["train", "--steps", "1", "--mlflow", f"http://127.0.0.1:{port}"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fwlab train: --mlflow: no MLflow server answers at") and "\n" not in err
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if fwlab[mlflow] were not installed
    assert main(["train", "--steps", "1", "--mlflow", str(tmp_path / "m.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "fwlab train: --mlflow: MLflow is not installed: pip install 'fwlab[mlflow]'"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` on 127.0.0.1 (SQLite store, artifacts served by it); stopped,
    with its workers, at the end of the module."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = (root / "server.log").open("w")
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
           "--artifacts-destination", str(root / "artifacts"), "--workers", "1"]  # fmt: skip
    # without the job runner MLflow 3 starts beside the server by default (two more processes
    # importing mlflow, for server-side jobs no test here uses: 5-8 s of CPU)
    env = os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                              cwd=root, env=env, preexec_fn=dies_with_test)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(server, f"{url}/health", "mlflow server", log.name, timeout=180)
        yield url
    finally:
        try:  # its whole session, at once: no graceful stop (seconds nothing here checks)
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.wait(10)
        log.close()


@pytest.fixture(scope="module")
def served_run(mlflow_server, adding, tmp_path_factory):
    """One Frank-Wolfe run with live steering logged to the server by ``fwlab train --mlflow``'s
    callback (the same object ``fit`` is given)."""
    cb = MLflowCallback(mlflow_server, experiment="served", flush_secs=1e-9)
    h = fit(get_method("fw_k5", K=2), adding, TrainConfig(**TINY, steps=10, eval_every=5),
            callbacks=[steer, cb], progress=False)  # fmt: skip
    return cb, h


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_real_server_client_and_rest_api_read_the_run(mlflow_server, served_run, capsys):
    cb, h = served_run
    client = MlflowClient(mlflow_server)
    assert_logged(client, cb.run_id, h)
    back = load_mlflow_histories(mlflow_server, experiment="served")
    assert back == {"fw_k5-seed0": json.loads(json.dumps(h))}

    # MLflow's REST API, as any other tool reads it
    experiment_id = client.get_experiment_by_name("served").experiment_id
    request = urllib.request.Request(
        f"{mlflow_server}/api/2.0/mlflow/runs/search",
        data=json.dumps({"experiment_ids": [experiment_id]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        runs = json.loads(reply.read())["runs"]
    assert [r["info"]["run_id"] for r in runs] == [cb.run_id]
    params = {p["key"]: p["value"] for p in runs[0]["data"]["params"]}
    metrics = {m["key"]: m for m in runs[0]["data"]["metrics"]}
    assert params["method"] == "fw_k5" and params["K"] == "2" and params["seed"] == "0"
    assert metrics["fw/K"]["value"] == 3 and metrics["fw/K"]["step"] == 10
    assert metrics["events/K"] == {**metrics["events/K"], "value": 3, "step": 4}
    assert metrics["train/loss"]["value"] == pytest.approx(h["train"]["loss"][-1])

    # `fwlab train --mlflow URL`: the command line logs to the same server
    args = "train --task adding --seq-len 8 --subset 64 --test-subset 16 --hidden 4 "
    args += "--batch-size 16 --steps 5 --method fw_k1 --no-progress --mlflow-experiment cli "
    assert main([*args.split(), "--mlflow", mlflow_server]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    run = client.search_runs([client.get_experiment_by_name("cli").experiment_id])[0]
    assert f"MLflow run {run.info.run_id} ('cli') in {mlflow_server}" in err
    assert run.info.status == "FINISHED" and run.data.params["method"] == "fw_k1"
    assert run.data.metrics["eval/test_loss"] == pytest.approx(summary["final_test_loss"])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "fw/gap")] == [1, 2, 3, 4, 5]


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(600)
def test_real_server_ui_shows_the_run_in_chromium(mlflow_server, served_run, tmp_path):
    cb, _ = served_run
    executable = chromium()
    experiment_id = MlflowClient(mlflow_server).get_experiment_by_name("served").experiment_id
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{mlflow_server}/#/experiments/{experiment_id}/runs/{cb.run_id}")
            expect(page.get_by_text("fw_k5-seed0").first).to_be_visible(timeout=120_000)
            expect(page.get_by_text("fw/angle_deg").first).to_be_visible(timeout=60_000)
            out = Path(__file__).resolve().parents[2] / "test-output"
            out.mkdir(exist_ok=True)
            page.screenshot(path=str(out / "mlflow_run.png"))
        finally:
            browser.close()
