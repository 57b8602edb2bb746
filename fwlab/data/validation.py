r"""A seeded validation split taken out of a task's training set.

The paper reports the best *test* accuracy seen during training, which selects the checkpoint on
the test set. :func:`with_validation` holds out ``n_valid`` training samples (class proportions
kept for integer labels, a uniform choice otherwise) so that a run can also report the test value
at the evaluation with the best *validation* value (:func:`fwlab.train.fit` does when
``data.valid`` is set). The held-out samples are removed from ``train``: the two sets are
disjoint and together are the original training set.

Example:
    >>> from fwlab.data import load_task
    >>> d = with_validation(load_task("adding", seq_len=10, n_train=100, n_test=20), 25, seed=0)
    >>> len(d.train), len(d.valid), len(d.test), d.info["n_valid"]
    (75, 25, 20, 25)
"""

from __future__ import annotations

import dataclasses

import torch
from torch.utils.data import TensorDataset

from fwlab.data.sequence_data import SequenceData, stratified_indices
from fwlab.util.validate import in_range, int_at_least, int_in_range

__all__ = ["with_validation", "validation_indices", "validation_size"]


def validation_size(n_train: int, fraction: float = 0.1) -> int:
    """How many of ``n_train`` samples to hold out: ``round(fraction * n_train)``, at least 1
    and leaving at least 1 for training.

    Example:
        >>> validation_size(4000), validation_size(40), validation_size(5)
        (400, 4, 1)
    """
    n_train = int_at_least("n_train", n_train, 2)  # one to train on, one held out
    fraction = in_range("fraction", fraction, 0, 1, low_open=True, high_open=True)
    return min(max(1, round(fraction * n_train)), n_train - 1)


def validation_indices(y: torch.Tensor, n_valid: int, seed: int = 0) -> torch.Tensor:
    """The sorted indices of the ``n_valid`` held-out samples of labels/targets ``y``.

    Integer class labels ``(N,)``: stratified (:func:`fwlab.data.sequence_data.stratified_indices`);
    otherwise a seeded uniform choice without replacement.

    Example:
        >>> validation_indices(torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]), 2, seed=0).tolist()
        [0, 4]
    """
    n = len(y)
    n_valid = int_in_range("n_valid", n_valid, 1, n - 1)  # the training set keeps at least one
    if y.dtype == torch.int64 and y.dim() == 1:
        return stratified_indices(y, n_valid, seed)
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[:n_valid].sort().values


def with_validation(data: SequenceData, n_valid: int, *, seed: int = 0) -> SequenceData:
    """``data`` with ``n_valid`` training samples moved into ``data.valid`` (seeded).

    Args:
        data: a task without a validation split (``data.valid is None``).
        n_valid: how many training samples to hold out, ``1 <= n_valid < len(data.train)``.
        seed: seeds the choice (the same seed gives the same split).

    Raises:
        ValueError: ``data`` already has a validation split, or ``n_valid`` is out of range.
    """
    if data.valid is not None:
        raise ValueError(
            f"data {data.name!r} already has a validation split of {len(data.valid)} samples; "
            "call with_validation on the task as loaded"
        )
    x, y = data.train.tensors
    idx = validation_indices(y, n_valid, seed)
    keep = torch.ones(len(x), dtype=torch.bool)
    keep[idx] = False
    info = {**dict(data.info), "n_valid": len(idx), "valid_seed": seed}
    return dataclasses.replace(
        data,
        train=TensorDataset(x[keep], y[keep]),
        valid=TensorDataset(x[idx], y[idx]),
        info=info,
    )
