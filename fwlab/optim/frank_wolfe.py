r"""The Frank-Wolfe trust-region optimizer of Yue, Li, Saligrama & Zhang (ICPR 2020).

The class is thin: it reads every hyperparameter from ``param_groups`` at every step and
delegates the arithmetic to the pure functions of this module (``_lmo_tensors``,
``_fw_average_``, ``_outer_sgd_``) and to :func:`torch.optim.adam.adam` for the outer Adam step.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.adam import adam as _adam

from fwlab.optim import _checks
from fwlab.optim.interrupt import DeferredInterrupt
from fwlab.optim.lmo import lmo, lmo_global
from fwlab.util.validate import (
    as_real,
    boolean,
    nonnegative_float,
    one_of,
    p_exponent,
    positive_float,
    positive_int,
)

__all__ = ["FrankWolfe", "NonFiniteError"]

SCOPES = ("tensor", "global")
OUTERS = ("sgd", "adam")
_NONFINITE = ("raise", "skip")
# keys that live in a parameter's state only while an outer step is under way
_TRANSIENT = ("omega", "dw", "g0")
# the same for the group's counters (kept in the state of the group's first parameter): the
# inner counter, the loss at omega, the diagnostics, and the radius, lr, K, p and scope the
# step began with (held for the whole outer step, whoever changes the group meanwhile)
# (scope as a bool, fw_global: torch's load_state_dict rebuilds a str in the state as an iterable)
_TRANSIENT_GROUP = ("fw_k", "fw_loss", "fw_diag_t", "fw_delta", "fw_lr", "fw_K", "fw_p",
                    "fw_global")  # fmt: skip
# FrankWolfe's hyperparameters: the keys of every param group (torch adds "differentiable" to
# self.defaults, which FrankWolfe does not use and its groups do not hold)
_HYPERPARAMETERS = ("lr", "delta", "K", "p", "scope", "outer", "betas", "eps", "weight_decay",
                    "tie_delta_to_lr", "maximize", "nonfinite")  # fmt: skip


class NonFiniteError(FloatingPointError):
    """A loss or gradient met during a Frank-Wolfe step was NaN or infinite.

    The outer step in progress was cancelled: parameters and optimizer state are
    bit-identical to what they were before it began.
    """


def _validate_group(group: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the first invalid hyperparameter of a param group; store the
    valid ones as plain Python values (a tensor lr stays a tensor)."""
    group["lr"] = _checks.lr(group["lr"])
    group["delta"] = positive_float("delta", group["delta"])
    group["K"] = positive_int("K", group["K"])
    group["p"] = p_exponent("p", group["p"])
    group["scope"] = one_of("scope", group["scope"], SCOPES)
    group["outer"] = one_of("outer", group["outer"], OUTERS)
    group["betas"] = _checks.betas(group["betas"])
    group["eps"] = positive_float("eps", group["eps"])
    group["weight_decay"] = nonnegative_float("weight_decay", group["weight_decay"])
    for name in ("tie_delta_to_lr", "maximize"):
        group[name] = boolean(name, group[name])
    group["nonfinite"] = one_of("nonfinite", group["nonfinite"], _NONFINITE)


def _check_adam_eps(group: dict[str, Any]) -> None:
    """Adam's eps must not round to 0 in the parameters' dtype (1e-8 does in float16): Adam
    would divide by zero where a pseudo-gradient entry is tiny and write inf into them."""
    if group["outer"] != "adam":
        return
    for prm in group["params"]:
        if prm.is_floating_point() and group["eps"] < torch.finfo(prm.dtype).tiny:
            raise ValueError(
                f"eps must be >= {torch.finfo(prm.dtype).tiny:.3g} for {prm.dtype} parameters "
                f"with outer='adam', got {group['eps']!r} (it rounds to 0 there and Adam divides "
                "by zero); pass eps=1e-4, or keep the parameters in float32"
            )


def effective_delta(group: dict[str, Any]) -> float:
    r"""The radius :math:`\delta_t` used at this step.

    With ``tie_delta_to_lr`` it is :math:`\delta_0 \cdot \eta_t / \eta_0`, where
    :math:`\eta_0` is ``group["initial_lr"]`` (the lr the group was created with, the same key
    LR schedulers use), so a scheduler shrinks the trust region with the learning rate.
    """
    delta = float(group["delta"])
    lr0 = float(group.get("initial_lr", group["lr"]))
    if group["tie_delta_to_lr"] and lr0 > 0:
        delta *= float(group["lr"]) / lr0
    return delta


def _lmo_tensors(
    grads: list[Tensor], p: float, radius: float, scope: str, norms: Tensor | None = None
) -> list[Tensor]:
    """LMO of one ball per tensor (``scope="tensor"``) or one ball over all (``"global"``).

    ``norms`` may hold the ℓ2 norm of each gradient (the non-finite check computes them), so
    that p = 2 costs one multiplication per tensor.
    """
    if scope == "global":
        return lmo_global(grads, p, radius)
    if p == 2.0:
        if norms is None:
            norms = torch.stack(torch._foreach_norm(grads, 2.0))
        # below sqrt(tiny) the squares in ||g|| may have underflowed (||g|| reads 0 or too
        # small for a nonzero g): such tensors take the scaled path of ``lmo``
        small = norms < math.sqrt(torch.finfo(norms.dtype).tiny)
        finite, any_small = torch.stack([torch.isfinite(norms).all(), small.any()]).tolist()
        if finite:
            # s = -radius * g / ||g||, with a zero gradient mapped to zero (never 0/0)
            scales = norms.clamp_min(torch.finfo(norms.dtype).tiny).reciprocal().mul_(-radius)
            s = list(torch._foreach_mul(grads, list(scales.unbind())))
            if any_small:
                for i in small.nonzero().flatten().tolist():
                    s[i] = lmo(grads[i], p, radius)
            return s
    elif math.isinf(p):
        s = torch._foreach_sign(grads)
        torch._foreach_mul_(s, -radius)
        return s
    return [lmo(g, p, radius) for g in grads]


def _grad_norms(grads: list[Tensor]) -> tuple[Tensor, bool]:
    """The ℓ2 norm of each gradient, and whether every gradient entry is finite.

    A NaN or inf entry makes its tensor's ℓ2 norm non-finite; only then (or when the squares of
    huge finite entries overflow) is the max-norm taken to tell the two cases apart.
    """
    norms = torch.stack(torch._foreach_norm(grads, 2.0))
    if bool(torch.isfinite(norms).all()):
        return norms, True
    maxabs = torch.stack(torch._foreach_norm(grads, math.inf))
    return norms, bool(torch.isfinite(maxabs).all())


def _fw_average_(dw: list[Tensor], s: list[Tensor], k: int) -> None:
    r"""In place :math:`\Delta\omega_k = (1 - 1/k)\Delta\omega_{k-1} + s_k / k` (a lerp)."""
    torch._foreach_lerp_(dw, s, 1.0 / k)


def _flat(tensors: list[Tensor]) -> Tensor:
    """``tensors`` as one vector, in float32 or wider: one reduction over it replaces one per
    tensor, and the diagnostics of float16/bfloat16 parameters neither overflow nor round
    to NaN."""
    if not tensors:
        return torch.zeros(())
    dtype = functools.reduce(torch.promote_types, (t.dtype for t in tensors), torch.float32)
    return torch.cat([t.reshape(-1).to(dtype) for t in tensors])


def _loss_value(loss: Any) -> float:
    """The closure's loss as a float; a clear error for anything that is not one number."""
    value = as_real(loss)
    if value is None:
        shape = f" of shape {tuple(loss.shape)}" if isinstance(loss, Tensor) else ""
        raise ValueError(
            f"the closure must return the loss as a number or a 1-element tensor (or None), "
            f"got {type(loss).__name__}{shape}; reduce it with .mean() or .sum()"
        )
    return value


def _scalar_dtype() -> torch.dtype:
    # the dtype torch.optim.Adam gives its "step" counters
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _outer_sgd_(params: list[Tensor], dw: list[Tensor], *, lr: float, weight_decay: float) -> None:
    r"""In place :math:`\omega \leftarrow \omega + \eta\,\Delta\omega_K - \eta\lambda\omega`."""
    if weight_decay:
        torch._foreach_mul_(params, 1.0 - lr * weight_decay)
    torch._foreach_add_(params, dw, alpha=lr)


class FrankWolfe(Optimizer):
    r"""Frank-Wolfe trust-region optimizer (Algorithm 1 of Yue et al., ICPR 2020).

    .. math::
       \begin{aligned}
       &\textbf{input}: \omega_0,\ \eta\ (\text{lr}),\ \delta,\ K,\ p \\
       &\textbf{for}\ t = 1, 2, \dots \\
       &\quad \Delta\omega_{t,0} = 0 \\
       &\quad \textbf{for}\ k = 1..K \\
       &\qquad s_{t,k} = \operatorname*{argmin}_{\|s\|_p \le \delta_t}
                         \langle s, \nabla F(\omega_{t-1} + \Delta\omega_{t,k-1}) \rangle \\
       &\qquad \Delta\omega_{t,k} = (1 - \tfrac1k)\,\Delta\omega_{t,k-1} + \tfrac1k\, s_{t,k} \\
       &\quad \omega_t = \omega_{t-1} + \eta\, \Delta\omega_{t,K}
         \quad (\texttt{outer="sgd"})
       \end{aligned}

    The 1/k average keeps every :math:`\Delta\omega_{t,k}` inside the ball (a convex
    combination of points of a convex set), so each outer move has p-norm at most
    :math:`\eta\delta_t`. With K = 1 and p = 2 the step is normalized gradient descent of
    length :math:`\eta\delta`.

    Args:
        params: iterable of parameters or of dicts defining parameter groups.
        lr: :math:`\eta`, the outer step size: a finite number ``>= 0``, or a 1-element tensor
            (kept as given, as torch's optimizers do; LR schedulers update it in place and
            ``initial_lr`` is a copy).
        delta: :math:`\delta`, the trust-region radius (a finite number ``> 0``).
        K: inner Frank-Wolfe iterations per outer step (integer ``>= 1``).
        p: norm of the ball, in ``[1, inf]``; ``math.inf`` or ``"inf"`` for the max-norm.
        scope: ``"tensor"``: one ball of radius δ per parameter tensor (the authors' code);
            ``"global"``: one ball over the concatenation of the group's tensors (the paper).
        outer: ``"sgd"``: :math:`\omega \leftarrow \omega + \eta\Delta\omega_K` (Algorithm 1);
            ``"adam"``: an Adam step on the pseudo-gradient :math:`-\Delta\omega_K/\delta`
            (the authors' code; it moves along :math:`+\Delta\omega`).
        betas, eps: Adam's coefficients (``outer="adam"`` only).
        weight_decay: L2 penalty :math:`\lambda` added to the pseudo-gradient of the outer step
            (``-\Delta\omega_K/\delta + \lambda\omega`` for Adam, as in the authors' code;
            ``-\Delta\omega_K + \lambda\omega`` for sgd).
        tie_delta_to_lr: use :math:`\delta_t = \delta\,\eta_t/\eta_0` so that an LR scheduler
            shrinks the trust region with the learning rate, as the paper does.
        maximize: maximize the objective instead of minimizing it.
        nonfinite: ``"raise"`` a :class:`NonFiniteError` or ``"skip"`` (warn) when a loss or
            gradient is NaN/inf; either way the outer step of every group is cancelled and
            every parameter and state tensor is left bit-identical to before it. Per group: a
            non-finite loss concerns every group, a non-finite gradient the groups it belongs
            to; the step raises unless all groups concerned say ``"skip"``.

    Numbers may be given as Python or numpy scalars or 1-element tensors; they are stored in
    ``param_groups`` as plain Python numbers (except a tensor lr), so a state dict loads with
    ``torch.load(weights_only=True)``. Parameters must be real floating point; with
    ``outer="adam"`` and float16 parameters, eps must not round to 0 there (use 1e-4).

    Two ways to drive it:

    * **closure mode** ``step(closure)``: runs all K inner iterations. Iteration k puts the
      parameters at :math:`\omega + \Delta\omega_{k-1}`, calls the closure under
      ``torch.enable_grad()`` (the closure zeroes the grads, computes the loss, calls
      ``backward`` and returns the loss), takes the LMO of the gradients and updates
      :math:`\Delta\omega`; then the outer update is applied from :math:`\omega`. It returns
      the loss of the first call (at :math:`\omega`). A closure may draw a fresh batch at
      each call (stochastic Frank-Wolfe, as in the authors' code) or reuse one.
    * **streaming mode** ``step()``: one inner iteration per call, from the gradients just
      computed; the outer update happens at the K-th call. Between calls the parameters hold
      the shifted point :math:`\omega + \Delta\omega_k`, so the next forward/backward is
      evaluated there and ordinary ``loss.backward(); opt.step()`` loops work unchanged.

    Per-group settings, LR schedulers and ``state_dict`` work as for any torch optimizer: all
    hyperparameters are read from ``param_groups`` at every step. An outer step keeps the
    radius :math:`\delta_t` and the lr it began with for all its inner iterations and its
    outer update, so a scheduler stepped every batch (in the middle of an outer step) cannot
    widen the trust region: every :math:`\|\Delta\omega_{t,k}\|_p \le \delta_t`; its new
    value takes effect at the next outer step.

    If anything raises during an outer step (the closure, ``KeyboardInterrupt`` included, or
    the optimizer), the parameters go back to ω and the state to what it was before the outer
    step; in streaming mode, call :meth:`reset_inner` when your own code fails between
    ``step()`` calls.

    While an outer step is under way (streaming mode), a parameter's state holds ``omega``
    (:math:`\omega`), ``dw`` (:math:`\Delta\omega_k`) and ``g0`` (the gradient at
    :math:`\omega`, K > 1); the group's inner counter ``fw_k``, the radius ``fw_delta`` and lr
    ``fw_lr``, the ``fw_K``, ``fw_p`` and ``fw_global`` (scope) of the step under way (K, p
    and scope are held for the outer step as δ and η are) and its count of outer steps
    ``fw_steps`` live in the state
    of the group's first parameter (as :class:`torch.optim.LBFGS` keeps its counters).

    After each outer step ``optimizer.stats[i]`` describes group i: ``fw_gap`` (the
    Frank-Wolfe gap :math:`\langle \nabla F, \Delta\omega_{K-1} - s_K\rangle \ge 0` of the
    last inner iteration, summed over the balls), ``dw_norm`` (:math:`\|\Delta\omega_K\|_2`),
    ``angle_deg`` (the angle between :math:`\Delta\omega_K` and :math:`-\nabla F(\omega)`; the
    paper's assumption A5 asks for less than 45°), ``delta`` (:math:`\delta_t`), ``lr``,
    ``K``, ``p``, ``step`` and, in closure mode, ``loss``.

    Parameters whose ``.grad`` is ``None`` are skipped; if one had a gradient earlier in the
    same outer step, its missing gradient counts as zero (:math:`s = 0` for it).

    .. note:: Departures of the authors' code (``FGSM`` in ``YunYunY/FW_RNN_optimizer``) from
       Algorithm 1, and how to get each here: per-tensor balls (``scope="tensor"``, the
       default); an Adam outer step on :math:`-\Delta\omega/\delta` (``outer="adam"``); a new
       mini-batch at every inner step (a closure that draws a batch per call, or streaming
       mode). The authors' code evaluates inner gradients at
       :math:`\omega + \sum_{j<k}\Delta\omega_j` instead of :math:`\omega + \Delta\omega_{k-1}`
       (identical for K ≤ 2) and returns NaN for a zero gradient; fwlab follows Algorithm 1
       and returns :math:`s = 0` there.

    Example:
        >>> import torch
        >>> from fwlab.optim import FrankWolfe
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> w = torch.nn.Parameter(torch.tensor([3.0, -4.0]))
        >>> opt = FrankWolfe([w], lr=1.0, delta=0.5, K=1, p=2)
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = (w ** 2).sum()
        ...     loss.backward()
        ...     return loss
        >>> opt.step(closure).item()  # loss at the start; w moves 0.5 against the gradient
        25.0
        >>> w.data
        tensor([ 2.7000, -3.6000])
        >>> round(opt.stats[0]["angle_deg"], 3), opt.stats[0]["dw_norm"]
        (0.0, 0.5)
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        delta: float = 1e-3,
        K: int = 1,
        p: float | str = 2.0,
        *,
        scope: str = "tensor",
        outer: str = "sgd",
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        tie_delta_to_lr: bool = True,
        maximize: bool = False,
        nonfinite: str = "raise",
    ) -> None:
        defaults = dict(
            lr=lr,
            delta=delta,
            K=K,
            p=p,
            scope=scope,
            outer=outer,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            tie_delta_to_lr=tie_delta_to_lr,
            maximize=maximize,
            nonfinite=nonfinite,
        )
        _validate_group(defaults)
        self.stats: list[dict[str, float]] = []
        _checks.params_given(params, "FrankWolfe")
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            _validate_group(group)
            _checks.real_params(group["params"], "FrankWolfe")
            _check_adam_eps(group)
        except ValueError:
            self.param_groups.pop()
            raise
        # a copy: a scheduler updates a tensor lr in place, initial_lr must stay eta_0
        lr = group["lr"]
        group.setdefault("initial_lr", lr.clone() if isinstance(lr, Tensor) else lr)
        self.stats.append({})

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "stats": self.stats}

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("stats", [{} for _ in self.param_groups])

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict saved by :meth:`state_dict` (of this or an earlier fwlab).

        A state dict of another optimizer (its param groups lack ``delta``, ``K``, ...) or with
        invalid hyperparameters is refused with a ``ValueError`` before anything is changed.
        Hyperparameters added to FrankWolfe after the state dict was saved take their
        defaults; an Adam ``step`` saved as a plain number (older checkpoints) becomes a tensor,
        as :class:`torch.optim.Adam` does on load. An optimizer in the middle of a streaming
        outer step abandons it first (as :meth:`reset_inner`: the parameters go back to ω), so
        the loaded state never describes parameters left at the shifted point ω + Δω.
        ``optimizer.state`` may hold entries that are not per-parameter dicts (a load-state-dict
        post-hook's flag, as torch's optimizers allow); they are kept as they are.
        """
        self._check_loadable(state_dict)
        self.reset_inner()
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for key in _HYPERPARAMETERS:  # only FrankWolfe's own: torch adds to self.defaults
                group.setdefault(key, self.defaults[key])
            _validate_group(group)
        for st in self.state.values():
            if isinstance(st, dict) and "step" in st and not torch.is_tensor(st["step"]):
                st["step"] = torch.tensor(float(st["step"]), dtype=_scalar_dtype())
        self.stats = [{} for _ in self.param_groups]

    def _check_loadable(self, state_dict: Any) -> None:
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if not isinstance(groups, list) or "state" not in state_dict:
            raise ValueError(
                "state_dict must be a dict with 'state' and 'param_groups', as "
                f"FrankWolfe.state_dict() returns, got {type(state_dict).__name__}"
                + (f" with keys {sorted(state_dict)}" if isinstance(state_dict, dict) else "")
            )
        if len(groups) != len(self.param_groups) or any(
            not isinstance(saved, dict) or len(saved.get("params", ())) != len(mine["params"])
            for saved, mine in zip(groups, self.param_groups)
        ):
            raise ValueError(
                "state_dict does not fit this optimizer: it holds "
                f"{len(groups)} param group(s) of sizes "
                f"{[len(g.get('params', ())) if isinstance(g, dict) else None for g in groups]}, "
                f"this optimizer {len(self.param_groups)} of sizes "
                f"{[len(g['params']) for g in self.param_groups]}; build the optimizer over "
                "the same parameters (and groups) as the one that saved it"
            )
        for i, saved in enumerate(groups):
            missing = [key for key in ("delta", "K", "p", "outer") if key not in saved]
            if missing:
                raise ValueError(
                    f"state_dict is not a FrankWolfe state dict: its param group {i} has no "
                    f"{', '.join(missing)} (its keys: {', '.join(sorted(map(str, saved)))}); "
                    "it was saved by another optimizer. Load it into that optimizer, or start "
                    "FrankWolfe afresh and load only the model's state dict"
                )
        _checks.saved_groups(groups, self.defaults, _validate_group)

    # ------------------------------------------------------------------ counters
    def _gstate(self, group: dict[str, Any]) -> dict[str, Any]:
        return self.state[group["params"][0]]

    def inner_step(self, group_index: int = 0) -> int:
        """How many inner iterations of the current outer step group ``group_index`` has done
        (0 between outer steps)."""
        n = len(self.param_groups)
        if (
            isinstance(group_index, bool)
            or not isinstance(group_index, int)
            or not -n <= group_index < n
        ):
            raise ValueError(
                f"group_index must be an integer in [0, {n}) (the optimizer has {n} param "
                f"groups), got {group_index!r}"
            )
        first = self.param_groups[group_index]["params"][0]
        return int(self.state.get(first, {}).get("fw_k", 0))

    # ------------------------------------------------------------------ stepping
    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor | float] | None = None) -> Tensor | float | None:
        """Closure mode (all K inner iterations) or, without a closure, one streaming inner
        iteration. See the class docstring.

        Any exception raised during the call abandons the outer step (:meth:`reset_inner`)
        before it propagates. The outer update itself is the commit point: a Ctrl-C that
        arrives while it is applied is delivered right after it, with the step complete.
        """
        _checks.closure(closure)
        if closure is not None:
            self._refuse_mid_streaming()
        try:
            if closure is None:
                self._advance(self.param_groups, loss=None, defer_outer=False)
                return None
            return self._closure_step(closure)
        except BaseException:
            self.reset_inner()
            raise

    def _refuse_mid_streaming(self) -> None:
        busy = [i for i in range(len(self.param_groups)) if self.inner_step(i)]
        if busy:
            i = busy[0]
            raise RuntimeError(
                f"step(closure) was called in the middle of a streaming outer step (param "
                f"group {i} has done {self.inner_step(i)} of its "
                f"K={self._held_K(self.param_groups[i])} inner iterations through step() calls "
                "without a closure; the parameters hold the shifted point omega + dw, not "
                "the iterate omega); finish it with step() calls, or call reset_inner() to "
                "abandon it and put the parameters back at omega"
            )

    def _held_K(self, group: dict[str, Any]) -> int:
        """The group's K: the one the outer step under way began with (a closure or callback
        that changes it mid-step acts from the next outer step), else ``group["K"]``."""
        st = self.state.get(group["params"][0]) or {}
        return int(st.get("fw_K", group["K"]))

    def _closure_step(self, closure: Callable[[], Tensor | float]) -> Tensor | float | None:
        first_loss = None
        k = 1
        while k <= max(self._held_K(g) for g in self.param_groups):
            with torch.enable_grad():
                loss = closure()
            if first_loss is None:
                first_loss = loss
            active = [g for g in self.param_groups if self._held_K(g) >= k]
            if not self._advance(active, loss=loss, defer_outer=True, first_loss=first_loss):
                return first_loss  # non-finite with nonfinite="skip": step cancelled
            k += 1
        with DeferredInterrupt(deliver=True):
            for group in self.param_groups:
                self._outer(group)
        return first_loss

    @contextlib.contextmanager
    def at_omega(self) -> Iterator[None]:
        """Inside this context the parameters hold ω, the point of the outer step under way.

        In streaming mode the parameters sit at ω + Δω_k between calls; evaluate or checkpoint
        a model inside ``with opt.at_omega():`` to see the iterate itself. Between outer steps
        (and with K = 1) it changes nothing. The shifted point is restored on exit.

        Example:
            >>> w = torch.nn.Parameter(torch.tensor([1.0, 0.0]))
            >>> opt = FrankWolfe([w], lr=1.0, delta=0.5, K=2)
            >>> w.grad = torch.tensor([1.0, 0.0]); opt.step()   # inner 1 of 2
            >>> w.data, opt.inner_step()
            (tensor([0.5000, 0.0000]), 1)
            >>> with opt.at_omega():
            ...     w.data
            tensor([1., 0.])
        """
        saved = []
        with torch.no_grad():
            for group in self.param_groups:
                for prm in group["params"]:
                    st = self.state.get(prm)
                    if st and "omega" in st:
                        saved.append((prm, prm.detach().clone()))
                        prm.copy_(st["omega"])
        try:
            yield
        finally:
            with torch.no_grad():
                for prm, value in saved:
                    prm.copy_(value)

    @torch.no_grad()
    def reset_inner(self) -> bool:
        """Abandon the outer step under way; return whether there was one.

        The parameters go back to ω (the iterate the outer step started from) and the step's
        transient state (``omega``, ``dw``, ``g0``, the inner counter and the radius and lr it
        began with) is dropped, so the optimizer state is bit-identical to what it was before
        the outer step's first inner iteration: the next ``step()`` starts a fresh outer step
        from ω. Between outer steps it changes nothing and returns ``False``.

        Call it when user code fails between streaming ``step()`` calls (an exception or
        Ctrl-C in the forward/backward of an inner iteration) to leave the model at ω, for
        example before saving a checkpoint. ``step()`` itself calls it when an exception is
        raised inside it.

        Example:
            >>> w = torch.nn.Parameter(torch.tensor([1.0, 0.0]))
            >>> opt = FrankWolfe([w], lr=1.0, delta=0.5, K=2)
            >>> w.grad = torch.tensor([1.0, 0.0]); opt.step()   # inner 1 of 2
            >>> w.data
            tensor([0.5000, 0.0000])
            >>> opt.reset_inner(), w.data, opt.inner_step()
            (True, tensor([1., 0.]), 0)
            >>> opt.reset_inner()
            False
        """
        busy = any(self.inner_step(i) for i in range(len(self.param_groups)))
        for group in self.param_groups:
            self._rollback(group)
        return busy

    def _rollback(self, group: dict[str, Any]) -> None:
        for prm in group["params"]:
            st = self.state.get(prm)
            if not st:
                continue
            if "omega" in st:
                prm.copy_(st["omega"])
            for key in _TRANSIENT:
                st.pop(key, None)
        gst = self.state.get(group["params"][0])
        if gst is not None:
            for key in _TRANSIENT_GROUP:
                gst.pop(key, None)
        for prm in group["params"]:
            if prm in self.state and not self.state[prm]:
                del self.state[prm]

    def _nonfinite(self, what: str, concerned: Sequence[dict[str, Any]]) -> None:
        """Cancel the outer step of every group; raise unless every group ``concerned`` (those
        whose loss or gradients were non-finite) says ``nonfinite="skip"``."""
        self.reset_inner()
        msg = (
            f"FrankWolfe met a non-finite {what}; the outer step was cancelled and every "
            "parameter and optimizer state is as before it. Lower lr/delta, clip the inputs, "
            "or check the loss for log(0) and division by zero."
        )
        if all(group["nonfinite"] == "skip" for group in concerned):
            warnings.warn(msg, RuntimeWarning, stacklevel=4)
            return
        raise NonFiniteError(msg)

    def _advance(
        self,
        groups: Sequence[dict[str, Any]],
        *,
        loss: Tensor | float | None,
        defer_outer: bool,
        first_loss: Tensor | float | None = None,
    ) -> bool:
        """One inner iteration for each group in ``groups``; False if it was cancelled."""
        if loss is not None and not math.isfinite(_loss_value(loss)):
            self._nonfinite("loss", groups)
            return False
        collected = []
        for group in groups:
            _validate_group(group)
            params, grads = [], []
            for prm in group["params"]:
                g = prm.grad
                if g is None:
                    st = self.state.get(prm)
                    if not st or "dw" not in st:
                        continue
                    g = torch.zeros_like(prm)  # it had a gradient earlier in this outer step
                elif g.is_sparse:
                    raise RuntimeError("FrankWolfe does not support sparse gradients")
                params.append(prm)
                grads.append(g)
            if params:  # a group without any gradient does not advance
                collected.append((group, params, grads))
        all_grads = [g for _, _, gs in collected for g in gs]
        if not all_grads:
            return True
        norms, finite = _grad_norms(all_grads)
        if not finite:
            bad = [group for group, _, grads in collected if not _grad_norms(grads)[1]]
            self._nonfinite("gradient", bad)
            return False
        start, complete = 0, []
        for group, params, grads in collected:
            self._inner(group, params, grads, norms[start : start + len(grads)])
            start += len(grads)
            gst = self._gstate(group)
            if first_loss is not None and "fw_loss" not in gst:
                gst["fw_loss"] = float(first_loss)
            if gst["fw_k"] >= gst["fw_K"] and not defer_outer:
                complete.append(group)
        if complete:
            with DeferredInterrupt(deliver=True):
                for group in complete:
                    self._outer(group)
        return True

    def _inner(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], norms: Tensor
    ) -> None:
        gst = self._gstate(group)
        k = int(gst.get("fw_k", 0)) + 1
        if group["maximize"]:
            grads = torch._foreach_neg(grads)
        if k == 1:  # the radius, lr, K, p and scope of the whole outer step, whoever changes
            # the group meanwhile (a scheduler stepped every batch, a dashboard's slider)
            gst["fw_delta"] = effective_delta(group)
            gst["fw_lr"] = float(group["lr"])
            gst["fw_K"], gst["fw_p"] = int(group["K"]), float(group["p"])
            gst["fw_global"] = group["scope"] == "global"
        K = int(gst["fw_K"])
        delta = gst["fw_delta"]
        scope = "global" if gst["fw_global"] else "tensor"
        s = _lmo_tensors(list(grads), gst["fw_p"], delta, scope, norms)

        states = [self.state[prm] for prm in params]
        if k == 1:  # Δω_1 = s_1: the LMO's output becomes the state, nothing to average
            for prm, st, g, s_i in zip(params, states, grads, s):
                st["dw"] = s_i
                if K > 1:
                    st["omega"] = prm.detach().clone()
                    st["g0"] = g.clone()
            dw = s
        else:
            for prm, st in zip(params, states):
                if "dw" not in st:  # a gradient that appears mid-step: Δω_{k-1} = 0 for it
                    st["dw"] = torch.zeros_like(prm)
                    st["omega"] = prm.detach().clone()
                    st["g0"] = torch.zeros_like(prm)  # its gradient at ω is unknown
            dw = [st["dw"] for st in states]
        if k >= K:  # diagnostics of the last inner iteration; reductions over flat vectors
            g_flat = _flat(grads)
            dw_prev = torch.zeros_like(g_flat) if k == 1 else _flat(dw)
            gap = torch.dot(g_flat, dw_prev - _flat(s))
        if k > 1:
            _fw_average_(dw, s, k)
        gst["fw_k"] = k
        if K > 1:  # evaluate the next gradient at omega + dw_k; after the K-th, back to omega
            torch._foreach_copy_(params, [st["omega"] for st in states])
            if k < K:
                torch._foreach_add_(params, dw)
        if k >= K:
            g0_flat = g_flat if K == 1 else _flat([st["g0"] for st in states])
            dw_flat = _flat(dw)
            diag = [
                gap,
                torch.dot(dw_flat, g0_flat),
                torch.linalg.vector_norm(dw_flat),
                torch.linalg.vector_norm(g0_flat),
            ]
            gst["fw_diag_t"] = torch.stack([d.double() for d in diag])

    def _outer(self, group: dict[str, Any]) -> None:
        """Apply ω ← ω + η Δω_K (or the Adam step) for a group whose inner loop is complete."""
        gst = self._gstate(group)
        if int(gst.get("fw_k", 0)) < self._held_K(group):
            return
        K, p = int(gst.pop("fw_K", group["K"])), float(gst.pop("fw_p", group["p"]))
        gst.pop("fw_global", None)
        params = [prm for prm in group["params"] if "dw" in self.state.get(prm, {})]
        dw = [self.state[prm]["dw"] for prm in params]
        lr = gst.pop("fw_lr", float(group["lr"]))
        delta = gst.pop("fw_delta", effective_delta(group))
        if group["outer"] == "sgd":
            _outer_sgd_(params, dw, lr=lr, weight_decay=float(group["weight_decay"]))
        else:
            _check_adam_eps(group)
            # δ_t = 0 (a tied lr scheduled down to 0) gives Δω = 0: its pseudo-gradient is 0,
            # not 0/0 = NaN
            pseudo = torch._foreach_div(dw, -delta) if delta > 0 else torch._foreach_mul(dw, 0.0)
            exp_avgs, exp_avg_sqs, steps = [], [], []
            for prm in params:
                st = self.state[prm]
                if "exp_avg" not in st:
                    st["step"] = torch.tensor(0.0, dtype=_scalar_dtype())
                    st["exp_avg"] = torch.zeros_like(prm, memory_format=torch.preserve_format)
                    st["exp_avg_sq"] = torch.zeros_like(prm, memory_format=torch.preserve_format)
                exp_avgs.append(st["exp_avg"])
                exp_avg_sqs.append(st["exp_avg_sq"])
                steps.append(st["step"])
            beta1, beta2 = group["betas"]
            _adam(
                params,
                pseudo,
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                amsgrad=False,
                beta1=beta1,
                beta2=beta2,
                lr=lr,
                weight_decay=float(group["weight_decay"]),
                eps=float(group["eps"]),
                maximize=False,
            )
        gap, dot, n_dw, n_g0 = gst.pop("fw_diag_t").tolist()
        denom = n_dw * n_g0
        cos = max(-1.0, min(1.0, -dot / denom)) if denom > 0 else math.nan
        steps_done = int(gst.get("fw_steps", 0)) + 1
        stats = dict(
            fw_gap=gap,
            dw_norm=n_dw,
            angle_deg=math.degrees(math.acos(cos)),
            delta=delta,
            lr=lr,
            K=K,
            p=p,
            step=steps_done,
        )
        if "fw_loss" in gst:
            stats["loss"] = gst.pop("fw_loss")
        for prm in params:
            st = self.state[prm]
            for key in _TRANSIENT:
                st.pop(key, None)
            if not st and prm is not group["params"][0]:
                del self.state[prm]
        del gst["fw_k"]
        gst["fw_steps"] = steps_done
        index = next(i for i, g in enumerate(self.param_groups) if g is group)
        self.stats[index] = stats
