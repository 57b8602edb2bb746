"""``fwlab search``: an Optuna search on the run engine (:func:`fwlab.integrations.optuna.search`).

The target is a notebook (``.ipynb``), a function (``module:name``) or a training method preset
(``fw_k1``, ``sgd``, ...: :func:`fwlab.experiments.tuning.train_trial` with that method, which
trains on the task given with ``-p task NAME`` and selects on its validation split).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import optuna  # noqa: F401 - the extra this command needs: without it `fwlab search` says so

from fwlab.runs import SCHEDULER_ENV
from fwlab.util.argtypes import (
    Argument,
    Command,
    Option,
    choice,
    integer,
    path_type,
    positive_float,
    positive_int,
)
from fwlab.util.failure import CommandError

__all__ = ["command", "run_cli"]

TUNING_TARGET = "fwlab.experiments.tuning:train_trial"


#: ``fwlab search TARGET --space ... --trials N``
command = Command(
    "search",
    lambda args: run_cli(args),  # defined below
    [
        Argument(["target"], help="a notebook (.ipynb), a function (module:name) or a method "
                 "(fw_k1, sgd, ...)"),
        Option(["--space", "space"], multiple=True, required=True, metavar="NAME=KIND:...",
               help="a parameter to search (repeat for more): NAME=log:LOW:HIGH, "
               "NAME=float:LOW:HIGH[:STEP], NAME=int:LOW:HIGH[:STEP|:log], NAME=cat:A,B,..."),
        Option(["--trials", "trials"], type=positive_int, required=True,
               help="trials the study should have ended"),
        Option(["--metric", "metric"], default=None,
               help="the result to optimize (default for a method: valid_loss, the best "
               "validation loss)"),
        Option(["--direction", "direction"], type=choice(("minimize", "maximize")),
               default="minimize"),
        Option(["-p", "--parameter", "parameters"], nargs=2, multiple=True, metavar="NAME VALUE",
               help="a fixed parameter of every run (parsed as by fwlab sweep -p)"),
        Option(["--seeds", "seeds"], default=None, metavar="0,1,2",
               help="run every trial once per seed (its mean)"),
        Option(["--out", "out"], type=path_type, default=None, help="default: searches/<target>"),
        Option(["--storage", "storage"], default=None,
               help="Optuna storage URL (default: sqlite:///OUT/study.db)"),
        Option(["--study-name", "study_name"], default=None, help="default: the name of --out"),
        Option(["--sampler", "sampler"], type=choice(("tpe", "random")), default="tpe"),
        Option(["--sampler-seed", "sampler_seed"], type=integer, default=None),
        Option(["--pruner", "pruner"], type=choice(("median", "none")), default="median"),
        Option(["--jobs", "jobs"], type=positive_int, default=2,
               help="runs at a time (default 2)"),
        Option(["--scheduler", "scheduler"], default=None, metavar="ADDRESS",
               help=f"run on this Dask scheduler (default: ${SCHEDULER_ENV} if set; 'local' "
               "forces local processes)"),
        Option(["--kernel", "kernel"], default="fwlab", help="a notebook's Jupyter kernel"),
        Option(["--timeout", "timeout"], type=positive_float, default=None, metavar="S",
               help="a notebook's cell limit"),
    ],
    epilog="Every trial is an fwlab run in OUT/trial-NNNN (status.json, results.json); the "
    "study is in OUT/study.db, so running the same command again resumes it (ended trials are "
    "not re-run; interrupted ones are run again first). Ctrl-C: one line with the command that "
    "resumes, exit status 130. Look at it with: optuna-dashboard sqlite:///OUT/study.db",
)  # fmt: skip


def _target_and_fixed(args: argparse.Namespace) -> tuple[Any, dict[str, Any], str]:
    from fwlab.runs import Function, Notebook, parse_value
    from fwlab.runs.params import parse_typed

    fixed: dict[str, Any] = {}
    text = args.target
    declared: dict[str, Any] = {}
    if text.endswith(".ipynb"):
        target = Notebook(Path(text), kernel=args.kernel, timeout=args.timeout)
        declared = target.parameters()
        stem = Path(text).stem
    elif ":" in text:
        target, stem = Function(text), text.rpartition(":")[2]
    else:
        from fwlab.train.methods import METHODS

        if text not in METHODS:
            raise ValueError(
                f"target {text!r} is not a notebook (.ipynb), a function (module:name) or a "
                f"method; methods: {', '.join(sorted(METHODS))}"
            )
        target, stem = Function(TUNING_TARGET), text
        fixed["method"] = text
    for name, value in args.parameters:
        if name in fixed:
            raise ValueError(f"-p {name} is given twice (or is the method of the target)")
        fixed[name] = parse_typed(name, value, declared.get(name), fallback=parse_value)
    return target, fixed, stem


def _seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        raise ValueError(f"--seeds must be integers separated by commas, got {text!r}") from None


def run_cli(args: argparse.Namespace) -> int:
    from fwlab.integrations.optuna import search
    from fwlab.integrations.search_space import parse_space
    from fwlab.runs import format_table, gather, resume_command

    try:
        target, fixed, stem = _target_and_fixed(args)
        out = args.out or Path("searches") / stem
        space = parse_space(args.space)
        metric = args.metric
        if metric is None:
            if "method" not in fixed or getattr(target, "ref", "") != TUNING_TARGET:
                raise ValueError("give --metric NAME: the result of each run to optimize")
            metric = "valid_loss"
        outcome = search(
            target, out, space, trials=args.trials, metric=metric, direction=args.direction,
            fixed=fixed, seeds=_seeds(args.seeds), storage=args.storage,
            study_name=args.study_name, sampler=args.sampler, sampler_seed=args.sampler_seed,
            pruner=args.pruner, jobs=args.jobs, scheduler=args.scheduler,
            resume=resume_command("search", out),
        )  # fmt: skip
    except (ValueError, FileNotFoundError) as err:  # Ctrl-C's one line: fwlab.util.failure
        raise CommandError(f"error: {err}", 2) from err
    counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(outcome.counts.items()))
    best = outcome.best_trials(5)
    print(f"\ntrials: {counts}")
    if not best.empty:
        rows = best.drop(columns=["error"]).to_dict("records")
        for r in rows:
            r.update(status="ok", error=None, point=r.pop("runs"))
        print("best trials:\n" + format_table(rows))
    print(f"\ntrials: {Path(out).resolve() / 'trials.csv'}; runs: {len(gather(out))}")
    storage = args.storage or f"sqlite:///{Path(out).resolve() / 'study.db'}"
    print(f"dashboard: optuna-dashboard {storage}")
    return 0 if outcome.best is not None else 1
