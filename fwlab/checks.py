"""Argument checks of plain Python values, one rule per kind of quantity.

Every check raises ``ValueError`` naming the argument, the rule and the value given, and
returns the value, so that a constructor can check and store in one line. The optimizers'
hyperparameters have their own rules in :mod:`fwlab.optim._checks` (they also accept numpy
scalars and 1-element tensors); norm exponents are checked by :func:`fwlab.optim.as_p`; the
command line's types are in :mod:`fwlab.argtypes`.

Example:
    >>> check_int("hidden_size", 8, 1)
    8
    >>> check_int("hidden_size", 0, 1)
    Traceback (most recent call last):
    ...
    ValueError: hidden_size must be an integer >= 1, got 0; pass e.g. hidden_size=1
    >>> is_finite_number(1e-3), is_finite_number(True), is_finite_number(float("nan"))
    (True, False, False)
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["check_bool", "check_int", "is_finite_number"]


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an ``int`` if it is a Python or numpy integer (not a bool, not ``8.0``)
    ``>= minimum``."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        raise ValueError(
            f"{name} must be an integer >= {minimum}, got {value!r}; pass e.g. {name}={minimum}"
        )
    return int(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a ``bool`` if it is ``True``/``False`` (numpy's too; not 0/1, not a
    string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def is_finite_number(x: Any) -> bool:
    """Whether ``x`` is a finite ``int`` or ``float`` (bools are not numbers here)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
