"""Frank-Wolfe trust-region optimizer and the LMOs of p-norm balls."""

from fwlab.optim.frank_wolfe import FrankWolfe, NonFiniteError, effective_delta
from fwlab.optim.lmo import as_p, dual_exponent, lmo, lmo_global, lp_norm

__all__ = [
    "FrankWolfe",
    "NonFiniteError",
    "as_p",
    "dual_exponent",
    "effective_delta",
    "lmo",
    "lmo_global",
    "lp_norm",
]
