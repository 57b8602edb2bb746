"""``argparse`` types shared by the ``fwlab`` sub-commands.

Each one turns a bad value into ``argparse.ArgumentTypeError``, so that the parser exits with
status 2 and a message that names the option and the allowed values, e.g.
``fwlab train: error: argument --hidden: must be an integer >= 1, got '0'``.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(prog="demo", exit_on_error=False)
    >>> _ = p.add_argument("--steps", type=positive_int)
    >>> p.parse_args(["--steps", "3"]).steps
    3
    >>> try:
    ...     p.parse_args(["--steps", "0"])
    ... except argparse.ArgumentError as e:
    ...     print(e)
    argument --steps: must be an integer >= 1, got '0'
"""

from __future__ import annotations

import argparse
import math

__all__ = [
    "add_mlflow_options",
    "int_at_least",
    "positive_int",
    "nonnegative_int",
    "nonnegative_float",
    "positive_float",
    "fraction",
    "norm_exponent",
]


def _int(value: str, minimum: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an integer >= {minimum}, got {value!r}"
        ) from None
    if n < minimum:
        raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value!r}")
    return n


def positive_int(value: str) -> int:
    """An integer ``>= 1``."""
    return _int(value, 1)


def int_at_least(minimum: int):
    """The type of an integer ``>= minimum`` (e.g. ``int_at_least(2)`` for a sequence length)."""

    def check(value: str) -> int:
        return _int(value, minimum)

    check.__name__ = f"int_at_least_{minimum}"
    return check


def nonnegative_int(value: str) -> int:
    """An integer ``>= 0``."""
    return _int(value, 0)


def _float(value: str, ok, rule: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {rule}, got {value!r}") from None
    if not (math.isfinite(x) and ok(x)):
        raise argparse.ArgumentTypeError(f"must be {rule}, got {value!r}")
    return x


def nonnegative_float(value: str) -> float:
    """A finite number ``>= 0``."""
    return _float(value, lambda x: x >= 0, "a finite number >= 0")


def positive_float(value: str) -> float:
    """A finite number ``> 0``."""
    return _float(value, lambda x: x > 0, "a finite number > 0")


def fraction(value: str) -> float:
    """A number in ``(0, 1]`` (a decay factor)."""
    return _float(value, lambda x: 0 < x <= 1, "a number in (0, 1]")


def norm_exponent(value: str) -> float:
    """A norm exponent: a number ``>= 1`` or ``inf`` (the rule of :func:`fwlab.optim.as_p`)."""
    from fwlab.exponent import as_p

    try:
        number: float | str = float(value)
    except ValueError:
        number = value  # as_p knows "inf"/"infinity" and refuses other words
    try:
        return as_p(number)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"p must be a number >= 1 or 'inf', got {value!r}"
        ) from None


def add_mlflow_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, what: str
) -> None:
    """``--mlflow [URI]`` and ``--mlflow-experiment NAME``, as every command that trains takes
    them; ``what`` says what is logged (the start of the help text)."""
    parser.add_argument(
        "--mlflow",
        nargs="?",
        const="",
        default=None,
        metavar="URI",
        help=f"{what} (needs fwlab[mlflow]): a server URL (http://127.0.0.1:5000), an SQLite .db "
        "file, a folder (gets FOLDER/mlflow.db), or no value for MLflow's default (./mlflow.db); "
        "checked before anything runs; see fwlab.integrations.mlflow",
    )
    parser.add_argument(
        "--mlflow-experiment", default="fwlab", metavar="NAME", help="the MLflow experiment"
    )
