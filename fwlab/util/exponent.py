"""The norm exponent p of a trust region: its check (:func:`as_p`), its Hölder conjugate
(:func:`dual_exponent`) and its text (:func:`format_p`). Plain Python: the 2D playground, its
figures and widgets use them from here without importing torch; :mod:`fwlab.optim` re-exports
the first two beside the LMOs, :mod:`fwlab.plots` the third.

Example:
    >>> as_p("inf"), dual_exponent(3)
    (inf, 1.5)
"""

from __future__ import annotations

import math

from fwlab.util.validate import p_exponent

__all__ = ["as_p", "dual_exponent", "format_p"]


def as_p(p: float | int | str) -> float:
    """Validate and normalize a norm exponent: a number ``>= 1``, ``math.inf`` or ``"inf"``
    (:func:`fwlab.util.validate.p_exponent` under the name ``p``).

    Raises:
        ValueError: if ``p`` is not a number in ``[1, inf]`` (NaN, < 1, a bool, another string).

    Example:
        >>> as_p("inf"), as_p(2)
        (inf, 2.0)
    """
    return p_exponent("p", p)


def dual_exponent(p: float | str) -> float:
    """The Hölder conjugate q with 1/p + 1/q = 1 (q = inf for p = 1, q = 1 for p = inf).

    Example:
        >>> dual_exponent(1), dual_exponent(2), dual_exponent(3), dual_exponent("inf")
        (inf, 2.0, 1.5, 1.0)
    """
    p = as_p(p)
    if p == 1.0:
        return math.inf
    if math.isinf(p):
        return 1.0
    return p / (p - 1.0)


def format_p(p: float | str) -> str:
    """``"∞"`` for infinity, else the shortest decimal (``1``, ``1.5``).

    Example:
        >>> format_p(1.5), format_p("inf")
        ('1.5', '∞')
    """
    p = as_p(p)
    return "∞" if math.isinf(p) else f"{p:g}"
