"""Measure the asked keys (:func:`run_bench`) and print them as a table (:func:`format_table`)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import torch

from fwlab.app.bench.config import DEFAULT_KEYS, DEVICES, KEYS, TARGETS, BenchConfig
from fwlab.app.bench.indrnn import bench_indrnn6, bench_indrnn_memory_vs_rnn, bench_indrnn_vs_rnn
from fwlab.app.bench.notebooks import bench_notebooks_s
from fwlab.app.bench.optimizer import bench_fw_closure_overhead, bench_fw_streaming_vs_adam
from fwlab.app.bench.toy import bench_toy_recompute_ms
from fwlab.util import validate

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


#: the line under a key's row: its details
_DETAILS = {
    "fw_streaming_vs_adam": "FW mid-step / Adam {mid_step_vs_adam:.3f}, K-th step / Adam "
    "{kth_step_vs_adam:.3f} (Adam step {adam_us:.0f} us)",
    "indrnn_vs_rnn": "IndRNN {indrnn_ms:.1f} ms, nn.RNN {rnn_ms:.1f} ms; the reference autograd "
    "loop {reference_ms:.1f} ms = {reference_vs_rnn:.3f} x nn.RNN",
    "indrnn_memory_vs_rnn": "peak memory IndRNN {indrnn_mib:.1f} MiB, nn.RNN {rnn_mib:.1f} MiB",
    "indrnn6_step_ms": "6-layer step: FW {fw_step_ms:.0f} ms, Adam {adam_step_ms:.0f} ms",
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
    measured: dict[str, tuple[float, dict[str, Any]]] = {}  # a multi-bench's keys at once
    try:
        for key in keys:
            if key not in measured:
                if log:
                    log(f"measuring {key} ...")
                if key in _MULTI_BENCHES:
                    measured.update(_MULTI_BENCHES[key](cfg))
                else:
                    extra = {"folder": notebooks_dir} if key == "notebooks_s" else {}
                    measured[key] = _BENCHES[key](cfg, **extra)
            value, details[key] = measured[key]
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
    for key, text in _DETAILS.items():
        if key in result["meta"]["details"]:
            lines.append(f"{'':<22} " + text.format(**result["meta"]["details"][key]))
    meta = result["meta"]
    lines.append(
        f"median of {meta['config']['repeats']} repeats; torch {meta['torch']}, "
        f"{meta['threads']} thread(s), {meta['cpus']} CPUs, device {meta['device']}"
        + (f" ({meta['gpu']})" if meta.get("gpu") else "")
        + ("; --quick sizes (ratios not meaningful)" if meta["quick"] else "")
    )
    return "\n".join(lines)
