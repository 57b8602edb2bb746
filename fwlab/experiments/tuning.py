"""One trial of a tuning search: train a method at a learning rate (and δ) and score it on the
validation split, reporting every evaluation so that a pruner can stop it early.

:func:`train_trial` is the function target of ``fwlab search METHOD`` and of tuned-baseline
comparisons at equal budget: every method gets the same search (space, trials, sampler, seeds
kept apart from the reporting seeds) through :func:`fwlab.integrations.optuna.search`, and is
selected on ``valid_loss`` (or ``valid_acc``, maximized) only, never on the test set.

Example (a few batches of the adding task, outside a search):
    >>> r = train_trial("adding", "fw_k1", lr=1e-2, steps=4, eval_every=2, hidden_size=4,
    ...                 batch_size=20, task_options={"seq_len": 5, "n_train": 100, "n_test": 20})
    >>> r["steps"], r["pruned"], r["valid_loss"] > 0, r["evals"]
    (4, False, True, 2)

**Tuned baselines at equal budget** (:data:`TUNING`). A :class:`TuningPlan` gives every method
of a recorded comparison at one fixed setting (``fixed``, e.g. ``table3-har2``: one learning
rate for every method, as the paper uses) the same budget: every learning rate of one stated
log grid around it (``lrs``; δ tied to the learning rate, δ = η, as the paper sets it) on
every tuning seed (``seeds``, disjoint from the reporting seeds), each run trained by
:func:`tuning_trial` exactly as the fixed comparison trains it but for η and the seed. The runs
are one :class:`fwlab.runs.Study` (:func:`tuning_study`: a grid of run × lr over the tuning
seeds, resumable, one result per run),
and its table (:func:`tuning_table`, stored under ``experiments/data/tuning/``) holds the
pre-declared validation metric of every (method, lr, tuning seed). :func:`select` picks each
method's learning rate from that table by :data:`SELECTION`; the tuned comparison
(``fwlab record NAME``, e.g. ``table3-har2-tuned``) then trains each method at its chosen rate
on the reporting seeds. Run a plan with
``FWLAB_REPRODUCIBLE=1 OMP_NUM_THREADS=1 python -m fwlab.experiments.tuning NAME --runs DIR
--table fwlab/experiments/data/tuning/NAME.json``.

Example (the selection rule on a table of two rates × two seeds; NaN ranks worst):
    >>> rows = [dict(run="sgd", lr=lr, seed=s, valid_loss=v) for lr, s, v in
    ...         [(1e-3, 100, 0.5), (1e-3, 101, 0.7), (1e-2, 100, 0.1), (1e-2, 101, float("nan"))]]
    >>> chosen = select(rows, runs=["sgd"], lrs=[1e-3, 1e-2], seeds=[100, 101],
    ...                 reporting_seeds=range(10))
    >>> chosen["sgd"].lr, chosen["sgd"].scores
    (0.001, {0.001: 0.6, 0.01: nan})
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fwlab.util.validate import one_of

__all__ = [
    "SELECTION",
    "TUNING",
    "TUNING_DIR",
    "Selection",
    "TuningPlan",
    "after_tuning",
    "check_disjoint",
    "survivals",
    "surviving",
    "load_tuning",
    "select",
    "select_table",
    "train_trial",
    "tuning_study",
    "tuning_table",
    "tuning_trial",
]


def train_trial(
    task: str,
    method: str,
    lr: float,
    delta: float | None = None,
    seed: int = 0,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    eval_every: int | None = None,
    hidden_size: int = 32,
    batch_size: int = 32,
    task_options: Mapping[str, Any] | None = None,
    valid_fraction: float = 0.1,
    device: str = "cpu",
    run_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train the preset ``method`` on ``task`` (:func:`fwlab.data.load_task` with
    ``task_options``) with ``lr`` and ``delta`` (``None``: tied, δ = lr), holding out
    ``valid_fraction`` of the training set as a validation split chosen by ``seed``.

    At every evaluation it reports ``valid_loss`` (and ``valid_acc`` for classifiers) with
    :func:`fwlab.runs.intermediate.report` and stops when the search prunes it. With
    ``run_dir`` (given by the run engine) the training lives in ``run_dir/train``; a trial run
    again after an interruption resumes from its checkpoint.

    Returns ``valid_loss`` (the lowest validation loss), ``valid_acc`` (the highest validation
    accuracy; ``None`` for regression), the test values at the best validation value
    (:func:`fwlab.train.history.selected_by_validation`), ``steps``, ``evals``, ``pruned``.
    """
    from fwlab.data import load_task, validation_size, with_validation
    from fwlab.runs.intermediate import report
    from fwlab.train import Callback, TrainConfig, fit, get_method
    from fwlab.train.history import selected_by_validation

    data = load_task(task, **dict(task_options or {}))
    data = with_validation(data, validation_size(len(data.train), valid_fraction), seed=seed)
    config = TrainConfig(hidden_size=hidden_size, batch_size=batch_size, lr=lr, delta=delta,
                         steps=steps, epochs=epochs, eval_every=eval_every, seed=seed,
                         device=device)  # fmt: skip
    pruned = []

    class ReportToPruner(Callback):
        """Each evaluation's validation values go to the search's pruner; it may stop the run."""

        def on_eval_end(self, run: Any) -> None:
            ev = run.history["eval"]
            values = {"valid_loss": ev["valid_loss"][-1]}
            if ev["valid_acc"][-1] is not None:
                values["valid_acc"] = ev["valid_acc"][-1]
            if report(run.step, values) and not pruned:
                pruned.append(run.step)
                run.request_stop()

    on_eval = ReportToPruner()

    out = None if run_dir is None else Path(run_dir) / "train"
    resume = out is not None and (out / "checkpoint.pt").exists()
    history = fit(get_method(method), data, config, callbacks=[on_eval], out_dir=out,
                  resume=resume, overwrite=out is not None and not resume,
                  progress=False)  # fmt: skip
    ev = history["eval"]
    accs = [a for a in ev["valid_acc"] if a is not None]
    return {
        "valid_loss": min(ev["valid_loss"]),
        "valid_acc": max(accs) if accs else None,
        **selected_by_validation(ev),
        "steps": history["summary"]["steps"],
        "evals": len(ev["step"]),
        "pruned": bool(pruned),
        "data": data.name,
    }


#: the selection rule every tuned comparison uses, pre-declared (printed with each table)
SELECTION = (
    "per method, the learning rate with the lowest validation loss (the lowest over a run's "
    "evaluations, on the validation split held out of the training set; cross-entropy for "
    "classification, MSE for regression), averaged over the tuning seeds; a rate with a "
    "diverged or failed run on any tuning seed (NaN) ranks worst; on equal averages the "
    "smaller learning rate; the test set plays no part"
)
#: where the stored tuning tables live
TUNING_DIR = Path(__file__).resolve().parent / "data" / "tuning"
_TRIAL = "fwlab.experiments.tuning:tuning_trial"


def check_disjoint(tuning_seeds: Iterable[int], reporting_seeds: Iterable[int]) -> None:
    """Refuse tuning seeds that are also reporting seeds (``ValueError`` naming them)."""
    both = sorted(set(tuning_seeds) & set(reporting_seeds))
    if both:
        raise ValueError(
            f"tuning seed(s) {both} are also reporting seeds: a rate selected on a seed must "
            "not be reported on it; choose tuning seeds outside the reporting seeds"
        )


@dataclass(frozen=True)
class TuningPlan:
    """One tuned comparison's budget: every run of ``runs`` of the fixed comparison ``fixed``
    at every learning rate of ``lrs`` (δ tied: δ = η) on every tuning seed of ``seeds``; the
    tuned comparison ``name`` reports each run at its selected rate on ``reporting_seeds``.
    ``fixed_lr`` is the fixed comparison's learning rate, a point of the grid."""

    name: str
    fixed: str
    runs: tuple[str, ...]
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    reporting_seeds: tuple[int, ...]
    fixed_lr: float
    metric: str = "valid_loss"

    def __post_init__(self) -> None:
        if list(self.lrs) != sorted(set(self.lrs)) or not all(lr > 0 for lr in self.lrs):
            raise ValueError(f"lrs must be increasing positive numbers, got {self.lrs}")
        if self.fixed_lr not in self.lrs:
            raise ValueError(f"the grid {self.lrs} must hold the fixed lr {self.fixed_lr}")
        check_disjoint(self.seeds, self.reporting_seeds)

    @property
    def command(self) -> str:
        """The command that runs (or resumes) the plan's study and writes its stored table."""
        return (
            f"FWLAB_REPRODUCIBLE=1 OMP_NUM_THREADS=1 python -m fwlab.experiments.tuning "
            f"{self.name} --runs RUNS --table fwlab/experiments/data/tuning/{self.name}.json"
        )


def _half_decades(center: float, below: int, above: int) -> tuple[float, ...]:
    """``center`` · 10^(k/2) for k = -below..above, to 3 significant digits."""
    return tuple(float(f"{center * 10 ** (k / 2):.3g}") for k in range(-below, above + 1))


#: the tuned comparisons: BasicMotions' Table III rows that the paper's orderings of the vanilla
#: RNN (Frank-Wolfe K=1 vs BPTT and vs clipping, K=5 vs K=1) and of IndRNN rest on, and
#: notebook 02's small adding setting; five learning rates half a decade apart around the
#: fixed setting's, three tuning seeds (100-102) disjoint from the reporting seeds
TUNING: dict[str, TuningPlan] = {
    p.name: p
    for p in (
        TuningPlan(
            "table3-har2-tuned",
            "table3-har2",
            ("sgd", "sgd_clip", "fw_k1", "fw_k5", "indrnn", "indrnn_fw"),
            _half_decades(5e-3, 2, 2),
            (100, 101, 102),
            tuple(range(10)),
            5e-3,
        ),
        TuningPlan(
            "adding-small-tuned",
            "adding-small-fixed",
            ("sgd", "sgd_clip", "fw_k1"),
            _half_decades(1e-3, 2, 2),
            (100, 101, 102),
            tuple(range(10, 20)),
            1e-3,
        ),
    )
}


def tuning_trial(
    comparison: str, run: str, lr: float, seed: int, run_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Train run ``run`` of the recorded comparison ``comparison`` exactly as it records it
    (method, data with its validation split, :class:`fwlab.train.TrainConfig`), but with
    learning rate ``lr`` (δ tied to it) and seed ``seed``: the function target of
    :func:`tuning_study`. In reproducible mode (``FWLAB_REPRODUCIBLE=1``) it runs pinned. With
    ``run_dir`` the training lives in ``run_dir/train`` (history, checkpoint, provenance) and
    resumes from its checkpoint.

    Returns ``valid_loss`` (the lowest finite validation loss, ``None`` when none is finite),
    ``valid_acc`` (the highest, ``None`` for regression), the test values at the best
    validation value, ``steps``, ``wall_time`` and ``data``.
    """
    from fwlab.experiments.record import COMPARISONS
    from fwlab.runs.provenance import ProvenanceFile
    from fwlab.train.checkpoint import CHECKPOINT
    from fwlab.train.history import selected_by_validation
    from fwlab.train.loop import fit
    from fwlab.util import reproducible

    if reproducible.requested():
        reproducible.activate()
    if comparison not in COMPARISONS:
        raise ValueError(f"comparison must be one of {sorted(COMPARISONS)}, got {comparison!r}")
    comp = COMPARISONS[comparison]
    if comp.config.delta is not None:
        raise ValueError(f"{comparison} sets δ apart from the learning rate; tuning ties δ = η")
    method = comp.method(run)
    config = comp.config_for(run, seed).replace(lr=float(lr))
    data = comp.data(seed)
    out = None if run_dir is None else Path(run_dir) / "train"
    callbacks = []
    if out is not None:  # the command that runs this trial again: its plan's
        out.mkdir(parents=True, exist_ok=True)
        plans = [p.command for p in TUNING.values() if p.fixed == comparison]
        callbacks.append(ProvenanceFile(out, plans[0] if plans else ""))
    resume = out is not None and (out / CHECKPOINT).exists()
    history = fit(method, data, config, callbacks=callbacks, out_dir=out, resume=resume,
                  overwrite=out is not None and not resume, progress=False)  # fmt: skip
    ev = history["eval"]
    losses = [v for v in ev["valid_loss"] if v is not None and math.isfinite(v)]
    accs = [v for v in ev["valid_acc"] if v is not None and math.isfinite(v)]
    return {
        "valid_loss": min(losses) if losses else None,
        "valid_acc": max(accs) if accs else None,
        **selected_by_validation(ev),
        "steps": history["summary"]["steps"],
        "wall_time": history["summary"]["wall_time"],
        "data": data.name,
    }


def tuning_study(plan: TuningPlan | str, runs: str | os.PathLike[str]) -> Any:
    """The :class:`fwlab.runs.Study` of ``plan``: :func:`tuning_trial` over the grid
    run × lr, once per tuning seed, in ``runs/<plan name>``."""
    from fwlab.runs import Function, Study

    plan = _plan(plan)
    return Study(Function(_TRIAL), Path(runs) / plan.name,
                 {"run": list(plan.runs), "lr": list(plan.lrs)},
                 fixed={"comparison": plan.fixed}, seeds=list(plan.seeds))  # fmt: skip


def _plan(plan: TuningPlan | str) -> TuningPlan:
    return plan if isinstance(plan, TuningPlan) else TUNING[one_of("plan", plan, sorted(TUNING))]


_ROW_KEYS = ("valid_loss", "valid_acc", "test_loss_at_best_valid", "test_acc_at_best_valid",
             "selected_step", "steps", "wall_time", "data")  # fmt: skip


def tuning_table(plan: TuningPlan | str, runs: str | os.PathLike[str]) -> dict[str, Any]:
    """The stored form of ``plan``'s study as its runs stand under ``runs``: the plan (grid,
    seeds, metric, :data:`SELECTION`), one row per (run, lr, tuning seed) with its metrics and
    status (a run not ``"ok"`` keeps its status and no values), and the provenance of its runs
    (every commit, whether any tree was dirty, whether every run was reproducible, and the
    first run's machine)."""
    plan = _plan(plan)
    study = tuning_study(plan, runs)
    rows, provs = [], []
    for row in study.results():
        entry = {"run": row["run"], "lr": row["lr"], "seed": row["seed"],
                 "status": row.get("status")}  # fmt: skip
        if entry["status"] == "ok":
            entry.update({k: _plain(row.get(k)) for k in _ROW_KEYS})
        folder = study.out / row["point"] / "train" / "provenance.json"
        if folder.is_file():
            provs.append(json.loads(folder.read_text()))
            entry["commit"] = provs[-1].get("commit")
        rows.append(entry)
    first = provs[0] if provs else {}
    return {
        "name": plan.name,
        "fixed": plan.fixed,
        "runs": list(plan.runs),
        "lrs": list(plan.lrs),
        "fixed_lr": plan.fixed_lr,
        "delta": "tied to the learning rate: δ = η (as the paper sets it)",
        "seeds": list(plan.seeds),
        "reporting_seeds": list(plan.reporting_seeds),
        "metric": {"key": plan.metric, "higher_is_better": False},
        "selection": SELECTION,
        "command": plan.command,
        "rows": rows,
        "provenance": {
            "commits": sorted({p.get("commit") or "?" for p in provs}),
            "dirty": any(p.get("dirty") is not False for p in provs),
            "reproducible": bool(provs) and all(p.get("reproducible") for p in provs),
            "machine": first.get("machine"),
            "date": first.get("date"),
            "environment": first.get("environment"),
        },
    }


def _plain(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


@dataclass(frozen=True)
class Selection:
    """One method's selection: the chosen ``lr``, each rate's ``scores`` (mean validation
    metric over the tuning seeds; NaN when a seed diverged or failed) and ``values`` (per rate,
    the per-seed values, NaN where diverged or failed)."""

    run: str
    lr: float
    scores: dict[float, float]
    values: dict[float, dict[int, float]]


def _value(row: Mapping[str, Any], key: str) -> float:
    v = row.get(key) if row.get("status", "ok") == "ok" else None
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else math.nan


def select(
    rows: Sequence[Mapping[str, Any]],
    *,
    runs: Sequence[str],
    lrs: Sequence[float],
    seeds: Sequence[int],
    reporting_seeds: Iterable[int],
    key: str = "valid_loss",
    higher_is_better: bool = False,
) -> dict[str, Selection]:
    """Each run's learning rate by :data:`SELECTION` from ``rows`` (one per run × lr × seed,
    with ``key`` and optionally ``status``: a row not ``"ok"`` counts as NaN).

    Raises:
        ValueError: a tuning seed (or a row's seed) is a reporting seed; a (run, lr, seed) of
            the grid has no row, or two; a row outside the grid.
    """
    check_disjoint(seeds, reporting_seeds)
    check_disjoint({int(r["seed"]) for r in rows}, reporting_seeds)
    grid = {(r, float(lr), int(s)) for r in runs for lr in lrs for s in seeds}
    found: dict[tuple[str, float, int], float] = {}
    for row in rows:
        at = (row["run"], float(row["lr"]), int(row["seed"]))
        if at not in grid:
            raise ValueError(f"row {at} is outside the grid runs × lrs × seeds")
        if at in found:
            raise ValueError(f"the table has two rows for {at}; keep one per run, lr and seed")
        found[at] = _value(row, key)
    missing = sorted(grid - set(found))
    if missing:
        shown = ", ".join(f"{r} lr={lr:g} seed {s}" for r, lr, s in missing[:4])
        raise ValueError(
            f"{len(missing)} run(s) of the grid have no row ({shown}"
            f"{', ...' if len(missing) > 4 else ''}); finish the tuning study first"
        )
    sign = -1.0 if higher_is_better else 1.0
    out = {}
    for run in runs:
        values = {float(lr): {s: found[(run, float(lr), s)] for s in seeds} for lr in lrs}
        scores = {lr: sum(v.values()) / len(v) for lr, v in values.items()}
        # NaN worst, then the best score, then the smaller learning rate
        best = min(scores, key=lambda lr: (math.isnan(scores[lr]), sign * scores[lr]
                                           if not math.isnan(scores[lr]) else 0.0, lr))  # fmt: skip
        out[run] = Selection(run, best, scores, values)
    return out


def select_table(table: Mapping[str, Any]) -> dict[str, Selection]:
    """:func:`select` on a stored tuning table (:func:`load_tuning`)."""
    metric = table["metric"]
    return select(table["rows"], runs=table["runs"], lrs=table["lrs"], seeds=table["seeds"],
                  reporting_seeds=table["reporting_seeds"], key=metric["key"],
                  higher_is_better=metric["higher_is_better"])  # fmt: skip


def load_tuning(name_or_path: str | os.PathLike[str]) -> dict[str, Any]:
    """A stored tuning table: a name of :data:`TUNING` (shipped under :data:`TUNING_DIR`) or a
    path to its JSON file.

    Raises:
        FileNotFoundError: no such table (the message names the command that writes it).
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = TUNING_DIR / f"{name_or_path}.json"
    if not path.is_file():
        how = f": {TUNING[str(name_or_path)].command}" if str(name_or_path) in TUNING else ""
        raise FileNotFoundError(f"no tuning table at {path}; write it with the plan's command{how}")
    return json.loads(path.read_text())


#: what becomes of an ordering of the fixed setting once every method is tuned
OUTCOMES = (
    "survives",  # decided at the fixed setting, decided the same way tuned
    "reversed",  # decided both times, in opposite directions
    "not shown after tuning",  # decided at the fixed setting only
    "shown only after tuning",  # decided tuned only
    "not shown either way",
)


def after_tuning(fixed: Any, tuned: Any) -> str:
    """The outcome (one of :data:`OUTCOMES`) of one pair: its protocol result
    (:class:`fwlab.experiments.protocol.PairedResult`, same A and B) at the fixed setting and
    at the tuned one.

    Example:
        >>> from types import SimpleNamespace as R
        >>> after_tuning(R(verdict="A better"), R(verdict="not shown"))
        'not shown after tuning'
    """
    decided = ("A better", "B better")
    if fixed.verdict in decided and tuned.verdict in decided:
        return "survives" if fixed.verdict == tuned.verdict else "reversed"
    if fixed.verdict in decided:
        return "not shown after tuning"
    return "shown only after tuning" if tuned.verdict in decided else "not shown either way"


def survivals(fixed: Any, tuned: Any) -> list[tuple[tuple[str, ...], str, str]]:
    """For every pair both families (:class:`fwlab.experiments.protocol.Family`, each
    Holm-adjusted on its own) compared, in the fixed family's order: its key, its outcome
    (:func:`after_tuning`) and one line stating both verdicts and the outcome."""
    tuned_by_key = {r.key: r for r in tuned.results}
    out = []
    for r in fixed.results:
        t = tuned_by_key.get(r.key)
        if t is None:
            continue
        outcome = after_tuning(r, t)
        line = f"{r.a} vs {r.b}: fixed lr: {r.text}; tuned: {t.text} -> {outcome}"
        out.append((r.key, outcome, line))
    return out


def surviving(fixed: Any, tuned: Any) -> list[str]:
    """The orderings of the fixed family that survive tuning (:func:`survivals`), each as
    ``"A better than B"`` with its winner first.

    Example:
        >>> from types import SimpleNamespace as R
        >>> f = R(results=[R(key=("x", "y"), a="X", b="Y", verdict="B better", text="")])
        >>> surviving(f, f)
        ['Y better than X']
    """
    by_key = {r.key: r for r in fixed.results}
    out = []
    for key, outcome, _ in survivals(fixed, tuned):
        r = by_key[key]
        if outcome == "survives":
            out.append(f"{r.a} better than {r.b}" if r.verdict == "A better" else
                       f"{r.b} better than {r.a}")  # fmt: skip
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fwlab.experiments.tuning NAME --runs DIR [--table JSON]``: run (or resume)
    the plan's study in this process, one run at a time, then write its table."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from fwlab.util import reproducible

    reproducible.enter_from_argv(argv)
    parser = argparse.ArgumentParser(prog="python -m fwlab.experiments.tuning")
    parser.add_argument("plan", choices=sorted(TUNING))
    parser.add_argument("--runs", type=Path, required=True, help="folder of the raw runs")
    parser.add_argument("--table", type=Path, default=None, help="write the tuning table here")
    parser.add_argument("--reproducible", action="store_true", help="run pinned (slower)")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="run from a checkout with uncommitted changes")  # fmt: skip
    parser.add_argument("--no-run", action="store_true", help="only write the table")
    args = parser.parse_args(argv)
    from fwlab.runs import Inline
    from fwlab.runs.provenance import tree_is_dirty

    if not args.no_run:
        if tree_is_dirty() is not False and not args.allow_dirty:
            print("fwlab.experiments.tuning: the checkout has uncommitted changes; commit first "
                  "or pass --allow-dirty", file=sys.stderr)  # fmt: skip
            return 2
        if reproducible.requested():
            reproducible.activate()
        study = tuning_study(args.plan, args.runs)
        study.run(executor=Inline(), resume=f"resume with: {TUNING[args.plan].command}")
    if args.table is not None:
        from fwlab.util.atomic import atomic_write_text

        args.table.parent.mkdir(parents=True, exist_ok=True)
        table = tuning_table(args.plan, args.runs)
        atomic_write_text(args.table, json.dumps(table, indent=1) + "\n")
        done = sum(r["status"] == "ok" for r in table["rows"])
        print(f"{args.table}: {done} of {len(table['rows'])} tuning runs ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
