r"""Small helpers to train with :class:`~fwlab.optim.FrankWolfe` under ``torch.distributed``.

FrankWolfe needs nothing special under :class:`torch.nn.parallel.DistributedDataParallel`: every
inner iteration ends in a ``backward()``, and DDP all-reduces (averages) the gradients there, so
every rank computes the same LMO and the same :math:`\Delta\omega`, and the ranks stay in sync
without the optimizer knowing. With a mean-reduced loss and equal shards, the average of the
shard gradients is the gradient of the full batch: ``torchrun --nproc_per_node=N`` on a batch cut
in N equal parts follows the single-process, full-batch trajectory (to rounding).

What the helpers are for: starting the process group from torchrun's environment (and running
as a plain single process without it), cutting a batch into equal shards (unequal shards would
weight examples unequally), and checking that the ranks' parameters agree.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["cleanup_distributed", "max_divergence", "setup_distributed", "shard"]

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def setup_distributed(backend: str = "gloo", *, timeout_s: float = 300.0) -> tuple[int, int]:
    """Initialise the default process group from torchrun's environment; return ``(rank, world)``.

    Reads ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` (set by ``torchrun``) and
    calls :func:`torch.distributed.init_process_group` with ``backend`` (``"gloo"`` for CPU,
    ``"nccl"`` for GPUs). Without those variables (a plain ``python`` run) nothing is initialised
    and it returns ``(0, 1)``, so one script serves both. Calling it twice is harmless.

    Example:
        >>> import os
        >>> "RANK" in os.environ, setup_distributed()
        (False, (0, 1))
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    missing = [v for v in _TORCHRUN_VARS if v not in os.environ]
    if len(missing) == len(_TORCHRUN_VARS):
        return 0, 1
    if missing:
        raise RuntimeError(
            f"torch.distributed environment is incomplete: {', '.join(missing)} not set; launch "
            "with `torchrun --nproc_per_node=N ...` (or set all of RANK, WORLD_SIZE, MASTER_ADDR, "
            "MASTER_PORT)"
        )
    if not dist.is_available():
        raise RuntimeError("this torch build has no torch.distributed support")
    dist.init_process_group(backend, timeout=_dt.timedelta(seconds=timeout_s))
    return dist.get_rank(), dist.get_world_size()


def cleanup_distributed() -> None:
    """Destroy the default process group if there is one (the end of a torchrun script)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(batch: Tensor, rank: int, world: int) -> Tensor:
    """Rank ``rank``'s contiguous part of ``batch`` (dim 0) when it is cut into ``world`` parts.

    The batch size must be divisible by ``world``: DDP averages the shard gradients with equal
    weights, which equals the full-batch mean gradient only when the shards are equally large.

    Example:
        >>> shard(torch.arange(6), 1, 2)
        tensor([3, 4, 5])
    """
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"need 0 <= rank < world, got rank={rank}, world={world}")
    n = batch.shape[0]
    if n % world:
        raise ValueError(
            f"batch size {n} is not divisible by world size {world}; equal shards are needed for "
            "the averaged gradient to equal the full-batch gradient (drop the remainder)"
        )
    size = n // world
    return batch[rank * size : (rank + 1) * size]


@torch.no_grad()
def max_divergence(params: Iterable[Tensor]) -> float:
    """The largest ``|p - p on rank 0|`` over all parameters and ranks (0.0 without a group).

    A collective call: every rank must call it, with its parameters in the same order. Use it
    to check that data-parallel Frank-Wolfe keeps the ranks in lock-step.
    """
    params = [p.detach() for p in params]
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return 0.0
    worst = torch.zeros((), dtype=torch.float64)
    for p in params:
        ref = p.clone()
        dist.broadcast(ref, src=0)
        worst = torch.maximum(worst, (p - ref).abs().max().double())
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)
    return float(worst)
