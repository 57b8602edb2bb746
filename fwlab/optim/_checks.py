"""The optimizers' own argument checks (a tensor lr, Adam's betas, the closure, the params),
beside the rules of :mod:`fwlab.util.validate` that :mod:`fwlab.optim` shares with the rest of
fwlab.

Each check refuses what does not fit with a ``ValueError`` that starts with the argument's name,
says the rule and what was given, and returns the value in the form the optimizer stores in its
param groups: a Python ``float`` (so a state dict holds plain numbers and loads with
``torch.load(weights_only=True)``), except a tensor lr, which stays the tensor it was (LR
schedulers update it in place, as for torch's own optimizers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from fwlab.util.validate import as_real, nonnegative_float, refusal


def lr(value: Any) -> float | Tensor:
    """The learning rate: a finite number ``>= 0`` (:func:`fwlab.util.validate.nonnegative_float`),
    or a 1-element tensor holding one."""
    if isinstance(value, Tensor) and value.numel() != 1:
        raise ValueError(
            f"Tensor lr must be 1-element, got a tensor of shape {tuple(value.shape)}; "
            "pass a number or a 1-element tensor"
        )
    x = nonnegative_float("lr", value)
    return value if isinstance(value, Tensor) else x


def betas(value: Any) -> tuple[float, float]:
    """Adam's ``(beta1, beta2)``, each in ``[0, 1)``."""
    pair = value if isinstance(value, (tuple, list)) and len(value) == 2 else (None, None)
    b1, b2 = (as_real(b) for b in pair)
    if b1 is None or b2 is None or not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
        raise refusal("betas", "a pair of numbers in [0, 1)", value, "(0.9, 0.999)")
    return (b1, b2)


def closure(value: Any) -> None:
    """``step``'s closure: a callable or None (a common slip passes the loss itself)."""
    if value is not None and not callable(value):
        raise ValueError(
            f"closure must be a function that zeroes the grads, computes the loss, calls "
            f"backward() and returns the loss (or None), got {type(value).__name__}; to step "
            "from gradients already computed, call loss.backward() and then step() without "
            "arguments"
        )


def saved_groups(groups: Any, defaults: dict[str, Any], validate: Callable[[dict], None]) -> None:
    """Refuse a state dict's param groups whose hyperparameters (over ``defaults``) ``validate``
    refuses, naming the group, before ``load_state_dict`` changes anything."""
    for i, saved in enumerate(groups if isinstance(groups, list) else ()):
        trial = {**defaults, **{k: v for k, v in dict(saved).items() if k != "params"}}
        try:
            validate(trial)
        except ValueError as err:
            raise ValueError(f"state_dict param group {i}: {err}") from None


def params_given(value: Any, optimizer: str) -> None:
    """Refuse a module passed where its parameters are meant (torch would iterate its
    submodules and complain about them instead)."""
    if isinstance(value, torch.nn.Module):
        raise TypeError(
            f"params must be an iterable of parameters or of param-group dicts, got the module "
            f"{type(value).__name__}; pass {optimizer}(model.parameters(), ...)"
        )


def real_params(params: list[Tensor], optimizer: str) -> None:
    """Refuse complex (or integer) parameters, naming the first one and the fix."""
    for i, prm in enumerate(params):
        if not prm.is_floating_point():
            raise ValueError(
                f"params must be real floating-point tensors, got a {prm.dtype} tensor of "
                f"shape {tuple(prm.shape)} (position {i} of its group); {optimizer} has no "
                "LMO for complex numbers: optimize torch.view_as_real(p) as a real parameter"
            )
