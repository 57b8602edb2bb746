"""The kernels the run engine starts (fwlab/runs/kernel.py): the kernel process's own output
goes to a log beside its sockets, not to the terminal of fwlab run/sweep, and a failed run's
status keeps its last lines."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest


def _notebook(path, source):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "fwlab", "display_name": "fwlab", "language": "python"}
    params = nbformat.v4.new_code_cell("x = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("fails", [False, True], ids=["ok", "failed"])
def test_the_kernel_process_output_stays_off_the_terminal(tmp_path, fails):
    raise_ = "raise RuntimeError('boom')" if fails else "print('cell output')"
    nb = _notebook(
        tmp_path / "noisy.ipynb",
        # built at run time: the source (printed in a failure's traceback) does not hold it
        f"import os\nos.write(2, ('fd-2 noise ' + 'of the kernel process\\n').encode())\n{raise_}",
    )
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "fwlab.app.cli", "run", str(nb), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    shown = proc.stderr + proc.stdout
    if not fails:  # a failure's report may quote it, as the kernel's last output, not as noise
        assert "fd-2 noise of the kernel process" not in shown
    else:
        assert shown.count("fd-2 noise of the kernel process") == shown.count("last output")
    status = json.loads((out / "status.json").read_text())
    if fails:
        assert proc.returncode != 0 and status["status"] == "failed"
        assert "fd-2 noise of the kernel process" in status["traceback"]
    else:
        assert proc.returncode == 0 and status["status"] == "ok", proc.stderr
        executed = nbformat.read(out / "noisy.ipynb", as_version=4)
        assert "cell output" in executed.cells[-1].outputs[0]["text"]


def test_the_sockets_and_the_connection_file_live_in_the_run_folder(tmp_path):
    """A run's kernel keeps its Unix sockets and its connection file in the run's private folder,
    so that nothing stays in the temporary folder when the folder goes (jupyter_client's default
    connection file, a temporary file of its own, stayed behind when the manager was killed)."""
    from fwlab.runs.kernel import kernel_manager_class

    km = kernel_manager_class(tmp_path)(kernel_name="fwlab")
    assert km.transport == "ipc" and km.ip == str(tmp_path / "kernel")
    assert km.connection_file == str(tmp_path / "kernel.json")
    km.write_connection_file()
    info = json.loads((tmp_path / "kernel.json").read_text())
    assert info["transport"] == "ipc" and info["ip"] == str(tmp_path / "kernel")
    km.cleanup_connection_file()
    assert not (tmp_path / "kernel.json").exists()
