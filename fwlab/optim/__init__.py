"""Frank-Wolfe trust-region optimizer and the LMOs of p-norm balls."""

from fwlab.optim.lmo import as_p, dual_exponent, lmo, lmo_global, lp_norm

__all__ = ["as_p", "dual_exponent", "lmo", "lmo_global", "lp_norm"]
