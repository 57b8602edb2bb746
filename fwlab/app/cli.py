"""The ``fwlab`` command: a click group of one lazily loaded sub-command per row of
:data:`COMMANDS`.

Each row names the sub-command's one-line help and where its :class:`click.Command` lives
(``"module:attribute"``, in the module of its concept, built with
:class:`fwlab.util.argtypes.Command`
from its options and its ``run(args) -> int``). The module is imported only when its command
runs or its help is asked for (click's documented "lazily loading subcommands" pattern):
``fwlab --help`` lists the rows without importing any of them, and ``fwlab run`` never imports
torch, which only the training commands need; a module whose optional dependency is not
installed only disables its own command.

Every failure of every sub-command ends here, in :func:`fwlab.util.failure.report`: one line naming
the problem and the fix, and an exit status (``--debug`` or ``FWLAB_DEBUG=1`` for the
traceback); a command raises, it does not print its own failures. A usage error (an unknown
option, a bad value) is one line too, naming the option, with exit status 2.

Example:
    >>> names = sorted(COMMANDS)
    >>> names[:6], names[6:]
    (['bench', 'export-html', 'export-playground', 'lab', 'notebooks', 'present'], ['record', \
'reproduce', 'run', 'search', 'sweep', 'train'])
    >>> load_command("notebooks").name
    'notebooks'
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import click

from fwlab.util.argtypes import DEBUG_KEY, Command, debug_option
from fwlab.util.failure import describe, report

#: sub-command -> (one-line help, "module:attribute" of its click command)
COMMANDS: dict[str, tuple[str, str]] = {
    "lab": (
        "open JupyterLab on the notebooks (the trust-region playground first)",
        "fwlab.app.lab:command",
    ),
    "notebooks": (
        "copy fwlab's notebooks into a folder to edit them",
        "fwlab.util.notebook_dir:command",
    ),
    "train": ("train one method on one task and write its history", "fwlab.app.train_cli:command"),
    "run": (
        "execute a notebook with papermill, with parameters",
        "fwlab.app.sweep_cli:run_command",
    ),
    "sweep": (
        "execute a notebook over a parameter grid and gather the results",
        "fwlab.app.sweep_cli:sweep_command",
    ),
    "record": (
        "train a recorded comparison's runs (resumable)",
        "fwlab.experiments.record_cli:command",
    ),
    "reproduce": (
        "run a table of the paper and print it beside ours",
        "fwlab.experiments.reproduce:command",
    ),
    "search": (
        "tune parameters with Optuna, every trial a run (resumable, parallel)",
        "fwlab.app.search_cli:command",
    ),
    "bench": ("measure fwlab's speed ratios and print/write them", "fwlab.app.bench:command"),
    "present": (
        "serve a notebook as an app (Voila): code hidden, widgets live",
        "fwlab.app.present:command",
    ),
    "export-playground": (
        "write the trust-region playground as one self-contained HTML page (sliders, no Python)",
        "fwlab.app.playground_export:command",
    ),
    "export-html": (
        "write an executed notebook as one HTML page that works offline (solutions folded)",
        "fwlab.app.notebook_html:command",
    ),
}


def _unavailable(name: str, missing: str) -> click.Command:
    """The stand-in of a command whose optional dependency is missing: it says so."""

    def refuse(args: Any) -> int:
        raise click.UsageError(f"'{name}' is not available in this installation ({missing})")

    return Command(name, refuse, [], passthrough=True)  # any arguments: refused all the same


def load_command(name: str) -> click.Command:
    """The click command of ``name`` (a key of :data:`COMMANDS`), its module imported now.

    Raises:
        ModuleNotFoundError: fwlab's own module is missing (a broken installation; a missing
            optional dependency gives a command that says it is not available instead).
    """
    help_text, target = COMMANDS[name]
    return _load(name, help_text, target)


@functools.cache
def _load(name: str, help_text: str, target: str) -> click.Command:
    module, _, attribute = target.partition(":")
    try:
        command = getattr(importlib.import_module(module), attribute)
    except ModuleNotFoundError as err:
        if err.name is None or err.name.split(".")[0] == "fwlab":
            raise  # fwlab's own module is missing: a broken installation, not an extra
        command = _unavailable(name, f"{err.name} is not installed")
    if not isinstance(command, click.Command):
        raise TypeError(f"{target} is {type(command).__name__}, not a click command")
    command.help = command.help or help_text  # the row's line heads the command's own help
    return command


class LazyGroup(click.Group):
    """A click group whose sub-commands are :data:`COMMANDS`, each imported when it is chosen
    (:func:`load_command`); its help lists their lines without importing them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if name not in COMMANDS and not name.startswith("-"):
            choices = ", ".join(map(repr, COMMANDS))
            raise click.UsageError(
                f"argument COMMAND: invalid choice: {name!r} (choose from {choices})", ctx
            )
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (text, _) in COMMANDS.items()])


def _require_command(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is None:
        raise click.UsageError("the following arguments are required: COMMAND", ctx)


#: the ``fwlab`` command
group = LazyGroup(
    "fwlab",
    help="Frank-Wolfe trust-region training of RNNs (Yue et al., ICPR 2020).",
    params=[debug_option()],
    callback=click.pass_context(_require_command),
    invoke_without_command=True,  # so that a missing command is one line, as every usage error
    context_settings={"help_option_names": ["-h", "--help"]},
    options_metavar="[--debug]",
    subcommand_metavar="COMMAND [ARGS]...",
)


def _param_name(param: click.Parameter | None) -> str:
    if isinstance(param, click.Option):
        return "/".join(param.opts)
    if isinstance(param, click.Argument):
        return param.metavar or param.name or "?"
    return "?"


def usage_line(err: click.UsageError) -> str:
    """The one line of a usage error, as argparse words it: ``fwlab train: error: argument
    --hidden: must be an integer >= 1, got '0'; see 'fwlab train --help'``."""
    prog = err.ctx.command_path if err.ctx is not None else "fwlab"
    if isinstance(err, click.MissingParameter):
        text = f"the following arguments are required: {_param_name(err.param)}"
    elif isinstance(err, click.BadParameter):
        text = f"argument {_param_name(err.param)}: {err.message}"
    elif isinstance(err, click.NoSuchOption):
        text = f"unrecognized arguments: {err.option_name}"
    elif isinstance(err, click.BadOptionUsage) and "requires an argument" in err.message:
        text = f"argument {err.option_name}: expected one argument"
    else:
        text = err.message.rstrip(".")
    return f"{prog}: error: {' '.join(text.split())}; see '{prog} --help'"


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


def _first_interrupt(err: BaseException) -> BaseException:
    """The failure to report for ``err``: a bare ``KeyboardInterrupt`` that a second Ctrl-C
    raised while the first one's (a study's :class:`fwlab.runs.Interrupted`, ``fit``'s) was on
    its way up stands for that first one, whose line says what was kept and how to resume."""
    while (
        isinstance(err, KeyboardInterrupt)
        and not err.args
        and err.__cause__ is None
        and not err.__suppress_context__
        and err.__context__ is not None
        and describe(err.__context__)[1] == 130
    ):
        err = err.__context__
    return err


def _ignore_sigint() -> Any:
    """Ignore SIGINT from now on (in the main thread); the handler it had, else ``None``."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, signal.SIG_IGN)


def main(argv: Sequence[str] | None = None, *, exiting: bool = False) -> int:
    """Run ``fwlab`` on ``argv`` (default ``sys.argv[1:]``) and return the exit status; a usage
    error and ``--help`` raise ``SystemExit`` (2 and 0) after their output.

    A failure's line is written with SIGINT ignored: a second Ctrl-C cannot cut it, or replace
    the first one's line. ``exiting``: the caller exits with the status at once (:func:`run`);
    after a Ctrl-C (status 130) SIGINT then stays ignored, so that another one cannot end the
    process by SIGINT while it exits, after the line.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if a in COMMANDS), "")  # after --debug, say
    if chosen in ("train", "record"):  # before torch is imported (fwlab.util.reproducible)
        from fwlab.util.reproducible import enter_from_argv

        enter_from_argv(argv)
    with _sigint_held() as received:  # loading a command imports its modules (torch: seconds)
        if chosen:
            load_command(chosen)
    if received:
        said = "interrupted (Ctrl-C) while the command was starting; nothing was done; run it again"
        return report(chosen, KeyboardInterrupt(said), debug="--debug" in argv)
    meta: dict[str, Any] = {}
    try:
        with group.make_context("fwlab", argv) as ctx:
            meta = ctx.meta
            return int(group.invoke(ctx) or 0)
    except click.exceptions.Exit as done:  # --help
        raise SystemExit(done.exit_code) from None
    except click.UsageError as err:
        print(usage_line(err), file=sys.stderr)
        raise SystemExit(2) from None
    except BaseException as err:  # noqa: BLE001 - every failure ends in one line (failure.py)
        if isinstance(err, SystemExit):
            raise
        previous, status = _ignore_sigint(), None
        try:
            status = report(chosen, _first_interrupt(err), debug=meta.get(DEBUG_KEY, False))
            return status
        finally:
            if previous is not None and not (exiting and status == 130):
                signal.signal(signal.SIGINT, previous)


def run() -> None:
    """The ``fwlab`` console script, ``python -m fwlab`` and ``python -m fwlab.app.cli``: set up
    the process (:func:`fwlab.util.process_start.start_fwlab_process`), then :func:`main` on
    ``sys.argv``."""
    try:
        from fwlab.util.process_start import start_fwlab_process

        start_fwlab_process()
        status = main(exiting=True)
    except KeyboardInterrupt as err:  # before main could take it (the first imports)
        _ignore_sigint()
        status = report("", _first_interrupt(err), debug="--debug" in sys.argv)
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
