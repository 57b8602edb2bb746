"""Experiments: calibrations, recorded comparisons and the orderings computed from them."""
