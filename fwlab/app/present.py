"""``fwlab present [NOTEBOOK]``: serve a notebook as an app with Voilà, for teaching.

Voilà runs the notebook in a fresh kernel and shows its outputs only: markdown, figures and live
widgets (the playground's sliders redraw its figure as in JupyterLab), with the code cells
hidden. The default notebook is the trust-region playground (notebook 01); ``NOTEBOOK`` may be a
path or a number/prefix such as ``02`` (looked up in the notebooks folder).

The server listens on a free port (or ``--port``) on ``127.0.0.1`` (``--host 0.0.0.0`` to serve
a classroom) and prints its address. A browser is opened unless ``--no-browser`` or running as
root (a browser refuses to start as root; open the printed address yourself). Ctrl-C stops the
server and its kernels. Options it does not know go to ``voila``
(``fwlab present --theme=dark``).

Example::

    fwlab present                 # notebook 01, a free port, opens the browser
    fwlab present 02 --no-browser --port 8866
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from fwlab.util.argtypes import Argument, Command, Option, integer
from fwlab.util.failure import CommandError
from fwlab.util.notebook_dir import find_notebook  # re-exported: it lived here first

__all__ = ["command", "find_notebook", "free_port", "present_command", "run_cli"]

# the page appears at once and shows each cell's output when the cell has run, its widgets live
# while later cells still run (notebook 02's dashboard while the cell after it awaits the
# training); without it Voilà shows nothing until the last cell has run
PROGRESSIVE = "--VoilaConfiguration.progressive_rendering=True"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def present_command(
    notebook: Path,
    *,
    port: int,
    host: str = "127.0.0.1",
    open_browser: bool = True,
    extra: list[str] | None = None,
) -> list[str]:
    """The ``voila`` command line that serves ``notebook`` (code hidden, widgets live).

    Example:
        >>> cmd = present_command(Path("nb.ipynb"), port=8870, open_browser=False)
        >>> cmd[3:6], PROGRESSIVE in cmd, cmd[-1]
        (['nb.ipynb', '--port=8870', '--Voila.ip=127.0.0.1'], True, '--no-browser')
    """
    cmd = [sys.executable, "-m", "voila", str(notebook), f"--port={port}", f"--Voila.ip={host}",
           PROGRESSIVE]  # fmt: skip
    if not open_browser:
        cmd.append("--no-browser")
    return cmd + list(extra or [])


#: ``fwlab present [NOTEBOOK]``: the arguments it does not know go to ``voila`` (``args.extra``)
command = Command(
    "present",
    lambda args: run_cli(args),  # defined below
    [
        Argument(
            ["notebook"],
            required=False,
            default=None,
            help="a notebook path, or a number such as 02 (default: 01, the playground)",
        ),
        Option(["--port", "port"], type=integer, default=None, help="port (default: a free one)"),
        Option(
            ["--host", "host"],
            default="127.0.0.1",
            help="address to listen on (0.0.0.0: the whole network)",
        ),
        Option(["--no-browser", "no_browser"], is_flag=True, help="do not open a browser"),
    ],
    epilog="Other arguments go to `voila`: `fwlab present 01 --theme=dark`.",
    passthrough=True,
)


def run_cli(args: argparse.Namespace) -> int:
    notebook = find_notebook(args.notebook)  # failures: one line, fwlab.util.failure
    try:
        import voila  # noqa: F401
    except ImportError:
        raise CommandError(
            "Voilà is not installed: run `bash .ci/setup` (or pip install 'fwlab[lab]')"
        ) from None
    if args.port is not None and not 0 < args.port < 65536:
        raise ValueError(f"--port must be in 1..65535, got {args.port}")
    port = args.port or free_port(args.host if args.host != "0.0.0.0" else "127.0.0.1")
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    browser = not (args.no_browser or is_root)
    cmd = present_command(
        notebook.resolve(), port=port, host=args.host, open_browser=browser, extra=args.extra
    )
    shown = "localhost" if args.host in ("127.0.0.1", "0.0.0.0") else args.host
    print(f"fwlab present: {notebook.name} at http://{shown}:{port}/ (Ctrl-C stops it)")
    sys.stdout.flush()
    proc = subprocess.Popen(cmd, cwd=notebook.parent)
    # `kill` of this command stops the server (and Voilà its kernels), leaving no orphan
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        return proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reached voila too; let it shut its kernels down
        try:
            return proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.terminate()
            return proc.wait()
