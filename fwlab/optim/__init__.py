"""Frank-Wolfe trust-region optimizer, the LMOs of p-norm balls, the normalized-Adam
baseline, and Ctrl-C held back while an update or a batch completes (DeferredInterrupt)."""

from fwlab.optim.frank_wolfe import FrankWolfe, NonFiniteError, effective_delta
from fwlab.optim.interrupt import DeferredInterrupt
from fwlab.optim.lmo import as_p, dual_exponent, lmo, lmo_global, lp_norm
from fwlab.optim.normalized_adam import NormalizedAdam

__all__ = [
    "DeferredInterrupt",
    "FrankWolfe",
    "NonFiniteError",
    "NormalizedAdam",
    "as_p",
    "dual_exponent",
    "effective_delta",
    "lmo",
    "lmo_global",
    "lp_norm",
]
