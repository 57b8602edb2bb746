"""Two checkouts on one machine: each one's .venv and "fwlab" kernel import its own code.

Clones this repository twice, runs ``.ci/setup`` in each (the shared dependency cache makes that
seconds: a hard-linked copy plus an editable install of the clone), puts a different marker
module into each clone's ``fwlab/``, and executes a notebook with ``fwlab run`` in each clone's
kernel: the notebook records which marker and which ``fwlab`` it imported.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _run(cmd, cwd, env, timeout=600):
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_each_clone_kernel_imports_its_own_code(tmp_path):
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.fail("this test clones the repository: run it in a git checkout with git")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.pop("JUPYTER_PATH", None)
    env["OMP_NUM_THREADS"] = "1"
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("unused = 0")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import fwlab, fwlab._clone_marker as m\n"
        "from fwlab.runs import record\n"
        "record(marker=m.NAME, fwlab=fwlab.__file__)"
    )]  # fmt: skip
    nb_path = tmp_path / "which.ipynb"
    nbformat.write(nb, nb_path)
    clones = {}
    for name in ("a", "b"):
        clone = tmp_path / name
        _run(["git", "clone", "-q", str(ROOT), str(clone)], tmp_path, env)
        (clone / "fwlab" / "_clone_marker.py").write_text(f"NAME = {name!r}\n")
        _run(["bash", ".ci/setup"], clone, env)
        clones[name] = clone
    for name, clone in clones.items():
        out = tmp_path / f"out-{name}"
        _run([str(clone / ".venv" / "bin" / "fwlab"), "run", str(nb_path), "--out", str(out)],
             tmp_path, env)  # fmt: skip
        results = json.loads((out / "results.json").read_text())
        assert results["marker"] == name
        assert Path(results["fwlab"]).resolve() == (clone / "fwlab" / "__init__.py").resolve()
        kernel = clone / ".venv" / "share" / "jupyter" / "kernels" / "fwlab" / "kernel.json"
        python = Path(json.loads(kernel.read_text())["argv"][0])
        assert python.is_relative_to(clone / ".venv")  # the kernel runs the clone's own venv
