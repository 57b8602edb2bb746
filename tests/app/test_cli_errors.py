"""A bad value on the ``fwlab`` command line exits with status 2 and one line naming the
option."""

from __future__ import annotations

import pytest
import torch

from fwlab.app.cli import main as fwlab_main

# ------------------------------------------------------------------------ bad inputs: the CLI
CLI_CASES = [
    (["train", "--hidden", "0"], r"argument --hidden: must be an integer >= 1, got 0; pass e.g. 1"),
    (["train", "--batch-size", "-5"], r"argument --batch-size: must be an integer >= 1"),
    (["train", "--steps", "ten"], r"argument --steps: must be an integer >= 1, got 'ten'"),
    (["train", "--epochs", "0"], r"argument --epochs: must be an integer >= 1"),
    (["train", "--lr", "-1"], r"argument --lr: must be a finite number >= 0, got -1.0"),
    (["train", "--lr", "nan"], r"argument --lr: must be a finite number >= 0, got nan"),
    (["train", "--lr", "0"], r"delta=None means delta = lr, which is 0; pass e.g. delta=0.1"),
    (["train", "--delta", "0"], r"argument --delta: must be a finite number > 0"),
    (["train", "--K", "0"], r"argument --K: must be an integer >= 1"),
    (["train", "--p", "0.5"], r"argument --p: must be a number >= 1 or 'inf', got 0.5"),
    (["train", "--lr-gamma", "1.5"], r"argument --lr-gamma: must be a number in \(0, 1\]"),
    (["train", "--seq-len", "1"], r"argument --seq-len: must be an integer >= 2"),
    (["train", "--subset", "0"], r"argument --subset: must be an integer >= 1"),
    (["train", "--checkpoint-every", "-2"], r"argument --checkpoint-every: must be an integer"),
    (["train", "--task", "imagenet"], r"argument --task: invalid choice: 'imagenet'"),
    (["train", "--method", "adamw"], r"argument --method: invalid choice: 'adamw'"),
    (["train", "--scope", "row"], r"argument --scope: invalid choice: 'row'"),
    (["train", "--device", "tpu:x"], r"argument --device: must be a torch device such as 'cpu'"),
    (["train", "--resume"], r"--resume needs --out"),
    (["train", "--checkpoint-every", "5"], r"--checkpoint-every needs --out"),
    (
        ["train", "--method", "sgd", "--K", "5"],
        r"option --K is for the Frank-Wolfe optimizer, but method 'sgd' trains with adam",
    ),
    (["bench", "--repeats", "0"], r"argument --repeats: must be an integer >= 1"),
    (["bench", "--only", "speed"], r"argument --only: invalid choice: 'speed'"),
]


def _exit_status(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = fwlab_main(argv)
    except SystemExit as e:  # argparse errors
        code = e.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("argv", "match"), CLI_CASES, ids=[" ".join(c[0]) for c in CLI_CASES])
def test_bad_cli_value_exits_2_naming_the_option(argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written into the checkout
    code, err = _exit_status(argv, capsys)
    assert code == 2, err
    assert __import__("re").search(match, err), err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_device_without_cuda_exits_2(capsys):
    code, err = _exit_status(["train", "--device", "cuda"], capsys)
    assert code == 2 and "no CUDA device is available here; use --device cpu" in err


def test_resume_from_another_runs_checkpoint_exits_2(tmp_path, capsys):
    common = [
        "train",
        "--seq-len",
        "6",
        "--subset",
        "40",
        "--test-subset",
        "20",
        "--hidden",
        "4",
        "--batch-size",
        "20",
        "--steps",
        "2",
        "--out",
        str(tmp_path),
        "--no-progress",
    ]
    assert fwlab_main(common + ["--method", "fw_k1"]) == 0
    code, err = _exit_status(common + ["--method", "fw_k5", "--resume"], capsys)
    assert code == 2 and "belongs to another run" in err
