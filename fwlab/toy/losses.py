r"""Two-dimensional test functions for the trust-region playground.

Each loss is **one function body** written with arithmetic operators and a tiny array-namespace
switch (:func:`_xp`) for ``sin``/``cos``, so the same code evaluates

* a ``torch.Tensor`` (autograd gives the gradient; used to check the analytic one and to run
  ``fwlab.optim.FrankWolfe`` on an ``nn.Parameter``),
* a numpy meshgrid (contour plots),
* plain Python floats (the fast trajectory path, :mod:`fwlab.toy.trajectory`).

Next to it sits a hand-written gradient used on the fast path. The losses are registered by
name in :data:`LOSSES`; a :class:`ToyLoss` is a frozen dataclass of numbers and strings (window,
start point, minima) and finds its functions through the private registry, so configurations
refer to a loss by name and never hold a callable.

The catalogue (``f_min`` is the global minimum value):

=============  ==========================================================  ==================
name           formula                                                     minima
=============  ==========================================================  ==================
rosenbrock     :math:`(1-x)^2 + 100 (y - x^2)^2`                           (1, 1), 0
beale          :math:`\sum_{i=1}^3 (c_i - x + x y^i)^2`, c = 1.5, 2.25,    (3, 0.5), 0
               2.625
himmelblau     :math:`(x^2 + y - 11)^2 + (x + y^2 - 7)^2`                  four points, 0
quadratic      :math:`\tfrac12 w^\top A w`, A with eigenvalues 1 and 25,   (0, 0), 0
               eigenvectors rotated by 30°
saddle         :math:`\tfrac12 x^2 - \tfrac12 y^2 + \tfrac14 y^4`          (0, ±1), −1/4;
                                                                           saddle at (0, 0)
rastrigin      :math:`20 + \sum_{u \in \{x, y\}} u^2 - 10 \cos 2\pi u`      (0, 0), 0
=============  ==========================================================  ==================

Example:
    >>> from fwlab.toy import get_loss
    >>> rb = get_loss("rosenbrock")
    >>> float(rb(1.0, 1.0)), rb.grad(0.0, 0.0)
    (0.0, (-2.0, 0.0))
    >>> import torch
    >>> w = torch.tensor([0.0, 0.0], dtype=torch.float64, requires_grad=True)
    >>> rb.at(w).backward(); w.grad.tolist()
    [-2.0, 0.0]
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from fwlab.util.validate import is_tensor

__all__ = ["LOSSES", "ToyLoss", "get_loss", "loss_names"]

Window = tuple[tuple[float, float], tuple[float, float]]


def _xp(x: Any) -> ModuleType:
    """The namespace whose ``sin``/``cos`` accept ``x``: torch, numpy or math (for floats);
    torch only for a tensor (:func:`fwlab.util.validate.is_tensor`: the playground's figures and
    widgets evaluate the losses on numpy grids without importing torch)."""
    if is_tensor(x):
        return sys.modules["torch"]
    if isinstance(x, np.ndarray | np.generic):
        return np
    return math


# --- function bodies: operators only, plus _xp(x) for transcendental functions -------------


def _rosenbrock(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def _rosenbrock_grad(x, y):
    r = y - x * x
    return -2.0 * (1.0 - x) - 400.0 * x * r, 200.0 * r


_BEALE_C = (1.5, 2.25, 2.625)


def _beale(x, y):
    y2 = y * y
    return (
        (_BEALE_C[0] - x + x * y) ** 2
        + (_BEALE_C[1] - x + x * y2) ** 2
        + (_BEALE_C[2] - x + x * y2 * y) ** 2
    )


def _beale_grad(x, y):
    y2 = y * y
    y3 = y2 * y
    a1 = _BEALE_C[0] - x + x * y
    a2 = _BEALE_C[1] - x + x * y2
    a3 = _BEALE_C[2] - x + x * y3
    gx = 2.0 * (a1 * (y - 1.0) + a2 * (y2 - 1.0) + a3 * (y3 - 1.0))
    gy = 2.0 * x * (a1 + 2.0 * a2 * y + 3.0 * a3 * y2)
    return gx, gy


def _himmelblau(x, y):
    return (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2


def _himmelblau_grad(x, y):
    a = x * x + y - 11.0
    b = x + y * y - 7.0
    return 4.0 * x * a + 2.0 * b, 2.0 * a + 4.0 * y * b


# A = R(30°) diag(1, 25) R(30°)^T = [[7, -6√3], [-6√3, 19]]: condition number 25, valley
# not aligned with the axes (so the l1 and l-inf balls behave visibly differently from l2).
_QA, _QB, _QD = 7.0, -6.0 * math.sqrt(3.0), 19.0


def _quadratic(x, y):
    return 0.5 * (_QA * x * x + 2.0 * _QB * x * y + _QD * y * y)


def _quadratic_grad(x, y):
    return _QA * x + _QB * y, _QB * x + _QD * y


def _saddle(x, y):
    # x²/2 − y²/2 has a saddle at 0; the quartic term bounds it below so "loss decreased"
    # and "reached a minimum" mean something.
    y2 = y * y
    return 0.5 * x * x - 0.5 * y2 + 0.25 * y2 * y2


def _saddle_grad(x, y):
    return x, y * y * y - y


_TWO_PI = 2.0 * math.pi


def _rastrigin(x, y):
    xp = _xp(x)
    return 20.0 + x * x - 10.0 * xp.cos(_TWO_PI * x) + y * y - 10.0 * xp.cos(_TWO_PI * y)


def _rastrigin_grad(x, y):
    xp = _xp(x)
    return (
        2.0 * x + 10.0 * _TWO_PI * xp.sin(_TWO_PI * x),
        2.0 * y + 10.0 * _TWO_PI * xp.sin(_TWO_PI * y),
    )


_FUNCS: dict[str, tuple[Callable, Callable]] = {
    "rosenbrock": (_rosenbrock, _rosenbrock_grad),
    "beale": (_beale, _beale_grad),
    "himmelblau": (_himmelblau, _himmelblau_grad),
    "quadratic": (_quadratic, _quadratic_grad),
    "saddle": (_saddle, _saddle_grad),
    "rastrigin": (_rastrigin, _rastrigin_grad),
}


@dataclass(frozen=True)
class ToyLoss:
    """A 2-D test function, described by data only.

    Attributes:
        name: registry key (``get_loss(name)``); also selects the function bodies.
        title: formula for plot titles.
        window: default plotting window ``((x_min, x_max), (y_min, y_max))``.
        start: default start point ``(x0, y0)``.
        minima: the known global minimizers.
        min_value: the global minimum value ``F(minima[i])``.
        log_contour: whether contours are drawn on ``log10(1 + F - min_value)`` (losses whose
            range spans many decades, e.g. Rosenbrock and Beale).
        gd_lr: a stable learning rate for the plain gradient-descent baseline on this window.
        delta: a trust-region radius that suits the window (a default for demos).
    """

    name: str
    title: str
    window: Window
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    min_value: float
    log_contour: bool = False
    gd_lr: float = 1e-2
    delta: float = 0.5

    def __post_init__(self) -> None:
        if self.name not in _FUNCS:
            raise ValueError(f"no function body named {self.name!r}; known: {sorted(_FUNCS)}")

    def __call__(self, x, y):
        """F(x, y) for floats, numpy arrays (e.g. meshgrids) or torch tensors (autograd)."""
        return _FUNCS[self.name][0](x, y)

    def at(self, w):
        """F at points stacked on the last axis: ``w[..., 0]`` is x, ``w[..., 1]`` is y."""
        return self(w[..., 0], w[..., 1])

    def grad(self, x, y):
        """The analytic gradient ``(dF/dx, dF/dy)``; same types as the inputs."""
        return _FUNCS[self.name][1](x, y)

    def grad_at(self, w: np.ndarray) -> np.ndarray:
        """The analytic gradient at points stacked on the last axis, shape ``w.shape``."""
        w = np.asarray(w, dtype=np.float64)
        gx, gy = self.grad(w[..., 0], w[..., 1])
        return np.stack(np.broadcast_arrays(gx, gy), axis=-1)

    def grid(
        self, n: int = 120, window: Window | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Axis vectors ``xs``, ``ys`` (n,) and values ``Z[i, j] = F(xs[j], ys[i])``, (n, n)."""
        (x0, x1), (y0, y1) = window or self.window
        xs = np.linspace(x0, x1, n)
        ys = np.linspace(y0, y1, n)
        X, Y = np.meshgrid(xs, ys)
        return xs, ys, self(X, Y)

    def contour_values(self, Z: np.ndarray) -> np.ndarray:
        """The values drawn as contours: ``Z`` itself or ``log10(1 + Z - min_value)``."""
        if self.log_contour:
            return np.log10(1.0 + np.maximum(Z - self.min_value, 0.0))
        return Z


LOSSES: dict[str, ToyLoss] = {
    loss.name: loss
    for loss in (
        ToyLoss(
            name="rosenbrock",
            title="Rosenbrock (1−x)² + 100(y−x²)²",
            window=((-2.0, 2.0), (-1.0, 3.0)),
            start=(-1.5, 2.0),
            minima=((1.0, 1.0),),
            min_value=0.0,
            log_contour=True,
            gd_lr=1e-3,
            delta=0.5,
        ),
        ToyLoss(
            name="beale",
            title="Beale Σᵢ (cᵢ − x + x yⁱ)²",
            window=((-4.5, 4.5), (-4.5, 4.5)),
            start=(-1.0, 2.0),
            minima=((3.0, 0.5),),
            min_value=0.0,
            log_contour=True,
            gd_lr=1e-3,
            delta=0.5,
        ),
        ToyLoss(
            name="himmelblau",
            title="Himmelblau (x²+y−11)² + (x+y²−7)²",
            window=((-5.0, 5.0), (-5.0, 5.0)),
            start=(0.0, 0.0),
            minima=(
                (3.0, 2.0),
                (-2.805118086952745, 3.131312518250573),
                (-3.779310253377747, -3.2831859912861696),
                (3.5844283403304917, -1.8481265269644034),
            ),
            min_value=0.0,
            log_contour=True,
            gd_lr=1e-2,
            delta=0.5,
        ),
        ToyLoss(
            name="quadratic",
            title="Ill-conditioned quadratic ½wᵀAw, κ(A) = 25",
            window=((-3.0, 3.0), (-3.0, 3.0)),
            start=(-2.5, -2.0),
            minima=((0.0, 0.0),),
            min_value=0.0,
            gd_lr=5e-2,
            delta=0.5,
        ),
        ToyLoss(
            name="saddle",
            title="Saddle x²/2 − y²/2 + y⁴/4",
            window=((-2.0, 2.0), (-2.0, 2.0)),
            start=(1.8, 0.05),
            minima=((0.0, 1.0), (0.0, -1.0)),
            min_value=-0.25,
            gd_lr=1e-1,
            delta=0.3,
        ),
        ToyLoss(
            name="rastrigin",
            title="Rastrigin 20 + Σ u² − 10 cos 2πu",
            window=((-4.5, 4.5), (-4.5, 4.5)),
            start=(-2.2, 3.3),
            minima=((0.0, 0.0),),
            min_value=0.0,
            gd_lr=2e-3,
            delta=0.5,
        ),
    )
}


def loss_names() -> list[str]:
    """The registered loss names, in catalogue order."""
    return list(LOSSES)


def get_loss(name: str | ToyLoss) -> ToyLoss:
    """The registered :class:`ToyLoss` called ``name`` (a ``ToyLoss`` is returned unchanged).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if isinstance(name, ToyLoss):
        return name
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; choose one of {loss_names()}") from None
