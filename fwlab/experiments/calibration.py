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

**A study on the run engine** (:mod:`fwlab.runs`, :func:`calibration_study`): the same command
run again skips the finished points, an edited :func:`train_point` or grid re-trains them, and
``--jobs N`` trains N at a time.

**No peeking.** The default is *selected* on :data:`SELECTION_SEEDS`; what notebook 02 *reports*
about it comes from other seeds: the recorded comparison :data:`REPORTING` (``fwlab record
adding-calibrated``, seeds 10-19) and the notebook's live seeds. :func:`check_disjoint` refuses
any overlap (the study, the notebook and the tests call it), and :func:`effect_frequency` counts
on how many reported seeds the effect held.

Command (writes the table stored in the repository; one thread; resumable)::

    OMP_NUM_THREADS=1 nice -n 10 python -m fwlab.experiments.calibration \
        --out fwlab/experiments/data/calibration_adding.json --runs runs/calibration
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fwlab.data import STALLED_MSE, load_task
from fwlab.experiments.record import COMPARISONS, RUN_LABELS
from fwlab.runs.provenance import provenance
from fwlab.train.config import TrainConfig
from fwlab.train.loop import fit
from fwlab.train.methods import get_method
from fwlab.util.argtypes import positive_int
from fwlab.util.atomic import atomic_write_text

if TYPE_CHECKING:
    from fwlab.runs import Study

__all__ = [
    "GRID",
    "CALIBRATION_METHODS",
    "STALL_FRACTION",
    "LEFT_MSE",
    "SELECTION_SEEDS",
    "REPORTING",
    "REPORTED_RUNS",
    "EffectFrequency",
    "effect_holds",
    "effect_frequency",
    "calibration_rows",
    "calibration_study",
    "check_disjoint",
    "finished_runs",
    "reporting_seeds",
    "run_calibration",
    "train_point",
    "CALIBRATION_FILE",
    "load_calibration",
    "cheapest_effect",
    "notebook_parameters",
    "stalls",
    "left_plateau",
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
#: the methods compared: name shown (:data:`fwlab.experiments.record.RUN_LABELS`) -> preset of
#: fwlab.train.METHODS
CALIBRATION_METHODS: dict[str, str] = {RUN_LABELS[p]: p for p in ("sgd", "sgd_clip", "fw_k1")}
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
    return stalls(best, stalled) and len(left_plateau(best, stalled)) == len(best) - 1


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
                effect=complete and effect_holds(best),
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


#: the seeds the default is selected on (the calibration's); never reported on
SELECTION_SEEDS: tuple[int, ...] = tuple(GRID["seeds"])
#: the recorded comparison that reports on the chosen default (fwlab.experiments.record.COMPARISONS)
REPORTING = "adding-calibrated"
#: the recorded comparison's run names -> the calibration's names of the same presets
REPORTED_RUNS: dict[str, str] = {r: RUN_LABELS[r] for r in ("bptt_adam", "sgd_clip", "fw_k1")}


def reporting_seeds() -> tuple[int, ...]:
    """The seeds of the recorded comparison :data:`REPORTING`."""
    return tuple(COMPARISONS[REPORTING].seeds)


def check_disjoint(
    selection: Sequence[int], reported: Sequence[int], *, what: str = "reported seeds"
) -> None:
    """Refuse reporting on a seed the setting was selected on.

    Raises:
        ValueError: ``reported`` and ``selection`` share a seed (the message names them).

    Example:
        >>> check_disjoint((0, 1), range(10, 20))
        >>> check_disjoint((0, 1), [1, 2], what="live seeds")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: live seeds [1, 2] include seed 1 that the calibration selected the default ...
    """
    shared = sorted(set(selection) & set(reported))
    if shared:
        said = ", ".join(map(str, shared))
        raise ValueError(
            f"{what} {sorted(reported)} include seed{'s' if len(shared) > 1 else ''} {said} that "
            f"the calibration selected the default on (selection seeds {sorted(selection)}); "
            "report on other seeds"
        )


def train_point(
    seq_len: int,
    hidden_size: int,
    method: str,
    seed: int,
    *,
    steps: int = GRID["steps"],
    eval_every: int = GRID["eval_every"],
    n_train: int = GRID["n_train"],
    n_test: int = GRID["n_test"],
    lr: float = GRID["lr"],
    batch_size: int = GRID["batch_size"],
) -> dict[str, Any]:
    """Train the preset ``method`` on the adding task of length ``seq_len`` (data of ``seed``)
    with ``hidden_size`` units, on one thread as the calibration ran; the run engine's
    :class:`~fwlab.runs.Function` target of :func:`calibration_study`.

    Returns ``best_test_loss``, ``wall_time`` (seconds) and ``eval`` (``step``, ``test_loss``,
    ``seconds`` of every evaluation): what :func:`calibration_rows` reads.

    Example:
        >>> r = train_point(6, 4, "fw_k1", 0, steps=4, eval_every=2, n_train=40, n_test=20,
        ...                 batch_size=10)
        >>> r["eval"]["step"], r["best_test_loss"] == min(r["eval"]["test_loss"])
        ([2, 4], True)
    """
    import torch

    torch.set_num_threads(1)
    data = load_task("adding", seq_len=seq_len, n_train=n_train, n_test=n_test, seed=seed)
    config = TrainConfig(hidden_size=hidden_size, batch_size=batch_size, lr=lr, steps=steps,
                         eval_every=eval_every, seed=seed)  # fmt: skip
    h = fit(get_method(method), data, config, progress=False)
    ev = h["eval"]
    return dict(
        best_test_loss=h["summary"]["best_test_loss"],
        wall_time=h["summary"]["wall_time"],
        eval={k: ev[k] for k in ("step", "test_loss", "seconds")},
    )


def calibration_study(
    runs: str | Path,
    grid: dict[str, Any] = GRID,
    *,
    settings: Sequence[tuple[int, int]] | None = None,
) -> Study:
    """The calibration as a :class:`~fwlab.runs.Study` of :func:`train_point` over
    (T, hidden, method) × the grid's seeds, each run in ``runs/<point>``; ``settings`` keeps
    only those (T, hidden) pairs.

    Raises:
        ValueError: the grid's seeds include a seed the recorded comparison :data:`REPORTING`
            reports on (:func:`check_disjoint`), or ``settings`` names a pair not in the grid.
    """
    from fwlab.runs import Function, Study

    check_disjoint(reporting_seeds(), grid["seeds"], what="calibration seeds")
    pairs = list(itertools.product(grid["seq_len"], grid["hidden_size"]))
    if settings is not None:
        unknown = [s for s in settings if tuple(s) not in pairs]
        if unknown:
            raise ValueError(
                f"settings must be (T, hidden) pairs of the grid {pairs}, got {unknown}"
            )
        pairs = [p for p in pairs if p in {tuple(s) for s in settings}]
    fixed = {k: grid[k] for k in ("steps", "eval_every", "n_train", "n_test", "lr", "batch_size")}
    axes = {
        "seq_len": sorted({T for T, _ in pairs}),
        "hidden_size": sorted({H for _, H in pairs}),
        "method": list(CALIBRATION_METHODS.values()),
    }
    return Study(Function(train_point), runs, axes, fixed=fixed, seeds=list(grid["seeds"]))


def finished_runs(study: Study) -> list[dict[str, Any]]:
    """The runs of ``study`` that finished ``"ok"`` for what the study asks now (same function,
    same parameters), in the shape :func:`calibration_rows` reads: ``seq_len``,
    ``hidden_size``, ``seed``, ``method`` (the calibration's name) and ``history`` (the run's
    results)."""
    from fwlab.runs import RESULTS_FILE, is_done

    shown = {preset: name for name, preset in CALIBRATION_METHODS.items()}
    identity = study.target.identity()
    found = []
    for run in study.runs():
        folder = study.run_dir(run)
        if not is_done(folder, run.digest(identity)):
            continue
        p = run.arguments
        found.append(dict(seq_len=p["seq_len"], hidden_size=p["hidden_size"], seed=p["seed"],
                          method=shown[p["method"]],
                          history=json.loads((folder / RESULTS_FILE).read_text())))  # fmt: skip
    return found


def run_calibration(
    grid: dict[str, Any] = GRID,
    *,
    runs: str | Path,
    jobs: int = 1,
    settings: Sequence[tuple[int, int]] | None = None,
    log: Any = None,
) -> list[dict[str, Any]]:
    """Train every point of :func:`calibration_study` that is not done (``jobs`` at a time, in
    worker processes), then return every finished run (:func:`finished_runs`)."""
    study = calibration_study(runs, grid, settings=settings)
    study.run(jobs=jobs, log=log)
    return finished_runs(calibration_study(runs, grid))


@dataclass(frozen=True)
class EffectFrequency:
    """On how many seeds the calibration's effect held, seed by seed (:func:`effect_frequency`).

    Attributes:
        seeds: the seeds counted (every seed with a value for each of the three runs).
        best: run name (:data:`REPORTED_RUNS`) -> seed -> best test MSE.
        stalled: seeds on which BPTT+Adam stalled (best above ``STALL_FRACTION`` · 1/6).
        below: run name -> seeds on which its best test MSE got below ``LEFT_MSE``.
        effect: seeds on which BPTT+Adam stalled and Frank-Wolfe K=1 got below ``LEFT_MSE``.
        only: those of ``effect`` on which clipping did not get below ``LEFT_MSE`` (the
            headline "only Frank-Wolfe K=1 gets below 0.1").
        nonfinite: run name -> seeds whose best test MSE is NaN/inf (counted as stalled, never
            as below ``LEFT_MSE``: a diverged run learned nothing).
    """

    seeds: tuple[int, ...]
    best: dict[str, dict[int, float]]
    stalled: tuple[int, ...]
    below: dict[str, tuple[int, ...]]
    effect: tuple[int, ...]
    only: tuple[int, ...]
    nonfinite: dict[str, tuple[int, ...]]

    def text(self) -> str:
        """The counts in words, e.g. "... held on 7 of 10 seeds (10, 11, ...)"."""
        n = len(self.seeds)

        def count(seeds: Sequence[int]) -> str:
            listed = f" ({', '.join(map(str, seeds))})" if seeds else ""
            return f"{len(seeds)} of {n} seeds{listed}"

        lines = [f"BPTT+Adam stalled (best test MSE above {STALL_FRACTION} · 1/6) on "
                 f"{count(self.stalled)}"]  # fmt: skip
        lines += [f"{REPORTED_RUNS[r]}: best test MSE below {LEFT_MSE} on {count(s)}"
                  for r, s in self.below.items()]  # fmt: skip
        lines.append(f"BPTT+Adam stalls and Frank-Wolfe K=1 gets below {LEFT_MSE}: on "
                     f"{count(self.effect)}")  # fmt: skip
        lines.append(f"... and clipping does not (only Frank-Wolfe K=1 below {LEFT_MSE}): on "
                     f"{count(self.only)}")  # fmt: skip
        for r, s in self.nonfinite.items():
            if s:
                lines.append(f"{REPORTED_RUNS[r]}: no finite test MSE (diverged) on {count(s)}")
        return "\n".join(lines)


def effect_frequency(recorded: Mapping[str, Any]) -> EffectFrequency:
    """Count the seeds of a recorded comparison at the calibrated setting (:data:`REPORTING`,
    :func:`fwlab.experiments.recorded.load_recorded`) on which the calibration's effect held, seed
    by
    seed, on each run's best test MSE (the calibration's measure).

    Raises:
        ValueError: the comparison lacks one of the runs of :data:`REPORTED_RUNS`.

    Example:
        >>> def h(v): return {"summary": {"best_test_loss": v}}
        >>> rec = {"runs": {"bptt_adam": {"3": h(0.15), "4": h(0.15), "5": h(0.09)},
        ...                 "sgd_clip": {"3": h(0.12), "4": h(0.05), "5": h(0.05)},
        ...                 "fw_k1": {"3": h(0.08), "4": h(0.07), "5": h(float("nan"))}}}
        >>> f = effect_frequency(rec)
        >>> f.seeds, f.stalled, f.effect, f.only, f.nonfinite["fw_k1"]
        ((3, 4, 5), (3, 4), (3, 4), (3,), (5,))
    """
    missing = [r for r in REPORTED_RUNS if r not in recorded["runs"]]
    if missing:
        raise ValueError(f"recorded must hold the runs {list(REPORTED_RUNS)}; it lacks {missing}")
    best = {
        r: {int(s): float(h["summary"]["best_test_loss"]) for s, h in recorded["runs"][r].items()}
        for r in REPORTED_RUNS
    }
    seeds = tuple(sorted(set.intersection(*(set(b) for b in best.values()))))
    bad = {r: tuple(s for s in seeds if not math.isfinite(best[r][s])) for r in best}
    below = {r: tuple(s for s in seeds if best[r][s] < LEFT_MSE) for r in best}
    stalled = tuple(
        s
        for s in seeds
        if s in bad["bptt_adam"] or best["bptt_adam"][s] > STALL_FRACTION * STALLED_MSE
    )
    effect = tuple(s for s in stalled if s in below["fw_k1"])
    only = tuple(s for s in effect if s not in below["sgd_clip"])
    return EffectFrequency(seeds, best, stalled, below, effect, only, bad)


def _settings(parser: argparse.ArgumentParser, text: str | None) -> list[tuple[int, int]] | None:
    if text is None:
        return None
    try:
        return [tuple(int(v) for v in item.split("x")) for item in text.split(",")]  # type: ignore[misc]
    except ValueError:
        parser.error(f"--settings must look like 45x16,30x32 (T x hidden), got {text!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON table to write")
    parser.add_argument(
        "--runs",
        "--cache",
        dest="runs",
        type=Path,
        default=Path("runs/calibration"),
        help="folder of the runs (one sub-folder per point, with status.json and results.json): "
        "the same command again skips the finished ones",
    )
    parser.add_argument("--jobs", type=positive_int, default=1, help="points trained at a time")
    parser.add_argument(
        "--settings",
        default=None,
        help="only these (T, hidden) settings, e.g. 45x16,30x32 (default: the whole grid)",
    )
    parser.add_argument(
        "--partial",
        action="store_true",
        help="write the table from the finished runs in --runs only (settings with a run "
        "missing are marked incomplete and listed as not run); trains nothing",
    )
    args = parser.parse_args(argv)
    if args.out.is_dir():
        parser.error(f"--out {args.out} is a folder; give a .json file path")
    if args.runs.exists() and not args.runs.is_dir():
        parser.error(f"--runs {args.runs} is a file; give a folder")
    settings = _settings(parser, args.settings)
    try:
        if args.partial:
            runs = finished_runs(calibration_study(args.runs))
        else:
            runs = run_calibration(runs=args.runs, jobs=args.jobs, settings=settings)
    except ValueError as err:
        parser.error(str(err))
    n = len(GRID["seeds"]) * len(CALIBRATION_METHODS)
    count = Counter((r["seq_len"], r["hidden_size"]) for r in runs)
    missing = [
        f"T={T} H={H}"
        for T, H in itertools.product(GRID["seq_len"], GRID["hidden_size"])
        if count[(T, H)] != n
    ]
    if missing and not args.partial:
        print(f"{len(runs)} runs finished; {', '.join(missing)} not complete: run the same "
              "command again (or with --partial) to write the table")  # fmt: skip
        return 0
    runs = [r for r in runs if count[(r["seq_len"], r["hidden_size"])] == n]
    runs.sort(key=lambda r: (r["seq_len"], r["hidden_size"], r["seed"]))
    budgets = list(range(500, GRID["steps"] + 1, 500))
    command = (
        "OMP_NUM_THREADS=1 nice -n 10 python -m fwlab.experiments.calibration "
        f"--out {args.out} --runs RUNS" + (" --partial" if args.partial else "")
    )
    table = dict(
        what="notebook 02 calibration: best test MSE per method and seed, adding problem",
        grid={k: list(v) if isinstance(v, tuple) else v for k, v in GRID.items()},
        methods=CALIBRATION_METHODS,
        rule=f"effect: BPTT+Adam best > {STALL_FRACTION} * 1/6 on every seed and every other "
        f"method best < {LEFT_MSE} on every seed",
        rows=calibration_rows(runs, budgets, seeds=len(GRID["seeds"])),
        not_run=missing,
        provenance=provenance(command, wall_seconds=sum(r["history"]["wall_time"] for r in runs)),
    )
    atomic_write_text(args.out, json.dumps(table, indent=1) + "\n")
    for row in table["rows"]:
        best = "; ".join(f"{k} {'/'.join(f'{v:.3f}' for v in vs)}" for k, vs in row["best"].items())
        print(
            f"T={row['seq_len']} H={row['hidden_size']} {row['budget']} batches "
            f"{row['seconds']:.0f} s: {best} -> {'EFFECT' if row['effect'] else '-'}"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
