r"""The adding problem (Hochreiter & Schmidhuber 1997; the uRNN version of Arjovsky et al. 2016).

Each sequence :math:`x \in \mathbb{R}^{T \times 2}` has

* :math:`x_{t,0} \sim U[0, 1]` i.i.d. (the values),
* :math:`x_{t,1} \in \{0, 1\}`, a mask with exactly one 1 at a uniform position
  :math:`i_1 \in [0, \lfloor T/2 \rfloor)` and one at :math:`i_2 \in [\lfloor T/2 \rfloor, T)`,

and the target is :math:`y = x_{i_1,0} + x_{i_2,0}`, shape ``(N, 1)``; the loss is MSE. (The paper
says "the sum between [i1, i2]"; the authors' code, like the uRNN task, sums the two marked
values only.)

**The "stalled" level.** :math:`y` is a sum of two independent :math:`U[0,1]`, so
:math:`E[y] = 1` and :math:`\operatorname{Var}[y] = 2 \cdot \tfrac1{12} = \tfrac16 \approx 0.167`.
A model that ignores its input and predicts the constant 1 has MSE :math:`1/6`; training curves
that flatten there have learned nothing (the paper's plain BPTT on T=100).

Example:
    >>> x, y = adding_problem(3, 10, seed=0)
    >>> tuple(x.shape), tuple(y.shape), x[:, :, 1].sum(1).tolist()
    ((3, 10, 2), (3, 1), [2.0, 2.0, 2.0])
    >>> bool(torch.allclose(y[:, 0], (x[:, :, 0] * x[:, :, 1]).sum(1)))
    True
"""

from __future__ import annotations

import numpy as np
import psutil
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from fwlab.data.sequence_data import SequenceData
from fwlab.util.validate import int_at_least, nonnegative_int, positive_int

__all__ = ["adding_problem", "load_adding", "STALLED_MSE"]

#: MSE of the constant predictor 1 (= Var of the target)
STALLED_MSE = 1.0 / 6.0


def adding_problem(
    n: int, seq_len: int, *, seed: int = 0, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor]:
    """``n`` adding-problem sequences of length ``seq_len`` from a seeded generator.

    Returns:
        ``x`` of shape ``(n, seq_len, 2)`` and ``y`` of shape ``(n, 1)`` (see module docstring).
        The same ``(n, seq_len, seed)`` always gives the same tensors.
    """
    n = positive_int("n", n)
    seq_len = int_at_least("seq_len", seq_len, 2)
    _check_fits_in_memory(n, seq_len)
    g = torch.Generator().manual_seed(int(seed))
    half = seq_len // 2
    values = torch.rand(n, seq_len, generator=g, dtype=torch.float64)
    first = torch.randint(0, half, (n,), generator=g)
    second = torch.randint(half, seq_len, (n,), generator=g)
    mask = torch.zeros(n, seq_len, dtype=torch.float64)
    rows = torch.arange(n)
    mask[rows, first] = 1.0
    mask[rows, second] = 1.0
    y = (values[rows, first] + values[rows, second]).unsqueeze(1)
    return torch.stack([values, mask], dim=2).to(dtype), y.to(dtype)


def _check_fits_in_memory(n: int, seq_len: int) -> None:
    # the float64 values and mask plus the stacked float32 output: about 40 bytes per step
    need, free = 40 * n * seq_len, psutil.virtual_memory().available
    if need > free:
        raise ValueError(
            f"{n} adding sequences of length seq_len={seq_len} need about {need / 2**30:.1f} GiB, "
            f"more than the {free / 2**30:.1f} GiB of memory available; lower the number of "
            "samples (n_train / n_test, fwlab train --subset / --test-subset) or seq_len"
        )


def load_adding(
    seq_len: int = 100, *, n_train: int = 50_000, n_test: int = 2_000, seed: int = 0
) -> SequenceData:
    """The adding task as :class:`SequenceData` (defaults: the paper's T=100, 50k/2k samples).

    Train and test come from two independent streams derived from ``seed``
    (:class:`numpy.random.SeedSequence`), so the test set does not change with ``n_train``.

    Example:
        >>> d = load_adding(20, n_train=8, n_test=4)
        >>> d.name, d.task, d.seq_len, d.input_size, d.output_size
        ('adding', 'regression', 20, 2, 1)
    """
    n_train = positive_int("n_train", n_train)
    n_test = positive_int("n_test", n_test)
    seed = nonnegative_int("seed", seed)
    train_seed, test_seed = (
        int(s.generate_state(1)[0]) for s in np.random.SeedSequence(int(seed)).spawn(2)
    )
    train = TensorDataset(*adding_problem(n_train, seq_len, seed=train_seed))
    test = TensorDataset(*adding_problem(n_test, seq_len, seed=test_seed))
    return SequenceData(
        "adding",
        train,
        test,
        task="regression",
        info={"seq_len": seq_len, "seed": seed, "stalled_mse": STALLED_MSE},
    )
