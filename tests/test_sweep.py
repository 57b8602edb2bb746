"""`fwlab run` / `fwlab sweep` (fwlab/sweep/): papermill runs, grids, records, gathering."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import nbformat
import pytest
import torch

from fwlab.cli import main
from fwlab.sweep import (
    RESULTS_ENV,
    format_table,
    gather,
    grid,
    notebook_parameters,
    parse_grid,
    parse_value,
    point_name,
    record,
    run_notebook,
    run_sweep,
    write_csv,
)

ROOT = Path(__file__).resolve().parent.parent
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
            "from fwlab.sweep import record\n"
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


# ---------------------------------------------------------------------------- values and names
@pytest.mark.parametrize(
    "text, value",
    [
        ("5", 5),
        ("-3", -3),
        ("1e-3", 1e-3),
        ("0.5", 0.5),
        ("True", True),
        ("False", False),
        ("None", None),
        ("inf", math.inf),
        ("adam", "adam"),
        ("true", "true"),  # like papermill: only Python's spellings are booleans
        ("[1, 2]", [1, 2]),
        ("(8, 16)", (8, 16)),
        ("{'a': 1}", {"a": 1}),
        ("'5'", "5"),
        ('"x y"', "x y"),
        ("2,adam", "2,adam"),
        ("", ""),
    ],
)
def test_parse_value(text, value):
    got = parse_value(text)
    assert got == value and type(got) is type(value)


def test_parse_value_bad_literal_says_to_quote():
    with pytest.raises(ValueError, match="quote it"):
        parse_value("[1, 2")


def test_parse_grid_splits_outside_brackets_and_quotes():
    axes = parse_grid(["K=1, 5,10", "p=2,inf", "hidden=[8,8],(16,)", "tag='a,b',c"])
    assert axes == {"K": [1, 5, 10], "p": [2, math.inf], "hidden": [[8, 8], (16,)],
                    "tag": ["a,b", "c"]}  # fmt: skip


@pytest.mark.parametrize(
    "specs, match",
    [
        (["K"], "NAME=v1,v2"),
        (["K="], "NAME=v1,v2"),
        (["=1,2"], "NAME=v1,v2"),
        (["1x=1"], "NAME=v1,v2"),
        (["K=1", "K=2"], "given twice"),
        (["K=1,1"], "twice"),
    ],
)
def test_parse_grid_errors(specs, match):
    with pytest.raises(ValueError, match=match):
        parse_grid(specs)


def test_grid_is_the_cartesian_product_first_axis_slowest():
    points = grid({"K": [1, 5, 10], "p": [2, "inf"]})
    assert len(points) == 6
    assert points[0] == {"K": 1, "p": 2} and points[1] == {"K": 1, "p": "inf"}
    assert points[-1] == {"K": 10, "p": "inf"}
    assert grid({}) == [{}]


@pytest.mark.parametrize("axes", [{"K": []}, {"K": "15"}, {"K": 3}])
def test_grid_rejects_non_lists(axes):
    with pytest.raises(ValueError, match="'K'"):
        grid(axes)


def test_point_name_is_stable_and_filesystem_safe():
    assert point_name({"K": 5, "lr": 0.001, "outer": "adam"}) == "K=5__lr=0.001__outer=adam"
    assert point_name({"p": math.inf, "bn": True, "x": None}) == "p=inf__bn=True__x=None"
    assert point_name({}) == "default"
    odd = {"path": "../data sets/*", "dims": [8, 16]}
    name = point_name(odd)
    assert name == point_name(dict(odd))  # same input, same folder, every time
    assert all(c.isalnum() or c in "._=+-" for c in name) and "/" not in name
    assert not name.startswith(".")


def test_point_name_never_merges_different_points():
    points = [{"tag": "a/b"}, {"tag": "a_b"}, {"tag": "a b"}, {"K": 1}, {"K": 1.0}, {"K": "1"}]
    names = [point_name(p) for p in points]
    assert len(set(names)) == len(names)
    assert point_name({"tag": "a_b"}) == "tag=a_b"  # nothing lost: no hash
    long = point_name({f"name{i}": "x" * 20 for i in range(10)})
    assert len(long) <= 96


# ---------------------------------------------------------------------------- record
def test_record_without_the_runner_only_returns(monkeypatch, tmp_path):
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert record(loss=torch.tensor(0.5), curve=torch.tensor([1.0, 2.0])) == {
        "loss": 0.5,
        "curve": [1.0, 2.0],
    }
    assert list(tmp_path.iterdir()) == []


def test_record_merges_into_results_json(monkeypatch, tmp_path):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "out"))
    record(loss=1.0, acc=0.5)
    merged = record({"test/acc": 0.9}, acc=0.75, shape=(2, 3))
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk == merged == {"loss": 1.0, "acc": 0.75, "test/acc": 0.9, "shape": [2, 3]}


def test_record_rejects_what_json_cannot_hold(monkeypatch, tmp_path):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(TypeError, match="'model'.*Linear"):
        record(model=torch.nn.Linear(1, 1))
    assert not (tmp_path / "results.json").exists()


# ---------------------------------------------------------------------------- gather / table
def fake_point(root: Path, name: str, index, params, status, metrics=None, error=None):
    folder = root / name
    folder.mkdir(parents=True)
    st = {"status": status, "params": params, "index": index, "seconds": 1.5, "error": error}
    (folder / "status.json").write_text(json.dumps(st))
    if metrics is not None:
        (folder / "results.json").write_text(
            metrics if isinstance(metrics, str) else json.dumps(metrics)
        )


def test_gather_flattens_in_grid_order(tmp_path):
    fake_point(tmp_path, "K=5", 1, {"K": 5}, "ok", {"loss": 0.1, "K": 50})
    fake_point(tmp_path, "K=1", 0, {"K": 1}, "ok", {"loss": 0.3, "acc": 0.5})
    fake_point(tmp_path, "K=9", 2, {"K": 9}, "failed", None, "ValueError: boom")
    fake_point(tmp_path, "K=7", None, {"K": 7}, "ok", "{not json")
    (tmp_path / "no_status").mkdir()
    rows = gather(tmp_path)
    assert [r["point"] for r in rows] == ["K=1", "K=5", "K=9", "K=7"]
    assert rows[0] == {"K": 1, "loss": 0.3, "acc": 0.5, "status": "ok", "seconds": 1.5,
                       "error": None, "point": "K=1"}  # fmt: skip
    assert rows[1]["K"] == 5 and rows[1]["result.K"] == 50  # a metric never hides a parameter
    assert rows[2]["status"] == "failed" and rows[2]["error"] == "ValueError: boom"
    assert "loss" not in rows[2] and "loss" not in rows[3]
    assert gather(tmp_path / "missing") == []


def test_csv_and_table_hold_every_row(tmp_path):
    fake_point(tmp_path, "a", 0, {"K": 1, "p": "inf"}, "ok", {"loss": 0.123456, "curve": [1, 2]})
    fake_point(tmp_path, "b", 1, {"K": 5, "p": "inf"}, "failed", None, "ValueError: boom")
    rows = gather(tmp_path)
    with write_csv(rows, tmp_path / "results.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert [r["K"] for r in table] == ["1", "5"]
    assert list(table[0]) == ["K", "p", "loss", "curve", "status", "seconds", "error", "point"]
    assert table[0]["curve"] == "[1, 2]" and table[1]["loss"] == ""
    text = format_table(rows)
    header, rule, first, second = text.splitlines()[:4]
    assert header.split() == ["K", "p", "loss", "curve", "status", "seconds"]
    assert first.split()[:3] == ["1", "inf", "0.1235"] and "failed" in second
    assert "FAILED b: ValueError: boom" in text


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
