"""Argument checks of plain Python values, one rule per kind of quantity.

Every check raises ``ValueError`` naming the argument, the rule and the value given, and
returns the value, so that a constructor can check and store in one line. The optimizers'
hyperparameters have their own rules in :mod:`fwlab.optim._checks` (they also accept numpy
scalars and 1-element tensors, read by :func:`as_real`); norm exponents are checked by
:func:`fwlab.optim.as_p` (:mod:`fwlab.exponent`); the command line's types are in
:mod:`fwlab.argtypes`.

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
import sys
from typing import Any

import numpy as np

__all__ = ["as_real", "check_bool", "check_int", "is_finite_number", "is_tensor"]


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
