"""MLflow from the commands that run many fits (fwlab/train/environment.py, the ``--mlflow``
option of ``fwlab run``, ``fwlab sweep`` and ``fwlab record``): every ``fit`` of a notebook's
kernel, or of the recording process, logs one MLflow run named by its point, method and seed,
read back here with MLflow's own client from a local SQLite store (no server)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fwlab.app.cli import main
from fwlab.data import load_task
from fwlab.integrations import mlflow as integration
from fwlab.integrations.mlflow import mlflow_environment, tracking_uri
from fwlab.runs import files as run_files
from fwlab.train import TrainConfig, environment, fit, get_method
from tests.browser_tools import free_port
from tests.mlflow_tools import MlflowClient, needs_mlflow
from tests.notebook_tools import write_fit_notebook

pytestmark = needs_mlflow

ENV = (
    integration.MLFLOW_ENV,
    integration.MLFLOW_EXPERIMENT_ENV,
    integration.MLFLOW_RUN_ENV,
    environment.CALLBACKS_ENV,
)


@pytest.fixture(autouse=True)
def no_mlflow_environment(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fit_notebook(tmp_path, monkeypatch):
    """A notebook that fits 3 batches of ``method`` and records the history's losses."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    record = 'import fwlab\nfwlab.record(loss=h["train"]["loss"], test_loss=h["eval"]["test_loss"])'
    return write_fit_notebook(tmp_path / "fit.ipynb", record)


def runs_of(store, experiment="fwlab"):
    """``run name → Run`` of the experiment, read with MLflow's client."""
    client = MlflowClient(tracking_uri(store))
    found = client.get_experiment_by_name(experiment)
    assert found is not None, [e.name for e in client.search_experiments()]
    return client, {r.info.run_name: r for r in client.search_runs([found.experiment_id])}


def series(client, run, key):
    return [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]


def assert_logged(client, run, method, results):
    """The MLflow run holds the method's parameters and the very losses the notebook got."""
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["method"] == method and params["seed"] == "0" and params["steps"] == "3"
    assert params["hidden_size"] == "4" and params["batch_size"] == "16"
    assert series(client, run, "train/loss") == list(enumerate(results["loss"], start=1))
    assert [v for _, v in series(client, run, "eval/test_loss")] == results["test_loss"]


def test_the_runner_sets_what_fit_reads():
    runner = (run_files.MLFLOW_ENV, run_files.MLFLOW_EXPERIMENT_ENV, run_files.MLFLOW_RUN_ENV)
    assert (*runner, run_files.FIT_CALLBACKS_ENV) == ENV
    assert integration.FIT_CALLBACKS == "fwlab.integrations.mlflow:fit_callbacks"


def test_fit_adds_an_mlflow_run_only_when_asked(tmp_path):
    assert environment.environment_callbacks("sgd", 0) == []
    data = load_task("adding", seq_len=6, n_train=32, n_test=16)
    config = TrainConfig(hidden_size=4, batch_size=16, steps=3)
    store = tmp_path / "tracking"
    with mlflow_environment(store, "env", point="adding-paper") as uri:
        assert uri == f"sqlite:///{store / 'mlflow.db'}"
        assert os.environ[integration.MLFLOW_ENV] == uri
        assert os.environ[environment.CALLBACKS_ENV] == integration.FIT_CALLBACKS
        h = fit(get_method("fw_k1"), data, config, progress=False)

        def stop(event, run):
            if event == "step" and run.step == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            fit(get_method("sgd"), data, config, callbacks=[stop], progress=False)
    assert not any(name in os.environ for name in ENV)  # restored
    client, runs = runs_of(store, "env")
    assert sorted(runs) == ["adding-paper/fw_k1-seed0", "adding-paper/sgd-seed0"]
    done, stopped = runs["adding-paper/fw_k1-seed0"], runs["adding-paper/sgd-seed0"]
    assert done.data.tags["fwlab.point"] == "adding-paper" and done.data.params["K"] == "1"
    assert [v for _, v in series(client, done, "train/loss")] == h["train"]["loss"]
    assert stopped.info.status == "KILLED"  # fit ended the run it added
    assert [s for s, _ in series(client, stopped, "train/loss")] == [1, 2]


def test_fit_does_not_import_mlflow_unless_asked():
    code = (
        "import sys\nfrom fwlab.data import load_task\n"
        "from fwlab.train import TrainConfig, fit, get_method\n"
        "fit(get_method('sgd'), load_task('adding', seq_len=4, n_train=16, n_test=8), "
        "TrainConfig(hidden_size=2, batch_size=8, steps=1), progress=False)\n"
        "print('mlflow' in sys.modules, 'fwlab.integrations.mlflow' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ENV}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)  # fmt: skip
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.slow
def test_sweep_mlflow_option_logs_every_point(fit_notebook, tmp_path, capsys):
    out, store = tmp_path / "sweep", tmp_path / "tracking"
    args = ["sweep", str(fit_notebook), "--grid", "method=sgd,fw_k1", "--out", str(out),
            "--mlflow", str(store), "--mlflow-experiment", "grid"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    client, runs = runs_of(store, "grid")
    assert sorted(runs) == ["method=fw_k1/fw_k1-seed0", "method=sgd/sgd-seed0"]
    for method in ("sgd", "fw_k1"):
        results = json.loads((out / f"method={method}" / "results.json").read_text())
        run = runs[f"method={method}/{method}-seed0"]
        assert run.data.tags["fwlab.point"] == f"method={method}"
        assert_logged(client, run, method, results)
    assert runs["method=fw_k1/fw_k1-seed0"].data.params["K"] == "1"
    assert len(series(client, runs["method=fw_k1/fw_k1-seed0"], "fw/gap")) == 3


@pytest.mark.slow
def test_run_mlflow_option_logs_the_notebook_fits(fit_notebook, tmp_path, capsys):
    out, store = tmp_path / "one", tmp_path / "runs.db"
    args = ["run", str(fit_notebook), "-p", "method", "fw_k1", "--out", str(out),
            "--mlflow", str(store)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    client, runs = runs_of(store)
    assert sorted(runs) == ["one/fw_k1-seed0"]
    assert_logged(
        client, runs["one/fw_k1-seed0"], "fw_k1", json.loads((out / "results.json").read_text())
    )


def test_a_bad_store_fails_in_one_line_before_anything_runs(fit_notebook, tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    for command in (
        ["run", str(fit_notebook)],
        ["sweep", str(fit_notebook), "--grid", "method=sgd"],
    ):
        out = tmp_path / command[0]
        assert main([*command, "--out", str(out), "--mlflow", url]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"fwlab {command[0]}: error: --mlflow: no MLflow server answers")
        assert "\n" not in err and not out.exists()
    runs = tmp_path / "recorded"
    assert main(["record", "adding-paper", "--runs", str(runs), "--mlflow", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fwlab record: --mlflow: no MLflow server answers") and "\n" not in err
    assert not runs.exists()
