"""fwlab: train recurrent networks with the Frank-Wolfe trust-region optimizer.

Yue, Li, Saligrama & Zhang, "RNN Training along Locally Optimal Trajectories via
Frank-Wolfe Algorithm", ICPR 2020 (arXiv:2010.05397).

The most used names are re-exported here; each lives in the module of its concept:
:mod:`fwlab.optim` (FrankWolfe, lmo), :mod:`fwlab.models` (IndRNN, SequenceModel),
:mod:`fwlab.data` (load_task and the loaders), :mod:`fwlab.train` (methods, TrainConfig, fit),
:mod:`fwlab.toy` (2D losses and trajectories), :mod:`fwlab.plots` (plotly figures),
:mod:`fwlab.runs` (the run engine: studies of notebooks and functions, ``record``) and
:mod:`fwlab.runs.sweep` (`fwlab run` and `fwlab sweep` on it).
"""

from typing import TYPE_CHECKING

from fwlab.util.lazy import lazy_exports

if TYPE_CHECKING:
    from fwlab.data import load_task
    from fwlab.models import IndRNN, SequenceModel
    from fwlab.optim import FrankWolfe, NonFiniteError, lmo, lmo_global
    from fwlab.runs import record
    from fwlab.train import METHODS, Callback, TrainConfig, fit, get_method

# name -> module: imported on first use, so that `fwlab sweep`, `fwlab run`, `fwlab present` and
# the other commands that do not train start without importing torch (about 2 s of CPU each)
_EXPORTS = {
    "load_task": "fwlab.data",
    "IndRNN": "fwlab.models",
    "SequenceModel": "fwlab.models",
    "FrankWolfe": "fwlab.optim",
    "NonFiniteError": "fwlab.optim",
    "lmo": "fwlab.optim",
    "lmo_global": "fwlab.optim",
    "record": "fwlab.runs",
    "METHODS": "fwlab.train",
    "Callback": "fwlab.train",
    "TrainConfig": "fwlab.train",
    "fit": "fwlab.train",
    "get_method": "fwlab.train",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "Callback",
    "FrankWolfe",
    "IndRNN",
    "NonFiniteError",
    "SequenceModel",
    "TrainConfig",
    "fit",
    "get_method",
    "lmo",
    "lmo_global",
    "load_task",
    "record",
]
