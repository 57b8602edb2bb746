"""``fwlab lab``: open JupyterLab on fwlab's notebooks (as root too)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from fwlab.runs.jupyter_kernel import ensure_kernel, install_hint, missing_lab
from fwlab.util.argtypes import Command, Option, path_type
from fwlab.util.failure import CommandError
from fwlab.util.notebook_dir import PLAYGROUND, notebooks_dir


def lab_command(
    notebooks: Path, extra: list[str], *, is_root: bool, workspaces: Path | None = None
) -> list[str]:
    """The ``jupyter lab`` command line that opens the playground notebook.

    JupyterLab's start page (``LabApp.default_url``) is the notebook itself, so the URL it
    prints (``http://127.0.0.1:PORT/lab/tree/01_trust_region_playground.ipynb?token=...``) and
    the browser it opens show the playground. ``workspaces`` (default: :func:`workspaces_dir`)
    keeps JupyterLab's remembered layout apart from other installs and checkouts, which would
    otherwise share ``~/.jupyter/lab/workspaces`` and show each other's open notebooks.

    Example:
        >>> cmd = lab_command(Path("nb"), ["--no-browser"], is_root=True, workspaces=Path("ws"))
        >>> cmd[4]
        '--ServerApp.root_dir=nb'
        >>> cmd[5]
        '--LabApp.default_url=/lab/tree/01_trust_region_playground.ipynb'
        >>> cmd[6:]
        ['--LabApp.workspaces_dir=ws', '--LabApp.news_url=None', '--allow-root', '--no-browser']
    """
    workspaces = workspaces_dir() if workspaces is None else workspaces
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={notebooks}"]
    cmd.append(f"--LabApp.default_url=/lab/tree/{PLAYGROUND}")
    if workspaces is not None:
        cmd.append(f"--LabApp.workspaces_dir={workspaces}")
    cmd.append("--LabApp.news_url=None")
    if is_root:
        cmd.append("--allow-root")
    return cmd + list(extra)


def workspaces_dir() -> Path | None:
    """Where ``fwlab lab`` keeps JupyterLab's workspaces: inside the Python environment running
    fwlab (a checkout's ``.venv``, a venv, a conda environment), so each has its own; ``None``
    (JupyterLab's default) for a system Python whose folder is not writable."""
    prefix = Path(sys.prefix)
    in_env = sys.prefix != sys.base_prefix or (prefix / "conda-meta").is_dir()
    if in_env and os.access(prefix, os.W_OK):
        return prefix / "share" / "jupyter" / "lab" / "fwlab-workspaces"
    return None


#: ``fwlab lab``: the arguments it does not know go to ``jupyter lab`` (``args.extra``, in order)
command = Command(
    "lab",
    lambda args: run_cli(args),  # defined below
    [
        Option(
            ["--notebooks", "notebooks"],
            type=path_type,
            default=None,
            help="folder with the notebooks (default: fwlab's own, see `fwlab notebooks`)",
        )
    ],
    epilog="Other arguments go to `jupyter lab`: `fwlab lab --no-browser --port 8899`.",
    passthrough=True,
)


def run_cli(args: argparse.Namespace) -> int:
    missing = missing_lab()
    if missing:
        raise CommandError(
            f"{', '.join(missing)} not installed (the [lab] extra): {install_hint('lab')}", 2
        )
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    folder = args.notebooks if args.notebooks is not None else notebooks_dir()
    if not Path(folder).is_dir():  # before Jupyter starts and says it in its own log format
        raise ValueError(
            f"--notebooks {folder} is not a folder; pass the folder `fwlab notebooks DIR` "
            "copied the notebooks into, or leave --notebooks out for fwlab's own"
        )
    ensure_kernel()  # the notebooks ask for the kernel "fwlab"
    return subprocess.call(lab_command(folder, args.extra, is_root=is_root))
