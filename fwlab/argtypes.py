"""``argparse`` types shared by the ``fwlab`` sub-commands: the rules of :mod:`fwlab.validate`
applied to the number the text holds.

Each one turns the rule's ``ValueError`` into ``argparse.ArgumentTypeError``, so that the parser
exits with status 2 and a message in which argparse names the option and the rule reads as it
does everywhere else, e.g. ``fwlab train: error: argument --hidden: must be an integer >= 1,
got 0; pass e.g. 1`` (``TrainConfig(hidden_size=0)`` says ``hidden_size must be an integer >=
1, got 0; pass e.g. hidden_size=1``).

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
    argument --steps: must be an integer >= 1, got 0; pass e.g. 1
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from fwlab import validate

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


def _read(text: str, parse: Callable[[str], Any]) -> Any:
    try:
        return parse(text)
    except ValueError:
        return text  # the rule refuses the text itself, and says what it must be


def _typed(
    rule: Callable[..., Any], parse: Callable[[str], Any], *args: Any
) -> Callable[[str], Any]:
    """An argparse type: ``rule("value", parse(text), *args)``, its refusal reworded for the
    option argparse names (no argument name, the example bare)."""

    def check(text: str) -> Any:
        try:
            return rule("value", _read(text, parse), *args)
        except ValueError as err:
            raise argparse.ArgumentTypeError(
                f"must be {err.rule}, got {err.value!r}; pass e.g. {err.example}"  # type: ignore[attr-defined]
            ) from None

    check.__name__ = getattr(rule, "__name__", "value")
    return check


#: an integer ``>= 1`` (:func:`fwlab.validate.positive_int`)
positive_int = _typed(validate.positive_int, int)
#: an integer ``>= 0``
nonnegative_int = _typed(validate.nonnegative_int, int)
#: a finite number ``> 0`` (:func:`fwlab.validate.positive_float`)
positive_float = _typed(validate.positive_float, float)
#: a finite number ``>= 0`` (the learning rate's rule)
nonnegative_float = _typed(validate.nonnegative_float, float)
#: a number in ``(0, 1]`` (a decay factor)
fraction = _typed(validate.fraction, float)
#: a norm exponent: a number ``>= 1`` or ``inf`` (:func:`fwlab.validate.p_exponent`)
norm_exponent = _typed(validate.p_exponent, float)


def int_at_least(minimum: int) -> Callable[[str], int]:
    """The type of an integer ``>= minimum`` (e.g. ``int_at_least(2)`` for a sequence length)."""
    check = _typed(validate.int_at_least, int, minimum)
    check.__name__ = f"int_at_least_{minimum}"
    return check


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
