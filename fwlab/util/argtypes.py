"""The ``fwlab`` sub-commands' vocabulary on click: argument types, options and the command.

Each type turns a bad value into :class:`click.BadParameter` with a message that names the rule
and the value; :func:`fwlab.app.cli.main` prints it in one line naming the option, with exit status
2, e.g. ``fwlab train: error: argument --hidden: must be an integer >= 1, got 0; pass e.g. 1;
see 'fwlab train --help'``. The rules are those of :mod:`fwlab.util.validate`, applied to the number
the text holds, so a value is refused in the same words as ``TrainConfig(hidden_size=0)``. A
sub-command is a :class:`Command` of a list of parameters and the function ``run(args) -> int``
that does the work with them as an ``argparse.Namespace`` (one attribute per parameter), so
each concept's module keeps its ``run_cli``.

Example:
    >>> import click
    >>> cmd = Command("demo", lambda args: args.steps, [Option(["--steps"], type=positive_int)])
    >>> cmd.main(["--steps", "3"], standalone_mode=False)
    3
    >>> try:
    ...     cmd.main(["--steps", "0"], standalone_mode=False)
    ... except click.BadParameter as e:
    ...     print(e.message)
    must be an integer >= 1, got 0; pass e.g. 1
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

__all__ = [
    "DEBUG_KEY",
    "Argument",
    "Command",
    "Option",
    "checked",
    "choice",
    "debug_option",
    "fraction",
    "int_at_least",
    "integer",
    "mlflow_options",
    "nonnegative_float",
    "nonnegative_int",
    "norm_exponent",
    "path_type",
    "positive_float",
    "positive_int",
]


class _Checked(click.ParamType):
    """A type of one rule: ``check(text)`` returns the value or raises ``ValueError`` with the
    message (the rule and the value); a value that is not text (a default) is kept."""

    def __init__(self, name: str, check: Callable[[str], Any], metavar: str | None = None) -> None:
        self.name = name
        self._check = check
        self._metavar = metavar

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str | None:
        return self._metavar  # None: click's, the name in capitals

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self._check(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


def checked(check: Callable[[str], Any], name: str = "value") -> click.ParamType:
    """The type whose ``check(text)`` returns the value or raises ``ValueError`` with the rule
    and the value given (the message of the usage error)."""
    return _Checked(name, check)


def _read(text: str, parse: Callable[[str], Any]) -> Any:
    try:
        return parse(text)
    except ValueError:
        return text  # the rule refuses the text itself, and says what it must be


def _typed(name: str, rule: str, parse: Callable[[str], Any], *args: Any) -> click.ParamType:
    """The type of ``rule("value", parse(text), *args)``, ``rule`` named in
    :mod:`fwlab.util.validate`
    (imported when a value is checked: it imports numpy, which ``fwlab --help`` does without),
    its refusal reworded for the option the usage error names (no argument name, the example
    bare): ``must be an integer >= 1, got 0; pass e.g. 1``."""

    def check(text: str) -> Any:
        from fwlab.util import validate

        try:
            return getattr(validate, rule)("value", _read(text, parse), *args)
        except ValueError as err:
            example = getattr(err, "example", None)
            fix = "" if example is None else f"; pass e.g. {example}"
            raise ValueError(f"must be {err.rule}, got {err.value!r}{fix}") from None  # type: ignore[attr-defined]

    return _Checked(name, check)


def int_at_least(minimum: int) -> click.ParamType:
    """The type of an integer ``>= minimum`` (e.g. ``int_at_least(2)`` for a sequence length)."""
    return _typed("integer", "int_at_least", int, minimum)


#: an integer ``>= 1`` (:func:`fwlab.util.validate.positive_int`)
positive_int = _typed("integer", "positive_int", int)
#: an integer ``>= 0`` (a seed)
nonnegative_int = _typed("integer", "nonnegative_int", int)
#: a finite number ``> 0`` (:func:`fwlab.util.validate.positive_float`)
positive_float = _typed("float", "positive_float", float)
#: a finite number ``>= 0`` (the learning rate's rule)
nonnegative_float = _typed("float", "nonnegative_float", float)
#: a number in ``(0, 1]`` (a decay factor)
fraction = _typed("float", "fraction", float)
#: a norm exponent: a number ``>= 1`` or ``inf`` (:func:`fwlab.util.validate.p_exponent`)
norm_exponent = _typed("p", "p_exponent", float)


def _any_int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"invalid int value: {value!r}") from None


#: any integer (a port, a list of seeds checked by the command), worded as argparse's ``int``
integer = _Checked("integer", _any_int)
#: a file or folder path (not checked: the command checks it, naming what it is for)
path_type = click.Path(path_type=Path)


def choice(values: Collection[Any], convert: Callable[[str], Any] = str) -> click.ParamType:
    """One of ``values`` (each compared after ``convert``, e.g. ``int``; a mapping's keys, read
    when the value is checked and listed sorted), refused as argparse words it: ``invalid
    choice: 'x' (choose from 'a', 'b')``."""

    def allowed() -> list[Any]:
        return sorted(values) if isinstance(values, Mapping) else list(values)

    def check(value: str) -> Any:
        try:
            converted = convert(value)
        except ValueError:
            converted = None
        if converted is None or converted not in values:
            listed = ", ".join(map(repr, allowed()))
            raise ValueError(f"invalid choice: {value!r} (choose from {listed})")
        return converted

    return _Checked("choice", check, metavar="{" + ",".join(map(str, allowed())) + "}")


class Option(click.Option):
    """A click option with two additions: ``section``, the heading it is listed under in the
    help, and ``greedy=True`` for argparse's ``nargs='*'`` (``nargs='+'`` with ``at_least_one``):
    the values that follow it up to the next option (``--rows sgd fw_k1 --jobs 2``), a list;
    ``None`` when the option is absent."""

    def __init__(
        self,
        param_decls: Sequence[str],
        *,
        section: str | None = None,
        greedy: bool = False,
        at_least_one: bool = False,
        **attrs: Any,
    ) -> None:
        super().__init__(param_decls, **attrs)
        self.section = section
        self.greedy = greedy
        self.at_least_one = at_least_one


class Argument(click.Argument):
    """A click argument with a ``help`` line, listed under "Arguments" in the help."""

    def __init__(self, param_decls: Sequence[str], *, help: str, **attrs: Any) -> None:
        super().__init__(param_decls, **attrs)
        self.help = help

    def get_help_record(self, ctx: click.Context) -> tuple[str, str]:
        return self.make_metavar(ctx), self.help


_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


def _is_value(word: str) -> bool:
    return not word.startswith("-") or word == "-" or bool(_NEGATIVE_NUMBER.match(word))


#: where the ``--debug`` flag is noted in ``ctx.meta`` (shared by the command and its group)
DEBUG_KEY = "fwlab.debug"


def _note_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[DEBUG_KEY] = True


def debug_option() -> click.Option:
    """``--debug``: the traceback of a failure instead of its one-line summary."""
    from fwlab.util.failure import DEBUG_ENV

    return Option(
        ["--debug"],
        is_flag=True,
        expose_value=False,
        callback=_note_debug,
        help="show the traceback of a failure instead of its one-line summary (or set "
        f"{DEBUG_ENV}=1)",
    )


def _run_with(run: Callable[[argparse.Namespace], int], passthrough: bool) -> Callable[..., int]:
    @click.pass_context
    def callback(ctx: click.Context, **params: Any) -> int:
        if passthrough:
            params["extra"] = list(ctx.args)
        return run(argparse.Namespace(**params))

    return callback


class Command(click.Command):
    """A ``fwlab`` sub-command: ``params`` parsed, then ``run(args)`` called with them as an
    ``argparse.Namespace`` (``args.extra``: the words not understood, with ``passthrough``,
    which hands them to another program: ``fwlab lab --port 8899``). ``show_default`` puts each
    option's default in the help. ``--debug`` and ``-h``/``--help`` are added."""

    def __init__(
        self,
        name: str,
        run: Callable[[argparse.Namespace], int],
        params: Sequence[click.Parameter],
        *,
        epilog: str | None = None,
        passthrough: bool = False,
        show_default: bool = False,
    ) -> None:
        # extra words are collected (and refused in parse_args, unless passed through) so that
        # the usage error names them, as argparse's "unrecognized arguments"
        settings: dict[str, Any] = {"help_option_names": ["-h", "--help"], "allow_extra_args": True}
        if show_default:
            settings["show_default"] = True
        if passthrough:
            settings["ignore_unknown_options"] = True
        super().__init__(
            name,
            params=[*params, debug_option()],
            callback=_run_with(run, passthrough),
            epilog=epilog,
            context_settings=settings,
        )
        self.passthrough = passthrough

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        greedy = {
            opt: p for p in self.params if isinstance(p, Option) and p.greedy for opt in p.opts
        }
        rest: list[str] = []
        taken: dict[Option, list[str]] = {}
        i = 0
        while i < len(args):
            word = args[i]
            i += 1
            if word == "--":
                rest += args[i - 1 :]
                break
            flag, eq, inline = word.partition("=")
            option = greedy.get(flag if flag.startswith("--") else word)
            if option is None:
                rest.append(word)
                continue
            values = [inline] if eq else []
            while not eq and i < len(args) and _is_value(args[i]):
                values.append(args[i])
                i += 1
            if option.at_least_one and not values:
                raise click.BadParameter("expected at least one argument", ctx, option)
            taken[option] = values  # repeated: the last one counts, as in argparse
        try:
            rest = super().parse_args(ctx, rest)
        except click.UsageError as err:
            err.ctx = err.ctx or ctx  # click's parser leaves it out: the line names the command
            raise
        if ctx.args and not self.passthrough:
            raise click.UsageError(f"unrecognized arguments: {' '.join(ctx.args)}", ctx)
        for option, values in taken.items():
            ctx.params[option.name] = [option.type.convert(v, option, ctx) for v in values]
        return rest

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Usage, help text, the arguments with their help, the options under their sections'
        headings (``section=``; the rest under "Options"), the epilog."""
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        sections: dict[str, list[tuple[str, str]]] = {"Arguments": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                heading = "Arguments" if isinstance(param, Argument) else None
                heading = heading or getattr(param, "section", None) or "Options"
                sections.setdefault(heading, []).append(record)
        for heading in sorted(sections, key=lambda h: (h != "Arguments", h == "Options")):
            if sections[heading]:
                with formatter.section(heading):
                    formatter.write_dl(sections[heading])
        self.format_epilog(ctx, formatter)


def mlflow_options(what: str, section: str | None = None) -> list[click.Parameter]:
    """``--mlflow [URI]`` and ``--mlflow-experiment NAME``, as every command that trains takes
    them; ``what`` says what is logged (the start of the help text)."""
    return [
        Option(
            ["--mlflow", "mlflow"],
            is_flag=False,
            flag_value="",
            default=None,
            metavar="[URI]",
            section=section,
            help=f"{what} (needs fwlab[mlflow]): a server URL (http://127.0.0.1:5000), an SQLite "
            ".db file, a folder (gets FOLDER/mlflow.db), or no value for MLflow's default "
            "(./mlflow.db); checked before anything runs; see fwlab.integrations.mlflow",
        ),
        Option(
            ["--mlflow-experiment", "mlflow_experiment"],
            default="fwlab",
            metavar="NAME",
            section=section,
            help="the MLflow experiment",
        ),
    ]
