"""Additive Gaussian noise on a task's inputs (train and test), as Noisy-HAR-2 does."""

from __future__ import annotations

import dataclasses

import torch
from torch.utils.data import TensorDataset

from fwlab.data.sequence_data import SequenceData
from fwlab.util.validate import nonnegative_float

__all__ = ["with_noise"]


def with_noise(
    data: SequenceData, std: float, *, seed: int = 0, name: str | None = None
) -> SequenceData:
    r"""``data`` with noise :math:`x + \epsilon`, :math:`\epsilon \sim N(0, \text{std}^2)`.

    The noise is drawn once from ``seed`` (train and test from independent streams), so the
    noisy task is fixed; the authors' Noisy-HAR-2 code uses std 2 on normalized inputs.

    Example:
        >>> from fwlab.data import load_task
        >>> d = with_noise(load_task("adding", seq_len=5, n_train=4, n_test=2), 0.5, seed=1)
        >>> d.name, d.info["noise_std"]
        ('adding+noise', 0.5)
    """
    std = nonnegative_float("std", std)
    g = torch.Generator().manual_seed(seed)

    def noisy(ds: TensorDataset) -> TensorDataset:
        x, y = ds.tensors
        return TensorDataset(x + std * torch.randn(x.shape, generator=g, dtype=x.dtype), y)

    info = {**dict(data.info), "noise_std": float(std), "noise_seed": seed}
    return dataclasses.replace(
        data,
        name=name or f"{data.name}+noise",
        train=noisy(data.train),
        test=noisy(data.test),
        info=info,
    )
