"""``fwlab record COMPARISON --runs DIR``: the command line of :mod:`fwlab.experiments.record`
(train a comparison's runs, resumable) and, with ``--compact``, of
:mod:`fwlab.experiments.recorded` (write the finished ones in the stored format).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fwlab.experiments.record import (
    COMPARISONS,
    Comparison,
    check_selection,
    expected_run,
    record,
    run_folder,
    run_state,
)
from fwlab.experiments.recorded import compact_comparison, load_recorded, write_recorded
from fwlab.util.argtypes import (
    Argument,
    Command,
    Option,
    choice,
    integer,
    mlflow_options,
    path_type,
    positive_int,
)

__all__ = ["command", "run_cli"]


#: ``fwlab record COMPARISON --runs DIR``
command = Command(
    "record",
    lambda args: run_cli(args),  # defined below
    [
        Argument(["comparison"], type=choice(COMPARISONS), metavar="COMPARISON",
                 help=f"what to record: {', '.join(sorted(COMPARISONS))}"),
        Option(["--runs", "runs"], type=path_type, required=True,
               help="folder of the raw runs (outside the checkout)"),
        Option(["--only", "only"], greedy=True, default=None, metavar="NAME...",
               help="only these run names"),
        Option(["--seeds", "seeds"], type=integer, greedy=True, default=None, metavar="SEED...",
               help="only these seeds"),
        Option(["--list", "list"], is_flag=True, help="print the queue and exit"),
        Option(["--compact", "compact"], type=path_type, default=None, metavar="JSON",
               help="write the finished runs in the stored format (fwlab.experiments.recorded) "
               "to JSON and exit (the recorded comparisons shipped with fwlab: "
               "fwlab/experiments/data/NAME.json); refused when JSON holds runs the folder "
               "lacks, unless --replace"),
        Option(["--replace", "replace"], is_flag=True,
               help="with --compact: replace a file that holds runs the folder lacks (they are "
               "dropped)"),
        Option(["--reproducible", "reproducible"], is_flag=True,
               help="train in fwlab.util.reproducible's mode: the same bits on any x86-64 machine "
               "with the same torch (slower)"),
        Option(["--allow-dirty", "allow_dirty"], is_flag=True,
               help="record from a checkout with uncommitted changes (its provenance says so)"),
        Option(["--progress", "progress"], is_flag=True, help="show progress bars"),
        Option(["--jobs", "jobs"], type=positive_int, default=1,
               help="runs at a time (1: in this process; more: in worker processes)"),
        *mlflow_options("also log every run to MLflow as <comparison>/<method>-seed<seed>"),
    ],
    show_default=True,
)  # fmt: skip


def _fail(message: str) -> int:
    print(f"fwlab record: {message}", file=sys.stderr)
    return 2


def run_cli(args: argparse.Namespace) -> int:
    comparison = COMPARISONS[args.comparison]
    try:
        check_selection(comparison, args.only, args.seeds)
    except ValueError as err:
        return _fail(str(err))
    if args.list:
        for run_name, seed in comparison.queue():
            folder = run_folder(args.runs, comparison, run_name, seed)
            state = run_state(
                folder, comparison.config.steps, expected_run(comparison, run_name, seed)
            )
            print(f"{state:8s} {run_name} seed{seed}")
        return 0
    if args.compact is not None:
        return _compact(comparison, args)
    if args.replace:
        return _fail("--replace goes with --compact (it replaces a stored file); drop it")
    if args.reproducible:
        from fwlab.util import reproducible

        try:
            reproducible.activate()
        except RuntimeError as err:
            return _fail(f"--reproducible: {err}")
    from fwlab.integrations.mlflow import mlflow_environment

    try:
        with mlflow_environment(args.mlflow, args.mlflow_experiment, point=comparison.name):
            results = record(comparison, args.runs, only=args.only, seeds=args.seeds,
                             progress=args.progress, allow_dirty=args.allow_dirty,
                             jobs=args.jobs)  # fmt: skip
    except (RuntimeError, NotADirectoryError, ValueError, FileNotFoundError) as err:
        return _fail(str(err))
    # Ctrl-C (fwlab.runs.Interrupted: its line names what finished and how to resume) goes up to
    # fwlab.app.cli.main, which writes it with SIGINT ignored (exit status 130)
    for r in results:
        print(json.dumps(r))
    foreign = [f"{r['run']} seed{r['seed']}" for r in results if r["state"] == "foreign"]
    if foreign:
        return _fail(
            f"{len(foreign)} run folder(s) hold a finished run of another configuration and were "
            f"left alone: {', '.join(foreign)} under {Path(args.runs) / comparison.name}; move "
            "them elsewhere and run the same command to train these runs"
        )
    return 0


def _compact(comparison: Comparison, args: argparse.Namespace) -> int:
    if args.compact.is_dir():
        return _fail(f"--compact {args.compact} is a folder; give a .json path")
    recorded = compact_comparison(args.runs, comparison)
    if args.compact.exists():
        try:
            old = load_recorded(args.compact)
        except (ValueError, FileNotFoundError) as err:
            return _fail(f"--compact {args.compact} exists and is not readable as one ({err}); "
                         "give another path or move it away")  # fmt: skip
        if old.get("name", comparison.name) != comparison.name:
            return _fail(f"--compact {args.compact} holds comparison {old.get('name')!r}, not "
                         f"{comparison.name!r}; give {comparison.name}'s file")  # fmt: skip
        lost = [f"{run} seed{seed}" for run, by_seed in old["runs"].items()
                for seed in by_seed if seed not in recorded["runs"].get(run, {})]  # fmt: skip
        if lost and not args.replace:
            return _fail(
                f"--compact {args.compact} holds {len(lost)} run(s) that "
                f"{Path(args.runs) / comparison.name} has not finished ({', '.join(lost[:4])}"
                f"{', ...' if len(lost) > 4 else ''}): writing would drop them; finish them in "
                "that folder, compact into another file, or pass --replace to drop them"
            )
        if lost:
            print(f"fwlab record: --replace: dropped {len(lost)} run(s) of {args.compact} that "
                  f"the folder lacks", file=sys.stderr)  # fmt: skip
    write_recorded(recorded, args.compact)
    done = sum(len(v) for v in recorded["runs"].values())
    foreign = [r for r in recorded["not_recorded"] if r["state"] == "foreign"]
    print(f"{args.compact}: {done} runs recorded, {len(recorded['not_recorded'])} not yet")
    if foreign:
        print(
            f"fwlab record: {len(foreign)} folder(s) hold a finished run of another configuration "
            f"(not compacted, listed as not recorded): "
            + ", ".join(f"{r['run']} seed{r['seed']}" for r in foreign),
            file=sys.stderr,
        )
    return 0
