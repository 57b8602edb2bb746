"""`fwlab train` and `fwlab reproduce` (fwlab/app/train_cli.py, fwlab/experiments/reproduce.py)."""

import json
import math

import pytest

from fwlab.app.cli import main
from fwlab.data import load_task, shrink
from fwlab.experiments.reproduce import (
    format_table,
    load_table_task,
    reproduce,
    table_plan,
    write_table,
    write_table_figure,
)
from fwlab.plots.figure_files import find_browser

ADDING = ["train", "--task", "adding", "--seq-len", "8", "--subset", "64", "--test-subset", "32",
          "--hidden", "8", "--batch-size", "16", "--no-progress"]  # fmt: skip


def test_train_writes_history_and_prints_summary(tmp_path, capsys):
    rc = main([*ADDING, "--method", "fw_k5", "--steps", "10", "--out", str(tmp_path)])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["method"] == "fw_k5" and summary["steps"] == 10
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["method"]["K"] == 5 and history["data"]["n_train"] == 64
    assert (tmp_path / "checkpoint.pt").exists()


def test_train_overrides_reach_the_method_and_config(tmp_path):
    rc = main([*ADDING, "--method", "fw_k1", "--K", "3", "--p", "inf", "--scope", "global",
               "--outer", "sgd", "--lr", "0.5", "--delta", "0.01", "--steps", "6",
               "--out", str(tmp_path)])  # fmt: skip
    assert rc == 0
    h = json.loads((tmp_path / "history.json").read_text())
    assert (h["method"]["K"], h["method"]["p"], h["method"]["scope"]) == (3, "inf", "global")
    assert h["config"]["lr"] == 0.5 and h["config"]["delta"] == 0.01
    assert h["optimizer"]["step"] == [3, 6] and h["optimizer"]["delta"] == [0.01, 0.01]


def test_train_resume_continues_to_the_same_history(tmp_path):
    common = [*ADDING, "--method", "fw_k5", "--checkpoint-every", "5"]
    assert main([*common, "--steps", "10", "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--steps", "20", "--out", str(tmp_path / "a2")]) == 0
    # a second run with a longer horizon is another run: resume refuses it
    assert main([*common, "--steps", "20", "--out", str(tmp_path / "a"), "--resume"]) == 2


def base(argv):
    """ADDING, without --seq-len where argv picks another task (it is the adding task's)."""
    if "--task" not in argv or "--seq-len" in argv:
        return ADDING
    i = ADDING.index("--seq-len")
    return ADDING[:i] + ADDING[i + 2 :]


def exit_code(argv):
    try:
        return main(argv)
    except SystemExit as exc:  # argparse rejects a bad value before anything runs
        return exc.code


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--K", "0"], "argument --K: must be an integer >= 1, got 0; pass e.g. 1"),
        (["--K", "2.0"], "argument --K: must be an integer >= 1, got '2.0'; pass e.g. 2"),
        (["--lr", "-1"], "argument --lr: must be a finite number >= 0, got -1.0; pass e.g. 1"),
        (["--lr", "0"], "delta must be a finite number > 0, and delta=None means delta = lr"),
        (["--seed", "-1"], "argument --seed: must be an integer >= 0, got -1; pass e.g. 0"),
        (["--noise-std", "1"], "option --noise-std is for the task(s) noisy_har2, basicmotio"),
        (["--source", "torchvision"], "option --source is for the task(s) pixel_mnist, perm"),
        (["--task", "basicmotions", "--seq-len", "9"], "option --seq-len is for the task(s) add"),
        (["--data-root", "/tmp"], "(the task options of 'adding': --seq-len)"),
        (["--loss", "ce"], "loss must be 'mse' or 'auto' for the regression task 'adding'"),
        (["--hidden", "0"], "argument --hidden: must be an integer >= 1"),
        (["--subset", "0"], "argument --subset: must be an integer >= 1"),
        (["--seq-len", "1"], "argument --seq-len: must be an integer >= 2"),
        (["--p", "0.5"], "argument --p: must be a number >= 1 or 'inf', got 0.5; pass e.g. 2"),
        (["--method", "nope"], "argument --method: invalid choice"),
        (["--task", "imagenet"], "argument --task: invalid choice"),
        (["--task", "har2", "--data-root", "/nonexistent"], "UCI HAR"),
        (["--method", "sgd", "--K", "5"], "--K is for the Frank-Wolfe optimizer"),
    ],
)
def test_train_bad_values_exit_2_naming_the_option(argv, message, capsys):
    assert exit_code([*base(argv), "--steps", "2", *argv]) == 2
    assert message in capsys.readouterr().err


def test_resume_without_out_is_refused(capsys):
    assert main([*ADDING, "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err


def test_shrink_keeps_class_balance():
    d = shrink(load_task("basicmotions"), 20, 8, seed=0)
    assert len(d.train) == 20 and len(d.test) == 8
    assert sorted(d.train.tensors[1].tolist()) == sorted([0, 1, 2, 3] * 5)


def test_table_plans_cover_every_row_and_task():
    plan3 = table_plan(3, "paper")
    assert len(plan3) == 24
    assert {p["task"] for p in plan3} == {"har2", "noisy_har2"}
    assert all(p["config"].hidden_size == 80 for p in plan3)
    indrnn = [p for p in plan3 if p["method"].cell == "indrnn"]
    assert indrnn and all(p["config"].lr == 2e-4 for p in indrnn)
    plan2 = table_plan(2, "paper")
    assert len(plan2) == 6 and all(p["method"].num_layers == 6 for p in plan2)
    assert [p["method"].K for p in plan2[::2]] == [1, 1, 5]
    with pytest.raises(ValueError, match="scale must be one of"):
        table_plan(3, "huge")
    with pytest.raises(ValueError, match="table must be 2 or 3"):
        table_plan(4, "smoke")


def test_smoke_table_falls_back_to_basicmotions_without_uci_har(tmp_path, monkeypatch):
    monkeypatch.setenv("FWLAB_DATA", str(tmp_path))
    assert load_table_task("har2", "smoke").name == "basicmotions"
    noisy = load_table_task("noisy_har2", "smoke")
    assert noisy.name == "noisy_basicmotions" and noisy.info["noise_std"] == 2.0
    with pytest.raises(FileNotFoundError):
        load_table_task("har2", "paper")


@pytest.mark.slow
def test_reproduce_smoke_rows_and_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FWLAB_DATA", str(tmp_path / "data"))
    results = reproduce(3, "smoke", rows=["fw_k5", "sgd"], progress=False)
    write_table(results, tmp_path / "table3-smoke", ("html", "png"))
    assert [(r["method"], r["task"]) for r in results] == [
        ("sgd", "har2"), ("sgd", "noisy_har2"), ("fw_k5", "har2"), ("fw_k5", "noisy_har2"),
    ]  # fmt: skip
    for r in results:
        assert 0 <= r["best_acc"] <= 100 and r["best_acc"] >= r["final_acc"]
        assert 0 <= r["acc_at_best_valid"] <= r["best_acc"]  # selected on 4 held-out series
        assert r["paper_acc"] in (87.66, 74.38, 94.11, 89.36)
        assert math.isfinite(r["hours"])
    assert (tmp_path / "table3-smoke" / "table.csv").read_text().count("\n") == 5
    html = (tmp_path / "table3-smoke" / "table.html").read_text()  # the comparison figure
    assert "Plotly.newPlot" in html and '"paper (har2)"' in html and "Ours K=5" in html
    if find_browser() is not None:
        png = (tmp_path / "table3-smoke" / "table.png").read_bytes()
        assert png.startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="figure format must be one of"):
        write_table_figure(results, tmp_path, formats=["gif"])
    assert write_table_figure(results, tmp_path / "none", formats=()) == []
    with pytest.raises(SystemExit):
        main(["reproduce", "--table", "3", "--figure", "png,gif"])
    assert "figure formats must be among" in capsys.readouterr().err
    text = format_table(results)
    assert "Ours K=5" in text and "(94.11)" in text and "basicmotions" in text
    assert "ours best/at best valid/final" in text
    assert main(["reproduce", "--table", "3", "--rows", "nothing", "--out", str(tmp_path),
                 "--no-progress"]) == 2  # fmt: skip


def test_fwlab_reproduce_runs_rows_as_a_study_and_resumes(tmp_path, capsys):
    # one (row, task): notebook 05's tests run both tasks through the same pipeline
    argv = ["reproduce", "--table", "3", "--rows", "sgd", "--tasks", "noisy_har2", "--figure", "",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    base = tmp_path / "table3-smoke-seed0"
    rows = json.loads((base / "table.json").read_text())
    assert [(r["method"], r["task"]) for r in rows] == [("sgd", "noisy_har2")]
    assert all(0.0 <= r["best_acc"] <= 100.0 and r["label"] == "SGD" for r in rows)
    points = sorted(p.name for p in base.iterdir() if p.is_dir())
    assert points == ["method=sgd__task=noisy_har2"]
    status = json.loads((base / points[0] / "status.json").read_text())
    assert (
        status["status"] == "ok" and status["function"] == "fwlab.experiments.reproduce:train_row"
    )
    assert status["params"] == {"method": "sgd", "task": "noisy_har2", "table": 3,
                                "scale": "smoke", "seed": 0, "device": "cpu"}  # fmt: skip
    capsys.readouterr()
    assert main(argv) == 0  # resumable: the row is already ok, nothing is retrained
    out = capsys.readouterr().out
    assert out.count("[skip]") == 1 and "0 to run" in out
    assert json.loads((base / "table.json").read_text()) == rows
    assert not list(base.glob(".table.json.*"))  # no temp file left by the atomic write


@pytest.mark.slow
def test_a_method_that_fills_two_rows_records_both_through_the_sweep(tmp_path):
    """Table II's indrnn_fw is two rows (K = 1 and K = 5): its one run of train_row trains both
    and the table gets both, each with its own result."""
    from fwlab.experiments.reproduce import reproduce_table

    results, failed = reproduce_table(2, "smoke", tmp_path, rows=["indrnn_fw"],
                                      tasks=["pixel_mnist"], figure_formats=())  # fmt: skip
    assert failed == []
    assert [(r["label"], r["method"], r["task"]) for r in results] == [
        ("Ours K=1", "indrnn_fw", "pixel_mnist"),
        ("Ours K=5", "indrnn_fw", "pixel_mnist"),
    ]
    assert all(0.0 <= r["best_acc"] <= 100.0 and r["steps"] > 0 for r in results)
    assert results[0]["paper_acc"] != results[1]["paper_acc"]  # the paper's own two numbers
    table = json.loads((tmp_path / "table2-smoke-seed0" / "table.json").read_text())
    assert table == results


# ---------------------------------------------------------------- replacing and claiming
def run_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    "bad",
    [
        ["--loss", "ce"],
        ["--tensorboard", "/etc/passwd"],
        ["--noise-std", "2"],
        ["--task", "har2", "--data-root", "/nonexistent"],
        ["--lr", "0"],
    ],
)
def test_overwrite_checks_everything_before_the_finished_run_is_touched(tmp_path, bad, capsys):
    out = tmp_path / "r"
    assert main([*ADDING, "--steps", "4", "--out", str(out)]) == 0
    before = run_bytes(out)
    assert exit_code([*base(bad), "--steps", "4", "--out", str(out), "--overwrite", *bad]) == 2
    assert run_bytes(out) == before
    assert "Traceback" not in capsys.readouterr().err


def test_overwrite_puts_the_old_run_back_when_the_new_one_fails_to_start(tmp_path, monkeypatch):
    from fwlab.train import loop

    out = tmp_path / "r"
    assert main([*ADDING, "--steps", "4", "--out", str(out)]) == 0
    before = run_bytes(out)

    def no_model(*args, **kwargs):
        raise MemoryError("cannot allocate memory for the model")

    monkeypatch.setattr(loop, "build_model", no_model)
    assert main([*ADDING, "--steps", "4", "--out", str(out), "--overwrite", "--seed", "3"]) == 1
    assert run_bytes(out) == before  # back in place, no hidden folder left
    monkeypatch.undo()
    assert main([*ADDING, "--steps", "4", "--out", str(out), "--overwrite", "--seed", "3"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".claim.lock", "checkpoint.pt", "history.json", "provenance.json"
    ]  # fmt: skip
    assert json.loads((out / "history.json").read_text())["config"]["seed"] == 3
    assert "--seed 3" in json.loads((out / "provenance.json").read_text())["command"]


def test_a_tensorboard_folder_is_claimed_like_out(tmp_path, capsys):
    from fwlab.train.tensorboard import read_tensorboard_run

    tb = tmp_path / "tb"
    assert main([*ADDING, "--steps", "4", "--method", "fw_k5", "--tensorboard", str(tb)]) == 0
    first = run_bytes(tb)
    capsys.readouterr()
    assert main([*ADDING, "--steps", "4", "--method", "sgd", "--tensorboard", str(tb)]) == 2
    err = capsys.readouterr().err
    assert f"{tb} already holds a run" in err and "another --tensorboard folder" in err
    assert run_bytes(tb) == first  # not merged
    assert main([*ADDING, "--steps", "4", "--method", "sgd", "--tensorboard", str(tb),
                 "--out", str(tmp_path / "o"), "--overwrite"]) == 0  # fmt: skip
    assert read_tensorboard_run(tb)["method"]["name"] == "sgd"
    left = sorted(p.name for p in tb.iterdir())  # the fw_k5 events are gone, nothing hidden
    assert len(left) == 2 and left[0] == ".claim.lock" and left[1].startswith("events.out.")
