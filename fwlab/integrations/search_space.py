"""A search space from the command line: ``--space NAME=KIND:...`` into Optuna distributions.

=================================  ==========================================================
``lr=log:1e-4:1e-1``               a float, sampled uniformly in log scale between the bounds
``dropout=float:0:0.5``            a float, uniform between the bounds
``dropout=float:0:0.5:0.1``        a float on the grid 0, 0.1, ..., 0.5 (a step as 4th field)
``K=int:1:10``                     an integer between the bounds, both included
``K=int:1:16:log``                 an integer, log scale (``int:1:10:2``: a step of 2)
``method=cat:fw_k1,sgd``           one of the listed values (each parsed as by ``-p``:
                                   ``cat:1,2,4`` are integers, ``cat:fw_k1,sgd`` strings)
=================================  ==========================================================

A space is plain data (the spec strings), so it is stored with the study and compared when a
search resumes; :func:`distributions` turns it into Optuna's distributions.

Example:
    >>> parse_space(["lr=log:1e-4:1e-1", "K=int:1:10", "method=cat:fw_k1,sgd"])
    {'lr': 'log:1e-4:1e-1', 'K': 'int:1:10', 'method': 'cat:fw_k1,sgd'}
    >>> parse_space(["lr=log:0:1"])
    Traceback (most recent call last):
    ...
    ValueError: --space lr=log:0:1: a log range needs 0 < low < high, got low=0.0 high=1.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from fwlab.runs import parse_value

__all__ = ["KINDS", "distribution", "distributions", "parse_space"]

KINDS = ("log", "float", "int", "cat")
_HELP = (
    "write NAME=log:LOW:HIGH, NAME=float:LOW:HIGH[:STEP], NAME=int:LOW:HIGH[:STEP|:log] or "
    "NAME=cat:A,B,..."
)


def _number(text: str, what: str, spec: str, kind: type = float) -> Any:
    try:
        value = kind(text)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise ValueError(f"--space {spec}: {what} must be {noun}, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"--space {spec}: {what} must be finite, got {text!r}")
    return value


def distribution(name: str, text: str) -> Any:
    """The Optuna distribution of one spec ``text`` (``"log:1e-4:1e-1"``) of parameter ``name``;
    ``ValueError`` naming the option and the fix when it is malformed."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    spec = f"{name}={text}"
    kind, sep, rest = text.partition(":")
    if kind not in KINDS or not sep or not rest:
        raise ValueError(f"--space {spec}: unknown kind {kind!r}; {_HELP}")
    if kind == "cat":
        choices = [parse_value(c.strip()) for c in rest.split(",")]
        if any(c == "" for c in choices) or len(choices) < 1:
            raise ValueError(f"--space {spec}: an empty choice; {_HELP}")
        bad = [c for c in choices if not isinstance(c, (str, int, float, bool, type(None)))]
        if bad:
            raise ValueError(f"--space {spec}: a choice must be a number or text, got {bad[0]!r}")
        if len(set(map(repr, choices))) != len(choices):
            raise ValueError(f"--space {spec}: a choice is listed twice")
        return CategoricalDistribution(choices)
    fields = rest.split(":")
    if len(fields) not in (2, 3) or (kind == "log" and len(fields) != 2):
        tail = "" if kind == "log" else "[:STEP]"
        raise ValueError(f"--space {spec}: expected {kind}:LOW:HIGH{tail}; {_HELP}")
    number = int if kind == "int" else float
    low = _number(fields[0], "LOW", spec, number)
    high = _number(fields[1], "HIGH", spec, number)
    if not low < high:
        raise ValueError(f"--space {spec}: LOW must be < HIGH, got low={low} high={high}")
    log = kind == "log" or fields[2:] == ["log"]
    if log and low <= 0:
        raise ValueError(
            f"--space {spec}: a log range needs 0 < low < high, got low={low} high={high}"
        )
    step = None
    if fields[2:] and fields[2] != "log":
        step = _number(fields[2], "STEP", spec, number)
        if step <= 0:
            raise ValueError(f"--space {spec}: STEP must be > 0, got {step}")
    if kind == "int":
        return IntDistribution(low, high, log=log, step=step or 1)
    return FloatDistribution(low, high, log=log, step=step)


def parse_space(specs: Iterable[str]) -> dict[str, str]:
    """``--space NAME=SPEC`` options as ``{NAME: SPEC}``, each spec checked (:func:`distribution`).
    A name given twice, no ``=`` or a name that is not an identifier raise ``ValueError``."""
    space: dict[str, str] = {}
    for spec in specs:
        name, sep, text = spec.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ValueError(f"--space expects NAME=KIND:..., got {spec!r}; {_HELP}")
        if name in space:
            raise ValueError(f"--space {name} is given twice; give each parameter once")
        distribution(name, text.strip())
        space[name] = text.strip()
    if not space:
        raise ValueError(f"give at least one --space; {_HELP}")
    return space


def distributions(space: Mapping[str, Any]) -> dict[str, Any]:
    """``{name: optuna distribution}`` from a space of spec strings or distributions."""
    from optuna.distributions import BaseDistribution

    return {
        name: spec if isinstance(spec, BaseDistribution) else distribution(name, spec)
        for name, spec in space.items()
    }
