"""``TrainConfig``: the numbers of a run that do not depend on the method, and their checks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fwlab.util.validate import (
    fraction,
    nonnegative_float,
    nonnegative_int,
    one_of,
    optional,
    positive_float,
    positive_int,
)

LOSSES = ("auto", "mse", "ce", "sigmoid_mse")


@dataclass(frozen=True)
class TrainConfig:
    """The numbers of a run that do not depend on the method.

    Attributes:
        hidden_size: units per recurrent layer (paper: 128 MNIST/adding, 80 HAR-2).
        batch_size: mini-batch size.
        lr: the learning rate :math:`\\eta` (Adam's lr for ``outer="adam"``).
        delta: the trust-region radius :math:`\\delta`; ``None`` means ``delta = lr`` as in the
            paper.
        epochs: passes over the training set; ``steps``: stop after this many batches (each
            forward/backward counts one; a TBPTT chunk counts one). At least one must be set;
            with both, the first reached ends the run.
        lr_step, lr_gamma: ``StepLR`` every ``lr_step`` epochs by ``lr_gamma`` (``None``: off);
            Frank-Wolfe's :math:`\\delta` follows the lr (``tie_delta_to_lr``).
        loss: ``"mse"`` (regression), ``"ce"`` (cross-entropy), ``"sigmoid_mse"`` (one sigmoid
            output and MSE against the 0/1 label, the paper's choice for binary tasks) or
            ``"auto"`` (mse for regression, sigmoid_mse for 2 classes, ce otherwise).
        eval_every: also evaluate every this many batches (``None``: at epoch ends only).
        eval_batch_size: batch size of evaluation.
        seed: seeds the model initialisation, the shuffling and dropout.
        checkpoint_every: write ``checkpoint.pt`` every this many batches (and at the end) when
            an output folder is given.
        device: ``"cpu"``, ``"cuda"``, ...
    """

    hidden_size: int = 128
    batch_size: int = 50
    lr: float = 1e-3
    delta: float | None = None
    epochs: int | None = None
    steps: int | None = None
    lr_step: int | None = None
    lr_gamma: float = 0.1
    loss: str = "auto"
    eval_every: int | None = None
    eval_batch_size: int = 1000
    seed: int = 0
    checkpoint_every: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        # the rules of fwlab.util.validate; numbers are stored plain (a numpy integer would not
        # survive the history's JSON)
        def store(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        for name in ("hidden_size", "batch_size", "eval_batch_size"):
            store(name, positive_int(name, getattr(self, name)))
        for name in ("epochs", "steps", "lr_step", "eval_every", "checkpoint_every"):
            store(name, optional(positive_int, name, getattr(self, name)))
        if self.epochs is None and self.steps is None:
            raise ValueError(
                "epochs or steps must be set (how long to train), got neither; pass e.g. steps=100"
            )
        store("lr", nonnegative_float("lr", self.lr))
        store("delta", optional(positive_float, "delta", self.delta))
        store("lr_gamma", fraction("lr_gamma", self.lr_gamma))
        one_of("loss", self.loss, LOSSES)
        store("seed", nonnegative_int("seed", self.seed))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)
