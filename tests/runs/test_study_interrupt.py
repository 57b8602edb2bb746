"""Ctrl-C during a study (fwlab/runs/study.py, executors.py, execute.py), with real processes
and real signals: the first SIGINT cancels the queue at once, lets nothing new start, stops the
runs in progress ("interrupted", no traceback), prints one line naming what finished and the
command that resumes, and exits with status 130; a second SIGINT ends everything at once. No
process of the study survives either. The measured time from Ctrl-C to exit (a queue of 8
points, 2 at a time) goes to test-output/sweep_ctrl_c.txt."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from fwlab.runs import RESULTS_ENV
from fwlab.runs.execute import KERNEL_DIR_PREFIX
from tests.notebook_tools import write_parameterized_notebook
from tests.process_tools import interactive_sigint, is_kernel

ROOT = Path(__file__).resolve().parents[2]
EVIDENCE = ROOT / "test-output" / "sweep_ctrl_c.txt"
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    "OMP_NUM_THREADS": "1",
}
ENV.pop(RESULTS_ENV, None)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def write_notebook(path: Path) -> Path:
    """Points x < long_from finish at once; the others sleep 600 s."""
    return write_parameterized_notebook(
        path,
        "x: int = 1\nlong_from: int = 3",
        "import time\nif x >= long_from:\n    time.sleep(600)",
        "from fwlab import record\nrecord(y=x * x)",
    )


def _status(folder: Path) -> str | None:
    try:
        return json.loads((folder / "status.json").read_text())["status"]
    except (OSError, ValueError):
        return None


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _track(pid: int, seen: dict[int, psutil.Process]) -> None:
    """Add ``pid``'s descendants to ``seen``, each with its command line (``.command``)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for child in children:
        if child.pid not in seen:
            try:
                child.command = " ".join(child.cmdline())
            except psutil.Error:
                continue
            seen[child.pid] = child


def _interrupt(argv: list[str], ready, *, presses: int, group: bool, cwd: Path = ROOT,
               settle: float = 1.0):  # fmt: skip
    """Start ``argv``, wait until ``ready()`` and ``settle`` seconds more, send ``presses``
    SIGINTs (to the process, or to its process group as a terminal does), and return
    ``(returncode, stderr, seconds from the first SIGINT to exit, processes seen that are still
    alive 10 s later, all seen)``. A run says "running" before its kernel starts or its
    function's module is imported: ``settle`` lets them get going."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=interactive_sigint, start_new_session=True,
    )  # fmt: skip
    seen: dict[int, psutil.Process] = {}
    try:
        deadline = time.monotonic() + 200
        while not ready():
            _track(proc.pid, seen)
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the study did not get going within 200 s"
            time.sleep(0.2)
        _track(proc.pid, seen)
        if settle:
            time.sleep(settle)
            _track(proc.pid, seen)
        t0 = time.monotonic()
        for i in range(presses):
            if group:
                os.killpg(proc.pid, signal.SIGINT)
            else:
                os.kill(proc.pid, signal.SIGINT)
            if i + 1 < presses:
                time.sleep(0.3)
        _, err = proc.communicate(timeout=120)
        seconds = time.monotonic() - t0
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in seen.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        survivors = [(p.pid, p.command) for p in seen.values() if _alive(p)]
    finally:
        for p in [*seen.values(), *([psutil.Process(proc.pid)] if proc.poll() is None else [])]:
            if _alive(p):
                p.kill()
    return proc.returncode, err, seconds, survivors, seen


def _evidence(title: str, command: list[str], seconds: float, err: str) -> None:
    EVIDENCE.parent.mkdir(exist_ok=True)
    with EVIDENCE.open("a") as fh:
        fh.write(f"{title}\n  command: {' '.join(command)}\n  Ctrl-C to exit: {seconds:.2f} s\n"
                 f"  stderr: {err.strip()}\n\n")  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def fresh_evidence():
    EVIDENCE.unlink(missing_ok=True)


@pytest.mark.parametrize("group", [False, True], ids=["kill-main", "terminal-group"])
def test_one_ctrl_c_cancels_the_queue_stops_the_running_points_and_says_how_to_resume(
    tmp_path, group
):
    nb = write_notebook(tmp_path / "target.ipynb")
    out = tmp_path / "sweep"
    names = [f"x={x}" for x in range(1, 9)]
    argv = [sys.executable, "-m", "fwlab.app.cli", "sweep", str(nb), "--grid", "x=1,2,3,4,5,6,7,8",
            "--jobs", "2", "--out", str(out)]  # fmt: skip

    def two_long_points_running() -> bool:  # x=1 and x=2 finished, x=3 and x=4 sleep
        states = [_status(out / n) for n in names[:4]]
        return states == ["ok", "ok", "running", "running"]

    rc, err, seconds, survivors, seen = _interrupt(
        argv, two_long_points_running, presses=1, group=group
    )
    _evidence(f"fwlab sweep, 8 points, --jobs 2, one Ctrl-C ({'terminal' if group else 'kill'})",
              argv[2:], seconds, err)  # fmt: skip
    assert rc == 130, err
    resume = f"resume with: fwlab sweep {nb} --grid x=1,2,3,4,5,6,7,8 --jobs 2 --out {out}"
    assert err.strip().splitlines() == [
        "fwlab sweep: interrupted (Ctrl-C): 2 of 8 runs done (x=1, x=2), 2 interrupted "
        f"(x=3, x=4), 4 not started; {resume}"
    ]
    assert [_status(out / n) for n in names] == ["ok", "ok", "interrupted", "interrupted",
                                                 None, None, None, None]  # fmt: skip
    st = json.loads((out / "x=3" / "status.json").read_text())
    assert st["error"] == "interrupted (Ctrl-C)" and st["traceback"] is None
    assert seconds < 60, seconds  # was: never (every queued point still ran)
    assert len([p for p in seen.values() if is_kernel(p.command)]) >= 2
    assert survivors == []


def test_a_second_ctrl_c_ends_everything_at_once(tmp_path):
    nb = write_notebook(tmp_path / "target.ipynb")
    out = tmp_path / "sweep"
    argv = [sys.executable, "-m", "fwlab.app.cli", "sweep", str(nb), "--grid", "x=3,4,5,6,7,8,9,10",
            "--jobs", "2", "--out", str(out)]  # fmt: skip

    def running() -> bool:
        return [_status(out / n) for n in ("x=3", "x=4")] == ["running", "running"]

    rc, err, seconds, survivors, seen = _interrupt(argv, running, presses=2, group=True)
    _evidence("fwlab sweep, 8 points, --jobs 2, two Ctrl-Cs 0.3 s apart", argv[2:], seconds, err)
    assert rc == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fwlab sweep: ")
    assert "0 of 8 runs done" in lines[0] and "6 not started" in lines[0]
    assert [_status(out / n) for n in ("x=3", "x=4")] == ["interrupted", "interrupted"]
    assert not (out / "x=5").exists()
    assert seconds < 60, seconds  # was: wedged for good
    assert survivors == []
    # the killed workers' kernel socket folders are gone too (each worker would have removed its
    # own as its run ended; two were left in the temporary folder per second Ctrl-C)
    left = [p.name for pid in seen for p in Path(tempfile.gettempdir()).glob(
        f"{KERNEL_DIR_PREFIX}{pid}-*")]  # fmt: skip
    assert left == []


SCRIPT = """
import sys
from fwlab.runs import Interrupted, Study
study = Study("fwlab.runs.examples:nap", sys.argv[1], {"tag": list("abcdefgh")},
              fixed={"seconds": 600})
try:
    study.run(jobs=2)
except Interrupted as err:
    print(err, file=sys.stderr)
    sys.exit(130)
"""


@pytest.mark.parametrize("group", [False, True], ids=["kill-main", "terminal-group"])
def test_function_runs_in_worker_processes_stop_on_ctrl_c(tmp_path, group):
    out = tmp_path / "study"
    argv = [sys.executable, "-c", SCRIPT, str(out)]

    def started() -> bool:
        return all((out / f"tag={t}" / "started").exists() for t in "ab")

    # nap writes `started` in its run's folder once it runs
    rc, err, seconds, survivors, seen = _interrupt(argv, started, presses=1, group=group,
                                                   settle=0)  # fmt: skip
    _evidence(f"Study of fwlab.runs.examples:nap, 8 runs, jobs=2, one Ctrl-C "
              f"({'terminal' if group else 'kill'})", ["python", "-c", "SCRIPT", str(out)],
              seconds, err)  # fmt: skip
    assert rc == 130, err
    assert err.strip().splitlines() == [
        "interrupted (Ctrl-C): 0 of 8 runs done, 2 interrupted (tag=a, tag=b), 6 not started; "
        "run the same study again to resume (finished runs are skipped)"
    ]
    for t in "ab":
        st = json.loads((out / f"tag={t}" / "status.json").read_text())
        assert st["status"] == "interrupted" and st["traceback"] is None
    assert not any((out / f"tag={t}").exists() for t in "cdefgh")
    assert len(seen) >= 2 and survivors == []
    assert seconds < 60, seconds


def test_a_worker_killed_after_a_training_run_adds_nothing_after_the_line(tmp_path):
    """A worker ended at once (a second Ctrl-C kills the workers) leaves nothing registered with
    multiprocessing's resource tracker, the study's child, which would otherwise write a
    "leaked semaphore" warning on the terminal after the command's line (was: tqdm's lock)."""
    script = (
        "import sys\nfrom fwlab.runs import Study\n"
        "study = Study('tests.process_tools:killed_after_a_progress_bar', sys.argv[1], "
        "{'x': [1]})\n"
        "print(study.run(jobs=1, log=sys.stderr).rows[0]['error'])"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "study")], cwd=ROOT,
                          env=ENV, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.stdout.startswith("the worker process died (exit code -9)"), proc
    assert "resource_tracker" not in proc.stderr and "leaked" not in proc.stderr, proc.stderr


def test_fwlab_reproduce_stops_on_ctrl_c_with_one_line(tmp_path):
    out = tmp_path / "repro"
    base = out / "table3-smoke-seed0"
    argv = [sys.executable, "-m", "fwlab.app.cli", "reproduce", "--table", "3", "--rows", "sgd",
            "fw_k1", "fw_k5", "--figure", "", "--out", str(out)]  # fmt: skip
    first = ["method=sgd__task=har2", "method=sgd__task=noisy_har2"]

    def training() -> bool:
        return [_status(base / n) for n in first] == ["running", "running"]

    rc, err, seconds, survivors, seen = _interrupt(argv, training, presses=1, group=True,
                                                   cwd=tmp_path)  # fmt: skip
    _evidence("fwlab reproduce, 6 rows, --jobs 2, one Ctrl-C (terminal)", argv[2:], seconds, err)
    assert rc == 130, err
    resume = "resume with: " + shlex.join(["fwlab", *argv[3:]])
    assert err.strip().splitlines() == [
        "fwlab reproduce: interrupted (Ctrl-C): 0 of 6 runs done, 2 interrupted "
        f"({', '.join(first)}), 4 not started; {resume}"
    ]
    assert [_status(base / n) for n in first] == ["interrupted", "interrupted"]
    assert sorted(p.name for p in base.iterdir() if p.is_dir()) == first
    assert len(seen) >= 2 and survivors == []
    assert seconds < 60, seconds


def test_fwlab_reproduce_in_process_stops_on_ctrl_c_with_one_line(tmp_path):
    """--in-process: the same study on the Inline executor (this process, one row at a time)."""
    out = tmp_path / "repro"
    base = out / "table3-smoke-seed0"
    argv = [sys.executable, "-m", "fwlab.app.cli", "reproduce", "--table", "3", "--rows", "sgd",
            "fw_k1", "fw_k5", "--tasks", "har2", "--in-process", "--no-progress", "--figure", "",
            "--out", str(out)]  # fmt: skip

    def training() -> bool:
        return _status(base / "method=sgd__task=har2") == "running"

    rc, err, seconds, survivors, _ = _interrupt(argv, training, presses=1, group=True,
                                                cwd=tmp_path)  # fmt: skip
    _evidence("fwlab reproduce --in-process, one Ctrl-C (terminal)", argv[2:], seconds, err)
    assert rc == 130, err
    resume = "resume with: " + shlex.join(["fwlab", *argv[3:]])
    # was: a raw KeyboardInterrupt traceback, then a line saying it could not resume. The first
    # row is small: on a loaded machine it may finish before the Ctrl-C lands, and the next is
    # the one interrupted
    (line,) = err.strip().splitlines()
    done = line.split(": ")[2].split(" of 3")[0]
    rows = ["method=sgd__task=har2", "method=fw_k1__task=har2"][: int(done) + 1]
    finished = f" ({rows[0]})" if done == "1" else ""
    assert line == (
        f"fwlab reproduce: interrupted (Ctrl-C): {done} of 3 runs done{finished}, 1 interrupted "
        f"({rows[-1]}), {2 - int(done)} not started; {resume}"
    ), line
    assert [_status(base / r) for r in rows] == ["ok"] * int(done) + ["interrupted"]
    assert sorted(p.name for p in base.iterdir() if p.is_dir()) == sorted(rows)
    assert survivors == [] and seconds < 60, seconds


RECORD = """
import dataclasses, sys
from fwlab.app.cli import main
from fwlab.experiments.record import COMPARISONS
base = COMPARISONS["adding-paper"]
COMPARISONS["tiny8"] = dataclasses.replace(
    base, name="tiny8", task_options=dict(seq_len=6, n_train=120, n_test=30), n_valid=20,
    config=base.config.replace(hidden_size=4, steps=10**6, eval_every=10**5,
                               checkpoint_every=10**5),
    methods=(("a", "sgd", {}), ("b", "fw_k1", {})), seeds=(0, 1, 2, 3), lead=2)
sys.exit(main(["record", "tiny8", "--runs", sys.argv[1], "--allow-dirty", *sys.argv[2:]],
              exiting=True))  # as the fwlab command does (fwlab.app.cli.run)
"""


@pytest.mark.parametrize("jobs, presses", [(1, 1), (2, 1), (2, 2)])
def test_fwlab_record_stops_on_ctrl_c_keeping_checkpoints(tmp_path, jobs, presses):
    """`fwlab record` is a study: 8 runs (2 methods x 4 seeds), each a million batches; Ctrl-C
    stops the runs in progress (checkpointed: the same command resumes them) and cancels the
    rest; a second ends everything at once. One line names what finished and how to resume.
    (In this process, --jobs 1, the first Ctrl-C ends the run at its batch's end: a second has
    nothing left to end.)"""
    runs = tmp_path / "runs"
    argv = [sys.executable, "-c", RECORD, str(runs), "--jobs", str(jobs)]
    first = ["a/seed0", "b/seed0"][:jobs]

    def training() -> bool:  # fit has begun (its first hook writes the provenance)
        return all((runs / "tiny8" / n / "provenance.json").is_file() for n in first)

    rc, err, seconds, survivors, _ = _interrupt(argv, training, presses=presses, group=True)
    _evidence(f"fwlab record, 8 runs, --jobs {jobs}, {presses} Ctrl-C(s) (terminal)",
              ["python", "-c", "RECORD", str(runs), "--jobs", str(jobs)], seconds, err)  # fmt: skip
    # a second Ctrl-C that lands once the study has ended (while the line is written, while the
    # process exits) changes nothing: was sometimes a death by SIGINT (-2), or a lost line
    assert rc == 130, err
    line = err.strip().splitlines()[-1]
    # the first Ctrl-C stops a run at its batch's end: a second may find the runs ended already
    when = line.split(": ")[1] if presses == 2 else "interrupted (Ctrl-C)"
    assert when in ("interrupted (Ctrl-C)", "ended at once (second Ctrl-C)"), line
    assert line == (
        f"fwlab record: {when}: 0 of 8 runs done, {jobs} interrupted ({', '.join(first)}), "
        f"{8 - jobs} not started; `OMP_NUM_THREADS=1 nice -n 10 fwlab record tiny8 --runs "
        f"{runs} --reproducible` resumes"
    )
    assert "Traceback" not in err
    assert [_status(runs / "tiny8" / n) for n in first] == ["interrupted"] * jobs
    if when == "interrupted (Ctrl-C)":  # stopped at a batch's end: checkpointed
        assert all((runs / "tiny8" / n / "checkpoint.pt").is_file() for n in first)
    assert not (runs / "tiny8" / "a" / "seed1").exists()
    assert survivors == [] and seconds < 60, seconds
