r"""Calibration of notebook 02's defaults: which small adding-task setting shows the effect?

The effect notebook 02 is about: plain BPTT (with Adam) stays on the trivial plateau
:math:`\mathrm{MSE} \approx 1/6` of the adding problem, while gradient clipping and Frank-Wolfe
leave it. At the paper's setting (T = 100, hidden 128) that takes ~20,000 batches (hours on a
CPU); this sweep looks for a small setting where it shows within about a minute.

The grid (:data:`GRID`): sequence length T, hidden units, seeds; every point trains BPTT+Adam,
SGD+clip and Frank-Wolfe K=1 for ``steps`` batches with an evaluation every ``eval_every``
batches, so one run also answers every shorter budget (a multiple of ``eval_every``).
:func:`calibration_rows` turns the runs into one row per (T, hidden, budget): the best test MSE
of each method on each seed up to that budget, the seconds the three methods took, and whether
the effect held under the rule of :func:`effect_holds`.

Command (writes the table stored in the repository; ~15 min on one thread)::

    OMP_NUM_THREADS=1 nice -n 10 python -m fwlab.experiments.calibration \
        --out fwlab/experiments/data/calibration_adding.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

from fwlab.data import STALLED_MSE, load_task
from fwlab.experiments.provenance import provenance
from fwlab.train.loop import TrainConfig, fit
from fwlab.train.methods import get_method

__all__ = [
    "GRID",
    "CALIBRATION_METHODS",
    "STALL_FRACTION",
    "LEFT_MSE",
    "effect_holds",
    "calibration_rows",
    "run_calibration",
    "main",
]

#: the sweep: sequence length, hidden units, seeds, batches, data sizes, lr = δ, batch size
GRID: dict[str, Any] = dict(
    seq_len=(20, 30),
    hidden_size=(16, 32),
    seeds=(0, 1),
    steps=3000,
    eval_every=100,
    n_train=2000,
    n_test=500,
    lr=1e-3,
    batch_size=50,
)
#: the methods compared: name shown -> preset of fwlab.train.METHODS
CALIBRATION_METHODS: dict[str, str] = {
    "BPTT+Adam": "sgd",
    "BPTT+Adam, clip 1": "sgd_clip",
    "Frank-Wolfe K=1": "fw_k1",
}
#: BPTT+Adam "stalls" when its best test MSE stays above this fraction of 1/6 on every seed
STALL_FRACTION = 0.8
#: a method "left the plateau" when its best test MSE is below this on every seed
LEFT_MSE = 0.1


def effect_holds(best: dict[str, list[float]], stalled: str = "BPTT+Adam") -> bool:
    r"""The rule: ``stalled`` stays above ``STALL_FRACTION`` · 1/6 on every seed and every other
    method gets below ``LEFT_MSE`` on every seed (best test MSE up to the budget).

    Example:
        >>> effect_holds({"BPTT+Adam": [0.16, 0.15], "Frank-Wolfe K=1": [0.05, 0.08]})
        True
        >>> effect_holds({"BPTT+Adam": [0.16, 0.12], "Frank-Wolfe K=1": [0.05, 0.08]})
        False
    """
    if min(best[stalled]) <= STALL_FRACTION * STALLED_MSE:
        return False
    return all(max(v) < LEFT_MSE for k, v in best.items() if k != stalled)


def _best_up_to(history: dict[str, Any], budget: int) -> tuple[float, float]:
    """(best test MSE, seconds) over the evaluations at steps <= budget."""
    ev = history["eval"]
    idx = [i for i, s in enumerate(ev["step"]) if s <= budget]
    return min(ev["test_loss"][i] for i in idx), ev["seconds"][idx[-1]]


def calibration_rows(runs: list[dict[str, Any]], budgets: list[int]) -> list[dict[str, Any]]:
    """One row per (T, hidden, budget) from the raw runs of :func:`run_calibration`.

    A row holds ``seq_len``, ``hidden_size``, ``budget`` (batches), ``best`` (method -> best test
    MSE per seed), ``seconds`` (the three methods' time to that budget, summed, worst seed) and
    ``effect`` (:func:`effect_holds`).
    """
    rows = []
    settings = sorted({(r["seq_len"], r["hidden_size"]) for r in runs})
    for (T, H), budget in itertools.product(settings, budgets):
        best: dict[str, list[float]] = {}
        secs: dict[int, float] = {}
        for r in runs:
            if (r["seq_len"], r["hidden_size"]) != (T, H):
                continue
            b, s = _best_up_to(r["history"], budget)
            best.setdefault(r["method"], []).append(b)
            secs[r["seed"]] = secs.get(r["seed"], 0.0) + s
        rows.append(
            dict(
                seq_len=T,
                hidden_size=H,
                budget=budget,
                best=best,
                seconds=max(secs.values()),
                effect=effect_holds(best),
            )
        )
    return rows


def run_calibration(grid: dict[str, Any] = GRID) -> list[dict[str, Any]]:
    """Train every (T, hidden, seed, method) of ``grid``; one dict per run with its history."""
    runs = []
    for T, H, seed in itertools.product(grid["seq_len"], grid["hidden_size"], grid["seeds"]):
        data = load_task(
            "adding", seq_len=T, n_train=grid["n_train"], n_test=grid["n_test"], seed=seed
        )
        config = TrainConfig(
            hidden_size=H,
            batch_size=grid["batch_size"],
            lr=grid["lr"],
            steps=grid["steps"],
            eval_every=grid["eval_every"],
            seed=seed,
        )
        for name, preset in CALIBRATION_METHODS.items():
            h = fit(get_method(preset), data, config, progress=False)
            runs.append(dict(seq_len=T, hidden_size=H, seed=seed, method=name, history=h))
            print(
                f"T={T} H={H} seed={seed} {name}: best {h['summary']['best_test_loss']:.4f} "
                f"({h['summary']['wall_time']:.1f} s)",
                flush=True,
            )
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON table to write")
    args = parser.parse_args(argv)
    if args.out.is_dir():
        parser.error(f"--out {args.out} is a folder; give a .json file path")
    started = time.time()
    runs = run_calibration()
    budgets = list(range(500, GRID["steps"] + 1, 500))
    table = dict(
        what="notebook 02 calibration: best test MSE per method and seed, adding problem",
        grid={k: list(v) if isinstance(v, tuple) else v for k, v in GRID.items()},
        methods=CALIBRATION_METHODS,
        rule=f"effect: BPTT+Adam best > {STALL_FRACTION} * 1/6 on every seed and every other "
        f"method best < {LEFT_MSE} on every seed",
        rows=calibration_rows(runs, budgets),
        provenance=provenance(
            "OMP_NUM_THREADS=1 nice -n 10 python -m fwlab.experiments.calibration "
            f"--out {args.out}",
            wall_seconds=time.time() - started,
        ),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    for row in table["rows"]:
        best = "; ".join(f"{k} {'/'.join(f'{v:.3f}' for v in vs)}" for k, vs in row["best"].items())
        print(
            f"T={row['seq_len']} H={row['hidden_size']} {row['budget']} batches "
            f"{row['seconds']:.0f} s: {best} -> {'EFFECT' if row['effect'] else '-'}"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
