"""One rule per hyperparameter, shared by the optimizers of :mod:`fwlab.optim`.

Each check takes the value a user gave (a Python number, a numpy scalar, a 0-d or 1-element
tensor), refuses what does not fit with a ``ValueError`` that starts with the argument's name,
says the rule and what was given, and returns the value in the form the optimizer stores in its
param groups: a Python ``float``/``int``/``bool`` (so a state dict holds plain numbers and loads
with ``torch.load(weights_only=True)``), except a tensor lr, which stays the tensor it was (LR
schedulers update it in place, as for torch's own optimizers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from fwlab.checks import as_real, check_int


def real(name: str, value: Any, rule: str, ok: Callable[[float], bool]) -> float:
    """A finite real number satisfying ``ok``; the message reads ``{name} must be {rule}``."""
    x = as_real(value)
    if x is None or not math.isfinite(x) or not ok(x):
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return x


def lr(value: Any) -> float | Tensor:
    """The learning rate: a finite number ``>= 0``, or a 1-element tensor holding one."""
    if isinstance(value, Tensor) and value.numel() != 1:
        raise ValueError(
            f"Tensor lr must be 1-element, got a tensor of shape {tuple(value.shape)}; "
            "pass a number or a 1-element tensor"
        )
    x = real("lr", value, "a finite number >= 0", lambda v: v >= 0.0)
    return value if isinstance(value, Tensor) else x


def delta(value: Any, name: str = "delta") -> float:
    """A trust-region radius: a finite number ``> 0``."""
    return real(name, value, "a finite number > 0", lambda v: v > 0.0)


def eps(value: Any) -> float:
    return real("eps", value, "a finite number > 0", lambda v: v > 0.0)


def weight_decay(value: Any) -> float:
    return real("weight_decay", value, "a finite number >= 0", lambda v: v >= 0.0)


def betas(value: Any) -> tuple[float, float]:
    """Adam's ``(beta1, beta2)``, each in ``[0, 1)``."""
    rule = "a pair of numbers in [0, 1)"
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"betas must be {rule}, got {value!r}")
    b1, b2 = (as_real(b) for b in value)
    if b1 is None or b2 is None or not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
        raise ValueError(f"betas must be {rule}, got {value!r}")
    return (b1, b2)


def integer(name: str, value: Any, minimum: int) -> int:
    """An integer ``>= minimum``: :func:`fwlab.checks.check_int`'s rule, plus 1-element integer
    tensors."""
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = value.item() if value.dtype != torch.bool else True  # bool: refused below
    return check_int(name, value, minimum)


def choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def closure(value: Any) -> None:
    """``step``'s closure: a callable or None (a common slip passes the loss itself)."""
    if value is not None and not callable(value):
        raise ValueError(
            f"closure must be a function that zeroes the grads, computes the loss, calls "
            f"backward() and returns the loss (or None), got {type(value).__name__}; to step "
            "from gradients already computed, call loss.backward() and then step() without "
            "arguments"
        )


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
