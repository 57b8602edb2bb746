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

Command (writes the table stored in the repository; ~40 min on one thread of a loaded machine;
with ``--cache DIR`` two processes, one of them with ``--reverse``, share the runs)::

    OMP_NUM_THREADS=1 nice -n 10 python -m fwlab.experiments.calibration \
        --out fwlab/experiments/data/calibration_adding.json --cache CACHE
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from pathlib import Path
from typing import Any

from fwlab.data import STALLED_MSE, load_task
from fwlab.experiments.provenance import provenance
from fwlab.train.config import TrainConfig
from fwlab.train.loop import fit
from fwlab.train.methods import get_method

__all__ = [
    "GRID",
    "CALIBRATION_METHODS",
    "STALL_FRACTION",
    "LEFT_MSE",
    "effect_holds",
    "calibration_rows",
    "run_calibration",
    "CALIBRATION_FILE",
    "load_calibration",
    "calibration_row",
    "cheapest_effect",
    "notebook_parameters",
    "stalls",
    "left_plateau",
    "best_by_method",
    "main",
]

#: the sweep: sequence length, hidden units, seeds, batches, data sizes, lr = δ, batch size
GRID: dict[str, Any] = dict(
    seq_len=(30, 45),
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


def calibration_rows(
    runs: list[dict[str, Any]], budgets: list[int], seeds: int | None = None
) -> list[dict[str, Any]]:
    """One row per (T, hidden, budget) from the raw runs of :func:`run_calibration`.

    A row holds ``seq_len``, ``hidden_size``, ``budget`` (batches), ``best`` (method -> best test
    MSE per seed), ``seconds`` (the three methods' time to that budget, summed, worst seed) and
    ``effect`` (:func:`effect_holds`; ``False`` for a setting with fewer than ``seeds``
    finished runs of a method, marked ``complete: False``).
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
        complete = seeds is None or (
            len(best) == len(CALIBRATION_METHODS) and all(len(v) == seeds for v in best.values())
        )
        rows.append(
            dict(
                seq_len=T,
                hidden_size=H,
                budget=budget,
                best=best,
                seconds=max(secs.values()),
                effect=complete and "BPTT+Adam" in best and effect_holds(best),
                complete=complete,
            )
        )
    return rows


#: the stored table (written by the command in the module docstring)
CALIBRATION_FILE = Path(__file__).resolve().parent / "data" / "calibration_adding.json"


def load_calibration(path: str | Path = CALIBRATION_FILE) -> dict[str, Any]:
    """The stored calibration table: ``grid``, ``methods``, ``rule``, ``rows``, ``provenance``.

    Raises:
        FileNotFoundError: no table at ``path`` (the message gives the command that writes it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no calibration table at {path}; write it with `python -m "
            f"fwlab.experiments.calibration --out {path}`"
        )
    return json.loads(path.read_text())


def calibration_row(
    table: dict[str, Any], seq_len: int, hidden_size: int, budget: int
) -> dict[str, Any] | None:
    """The row of ``table`` for (T, hidden, budget in batches), or ``None`` if not measured."""
    for row in table["rows"]:
        if (row["seq_len"], row["hidden_size"], row["budget"]) == (seq_len, hidden_size, budget):
            return row
    return None


def cheapest_effect(table: dict[str, Any], *, partial: bool = False) -> dict[str, Any] | None:
    """The row with the effect that took the fewest seconds (``None`` if no row shows it).

    ``partial=True``: the cheapest complete row where BPTT+Adam stalls (:func:`stalls`) and at
    least one other method left the plateau on every seed (:func:`left_plateau`), whether or
    not all of them did.
    """
    if partial:
        rows = [
            r
            for r in table["rows"]
            if r.get("complete", True) and stalls(r["best"]) and left_plateau(r["best"])
        ]
    else:
        rows = [r for r in table["rows"] if r["effect"]]
    return min(rows, key=lambda r: r["seconds"]) if rows else None


def stalls(best: dict[str, list[float]], method: str = "BPTT+Adam") -> bool:
    """``method`` stayed above ``STALL_FRACTION`` · 1/6 on every seed (``False`` if absent).

    Example:
        >>> stalls({"BPTT+Adam": [0.16, 0.14]}), stalls({"BPTT+Adam": [0.16, 0.12]})
        (True, False)
    """
    return method in best and min(best[method]) > STALL_FRACTION * STALLED_MSE


def left_plateau(best: dict[str, list[float]], stalled: str = "BPTT+Adam") -> list[str]:
    """The methods other than ``stalled`` whose best test MSE is below ``LEFT_MSE`` on every seed.

    Example:
        >>> left_plateau({"BPTT+Adam": [0.16, 0.14], "a": [0.05, 0.11], "b": [0.08, 0.07]})
        ['b']
    """
    return [k for k, v in best.items() if k != stalled and max(v) < LEFT_MSE]


def notebook_parameters(row: dict[str, Any], grid: dict[str, Any] = GRID) -> dict[str, Any]:
    """Notebook 02's parameters that reproduce ``row`` of the calibration (without the seed).

    Example:
        >>> p = notebook_parameters({"seq_len": 45, "hidden_size": 16, "budget": 1500})
        >>> p["seq_len"], p["steps"], p["methods"], p["delta"]
        (45, 1500, ['sgd', 'sgd_clip', 'fw_k1'], 0.001)
    """
    return dict(
        seq_len=row["seq_len"],
        hidden_size=row["hidden_size"],
        steps=row["budget"],
        methods=list(CALIBRATION_METHODS.values()),
        K=1,
        lr=grid["lr"],
        delta=grid["lr"],
        batch_size=grid["batch_size"],
        n_train=grid["n_train"],
        n_test=grid["n_test"],
    )


def best_by_method(histories: dict[str, dict[str, Any]]) -> dict[str, list[float]]:
    """Calibration name → [best test MSE] of the histories trained with its preset."""
    out: dict[str, list[float]] = {}
    for shown, preset in CALIBRATION_METHODS.items():
        for h in histories.values():
            m = h["method"]
            if m["name"] == preset and (m["optimizer"] != "fw" or m["K"] == 1):
                out.setdefault(shown, []).append(h["summary"]["best_test_loss"])
    return out


def _point_name(T: int, H: int, seed: int, preset: str) -> str:
    return f"T{T}-H{H}-seed{seed}-{preset}.json"


def run_calibration(
    grid: dict[str, Any] = GRID,
    *,
    cache: str | Path | None = None,
    reverse: bool = False,
    settings: list[tuple[int, int]] | None = None,
) -> list[dict[str, Any]]:
    """Train every (T, hidden, seed, method) of ``grid``; one dict per run with its history.

    With ``cache`` (a folder) each finished run is written there and reused by the next call,
    and a run another process is training (its lock is held) is skipped, so several processes
    (``reverse=True`` walks the grid from the end) share the work; the runs missing from the
    returned list are the ones still in progress elsewhere. ``settings`` keeps only those
    (T, hidden) pairs.
    """
    from filelock import FileLock, Timeout

    points = list(itertools.product(grid["seq_len"], grid["hidden_size"], grid["seeds"]))
    if settings is not None:  # only these (T, hidden) settings
        points = [p for p in points if (p[0], p[1]) in settings]
    runs = []
    for T, H, seed in reversed(points) if reverse else points:
        data = None
        config = TrainConfig(
            hidden_size=H,
            batch_size=grid["batch_size"],
            lr=grid["lr"],
            steps=grid["steps"],
            eval_every=grid["eval_every"],
            seed=seed,
        )
        for name, preset in CALIBRATION_METHODS.items():
            point = dict(seq_len=T, hidden_size=H, seed=seed, method=name)
            path = Path(cache) / _point_name(T, H, seed, preset) if cache else None
            if path is not None and path.is_file():
                runs.append(dict(point, history=json.loads(path.read_text())))
                continue
            lock = FileLock(str(path) + ".lock") if path is not None else None
            if lock is not None:
                try:
                    lock.acquire(timeout=0)
                except Timeout:
                    continue  # another process trains it
            try:
                if data is None:
                    data = load_task(
                        "adding", seq_len=T, n_train=grid["n_train"], n_test=grid["n_test"],
                        seed=seed,
                    )  # fmt: skip
                h = fit(get_method(preset), data, config, progress=False)
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(json.dumps(h))
            finally:
                if lock is not None:
                    lock.release()
            runs.append(dict(point, history=h))
            print(
                f"T={T} H={H} seed={seed} {name}: best {h['summary']['best_test_loss']:.4f} "
                f"({h['summary']['wall_time']:.1f} s)",
                flush=True,
            )
    return runs


def _settings(parser: argparse.ArgumentParser, text: str | None) -> list[tuple[int, int]] | None:
    if text is None:
        return None
    try:
        return [tuple(int(v) for v in item.split("x")) for item in text.split(",")]  # type: ignore[misc]
    except ValueError:
        parser.error(f"--settings must look like 45x16,30x32 (T x hidden), got {text!r}")


def _cached_runs(cache: Path, grid: dict[str, Any] = GRID) -> list[dict[str, Any]]:
    runs = []
    for T, H, seed in itertools.product(grid["seq_len"], grid["hidden_size"], grid["seeds"]):
        for name, preset in CALIBRATION_METHODS.items():
            path = Path(cache) / _point_name(T, H, seed, preset)
            if path.is_file():
                point = dict(seq_len=T, hidden_size=H, seed=seed, method=name)
                runs.append(dict(point, history=json.loads(path.read_text())))
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON table to write")
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder of finished runs: reused, and shared by processes run in parallel",
    )
    parser.add_argument("--reverse", action="store_true", help="walk the grid from its end")
    parser.add_argument(
        "--settings",
        default=None,
        help="only these (T, hidden) settings, e.g. 45x16,30x32 (default: the whole grid)",
    )
    parser.add_argument(
        "--partial",
        action="store_true",
        help="write the table from the finished runs in --cache only (settings with a run "
        "missing are marked incomplete and listed as not run); trains nothing",
    )
    args = parser.parse_args(argv)
    if args.out.is_dir():
        parser.error(f"--out {args.out} is a folder; give a .json file path")
    if args.partial and args.cache is None:
        parser.error("--partial reads the finished runs of --cache; give --cache")
    runs = (
        _cached_runs(args.cache) if args.partial else run_calibration(
            cache=args.cache, reverse=args.reverse, settings=_settings(parser, args.settings))
    )  # fmt: skip
    expected = math.prod(len(GRID[k]) for k in ("seq_len", "hidden_size", "seeds"))
    missing: list[str] = []
    if args.partial:  # keep only the (T, hidden) settings whose every run is finished
        n = len(GRID["seeds"]) * len(CALIBRATION_METHODS)
        count: dict[tuple[int, int], int] = {}
        for r in runs:
            count[(r["seq_len"], r["hidden_size"])] = (
                count.get((r["seq_len"], r["hidden_size"]), 0) + 1
            )
        complete = {k for k, v in count.items() if v == n}
        settings = itertools.product(GRID["seq_len"], GRID["hidden_size"])
        missing = [f"T={T} H={H}" for T, H in settings if (T, H) not in complete]
    elif len(runs) < expected * len(CALIBRATION_METHODS):
        print(f"{len(runs)} runs finished here; the others are in progress elsewhere: run the "
              "same command again when they are done to write the table")  # fmt: skip
        return 0
    runs.sort(key=lambda r: (r["seq_len"], r["hidden_size"], r["seed"]))
    budgets = list(range(500, GRID["steps"] + 1, 500))
    table = dict(
        what="notebook 02 calibration: best test MSE per method and seed, adding problem",
        grid={k: list(v) if isinstance(v, tuple) else v for k, v in GRID.items()},
        methods=CALIBRATION_METHODS,
        rule=f"effect: BPTT+Adam best > {STALL_FRACTION} * 1/6 on every seed and every other "
        f"method best < {LEFT_MSE} on every seed",
        rows=calibration_rows(runs, budgets, seeds=len(GRID["seeds"])),
        not_run=missing,
        provenance=provenance(
            "OMP_NUM_THREADS=1 nice -n 10 python -m fwlab.experiments.calibration "
            f"--out {args.out} --cache CACHE" + (" --partial" if args.partial else ""),
            wall_seconds=sum(r["history"]["summary"]["wall_time"] for r in runs),
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
