"""`fwlab run` / `fwlab sweep` (fwlab/runs/sweep.py, cli.py): notebooks run as studies of the
run engine (the engine's own parts: tests/test_runs_*.py)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import nbformat
import pytest

from fwlab.app.cli import main
from fwlab.runs import RESULTS_ENV, gather, notebook_parameters
from fwlab.runs.sweep import run_notebook, run_sweep
from tests.process_tools import claimed_elsewhere

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ["K", "mode", "fail_on", "log_dir"]


def write_notebook(path: Path, *, tagged: bool = True) -> Path:
    """A tiny notebook: a parameters cell, a run log, an optional failure, a record() call."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'K = 1  # inner iterations\nmode = "sgd"  # outer step\n'
        'fail_on = ""  # "K,mode" of the point that raises\n'
        'log_dir = ""  # a folder that gets one file per execution'
    )
    if tagged:
        params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# a sweep target"),
        params,
        nbformat.v4.new_code_cell(
            "import os, pathlib, time\n"
            "if log_dir:\n"
            '    pathlib.Path(log_dir, f"{K}-{mode}-{time.time_ns()}").touch()'
        ),
        nbformat.v4.new_code_cell(
            'if f"{K},{mode}" == fail_on:\n'
            '    raise ValueError(f"point {K},{mode} fails on purpose")'
        ),
        nbformat.v4.new_code_cell(
            "from fwlab.runs import record\n"
            'record(loss=1.0 / K, mode_len=len(mode), cwd=os.getcwd())\nrecord({"K": K * 10})'
        ),
    ]
    nb.metadata["kernelspec"] = {"name": "fwlab", "display_name": "fwlab", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def nb(tmp_path, monkeypatch):
    # the kernel imports fwlab from this checkout, not from the editable install
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    folder = tmp_path / "nbs"
    folder.mkdir()
    return write_notebook(folder / "target.ipynb")


def runs_logged(log_dir: Path) -> list[str]:
    return sorted(p.name.rsplit("-", 1)[0] for p in log_dir.iterdir())


# ---------------------------------------------------------------------------- notebooks
def test_notebook_parameters_and_missing_tag(nb, tmp_path):
    declared = notebook_parameters(nb)
    assert list(declared) == PARAMS
    assert declared["K"]["default"] == "1" and declared["K"]["help"] == "inner iterations"
    untagged = write_notebook(tmp_path / "untagged.ipynb", tagged=False)
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        notebook_parameters(untagged)
    with pytest.raises(FileNotFoundError):
        notebook_parameters(tmp_path / "nope.ipynb")


def test_unknown_parameter_names_it_and_lists_the_valid_ones(nb, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(nb), "-p", "KK", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'KK'" in err and "K, mode, fail_on, log_dir" in err
    assert not out.exists()  # nothing ran
    sweep_out = tmp_path / "sweep"
    assert main(["sweep", str(nb), "--grid", "K=1,2", "--grid", "lr=1,2", "--out", str(sweep_out)])
    assert "unknown parameter 'lr'" in capsys.readouterr().err
    assert not sweep_out.exists()
    with pytest.raises(ValueError, match="both as --grid and as -p"):
        run_sweep(nb, sweep_out, {"K": [1]}, {"K": 2})


@pytest.mark.slow
def test_run_with_parameters(nb, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["run", str(nb), "-p", "K", "4", "-p", "mode", "adam", "--out", str(out),
               "--timeout", "60"])  # fmt: skip
    assert rc == 0, capsys.readouterr()
    assert json.loads((out / "results.json").read_text()) == {
        "loss": 0.25,
        "mode_len": 4,
        "cwd": str(nb.parent),  # the kernel runs in the notebook's folder, as in JupyterLab
        "K": 40,
    }
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "ok" and status["params"] == {"K": 4, "mode": "adam"}
    assert status["seconds"] > 0 and status["error"] is None
    executed = nbformat.read(out / "target.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "K = 4" in injected[0].source
    assert "0.25" in capsys.readouterr().out


@pytest.mark.slow
def test_run_failure_is_recorded(nb, tmp_path):
    out = tmp_path / "run"
    (out).mkdir()
    (out / "results.json").write_text('{"stale": 1}')  # from an earlier run: must not survive
    status = run_notebook(nb, out, {"K": 3, "fail_on": "3,sgd"}, timeout=60)
    assert status["status"] == "failed"
    assert status["error"] == "ValueError: point 3,sgd fails on purpose"
    assert "fails on purpose" in status["traceback"] and "\x1b[" not in status["traceback"]
    assert json.loads((out / "status.json").read_text()) == status
    assert not (out / "results.json").exists()
    assert (out / "target.ipynb").exists()  # the executed notebook keeps the traceback
    assert RESULTS_ENV not in os.environ


@pytest.mark.slow
def test_sweep_records_a_failure_and_reruns_only_it(nb, tmp_path, capsys):
    out, log_dir = tmp_path / "sweep", tmp_path / "log"
    log_dir.mkdir()
    argv = ["sweep", str(nb), "--grid", "K=1,2", "--grid", "mode=sgd,adam",
            "-p", "fail_on", "2,adam", "-p", "log_dir", str(log_dir),
            "--out", str(out), "--jobs", "2", "--timeout", "60"]  # fmt: skip
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "FAILED: 1 of 4 points" in captured.err
    assert runs_logged(log_dir) == ["1-adam", "1-sgd", "2-adam", "2-sgd"]

    names = ["K=1__mode=sgd", "K=1__mode=adam", "K=2__mode=sgd", "K=2__mode=adam"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(names)
    statuses = {n: json.loads((out / n / "status.json").read_text()) for n in names}
    assert [statuses[n]["status"] for n in names] == ["ok", "ok", "ok", "failed"]
    assert statuses["K=2__mode=adam"]["error"] == "ValueError: point 2,adam fails on purpose"
    assert (out / "K=2__mode=sgd" / "target.ipynb").exists()
    assert json.loads((out / "K=2__mode=sgd" / "results.json").read_text())["loss"] == 0.5
    # --jobs 2: two points were executing at the same time
    spans = sorted((s["started"], s["finished"]) for s in statuses.values())
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:]))

    with (out / "results.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 4
    assert [(r["K"], r["mode"], r["status"]) for r in table] == [
        ("1", "sgd", "ok"), ("1", "adam", "ok"), ("2", "sgd", "ok"), ("2", "adam", "failed")
    ]  # fmt: skip
    assert table[2]["loss"] == "0.5" and "fails on purpose" in table[3]["error"]
    assert all(float(r["seconds"]) > 0 for r in table)
    printed = captured.out
    assert "K  mode  fail_on  log_dir" in printed and "failed" in printed

    before = {n: (out / n / "status.json").read_bytes() for n in names}
    assert main(argv) == 1  # the failing point fails again
    assert "3 already ok" in capsys.readouterr().out
    assert runs_logged(log_dir) == ["1-adam", "1-sgd", "2-adam", "2-adam", "2-sgd"]
    for n in names[:3]:  # finished points untouched, timestamps included
        assert (out / n / "status.json").read_bytes() == before[n]
    assert (out / names[3] / "status.json").read_bytes() != before[names[3]]
    assert len(list(csv.DictReader((out / "results.csv").open()))) == 4


@pytest.mark.slow
def test_sweep_force_and_changed_fixed_parameters_rerun(nb, tmp_path, capsys):
    out, log_dir = tmp_path / "sweep", tmp_path / "log"
    log_dir.mkdir()
    base = ["sweep", str(nb), "--grid", "K=1", "-p", "log_dir", str(log_dir), "--out", str(out)]
    assert main(base) == 0
    assert main(base) == 0
    assert runs_logged(log_dir) == ["1-sgd"]
    assert main([*base, "--force"]) == 0
    assert runs_logged(log_dir) == ["1-sgd", "1-sgd"]
    assert main([*base, "-p", "mode", "adam"]) == 0  # other parameters: not the same point
    assert runs_logged(log_dir) == ["1-adam", "1-sgd", "1-sgd"]
    rows = gather(out)
    assert len(rows) == 1 and rows[0]["mode"] == "adam" and rows[0]["status"] == "ok"
    assert "K  log_dir" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_missing_kernel_is_a_usage_error_that_says_how_to_get_one(nb, tmp_path, capsys, command):
    argv = [command, str(nb), "--kernel", "no-such-kernel", "--out", str(tmp_path / "out")]
    if command == "sweep":
        argv += ["--grid", "K=1,2"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no Jupyter kernel named 'no-such-kernel'" in err and "jupyter kernelspec list" in err
    assert not (tmp_path / "out").exists()


def test_run_into_a_folder_another_process_runs_in_is_refused_at_once(nb, tmp_path, capsys):
    out = tmp_path / "point"
    out.mkdir()
    (out / "status.json").write_text('{"status": "running"}')  # the other process's run
    with claimed_elsewhere(out):
        assert main(["run", str(nb), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fwlab run: error: output folder {out} is in use by pid {os.getpid()}")
    assert (out / "status.json").read_text() == '{"status": "running"}'  # untouched
    assert not (out / "target.ipynb").exists()  # no kernel ran
