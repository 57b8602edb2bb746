"""fwlab/util/failure.py and its one caller, fwlab.app.cli.main: every command's failures end in
one line
naming the problem and a fix, with an exit status; a traceback only with --debug/FWLAB_DEBUG."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import torch

from fwlab.app.cli import main
from fwlab.util.failure import CommandError, describe
from tests.process_tools import interactive_sigint

ADDING = ["train", "--task", "adding", "--seq-len", "8", "--subset", "64", "--test-subset", "32",
          "--hidden", "8", "--batch-size", "16", "--no-progress", "--steps", "4"]  # fmt: skip
FWLAB = [sys.executable, "-m", "fwlab.app.cli"]


@pytest.mark.parametrize(
    "err,status,pattern",
    [
        (CommandError("training diverged: x", 1), 1, "^training diverged: x$"),
        (ValueError("--lr must be > 0\n  got 0"), 2, r"^--lr must be > 0 got 0$"),
        (KeyError("no such key"), 2, "^no such key$"),
        (FileExistsError("a.ipynb already exist; pass --force"), 2, "^a.ipynb already exist"),
        (OSError(errno.ENOSPC, "No space left on device", "r/h.json"), 1,
         r"^no space left on device writing r/h.json; free some space .* what was written "
         r"before is kept$"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), 1, "^no space left on device writing;"),
        (PermissionError(errno.EACCES, "Permission denied", "/root/x"), 1,
         r"^permission denied: /root/x \(Permission denied\); pass a path you can read"),
        (OSError(errno.EROFS, "Read-only file system", "/ro"), 1, "^permission denied: /ro"),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "/no/x"), 2,
         r"^no such file or folder: /no/x; check the path"),
        (OSError(errno.EIO, "Input/output error", "/dev/x"), 1, r"^Input/output error: /dev/x;"),
        (BrokenPipeError(errno.EPIPE, "Broken pipe"), 141, "^the output pipe was closed"),
        (KeyboardInterrupt(), 130, r"^interrupted \(Ctrl-C\); what was written .* is kept"),
        (KeyboardInterrupt("interrupted at step 5; r/checkpoint.pt continues it"), 130,
         r"^interrupted at step 5; r/checkpoint.pt continues it$"),
        (MemoryError(), 1, "^out of memory; ask for less"),
        (ZeroDivisionError("division by zero"), 1,
         r"^unexpected ZeroDivisionError: division by zero; rerun with --debug \(or "
         r"FWLAB_DEBUG=1\)"),
    ],
)  # fmt: skip
def test_every_exception_type_gets_one_line_and_a_status(err, status, pattern):
    import re

    line, got = describe(err)
    assert got == status and "\n" not in line
    assert re.search(pattern, line), line


def failing_command(monkeypatch, exc):
    """Make `fwlab notebooks` raise ``exc`` from inside its work."""
    from fwlab.util import notebook_dir

    def boom(*args, **kwargs):
        raise exc

    monkeypatch.setattr(notebook_dir, "copy_notebooks", boom)


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENOSPC, "No space left on device", "x"),
        PermissionError(errno.EACCES, "Permission denied", "x"),
        KeyboardInterrupt(),
        RuntimeError("boom"),
    ],
)
def test_main_prints_one_line_and_no_traceback_unless_debug(monkeypatch, capsys, tmp_path, exc):
    monkeypatch.delenv("FWLAB_DEBUG", raising=False)
    failing_command(monkeypatch, exc)
    status = main(["notebooks", str(tmp_path / "nb")])
    err = capsys.readouterr().err
    assert status == describe(exc)[1] and status != 0
    assert err.count("\n") == 1 and err.startswith("fwlab notebooks: ")
    with pytest.raises(type(exc)):
        main(["notebooks", str(tmp_path / "nb"), "--debug"])
    with pytest.raises(type(exc)):
        main(["--debug", "notebooks", str(tmp_path / "nb")])
    monkeypatch.setenv("FWLAB_DEBUG", "1")
    with pytest.raises(type(exc)):
        main(["notebooks", str(tmp_path / "nb")])
    monkeypatch.setenv("FWLAB_DEBUG", "0")
    assert main(["notebooks", str(tmp_path / "nb")]) == status


def test_a_full_disk_while_writing_history_keeps_the_folder_usable(tmp_path, monkeypatch, capsys):
    """ENOSPC at the end of a training run: one line, and no half-written history.json."""
    from fwlab.util import atomic

    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    monkeypatch.setattr(atomic.os, "fdopen", lambda *a, **k: Full(real_fdopen(*a, **k)))
    status = main([*ADDING, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1
    assert "no space left on device writing" in err and str(tmp_path / "r") in err
    assert ".tmp" not in err  # names the file asked for, not the temporary beside it
    assert not list((tmp_path / "r").glob(".*tmp"))


def test_unreadable_and_foreign_checkpoints_say_how_to_keep_them(tmp_path, capsys):
    out = tmp_path / "r"
    assert main([*ADDING, "--out", str(out)]) == 0
    capsys.readouterr()
    for content in (b"\x00half", None):
        if content is None:
            torch.save({"model": {}, "weights": [1.0]}, out / "checkpoint.pt")
        else:
            (out / "checkpoint.pt").write_bytes(content)
        saved = (out / "checkpoint.pt").read_bytes()
        assert main([*ADDING, "--out", str(out), "--resume"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "delete" not in err
        assert "keep it aside (rename it, e.g. to checkpoint.pt.bad)" in err
        assert (out / "checkpoint.pt").read_bytes() == saved


def test_nan_in_the_data_is_named_as_the_data_not_as_a_step_size(tmp_path):
    from fwlab import TrainConfig, fit, get_method, load_task

    data = load_task("adding", seq_len=6, n_train=32, n_test=16)
    data.train.tensors[0][5, 2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"the train inputs of 'adding' hold 1 NaN/inf values "
                       r"\(the first in sample 5\); clean the data"):  # fmt: skip
        fit(get_method("fw_k1"), data, TrainConfig(hidden_size=4, batch_size=8, steps=2),
            out_dir=tmp_path, progress=False)  # fmt: skip
    assert not any(tmp_path.iterdir())


def run_cli_process(args, **kwargs):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("FWLAB_DEBUG", None)
    return subprocess.Popen([*FWLAB, *args], env=env, stderr=subprocess.PIPE, text=True,
                            preexec_fn=interactive_sigint, **kwargs)  # fmt: skip


def test_a_closed_pipe_ends_quietly_in_one_line(tmp_path):
    proc = run_cli_process(["notebooks", str(tmp_path / "nb")], stdout=subprocess.PIPE)
    proc.stdout.close()  # the reader of `fwlab notebooks DIR | head -0` went away
    err = proc.stderr.read()
    assert proc.wait(60) == 141
    assert err.strip().splitlines() == [
        "fwlab notebooks: the output pipe was closed by its reader; nothing else is affected"
    ]


def test_ctrl_c_outside_training_ends_in_one_line_with_status_130(tmp_path):
    proc = run_cli_process(
        ["export-playground", str(tmp_path / "p.html"), "--steps", "20000"],  # minutes of work
        stdout=subprocess.DEVNULL,
    )
    # inside the trajectories' computation: past the torch-free start-up (0.7 s of CPU, with
    # writing the page of a 2-step export), whatever the machine's load
    work = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    while sum(work.cpu_times()[:2]) < 2.0:
        assert proc.poll() is None and time.monotonic() < deadline, "no computation in 120 s"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    assert proc.wait(60) == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fwlab export-playground: interrupted"), err
    assert not (tmp_path / "p.html").exists()
    assert json.dumps(lines)  # plain text


def test_relative_fwlab_data_is_made_absolute_for_the_processes_fwlab_starts(tmp_path):
    code = (
        "import os; from fwlab.util.process_start import start_fwlab_process as s; s(); "
        "print(os.environ['FWLAB_DATA'])"
    )
    env = {**os.environ, "FWLAB_DATA": "cache/here"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert out.strip() == str(tmp_path / "cache" / "here")


@pytest.mark.parametrize("after", [0.3, 1.0])
def test_ctrl_c_while_a_command_is_still_importing_ends_in_one_line(tmp_path, after):
    # --steps 100000: the run cannot end before the signal, whenever it lands
    proc = run_cli_process(["train", "--steps", "100000", "--no-progress"],
                           stdout=subprocess.DEVNULL)  # fmt: skip
    time.sleep(after)  # inside the imports (torch's), before the command has started
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    assert proc.wait(60) == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "interrupted" in err
