"""Runs that nothing hangs, nothing overwrites and nothing leaves half-done (issue 13: 1-3, 5-7).

Real processes throughout: a notebook whose kernel SIGKILLs itself, a sweep SIGKILLed mid-run
(no worker or kernel of it may survive), two ``fwlab train`` processes on one ``--out``, a
SIGKILLed lock holder, a real SIGINT to ``fwlab train``, and parameters parsed by the notebook's
declared types.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from fwlab.app.cli import main
from fwlab.runs import RESULTS_ENV
from fwlab.runs.sweep import run_sweep
from tests.notebook_tools import write_parameterized_notebook
from tests.process_tools import interactive_sigint, is_kernel

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    "OMP_NUM_THREADS": "1",
}
ENV.pop(RESULTS_ENV, None)

PARAMETERS = """\
K: int = 1  # 99 kills the kernel
tag: str = "a"
sizes: list = [1]
nap: float = 0.0  # seconds to sleep
"""
NAPPING = "napping"  # written in the run's folder when a nap starts


def write_notebook(path: Path, extra: str = "") -> Path:
    return write_parameterized_notebook(
        path,
        PARAMETERS,
        "import os, signal, time\n"
        "if K == 99:\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "if nap:  # NAPPING in the run's folder: the long sleep has begun\n"
        f"    open(os.path.join(os.environ['{RESULTS_ENV}'], '{NAPPING}'), 'w').close()\n"
        "time.sleep(nap)",
        "from fwlab.runs import record\n"
        f"record(K=K, tag=tag, tag_type=type(tag).__name__, sizes=sizes){extra}",
    )


@pytest.fixture
def nb(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", ENV["PYTHONPATH"])
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    return write_notebook(tmp_path / "target.ipynb")


def fwlab(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fwlab.app.cli", *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def status(folder: Path) -> dict:
    return json.loads((folder / "status.json").read_text())


# ------------------------------------------------------------------ item 1: a dead kernel
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_dead_kernel_fails_the_run_within_a_minute(nb, tmp_path):
    t0 = time.monotonic()
    done = fwlab("run", str(nb), "-p", "K", "99", "--out", str(tmp_path / "run"))
    wall = time.monotonic() - t0
    assert done.returncode == 1, done.stderr
    st = status(tmp_path / "run")
    assert st["status"] == "failed" and "DeadKernelError" in st["error"], st
    assert "the kernel died" in done.stderr
    assert st["seconds"] < 60 and wall < 120, (st["seconds"], wall)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_dead_kernel_fails_its_sweep_point_and_the_others_run(nb, tmp_path):
    out = tmp_path / "sweep"
    done = fwlab("sweep", str(nb), "--grid", "K=1,99", "--out", str(out))
    assert done.returncode == 1, done.stderr
    dead, alive = status(out / "K=99"), status(out / "K=1")
    assert dead["status"] == "failed" and "DeadKernelError" in dead["error"]
    assert dead["seconds"] < 60
    assert alive["status"] == "ok"


# ------------------------------------------------------------------ item 5: sweeps
def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkilled_sweep_leaves_no_worker_or_kernel_alive(nb, tmp_path):
    out = tmp_path / "sweep"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fwlab.app.cli", "sweep", str(nb), "--grid", "K=1,2",
         "-p", "nap", "600", "--jobs", "2", "--out", str(out)],
        cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    seen: dict[int, psutil.Process] = {}
    try:
        deadline = time.monotonic() + 180
        while True:  # both kernels are running the long cell
            for child in _descendants(proc.pid):
                seen.setdefault(child.pid, child)
            kernels = [p for p in seen.values() if _alive(p) and is_kernel(p.cmdline())]
            running = [
                (out / n / "status.json").exists() and status(out / n)["status"] == "running"
                for n in ("K=1", "K=2")
            ]
            napping = [(out / n / NAPPING).exists() for n in ("K=1", "K=2")]
            if len(kernels) == 2 and all(running) and all(napping):  # in the long cell
                break
            assert proc.poll() is None, "the sweep ended early"
            assert time.monotonic() < deadline, "the two kernels did not start within 180 s"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in seen.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        survivors = [(p.pid, p.cmdline()) for p in seen.values() if _alive(p)]
    finally:
        for p in [*seen.values(), psutil.Process(proc.pid) if proc.poll() is None else None]:
            if p is not None and _alive(p):
                p.kill()
    assert len(seen) >= 4  # two workers and two kernels (and the resource tracker)
    assert survivors == []
    # the folders are free again: a re-run takes them over and finishes
    done = fwlab("sweep", str(nb), "--grid", "K=1,2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert [status(out / n)["status"] for n in ("K=1", "K=2")] == ["ok", "ok"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_an_edited_notebook_reruns_and_an_unchanged_one_is_skipped(nb, tmp_path):
    out = tmp_path / "sweep"
    log = tmp_path / "log.txt"
    with log.open("w") as fh:
        run_sweep(nb, out, {"K": [1]}, log=fh)
    with log.open("w") as fh:
        run_sweep(nb, out, {"K": [1]}, log=fh)
    assert "[skip] K=1" in log.read_text()
    write_notebook(nb, extra="\nrecord(edited=True)")  # same path, new content
    with log.open("w") as fh:
        rows = run_sweep(nb, out, {"K": [1]}, log=fh)
    assert "[skip]" not in log.read_text()
    assert rows[0]["status"] == "ok" and rows[0]["edited"] is True


@pytest.mark.parametrize("value", ["0", "-1", "-0.5", "nan", "abc"])
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_timeout_that_is_not_positive_is_a_usage_error(nb, tmp_path, capsys, command, value):
    grid = ["--grid", "K=1"] if command == "sweep" else []
    with pytest.raises(SystemExit) as exc:
        main([command, str(nb), *grid, f"--timeout={value}", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert "argument --timeout: must be a finite number > 0" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ item 6: parameters
@pytest.mark.parametrize(
    "args, match",
    [
        (["-p", "K", "abc"], r"-p K: the notebook declares K: int, got 'abc'"),
        (["-p", "K", "1.5"], r"K: int, got '1.5'"),
        (["-p", "sizes", "3"], r"sizes: list, got '3'"),
        (["-p", "nap", ""], r"-p nap: empty value"),
    ],
)
def test_run_refuses_a_value_of_the_wrong_type(nb, tmp_path, capsys, args, match):
    assert main(["run", str(nb), *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fwlab run: error: ") and len(err.splitlines()) == 1
    assert re.search(match, err), err
    assert not (tmp_path / "o" / "status.json").exists()  # refused before running


@pytest.mark.parametrize(
    "spec, match",
    [
        ("K=1,", r"--grid K: empty value"),
        ("K=,1", r"--grid K: empty value"),
        ("K=1,x", r"--grid K: the notebook declares K: int, got 'x'"),
        ("sizes=[1,2],3]", r"--grid sizes=\[1,2\],3\]: unbalanced brackets"),
        ("sizes=[1,2", r"--grid sizes=\[1,2: unbalanced brackets"),
        ("tag=it's", r"--grid tag=it's: unclosed quote"),
    ],
)
def test_sweep_refuses_a_bad_grid(nb, tmp_path, capsys, spec, match):
    assert main(["sweep", str(nb), "--grid", spec, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert re.search(match, err), err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_values_reach_the_notebook_with_their_declared_types(nb, tmp_path):
    # (the grid's bracket splitting is checked without a kernel above and in test_sweep_params)
    out = tmp_path / "run"
    done = fwlab(
        "run", str(nb), "-p", "sizes", "[3,[4,5]]", "-p", "tag", "007", "-p", "K", "3",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "results.json").read_text())
    assert (result["sizes"], result["tag"], result["tag_type"], result["K"]) == (
        [3, [4, 5]], "007", "str", 3,
    )  # fmt: skip


# ------------------------------------------------------------------ item 7: a bad --out
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_out_under_a_file_is_refused_before_any_kernel_starts(nb, tmp_path, capsys, command):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    grid = ["--grid", "K=1"] if command == "sweep" else []
    t0 = time.monotonic()
    assert main([command, str(nb), *grid, "--out", str(blocker / "o")]) == 2
    assert time.monotonic() - t0 < 20  # no kernel was started
    err = capsys.readouterr().err
    assert f"--out {blocker / 'o'} cannot be a folder: {blocker} is a file" in err
    assert blocker.read_text() == "x"


# ------------------------------------------------------------------ hostile inputs
@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: p.mkdir(), r"is a folder; pass the notebook file"),
        (lambda p: p.write_text("hello"), r"is not a Jupyter notebook that can be read \(Note"),
        (lambda p: p.write_text('{"x": 1}'), r"is not a Jupyter notebook that can be read"),
    ],
)
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_a_notebook_that_is_not_one_is_a_usage_error(tmp_path, capsys, command, make, match):
    target = tmp_path / "bad.ipynb"
    make(target)
    grid = ["--grid", "K=1"] if command == "sweep" else []
    assert main([command, str(target), *grid, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert re.search(match, err) and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_cwd_that_is_a_file_is_refused_before_running(nb, tmp_path, capsys, command):
    grid = ["--grid", "K=1"] if command == "sweep" else []
    args = [command, str(nb), *grid, "--cwd", str(nb), "--out", str(tmp_path / "o")]
    assert main(args) == 2
    assert f"--cwd {nb} is a file" in capsys.readouterr().err
    assert not (tmp_path / "o" / "status.json").exists()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ctrl_c_stops_fwlab_run_and_its_status_says_so(nb, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fwlab.app.cli", "run", str(nb), "-p", "nap", "600", "--out",
         str(out)],
        cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=interactive_sigint,
    )  # fmt: skip
    kernels: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 180
        while not kernels or not (out / NAPPING).exists():  # until inside the long cell
            kernels = [p for p in _descendants(proc.pid) if is_kernel(p.cmdline())]
            assert proc.poll() is None and time.monotonic() < deadline, "no nap within 180 s"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    # one line: what happened, the command that resumes, where the status is; no traceback
    assert err.strip().splitlines() == [
        "fwlab run: interrupted (Ctrl-C): the run stopped; resume with: fwlab run "
        f"{nb} -p nap 600 --out {out}; status.json in {out}"
    ], err
    st = status(out)
    assert st["status"] == "interrupted" and st["error"] == "interrupted (Ctrl-C)", st
    assert st["traceback"] is None and st["seconds"] > 0
    deadline = time.monotonic() + 10
    while any(_alive(k) for k in kernels) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(k) for k in kernels)
