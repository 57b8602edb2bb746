r"""How far two runs that compute the same update drift apart: rounding, or a real difference.

Frank-Wolfe K = 1 with the Adam outer step and Adam on per-tensor normalized gradients compute
the same update, ``Adam(δ · g / ‖g‖)`` per tensor, with the floating-point operations in another
order. Their training curves agree at first to rounding (relative differences ~1e-7) and then
drift apart, because training an RNN amplifies small differences. Whether one of them leaves a
plateau and the other not is then a matter of rounding, not of the method.
:func:`curve_divergence` measures this on two histories' training-loss curves, which must be
sampled at the same steps (raw histories, or compacted ones from the same comparison).

With :math:`\ell_a(s), \ell_b(s)` the two losses at step :math:`s`, the relative difference is
:math:`|\ell_a - \ell_b| / \max(|\ell_a|, |\ell_b|)`.

Example:
    >>> a = {"train": {"step": [100, 200, 300], "loss": [0.5, 0.4, 0.3]}}
    >>> b = {"train": {"step": [100, 200, 300], "loss": [0.5, 0.40000001, 0.2]}}
    >>> d = curve_divergence(a, b, early=200)
    >>> d.early_max_rel < 1e-6, d.first_apart, round(d.final_abs, 3)
    (True, 300, 0.1)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fwlab.util.validate import int_at_least, positive_float

__all__ = ["Divergence", "curve_divergence"]


@dataclass(frozen=True)
class Divergence:
    """Result of :func:`curve_divergence`.

    Attributes:
        early_max_rel: the largest relative difference over the steps ``≤ early``.
        first_apart: the first step whose relative difference exceeds ``tol`` (``None``: none).
        final_abs: the absolute difference at the last step.
        steps: the number of common steps compared.
    """

    early_max_rel: float
    first_apart: int | None
    final_abs: float
    steps: int


def _curve(history: Mapping[str, Any], name: str) -> tuple[list[int], list[float]]:
    try:
        steps, losses = list(history["train"]["step"]), list(history["train"]["loss"])
    except (KeyError, TypeError):
        raise ValueError(
            f"{name} must be a run history with train.step and train.loss (fwlab.train.fit, or "
            "fwlab.experiments.recorded.seed_histories)"
        ) from None
    return [int(s) for s in steps], [float(v) for v in losses]


def curve_divergence(
    a: Mapping[str, Any], b: Mapping[str, Any], *, early: int, tol: float = 1e-3
) -> Divergence:
    """Compare the training-loss curves of histories ``a`` and ``b``, step by step.

    Args:
        a, b: histories whose ``train.step`` lists are equal.
        early: the steps ``≤ early`` form the early window of ``early_max_rel``; at least the
            first step.
        tol: relative difference above which the curves count as apart.
    """
    steps_a, loss_a = _curve(a, "a")
    steps_b, loss_b = _curve(b, "b")
    if steps_a != steps_b or not steps_a:
        raise ValueError(
            "a and b must be sampled at the same, non-empty steps (compact both with the same "
            f"points); got {len(steps_a)} and {len(steps_b)} steps"
        )
    early = int_at_least("early", early, steps_a[0])  # the first step sampled
    tol = positive_float("tol", tol)
    rel = [
        abs(x - y) / max(abs(x), abs(y)) if max(abs(x), abs(y)) > 0 else 0.0
        for x, y in zip(loss_a, loss_b)
    ]
    early_rel = [r for s, r in zip(steps_a, rel) if s <= early]
    first = next((s for s, r in zip(steps_a, rel) if r > tol), None)
    return Divergence(max(early_rel), first, abs(loss_a[-1] - loss_b[-1]), len(steps_a))
