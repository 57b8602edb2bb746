"""``fwlab lab`` (fwlab/app/lab.py), as ``bash .ci/lab`` runs it: the URL it prints opens the
playground notebook, JupyterLab's workspace lives in this Python environment, and a missing
``[lab]`` extra is named in one line."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fwlab.app.cli import main
from tests.browser_tools import free_port, wait_until_serving
from tests.process_tools import dies_with_test

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_printed_url_opens_the_playground_in_a_workspace_of_its_own(tmp_path):
    port = free_port()
    log = (tmp_path / "lab.log").open("w")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "fwlab.app.cli", "lab", "--no-browser", "--port", str(port),
           "--ServerApp.port_retries=0"]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
                              start_new_session=True, preexec_fn=dies_with_test)  # fmt: skip
    try:
        deadline, url = time.monotonic() + 180, None
        while url is None:
            assert server.poll() is None, (tmp_path / "lab.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "lab.log").read_text()
            found = re.search(r"http://127\.0\.0\.1:\d+/\S+", (tmp_path / "lab.log").read_text())
            url = found.group(0) if found else time.sleep(0.5)
        assert url.startswith(
            f"http://127.0.0.1:{port}/lab/tree/01_trust_region_playground.ipynb?token="
        )
        # Jupyter prints the URL before its event loop binds the port (jupyter_server queues
        # the bind as the loop's first callback): wait until it answers
        remaining = max(deadline - time.monotonic(), 10)
        wait_until_serving(server, url, "fwlab lab", str(tmp_path / "lab.log"), remaining)
        with urllib.request.urlopen(url, timeout=60) as page:
            assert page.status == 200 and b"JupyterLab" in page.read()
        token = url.split("token=")[1]
        api = f"http://127.0.0.1:{port}/lab/api/workspaces?token={token}"
        with urllib.request.urlopen(api, timeout=60) as reply:
            assert reply.status == 200
        expected = Path(sys.prefix) / "share" / "jupyter" / "lab" / "fwlab-workspaces"
        assert f"--LabApp.workspaces_dir={expected}" in " ".join(
            open(f"/proc/{_jupyter_pid(server.pid)}/cmdline").read().split("\0")
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
        log.close()


def _jupyter_pid(parent: int) -> int:
    """The ``jupyter lab`` child that ``fwlab lab`` started."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return int(children[0])


def test_lab_without_the_lab_extra_says_which_to_install(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("jupyterlab", "voila") else real(name, *a),
    )
    assert main(["lab", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err == (
        "fwlab lab: jupyterlab, voila not installed (the [lab] extra): "
        f"{sys.executable} -m pip install 'fwlab[lab]'\n"
    )
