r"""SequenceData: the one return type of every fwlab task loader, and helpers shared by them.

Example:
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> d = SequenceData("toy", TensorDataset(torch.zeros(4, 5, 2), torch.tensor([0, 1, 0, 1])),
    ...                  TensorDataset(torch.zeros(2, 5, 2), torch.tensor([1, 0])),
    ...                  task="classification", n_classes=2)
    >>> d.input_size, d.seq_len, d.output_size, len(d.train), len(d.test)
    (2, 5, 2, 4, 2)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from fwlab.util.atomic import atomic_write  # re-exported: the data cache's writer
from fwlab.util.validate import int_at_least, one_of

__all__ = [
    "SequenceData",
    "DataFileError",
    "default_data_root",
    "data_root",
    "check_cache_folder",
    "atomic_write",
    "stratified_indices",
    "standardize_channels",
    "shrink",
    "subset_dataset",
]

TASK_KINDS = ("regression", "classification")


class DataFileError(RuntimeError):
    """A data file on disk is corrupt or truncated; the message names the file and the fix."""


@dataclass(frozen=True, eq=False)
class SequenceData:
    """A task: train and test :class:`TensorDataset` of batch-first sequences.

    Attributes:
        name: the task's name (``"adding"``, ``"pixel_mnist"``, ``"har2"``, ...).
        train, test: ``TensorDataset(x, y)``, ``x`` float32 ``(N, T, F)``; ``y`` float32
            ``(N, 1)`` (regression) or int64 ``(N,)`` (classification).
        task: ``"regression"`` or ``"classification"``.
        n_classes: number of classes (``None`` for regression).
        classes: class names, index = label.
        info: provenance and preprocessing (normalization statistics, seeds, source, ...).
        valid: a validation ``TensorDataset`` held out of the training set (``None``: no
            validation split; see :func:`fwlab.data.with_validation`).

    ``output_size`` is the head size for the natural loss: 1 for regression (MSE), ``n_classes``
    for classification (cross-entropy). The paper trains binary HAR-2 with one sigmoid output
    and MSE instead; a trainer doing that uses ``output_size=1`` and ``y.float()``.
    """

    name: str
    train: TensorDataset
    test: TensorDataset
    task: str
    n_classes: int | None = None
    classes: tuple[str, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)
    valid: TensorDataset | None = None

    def __post_init__(self) -> None:
        one_of("task", self.task, TASK_KINDS)
        if self.task == "classification":
            int_at_least("n_classes", self.n_classes, 2)
        splits = ("train", "test") + (("valid",) if self.valid is not None else ())
        for split in splits:
            x = getattr(self, split).tensors[0]
            if x.dim() != 3:
                raise ValueError(f"{split} inputs must be (N, T, F), got {tuple(x.shape)}")
            if x.shape[1:] != self.train.tensors[0].shape[1:]:
                raise ValueError(
                    f"train and {split} inputs must share (T, F), got "
                    f"{tuple(self.train.tensors[0].shape[1:])} and {tuple(x.shape[1:])}"
                )

    @property
    def seq_len(self) -> int:
        """T, the number of time steps."""
        return int(self.train.tensors[0].shape[1])

    @property
    def input_size(self) -> int:
        """F, the features per step."""
        return int(self.train.tensors[0].shape[2])

    @property
    def output_size(self) -> int:
        """1 for regression, ``n_classes`` for classification."""
        return 1 if self.task == "regression" else int(self.n_classes)  # type: ignore[arg-type]


def default_data_root() -> Path:
    """The cache root: ``$FWLAB_DATA`` if set, otherwise the platform's user cache folder for
    fwlab, :func:`platformdirs.user_cache_path` (``~/.cache/fwlab``, or
    ``$XDG_CACHE_HOME/fwlab``, on Linux); read at each call."""
    env = os.environ.get("FWLAB_DATA")
    return Path(env).expanduser() if env else platformdirs.user_cache_path("fwlab")


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The cache root a loader uses: ``root``, or :func:`default_data_root` when ``None``.

    Raises ``ValueError`` naming ``root`` (or ``$FWLAB_DATA``), what was given and the fix when
    it is not a path, or when a file stands where the folder (or one of its parents) should be.

    Example:
        >>> data_root(3)
        Traceback (most recent call last):
        ...
        ValueError: root must be a folder path (str or pathlib.Path) or None, got int 3
    """
    if root is None:
        base, name = default_data_root(), "$FWLAB_DATA" if os.environ.get("FWLAB_DATA") else "root"
    elif isinstance(root, (str, os.PathLike)) and not isinstance(root, bytes):
        base, name = Path(root).expanduser(), "root"
    else:
        raise ValueError(
            f"root must be a folder path (str or pathlib.Path) or None, got "
            f"{type(root).__name__} {root!r}"
        )
    return check_cache_folder(base, name)


def check_cache_folder(folder: str | os.PathLike, name: str = "root") -> Path:
    """``folder`` as a Path; ``ValueError`` naming ``name`` if a file stands where it or one of
    its parents must be a folder (the cache cannot be written or read there)."""
    folder = Path(folder)
    for part in [folder, *folder.parents]:
        if part.exists() and not part.is_dir():
            raise ValueError(
                f"{name} {folder} cannot be a data folder: {part} is a file; pass another root "
                "(or set $FWLAB_DATA to a folder), or move that file elsewhere"
            )
    return folder


def stratified_indices(labels: Tensor | np.ndarray, n: int, seed: int = 0) -> Tensor:
    """``n`` indices drawn without replacement, class proportions kept, in increasing order.

    Each class gets ``floor(n * n_c / N)`` samples; the remaining ones go to the classes with
    the largest fractional parts (ties: smaller label). Within a class the samples are a seeded
    random choice.

    Example:
        >>> stratified_indices(torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]), 4, seed=0).tolist()
        [0, 1, 4, 6]
    """
    labels = torch.as_tensor(labels)
    total = labels.numel()
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= total:
        raise ValueError(f"subset size must be an integer in [1, {total}], got {n!r}")
    classes, counts = torch.unique(labels, return_counts=True)
    exact = counts.double() * n / total
    take = exact.floor().long()
    rest = n - int(take.sum())
    order = sorted(range(len(classes)), key=lambda i: (-(exact[i] - take[i]).item(), i))
    for i in order[:rest]:
        take[i] += 1
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for c, k in zip(classes.tolist(), take.tolist(), strict=True):
        idx = torch.nonzero(labels == c).flatten()
        chosen.append(idx[torch.randperm(idx.numel(), generator=g)[:k]])
    return torch.cat(chosen).sort().values


def subset_dataset(dataset: TensorDataset, n: int | None, *, seed: int = 0) -> TensorDataset:
    """``n`` samples of ``dataset`` (all of it if ``n`` is None), original order kept: label
    proportions kept for integer labels (``y`` int64 ``(N,)``), else a seeded uniform choice.

    Example:
        >>> ds = TensorDataset(torch.arange(6.0).view(6, 1, 1), torch.tensor([0, 1, 0, 1, 0, 1]))
        >>> subset_dataset(ds, 2, seed=0).tensors[1].tolist()
        [0, 1]
    """
    if n is None:
        return dataset
    x, y = dataset.tensors
    if y.dtype == torch.int64 and y.dim() == 1:
        idx = stratified_indices(y, n, seed)
    else:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(x):
            raise ValueError(f"subset size must be an integer in [1, {len(x)}], got {n!r}")
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(x), generator=g)[:n].sort().values
    return TensorDataset(x[idx], y[idx])


def shrink(
    data: SequenceData, n_train: int | None, n_test: int | None, seed: int = 0
) -> SequenceData:
    """``data`` with at most ``n_train`` / ``n_test`` training / test samples (stratified for
    class labels, seeded; ``None`` or 0 keeps a split whole), recorded in ``info``.

    Example:
        >>> from fwlab.data import load_task
        >>> small = shrink(load_task("adding", seq_len=10, n_train=100, n_test=50), 20, 10)
        >>> len(small.train), len(small.test), small.info["subset"]
        (20, 10, 20)
    """

    def cut(dataset: TensorDataset, n: int | None) -> TensorDataset:
        return subset_dataset(dataset, min(n, len(dataset)), seed=seed) if n else dataset

    info = {**dict(data.info), "subset": n_train, "test_subset": n_test}
    return dataclasses.replace(
        data, train=cut(data.train, n_train), test=cut(data.test, n_test), info=info
    )


def standardize_channels(train: Tensor, *others: Tensor) -> tuple[list[Tensor], Tensor, Tensor]:
    r"""Per-channel z-score with **training** statistics: :math:`(x - \mu_c) / \sigma_c`.

    :math:`\mu_c, \sigma_c` are the mean and (population) standard deviation of channel
    :math:`c` of ``train`` ``(N, T, F)`` over all samples and time steps; the same values are
    applied to ``others``. A constant channel (:math:`\sigma_c < 10^{-8}`) is only centred.

    Returns:
        ``([train_n, *others_n], mean (F,), std (F,))``.

    Example:
        >>> tr = torch.tensor([[[0.0, 10.0], [2.0, 10.0]]])      # N=1, T=2, F=2
        >>> (a, b), mean, std = standardize_channels(tr, torch.tensor([[[4.0, 11.0]]]))
        >>> a.tolist(), b.tolist(), mean.tolist(), std.tolist()
        ([[[-1.0, 0.0], [1.0, 0.0]]], [[[3.0, 1.0]]], [1.0, 10.0], [1.0, 1.0])
    """
    flat = train.reshape(-1, train.shape[-1]).double()
    mean = flat.mean(0)
    std = flat.std(0, unbiased=False)
    std = torch.where(std < 1e-8, torch.ones_like(std), std)
    out = [((t.double() - mean) / std).to(train.dtype) for t in (train, *others)]
    return out, mean.to(train.dtype), std.to(train.dtype)
