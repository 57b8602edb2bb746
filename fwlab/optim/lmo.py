r"""Linear minimization oracles (LMOs) of p-norm balls.

For a gradient :math:`g` and a radius :math:`\delta`, the LMO of the ball
:math:`C(p, \delta) = \{s : \|s\|_p \le \delta\}` is

.. math::
    \operatorname{lmo}(g) = \operatorname*{argmin}_{\|s\|_p \le \delta} \langle s, g \rangle ,
    \qquad \min_{\|s\|_p \le \delta} \langle s, g\rangle = -\delta \|g\|_q ,
    \qquad \tfrac1p + \tfrac1q = 1 .

Closed forms (Hölder equality):

* :math:`p = 1`: :math:`s = -\delta\,\operatorname{sign}(g_i) e_i` at the first
  :math:`i \in \operatorname{argmax}_i |g_i|` (one vertex, ties broken towards the first index);
* :math:`p = 2`: :math:`s = -\delta\, g / \|g\|_2`;
* :math:`p = \infty`: :math:`s = -\delta\,\operatorname{sign}(g)` (zero where :math:`g_i = 0`);
* :math:`1 < p < \infty`:
  :math:`s_i = -\delta\,\operatorname{sign}(g_i)|g_i|^{q-1} / \|g\|_q^{q-1}`.

The paper's Eq. 5 writes the exponent as :math:`p/q` with :math:`\|s\|_q = \delta`, which is the
LMO of the :math:`\ell_q` ball (p and q swapped); the formula above is the one for the
:math:`\ell_p` ball that Algorithm 1 uses.

A zero gradient (every entry below ``_TINY`` after scaling) gives ``s = 0``, never NaN; the
authors' code divides by a zero norm there.

Example:
    >>> import torch
    >>> from fwlab.optim import lmo
    >>> lmo(torch.tensor([3.0, -4.0]), p=2, radius=1.0)
    tensor([-0.6000,  0.8000])
    >>> lmo(torch.tensor([3.0, -4.0]), p=1, radius=0.5)
    tensor([0.0000, 0.5000])
    >>> lmo(torch.tensor([3.0, 0.5, -4.0]), p="inf", radius=0.1)
    tensor([-0.1000, -0.1000,  0.1000])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from fwlab.util.exponent import as_p, dual_exponent  # re-exported: the LMOs' exponent
from fwlab.util.validate import nonnegative_float

__all__ = ["as_p", "dual_exponent", "lp_norm", "lmo", "lmo_global"]


def lp_norm(x: Tensor, p: float | str) -> Tensor:
    r"""The ℓp norm of ``x`` seen as one flat vector (a 0-dim tensor).

    Computed as :math:`m\,\|x/m\|_p` with :math:`m = \max_i |x_i|`, so that large p neither
    overflows (:math:`|x_i|^p = \infty` for 4.0 and p = 1e6) nor underflows to 0 (for
    :math:`|x_i| < 1`): it tends to the max-norm as p grows, as it must.

    Example:
        >>> lp_norm(torch.tensor([[3.0], [-4.0]]), 2)
        tensor(5.)
        >>> lp_norm(torch.tensor([3.0, -4.0]), 1e6), lp_norm(torch.tensor([0.3, -0.4]), 1e6)
        (tensor(4.), tensor(0.4000))
    """
    p = as_p(p)
    if not isinstance(x, Tensor) or not (x.is_floating_point() or x.is_complex()):
        given = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a floating-point tensor, got {given}; use torch.as_tensor(x)")
    if math.isinf(p) or x.numel() == 0:
        return torch.linalg.vector_norm(x, ord=p)
    m = torch.linalg.vector_norm(x, ord=math.inf)
    if not (bool(torch.isfinite(m)) and float(m) > 0):  # 0, or NaN/inf entries: as they are
        return torch.linalg.vector_norm(x, ord=p)
    return m * torch.linalg.vector_norm(x / m, ord=p)


def _lmo_flat(g: Tensor, p: float, radius: float) -> Tensor:
    """LMO of the ball ``||s||_p <= radius`` for a 1-D gradient ``g`` (p already normalized)."""
    if g.numel() == 0:
        return torch.zeros_like(g)
    gmax = g.abs().max()
    gmax_value = float(gmax)
    if not math.isfinite(gmax_value):  # NaN would otherwise read as "below tiny": s = 0
        raise ValueError(
            "grad must be finite, got NaN or inf entries; the LMO of a non-finite gradient is "
            "undefined (FrankWolfe cancels such a step: see its nonfinite option)"
        )
    # below this the gradient is treated as exactly zero: s = 0 is optimal and finite
    if not gmax_value > torch.finfo(g.dtype).tiny:
        return torch.zeros_like(g)
    if p == 1.0:
        i = int(torch.argmax(g.abs()))  # first index among ties
        s = torch.zeros_like(g)
        s[i] = -radius * torch.sign(g[i])
        return s
    if math.isinf(p):
        return torch.sign(g).mul_(-radius)
    if p == 2.0:
        scaled = g / gmax  # scaling first avoids overflow of the squares
        return scaled.mul_(-radius / torch.linalg.vector_norm(scaled))
    q = p / (p - 1.0)
    a = (g.abs() / gmax).pow_(q - 1.0)  # |g_i|^{q-1}, up to the common factor gmax^{q-1}
    # ||g||_q^{q-1} up to the same factor: (sum |g_i|^q)^{(q-1)/q}
    denom = torch.linalg.vector_norm(g / gmax, ord=q).pow(q - 1.0)
    return a.mul_(torch.sign(g)).mul_(-radius / denom)


def lmo(grad: Tensor, p: float | str, radius: float) -> Tensor:
    r"""The minimizer of :math:`\langle s, g\rangle` over :math:`\|s\|_p \le \text{radius}`.

    The ball covers the **whole tensor** seen as one vector (not rows or columns).

    Args:
        grad: the gradient :math:`g`, any shape, floating point.
        p: norm exponent in ``[1, inf]``; ``math.inf`` or ``"inf"`` for the max-norm ball.
        radius: the radius :math:`\delta > 0`.

    Returns:
        ``s`` with the shape and dtype of ``grad``, :math:`\|s\|_p \le \text{radius}` and
        :math:`\langle s, g\rangle = -\text{radius}\,\|g\|_q`. A zero gradient gives zeros.

    Example:
        >>> g = torch.tensor([1.0, -2.0, 2.0])
        >>> s = lmo(g, p=3, radius=1.0)
        >>> round(float(lp_norm(s, 3)), 6), round(float(s @ g), 4)
        (1.0, -3.5387)
    """
    p = as_p(p)
    r = nonnegative_float("radius", radius)
    if not isinstance(grad, Tensor):
        raise ValueError(f"grad must be a torch.Tensor, got {type(grad).__name__}")
    if not grad.is_floating_point():
        raise ValueError(
            f"grad must be a real floating-point tensor, got {grad.dtype}; convert it with "
            ".float() (a complex gradient: torch.view_as_real(grad))"
        )
    return _lmo_flat(grad.reshape(-1), p, r).view_as(grad)


def lmo_global(grads: Sequence[Tensor], p: float | str, radius: float) -> list[Tensor]:
    r"""The LMO of one ball over the concatenation of ``grads`` (the paper's whole-vector ball).

    Equivalent to ``lmo(torch.cat([g.flatten() for g in grads]), p, radius)`` split back
    into the shapes of ``grads``.

    Example:
        >>> s = lmo_global([torch.tensor([3.0]), torch.tensor([[4.0]])], p=2, radius=1.0)
        >>> [t.tolist() for t in s]
        [[-0.6000000238418579], [[-0.800000011920929]]]
    """
    if isinstance(grads, Tensor):  # iterating it would give its rows, one ball each: wrong
        raise ValueError(
            f"grads must be a list of tensors, got one tensor of shape {tuple(grads.shape)}; "
            "pass [grad] for one tensor, or call lmo(grad, p, radius)"
        )
    grads = list(grads)
    if not grads:
        return []
    flat = torch.cat([g.reshape(-1) for g in grads])
    s = lmo(flat, p, radius)
    # torch.cat promotes mixed dtypes: each piece goes back to its gradient's dtype
    return [t.view_as(g).to(g.dtype) for t, g in zip(s.split([g.numel() for g in grads]), grads)]
