"""The model, optimizer and LR scheduler of a run, from a ``Method`` and a ``TrainConfig``."""

from __future__ import annotations

import threading
from typing import Any

import torch
from torch import nn

from fwlab.data.sequence_data import SequenceData
from fwlab.models import SequenceModel
from fwlab.optim import FrankWolfe, NormalizedAdam
from fwlab.train.config import TrainConfig
from fwlab.train.losses import _output_size, loss_kind
from fwlab.train.methods import Method

#: Held while torch's global RNG is seeded and then drawn from as one unit (a model's
#: initialisation; a run reseeding its dropout stream), so that a run starting in a background
#: thread cannot reseed it in the middle of another model's initialisation.
TORCH_RNG_LOCK = threading.Lock()


def build_model(method: Method, data: SequenceData, config: TrainConfig) -> SequenceModel:
    """The model of ``method`` for ``data``, initialised from ``config.seed``.

    Thread-safe with respect to other :func:`build_model` calls and to runs starting in other
    threads (both hold :data:`TORCH_RNG_LOCK`).
    """
    kind = loss_kind(config, data)
    extra: dict[str, Any] = {}
    if method.cell == "indrnn":
        extra["seq_len_hint"] = data.seq_len
    with TORCH_RNG_LOCK:
        torch.manual_seed(config.seed)
        model = SequenceModel(
            method.cell,
            data.input_size,
            config.hidden_size,
            _output_size(kind, data),
            num_layers=method.num_layers,
            batch_norm=method.batch_norm,
            dropout=method.dropout,
            **extra,
        )
    return model.to(config.device)


def _param_groups(model: nn.Module, method: Method) -> list[dict[str, Any]]:
    """Weight decay on everything, or, for IndRNN, on matrices only (not u, biases, BN)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not method.weight_decay:
        return [{"params": params}]
    if method.cell != "indrnn":
        return [{"params": params, "weight_decay": method.weight_decay}]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    return [
        {"params": decay, "weight_decay": method.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, method: Method, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam, NormalizedAdam, or FrankWolfe with the method's K, p, scope and outer step;
    δ = lr unless set."""
    groups = _param_groups(model, method)
    if method.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    if method.optimizer == "normalized_adam":
        return NormalizedAdam(groups, lr=config.lr)
    delta = config.delta if config.delta is not None else config.lr
    return FrankWolfe(
        groups,
        lr=config.lr,
        delta=delta,
        K=method.K,
        p=method.p,
        scope=method.scope,
        outer=method.outer,
    )


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> Any:
    """``StepLR`` every ``config.lr_step`` epochs by ``config.lr_gamma``, or ``None`` when off."""
    if not config.lr_step:
        return None
    return torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=config.lr_step, gamma=config.lr_gamma
    )
