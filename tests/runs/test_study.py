"""fwlab/runs/study.py, run.py, target.py, execute.py, claim.py: studies of functions (the
notebook studies are `fwlab run`/`fwlab sweep`'s tests, tests/runs/test_sweep.py): grid x seeds,
skip-if-done by digest, claims, failures, worker deaths, the results table."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fwlab.runs import (
    Claimed,
    Function,
    Inline,
    Notebook,
    Run,
    Study,
    is_done,
    read_status,
)
from fwlab.runs.examples import square
from tests.process_tools import claimed_elsewhere

ROOT = Path(__file__).resolve().parents[2]
SQUARE = "fwlab.runs.examples:square"


def quiet() -> io.StringIO:
    return io.StringIO()


def test_a_study_is_the_grid_times_the_seeds_and_its_table_holds_every_run(tmp_path):
    study = Study(SQUARE, tmp_path / "s", {"x": [1, 2, 3]}, seeds=[7, 8])
    runs = study.runs()
    assert [r.name for r in runs] == [f"x={x}__seed={s}" for x in (1, 2, 3) for s in (7, 8)]
    assert runs[3].arguments == {"x": 2, "seed": 8} and runs[3].index == 3
    log = quiet()
    outcome = study.run(executor=Inline(), log=log)
    df = outcome.table
    assert df[["x", "seed", "y", "seed_seen", "status"]].values.tolist() == [
        [x, s, x * x, s, "ok"] for x in (1, 2, 3) for s in (7, 8)
    ]
    assert list(df.columns)[-4:] == ["status", "seconds", "error", "point"]
    csv_lines = (tmp_path / "s" / "results.csv").read_text().splitlines()
    assert csv_lines[0] == "x,seed,y,seed_seen,status,seconds,error,point" and len(csv_lines) == 7
    st = read_status(tmp_path / "s" / "x=1__seed=7")
    assert st["status"] == "ok" and st["function"] == SQUARE and st["seed"] == 7
    assert st["params"] == {"x": 1, "seed": 7} and st["digest"] == runs[0].digest()
    assert "6 runs, 6 to run, 0 already ok" in log.getvalue()


def test_a_run_is_done_only_for_the_same_digest(tmp_path):
    out = tmp_path / "s"
    first = Study(SQUARE, out, {"x": [1, 2]}).run(executor=Inline(), log=quiet())
    log = quiet()
    again = Study(SQUARE, out, {"x": [1, 2]}).run(executor=Inline(), log=log)
    assert "[skip] x=1" in log.getvalue() and "0 to run, 2 already ok" in log.getvalue()
    assert again.table["seconds"].tolist() == first.table["seconds"].tolist()
    run = Study(SQUARE, out, {"x": [1, 2]}).runs()[0]
    assert is_done(out / "x=1", run.digest())
    # other fixed parameters, another seed, another function: not done
    assert not is_done(out / "x=1", Run(Function(SQUARE), {"x": 1}, seed=0).digest())
    other = Run(Function("fwlab.runs.examples:nap"), {"x": 1}, name="x=1")
    assert not is_done(out / "x=1", other.digest())
    log = quiet()
    Study(SQUARE, out, {"x": [1, 2]}).run(executor=Inline(), force=True, log=log)
    assert "2 to run" in log.getvalue()


def test_an_edited_function_is_not_done(tmp_path, monkeypatch):
    module = tmp_path / "edited_target.py"
    module.write_text("def f(x):\n    return {'y': x}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "s"
    Study("edited_target:f", out, {"x": [3]}).run(executor=Inline(), log=quiet())
    module.write_text("def f(x):\n    return {'y': x, 'edited': True}  # a new body\n")
    log = quiet()
    Study("edited_target:f", out, {"x": [3]}).run(executor=Inline(), log=log)
    assert "1 to run, 0 already ok" in log.getvalue()


def test_a_failing_run_is_recorded_and_the_others_go_on(tmp_path):
    out = tmp_path / "s"
    study = Study("fwlab.runs.examples:fail", out, {"message": ["boom", "bang"]})
    rows = study.run(executor=Inline(), log=quiet()).rows
    assert [(r["status"], r["error"]) for r in rows] == [
        ("failed", "ValueError: boom"), ("failed", "ValueError: bang"),
    ]  # fmt: skip
    st = read_status(out / "message=boom")
    assert "raise ValueError(message)" in st["traceback"]


def test_a_function_returning_something_else_than_a_dict_fails_its_run(tmp_path, monkeypatch):
    (tmp_path / "bad_return.py").write_text("def f(x):\n    return [x]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    rows = Study("bad_return:f", tmp_path / "s", {"x": [1]}).run(executor=Inline(),
                                                               log=quiet()).rows  # fmt: skip
    assert rows[0]["status"] == "failed"
    assert rows[0]["error"].startswith("TypeError: bad_return:f returned a list")


def test_the_function_gets_its_run_folder(tmp_path):
    rows = Study("fwlab.runs.examples:nap", tmp_path / "s", {"tag": ["a"]},
                 fixed={"seconds": 0}).run(executor=Inline(), log=quiet()).rows  # fmt: skip
    assert rows[0]["status"] == "ok"
    assert (tmp_path / "s" / "tag=a" / "started").read_text() == str(os.getpid())


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda o: Study(SQUARE, o, {"z": [1]}), r"unknown parameter 'z' for .*square.*x, seed"),
        (lambda o: Study(lambda x: x, o), r"cannot be imported by name"),
        (lambda o: Study("fwlab.runs.examples:nothing", o), r"cannot import the function"),
        (lambda o: Study("no_colon", o), r"'module:name'"),
        (lambda o: Study(SQUARE, o, {"x": [1]}, fixed={"x": 2}), r"both as --grid and as -p"),
        (
            lambda o: Study(SQUARE, o, {"x": [1]}, seeds=[]),
            r"^seeds must be a non-empty list of integers >= 0, got \[\]$",
        ),
        (lambda o: Study(SQUARE, o, {"x": [1]}, seeds=[1, 1]), r"seed twice"),
        (
            lambda o: Study(SQUARE, o, {"x": [1]}, seeds=[True]),
            r"^seed must be an integer >= 0, got True; pass e.g. seed=0$",
        ),
        (lambda o: Study(SQUARE, o, {"seed": [1]}, seeds=[1]), r"give the seed once"),
        (lambda o: Study(SQUARE, o, {"x": [1, 2]}, flat=True), r"one run, this one has 2"),
        (lambda o: Study(SQUARE, o, {"x": []}), r"'x' has no values"),
        (lambda o: Study(SQUARE, o, {"x": [1]}).run(jobs=0), r"jobs must be an integer >= 1"),
        (lambda o: Study(Path(o) / "missing.ipynb", o), r"notebook not found"),
        (
            lambda o: Notebook(Path("x.ipynb"), timeout=0),
            r"^timeout must be a finite number > 0, got 0;",
        ),
        (lambda o: Study(SQUARE, o, [{"x": 1, "seed": 0}], seeds=[1]), r"give the seed once"),
        (lambda o: Study(SQUARE, o, [{"z": 1}]), r"unknown parameter 'z'"),
        (lambda o: Study(SQUARE, o, {"x": [1]}, folder="{y}"), r"cannot be filled from"),
        (lambda o: Study(SQUARE, o, {"x": [1]}, folder="../{x}"), r"a relative path of names"),
        (lambda o: Study(SQUARE, o, {"x": ["a b"]}, folder="{x}"), r"a relative path of names"),
    ],
)
def test_a_bad_study_is_refused_before_anything_is_written(tmp_path, make, match):
    out = tmp_path / "s"
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        make(out)
    assert not out.exists()


def test_a_function_target_names_itself_by_module_and_name():
    assert Function(square).ref == SQUARE
    assert Run(Function(square), {"x": 2}).name == "x=2"


def test_a_study_of_listed_points_runs_them_in_order_in_the_folders_its_template_names(
    tmp_path,
):
    points = [{"x": 3, "seed": 1}, {"x": 2, "seed": 0}, {"x": 3, "seed": 0}]
    study = Study(SQUARE, tmp_path / "s", points, folder="x{x}/seed{seed}")
    assert [r.name for r in study.runs()] == ["x3/seed1", "x2/seed0", "x3/seed0"]
    outcome = study.run(executor=Inline(), log=quiet())
    assert [(r["point"], r["y"], r["seed_seen"]) for r in outcome.rows] == [
        ("x3/seed1", 9, 1), ("x2/seed0", 4, 0), ("x3/seed0", 9, 0),
    ]  # fmt: skip
    assert read_status(tmp_path / "s" / "x2" / "seed0")["status"] == "ok"
    assert outcome.started == ["x3/seed1", "x2/seed0", "x3/seed0"]
    again = study.run(executor=Inline(), log=quiet())  # done: skipped, nothing started
    assert again.started == [] and again.table["y"].tolist() == [9, 4, 9]


def test_a_shared_study_leaves_its_folder_to_other_processes_and_reports_their_runs_busy(
    tmp_path,
):
    from fwlab.runs import claim
    from fwlab.runs.files import STUDY_CLAIM_FILE

    out = tmp_path / "s"
    with claim(out, lock_name=STUDY_CLAIM_FILE), claimed_elsewhere(out / "x=2"):
        outcome = Study(SQUARE, out, {"x": [1, 2]}, shared=True).run(executor=Inline(),
                                                                      log=quiet())  # fmt: skip
    assert [r["status"] for r in outcome.rows] == ["ok", "busy"] and outcome.started == ["x=1"]
    with claim(out, lock_name=STUDY_CLAIM_FILE), pytest.raises(Claimed):  # not shared: refused
        Study(SQUARE, out, {"x": [1, 2]}).run(executor=Inline(), log=quiet())


def test_a_function_run_keeps_the_environment_of_its_process(tmp_path, monkeypatch):
    """What `fwlab record --mlflow` sets for its fits (FWLAB_MLFLOW_*) reaches a function run;
    the run's own folder is FWLAB_RESULTS_DIR, and is unset again after it."""
    monkeypatch.setenv("FWLAB_MLFLOW_URI", "file:///somewhere")
    monkeypatch.delenv("FWLAB_RESULTS_DIR", raising=False)
    out = tmp_path / "s"
    row = Study("os:environ.copy", out).run(executor=Inline(), log=quiet()).rows[0]
    assert row["status"] == "ok" and row["FWLAB_MLFLOW_URI"] == "file:///somewhere"
    assert row["FWLAB_RESULTS_DIR"] == str((out / "default").resolve())
    assert "FWLAB_RESULTS_DIR" not in os.environ


def test_a_claimed_study_folder_is_refused_naming_the_holder(tmp_path):
    out = tmp_path / "s"
    code = (
        "import sys, time; from fwlab.runs import claim; from fwlab.runs.files import "
        "STUDY_CLAIM_FILE\nwith claim(sys.argv[1], lock_name=STUDY_CLAIM_FILE):\n"
        "    print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Claimed, match=rf"{out} is in use by pid {holder.pid} \("):
            Study(SQUARE, out, {"x": [1]}).run(executor=Inline(), log=quiet())
    finally:
        holder.kill()
        holder.wait()
    # the OS freed the claim with the process: the study runs now
    assert Study(SQUARE, out, {"x": [1]}).run(executor=Inline(), log=quiet()).rows[0]["y"] == 1


def test_a_run_claimed_by_another_process_is_reported_busy_and_not_run(tmp_path):
    out = tmp_path / "s"
    log = quiet()
    with claimed_elsewhere(out / "x=2"):
        rows = Study(SQUARE, out, {"x": [1, 2]}).run(executor=Inline(), log=log).rows
    assert [r["status"] for r in rows] == ["ok", "busy"]
    assert "is in use by pid" in rows[1]["error"] and "x=2: busy" in log.getvalue()
    assert read_status(out / "x=2") is None  # nothing written into the other's run


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_worker_killed_mid_run_fails_that_run_and_the_others_go_on(tmp_path):
    out = tmp_path / "s"
    study = Study("fwlab.runs.examples:nap", out, {"tag": ["a", "b", "c"]},
                  fixed={"seconds": 1.5})  # fmt: skip
    victim = out / "tag=a" / "started"

    def kill_the_first() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if victim.exists() and victim.read_text():
                os.kill(int(victim.read_text()), signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_first, daemon=True)
    killer.start()
    rows = study.run(jobs=2, log=quiet()).rows
    killer.join(5)
    assert [r["status"] for r in rows] == ["failed", "ok", "ok"]
    error = "the worker process died (exit code -9) during the run: killed, or out of memory"
    assert rows[0]["error"].startswith(error)
    assert json.loads((out / "tag=a" / "status.json").read_text())["error"].startswith(error)
    pids = {(out / f"tag={t}" / "started").read_text() for t in "abc"}
    assert len(pids) == 3  # the dead worker was replaced by a new process
    # the killed run is not done: the next study runs it (and only it)
    log = quiet()
    rows = study.run(jobs=2, log=log).rows
    assert [r["status"] for r in rows] == ["ok", "ok", "ok"]
    assert "1 to run, 2 already ok" in log.getvalue()
