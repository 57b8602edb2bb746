r"""The comparison protocol: every "A is better than B" fwlab prints goes through it.

For each pair (A, B) of methods run on the same seeds:

1. **A pre-declared metric** (:class:`Metric`), one number per run. The default for a recorded
   comparison (:func:`default_metric`) is the *test metric at the best validation metric*: the
   test accuracy at the evaluation with the highest validation accuracy (classification), or the
   test loss at the evaluation with the lowest validation loss (regression); on ties the
   **earliest** such evaluation (:func:`fwlab.train.history.selected_by_validation`). Its
   direction (lower or higher is better) is part of the declaration and of every output.
2. **Pairing by seed.** Only the seeds both A and B were run with are compared; how many seeds
   of each were left out is counted and printed.
3. **Diverged runs are an outcome, not a number.** A NaN or ±inf metric ranks *worst*: worse
   than every finite value, equal to another diverged run. Such seeds are counted and shown; they
   are never dropped and never enter a mean. With one, the test runs on ranks (below).
4. **A paired test**: the exact sign-flip permutation test of the per-seed differences
   (:func:`scipy.stats.permutation_test`, ``permutation_type="samples"`` on one sample: every
   one of the 2ⁿ sign patterns; exact up to n = 16 seeds, 65,536 random patterns beyond), two-sided
   by default. Its statistic is the mean of the differences A − B oriented so that positive
   means "A better"; when a seed diverged, the mean of their *signed ranks* (a diverged seed's
   difference has the largest magnitude: the exact Wilcoxon signed-rank test). With n seeds no
   two-sided p below 2¹⁻ⁿ is reachable (n = 3: 0.25), and no Holm-adjusted one below m·2¹⁻ⁿ in a
   family of m; the output says so where that is above α, so a reader sees when the test could
   not have decided anything.
5. **Holm's adjustment** (:func:`holm`) across the comparisons one notebook prints: one
   :func:`compare_family` call takes the whole family.
6. **The effect size**: the mean and the median of A − B in the metric's units, each with a 95 %
   bias-corrected and accelerated (BCa; the plain percentile interval where BCa is undefined)
   bootstrap interval over the paired seeds
   (:func:`scipy.stats.bootstrap`, ``paired=True``, 9,999 resamples, a fixed seed). A bootstrap
   interval never leaves the range of the n per-seed differences, and that range covers the true
   median with probability 1 − 2¹⁻ⁿ only (n = 5: 94 %), so below ``MIN_CI_SEEDS`` = 6 seeds no
   95 % interval is given and the output says why. No interval either when a seed diverged.
7. **The verdict**: ``"A better (p_Holm = …)"``, ``"B better (p_Holm = …)"`` (A, B the methods'
   names) when p_Holm ≤ α (default 0.05), else ``"not shown (difference …, 95 % CI …)"``.
8. **A noise-floor row**: Frank-Wolfe K = 1 against Adam on per-tensor normalized gradients
   (``fw_k1`` and ``normalized_adam``), one update in exact arithmetic, wherever both are stored:
   how large a difference floating-point rounding alone produces. It is reported with the same
   test but is not a claim, so it stays out of the Holm family (its p is unadjusted).

Example:
    >>> m = Metric("best test MSE", higher_is_better=False)
    >>> fam = compare_family([Pair("FW", "BPTT", {0: 0.05, 1: 0.06, 2: 0.04},
    ...                            {0: 0.16, 1: 0.17, 2: 0.15}, m)])
    >>> r = fam.results[0]
    >>> round(r.p, 3), r.verdict, r.min_p
    (0.25, 'not shown', 0.25)
    >>> r.text
    'not shown (difference -0.11, no 95 % CI at n = 3 seeds; n = 3 cannot reach p < 0.25)'
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from fwlab.util.validate import boolean, in_range, nonnegative_int, one_of

__all__ = [
    "ALPHA",
    "AT_BEST_VALID",
    "MIN_CI_SEEDS",
    "NOISE_FLOOR",
    "Family",
    "Metric",
    "Pair",
    "PairedResult",
    "compare_family",
    "compare_recorded",
    "default_metric",
    "SignFlipTest",
    "holm",
    "min_p_value",
    "noise_floor_pair",
    "paired_test",
    "recorded_pairs",
    "recorded_values",
    "stored_pairs",
]

#: how the default metric is selected, the tie-break included
AT_BEST_VALID = (
    "the test value at the evaluation with the best validation {what} (the earliest such "
    "evaluation on ties), one per run"
)
#: the significance level of a verdict
ALPHA = 0.05
#: fewer paired seeds than this give no 95 % bootstrap interval (see the module docstring)
MIN_CI_SEEDS = 6
#: the twins whose difference is rounding alone: (Frank-Wolfe K = 1, Adam on normalized gradients)
NOISE_FLOOR = ("fw_k1", "normalized_adam")
# sign patterns enumerated exactly up to this many (2**16: n <= 16 seeds)
_EXACT_PATTERNS = 2**16
_BOOTSTRAP_RESAMPLES = 9999
_ALTERNATIVES = ("two-sided", "a_better")


@dataclass(frozen=True)
class Metric:
    """The pre-declared number compared per seed: its name (``key``: a ``summary`` key of a run
    for :func:`recorded_values`), whether higher is better, how it is written, and how it is
    selected (``selection``, e.g. the tie-break; printed with every family that uses it)."""

    key: str
    higher_is_better: bool
    label: str = ""
    unit: str = ""
    selection: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"key must be a non-empty string, got {self.key!r}")
        object.__setattr__(
            self, "higher_is_better", boolean("higher_is_better", self.higher_is_better)
        )

    @property
    def name(self) -> str:
        return self.label or self.key

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"


@dataclass(frozen=True)
class Pair:
    """One comparison to make: A's and B's values by seed (NaN/inf: a diverged run) under
    ``metric``; ``a``/``b`` name the methods in the output, ``group`` (e.g. a dataset) is
    written before them, and ``key`` (default ``(a, b)``) finds the result in its
    :class:`Family`."""

    a: str
    b: str
    a_values: Mapping[int, float]
    b_values: Mapping[int, float]
    metric: Metric
    key: tuple[str, ...] | None = None
    group: str = ""


@dataclass(frozen=True)
class PairedResult:
    """The protocol's result for one pair (see the module docstring).

    ``differences`` are A − B in the metric's units on the common ``seeds`` (±inf where exactly
    one of the two diverged, 0 where both did). ``p`` is the sign-flip test's p-value and
    ``p_holm`` the Holm-adjusted one (NaN when no test was possible, n < 2); ``min_p`` is the
    smallest p reachable with n seeds and ``min_p_holm`` the smallest p_Holm in this family.
    ``ci_mean``/``ci_median`` are 95 % bootstrap intervals or ``None`` with ``ci_note`` saying
    why. ``verdict`` is ``"A better"``, ``"B better"`` or ``"not shown"`` and ``text`` the
    sentence with the numbers.
    """

    key: tuple[str, ...]
    a: str
    b: str
    metric: Metric
    a_values: dict[int, float]
    b_values: dict[int, float]
    seeds: tuple[int, ...]
    left_out_a: tuple[int, ...]
    left_out_b: tuple[int, ...]
    diverged_a: tuple[int, ...]
    diverged_b: tuple[int, ...]
    differences: tuple[float, ...]
    statistic: str
    observed: float
    exact: bool
    alternative: str
    p: float
    p_holm: float
    family_size: int
    alpha: float
    min_p: float
    min_p_holm: float
    mean_difference: float
    median_difference: float
    ci_mean: tuple[float, float] | None
    ci_median: tuple[float, float] | None
    ci_note: str
    noise_floor: bool
    group: str
    verdict: str
    text: str = field(repr=False)

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def label(self) -> str:
        tag = " (noise floor)" if self.noise_floor else ""
        group = f"{self.group}: " if self.group else ""
        return f"{group}{self.a} vs {self.b}{tag}"

    def power_note(self) -> str:
        """Why no verdict was reachable, or ``""`` when one was."""
        if self.n < 2:
            return f"n = {self.n} seed{'s' if self.n != 1 else ''}: no test"
        if self.min_p > self.alpha:
            return f"n = {self.n} cannot reach p < {self.min_p:.3g}"
        if not self.noise_floor and self.min_p_holm > self.alpha:
            return (
                f"with {self.family_size} comparisons, n = {self.n} cannot reach "
                f"p_Holm < {self.min_p_holm:.3g}"
            )
        return ""

    def row(self) -> dict[str, Any]:
        """This result as one row of :meth:`Family.table`."""

        def values(v: dict[int, float]) -> str:
            return ", ".join(_num(v[s]) for s in self.seeds)

        left = []
        for name, out in ((self.a, self.left_out_a), (self.b, self.left_out_b)):
            if out:
                left.append(f"{name}: seed{'s' if len(out) > 1 else ''} {_seeds(out)}")
        div = [
            f"{name} {len(d)}"
            for name, d in ((self.a, self.diverged_a), (self.b, self.diverged_b))
            if d
        ]
        return {
            "comparison": self.label,
            "metric": f"{self.metric.name} ({self.metric.direction})",
            "n": self.n,
            "seeds": _seeds(self.seeds),
            "A": values(self.a_values),
            "B": values(self.b_values),
            "diverged": "; ".join(div) or "none",
            "left out": "; ".join(left) or "none",
            "mean A-B": self.mean_difference,
            "median A-B": self.median_difference,
            "95% CI (mean)": _interval(self.ci_mean) if self.ci_mean else self.ci_note,
            "p": self.p,
            "p_Holm": self.p_holm,
            "verdict": self.text,
        }


def _num(x: float) -> str:
    return f"{x:.4g}"  # also "nan", "inf", "-inf" (a NaN's sign is not shown)


def _interval(ci: tuple[float, float]) -> str:
    return f"[{_num(ci[0])}, {_num(ci[1])}]"


def _seeds(seeds: Sequence[int]) -> str:
    return ", ".join(str(s) for s in seeds)


def min_p_value(n: int, alternative: str = "two-sided") -> float:
    """The smallest p-value the sign-flip test can give with ``n`` paired seeds: the observed
    pattern is the most extreme of the 2ⁿ, so p ≥ 2·2⁻ⁿ two-sided and 2⁻ⁿ one-sided (1 for n < 2).

    >>> min_p_value(3), min_p_value(3, "a_better"), min_p_value(10)
    (0.25, 0.125, 0.001953125)
    """
    n = nonnegative_int("n", n)
    one_of("alternative", alternative, _ALTERNATIVES)
    if n < 2:
        return 1.0
    return min(1.0, (2.0 if alternative == "two-sided" else 1.0) * 2.0**-n)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (NaN: not tested, left out of the
    family): the i-th smallest of m is multiplied by m − i + 1, made monotone, capped at 1.

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    p = [float(x) for x in pvalues]
    for x in p:
        if not (math.isnan(x) or 0.0 <= x <= 1.0):
            raise ValueError(f"p-values must lie in [0, 1] (NaN: not tested), got {x!r}")
    tested = sorted((x, i) for i, x in enumerate(p) if not math.isnan(x))
    m = len(tested)
    out = [math.nan] * len(p)
    running = 0.0
    for rank, (x, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * x))
        out[i] = running
    return out


def _check_values(name: str, values: Mapping[int, float]) -> dict[int, float]:
    if not isinstance(values, Mapping):
        raise ValueError(f"{name} must be a mapping seed -> value, got {type(values).__name__}")
    out = {}
    for seed, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
            raise ValueError(
                f"{name}[{seed!r}] must be a number (NaN/inf for a diverged run), got {v!r}"
            )
        out[int(seed)] = float(v)
    return out


def _goodness(v: float, higher_is_better: bool) -> float:
    """Larger is better; a diverged run (NaN, ±inf) is -inf, worse than every finite value."""
    if not math.isfinite(v):
        return -math.inf
    return v if higher_is_better else -v


class SignFlipTest(NamedTuple):
    """What :func:`paired_test` found: the p-value (NaN for fewer than 2 seeds), the statistic
    used (``"mean"`` or ``"signed ranks"``), its observed value (positive: A better), and whether
    every sign pattern was enumerated."""

    p: float
    statistic: str
    observed: float
    exact: bool


def paired_test(gains: Sequence[float], alternative: str = "two-sided") -> SignFlipTest:
    """The sign-flip permutation test of per-seed ``gains`` (positive: A better; -inf: A
    diverged and B did not, +inf the reverse). The statistic is the mean gain, or the mean
    signed rank when a gain is infinite (its magnitude ranks largest; a zero gain keeps its rank
    and counts 0, Pratt's treatment). Zero gains (ties) flip to themselves, so they make the
    smallest reachable p larger than :func:`min_p_value`'s.

    >>> t = paired_test([0.3, 0.1, 0.2])
    >>> round(t.p, 3), t.statistic, t.exact
    (0.25, 'mean', True)
    """
    from scipy import stats

    one_of("alternative", alternative, _ALTERNATIVES)
    g = np.asarray(gains, dtype=float)
    if np.isnan(g).any():
        raise ValueError("gains must not be NaN (a diverged run is -inf: see the module docstring)")
    statistic = "mean"
    if not np.isfinite(g).all():
        statistic = "signed ranks"
        g = np.sign(g) * stats.rankdata(np.abs(g))
    observed = float(np.mean(g)) if g.size else 0.0
    if g.size < 2:
        return SignFlipTest(math.nan, statistic, observed, True)
    result = stats.permutation_test(
        (g,),
        np.mean,
        permutation_type="samples",
        vectorized=True,
        n_resamples=_EXACT_PATTERNS,
        alternative="two-sided" if alternative == "two-sided" else "greater",
        rng=np.random.default_rng(0),
    )
    return SignFlipTest(float(result.pvalue), statistic, observed, g.size <= 16)


def _bootstrap(a: np.ndarray, b: np.ndarray, what: str) -> tuple[float, float]:
    """The 95 % paired bootstrap interval of the mean or median of ``a - b``: BCa, or the
    percentile interval where BCa is undefined (a resampled median often is degenerate)."""
    from scipy import stats

    d = a - b
    if np.all(d == d[0]):  # every resample gives the same value: the interval is that point
        return float(d[0]), float(d[0])
    reduce = np.mean if what == "mean" else np.median
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # BCa's own "degenerate" notice
            warnings.simplefilter("ignore", getattr(stats, "DegenerateDataWarning", Warning))
            res = stats.bootstrap(
                (a, b),
                lambda x, y, axis: reduce(x - y, axis=axis),
                paired=True,
                vectorized=True,
                n_resamples=_BOOTSTRAP_RESAMPLES,
                confidence_level=0.95,
                method=method,
                rng=np.random.default_rng(0),
            )
        low, high = res.confidence_interval
        if math.isfinite(low) and math.isfinite(high):
            break
    return float(low), float(high)


def _compare(pair: Pair, alternative: str, alpha: float, noise_floor: bool) -> dict[str, Any]:
    """Everything of a :class:`PairedResult` but the family's adjustment and the text."""
    metric = pair.metric
    if not isinstance(metric, Metric):
        raise ValueError(f"metric must be a Metric, got {type(metric).__name__}")
    a = _check_values(f"{pair.a} values", pair.a_values)
    b = _check_values(f"{pair.b} values", pair.b_values)
    seeds = tuple(sorted(set(a) & set(b)))
    hib = metric.higher_is_better
    gains, diffs = [], []
    for s in seeds:
        ga, gb = _goodness(a[s], hib), _goodness(b[s], hib)
        gain = 0.0 if ga == gb == -math.inf else ga - gb  # both diverged: a tie
        gains.append(gain)
        diffs.append(gain if hib else -gain)  # A - B in the metric's units (inf: diverged)
    test = paired_test(gains, alternative)
    d = np.asarray(diffs, dtype=float)
    finite = bool(np.isfinite(d).all())
    ci_mean = ci_median = None
    if d.size == 0:
        note = "no common seeds"
    elif not finite:
        note = "no 95 % CI: a seed diverged"
    elif d.size < MIN_CI_SEEDS:
        note = f"no 95 % CI at n = {d.size} seed{'s' if d.size != 1 else ''}"
    else:
        va = np.array([a[s] for s in seeds])
        vb = np.array([b[s] for s in seeds])
        ci_mean, ci_median = _bootstrap(va, vb, "mean"), _bootstrap(va, vb, "median")
        note = ""
    return dict(
        key=tuple(pair.key) if pair.key is not None else (pair.a, pair.b),
        a=pair.a,
        b=pair.b,
        metric=metric,
        a_values={s: a[s] for s in sorted(a)},
        b_values={s: b[s] for s in sorted(b)},
        seeds=seeds,
        left_out_a=tuple(sorted(set(a) - set(seeds))),
        left_out_b=tuple(sorted(set(b) - set(seeds))),
        diverged_a=tuple(s for s in seeds if not math.isfinite(a[s])),
        diverged_b=tuple(s for s in seeds if not math.isfinite(b[s])),
        differences=tuple(diffs),
        statistic=test.statistic,
        observed=test.observed,
        exact=test.exact,
        alternative=alternative,
        p=test.p,
        alpha=alpha,
        min_p=min_p_value(len(seeds), alternative),
        mean_difference=float(np.mean(d)) if finite and d.size else math.nan,
        median_difference=float(np.median(d)) if d.size else math.nan,
        ci_mean=ci_mean,
        ci_median=ci_median,
        ci_note=note,
        noise_floor=noise_floor,
        group=pair.group,
    )


def _verdict(f: dict[str, Any]) -> tuple[str, str]:
    p, name = (f["p"], "p") if f["noise_floor"] else (f["p_holm"], "p_Holm")
    if not math.isnan(p) and p <= f["alpha"] and f["observed"] != 0.0:
        a_wins = f["observed"] > 0
        winner = f["a"] if a_wins else f["b"]
        return ("A better" if a_wins else "B better"), f"{winner} better ({name} = {p:.3g})"
    if not f["seeds"]:
        return "not shown", "not shown (no common seeds"
    mean = f["mean_difference"]
    diff = _num(mean) if not math.isnan(mean) else f"median {_num(f['median_difference'])}"
    ci = f"95 % CI {_interval(f['ci_mean'])}" if f["ci_mean"] else f["ci_note"]
    return "not shown", f"not shown (difference {diff}, {ci}"


@dataclass(frozen=True)
class Family:
    """The comparisons one notebook prints, Holm-adjusted together, the noise-floor rows beside
    them, and the pairs that could not be compared because a run is not stored."""

    results: tuple[PairedResult, ...]
    noise_floors: tuple[PairedResult, ...]
    alpha: float
    not_stored: tuple[str, ...] = ()

    @property
    def noise_floor(self) -> PairedResult | None:
        """The first noise-floor row, or ``None``."""
        return self.noise_floors[0] if self.noise_floors else None

    def __getitem__(self, key: tuple[str, str]) -> PairedResult:
        """The result whose :attr:`Pair.key` is ``key`` (the noise-floor row included)."""
        for r in self.all():
            if r.key == tuple(key):
                return r
        names = [r.key for r in self.all()]
        raise KeyError(f"no comparison {key!r}; the family holds {names}")

    def all(self) -> tuple[PairedResult, ...]:
        """The family's results, then the noise-floor rows."""
        return (*self.results, *self.noise_floors)

    def table(self) -> Any:
        """A :class:`pandas.DataFrame`, one row per comparison (the noise floor last)."""
        import pandas as pd

        return pd.DataFrame([r.row() for r in self.all()])

    def text(self) -> str:
        """The family as plain text: per comparison the per-seed values, p, p_Holm, the effect
        with its interval, and the verdict; then the noise-floor row and what it means."""
        alternative = self.all()[0].alternative if self.all() else "two-sided"
        lines = [
            f"{len(self.results)} comparison{'s' if len(self.results) != 1 else ''}, "
            f"Holm-adjusted together at α = {self.alpha:g}; sign-flip test over the common "
            f"seeds ({alternative}; every sign pattern up to 16 seeds)"
        ]
        metrics = dict.fromkeys(r.metric for r in self.all())
        for m in metrics:
            how = f": {m.selection}" if m.selection else ""
            lines.append(f"metric: {m.name} ({m.direction}){how}")
        for r in self.all():
            lines.append("")
            head = "noise floor (the same update in exact arithmetic; outside the Holm family)"
            lines.append(f"{r.label}: {r.metric.name} ({r.metric.direction})")
            if r.noise_floor:
                lines.append(f"  {head}")
            lines.append(f"  seeds {_seeds(r.seeds) or '-'} (n = {r.n})")
            lines.append(f"  {r.a:>40}: {', '.join(_num(r.a_values[s]) for s in r.seeds)}")
            lines.append(f"  {r.b:>40}: {', '.join(_num(r.b_values[s]) for s in r.seeds)}")
            for name, out in ((r.a, r.left_out_a), (r.b, r.left_out_b)):
                if out:
                    lines.append(
                        f"  left out (no pair): {name}, {len(out)} seed"
                        f"{'s' if len(out) > 1 else ''} ({_seeds(out)})"
                    )
            for name, div in ((r.a, r.diverged_a), (r.b, r.diverged_b)):
                if div:
                    lines.append(
                        f"  diverged (NaN/inf, ranked worst): {name} on {len(div)} seed"
                        f"{'s' if len(div) > 1 else ''} ({_seeds(div)})"
                    )
            ci = f"95 % CI {_interval(r.ci_mean)}" if r.ci_mean else r.ci_note
            med = f"95 % CI {_interval(r.ci_median)}" if r.ci_median else ""
            lines.append(
                f"  A - B: mean {_num(r.mean_difference)} ({ci}), median "
                f"{_num(r.median_difference)}{f' ({med})' if med else ''}"
            )
            adj = "" if r.noise_floor else f", p_Holm {_num(r.p_holm)}"
            stat = "" if r.statistic == "mean" else f" (on {r.statistic})"
            exact = "" if r.exact else " (65,536 random sign patterns)"
            lines.append(f"  p {_num(r.p)}{adj}{stat}{exact}")
            lines.append(f"  verdict: {r.text}")
        for floor in self.noise_floors:
            lines.append("")
            lines.append(self.below_noise_floor(floor))
        for missing in self.not_stored:
            lines.append("")
            lines.append(f"not compared (a run is not stored): {missing}")
        if not self.noise_floors:
            lines.append("")
            lines.append(
                f"no noise-floor row: {NOISE_FLOOR[0]} and {NOISE_FLOOR[1]} are not both stored"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def below_noise_floor(self, floor: PairedResult) -> str:
        """One sentence: how many of the family's comparisons on the noise floor's metric have a
        mean difference no larger (in magnitude) than the noise floor's, which rounding alone
        produced."""
        same = [r for r in self.results if r.metric == floor.metric and r.group == floor.group]
        size = abs(floor.mean_difference)
        if math.isnan(size):
            return f"noise floor {floor.label}: no mean difference (a seed diverged)"
        below = [r for r in same if abs(r.mean_difference) <= size]
        return (
            f"{floor.label}: |mean difference| {_num(size)}; "
            f"{len(below)} of {len(same)} comparisons on {floor.metric.name} "
            "differ by no more than rounding alone did"
        )


def compare_family(
    pairs: Sequence[Pair],
    *,
    noise_floor: Pair | Sequence[Pair] | None = None,
    alpha: float = ALPHA,
    alternative: str = "two-sided",
) -> Family:
    """The protocol on a family of comparisons (see the module docstring), Holm-adjusted
    together; ``noise_floor`` (one :class:`Pair` or several) is reported beside them, outside
    the family.

    Raises:
        ValueError: no pairs, ``alpha`` outside (0, 1), an unknown ``alternative``, a pair
            listed twice, or a value that is not a number.
    """
    alpha = in_range("alpha", alpha, 0, 1, low_open=True, high_open=True)
    one_of("alternative", alternative, _ALTERNATIVES)
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs must hold at least one Pair")
    floors = [noise_floor] if isinstance(noise_floor, Pair) else list(noise_floor or [])
    for p in (*pairs, *floors):
        if not isinstance(p, Pair):
            raise ValueError(f"pairs must be Pair objects, got {type(p).__name__}")
    keys = [p.key or (p.a, p.b) for p in pairs]
    if len(set(keys)) < len(keys):
        raise ValueError(f"each pair must appear once, got {keys}")
    raw = [_compare(p, alternative, float(alpha), False) for p in pairs]
    adjusted = holm([f["p"] for f in raw])
    m = sum(not math.isnan(f["p"]) for f in raw)
    results = []
    for f, ph in zip(raw, adjusted):
        f.update(p_holm=ph, family_size=m, min_p_holm=min(1.0, m * f["min_p"]))
        results.append(_result(f))
    rows = []
    for pair in floors:
        f = _compare(pair, alternative, float(alpha), True)
        f.update(p_holm=math.nan, family_size=m, min_p_holm=f["min_p"])
        rows.append(_result(f))
    return Family(tuple(results), tuple(rows), float(alpha))


def _result(fields: dict[str, Any]) -> PairedResult:
    verdict, text = _verdict(fields)
    if verdict == "not shown":
        note = PairedResult(verdict=verdict, text="", **fields).power_note()
        text = f"{text}{'; ' + note if note else ''})"
    return PairedResult(verdict=verdict, text=text, **fields)


def default_metric(recorded: Mapping[str, Any]) -> Metric:
    """The pre-declared metric of a recorded comparison: the test accuracy at the best
    validation accuracy when its runs are classifiers, else the test loss at the best
    validation loss (the earliest evaluation on ties)."""
    summaries = [h.get("summary", {}) for by in recorded["runs"].values() for h in by.values()]
    classifier = any(s.get("test_acc_at_best_valid") is not None for s in summaries)
    short, what = ("acc", "accuracy") if classifier else ("loss", "loss")
    return Metric(
        f"test_{short}_at_best_valid",
        classifier,
        f"test {what} at the best validation {what}",
        "%" if classifier else "",
        AT_BEST_VALID.format(what=what),
    )


def recorded_values(recorded: Mapping[str, Any], run: str, key: str) -> dict[int, float]:
    """seed → ``summary[key]`` of ``run`` in a recorded comparison
    (:func:`fwlab.experiments.recorded.load_recorded`); a NaN stays NaN (a diverged run), a run that
    lacks the key is left out.

    Raises:
        ValueError: ``run`` is not in the comparison, or no run of it has ``key``.
    """
    from fwlab.experiments.recorded import seed_histories

    histories = seed_histories(dict(recorded), run)
    known = {
        k for by in recorded["runs"].values() for h in by.values() for k in h.get("summary", {})
    }
    if key not in known:
        raise ValueError(
            f"key must be a summary value of the recorded runs, one of {sorted(known)}; got {key!r}"
        )
    return _summary_values(histories, key)


def _summary_values(histories: Mapping[int, Mapping[str, Any]], key: str) -> dict[int, float]:
    """seed → ``summary[key]`` of each history that has it."""
    summaries = {int(seed): h.get("summary", {}) for seed, h in histories.items()}
    return {seed: float(s[key]) for seed, s in summaries.items() if s.get(key) is not None}


def stored_pairs(
    recorded: Mapping[str, Any], pairs: Sequence[tuple[str, str]]
) -> tuple[list[tuple[str, str]], list[str]]:
    """``pairs`` split into those whose two runs the recorded comparison stores (at least one
    seed each) and a description of each of the others."""
    stored = {run for run, by_seed in recorded["runs"].items() if by_seed}
    keep, missing = [], []
    for a, b in pairs:
        if a in stored and b in stored:
            keep.append((a, b))
        else:
            absent = " and ".join(r for r in (a, b) if r not in stored)
            missing.append(f"{recorded.get('name', '')}: {a} vs {b} ({absent} not stored)")
    return keep, missing


def recorded_pairs(
    recorded: Mapping[str, Any],
    pairs: Sequence[tuple[str, str]],
    *,
    metric: Metric | None = None,
    group: str = "",
) -> list[Pair]:
    """The :class:`Pair` of each ``(a, b)`` of run names of a recorded comparison, by ``metric``
    (default: :func:`default_metric`), named by the comparison's labels, and keyed ``(a, b)``,
    or ``(group, a, b)`` with a ``group`` (a name for this comparison in a larger family).

    Raises:
        ValueError: a run name the comparison does not know, or a ``metric`` key no run has.
    """
    m = metric or default_metric(recorded)
    labels = recorded.get("labels", {})
    return [
        Pair(
            labels.get(a, a),
            labels.get(b, b),
            recorded_values(recorded, a, m.key),
            recorded_values(recorded, b, m.key),
            m,
            key=(group, a, b) if group else (a, b),
            group=group,
        )
        for a, b in pairs
    ]


def noise_floor_pair(
    recorded: Mapping[str, Any], *, metric: Metric | None = None, group: str = ""
) -> Pair | None:
    """The noise-floor :class:`Pair` (``fw_k1`` vs ``normalized_adam``) of a recorded comparison,
    or ``None`` when it does not store both."""
    if stored_pairs(recorded, [NOISE_FLOOR])[1]:
        return None
    return recorded_pairs(recorded, [NOISE_FLOOR], metric=metric, group=group)[0]


def compare_recorded(
    recorded: Mapping[str, Any],
    pairs: Sequence[tuple[str, str]],
    *,
    metric: Metric | None = None,
    extra: Sequence[Pair] = (),
    alpha: float = ALPHA,
    alternative: str = "two-sided",
) -> Family:
    """:func:`compare_family` on the runs of one recorded comparison
    (:func:`fwlab.experiments.recorded.load_recorded`): ``pairs`` of run names by the pre-declared
    ``metric`` (default: :func:`default_metric`), ``extra`` pairs (e.g. on another metric) in the
    same Holm family, and the noise-floor row wherever ``fw_k1`` and ``normalized_adam`` are
    both stored. A pair with a run that is not stored is listed in ``not_stored``, not compared.
    Results are keyed by ``(a, b)``."""
    keep, missing = stored_pairs(recorded, pairs)
    family = compare_family(
        [*recorded_pairs(recorded, keep, metric=metric), *extra],
        noise_floor=noise_floor_pair(recorded, metric=metric),
        alpha=alpha,
        alternative=alternative,
    )
    return dataclasses.replace(family, not_stored=tuple(missing))
