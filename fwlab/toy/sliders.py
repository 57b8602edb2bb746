r"""The values the playground's δ and η sliders can take: exact decimal numbers, as data.

A log slider moves in steps of its exponent, so it cannot show 0.5 and 0.25 exactly (δ on the
grid :math:`10^{0.01k}` reads 0.501 and 0.251), and a float slider reaches 0.15 as
3 × 0.05 = 0.15000000000000002. The lesson's prompts need the exact values ("double η, halve δ":
(0.5, 0.5) → (1, 0.25) gives the same path only if those are the numbers used), so the
playground's widgets offer these grids as selection sliders: a value shown is a value used.

* :data:`DELTA_VALUES`: 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times each power of ten from 10⁻³,
  up to 3 (every default δ of :data:`fwlab.toy.LOSSES` is one of them);
* :data:`LR_VALUES`: 0.05, 0.1, ..., 2 (steps of 0.05).

Each value is the float nearest to its decimal text (``float("0.15")``), not a product.

Example:
    >>> from fwlab.toy.sliders import DELTA_VALUES, LR_VALUES, grid_value
    >>> 0.5 in DELTA_VALUES and 0.25 in DELTA_VALUES and 1.0 in LR_VALUES
    True
    >>> grid_value("delta", 0.123)
    Traceback (most recent call last):
    ...
    ValueError: delta must be one of the δ slider's values, got 0.123: the nearest are 0.1 and 0.125
"""

from __future__ import annotations

import bisect
import numbers

from fwlab.util.validate import in_range, int_in_range, refusal

__all__ = [
    "DELTA_VALUES",
    "LR_VALUES",
    "RANGES",
    "SLIDER_VALUES",
    "grid_value",
    "label",
    "slider_value",
]

_MANTISSAS = ("1", "1.25", "1.5", "2", "2.5", "3", "4", "5", "6", "8")

#: the δ slider's values, ascending: 1e-3 ... 3
DELTA_VALUES: tuple[float, ...] = tuple(
    v for v in sorted(float(f"{m}e{e}") for e in (-3, -2, -1, 0) for m in _MANTISSAS) if v <= 3.0
)

#: the η slider's values, ascending: 0.05 ... 2
LR_VALUES: tuple[float, ...] = tuple(float(f"{k * 5 / 100:.2f}") for k in range(1, 41))

#: slider name → its values
SLIDER_VALUES: dict[str, tuple[float, ...]] = {"delta": DELTA_VALUES, "lr": LR_VALUES}

#: every playground slider's range; a value outside would be clamped by the slider without a
#: word, so the widgets and the lesson's checks refuse it instead (K and steps: integers)
RANGES: dict[str, tuple[float, float]] = {
    "delta": (DELTA_VALUES[0], DELTA_VALUES[-1]),
    "delta_decay": (0.9, 1.0),
    "K": (1, 30),
    "lr": (LR_VALUES[0], LR_VALUES[-1]),
    "steps": (0, 300),
    "gd_lr": (1e-5, 1.0),
}
_INTEGER_SLIDERS = ("K", "steps")

_SYMBOL = {"delta": "δ", "lr": "η"}


def label(value: float) -> str:
    """The slider's text for ``value`` (``0.125``, ``1``)."""
    return f"{float(value):g}"


def grid_value(name: str, value: object) -> float:
    """``value`` as a float if it is one of slider ``name``'s values; ``ValueError`` naming the
    nearest values otherwise (a slider would show another number than the one asked for)."""
    values = SLIDER_VALUES[name]
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        span = f"{label(values[0])} ... {label(values[-1])}"
        raise ValueError(
            f"{name} must be a number, one of the {_SYMBOL[name]} slider's values ({span}), "
            f"got {value!r}"
        )
    v = float(value)
    if v in values:
        return v
    i = bisect.bisect_left(values, v) if v == v else 0
    near = sorted({values[j] for j in (i - 1, i) if 0 <= j < len(values)})
    hint = " and ".join(label(x) for x in near)
    raise ValueError(
        f"{name} must be one of the {_SYMBOL[name]} slider's values, got {value!r}: "
        f"the nearest are {hint}"
        if len(near) == 2
        else f"{name} must be one of the {_SYMBOL[name]} slider's values "
        f"({label(values[0])} ... {label(values[-1])}), got {value!r}: the nearest is {hint}"
    )


def slider_value(name: str, value: object) -> float | int:
    """``value`` as slider ``name`` holds it: one of the grid's values for δ and η
    (:func:`grid_value`), else a number in the slider's range (:data:`RANGES`; an integer for
    K and steps), by the rules of :mod:`fwlab.util.validate`; ``ValueError`` naming the range
    otherwise.

    Example:
        >>> try:
        ...     slider_value("K", 31)
        ... except ValueError as err:
        ...     print(err)
        K must be an integer in [1, 30] (the slider's range), got 31; pass e.g. K=1
    """
    if name in SLIDER_VALUES:
        return grid_value(name, value)
    lo, hi = RANGES[name]
    try:
        if name in _INTEGER_SLIDERS:
            return int_in_range(name, value, int(lo), int(hi))
        return in_range(name, value, lo, hi)
    except ValueError as err:
        rule = f"{err.rule} (the slider's range)"
        raise refusal(name, rule, value, err.example) from None
