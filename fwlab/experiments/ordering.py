r"""Two simple ordering rules over seeds, kept for what they are: descriptions, not tests.

**What they cannot show.** Neither rule controls how often it fires by chance: with 3 seeds
"better on every seed" fires for one of two equal methods 1 time in 4, and "mean ± std disjoint"
has no stated error rate at all. A claim that one method is better goes through the comparison
protocol (:mod:`fwlab.experiments.protocol`: a paired sign-flip test, Holm's adjustment, a
bootstrap interval and a noise-floor row); fwlab's notebooks use only that.

Two rules, both on one number per run (e.g. its best test MSE, or the test accuracy at the best
validation accuracy):

* ``"every_seed"``: A is *better* than B when A's value is better than B's on every seed both
  were run with (paired by seed), *worse* when B's is better on every seed; otherwise
  *undecided*. Needs at least ``min_seeds`` common seeds, else *undecided*.
* ``"mean_std"``: A is *better* when the intervals mean ± std (sample std, ``ddof=1``) of A and B
  do not overlap and A's mean is better; *worse* symmetrically; otherwise *undecided*. Needs at
  least ``min_seeds`` values of each.

"Better" is "lower" for losses and "higher" for accuracies (``higher_is_better``). A NaN or
±inf value is a diverged run, an outcome and not a number: ``"every_seed"`` ranks it worse than
every finite value (two diverged runs tie), ``"mean_std"`` is *undecided* when any seed diverged
(a mean over a diverged run is not defined), and :meth:`Ordering.describe` counts them.

A ``key`` that no run records (:func:`seed_values`, :func:`order_recorded`) or a run name
the comparison does not know is refused with a ``ValueError`` listing the valid ones: a
misspelled key would otherwise leave every seed out and answer *undecided*.

Example:
    >>> order({0: 0.05, 1: 0.06}, {0: 0.16, 1: 0.17}).verdict
    'better'
    >>> order({0: 0.05, 1: 0.20}, {0: 0.16, 1: 0.17}).verdict
    'undecided'
    >>> order({0: 90.0, 1: 91.0}, {0: 80.0, 1: 92.0}, higher_is_better=True).verdict
    'undecided'
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fwlab.experiments.protocol import _check_values, _summary_values, recorded_values
from fwlab.util.validate import one_of, positive_int

__all__ = [
    "RULES",
    "Ordering",
    "order",
    "order_recorded",
    "seed_values",
]

RULES = ("every_seed", "mean_std")


@dataclass(frozen=True)
class Ordering:
    """The result of :func:`order`: ``verdict`` of A against B, the ``rule`` and the numbers."""

    verdict: str
    rule: str
    a: dict[int, float]
    b: dict[int, float]
    higher_is_better: bool

    @property
    def diverged(self) -> tuple[int, int]:
        """How many values of A and of B are NaN or ±inf (diverged runs)."""
        return (
            sum(not math.isfinite(v) for v in self.a.values()),
            sum(not math.isfinite(v) for v in self.b.values()),
        )

    def describe(self, name_a: str = "A", name_b: str = "B", what: str = "value") -> str:
        """One sentence with the verdict, the rule and the per-seed values."""

        def fmt(values: dict[int, float]) -> str:
            return ", ".join(f"{v:.4g}" for _, v in sorted(values.items()))

        rule = (
            "on every seed"
            if self.rule == "every_seed"
            else "mean ± std not overlapping (sample std)"
        )
        verb = {"better": "beats", "worse": "loses to", "undecided": "is not ordered against"}
        text = (
            f"{name_a} {verb[self.verdict]} {name_b} by {what} ({rule}): "
            f"{name_a} [{fmt(self.a)}] vs {name_b} [{fmt(self.b)}]"
        )
        da, db = self.diverged
        if da or db:
            text += f"; diverged (NaN/inf, ranked worst): {name_a} {da}, {name_b} {db}"
        return text


def order(
    a: Mapping[int, float],
    b: Mapping[int, float],
    *,
    rule: str = "every_seed",
    higher_is_better: bool = False,
    min_seeds: int = 2,
) -> Ordering:
    """Is A better than B? ``a``, ``b``: seed → value (see the module docstring for the rules).

    Raises:
        ValueError: an unknown ``rule``, ``min_seeds`` < 1, or a value that is not a number.
    """
    one_of("rule", rule, RULES)
    min_seeds = positive_int("min_seeds", min_seeds)
    a, b = _check_values("a", a), _check_values("b", b)
    sign = 1.0 if higher_is_better else -1.0

    def good(v: float) -> float:  # larger is better; a diverged run is worst
        return sign * v if math.isfinite(v) else -math.inf

    verdict = "undecided"
    if rule == "every_seed":
        common = sorted(set(a) & set(b))
        if len(common) >= min_seeds:
            pairs = [(good(a[s]), good(b[s])) for s in common]
            if all(x > y for x, y in pairs):
                verdict = "better"
            elif all(x < y for x, y in pairs):
                verdict = "worse"
    elif (
        len(a) >= max(min_seeds, 2)
        and len(b) >= max(min_seeds, 2)
        and all(math.isfinite(v) for v in (*a.values(), *b.values()))
    ):
        ma, mb = statistics.mean(a.values()), statistics.mean(b.values())
        sa, sb = statistics.stdev(a.values()), statistics.stdev(b.values())
        if ma + sa < mb - sb or mb + sb < ma - sa:
            verdict = "better" if sign * (ma - mb) > 0 else "worse"
    return Ordering(verdict, rule, a, b, higher_is_better)


def seed_values(histories: Mapping[int, Mapping[str, Any]], key: str) -> dict[int, float]:
    """seed → ``summary[key]`` of each history that has it (e.g. ``"best_test_loss"``).

    Raises:
        ValueError: ``key`` is in no history's summary (a misspelled key would leave every
            seed out and every ordering *undecided*); the message lists the keys there are.
    """
    known = {k for h in histories.values() for k in h.get("summary", {})}
    if histories and key not in known:
        raise ValueError(
            f"key must be a summary value of the runs, one of {sorted(known)}; got {key!r}"
        )
    return _summary_values(histories, key)


def order_recorded(
    recorded: Mapping[str, Any],
    a: str,
    b: str,
    key: str = "test_loss_at_best_valid",
    *,
    rule: str = "every_seed",
    higher_is_better: bool = False,
) -> Ordering:
    """:func:`order` of two runs of a recorded comparison (:mod:`fwlab.experiments.recorded`) by the
    summary value ``key`` of each recorded seed.

    Raises:
        ValueError: a run name the comparison does not know, or a ``key`` no recorded run has
            (each message lists the valid ones), besides :func:`order`'s.
    """
    return order(
        recorded_values(recorded, a, key),
        recorded_values(recorded, b, key),
        rule=rule,
        higher_is_better=higher_is_better,
    )
