"""tests/process_tools.py: the helpers the process tests rely on do what they say."""

import subprocess
import sys
from pathlib import Path

import psutil

from tests.process_tools import is_kernel

ROOT = Path(__file__).resolve().parents[1]

SERVER = """
import subprocess, sys, time
from tests.process_tools import dies_with_test
server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                          start_new_session=True, preexec_fn=dies_with_test)
print(server.pid, flush=True)
time.sleep(120)
"""


def test_a_server_started_with_dies_with_test_gets_sigterm_when_the_test_process_is_killed():
    test = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    server = psutil.Process(int(test.stdout.readline()))
    try:
        assert server.is_running()
        test.kill()  # SIGKILL: no teardown runs
        test.wait(10)
        server.wait(10)  # psutil.TimeoutExpired if it outlived the test
    finally:
        test.stdout.close()
        if server.is_running():
            server.kill()
    assert not server.is_running()


def test_is_kernel_knows_both_launchers():
    assert is_kernel(["python", "-m", "fwlab.runs.kernel_launcher", "-f", "k.json"])
    assert is_kernel("python -m ipykernel_launcher -f k.json")
    assert not is_kernel(["python", "-m", "jupyter", "lab"])
