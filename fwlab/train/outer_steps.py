r"""What training needs from an optimizer whose step is an outer step of K inner iterations.

:class:`fwlab.optim.FrankWolfe` in streaming mode takes one inner iteration per ``step()``;
every K-th completes the outer step :math:`\omega_{t+1} = \omega_t + \eta_t\,\Delta\omega_K`.
Training code (``fit``, the run controls, the trajectory recorder) must then know whether an
outer step is under way, evaluate at the iterate :math:`\omega`, and read the step's
diagnostics. It does so through :class:`OuterStepOptimizer` (a structural ``Protocol``: any
optimizer with these methods qualifies) and the functions below, which treat every other
optimizer (Adam, SGD) as one whose outer step is each ``step()``: no inner iteration is ever
under way, ω is the parameters themselves, and there are no diagnostics. The trust-region
hyperparameters (``delta``, ``K``, ``p``, ``scope``) live in such an optimizer's
``param_groups``.

Example:
    >>> import torch
    >>> from fwlab.optim import FrankWolfe
    >>> w = torch.nn.Parameter(torch.ones(3))
    >>> fw, adam = FrankWolfe([w], lr=0.1, K=2), torch.optim.Adam([w])
    >>> takes_outer_steps(fw), takes_outer_steps(adam)
    (True, False)
    >>> w.grad = torch.ones(3); _ = fw.step()
    >>> inner_step(fw), inner_step(adam), outer_stats(fw)
    (1, 0, None)
    >>> abandon_outer_step(fw), inner_step(fw)
    (True, 0)
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = [
    "OuterStepOptimizer",
    "abandon_outer_step",
    "at_iterate",
    "inner_step",
    "outer_stats",
    "takes_outer_steps",
]


@runtime_checkable
class OuterStepOptimizer(Protocol):
    """An optimizer whose ``step()`` may be one inner iteration of an outer step."""

    param_groups: list[dict[str, Any]]
    #: per param group, the diagnostics of the last completed outer step
    stats: list[dict[str, float]]

    def inner_step(self, group_index: int = 0) -> int:
        """Inner iterations done in the outer step under way (0 between outer steps)."""
        ...

    def at_omega(self) -> contextlib.AbstractContextManager[None]:
        """A context in which the parameters hold the iterate ω."""
        ...

    def reset_inner(self) -> bool:
        """Abandon the outer step under way (parameters back at ω); whether there was one."""
        ...


#: what ``isinstance(x, OuterStepOptimizer)`` looks for, checked here without ``typing``'s
#: protocol machinery: that ``isinstance`` costs about 15 µs, and training asks several times a
#: batch. As Python 3.11's protocol check: the data members exist, the methods exist and are not
#: ``None`` (how a class blocks one), or the class names the protocol as a base
#: (tests/train/test_outer_steps.py checks the two agree).
_DATA = ("param_groups", "stats")
_METHODS = ("inner_step", "at_omega", "reset_inner")


def takes_outer_steps(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer`` is an :class:`OuterStepOptimizer` (has ``delta``, ``K``, ``p``)."""
    if OuterStepOptimizer in type(optimizer).__mro__:
        return True
    return all(hasattr(optimizer, name) for name in _DATA) and all(
        getattr(optimizer, name, None) is not None for name in _METHODS
    )


def inner_step(optimizer: torch.optim.Optimizer) -> int:
    """Inner iterations done in the outer step under way (always 0 for other optimizers)."""
    return optimizer.inner_step() if takes_outer_steps(optimizer) else 0


def at_iterate(optimizer: torch.optim.Optimizer) -> contextlib.AbstractContextManager[None]:
    """A context in which the parameters hold the iterate ω (evaluate there, never at a
    shifted inner point); a no-op for other optimizers."""
    if takes_outer_steps(optimizer):
        return optimizer.at_omega()
    return contextlib.nullcontext()


def abandon_outer_step(optimizer: torch.optim.Optimizer) -> bool:
    """Put the parameters back at ω if an outer step is under way; whether one was."""
    if takes_outer_steps(optimizer) and optimizer.inner_step():
        return bool(optimizer.reset_inner())
    return False


def outer_stats(optimizer: torch.optim.Optimizer) -> Mapping[str, float] | None:
    """The first param group's diagnostics (``fw_gap``, ``dw_norm``, ``angle_deg``, ``delta``
    ...) right after an outer step completed; ``None`` mid outer step or for other
    optimizers."""
    if not takes_outer_steps(optimizer) or optimizer.inner_step():
        return None
    return optimizer.stats[0] if optimizer.stats and optimizer.stats[0] else None
