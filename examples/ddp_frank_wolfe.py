"""Data-parallel Frank-Wolfe on a small RNN, in closure and in streaming mode.

Run on two CPU processes (gloo)::

    OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node=2 examples/ddp_frank_wolfe.py --out dp

Every rank builds the same model and the same fixed batches from one seed, wraps the model in
:class:`~torch.nn.parallel.DistributedDataParallel`, takes its half of each batch and trains with
``FrankWolfe(K=3)`` for each of ``(closure | streaming) x (sgd | adam)``. Each rank saves its final
parameters to ``<out>/rank<r>.pt`` (``{"float32/closure-sgd": state_dict, ...}``, for float32
and float64) and checks that the ranks agree. Without torchrun (``python
examples/ddp_frank_wolfe.py``) it is the single-process, full-batch reference, as is
:func:`run_config` with ``world=1``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from fwlab.optim import FrankWolfe
from fwlab.train.distributed import cleanup_distributed, max_divergence, setup_distributed, shard

CONFIGS: tuple[tuple[str, str], ...] = (
    ("closure", "sgd"),
    ("closure", "adam"),
    ("streaming", "sgd"),
    ("streaming", "adam"),
)


class TinyRNN(nn.Module):
    """An Elman RNN over (N, T, input) and a linear head on the last step: (N, 1)."""

    def __init__(self, input_size: int = 3, hidden_size: int = 8) -> None:
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def make_batches(
    seed: int,
    n_batches: int,
    batch_size: int,
    length: int = 10,
    input_size: int = 3,
    dtype: torch.dtype = torch.float32,
) -> list[tuple[Tensor, Tensor]]:
    """``n_batches`` fixed (x, y) regression batches, identical on every rank for one seed."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n_batches):
        x = torch.randn(batch_size, length, input_size, generator=gen)
        y = x[:, :, 0].mean(dim=1, keepdim=True) + 0.1 * torch.randn(batch_size, 1, generator=gen)
        batches.append((x.to(dtype), y.to(dtype)))
    return batches


def train(
    model: nn.Module,
    batches: Sequence[tuple[Tensor, Tensor]],
    *,
    mode: str,
    outer: str,
    K: int = 3,
    steps: int = 4,
    lr: float = 0.05,
    delta: float = 0.5,
    rank: int = 0,
    world: int = 1,
) -> nn.Module:
    """``steps`` outer Frank-Wolfe steps; every gradient evaluation draws the next batch.

    Closure mode draws K batches per outer step (one per closure call, stochastic FW as in the
    authors' code); streaming mode one per ``step()`` call, K calls per outer step; both walk the
    same sequence of batches. ``model`` may be wrapped in DDP; each rank uses its shard.
    """
    opt = FrankWolfe(model.parameters(), lr=lr, delta=delta, K=K, outer=outer)
    loss_fn = nn.MSELoss()  # a mean: the average of equal shards' gradients is the full one

    def draws() -> Iterator[tuple[Tensor, Tensor]]:
        i = 0
        while True:
            x, y = batches[i % len(batches)]
            yield shard(x, rank, world), shard(y, rank, world)
            i += 1

    stream = draws()

    def loss_at_next_batch() -> Tensor:
        x, y = next(stream)
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()  # under DDP: the all-reduce that keeps the ranks' LMOs identical
        return loss

    if mode == "closure":
        for _ in range(steps):
            opt.step(loss_at_next_batch)
    elif mode == "streaming":
        for _ in range(steps * K):
            loss_at_next_batch()
            opt.step()
        assert opt.inner_step() == 0, "streaming run ended inside an outer step"
    else:
        raise ValueError(f"mode must be 'closure' or 'streaming', got {mode!r}")
    return model


def run_config(
    mode: str,
    outer: str,
    *,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    steps: int = 4,
    K: int = 3,
    rank: int = 0,
    world: int = 1,
) -> dict[str, Tensor]:
    """Build the seeded model and batches, wrap in DDP when ``world > 1``, train; the final
    ``state_dict``. With ``world=1`` it is the single-process, full-batch reference."""
    torch.manual_seed(seed)  # the same seed on every rank: the same initial model
    model = TinyRNN().to(dtype)
    batches = make_batches(seed + 1, n_batches=5, batch_size=8, dtype=dtype)
    net: nn.Module = model
    if world > 1:
        # DDP's defaults are right: its per-forward sync copies rank 0's *buffers* only, and
        # parameters are broadcast once, here; the shifted point w + dw that streaming mode
        # leaves in the parameters between step() calls is never overwritten
        net = nn.parallel.DistributedDataParallel(model)
    train(net, batches, mode=mode, outer=outer, K=K, steps=steps, rank=rank, world=world)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for rank<r>.pt")
    parser.add_argument("--steps", type=int, default=4, help="outer steps (default 4)")
    parser.add_argument("--K", type=int, default=3, help="inner iterations (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dtypes", nargs="+", choices=["float32", "float64"], default=["float32", "float64"]
    )
    args = parser.parse_args(argv)
    rank, world = setup_distributed("gloo")
    try:
        results = {}
        for dtype in args.dtypes:
            for mode, outer in CONFIGS:
                state = run_config(
                    mode,
                    outer,
                    dtype=getattr(torch, dtype),
                    seed=args.seed,
                    steps=args.steps,
                    K=args.K,
                    rank=rank,
                    world=world,
                )
                gap = max_divergence(state.values())
                if gap != 0.0:
                    raise RuntimeError(f"{dtype} {mode}-{outer}: ranks disagree by {gap:g}")
                results[f"{dtype}/{mode}-{outer}"] = state
        args.out.mkdir(parents=True, exist_ok=True)
        torch.save(results, args.out / f"rank{rank}.pt")
        if rank == 0:
            print(f"{world} process(es), {len(results)} configurations -> {args.out}", flush=True)
        if world > 1:
            # tear gloo down together: a rank that destroys its group while the other is still
            # talking can abort the other ("terminate called without an active exception")
            torch.distributed.barrier()
    finally:
        cleanup_distributed()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
