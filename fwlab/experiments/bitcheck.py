"""Does a run give the same bits on another machine? The two-"machine" check of
:mod:`fwlab.util.reproducible`, on one machine.

A *machine* here is the set of kernel choices a CPU makes for torch, MKL and oneDNN, emulated
by the environment variables that make those choices (:data:`MACHINES`): ATen's CPU capability,
MKL's instruction set and branch, oneDNN's instruction set, the thread count. For each case (a
recorded comparison's run, seed 0) :func:`check` re-trains its first ``steps`` batches with the
run's own ``fwlab train`` command (:meth:`fwlab.experiments.record.Comparison.train_command`) in a
fresh process per machine, once without and once with ``--reproducible``, and reports the first
batch whose loss differs between the machines (``None``: every loss bit-identical).

What it shows and what it cannot: the kernel paths these variables select differ exactly as a
CPU with another instruction set would select them; the processor that executes them is the same
one, so a difference that depends on the silicon alone (none is documented for these
instructions) would not be seen.

Example (the README's figures; minutes of CPU)::

    OMP_NUM_THREADS=1 nice -n 10 python -m fwlab.experiments.bitcheck --steps 300
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from fwlab.util import argtypes
from fwlab.util.reproducible import FLAG, PINNED

__all__ = [
    "MACHINES",
    "CASES",
    "first_difference",
    "machine_environ",
    "retrain_losses",
    "check",
    "main",
]

#: two instruction-set "machines": the kernel choices of an AVX-512 CPU and of an AVX2 CPU
#: (MKL_CBWR=AVX2 is the branch MKL takes on an AVX2 Intel CPU), one thread each (the mode pins
#: the thread count too, but two threads on a shared 2-core machine make the check crawl)
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
MACHINES: dict[str, dict[str, str]] = {
    "avx512": {
        "ATEN_CPU_CAPABILITY": "avx512",
        "MKL_ENABLE_INSTRUCTIONS": "AVX512",
        "ONEDNN_MAX_CPU_ISA": "ALL",
        **_ONE_THREAD,
    },
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "MKL_CBWR": "AVX2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        **_ONE_THREAD,
    },
}

#: (comparison, run) re-trained by default: the adding task's Frank-Wolfe K=1 (a vanilla RNN,
#: MKL's matrix products) and Table III's LSTM+Adam on BasicMotions (an LSTM)
CASES = (("adding-paper", "fw_k1"), ("table3-har2", "lstm_adam"))


def first_difference(a: list[float], b: list[float]) -> int | None:
    """The first batch (1-based) whose losses differ in any bit, or differ in length;
    ``None`` when the two lists are identical (NaN equals NaN here).

    Example:
        >>> first_difference([1.0, 2.0, 3.0], [1.0, 2.0000001, 3.0]), first_difference([1.0], [1.0])
        (2, None)
    """
    import struct

    for i, (x, y) in enumerate(zip(a, b)):
        if struct.pack("<d", x) != struct.pack("<d", y):
            return i + 1
    return None if len(a) == len(b) else min(len(a), len(b)) + 1


def retrain_losses(command: str, *, steps: int, environ: dict[str, str], out: Path) -> list[float]:
    """Run a stored ``fwlab train`` command (its ``--out`` replaced by ``out``, ``--steps steps``
    added: the first ``steps`` batches) in a new process with ``environ``; its per-batch losses.

    Raises:
        RuntimeError: the command failed (its last output lines are in the message).
    """
    from fwlab.train.history import HISTORY, load_history

    words = shlex.split(command)
    if words[:2] != ["fwlab", "train"]:
        raise ValueError(f"command must be a fwlab train command, got {command!r}")
    if "--out" in words:
        i = words.index("--out")
        del words[i : i + 2]
    argv = [sys.executable, "-m", "fwlab", *words[1:], "--steps", str(steps)]
    argv += ["--out", str(out), "--no-progress"]
    done = subprocess.run(argv, env=environ, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{shlex.join(argv[3:])} failed ({done.returncode}): {' | '.join(tail)}")
    return list(load_history(out / HISTORY)["train"]["loss"])


def machine_environ(machine: dict[str, str]) -> dict[str, str]:
    """This process's environment without the mode's variables, with ``machine``'s."""
    env = {k: v for k, v in os.environ.items() if k != FLAG and k not in PINNED}
    env.update(machine)
    return env


def check(
    cases: tuple[tuple[str, str], ...] = CASES,
    *,
    steps: int = 300,
    seed: int = 0,
    modes: tuple[bool, ...] = (False, True),
) -> list[dict[str, Any]]:
    """For each ``(comparison, run)``: re-train its first ``steps`` batches on each machine of
    :data:`MACHINES`, in each of ``modes`` (``False``: as recorded before the mode, ``True``:
    with ``--reproducible``); one dict per case and mode with the first differing batch
    (``first_difference``, ``None``: identical), the final losses, and the command."""
    if not modes or any(not isinstance(m, bool) for m in modes):
        raise ValueError(f"modes must be a non-empty tuple of bools, got {modes!r}")
    from fwlab.experiments.record import COMPARISONS

    rows = []
    with tempfile.TemporaryDirectory(prefix="fwlab-bitcheck-") as tmp:
        for name, run_name in cases:
            comparison = COMPARISONS[name]
            command = comparison.train_command(run_name, seed, reproducible=False)
            for mode in modes:
                cmd = f"{command} --reproducible" if mode else command
                losses = {}
                for machine, settings in MACHINES.items():
                    out = Path(tmp) / f"{name}-{run_name}-{machine}-{int(mode)}"
                    losses[machine] = retrain_losses(
                        cmd, steps=steps, environ=machine_environ(settings), out=out
                    )
                a, b = losses.values()
                rows.append(
                    dict(
                        comparison=name,
                        run=run_name,
                        reproducible=mode,
                        steps=steps,
                        batches=len(a),  # fewer than steps when the run is shorter
                        first_difference=first_difference(a, b),
                        last_losses={m: v[-1] for m, v in losses.items()},
                        command=cmd,
                    )
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fwlab.experiments.bitcheck",
        description="re-train runs under two instruction-set settings, without and with "
        "fwlab's reproducible mode, and print where their per-batch losses first differ",
    )
    parser.add_argument(
        "--steps", type=argtypes.positive_int, default=300, help="batches per re-training"
    )
    parser.add_argument(
        "--case",
        action="append",
        default=None,
        metavar="COMPARISON:RUN",
        help=f"what to re-train (repeatable; default {' '.join(':'.join(c) for c in CASES)})",
    )
    args = parser.parse_args(argv)
    from fwlab.experiments.record import COMPARISONS

    cases = []
    for text in args.case or [":".join(c) for c in CASES]:
        name, _, run_name = text.partition(":")
        if name not in COMPARISONS or run_name not in [m[0] for m in COMPARISONS[name].methods]:
            parser.error(
                f"--case must be COMPARISON:RUN with COMPARISON in {sorted(COMPARISONS)} and RUN "
                f"one of its runs, got {text!r}"
            )
        cases.append((name, run_name))
    try:
        rows = check(tuple(cases), steps=args.steps)
    except RuntimeError as err:
        print(f"bitcheck: {err}", file=sys.stderr)
        return 1
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
