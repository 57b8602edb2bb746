"""Seconds to execute every notebook with its defaults (papermill, kernel ``fwlab``)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from fwlab.app.bench.config import NOTEBOOK_KERNEL, BenchConfig


def bench_notebooks_s(
    cfg: BenchConfig, folder: str | os.PathLike | None = None
) -> tuple[float, dict[str, Any]]:
    """Seconds to execute every notebook with its default parameters (one pass through the
    sweep runner, :func:`fwlab.runs.sweep.run_notebook`: papermill with its IPC kernel sockets)."""
    from fwlab.runs.sweep import run_notebook
    from fwlab.util.notebook_dir import notebooks_dir

    paths = sorted((Path(folder) if folder is not None else notebooks_dir()).glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(
            f"no notebooks found under {Path(folder) if folder else 'notebooks/'}; run the bench "
            "from a checkout of fwlab or pass --notebooks-dir"
        )
    repo = Path(__file__).resolve().parents[3]
    env_before = os.environ.get("PYTHONPATH")
    # the kernel imports fwlab/widgets from this checkout, whatever is installed in the venv
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo), env_before) if p)
    per_notebook: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for path in paths:
                t0 = time.perf_counter()
                status = run_notebook(
                    path,
                    Path(tmp) / path.stem,
                    kernel=NOTEBOOK_KERNEL,
                    timeout=600,
                    check_names=False,
                )
                per_notebook[path.name] = time.perf_counter() - t0
                if status["status"] != "ok":
                    raise RuntimeError(
                        f"{path.name} failed under the bench: {status['error']}\n"
                        f"{status['traceback']}"
                    )
    finally:
        if env_before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = env_before
    details = {"per_notebook_s": per_notebook, "settings": "one pass, default parameters"}
    return sum(per_notebook.values()), details
