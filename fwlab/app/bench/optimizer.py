"""The optimizer's own cost: ``FrankWolfe.step(closure)`` against K closures, and a streaming
step against ``Adam(foreach=True)`` on the same parameters and gradients."""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from torch import nn

from fwlab.app.bench.config import BenchConfig, _indrnn_model, _median, _sync, _timed


def bench_fw_closure_overhead(cfg: BenchConfig) -> tuple[float, dict[str, Any]]:
    """``step(closure)`` time / (K × closure time), pixel-MNIST shapes (see module docstring).

    The closure times its own calls, so the denominator is the forward+backward of exactly the
    calls the step made: on a loaded machine two separate blocks of K closures can differ by
    20 %, far more than the optimizer's share. The ratio of the step to K closures timed
    alone, interleaved with it, is reported as ``separate_blocks_ratio`` for comparison.

    The closure returns ``loss.detach()``: freeing the autograd graph of a 6-layer, 784-step
    IndRNN takes about 3 % of its forward+backward, and with a returned graph-holding loss that
    cost would fall between the timed closure calls and be billed to the optimizer (any
    optimizer that keeps the loss, ``torch.optim.SGD`` included, would show it).
    """
    from fwlab.optim import FrankWolfe

    dev = cfg.device
    model = _indrnn_model(cfg).to(dev)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(cfg.fw_batch, cfg.fw_seq_len, 1, generator=g).to(dev)
    y = torch.randint(0, 10, (cfg.fw_batch,), generator=g).to(dev)
    opt = FrankWolfe(model.parameters(), lr=2e-4, delta=2e-4, K=cfg.K)
    calls: list[float] = []

    def closure() -> torch.Tensor:
        _sync(dev)
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        loss = loss.detach()  # the graph is freed here, inside the timed call
        _sync(dev)
        calls.append(time.perf_counter() - t0)
        return loss

    opt.step(closure)  # warm-up: allocator, autograd graph shapes
    ratios, separate, steps, per_closure = [], [], [], []
    for _ in range(cfg.repeats):
        calls.clear()
        t_step = _timed(lambda: opt.step(closure), dev)
        inside = sum(calls)
        calls.clear()
        for _ in range(cfg.K):
            closure()
        ratios.append(t_step / inside)
        separate.append(t_step / sum(calls))
        steps.append(t_step)
        per_closure.append(inside / cfg.K)
    details = {
        "step_ms": 1e3 * _median(steps),
        "closure_ms": 1e3 * _median(per_closure),
        "separate_blocks_ratio": _median(separate),
        "settings": f"SequenceModel indrnn {cfg.fw_layers}x{cfg.hidden}, batch {cfg.fw_batch}, "
        f"T={cfg.fw_seq_len}, 1 feature, cross-entropy, K={cfg.K}, p=2",
    }
    return _median(ratios), details


def bench_fw_streaming_vs_adam(cfg: BenchConfig) -> tuple[float, dict[str, Any]]:
    """Optimizer-only time of streaming ``step()`` / ``Adam(foreach=True).step()``."""
    from fwlab.optim import FrankWolfe

    dev = cfg.device
    model = _indrnn_model(cfg).to(dev)
    fw_params = [p.detach().clone().requires_grad_() for p in model.parameters()]
    adam_params = [p.detach().clone().requires_grad_() for p in model.parameters()]
    g = torch.Generator().manual_seed(2)
    for a, b in zip(fw_params, adam_params):
        a.grad = torch.randn(a.shape, generator=g).to(dev)
        b.grad = a.grad.clone()
    fw = FrankWolfe(fw_params, lr=1e-3, delta=1e-3, K=cfg.K)
    adam = torch.optim.Adam(adam_params, lr=1e-3, foreach=True)
    for _ in range(3 * cfg.K):  # warm-up: state allocated, first-call overheads paid
        fw.step()
        adam.step()
    cycle, mid, last, t_adam = [], [], [], []
    for _ in range(cfg.repeats):
        mids, lasts, adams = [], [], []
        for _ in range(cfg.opt_calls):
            for k in range(1, cfg.K + 1):
                (mids if k < cfg.K else lasts).append(_timed(fw.step, dev))
            adams.append(_timed(adam.step, dev))
        m_mid = _median(mids) if mids else math.nan
        m_last, m_adam = _median(lasts), _median(adams)
        per_call = ((cfg.K - 1) * m_mid + m_last) / cfg.K if mids else m_last
        cycle.append(per_call / m_adam)
        mid.append(m_mid / m_adam)
        last.append(m_last / m_adam)
        t_adam.append(m_adam)
    details = {
        "mid_step_vs_adam": _median(mid),
        "kth_step_vs_adam": _median(last),
        "adam_us": 1e6 * _median(t_adam),
        "settings": f"{sum(p.numel() for p in fw_params)} parameters in {len(fw_params)} "
        f"tensors (the {cfg.fw_layers}x{cfg.hidden} IndRNN model), K={cfg.K}, p=2, "
        f"scope=tensor, outer=sgd; {cfg.opt_calls} outer steps per repeat",
    }
    return _median(cycle), details
