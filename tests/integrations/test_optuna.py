"""Optuna searches on the run engine (fwlab/integrations/optuna.py, search_space.py,
intermediate.py, search_cli.py): a toy objective's optimum found, pruning from reported values,
runs as fwlab runs, two at a time, resumed after a real SIGINT, on a real Dask scheduler, the
CLI's one-line errors, and optuna-dashboard reading the study over HTTP."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser_tools import free_port
from tests.process_tools import dies_with_test, interactive_sigint

optuna = pytest.importorskip("optuna")

from fwlab.app.cli import main  # noqa: E402
from fwlab.integrations.optuna import search  # noqa: E402
from fwlab.integrations.search_examples import BOWL_MINIMUM  # noqa: E402
from fwlab.integrations.search_space import distribution, parse_space  # noqa: E402
from fwlab.runs import RESULTS_ENV, Inline, read_status  # noqa: E402
from fwlab.runs.executors import SCHEDULER_ENV  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BOWL = "fwlab.integrations.search_examples:bowl"
GATED_BOWL = "tests.process_tools:gated_bowl"  # for the workers: PYTHONPATH names the checkout
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    "OMP_NUM_THREADS": "1",
}
ENV.pop(RESULTS_ENV, None)
ENV.pop(SCHEDULER_ENV, None)


def _quiet() -> io.StringIO:
    return io.StringIO()


# --- the space ---------------------------------------------------------------------------------


def test_space_specs_become_optuna_distributions():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    assert distribution("lr", "log:1e-4:1e-1") == FloatDistribution(1e-4, 1e-1, log=True)
    assert distribution("d", "float:0:0.5:0.1") == FloatDistribution(0, 0.5, step=0.1)
    assert distribution("K", "int:1:10") == IntDistribution(1, 10)
    assert distribution("K", "int:1:16:log") == IntDistribution(1, 16, log=True)
    assert distribution("K", "int:2:10:2") == IntDistribution(2, 10, step=2)
    assert distribution("m", "cat:fw_k1,sgd") == CategoricalDistribution(["fw_k1", "sgd"])
    assert distribution("b", "cat:1,2,4") == CategoricalDistribution([1, 2, 4])


@pytest.mark.parametrize(
    "spec, message",
    [
        ("lr", "expects NAME=KIND"),
        ("1x=int:1:2", "expects NAME=KIND"),
        ("lr=exp:1:2", "unknown kind 'exp'"),
        ("lr=log:0:1", "a log range needs 0 < low"),
        ("lr=log:1e-4", "expected log:LOW:HIGH"),
        ("lr=log:1e-4:1e-1:2", "expected log:LOW:HIGH"),
        ("K=int:1.5:3", "LOW must be an integer"),
        ("K=int:5:1", "LOW must be < HIGH"),
        ("x=float:0:nan", "HIGH must be finite"),
        ("x=float:0:1:-0.1", "STEP must be > 0"),
        ("m=cat:a,,b", "an empty choice"),
        ("m=cat:a,a", "listed twice"),
        ("m=cat:[1],2", "a choice must be a number or text"),
    ],
)
def test_malformed_space_is_one_line_naming_the_option(spec, message):
    with pytest.raises(ValueError, match="--space") as err:
        parse_space([spec])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_name_given_twice_is_refused():
    with pytest.raises(ValueError, match="--space x is given twice"):
        parse_space(["x=float:0:1", "x=float:0:2"])


# --- the search --------------------------------------------------------------------------------


def test_search_finds_the_toy_optimum_and_every_trial_is_a_run(tmp_path):
    out = tmp_path / "s"
    found = search(BOWL, out, {"x": "float:-1:1", "y": "float:-1:1"}, trials=30,
                   metric="loss", sampler_seed=0, executor=Inline(), log=_quiet())  # fmt: skip
    assert found.counts == {"COMPLETE": 30}
    best = found.best
    assert abs(best["params"]["x"] - BOWL_MINIMUM["x"]) < 0.15
    assert abs(best["params"]["y"] - BOWL_MINIMUM["y"]) < 0.15
    assert best["value"] < 0.02
    # TPE after its 10 random startup trials does better than they did
    values = found.table["value"].tolist()
    assert min(values[10:]) < min(values[:10])
    # each trial is an fwlab run: its folder, status ok with a digest, its results
    st = read_status(out / f"trial-{best['number']:04d}")
    assert st["status"] == "ok" and len(st["digest"]) == 64
    assert st["params"] == best["params"]
    results = json.loads((out / f"trial-{best['number']:04d}" / "results.json").read_text())
    assert results["loss"] == pytest.approx(best["value"])
    assert (out / "trials.csv").read_text().count("\n") == 31
    assert (out / "results.csv").read_text().count("\n") == 31
    best5 = found.best_trials(5)
    assert best5["value"].tolist() == sorted(values)[:5]


def test_search_prunes_from_reported_values_and_seeds_average(tmp_path):
    found = search(BOWL, tmp_path / "p", {"x": "float:-1:1"}, fixed={"steps": 6}, trials=14,
                   metric="loss", sampler="random", sampler_seed=1, executor=Inline(),
                   log=_quiet())  # fmt: skip
    counts = found.counts
    assert counts.get("PRUNED", 0) >= 1 and sum(counts.values()) == 14
    for t in found.study.trials:
        assert sorted(t.intermediate_values) == list(range(len(t.intermediate_values)))
        results = json.loads((tmp_path / "p" / t.user_attrs["fwlab_run"] / "results.json")
                             .read_text())  # fmt: skip
        assert results["pruned"] == (t.state.name == "PRUNED")
        if t.state.name == "PRUNED":  # stopped by the search, before its 6 steps
            assert results["steps"] < 6
    # with seeds: one run per seed (square records the seed it saw), the value is their mean
    seeded = search("fwlab.runs.examples:square", tmp_path / "q", {"x": "int:-3:3"}, trials=3,
                    metric="y", seeds=[0, 1], executor=Inline(), log=_quiet())  # fmt: skip
    for t in seeded.study.trials:
        assert t.value == t.params["x"] ** 2
        for seed in (0, 1):
            st = read_status(tmp_path / "q" / f"{t.user_attrs['fwlab_run']}__seed={seed}")
            assert st["status"] == "ok" and st["seed"] == seed


def test_failed_runs_and_a_missing_metric_fail_the_trial(tmp_path):
    found = search("fwlab.runs.examples:square", tmp_path / "f", {"x": "int:1:3"}, trials=2,
                   metric="nope", executor=Inline(), log=_quiet())  # fmt: skip
    assert found.counts == {"FAIL": 2} and found.best is None
    assert "recorded no 'nope' (it recorded: y, seed_seen)" in found.table["error"][0]
    again = search("fwlab.runs.examples:fail", tmp_path / "g", {"message": "cat:boom"},
                   trials=1, metric="y", executor=Inline(), log=_quiet())  # fmt: skip
    assert again.table["error"][0] == "ValueError: boom"


def test_a_study_of_another_search_is_refused_before_anything_runs(tmp_path):
    search(BOWL, tmp_path / "s", {"x": "float:-1:1"}, trials=1, metric="loss",
           executor=Inline(), log=_quiet())  # fmt: skip
    with pytest.raises(ValueError, match=r"was started by another search: space .*run that"):
        search(BOWL, tmp_path / "s", {"x": "float:-2:2"}, trials=2, metric="loss",
               executor=Inline(), log=_quiet())  # fmt: skip
    with pytest.raises(ValueError, match="direction minimize"):
        search(BOWL, tmp_path / "s", {"x": "float:-1:1"}, trials=2, metric="loss",
               direction="maximize", executor=Inline(), log=_quiet())  # fmt: skip
    assert len(list((tmp_path / "s").glob("trial-*"))) == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(trials=0), "trials must be an integer >= 1"),
        (dict(direction="down"), "direction must be one of"),
        (dict(space={"nope": "int:1:2"}), "unknown parameter 'nope'"),
        (dict(fixed={"x": 1}), "given both in the space and as fixed"),
        (dict(sampler="grid"), "sampler must be one of"),
        (dict(seeds=[0, 0]), "give each seed once"),
    ],
)
def test_bad_arguments_fail_before_anything_is_written(tmp_path, kwargs, message):
    args = dict(trials=2, metric="loss", executor=Inline(), log=_quiet())
    space = kwargs.pop("space", {"x": "float:-1:1"})
    with pytest.raises(ValueError, match=message):
        search(BOWL, tmp_path / "s", space, **{**args, **kwargs})
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_two_runs_at_a_time_in_worker_processes(tmp_path):
    out = tmp_path / "s"
    found = search(BOWL, out, {"x": "float:-1:1"}, fixed={"steps": 4, "pause": 0.3},
                   trials=4, metric="loss", pruner="none", jobs=2, log=_quiet())  # fmt: skip
    assert found.counts == {"COMPLETE": 4}
    spans = []
    for t in found.study.trials:
        st = read_status(out / t.user_attrs["fwlab_run"])
        spans.append((st["started"], st["finished"]))
    spans.sort()
    # two runs overlapped in time: the second started before the first finished
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:]))


def _study_counts(db: Path) -> dict[str, int]:
    study = optuna.load_study(study_name=db.parent.name, storage=f"sqlite:///{db}")
    counts: dict[str, int] = {}
    for t in study.trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ctrl_c_then_the_same_command_resumes_the_study(tmp_path):
    out, gate = tmp_path / "s", tmp_path / "go"
    # bowl, each trial held until the file `gate` exists: the first two cannot end before the
    # Ctrl-C, and after it the same command runs all four at once
    cmd = [sys.executable, "-m", "fwlab.app.cli", "search", GATED_BOWL, "--space", "x=float:-1:1",
           "-p", "gate", str(gate), "-p", "steps", "3", "-p", "pause", "0.05", "--trials", "4",
           "--metric", "loss", "--pruner", "none", "--jobs", "2", "--sampler-seed", "0",
           "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=interactive_sigint)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # both first trials running
        if len(list(out.glob("trial-*/status.json"))) >= 2:
            break
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith("fwlab search: interrupted (Ctrl-C): 0 of 4 trials ended")
    assert "2 interrupted (trial 0, trial 1; queued again, first)" in lines[0]
    assert "resume with: fwlab search " + GATED_BOWL in lines[0]
    assert {read_status(p)["status"] for p in out.glob("trial-*")} == {"interrupted"}
    assert _study_counts(out / "study.db") == {"FAIL": 2, "WAITING": 2}

    gate.touch()
    final = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=240)
    assert final.returncode == 0, final.stderr
    assert "0 of 4 trials ended, 4 to run" in final.stdout
    counts = _study_counts(out / "study.db")
    assert counts == {"FAIL": 2, "COMPLETE": 4}
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{out / 'study.db'}")
    by_number = {t.number: t for t in study.trials}
    # the interrupted trials 0 and 1 ran again first, with their parameters and folders
    for old in (0, 1):
        retry = next(t for t in study.trials if t.number > 1 and
                     t.user_attrs["fwlab_run"] == f"trial-{old:04d}")  # fmt: skip
        assert retry.params == by_number[old].params and retry.state.name == "COMPLETE"
    assert len(list(out.glob("trial-*"))) == 4
    again = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "4 of 4 trials ended, 0 to run" in again.stdout
    assert _study_counts(out / "study.db") == {"FAIL": 2, "COMPLETE": 4}


def test_cli_errors_are_one_line(tmp_path, capsys):
    base = ["search", BOWL, "--trials", "2", "--metric", "loss", "--out", str(tmp_path / "s")]
    assert main([*base, "--space", "x=log:-1:1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--space x=log:-1:1: a log range needs 0 < low" in err
    assert main(["search", "no_such_method", "--space", "lr=log:1e-4:1e-1", "--trials", "1"]) == 2
    err = capsys.readouterr().err
    assert "is not a notebook (.ipynb), a function (module:name) or a method" in err
    assert main(["search", BOWL, "--space", "x=float:0:1", "--trials", "1"]) == 2
    assert "give --metric NAME" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_cli_search_prints_the_best_trials(tmp_path, capsys):
    out = tmp_path / "s"
    rc = main(["search", BOWL, "--space", "x=float:-1:1", "--trials", "3", "--metric", "loss",
               "--sampler", "random", "--sampler-seed", "3", "--jobs", "1", "--out", str(out),
               "--scheduler", "local"])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0 and "trials: 3 complete" in text and "best trials:" in text
    assert f"dashboard: optuna-dashboard sqlite:///{out.resolve()}/study.db" in text


@pytest.mark.slow
def test_a_method_target_tunes_on_the_validation_split(tmp_path):
    found = search(
        "fwlab.experiments.tuning:train_trial", tmp_path / "t", {"lr": "log:1e-3:1e-1"},
        fixed={"task": "adding", "method": "fw_k1", "steps": 6, "eval_every": 3,
               "hidden_size": 4, "batch_size": 20,
               "task_options": {"seq_len": 5, "n_train": 100, "n_test": 20}},
        trials=2, metric="valid_loss", seeds=[5], executor=Inline(), log=_quiet(),
    )  # fmt: skip
    assert found.counts == {"COMPLETE": 2}
    for t in found.study.trials:
        # every evaluation reported: every 3 batches and at the end of the 5-batch epoch
        assert sorted(t.intermediate_values) == [3, 5, 6]
        assert t.value == min(t.intermediate_values.values())
        run = tmp_path / "t" / f"{t.user_attrs['fwlab_run']}__seed=5"
        assert (run / "train" / "checkpoint.pt").is_file()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_search_on_a_dask_scheduler(tmp_path):
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = (tmp_path / "dask.log").open("w")
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--no-dashboard"], env=ENV, stdout=logs,
                              stderr=subprocess.STDOUT, start_new_session=True,
                              preexec_fn=dies_with_test)]  # fmt: skip
    try:
        procs += [subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nthreads",
                                    "1", "--no-nanny", "--no-dashboard", "--name", f"w{i}"],
                                   env=ENV, stdout=logs, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=dies_with_test)
                  for i in range(2)]  # fmt: skip
        with Client(address, timeout="60s", set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)
        log = io.StringIO()
        found = search(BOWL, tmp_path / "d", {"x": "float:-1:1"}, fixed={"steps": 3},
                       trials=4, metric="loss", jobs=2, scheduler=address, log=log)  # fmt: skip
        assert found.counts == {"COMPLETE": 4}, log.getvalue()
        assert f"on the Dask cluster at {address}" in log.getvalue()
        for t in found.study.trials:
            st = read_status(tmp_path / "d" / t.user_attrs["fwlab_run"])
            assert st["status"] == "ok" and sorted(t.intermediate_values) == [0, 1, 2]
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        logs.close()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_optuna_dashboard_reads_the_study_over_http(tmp_path):
    pytest.importorskip("optuna_dashboard")
    out = tmp_path / "s"
    study = search(BOWL, out, {"x": "float:-1:1"}, trials=3, metric="loss", sampler_seed=0,
                   executor=Inline(), log=_quiet()).study  # fmt: skip
    port = free_port()
    dash = Path(sys.executable).parent / "optuna-dashboard"
    proc = subprocess.Popen([str(dash), f"sqlite:///{out / 'study.db'}", "--host", "127.0.0.1",
                             "--port", str(port)], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=dies_with_test)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline, studies = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/api/studies", timeout=5) as r:
                    studies = json.loads(r.read())["study_summaries"]
                break
            except OSError:
                time.sleep(0.3)
        assert studies is not None, "optuna-dashboard did not answer in 60 s"
        assert [s["study_name"] for s in studies] == ["s"]
        with urllib.request.urlopen(f"{base}/api/studies/{studies[0]['study_id']}",
                                    timeout=10) as r:  # fmt: skip
            detail = json.loads(r.read())
        assert [t["state"] for t in detail["trials"]] == ["Complete"] * 3
        assert detail["name"] == "s" and detail["directions"] == ["minimize"]
        assert [t["number"] for t in detail["best_trials"]] == [study.best_trial.number]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_notebook_target_records_its_value_and_reports_steps(tmp_path):
    from tests.notebook_tools import write_parameterized_notebook

    path = write_parameterized_notebook(
        tmp_path / "objective.ipynb",
        "x: float = 0.0",
        "from fwlab import record\n"
        "from fwlab.runs.intermediate import report\n"
        "for s in range(3):\n"
        "    report(s, loss=(x - 0.3) ** 2 + 1 / (s + 1))\n"
        "record(loss=(x - 0.3) ** 2)",
    )
    found = search(path, tmp_path / "n", {"x": "cat:0.0,0.5"}, trials=2, metric="loss",
                   sampler="random", sampler_seed=0, executor=Inline(), log=_quiet())  # fmt: skip
    assert found.counts == {"COMPLETE": 2}
    for t in found.study.trials:
        assert t.value == pytest.approx((t.params["x"] - 0.3) ** 2)
        assert sorted(t.intermediate_values) == [0, 1, 2]
        assert (tmp_path / "n" / t.user_attrs["fwlab_run"] / "objective.ipynb").is_file()


def test_a_trial_left_running_by_a_killed_search_is_run_again(tmp_path):
    out = tmp_path / "s"
    first = search(BOWL, out, {"x": "float:-1:1"}, trials=1, metric="loss", executor=Inline(),
                   log=_quiet())  # fmt: skip
    # what a SIGKILLed search leaves: a RUNNING trial whose run said "running"
    stale = first.study.ask(first.study.trials[0].distributions)
    stale.set_user_attr("fwlab_run", f"trial-{stale.number:04d}")
    (out / f"trial-{stale.number:04d}").mkdir()
    log = io.StringIO()
    found = search(BOWL, out, {"x": "float:-1:1"}, trials=2, metric="loss", executor=Inline(),
                   log=log)  # fmt: skip
    states = [(t.number, t.state.name) for t in found.study.trials]
    assert states == [(0, "COMPLETE"), (1, "FAIL"), (2, "COMPLETE")]
    retry = found.study.trials[2]
    assert retry.params == stale.params and retry.user_attrs["fwlab_run"] == "trial-0001"
    assert found.study.trials[1].user_attrs["fwlab_interrupted"] is True
    assert "1 of 2 trials ended, 1 to run" in log.getvalue()
