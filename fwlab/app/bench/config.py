"""What the figures are judged against (``TARGETS``), the sizes of the measurements
(:class:`BenchConfig`) and the timer every figure uses."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

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


def _indrnn_model(cfg: BenchConfig, **options: Any) -> torch.nn.Module:
    """The pixel-MNIST IndRNN model (``fw_layers`` × ``hidden``, 10 classes), seeded;
    ``options`` go to :class:`fwlab.models.SequenceModel` (``batch_norm=True``, ...)."""
    from fwlab.models import SequenceModel

    torch.manual_seed(0)
    sizes = {"num_layers": cfg.fw_layers, "seq_len_hint": cfg.fw_seq_len}
    return SequenceModel("indrnn", 1, cfg.hidden, 10, **sizes, **options)
