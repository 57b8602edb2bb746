"""The IndRNN against ``nn.RNN``: time and peak memory of one forward+backward, and the
6-layer pixel-MNIST training step under FrankWolfe and Adam."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from fwlab.app.bench.config import BenchConfig, _indrnn_model, _median, _timed


def _rnn_pair(cfg: BenchConfig) -> tuple[nn.Module, nn.Module, Callable[[nn.Module], None]]:
    """One IndRNN layer, one nn.RNN(relu) layer, and their forward+backward on one batch."""
    from fwlab.models import IndRNN

    torch.manual_seed(0)
    h, b, t = cfg.hidden, cfg.rnn_batch, cfg.rnn_seq_len
    ind = IndRNN(1, h, batch_first=True, seq_len_hint=t).to(cfg.device)
    rnn = nn.RNN(1, h, nonlinearity="relu", batch_first=True).to(cfg.device)
    x = torch.randn(b, t, 1, generator=torch.Generator().manual_seed(3)).to(cfg.device)

    def fwd_bwd(m: nn.Module) -> None:
        out, _ = m(x)
        out.mean().backward()

    fwd_bwd(ind)  # warm-up: first-call costs, .grad buffers allocated
    fwd_bwd(rnn)
    return ind, rnn, fwd_bwd


def _rnn_settings(cfg: BenchConfig) -> str:
    return (
        f"one layer, B={cfg.rnn_batch}, T={cfg.rnn_seq_len}, H={cfg.hidden}, input 1 feature, "
        f"loss = mean output, {cfg.device}"
    )


def bench_indrnn_vs_rnn(cfg: BenchConfig) -> tuple[float, dict[str, Any]]:
    """Forward+backward of fwlab's IndRNN / nn.RNN(relu), one layer.

    The same IndRNN with ``recurrence="reference"`` (the plain autograd loop) is timed in the
    same rounds, as ``reference_vs_rnn`` in the details: the fused loop's gain, measured here.
    """
    ind, rnn, fwd_bwd = _rnn_pair(cfg)
    ref = copy.deepcopy(ind)
    ref.recurrence = "reference"
    fwd_bwd(ref)
    ratios, ref_ratios, t_ind, t_rnn, t_ref = [], [], [], [], []
    for _ in range(cfg.repeats):
        pairs, ref_pairs = [], []
        for i in range(cfg.rnn_pairs):  # A B C, C B A, ...: a drift in load favours none
            order = [(ind, t_ind), (rnn, t_rnn), (ref, t_ref)][:: -1 if i % 2 else 1]
            for m, acc in order:
                acc.append(_timed(lambda m=m: fwd_bwd(m), cfg.device))
            pairs.append(t_ind[-1] / t_rnn[-1])
            ref_pairs.append(t_ref[-1] / t_rnn[-1])
        ratios.append(_median(pairs))
        ref_ratios.append(_median(ref_pairs))
    details = {
        "indrnn_ms": 1e3 * _median(t_ind),
        "rnn_ms": 1e3 * _median(t_rnn),
        "reference_ms": 1e3 * _median(t_ref),
        "reference_vs_rnn": _median(ref_ratios),
        "settings": _rnn_settings(cfg),
    }
    return _median(ratios), details


def peak_bytes(fn: Callable[[], Any], device: str = "cpu") -> int:
    """The largest total of tensor bytes that ``fn()`` had allocated and not yet freed.

    CPU: replays the allocation/free events that ``torch.profiler`` records with
    ``profile_memory=True`` (every tensor allocation through PyTorch's CPU allocator, in order)
    and returns the maximum of their running sum. CUDA: ``torch.cuda.max_memory_allocated``
    above what was allocated before the call. Memory held before the call is not counted,
    memory freed by the call counts negative.
    """
    if device != "cpu":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - before)
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        event = stack.pop()
        stack.extend(event.children)
        if event.tag == _EventType.Allocation:
            events.append((event.start_time_ns, event.extra_fields.alloc_size))
    total = peak = 0
    for _, nbytes in sorted(events):
        total += nbytes
        peak = max(peak, total)
    return peak


def bench_indrnn_memory_vs_rnn(cfg: BenchConfig) -> tuple[float, dict[str, Any]]:
    """Peak memory of forward+backward, IndRNN / nn.RNN(relu) (see :func:`peak_bytes`).

    Deterministic for a given torch build, so it is measured once, not ``repeats`` times.
    """
    ind, rnn, fwd_bwd = _rnn_pair(cfg)
    p_ind = peak_bytes(lambda: fwd_bwd(ind), cfg.device)
    p_rnn = peak_bytes(lambda: fwd_bwd(rnn), cfg.device)
    details = {
        "indrnn_mib": p_ind / 2**20,
        "rnn_mib": p_rnn / 2**20,
        "how": "torch.profiler allocation events"
        if cfg.device == "cpu"
        else "torch.cuda.max_memory_allocated",
        "settings": _rnn_settings(cfg),
    }
    return p_ind / p_rnn, details


def bench_indrnn6(cfg: BenchConfig) -> dict[str, tuple[float, dict[str, Any]]]:
    """The pixel-MNIST IndRNN model's training step under FrankWolfe (streaming) and Adam.

    Both models start from the same weights and see the same batch; within a repeat one outer
    step of K calls under FrankWolfe and K calls under Adam run back to back, in alternating
    order. Returns ``indrnn6_step_ms`` (FrankWolfe, mean per call) and ``indrnn6_fw_vs_adam``.
    """
    from fwlab.optim import FrankWolfe

    dev = cfg.device
    fw_model = _indrnn_model(cfg, batch_norm=True, dropout=0.1).to(dev)
    adam_model = copy.deepcopy(fw_model)
    # the indrnn_fw preset (fwlab.train.methods) with the paper's lr for K=5 on pixel-MNIST
    fw = FrankWolfe(
        fw_model.parameters(), lr=2e-4, delta=2e-4, K=cfg.K, scope="tensor", outer="adam"
    )
    adam = torch.optim.Adam(adam_model.parameters(), lr=2e-4)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(cfg.step_batch, cfg.fw_seq_len, 1, generator=g).to(dev)
    y = torch.randint(0, 10, (cfg.step_batch,), generator=g).to(dev)

    def step(model: nn.Module, opt: torch.optim.Optimizer) -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        nn.utils.clip_grad_value_(model.parameters(), 10.0)
        opt.step()

    def outer(model: nn.Module, opt: torch.optim.Optimizer) -> float:
        """Mean time per call over one outer step (K calls)."""
        return _median([_timed(lambda: step(model, opt), dev) for _ in range(cfg.K)])

    outer(fw_model, fw)  # warm-up: optimizer state, allocator
    outer(adam_model, adam)
    t_fw, t_adam, ratios = [], [], []
    for r in range(cfg.repeats):
        fws, adams = [], []
        for i in range(cfg.step_outer):
            if (r + i) % 2:
                adams.append(outer(adam_model, adam))
                fws.append(outer(fw_model, fw))
            else:
                fws.append(outer(fw_model, fw))
                adams.append(outer(adam_model, adam))
        t_fw.append(_median(fws))
        t_adam.append(_median(adams))
        ratios.append(t_fw[-1] / t_adam[-1])
    details = {
        "fw_step_ms": 1e3 * _median(t_fw),
        "adam_step_ms": 1e3 * _median(t_adam),
        "settings": f"SequenceModel indrnn {cfg.fw_layers}x{cfg.hidden}, BN, dropout 0.1, "
        f"batch {cfg.step_batch}, T={cfg.fw_seq_len}, FW K={cfg.K} streaming (outer adam, "
        f"lr=delta=2e-4) vs Adam lr 2e-4, grad clamp 10, {dev}",
    }
    return {
        "indrnn6_step_ms": (1e3 * _median(t_fw), details),
        "indrnn6_fw_vs_adam": (_median(ratios), details),
    }
