"""Sweeps on a Dask cluster (fwlab/runs/executors.py, Dask): a real ``dask scheduler`` and two
``dask worker`` processes on localhost, one of them SIGKILLed while it runs a point. The sweep
still ends with every point run (the killed one again, elsewhere), a failing point isolated,
one table; a re-run skips what finished; every process the test started is gone at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fwlab.app.cli import main
from fwlab.runs import RESULTS_ENV, format_table
from fwlab.runs import executors as executors_module
from fwlab.runs.executors import SCHEDULER_ENV, resolve_scheduler
from fwlab.runs.sweep import run_sweep
from tests.browser_tools import free_port
from tests.notebook_tools import write_parameterized_notebook
from tests.process_tools import dies_with_test, interactive_sigint, is_kernel

ROOT = Path(__file__).resolve().parents[2]
EVIDENCE = ROOT / "test-output" / "dask_sweep_killed_worker.txt"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def write_notebook(path: Path) -> Path:
    """Sleeps ``seconds``, logs each start with its worker's pid, records x², fails on demand."""
    return write_parameterized_notebook(
        path,
        'x = 1\nsleep_s = 0.0\nfail_on = -1\nlog_dir = ""',
        "import os, pathlib, time\n"
        "if log_dir:\n"
        '    pathlib.Path(log_dir, f"{x}-{os.getppid()}-{time.time_ns()}").touch()\n'
        "time.sleep(sleep_s)\n"
        "if x == fail_on:\n"
        '    raise ValueError(f"point {x} fails on purpose")',
        "from fwlab.runs import record\nrecord(y=x * x)",
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line holds ``text`` (kernels name their connection file in it)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline and _alive(int(proc.name)):
                pids.append(int(proc.name))
    return pids


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """``(address, [worker Popen, worker Popen])``: a scheduler and two one-thread workers."""
    from distributed import Client

    runtime = tmp_path / "jupyter-runtime"  # kernels' connection files: found by their path
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "JUPYTER_RUNTIME_DIR": str(runtime),
    }
    env.pop(RESULTS_ENV, None)
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = []

    def start(name: str, args: list[str]) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("w")
        logs.append(log)
        return subprocess.Popen([sys.executable, "-m", "dask", *args], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=dies_with_test)  # fmt: skip

    procs = [start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                                 "--no-dashboard"])]  # fmt: skip
    try:
        workers = [
            start(
                f"worker{i}",
                [
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--name",
                    f"w{i}",
                ],
            )  # fmt: skip
            for i in range(2)
        ]
        procs += workers
        with Client(address, timeout="60s", set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(30)
        for log in logs:
            log.close()
        # kernels of killed workers exit by themselves (ipykernel watches its parent)
        deadline = time.monotonic() + 20
        while _processes_mentioning(str(runtime)) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = _processes_mentioning(str(runtime))
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"kernels outlived the cluster: {left}"


def test_sweep_on_dask_survives_a_worker_killed_mid_point(cluster, tmp_path, capsys):
    address, (victim, survivor) = cluster
    nb = write_notebook(tmp_path / "target.ipynb")
    log_dir = tmp_path / "started"
    log_dir.mkdir()
    killed: list[str] = []

    def kill_the_victim_mid_point() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for f in log_dir.iterdir():
                x, ppid, _ = f.name.split("-")
                if int(ppid) == victim.pid:
                    time.sleep(0.5)  # inside the point's sleep
                    victim.send_signal(signal.SIGKILL)
                    killed.append(int(x))
                    return
            time.sleep(0.1)

    watcher = threading.Thread(target=kill_the_victim_mid_point, daemon=True)
    watcher.start()
    fixed = dict(sleep_s=2.0, fail_on=4, log_dir=str(log_dir))  # the kill lands at ~0.6 s
    rows = run_sweep(nb, tmp_path / "sweep", {"x": [1, 2, 3, 4]}, fixed, scheduler=address)
    watcher.join(5)
    out = capsys.readouterr().out
    EVIDENCE.parent.mkdir(exist_ok=True)
    EVIDENCE.write_text(
        f"{out}\nkilled worker pid {victim.pid} while it ran point x={killed[0]}\n\n"
        f"{format_table(rows)}\n"
    )

    assert killed, "the victim worker never started a point"
    assert victim.wait(10) == -signal.SIGKILL
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "failed"]
    assert [r.get("y") for r in rows[:3]] == [1, 4, 9]
    assert "point 4 fails on purpose" in rows[3]["error"]
    starts = sorted(int(f.name.split("-")[0]) for f in log_dir.iterdir())
    # the killed point ran twice (the second time on the survivor), every other point once
    assert starts.count(killed[0]) == 2 and len(starts) == 5
    survivor_runs = [f for f in log_dir.iterdir() if f.name.split("-")[1] == str(survivor.pid)]
    assert any(f.name.startswith(f"{killed[0]}-") for f in survivor_runs)
    assert f"on the Dask cluster at {address}" in out
    assert (tmp_path / "sweep" / "results.csv").read_text().count("\n") == 5

    # resumable: a re-run skips the three finished points and runs only the failed one
    rows = run_sweep(nb, tmp_path / "sweep", {"x": [1, 2, 3, 4]}, fixed, scheduler=address)
    assert capsys.readouterr().out.count("[skip]") == 3
    assert len(list(log_dir.iterdir())) == 6 and rows[3]["status"] == "failed"

    # the environment variable sends `fwlab sweep` there too
    os.environ[SCHEDULER_ENV] = address
    try:
        rc = main(["sweep", str(nb), "--grid", "x=5", "--out", str(tmp_path / "cli"),
                   "-p", "log_dir", str(log_dir)])  # fmt: skip
    finally:
        del os.environ[SCHEDULER_ENV]
    assert rc == 0 and f"on the Dask cluster at {address}" in capsys.readouterr().out


def test_scheduler_addresses_and_an_unreachable_cluster(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://somewhere:8786")
    assert resolve_scheduler(None) == "tcp://somewhere:8786"
    assert resolve_scheduler("local") is None
    monkeypatch.delenv(SCHEDULER_ENV)
    assert resolve_scheduler(None) is None
    with pytest.raises(ValueError, match="such as tcp://HOST:8786"):
        resolve_scheduler("localhost:8786")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setattr(executors_module, "_CONNECT_TIMEOUT", "2s")
    nb = write_notebook(tmp_path / "target.ipynb")
    dead = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    assert main(["sweep", str(nb), "--grid", "x=1", "--out", str(tmp_path / "s"),
                 "--scheduler", dead]) == 2  # fmt: skip
    assert time.monotonic() - t0 < 30
    err = capsys.readouterr().err
    assert f"cannot reach the Dask scheduler at {dead}" in err and "dask scheduler" in err


def _kernels_of(workers: list[subprocess.Popen]) -> list[int]:
    """The pids of the Jupyter kernels the workers started."""
    import psutil

    pids = []
    for worker in workers:
        for child in psutil.Process(worker.pid).children(recursive=True):
            try:
                if is_kernel(child.cmdline()):
                    pids.append(child.pid)
            except psutil.Error:
                continue
    return pids


def _running(out: Path) -> list[str]:
    """The points of the sweep in ``out`` whose status.json says running."""
    found = []
    for folder in out.glob("*/status.json"):
        try:
            if json.loads(folder.read_text())["status"] == "running":
                found.append(folder.parent.name)
        except (OSError, ValueError, KeyError):
            continue
    return found


def test_ctrl_c_stops_a_sweep_on_dask_and_its_kernels_and_keeps_the_workers(cluster, tmp_path):
    address, workers = cluster
    nb = write_notebook(tmp_path / "target.ipynb")
    out = tmp_path / "sweep"
    env = {**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"], "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fwlab.app.cli", "sweep", str(nb), "--grid", "x=1,2,3,4", "-p",
         "sleep_s", "600", "--scheduler", address, "--out", str(out)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=interactive_sigint,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(_kernels_of(workers)) < 2 or len(_running(out)) < 2:  # both points sleep
            assert proc.poll() is None and time.monotonic() < deadline, "no kernels in 120 s"
            time.sleep(0.2)
        kernels = _kernels_of(workers)
        time.sleep(1)
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        seconds = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    line = err.strip().splitlines()
    assert len(line) == 1 and "0 of 4 runs done, 2 interrupted (" in line[0], err
    assert "2 not started; resume with: fwlab sweep" in line[0], err
    statuses = {p.name: json.loads((p / "status.json").read_text())["status"]
                for p in out.iterdir() if (p / "status.json").exists()}  # fmt: skip
    assert sorted(statuses.values()) == ["interrupted", "interrupted"]
    assert seconds < 60, seconds
    deadline = time.monotonic() + 10
    while any(_alive(k) for k in kernels) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(k) for k in kernels)  # the kernels were stopped
    assert all(w.poll() is None for w in workers)  # the cluster's workers go on
    EVIDENCE.parent.mkdir(exist_ok=True)
    (EVIDENCE.parent / "dask_sweep_ctrl_c.txt").write_text(
        f"fwlab sweep on Dask, 4 points on 2 one-thread workers, one Ctrl-C: exit {seconds:.2f} s"
        f" after it\n{err}"
    )
