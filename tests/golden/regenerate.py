"""Regenerate the golden copies in tests/golden/ after an intended change to a notebook.

    bash .ci/golden                                     # every golden copy (sets up .venv first)
    .venv/bin/python -m tests.golden.regenerate 01_trust_region_playground 04_har2

Each notebook runs under papermill at its defaults in the ``fwlab`` kernel, as the notebook tests
run it (in a temporary copy of notebooks/, one torch thread), ``--jobs`` at a time; its golden copy
is written from that run (tests/golden/golden.py: make_golden), and nbval then checks that the new
copy matches the run it came from (``--twice``: and a second run). A notebook that fails under
papermill leaves its old golden copy in place.
Review the change with ``git diff tests/golden`` before committing: every line that moved is a
number or a verdict a notebook prints.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from tests.golden.golden import (
    NAMES,
    NOTEBOOK_DIR,
    ROOT,
    compare,
    golden_path,
    make_golden,
)

KERNEL = "fwlab"  # registered by .ci/setup


def execute(name: str, work: Path, timeout: int) -> Path:
    """Run notebooks/NAME.ipynb at its defaults under papermill in a copy of notebooks/ inside
    ``work`` (what it writes, runs/..., stays there); the executed notebook's path."""
    folder = work / name / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, folder, ignore=shutil.ignore_patterns("runs", ".ipynb_*"))
    results = work / name / "results"
    results.mkdir()
    out = work / name / f"{name}.ipynb"
    env = dict(os.environ, OMP_NUM_THREADS="1", FWLAB_RESULTS_DIR=str(results))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    cmd = [
        sys.executable, "-m", "papermill", str(folder / f"{name}.ipynb"), str(out),
        "-k", KERNEL, "--cwd", str(folder), "--no-progress-bar",
        "--execution-timeout", str(timeout),
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed under papermill:\n{done.stderr[-4000:]}")
    return out


def regenerate(name: str, work: Path, timeout: int, twice: bool = False) -> str:
    """Execute notebook ``name``, write its golden copy, check it with nbval; a summary line.
    With ``twice``, a second run must match the new golden copy too."""
    executed = execute(name, work, timeout)
    golden = make_golden(
        name,
        nbformat.read(executed, as_version=4),
        nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4),
    )
    target = golden_path(name)
    tmp = target.with_suffix(".ipynb.tmp")
    nbformat.write(golden, tmp)
    os.replace(tmp, target)
    check = compare(target, executed)
    if check.returncode != 0:
        raise RuntimeError(f"nbval rejects the new {target.name}:\n{check.stdout[-4000:]}")
    if twice:
        again = compare(target, execute(name, work / "again", timeout))
        if again.returncode != 0:
            raise RuntimeError(
                f"a second run differs from the new {target.name} (written anyway): mark the "
                "cell in IGNORED (tests/golden/golden.py) if its output cannot repeat, or add "
                f"what varies to tests/golden/sanitize.cfg:\n{again.stdout[-4000:]}"
            )
    counted = [line for line in check.stdout.splitlines() if line.startswith("nbval:")]
    return f"{target.relative_to(ROOT)}: {counted[-1] if counted else check.stdout[-200:]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.golden.regenerate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"default: all of {NAMES}")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks run at a time (default 2)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (default 900)")
    parser.add_argument(
        "--twice",
        action="store_true",
        help="run each notebook a second time and fail where nbval finds that run different "
        "from the new golden copy (after a notebook gained cells: is their output repeatable?)",
    )
    args = parser.parse_args(argv)
    names = [n.removesuffix(".ipynb").split("/")[-1] for n in args.names] or list(NAMES)
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        parser.error(f"no golden copy for {unknown}; choose from {list(NAMES)}")
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    from jupyter_client.kernelspec import find_kernel_specs

    if KERNEL not in find_kernel_specs():
        parser.error(f"Jupyter kernel {KERNEL!r} is not installed: run `bash .ci/setup` first")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="fwlab-golden-") as tmp:
        with ThreadPoolExecutor(args.jobs) as pool:
            jobs = {
                n: pool.submit(regenerate, n, Path(tmp), args.timeout, args.twice) for n in names
            }
            for name, job in jobs.items():
                try:
                    print(job.result(), flush=True)
                except RuntimeError as e:
                    failed += 1
                    print(f"{name}: golden copy NOT regenerated: {e}", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
