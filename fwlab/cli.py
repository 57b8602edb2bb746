"""The ``fwlab`` command: one sub-command per row of :data:`COMMANDS`.

Each row names, explicitly, the two functions of its sub-command: ``configure(parser)`` adds
the options to an ``argparse`` sub-parser and ``run(args) -> int`` does the work and returns
the exit status. The functions live in the module of their concept and are imported by a loader
per command when that command is chosen (``fwlab run`` never imports torch, which only the
training commands need; a module whose optional dependency is not installed only disables its
own command); grep finds every handler's caller here.

Every failure of every sub-command ends here, in :func:`fwlab.failure.report`: one line naming
the problem and the fix, and an exit status (``--debug`` or ``FWLAB_DEBUG=1`` for the
traceback); a command raises, it does not print its own failures.

Example:
    >>> from fwlab.cli import build_parser
    >>> names = sorted(build_parser()._subparsers._group_actions[0].choices)
    >>> names[:6], names[6:]
    (['bench', 'export-html', 'export-playground', 'lab', 'notebooks', 'present'], ['record', \
'reproduce', 'run', 'search', 'sweep', 'train'])
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple, NoReturn

from fwlab.failure import DEBUG_ENV, report
from fwlab.integrations.search_cli import command as _search


class Command(NamedTuple):
    """A sub-command's two functions."""

    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _lab() -> Command:
    from fwlab import lab

    return Command(lab.configure_parser, lab.run_cli)


def _notebooks() -> Command:
    from fwlab import notebook_dir

    return Command(notebook_dir.configure_parser, notebook_dir.run_cli)


def _train() -> Command:
    from fwlab.train import cli

    return Command(cli.configure_parser, cli.run_cli)


def _run() -> Command:
    from fwlab.sweep import cli

    return Command(cli.configure_run_parser, cli.run_run_cli)


def _sweep() -> Command:
    from fwlab.sweep import cli

    return Command(cli.configure_sweep_parser, cli.run_sweep_cli)


def _record() -> Command:
    from fwlab.train import record

    return Command(record.configure_parser, record.run_cli)


def _reproduce() -> Command:
    from fwlab.train import reproduce

    return Command(reproduce.configure_parser, reproduce.run_cli)


def _bench() -> Command:
    from fwlab import bench

    return Command(bench.configure_parser, bench.run_cli)


def _present() -> Command:
    from fwlab import present

    return Command(present.configure_parser, present.run_cli)


def _export_html() -> Command:
    from fwlab import notebook_html

    return Command(notebook_html.configure_parser, notebook_html.run_cli)


def _export_playground() -> Command:
    from fwlab import playground_export

    return Command(playground_export.configure_parser, playground_export.run_cli)


#: sub-command -> (one-line help, the loader of its two functions)
COMMANDS: dict[str, tuple[str, Callable[[], Command]]] = {
    "lab": ("open JupyterLab on the notebooks (the trust-region playground first)", _lab),
    "notebooks": ("copy fwlab's notebooks into a folder to edit them", _notebooks),
    "train": ("train one method on one task and write its history", _train),
    "run": ("execute a notebook with papermill, with parameters", _run),
    "sweep": ("execute a notebook over a parameter grid and gather the results", _sweep),
    "record": ("train a recorded comparison's runs (resumable)", _record),
    "reproduce": ("run a table of the paper and print it beside ours", _reproduce),
    "search": ("tune parameters with Optuna, every trial a run (resumable, parallel)", _search),
    "bench": ("measure fwlab's speed ratios and print/write them", _bench),
    "present": ("serve a notebook as an app (Voila): code hidden, widgets live", _present),
    "export-playground": (
        "write the trust-region playground as one self-contained HTML page (sliders, no Python)",
        _export_playground,
    ),
    "export-html": (
        "write an executed notebook as one HTML page that works offline (solutions folded)",
        _export_html,
    ),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line too (the problem and where the usage is), not
    the usage block followed by the error; sub-parsers are of this class as well."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``fwlab`` parser. ``only``: load and configure that sub-command alone (the others are
    listed with their help line), so that ``fwlab run`` does not import what ``fwlab train``
    needs (torch); ``None``: every sub-command."""
    parser = _Parser(
        prog="fwlab",
        description="Frank-Wolfe trust-region training of RNNs (Yue et al., ICPR 2020).",
    )
    debug_help = (
        f"show the traceback of a failure instead of its one-line summary (or set {DEBUG_ENV}=1)"
    )
    parser.add_argument("--debug", action="store_true", help=debug_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, load) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        # after the sub-command too; SUPPRESS: absent there, it keeps the top level's value
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
        if only is not None and name != only:
            continue
        try:
            command = load()
        except ModuleNotFoundError as err:
            if err.name is None or err.name.split(".")[0] == "fwlab":
                raise  # fwlab's own module is missing: a broken installation, not an extra
            p.set_defaults(_missing=f"{err.name} is not installed")
            continue
        command.configure(p)
        p.set_defaults(_run=command.run)
    return parser


@contextlib.contextmanager
def _sigint_held() -> Iterator[list[int]]:
    """Hold Ctrl-C back while the block runs and list the ones that came: a KeyboardInterrupt
    inside ``import torch`` leaves torch half imported, and the next import of it fails in odd
    ways (RecursionError, TypeError: expected a message argument) or the interrupt is lost and
    the command goes on. Only over Python's default handler, in the main thread."""
    received: list[int] = []
    previous = None
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    ):
        previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield received
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if a in COMMANDS), "")  # after --debug, say
    if chosen in ("train", "record"):  # before torch is imported (fwlab.reproducible)
        from fwlab.reproducible import enter_from_argv

        enter_from_argv(argv)
    with _sigint_held() as received:  # loading a command imports its modules (torch: seconds)
        parser = build_parser(only=chosen)
    if received:
        said = "interrupted (Ctrl-C) while the command was starting; nothing was done; run it again"
        return report(chosen, KeyboardInterrupt(said), debug="--debug" in argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if not getattr(args, "_passthrough", False):
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.extra = unknown  # e.g. `fwlab lab --no-browser --port 8899`: for jupyter lab
    missing = getattr(args, "_missing", None)
    if missing:
        parser.error(f"'{args.command}' is not available in this installation ({missing})")
    try:
        return int(args._run(args) or 0)
    except BaseException as err:  # noqa: BLE001 - every failure ends in one line (failure.py)
        if isinstance(err, SystemExit):
            raise
        return report(args.command, err, debug=args.debug)


def run() -> None:
    """The ``fwlab`` console script and ``python -m fwlab.cli``: set up the process
    (:func:`fwlab.process_start.start_fwlab_process`), then :func:`main` on ``sys.argv``."""
    try:
        from fwlab.process_start import start_fwlab_process

        start_fwlab_process()
        status = main()
    except KeyboardInterrupt as err:  # before main could take it (the first imports)
        status = report("", err, debug="--debug" in sys.argv)
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
