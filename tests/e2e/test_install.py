"""A non-editable install from the wheel: commands and notebooks work without the checkout.

Builds the wheel from a copy of the repository, installs it with ``pip --no-deps`` into a fresh
venv whose only other packages are this venv's (put on ``sys.path`` by a ``.pth`` line that
appends the folder; its own ``.pth`` files, the editable install of this checkout among them,
are not run), and runs everything from a folder outside the checkout with a clean environment
in which no Jupyter kernel named ``fwlab`` exists: ``fwlab run`` registers it for the venv.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
_IGNORE = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", "test-output",
    ".pytest_cache", ".ruff_cache",
)  # fmt: skip


def IGNORE(folder: str, names: list[str]) -> set[str]:
    """What the copy of the checkout leaves out: build and cache folders, and the output
    folders named runs/ (never the package fwlab/runs/, the run engine)."""
    ignored = set(_IGNORE(folder, names))
    if Path(folder).name != "fwlab" and "runs" in names:
        ignored.add("runs")
    return ignored


pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _run(cmd, cwd, env, timeout=600):
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "-w", str(tmp / "dist"), str(src)], tmp, env)  # fmt: skip
    (wheel,) = (tmp / "dist").glob("fwlab-*.whl")
    target = tmp / "venv"
    venv.create(target, with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(target)}))
    here = sysconfig.get_path("purelib")  # this venv's packages: torch, jupyter, pip ...
    (site / "_deps.pth").write_text(f"import sys; sys.path.append({here!r})\n")
    py = target / "bin" / "python"
    _run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], tmp, env)
    env["PATH"] = f"{target / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTER_PATH"] = str(target / "share" / "jupyter")
    env["JUPYTER_DATA_DIR"] = str(tmp / "jupyter-user")  # no user-wide kernels either
    work = tmp / "work"
    work.mkdir()
    return {"wheel": wheel, "py": py, "fwlab": str(target / "bin" / "fwlab"), "env": env,
            "work": work, "site": site}  # fmt: skip


def test_the_wheel_holds_every_package_the_widgets_under_fwlab_the_notebooks_and_the_data(
    installed,
):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    # the recorded comparisons the notebooks read, and the HTML export's template
    data = {
        str(p.relative_to(ROOT))
        for folder in ("fwlab/experiments/data", "fwlab/app/templates")
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert len(data) >= 10 and data <= set(names), sorted(data - set(names))
    packages = {str(p.parent.relative_to(ROOT)) for p in ROOT.glob("fwlab/**/__init__.py")}
    for pkg in packages:
        assert f"{pkg}/__init__.py" in names, f"{pkg} is missing from the wheel (pyproject.toml)"
    assert "fwlab/widgets/__init__.py" in names and "fwlab/widgets/dashboard.py" in names
    assert not any(n.startswith("widgets/") for n in names)  # no top-level "widgets"
    shipped = {n.split("/")[-1] for n in names if n.startswith("fwlab/notebooks/")}
    assert shipped == {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}


def test_imports_come_from_the_installed_package(installed):
    out = _run([str(installed["py"]), "-c", (
        "import json, importlib.util, fwlab, fwlab.widgets, fwlab.util.notebook_dir as n; "
        "print(json.dumps([fwlab.__file__, fwlab.widgets.__file__, str(n.notebooks_dir()), "
        "importlib.util.find_spec('widgets') is None]))"
    )], installed["work"], installed["env"])  # fmt: skip
    fw, widgets, notebooks, no_top_level = json.loads(out)
    site = str(installed["site"])
    assert fw.startswith(site) and widgets.startswith(site) and notebooks.startswith(site)
    assert no_top_level and not fw.startswith(str(ROOT))


def test_fwlab_lab_help_and_notebooks(installed):
    out = _run([installed["fwlab"], "lab", "--help"], installed["work"], installed["env"])
    assert "--notebooks" in out
    out = _run([installed["fwlab"], "notebooks", "nb"], installed["work"], installed["env"])
    assert (installed["work"] / "nb" / "01_trust_region_playground.ipynb").is_file()


#: a corner of notebook 01's sliders (every other value away from its default)
CORNER = {"loss": "saddle", "delta": 0.3, "K": 3, "p": float("inf"), "lr": 1.0, "steps": 40,
          "x0": 1.5, "y0": 0.1, "delta_decay": 0.9, "zoom_k": 30}  # fmt: skip


def test_fwlab_run_executes_notebook_01_at_a_corner_in_the_installed_kernel(installed):
    """The installed notebook under ``fwlab run 01`` with parameters: the papermill run of
    notebook 01 away from its defaults (tests/e2e/test_notebook_01.py runs it at its defaults), in
    the kernel ``fwlab`` that ``fwlab run`` registers for the venv (none existed)."""
    nb = installed["site"] / "fwlab" / "notebooks" / "01_trust_region_playground.ipynb"
    out_dir = installed["work"] / "run01"
    kernel = installed["py"].parent.parent / "share" / "jupyter" / "kernels" / "fwlab"
    assert not kernel.exists()
    values = [arg for name, value in CORNER.items() for arg in ("-p", name, str(value))]
    cmd = [installed["fwlab"], "run", "01", "--out", str(out_dir), "--cwd",
           str(installed["work"]), *values]  # fmt: skip
    done = subprocess.run(cmd, cwd=installed["work"], env=installed["env"], capture_output=True,
                          text=True, timeout=800)  # fmt: skip
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert f"fwlab: registered the Jupyter kernel 'fwlab' in {kernel}" in done.stderr
    spec = json.loads((kernel / "kernel.json").read_text())
    assert spec["argv"][0] == str(installed["py"])
    assert spec["argv"][-4:] == ["-m", "fwlab.runs.kernel_launcher", "-f", "{connection_file}"]
    status = json.loads((out_dir / "status.json").read_text())
    assert status["status"] == "ok" and status["params"] == CORNER
    executed = nbformat.read(out_dir / nb.name, as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "Saddle" in text and "start (1.5, 0.1)" in text
    assert "δ = 0.3, K = 3, p = inf, η = 1.0, T = 40, γ = 0.9" in text
    assert "after 40 steps" in text and "all checks passed" in text


def test_fwlab_reproduce_smoke(installed):
    out_dir = installed["work"] / "repro"
    cmd = [installed["fwlab"], "reproduce", "--table", "3", "--rows", "sgd", "--tasks", "har2",
           "--figure", "", "--out", str(out_dir)]  # fmt: skip
    out = _run(cmd, installed["work"], installed["env"])
    assert "SGD" in out or "sgd" in out
    rows = json.loads((out_dir / "table3-smoke-seed0" / "table.json").read_text())
    assert {r["method"] for r in rows} == {"sgd"}
    assert [r["task"] for r in rows] == ["har2"]
