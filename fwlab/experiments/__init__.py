"""Experiments: calibrations, recorded comparisons and the comparison protocol that orders them.

:mod:`fwlab.experiments.protocol` is the one way fwlab says "A is better than B": a pre-declared
metric, a paired sign-flip test over the common seeds, Holm's adjustment across a notebook's
comparisons, a bootstrap interval of the effect, and a noise-floor row. Its names are
re-exported here (imported on first use: scipy loads only when a comparison is made).
"""

from typing import TYPE_CHECKING

from fwlab.util.lazy import lazy_exports

if TYPE_CHECKING:
    from fwlab.experiments.protocol import (
        Family,
        Metric,
        Pair,
        PairedResult,
        compare_family,
        compare_recorded,
        default_metric,
        holm,
        min_p_value,
        noise_floor_pair,
        paired_test,
        recorded_pairs,
        recorded_values,
        stored_pairs,
    )

__all__ = [
    "Family",
    "Metric",
    "Pair",
    "PairedResult",
    "compare_family",
    "compare_recorded",
    "default_metric",
    "holm",
    "min_p_value",
    "noise_floor_pair",
    "paired_test",
    "recorded_pairs",
    "recorded_values",
    "stored_pairs",
]
# name -> module, imported on first use
_EXPORTS = {name: "fwlab.experiments.protocol" for name in __all__}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
