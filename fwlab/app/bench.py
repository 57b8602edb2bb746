r"""``fwlab bench``: speed ratios of fwlab, measured side by side in one process.

Every figure is the **median over repeats**; within a repeat the two things compared run
interleaved (A, B, B, A, ...), or, for the closure overhead, the closure's calls are timed inside
the very step they belong to, so that the load of a shared machine hits both sides alike. Ratios
are what to read; the absolute milliseconds in ``meta.details`` depend on the machine and its
load.

======================== ================================================================ ======
key                      what it measures                                                 target
======================== ================================================================ ======
``fw_closure_overhead``  ``FrankWolfe.step(closure)`` / (K × the closure's own time): the ≤ 1.10
                         optimizer's own cost in closure mode (6×128 IndRNN, pixel-MNIST
                         shapes T = 784 × 1 feature, K = 5)
``fw_streaming_vs_adam`` optimizer-only time of one streaming ``step()`` (mean over the   ≤ 1.5
                         K calls of an outer step) / ``Adam(foreach=True).step()`` on the
                         same parameters and gradients; the K>1 mid-step and the K-th
                         step are in ``meta.details``
``indrnn_vs_rnn``        forward+backward of :class:`fwlab.models.IndRNN` /              ≤ 0.3
                         ``nn.RNN(nonlinearity="relu")``, one layer, B=32, T=784, H=128
                         (cuDNN's ``nn.RNN`` with ``--device cuda``)
``indrnn_memory_vs_rnn`` peak memory of the same forward+backward, IndRNN / nn.RNN: the   ≤ 1.0
                         largest total of tensor bytes allocated and not yet freed during
                         the call (CPU: the allocation and free events of
                         ``torch.profiler`` with ``profile_memory=True``; CUDA:
                         ``torch.cuda.max_memory_allocated`` above the bytes held before)
``indrnn6_step_ms``      one training step (forward, backward, gradient clamp ±10,       none
                         optimizer step) of the pixel-MNIST IndRNN model (6 × 128, BN,
                         dropout 0.1, T = 784, batch 64) under FrankWolfe K = 5 in
                         streaming mode (how ``fwlab train`` steps it), mean over the K
                         calls of an outer step, in ms (machine-bound: reported, not
                         judged; its ratio to Adam is)
``indrnn6_fw_vs_adam``   that step / the same step under Adam (same model and batches)   ≤ 1.10
``toy_recompute_ms``     the playground's recompute + redraw in ms: FW 100 steps × K=10, ≤ 50
                         the three baselines, trace data, one ``batch_update``
``notebooks_s``          seconds to execute every notebook of ``notebooks/`` with its    ≤ 300
                         defaults (papermill, kernel ``fwlab``); only with ``--notebooks``
======================== ================================================================ ======

Device: ``device="cuda"`` (``--device cuda``) runs the model figures (the first six) on the GPU,
timing with ``torch.cuda.synchronize()`` around every timed call; without CUDA it is refused at
once. The playground and the notebooks stay on the CPU.

Threads: by default the bench runs with ``torch.set_num_threads(1)``. On a small shared
machine two intra-op threads make tiny kernels (an optimizer step on 128×128 tensors) wait for
a descheduled worker, which turns a 0.3 ms Adam step into 40 ms at random; ``--threads`` changes
it.

Example:
    >>> r = run_bench(["toy_recompute_ms"], quick=True, repeats=1)
    >>> sorted(r), r["toy_recompute_ms"] > 0
    (['meta', 'toy_recompute_ms'], True)
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fwlab import validate
from fwlab.util.argtypes import Command, Option, choice, path_type, positive_int

__all__ = [
    "TARGETS",
    "KEYS",
    "BenchConfig",
    "run_bench",
    "format_table",
    "command",
    "run_cli",
]

#: key -> (target, unit); every figure passes when it is <= its target (None: reported only)
TARGETS: dict[str, tuple[float | None, str]] = {
    "fw_closure_overhead": (1.10, "ratio"),
    "fw_streaming_vs_adam": (1.5, "ratio"),
    "indrnn_vs_rnn": (0.3, "ratio"),
    "indrnn_memory_vs_rnn": (1.0, "ratio"),
    "indrnn6_step_ms": (None, "ms"),
    "indrnn6_fw_vs_adam": (1.10, "ratio"),
    "toy_recompute_ms": (50.0, "ms"),
    "notebooks_s": (300.0, "s"),
}
KEYS = tuple(TARGETS)
DEFAULT_KEYS = tuple(k for k in KEYS if k != "notebooks_s")
DEVICES = ("cpu", "cuda")
#: figures that run on ``--device``; the others always run on the CPU
DEVICE_KEYS = (
    "fw_closure_overhead",
    "fw_streaming_vs_adam",
    "indrnn_vs_rnn",
    "indrnn_memory_vs_rnn",
    "indrnn6_step_ms",
    "indrnn6_fw_vs_adam",
)
NOTEBOOK_KERNEL = "fwlab"


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of the measurements (``quick()`` shrinks them to seconds for tests).

    Attributes:
        repeats: repeats per figure (the median is reported).
        fw_batch, fw_seq_len, fw_layers, hidden, K: the closure-mode model and data
            (SequenceModel "indrnn" with ``fw_layers`` × ``hidden``, input (fw_batch, T, 1)).
        opt_calls: outer steps timed per repeat for the optimizer-only comparison.
        rnn_batch, rnn_seq_len: the IndRNN vs nn.RNN shapes (one layer of ``hidden`` units);
            ``rnn_pairs`` alternating pairs per repeat.
        step_batch, step_outer: the 6-layer training step: batch size, and outer steps (K
            calls each) per optimizer and repeat.
        toy_steps, toy_K, toy_calls: the playground recompute, timed ``toy_calls`` times per
            repeat.
        device: ``"cpu"`` or ``"cuda"``, where the model figures run.
    """

    repeats: int = 5
    fw_batch: int = 8
    fw_seq_len: int = 784
    fw_layers: int = 6
    hidden: int = 128
    K: int = 5
    opt_calls: int = 60
    rnn_batch: int = 32
    rnn_seq_len: int = 784
    rnn_pairs: int = 4
    toy_steps: int = 100
    toy_K: int = 10
    toy_calls: int = 10
    step_batch: int = 64
    step_outer: int = 1
    device: str = "cpu"

    @classmethod
    def quick(cls, repeats: int = 2) -> BenchConfig:
        """Tiny sizes: the whole bench in a few seconds (ratios then mean little)."""
        return cls(
            repeats=repeats,
            fw_batch=4,
            fw_seq_len=32,
            fw_layers=2,
            hidden=32,
            opt_calls=5,
            rnn_batch=8,
            rnn_seq_len=32,
            rnn_pairs=2,
            toy_calls=2,
            step_batch=4,
        )


def _median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def _sync(device: str) -> None:
    if device != "cpu":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: str = "cpu") -> float:
    """Wall time of ``fn()``; on CUDA, from an idle GPU to the end of the work it queued."""
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------ measurements
def _indrnn_model(cfg: BenchConfig) -> nn.Module:
    from fwlab.models import SequenceModel

    torch.manual_seed(0)
    return SequenceModel(
        "indrnn", 1, cfg.hidden, 10, num_layers=cfg.fw_layers, seq_len_hint=cfg.fw_seq_len
    )


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
    from fwlab.models import SequenceModel
    from fwlab.optim import FrankWolfe

    dev = cfg.device
    torch.manual_seed(0)
    fw_model = SequenceModel(
        "indrnn",
        1,
        cfg.hidden,
        10,
        num_layers=cfg.fw_layers,
        batch_norm=True,
        dropout=0.1,
        seq_len_hint=cfg.fw_seq_len,
    ).to(dev)
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


def bench_toy_recompute_ms(cfg: BenchConfig) -> tuple[float, dict[str, Any]]:
    """The playground's recompute + redraw, in milliseconds.

    What :meth:`widgets.TrajectoryExplorer.recompute` does, built from the same fwlab pieces
    (fwlab does not import ``widgets``): Frank-Wolfe and the three baselines through
    :func:`fwlab.toy.trajectory`, :func:`fwlab.plots.trajectory_trace_data`, and the update of
    every trace inside one ``batch_update`` of the figure (a ``go.Figure`` here: there is no
    widget front end to talk to).
    """
    from fwlab.plots import trajectory_figure, trajectory_trace_data
    from fwlab.toy import get_loss, trajectory

    spec = get_loss("rosenbrock")
    x0, lr, delta = spec.start, 0.5, spec.delta
    visible = {"gd": True, "ngd": True, "adam": True}

    def compute():
        fw = trajectory(spec, x0, method="fw", lr=lr, delta=delta, K=cfg.toy_K, steps=cfg.toy_steps)
        baselines = {
            "gd": trajectory(spec, x0, method="gd", lr=spec.gd_lr, steps=cfg.toy_steps),
            "ngd": trajectory(spec, x0, method="ngd", lr=lr, delta=delta, steps=cfg.toy_steps),
            "adam": trajectory(spec, x0, method="adam", lr=lr * delta, steps=cfg.toy_steps),
        }
        return fw, baselines

    fw, baselines = compute()
    fig = trajectory_figure(spec, fw, baselines, visible=visible)
    traces = {t.meta: t for t in fig.data}

    def recompute() -> None:
        fw, baselines = compute()
        data = trajectory_trace_data(spec, fw, baselines, visible=visible)
        with fig.batch_update():
            for uid, props in data.items():
                traces[uid].update(props)

    recompute()
    per_repeat, compute_only = [], []
    for _ in range(cfg.repeats):
        per_repeat.append(_median([_timed(recompute) for _ in range(cfg.toy_calls)]))
        compute_only.append(_median([_timed(compute) for _ in range(cfg.toy_calls)]))
    details = {
        "compute_ms": 1e3 * _median(compute_only),
        "settings": f"rosenbrock, FW {cfg.toy_steps} steps x K={cfg.toy_K} + GD, NGD, Adam, "
        "trace data and one batch_update of a go.Figure",
    }
    return 1e3 * _median(per_repeat), details


def notebook_paths(folder: str | os.PathLike | None = None) -> list[Path]:
    """The notebooks the bench executes: ``*.ipynb`` of ``folder`` (default: fwlab's own,
    :func:`fwlab.util.notebook_dir.notebooks_dir`)."""
    from fwlab.util.notebook_dir import notebooks_dir

    root = Path(folder) if folder is not None else notebooks_dir()
    return sorted(root.glob("*.ipynb"))


def bench_notebooks_s(
    cfg: BenchConfig, folder: str | os.PathLike | None = None
) -> tuple[float, dict[str, Any]]:
    """Seconds to execute every notebook with its default parameters (one pass through the
    sweep runner, :func:`fwlab.runs.sweep.run_notebook`: papermill with its IPC kernel sockets)."""
    from fwlab.runs.sweep import run_notebook

    paths = notebook_paths(folder)
    if not paths:
        raise FileNotFoundError(
            f"no notebooks found under {Path(folder) if folder else 'notebooks/'}; run the bench "
            "from a checkout of fwlab or pass --notebooks-dir"
        )
    repo = Path(__file__).resolve().parents[2]
    env_before = os.environ.get("PYTHONPATH")
    # the kernel imports fwlab/widgets from this checkout, whatever is installed in the venv
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo), env_before) if p)
    per_notebook: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for path in paths:
                status: dict[str, Any] = {}
                per_notebook[path.name] = _timed(
                    lambda path=path, status=status: status.update(
                        run_notebook(
                            path,
                            Path(tmp) / path.stem,
                            kernel=NOTEBOOK_KERNEL,
                            timeout=600,
                            check_names=False,
                        )
                    )
                )
                if status["status"] != "ok":
                    raise RuntimeError(
                        f"{path.name} failed under the bench: {status['error']}\n"
                        f"{status['traceback']}"
                    )
    finally:
        if env_before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = env_before
    details = {"per_notebook_s": per_notebook, "settings": "one pass, default parameters"}
    return sum(per_notebook.values()), details


_BENCHES: dict[str, Callable[..., tuple[float, dict[str, Any]]]] = {
    "fw_closure_overhead": bench_fw_closure_overhead,
    "fw_streaming_vs_adam": bench_fw_streaming_vs_adam,
    "indrnn_vs_rnn": bench_indrnn_vs_rnn,
    "indrnn_memory_vs_rnn": bench_indrnn_memory_vs_rnn,
    "toy_recompute_ms": bench_toy_recompute_ms,
    "notebooks_s": bench_notebooks_s,
}
#: benches that measure several keys at once
_MULTI_BENCHES: dict[str, Callable[[BenchConfig], dict[str, tuple[float, dict[str, Any]]]]] = {
    "indrnn6_step_ms": bench_indrnn6,
    "indrnn6_fw_vs_adam": bench_indrnn6,
}


def run_bench(
    keys: Sequence[str] = DEFAULT_KEYS,
    *,
    quick: bool = False,
    repeats: int | None = None,
    threads: int = 1,
    device: str = "cpu",
    notebooks_dir: str | os.PathLike | None = None,
    log: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Measure ``keys`` and return ``{key: value, ..., "meta": {...}}`` (plain JSON data).

    ``meta`` holds the settings, the targets, ``passed`` per key and ``details`` per key
    (absolute times, the FW mid-step and K-th step ratios, per-notebook seconds).
    """
    if isinstance(keys, str):
        raise ValueError(
            f"keys must be a list of bench keys, got the string {keys!r}; use [{keys!r}]"
        )
    unknown = [k for k in keys if k not in TARGETS]
    if unknown:
        raise ValueError(f"unknown bench keys {unknown}; choose from {list(KEYS)}")
    threads = validate.positive_int("threads", threads)
    repeats = validate.optional(validate.positive_int, "repeats", repeats)
    validate.one_of("device", device, list(DEVICES))
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device='cuda' but torch {torch.__version__} sees no CUDA device "
            "(torch.cuda.is_available() is False); run on a machine with a GPU, or use "
            "device='cpu' (--device cpu)"
        )
    cfg = BenchConfig.quick() if quick else BenchConfig()
    cfg = dataclasses.replace(cfg, device=device)
    if repeats is not None:
        cfg = dataclasses.replace(cfg, repeats=repeats)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads)
    result: dict[str, Any] = {}
    details: dict[str, Any] = {}
    measured_together: dict[str, tuple[float, dict[str, Any]]] = {}
    try:
        for key in keys:
            if key in _MULTI_BENCHES:
                if key not in measured_together:
                    if log:
                        log(f"measuring {key} ...")
                    measured_together.update(_MULTI_BENCHES[key](cfg))
                value, details[key] = measured_together[key]
            else:
                if log:
                    log(f"measuring {key} ...")
                extra = {"folder": notebooks_dir} if key == "notebooks_s" else {}
                value, details[key] = _BENCHES[key](cfg, **extra)
            result[key] = float(value)
    finally:
        torch.set_num_threads(threads_before)
    result["meta"] = {
        "quick": quick,
        "threads": threads,
        "device": device,
        "gpu": torch.cuda.get_device_name(device) if device == "cuda" else None,
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "config": dataclasses.asdict(cfg),
        "targets": {k: TARGETS[k][0] for k in keys},
        "passed": {k: _passed(result[k], TARGETS[k][0]) for k in keys},
        "details": details,
    }
    return result


def _passed(value: float, target: float | None) -> bool | None:
    return None if target is None else bool(value <= target)


def format_table(result: dict[str, Any]) -> str:
    """The measured keys as a text table: value, target, pass/fail, what was measured."""
    keys = [k for k in KEYS if k in result]
    lines = [f"{'key':<22} {'value':>9} {'target':>9}  {'result':<6} settings", "-" * 100]
    for k in keys:
        target, unit = TARGETS[k]
        fmt = ".3f" if unit == "ratio" else ".1f"
        ok = {True: "pass", False: "FAIL", None: "-"}[_passed(result[k], target)]
        goal = "-" if target is None else "<= " + format(target, "g")
        settings = result["meta"]["details"][k].get("settings", "")
        lines.append(f"{k:<22} {result[k]:>9{fmt}} {goal:>9}  {ok:<6} {settings}")
    d = result["meta"]["details"].get("fw_streaming_vs_adam")
    if d:
        lines.append(
            f"{'':<22} FW mid-step / Adam {d['mid_step_vs_adam']:.3f}, K-th step / "
            f"Adam {d['kth_step_vs_adam']:.3f} (Adam step {d['adam_us']:.0f} us)"
        )
    d = result["meta"]["details"].get("indrnn_vs_rnn")
    if d:
        lines.append(
            f"{'':<22} IndRNN {d['indrnn_ms']:.1f} ms, nn.RNN {d['rnn_ms']:.1f} ms; the reference "
            f"autograd loop {d['reference_ms']:.1f} ms = {d['reference_vs_rnn']:.3f} x nn.RNN"
        )
    d = result["meta"]["details"].get("indrnn_memory_vs_rnn")
    if d:
        lines.append(
            f"{'':<22} peak memory IndRNN {d['indrnn_mib']:.1f} MiB, nn.RNN {d['rnn_mib']:.1f} MiB"
        )
    d = result["meta"]["details"].get("indrnn6_step_ms")
    if d:
        lines.append(
            f"{'':<22} 6-layer step: FW {d['fw_step_ms']:.0f} ms, Adam {d['adam_step_ms']:.0f} ms"
        )
    meta = result["meta"]
    lines.append(
        f"median of {meta['config']['repeats']} repeats; torch {meta['torch']}, "
        f"{meta['threads']} thread(s), {meta['cpus']} CPUs, device {meta['device']}"
        + (f" ({meta['gpu']})" if meta.get("gpu") else "")
        + ("; --quick sizes (ratios not meaningful)" if meta["quick"] else "")
    )
    return "\n".join(lines)


# ------------------------------------------------------------------------------ command line
#: ``fwlab bench``
command = Command(
    "bench",
    lambda args: run_cli(args),  # defined below
    [
        Option(["--repeats", "repeats"], type=positive_int, default=None,
               help="repeats per figure, the median is reported (default 5, 2 quick)"),
        Option(["--quick", "quick"], is_flag=True,
               help="tiny sizes: seconds instead of minutes (for tests; ratios then mean little)"),
        Option(["--json", "json"], type=path_type, default=None, metavar="PATH",
               help="also write the results as JSON to PATH"),
        Option(["--only", "only"], type=choice(KEYS), greedy=True, at_least_one=True,
               default=None, metavar="KEY...", help=f"measure only these keys: {', '.join(KEYS)}"),
        Option(["--notebooks", "notebooks"], is_flag=True,
               help="also time the execution of every notebook (notebooks_s)"),
        Option(["--notebooks-dir", "notebooks_dir"], type=path_type, default=None,
               help="folder of the notebooks (default: notebooks/ of this checkout)"),
        Option(["--device", "device"], type=choice(DEVICES), default="cpu",
               help="where the model figures run (cuda: refused when no GPU is visible)"),
        Option(["--threads", "threads"], type=positive_int, default=1,
               help="torch intra-op threads during the measurements"),
    ],
    show_default=True,
)  # fmt: skip


def _json_path_problem(path: Path) -> str | None:
    """Why the results could not be written to ``path`` (None if they can)."""
    from fwlab.util.outdir import check_output_dir

    if path.is_dir():
        return "is a folder; give a file name, e.g. bench.json inside it"
    try:  # creates the folder and writes a probe file into it, as the results will be
        check_output_dir(path.parent, option="its folder")
    except ValueError as err:
        return str(err)
    if path.exists() and not os.access(path, os.W_OK):
        return "is not writable; choose another path"
    return None


def run_cli(args: argparse.Namespace) -> int:
    if args.device == "cuda" and not torch.cuda.is_available():  # before minutes of CPU figures
        raise ValueError(
            f"--device cuda but torch {torch.__version__} sees no CUDA device; run it on a "
            "machine with a GPU, or without --device"
        )
    if args.json is not None:  # refuse an unusable --json now, not after minutes of measuring
        problem = _json_path_problem(args.json)
        if problem:
            raise ValueError(f"--json {args.json}: {problem}")
    keys = (
        list(args.only)
        if args.only
        else [*DEFAULT_KEYS] + (["notebooks_s"] if args.notebooks else [])
    )
    keys = list(dict.fromkeys(keys))
    result = run_bench(
        keys,
        quick=args.quick,
        repeats=args.repeats,
        threads=args.threads,
        device=args.device,
        notebooks_dir=args.notebooks_dir,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    print(format_table(result))
    if args.json is not None:
        from fwlab.util.atomic import atomic_write_text

        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")  # whole or not at all
    return 0
