"""``fwlab lab``: open JupyterLab on fwlab's notebooks (as root too)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from fwlab.failure import CommandError
from fwlab.notebook_dir import PLAYGROUND, notebooks_dir


def lab_command(notebooks: Path, extra: list[str], *, is_root: bool) -> list[str]:
    """The ``jupyter lab`` command line that opens the playground notebook.

    Example:
        >>> lab_command(Path("nb"), ["--no-browser"], is_root=True)[-4:]
        ['--ServerApp.root_dir=nb', '--LabApp.news_url=None', '--allow-root', '--no-browser']
    """
    cmd = [sys.executable, "-m", "jupyter", "lab", str(notebooks / PLAYGROUND)]
    cmd += [f"--ServerApp.root_dir={notebooks}", "--LabApp.news_url=None"]
    if is_root:
        cmd.append("--allow-root")
    return cmd + list(extra)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--notebooks",
        type=Path,
        default=None,
        help="folder with the notebooks (default: fwlab's own, see `fwlab notebooks`)",
    )
    parser.epilog = "Other arguments go to `jupyter lab`: `fwlab lab --no-browser --port 8899`."
    # fwlab.cli hands the arguments this parser does not know to `extra`, in their order
    parser.set_defaults(extra=[], _passthrough=True)


def run_cli(args: argparse.Namespace) -> int:
    if shutil.which("jupyter") is None and not (Path(sys.executable).parent / "jupyter").exists():
        raise CommandError(
            "jupyter is not installed: run `bash .ci/setup` (or pip install 'fwlab[lab]')"
        )
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    folder = args.notebooks if args.notebooks is not None else notebooks_dir()
    if not Path(folder).is_dir():  # before Jupyter starts and says it in its own log format
        raise ValueError(
            f"--notebooks {folder} is not a folder; pass the folder `fwlab notebooks DIR` "
            "copied the notebooks into, or leave --notebooks out for fwlab's own"
        )
    return subprocess.call(lab_command(folder, args.extra, is_root=is_root))
