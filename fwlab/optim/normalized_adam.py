r"""Adam on per-tensor normalized gradients: the baseline that isolates what Frank-Wolfe adds.

Frank-Wolfe with K = 1, p = 2, one ball per tensor and the Adam outer step is exactly Adam fed
with :math:`g/\|g\|_2` per tensor. This module writes that algorithm down on its own (no LMO,
no trust region, a plain per-tensor loop) so that the two can be compared: any difference
between them in an experiment comes from K > 1 or another p, not from the normalization.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from fwlab.optim import _checks
from fwlab.util.validate import boolean, nonnegative_float, positive_float

__all__ = ["NormalizedAdam", "normalized"]


def normalized(grad: Tensor) -> Tensor:
    r""":math:`g / \|g\|_2` over the whole tensor; zeros for a zero gradient (never 0/0).

    The gradient is divided by its largest entry first, so that neither the squares of tiny
    entries underflow nor those of huge ones overflow.

    Example:
        >>> normalized(torch.tensor([3.0, -4.0]))
        tensor([ 0.6000, -0.8000])
        >>> normalized(torch.zeros(2))
        tensor([0., 0.])
    """
    scale = grad.abs().amax() if grad.numel() else grad.new_zeros(())
    if not bool(scale > 0):
        return torch.zeros_like(grad)
    unit = grad / scale
    return unit / torch.linalg.vector_norm(unit)


class NormalizedAdam(Optimizer):
    r"""Adam whose gradient is normalized per parameter tensor.

    .. math::
       \begin{aligned}
       &u_t = g_t / \|g_t\|_2 + \lambda\,\omega_{t-1}
            \quad (u_t = \lambda\omega_{t-1}\ \text{if}\ g_t = 0;
            \ g_t \to -g_t\ \text{with maximize}) \\
       &m_t = \beta_1 m_{t-1} + (1 - \beta_1) u_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) u_t^2 \\
       &\omega_t = \omega_{t-1} - \eta\, \frac{m_t / (1 - \beta_1^t)}
                                       {\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}
       \end{aligned}

    The norm :math:`\|g_t\|_2` is taken over each parameter tensor as one vector. It equals
    :class:`fwlab.optim.FrankWolfe` with ``K=1, p=2, scope="tensor", outer="adam"`` (whose
    pseudo-gradient :math:`-\Delta\omega_1/\delta = g/\|g\|_2` does not depend on δ), but shares
    no code with it, so that it can serve as an independent baseline.

    Args:
        params: iterable of parameters or of dicts defining parameter groups.
        lr: :math:`\eta` (a finite number ``>= 0``).
        betas: :math:`(\beta_1, \beta_2)`, each in ``[0, 1)``.
        eps: :math:`\epsilon` (``> 0``).
        weight_decay: L2 penalty :math:`\lambda` added to the normalized gradient (``>= 0``).
        maximize: maximize the objective instead of minimizing it.

    Every hyperparameter lives in ``param_groups`` and is read at every step; a parameter's
    state holds ``step`` (an int), ``exp_avg`` (:math:`m`) and ``exp_avg_sq`` (:math:`v`).
    Parameters whose ``.grad`` is ``None`` are skipped.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([3.0, -4.0]))
        >>> opt = NormalizedAdam([w], lr=0.1)
        >>> w.grad = 1000 * w.detach()  # only the direction counts
        >>> opt.step()
        >>> w.data  # Adam's first step: lr times the sign of u
        tensor([ 2.9000, -3.9000])
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        _validate(defaults)
        _checks.params_given(params, "NormalizedAdam")
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        try:
            _validate(self.param_groups[-1])
            _checks.real_params(self.param_groups[-1]["params"], "NormalizedAdam")
        except ValueError:
            self.param_groups.pop()
            raise

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict saved by :meth:`state_dict`; one with invalid hyperparameters is
        refused with a ``ValueError`` naming the group before anything is changed."""
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        _checks.saved_groups(groups, self.defaults, _validate)
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            _validate(group)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor | float] | None = None) -> Tensor | float | None:
        """One update from the gradients in ``.grad`` (computed by ``closure`` if given)."""
        _checks.closure(closure)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2) = float(group["lr"]), group["betas"]
            for prm in group["params"]:
                if prm.grad is None:
                    continue
                if prm.grad.is_sparse:
                    raise RuntimeError("NormalizedAdam does not support sparse gradients")
                grad = -prm.grad if group["maximize"] else prm.grad
                u = normalized(grad)
                if group["weight_decay"]:
                    u = u + group["weight_decay"] * prm
                st = self.state[prm]
                if not st:
                    st["step"] = 0
                    st["exp_avg"] = torch.zeros_like(prm)
                    st["exp_avg_sq"] = torch.zeros_like(prm)
                st["step"] = t = int(st["step"]) + 1
                st["exp_avg"].mul_(beta1).add_(u, alpha=1 - beta1)
                st["exp_avg_sq"].mul_(beta2).addcmul_(u, u, value=1 - beta2)
                m_hat = st["exp_avg"] / (1 - beta1**t)
                v_hat = st["exp_avg_sq"] / (1 - beta2**t)
                prm.sub_(lr * m_hat / (v_hat.sqrt() + group["eps"]))
        return loss


def _validate(group: dict[str, Any]) -> None:
    """Check a param group's hyperparameters (at construction, add_param_group and
    load_state_dict, as torch.optim does; not at every step) and store them as plain values."""
    group["lr"] = _checks.lr(group["lr"])
    group["betas"] = _checks.betas(group["betas"])
    group["eps"] = positive_float("eps", group["eps"])
    group["weight_decay"] = nonnegative_float("weight_decay", group["weight_decay"])
    group["maximize"] = boolean("maximize", group["maximize"])
