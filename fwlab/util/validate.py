"""The one vocabulary of argument rules: every public entry point checks its arguments here.

A rule is a function ``rule(name, value, ...)`` that returns the value in the form the caller
stores (a plain ``int``/``float``/``bool``/``str``, so configs and histories hold JSON numbers)
or raises a ``ValueError`` (:func:`refusal`) whose one-line message names the argument,
the rule, the value given and a value that would do::

    K must be an integer >= 1, got 0; pass e.g. K=1

The optimizer, the method presets, :class:`fwlab.train.TrainConfig`, the dashboard's
``RunControl.set``, the toy trajectories, the widgets and the command line (through
:mod:`fwlab.util.argtypes`) all call the same rules, so one value is accepted or refused with the
same message everywhere. Like ``torch.optim``, the rules take numbers in every form a user
may hold them: Python and numpy scalars (``np.int64(5)`` as K, ``np.float32(1e-3)`` as lr) and
1-element tensors; they refuse bools as numbers, floats as integers (``5.0`` as K) and text.
This module imports neither torch nor anything of fwlab: the 2D playground uses it without
torch, and every layer may import it.

Example:
    >>> positive_int("K", np.int64(5)), positive_float("lr", np.float32(0.5))
    (5, 0.5)
    >>> positive_int("K", 5.0)
    Traceback (most recent call last):
    ...
    ValueError: K must be an integer >= 1, got 5.0; pass e.g. K=5
    >>> p_exponent("p", "inf"), one_of("scope", "tensor", ("tensor", "global"))
    (inf, 'tensor')
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "as_real",
    "boolean",
    "finite_number",
    "fraction",
    "in_range",
    "int_at_least",
    "int_in_range",
    "is_tensor",
    "nonnegative_float",
    "nonnegative_int",
    "one_of",
    "optional",
    "p_exponent",
    "point",
    "refusal",
    "positive_float",
    "positive_int",
    "seed_list",
]

T = TypeVar("T")


def refusal(name: str, rule: str, value: Any, example: str | None) -> ValueError:
    """The ``ValueError`` every rule raises (a plain one, as torch.optim raises): its one-line
    message names the argument, the rule, the value given and a value that would do; the
    parts ride along as attributes ``name``, ``rule``, ``value`` and ``example``, for callers
    that word them for another audience (the command line, where argparse names the option).

    Example:
        >>> err = refusal("K", "an integer >= 1", 0, "1")
        >>> str(err), err.rule
        ('K must be an integer >= 1, got 0; pass e.g. K=1', 'an integer >= 1')
    """
    fix = "" if example is None else f"; pass e.g. {name}={example}"  # None: no value would do
    err = ValueError(f"{name} must be {rule}, got {value!r}{fix}")
    err.name, err.rule, err.value, err.example = name, rule, value, example  # type: ignore[attr-defined]
    return err


# ------------------------------------------------------------------------------ readers
def is_tensor(value: Any) -> bool:
    """Whether ``value`` is a ``torch.Tensor``, without importing torch: a tensor can only exist
    once torch is imported, so torch is looked up among the imported modules (the 2D playground
    never imports it)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def as_real(value: Any) -> float | None:
    """``value`` as a float if it is one real number (not a bool), else ``None``: a Python or
    numpy number, or a 1-element real tensor (:func:`is_tensor`: no torch needed)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if is_tensor(value):
        if value.numel() != 1 or value.dtype == sys.modules["torch"].bool or value.is_complex():
            return None
        return float(value.detach().reshape(()).item())
    if isinstance(value, numbers.Real):  # int, float, numpy integer and floating scalars
        return float(value)
    return None


def _as_int(value: Any) -> int | None:
    """``value`` as an int if it is a Python or numpy integer or a 1-element integer tensor
    (not a bool, not ``8.0``), else ``None``."""
    if is_tensor(value):
        torch = sys.modules["torch"]
        if value.numel() != 1 or value.is_floating_point() or value.is_complex():
            return None
        if value.dtype == torch.bool:
            return None
        return int(value.reshape(()).item())
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        return None
    return int(value)


def _text_number(value: Any) -> float | None:
    """The number a text or a float holds, for the hint of a refused value (``'0.1'``, ``5.0``)."""
    try:
        return float(value) if isinstance(value, (str, float, np.floating)) else None
    except ValueError:
        return None


# ------------------------------------------------------------------------------ integers
def int_in_range(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """An integer (Python, numpy, or a 1-element integer tensor) in ``[low, high]`` (either
    bound may be ``None``: no bound), returned as a plain ``int``.

    Example:
        >>> int_in_range("k", 3, 1, 5), int_in_range("seed", -2)
        (3, -2)
    """
    if low is not None and high is not None:
        rule = f"an integer in [{low}, {high}]"
    elif low is not None:
        rule = f"an integer >= {low}"
    elif high is not None:
        rule = f"an integer <= {high}"
    else:
        rule = "an integer"

    def fits(n: float) -> bool:
        return (low is None or n >= low) and (high is None or n <= high)

    n = _as_int(value)
    if n is not None and fits(n):
        return n
    near = _text_number(value)
    if near is not None and near.is_integer() and fits(near):
        example = str(int(near))  # 5.0 or "5" for an integer: say which int
    else:
        example = str(low if low is not None else high if high is not None else 0)
    raise refusal(name, rule, value, example)


def int_at_least(name: str, value: Any, minimum: int) -> int:
    """An integer ``>= minimum`` (:func:`int_in_range`)."""
    return int_in_range(name, value, minimum)


def positive_int(name: str, value: Any) -> int:
    """An integer ``>= 1`` (K, a hidden size, a batch size, a number of steps)."""
    return int_in_range(name, value, 1)


def nonnegative_int(name: str, value: Any) -> int:
    """An integer ``>= 0``."""
    return int_in_range(name, value, 0)


# ------------------------------------------------------------------------------ real numbers
def in_range(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite number from ``low`` to ``high`` (closed unless ``low_open`` / ``high_open``;
    an infinite bound is no bound), returned as a plain ``float``.

    Example:
        >>> in_range("dropout", 0.1, 0, 1, high_open=True)
        0.1
    """
    if math.isinf(low) and math.isinf(high):
        rule = "a finite number"
    elif math.isinf(high):
        rule = f"a finite number {'>' if low_open else '>='} {low:g}"
    else:
        rule = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def fits(v: float) -> bool:
        above = v > low if low_open else v >= low
        below = v < high if high_open else v <= high
        return math.isfinite(v) and above and below

    x = as_real(value)
    if x is not None and fits(x):
        return x
    near = _text_number(value)
    if near is not None and fits(near):
        example = near  # '0.1' for 0.1: say which number
    elif math.isinf(low) or math.isinf(high):
        example = 0.0 if math.isinf(low) else low + 1.0
    else:
        example = low if not low_open else high if not high_open else (low + high) / 2
    raise refusal(name, rule, value, f"{example:g}")


def positive_float(name: str, value: Any) -> float:
    """A finite number ``> 0`` (δ, eps, a tolerance, seconds)."""
    return in_range(name, value, 0.0, low_open=True)


def nonnegative_float(name: str, value: Any) -> float:
    """A finite number ``>= 0`` (the learning rate, a weight decay, a noise level)."""
    return in_range(name, value, 0.0)


def finite_number(name: str, value: Any) -> float:
    """Any finite number (an angle, a coordinate)."""
    return in_range(name, value)


def fraction(name: str, value: Any) -> float:
    """A number in ``(0, 1]`` (a decay factor: 1 keeps the value fixed)."""
    return in_range(name, value, 0.0, 1.0, low_open=True)


def p_exponent(name: str, value: Any) -> float:
    """A norm exponent: a number ``>= 1``, ``math.inf`` or the text ``"inf"`` (also
    ``"infinity"``, ``"+inf"``), returned as a float.

    Example:
        >>> p_exponent("p", "inf"), p_exponent("p", np.int64(3))
        (inf, 3.0)
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("inf", "infinity", "+inf"):
            return math.inf
        x = _text_number(text)
        example = f"{x:g}" if x is not None and x >= 1 else "2"
    else:
        x = as_real(value)
        if x is not None and not math.isnan(x) and x >= 1.0:
            return x
        example = "2"
    raise refusal(name, "a number >= 1 or 'inf'", value, example)


# ------------------------------------------------------------------------------ other kinds
def boolean(name: str, value: Any) -> bool:
    """``True`` or ``False`` (numpy's too; not 0/1, not text), returned as a ``bool``."""
    if not isinstance(value, (bool, np.bool_)):
        example = str(value.strip().lower() == "true") if isinstance(value, str) else "True"
        raise refusal(name, "True or False", value, example)
    return bool(value)


def one_of(name: str, value: Any, choices: Sequence[T]) -> T:
    """``value`` if it is one of ``choices`` (compared with ``==``; a bool never matches a
    number); the message lists the choices.

    Example:
        >>> one_of("cell", "lstm", ("rnn", "lstm"))
        'lstm'
    """
    for c in choices:
        if isinstance(value, (bool, np.bool_)) == isinstance(c, bool) and _equal(value, c):
            return c
    example = repr(choices[0]) if len(choices) else None
    raise refusal(name, f"one of {list(choices)}", value, example)


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # an array compared to a number
        return False


def optional(rule: Callable[..., T], name: str, value: Any, *args: Any, **kwargs: Any) -> T | None:
    """``None`` (not given), or ``value`` checked by ``rule(name, value, *args, **kwargs)``
    with the rule's own message: a value given is refused as it is wherever the argument is
    required (``TrainConfig(delta=0)`` as ``FrankWolfe(delta=0)``).

    Example:
        >>> optional(positive_int, "tbptt", None), optional(positive_int, "tbptt", 16)
        (None, 16)
    """
    return None if value is None else rule(name, value, *args, **kwargs)


def seed_list(name: str, value: Any, parameters: Collection[str] = ()) -> list[int]:
    """A non-empty list of distinct seeds, each an integer >= 0 (checked as ``seed``), run once
    per seed as the parameter ``seed``: refused when ``parameters`` (the run's other
    parameters) name ``seed`` too.

    Example:
        >>> seed_list("seeds", (0, np.int64(1)))
        [0, 1]
        >>> seed_list("seeds", [3, 3])
        Traceback (most recent call last):
        ...
        ValueError: seeds lists a seed twice: [3, 3]; give each seed once
    """
    seeds = list(value)
    if not seeds:
        raise refusal(name, "a non-empty list of integers >= 0", seeds, None)
    seeds = [nonnegative_int("seed", s) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{name} lists a seed twice: {seeds}; give each seed once")
    if "seed" in parameters:
        raise ValueError(f"give the seed once: as {name}=, not also as a parameter 'seed'")
    return seeds


def point(name: str, value: Any) -> tuple[float, float]:
    """Two finite numbers (a start point ``(x, y)``), returned as a tuple of floats.

    Example:
        >>> point("x0", np.array([1, -2]))
        (1.0, -2.0)
    """
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape != (2,) or not np.all(np.isfinite(arr)):
        raise refusal(name, "two finite numbers (x, y)", value, "(0.5, 0.5)")
    return (float(arr[0]), float(arr[1]))
