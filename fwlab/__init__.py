"""fwlab: train recurrent networks with the Frank-Wolfe trust-region optimizer.

Yue, Li, Saligrama & Zhang, "RNN Training along Locally Optimal Trajectories via
Frank-Wolfe Algorithm", ICPR 2020 (arXiv:2010.05397).
"""

__version__ = "0.1.0"
