"""``fwlab train`` / ``fit`` output folders and interruptions (issue 13 items 2, 3 and 7).

A real ``fwlab train`` process holding an ``--out`` and a second run on it (in the test's own
process); a SIGKILLed holder whose lock is then free;
a finished run that is not overwritten without ``--overwrite``; ``--resume`` without a checkpoint;
a real SIGINT to ``fwlab train`` and a callback raising ``KeyboardInterrupt`` inside ``fit``, both
leaving the model at ω and a checkpoint that resumes to the uninterrupted history.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fwlab.app.cli import main
from fwlab.data import load_task
from fwlab.optim import FrankWolfe
from fwlab.train import TrainConfig, fit, get_method
from fwlab.train.loop import load_checkpoint
from tests.e2e.test_train_sigkill_resume import _without_wall_clock as without_wall_clock
from tests.process_tools import interactive_sigint

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    "OMP_NUM_THREADS": "1",
}
#: a tiny adding task, FW with K = 5 so that an interruption can fall inside an outer step
ARGS = [
    "--task", "adding", "--seq-len", "20", "--subset", "160", "--test-subset", "64",
    "--method", "fw_k5", "--hidden", "6", "--batch-size", "16", "--lr", "0.01",
    "--eval-every", "40", "--seed", "3", "--no-progress",
]  # fmt: skip


def train(out: Path, *extra: str, steps: int = 240) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fwlab.app.cli", "train", *ARGS, "--steps", str(steps),
         "--out", str(out), *extra],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=interactive_sigint,
    )  # fmt: skip


def train_here(out: Path, *extra: str, steps: int = 240) -> tuple[int, str]:
    """``fwlab train`` with :data:`ARGS` in this process (no interpreter and torch to start):
    its exit status and what it wrote to stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["train", *ARGS, "--steps", str(steps), "--out", str(out), *extra])
    return code, err.getvalue()


def finish(proc: subprocess.Popen, code: int = 0) -> str:
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == code, err
    return err


def wait_for_steps(proc: subprocess.Popen, out: Path, steps: int) -> None:
    """Wait until the run has written a checkpoint at ``steps`` or later."""
    deadline = time.monotonic() + 180
    while True:
        try:
            if load_checkpoint(out / "checkpoint.pt")["counters"]["step"] >= steps:
                return
        except (FileNotFoundError, RuntimeError):
            pass
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, f"no checkpoint at step {steps} within 180 s"
        time.sleep(0.02)


# ------------------------------------------------------------------ item 2: one run per folder
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_concurrent_trains_on_one_out_the_second_fails_fast(tmp_path):
    out = tmp_path / "run"
    first = train(out, "--checkpoint-every", "1", steps=2000)
    try:
        wait_for_steps(first, out, 1)
        t0 = time.monotonic()
        code, err = train_here(out, "--resume")  # a second process: this one, not the holder
        assert code == 2 and time.monotonic() - t0 < 60
        assert f"output folder {out} is in use by pid {first.pid} (" in err, err
        assert "Traceback" not in err
        assert first.poll() is None  # the first run goes on, undisturbed
    finally:
        first.kill()
        first.wait()
    # the SIGKILLed holder's lock went with it: a new run takes the folder over at once
    assert train_here(out, "--overwrite", steps=40)[0] == 0
    assert json.loads((out / "history.json").read_text())["summary"]["steps"] == 40


def test_a_finished_run_is_not_overwritten_without_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", *ARGS, "--steps", "5", "--out", str(out)]
    assert main(args) == 0
    before = (out / "history.json").read_bytes(), (out / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert main([*args[:-4], "--steps", "10", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out} already holds a run" in err and "--overwrite" in err and "--resume" in err
    assert ((out / "history.json").read_bytes(), (out / "checkpoint.pt").read_bytes()) == before
    assert main([*args[:-4], "--steps", "10", "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "history.json").read_text())["summary"]["steps"] == 10


def test_resume_without_a_checkpoint_is_an_error(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "history.json").write_text("{}")
    assert main(["train", *ARGS, "--steps", "5", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"--resume: there is no checkpoint.pt in {out}" in err
    assert (out / "history.json").read_text() == "{}"  # left alone


def test_fit_refuses_a_folder_that_holds_a_run(tmp_path):
    data = load_task("adding", seq_len=8, n_train=64, n_test=32)
    cfg = TrainConfig(hidden_size=4, batch_size=16, steps=2)
    fit(get_method("sgd"), data, cfg, out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="already holds a run.*overwrite=True"):
        fit(get_method("sgd"), data, cfg, out_dir=tmp_path, progress=False)
    with pytest.raises(FileNotFoundError, match="no checkpoint.pt"):
        fit(get_method("sgd"), data, cfg, out_dir=tmp_path / "new", resume=True, progress=False)
    h = fit(get_method("sgd"), data, cfg, out_dir=tmp_path, overwrite=True, progress=False)
    assert h["summary"]["steps"] == 2


def test_fwlab_train_claims_and_checks_each_folder_once(tmp_path, monkeypatch):
    """``fwlab train`` claims ``--out`` before it loads the data and trains into it with
    ``fit_claimed``: one claim (one filelock) and one check (or one set-aside) per folder, for
    a fresh run, a resumed one and a replacing one."""
    import filelock

    import fwlab.util.outdir

    out, tb = (tmp_path / "run").resolve(), (tmp_path / "tb").resolve()
    locks, checks = [], []
    real_lock, real_restore = filelock.FileLock, fwlab.util.outdir.restore_leftovers

    def counted_lock(path, *args, **kwargs):
        locks.append(Path(path).parent)
        return real_lock(path, *args, **kwargs)

    def counted_restore(folder):  # claim_run_dir and set_aside begin with it
        checks.append(Path(folder).resolve())
        return real_restore(folder)

    monkeypatch.setattr(filelock, "FileLock", counted_lock)
    monkeypatch.setattr(fwlab.util.outdir, "restore_leftovers", counted_restore)
    base = ["train", *ARGS, "--out", str(out), "--tensorboard", str(tb)]
    for extra, steps, checked in (
        ((), 2, [out, tb]),
        (("--resume",), 2, [out]),  # a resumed TensorBoard folder is not checked
        (("--overwrite",), 2, [out, tb]),  # both set aside
    ):
        locks.clear(), checks.clear()
        assert main([*base, "--steps", str(steps), *extra]) == 0
        assert sorted(p for p in locks if p in (out, tb)) == [out, tb], extra
        assert sorted(checks) == checked, extra
    assert json.loads((out / "history.json").read_text())["summary"]["steps"] == 2


def test_a_claimed_out_is_refused_before_the_data_loads(tmp_path, capsys, monkeypatch):
    from tests.process_tools import claimed_elsewhere

    out = tmp_path / "run"
    monkeypatch.setattr("fwlab.app.train_cli.load_task", None)  # must not be reached
    with claimed_elsewhere(out):
        assert main(["train", *ARGS, "--steps", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fwlab train: output folder") and len(err.splitlines()) == 1
    assert f"{out} is in use by pid {os.getpid()} (" in err and "pass another --out" in err


def test_tensorboard_may_be_the_out_folder(tmp_path):
    out = tmp_path / "run"
    for extra in ((), ("--overwrite",)):
        args = ["train", *ARGS, "--steps", "2", "--out", str(out), "--tensorboard", str(out)]
        assert main([*args, *extra]) == 0
    assert {"checkpoint.pt", "history.json"} <= {p.name for p in out.iterdir()}
    assert any(p.name.startswith("events.out.tfevents") for p in out.rglob("*"))


# ------------------------------------------------------------------ item 7: a bad --out
def test_out_under_a_file_is_refused_before_training(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setattr("fwlab.app.train_cli.load_task", None)  # must not be reached
    assert main(["train", *ARGS, "--steps", "5", "--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err
    assert f"--out {blocker / 'run'} cannot be a folder: {blocker} is a file" in err


def test_fit_checks_out_dir_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    data = load_task("adding", seq_len=8, n_train=64, n_test=32)
    calls = []
    with pytest.raises(ValueError, match="out_dir .* cannot be a folder"):
        fit(get_method("sgd"), data, TrainConfig(hidden_size=4, batch_size=16, steps=2),
            out_dir=blocker, callbacks=[lambda e, r: calls.append(e)], progress=False)  # fmt: skip
    assert calls == []


# ------------------------------------------------------------------ item 3: Ctrl-C inside fit
@pytest.fixture(scope="module")
def adding():
    return load_task("adding", seq_len=12, n_train=320, n_test=32, seed=0)


def interrupt_at(step: int):
    def callback(event, run):
        if event == "step" and run.step == step:
            raise KeyboardInterrupt

    return callback


@pytest.mark.parametrize("name", ["fw_k5", "fw_k5_adam", "sgd"])
def test_keyboard_interrupt_in_a_callback_saves_omega_and_resumes_exactly(adding, tmp_path, name):
    method = get_method("fw_k5", outer="adam") if name == "fw_k5_adam" else get_method(name)
    cfg = TrainConfig(hidden_size=8, batch_size=16, lr=1e-2, steps=30, eval_every=7)
    whole = fit(method, adding, cfg, out_dir=tmp_path / "whole", progress=False)
    runs = []
    with pytest.raises(KeyboardInterrupt):
        fit(method, adding, cfg, out_dir=tmp_path / "cut", progress=False,
            callbacks=[interrupt_at(13), lambda e, r: runs.append(r)])  # fmt: skip
    run = runs[-1]
    ckpt = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert ckpt["counters"]["step"] == 13 and not (tmp_path / "cut" / "history.json").exists()
    if isinstance(run.optimizer, FrankWolfe):
        # 13 = 2 outer steps + 3 inner iterations: the live model is back at ω, the step dropped
        assert run.optimizer.inner_step() == 0
        omega = {n: p.detach().clone() for n, p in run.model.named_parameters()}
        for name_, value in ckpt["model"].items():
            if name_ in omega:
                assert torch.equal(value, omega[name_]), name_  # the checkpoint holds ω too
    resumed = fit(method, adding, cfg, out_dir=tmp_path / "cut", resume=True, progress=False)
    assert without_wall_clock(resumed) == without_wall_clock(whole)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sigint_to_fwlab_train_checkpoints_and_resumes_to_the_same_history(tmp_path):
    cut, whole = tmp_path / "cut", tmp_path / "whole"
    proc = train(cut, "--checkpoint-every", "7")
    try:
        wait_for_steps(proc, cut, 14)
        os.kill(proc.pid, signal.SIGINT)
        err = finish(proc, 130)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err
    assert "interrupted at step" in err and "--resume" in err, err
    stopped = load_checkpoint(cut / "checkpoint.pt")["counters"]["step"]
    assert 14 <= stopped < 240
    assert f"interrupted at step {stopped}" in err
    # resumed and uninterrupted: main() in this process (one intra-op thread here too)
    assert train_here(cut, "--checkpoint-every", "7", "--resume")[0] == 0
    assert train_here(whole, "--checkpoint-every", "7")[0] == 0
    resumed = json.loads((cut / "history.json").read_text())
    uninterrupted = json.loads((whole / "history.json").read_text())
    assert without_wall_clock(resumed) == without_wall_clock(uninterrupted)


# ------------------------------------------------------------------ absurd values
@pytest.mark.parametrize(
    "extra, code, message",
    [
        (["--hidden", "100000000"], 1, r"out of memory \(.*\); lower --hidden \(100000000\)"),
        (["--lr", "1e308"], 1, r"training diverged: FrankWolfe met a non-finite"),
        (["--subset", "100000000"], 2, r"100000000 adding sequences .* need about .* GiB, more "
         r"than the .* GiB of memory available; lower the number of samples"),
        (["--seq-len", "100000000"], 2, r"seq_len=100000000 need about"),
    ],
)  # fmt: skip
def test_absurd_values_end_with_a_message_not_a_traceback(tmp_path, capsys, extra, code, message):
    argv = ["train", "--task", "adding", "--seq-len", "10", "--steps", "3", "--no-progress"]
    assert main([*argv, *extra, "--out", str(tmp_path / "run")]) == code
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err


@pytest.mark.parametrize("checkpoint_every", [None, 3])
def test_overwrite_killed_mid_run_keeps_the_old_run_until_the_new_one_has_a_checkpoint(
    tmp_path, checkpoint_every
):
    """SIGKILL of an --overwrite run after some steps: without a checkpoint of its own yet, the
    next claim of the folder puts the old run back; with one, the new run is the folder's run
    (resumable) and the old one is gone, never mixed with it."""
    import os
    import signal
    import subprocess
    import sys

    from fwlab.train import load_checkpoint

    out = tmp_path / "run"
    assert main(["train", *ARGS, "--steps", "4", "--out", str(out)]) == 0
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    code = (
        "import sys, time\n"
        "from fwlab import TrainConfig, fit, get_method, load_task\n"
        "data = load_task('adding', seq_len=6, n_train=64, n_test=16)\n"
        "def cb(event, run):\n"
        "    if event == 'step' and run.step == 7:\n"
        "        print('at 7', flush=True); time.sleep(120)\n"
        f"cfg = TrainConfig(hidden_size=4, batch_size=16, steps=50, seed=9, "
        f"checkpoint_every={checkpoint_every})\n"
        "fit(get_method('sgd'), data, cfg, out_dir=sys.argv[1], overwrite=True, callbacks=[cb],"
        " progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "at 7"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert (
        main(["train", *ARGS, "--steps", "4", "--out", str(out)]) == 2
    )  # claims: refuses, restores
    visible = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    if checkpoint_every is None:
        assert {p.name: p.read_bytes() for p in out.iterdir()} == old
    else:
        assert visible == ["checkpoint.pt"] and load_checkpoint(out / "checkpoint.pt")[
            "counters"]["step"] == 6  # fmt: skip
        assert not any(p.name.startswith(".fwlab-replaced") for p in out.iterdir())
