"""The loss of a task (``mse``, ``ce``, ``sigmoid_mse``) and the evaluation of a model with it."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from fwlab.data.sequence_data import SequenceData
from fwlab.train.config import TrainConfig


def loss_kind(config: TrainConfig, data: SequenceData) -> str:
    """The loss actually used: resolves ``"auto"`` and checks the loss fits the task."""
    kind = config.loss
    if kind == "auto":
        if data.task == "regression":
            return "mse"
        return "sigmoid_mse" if data.n_classes == 2 else "ce"
    if data.task == "regression" and kind != "mse":
        raise ValueError(f"loss must be 'mse' or 'auto' for the regression task {data.name!r}")
    if data.task == "classification" and kind == "mse":
        raise ValueError(
            f"loss 'mse' is for regression; use 'sigmoid_mse' or 'ce' for {data.name!r}"
        )
    if kind == "sigmoid_mse" and data.n_classes != 2:
        raise ValueError(f"loss 'sigmoid_mse' needs 2 classes, {data.name!r} has {data.n_classes}")
    return kind


def _output_size(kind: str, data: SequenceData) -> int:
    return int(data.n_classes) if kind == "ce" else 1  # type: ignore[arg-type]


def criterion(kind: str, out: Tensor, y: Tensor) -> Tensor:
    """The training loss of one batch (mean over the batch)."""
    if kind == "mse":
        return F.mse_loss(out, y)
    if kind == "ce":
        return F.cross_entropy(out, y)
    return F.mse_loss(torch.sigmoid(out.squeeze(-1)), y.float())


def _correct(kind: str, out: Tensor, y: Tensor) -> int:
    if kind == "ce":
        return int((out.argmax(-1) == y).sum())
    if kind == "sigmoid_mse":
        return int(((out.squeeze(-1) > 0) == (y > 0)).sum())  # sigmoid(out) > 0.5
    return 0


@torch.no_grad()
def evaluate(
    model: nn.Module, dataset: Any, kind: str, *, batch_size: int = 1000, device: str = "cpu"
) -> dict[str, float]:
    """Mean loss (and accuracy in %, for classification) of ``model`` on ``dataset``."""
    was_training = model.training
    model.eval()
    x_all, y_all = dataset.tensors
    total, correct, n = 0.0, 0, len(x_all)
    for i in range(0, n, batch_size):
        x, y = x_all[i : i + batch_size].to(device), y_all[i : i + batch_size].to(device)
        out = model(x)
        total += float(criterion(kind, out, y)) * len(x)
        correct += _correct(kind, out, y)
    model.train(was_training)
    result = {"loss": total / max(n, 1)}
    if kind != "mse":
        result["acc"] = 100.0 * correct / max(n, 1)
    return result
