"""``fwlab run`` and ``fwlab sweep``: their options and what they do."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from fwlab.runs import (
    CSV_FILE,
    DEFAULT_KERNEL,
    SCHEDULER_ENV,
    Interrupted,
    format_table,
    gather,
    notebook_parameters,
    parse_grid,
    parse_value,
    resume_command,
)
from fwlab.runs.jupyter_kernel import ensure_kernel
from fwlab.runs.params import parse_typed
from fwlab.runs.sweep import run_notebook, run_sweep
from fwlab.util.argtypes import (
    Argument,
    Command,
    Option,
    mlflow_options,
    path_type,
    positive_float,
    positive_int,
)
from fwlab.util.failure import CommandError
from fwlab.util.notebook_dir import find_notebook


def _common(default_out: str) -> list[click.Parameter]:
    """The parameters ``fwlab run`` and ``fwlab sweep`` share."""
    return [
        Argument(
            ["notebook"],
            help="the notebook to execute: a path, or one of fwlab's notebooks by file name or "
            "number ('01', '01_trust_region_playground.ipynb', 'table_row')",
        ),
        Option(
            ["-p", "--parameter", "parameters"],
            nargs=2,
            multiple=True,
            metavar="NAME VALUE",
            help="set a parameter of the notebook's 'parameters' cell; VALUE is parsed by the "
            "type the cell declares (K: int = 5 refuses 'abc'; tag: str = 'a' keeps '007' as "
            "text); an undeclared type reads True/False/None, int, float, a Python literal or "
            "else a string",
        ),
        Option(
            ["--out", "out"],
            type=path_type,
            default=None,
            help=f"output folder (default: {default_out}/<notebook name>)",
        ),
        Option(
            ["--kernel", "kernel"],
            default=DEFAULT_KERNEL,
            help=f"Jupyter kernel name (default: {DEFAULT_KERNEL})",
        ),
        Option(
            ["--timeout", "timeout"],
            type=positive_float,
            default=None,
            metavar="S",
            help="per-cell execution timeout in seconds, > 0 (default: no limit)",
        ),
        Option(
            ["--cwd", "cwd"],
            type=path_type,
            default=None,
            help="the kernel's working directory (default: the notebook's folder)",
        ),
        Option(
            ["--tensorboard", "tensorboard"],
            type=path_type,
            default=None,
            metavar="DIR",
            help="every fwlab.train.fit in the notebook also writes a TensorBoard run under DIR "
            "(a sweep: under DIR/<point>)",
        ),
        *mlflow_options(
            "every fwlab.train.fit in the notebook also logs an MLflow run "
            "<point>/<method>-seed<seed> (the point: the output folder's name, or a sweep "
            "point's)"
        ),
    ]


def _fixed(
    pairs: Sequence[Sequence[str]], declared: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The ``-p NAME VALUE`` pairs, each value parsed by the notebook's declared type."""
    fixed: dict[str, Any] = {}
    for name, value in pairs:
        if name in fixed:
            raise ValueError(f"-p {name} is given twice")
        fixed[name] = parse_typed(name, value, declared.get(name), fallback=parse_value)
    return fixed


def _execute(args: argparse.Namespace, command: str) -> tuple[Path, Any]:
    """What ``fwlab run`` and ``fwlab sweep`` share: the notebook found, its ``--grid`` and
    ``-p`` parsed by the types it declares, the kernel and ``--mlflow``'s store checked (its
    experiment created) before anything runs; then the run or the sweep. Returns the output
    folder and what :func:`~fwlab.runs.sweep.run_notebook` or :func:`~fwlab.runs.sweep.run_sweep`
    returned; a refused value is the one line ``fwlab COMMAND: error: ...`` (status 2)."""
    try:
        args.notebook = find_notebook(args.notebook)
        out = args.out or Path(f"{command}s") / args.notebook.stem
        declared = notebook_parameters(args.notebook)
        axes = parse_grid(args.grid, declared) if command == "sweep" else None
        fixed = _fixed(args.parameters, declared)
        ensure_kernel(args.kernel)
        options: dict[str, Any] = {"mlflow": None, "fit_callbacks": []}
        if args.mlflow is not None:  # every fit of the kernels logs to the store
            from fwlab.integrations.mlflow import FIT_CALLBACKS, prepare_store

            options["mlflow"] = prepare_store(args.mlflow or None, args.mlflow_experiment)
            options["fit_callbacks"] = [FIT_CALLBACKS]
        options.update(
            kernel=args.kernel,
            timeout=args.timeout,
            cwd=args.cwd,
            tensorboard=args.tensorboard,
            mlflow_experiment=args.mlflow_experiment,
            resume=resume_command(command, out),
        )
        if command == "run":
            return out, run_notebook(args.notebook, out, fixed, **options)
        more = {"jobs": args.jobs, "force": args.force, "scheduler": args.scheduler}
        return out, run_sweep(args.notebook, out, axes, fixed, **more, **options)
    except (ValueError, FileNotFoundError) as err:
        raise CommandError(f"error: {err}", 2) from err
    except Interrupted as err:  # a sweep's line says what finished; a run's where it stands
        if command == "sweep":
            raise
        raise CommandError(f"{err}; status.json in {Path(out).resolve()}", 130) from err


#: ``fwlab run NOTEBOOK``
run_command = Command(
    "run",
    lambda args: run_run_cli(args),  # defined below
    _common("runs"),
    epilog="Writes the executed notebook, status.json and results.json (what the notebook "
    "passed to fwlab.record) into the output folder. Exit status 1 if the notebook failed, 130 "
    "if interrupted (Ctrl-C: the run stops, status 'interrupted').",
)


def run_run_cli(args: argparse.Namespace) -> int:
    out, status = _execute(args, "run")
    print(format_table(gather(out)))
    if status["status"] != "ok":
        executed = Path(out) / args.notebook.name
        if not _raised_in_a_cell(executed):  # a full disk, a dead kernel: fwlab's own words
            print(f"\nFAILED: {args.notebook.name}: {status['error']} (traceback in "
                  f"{Path(out) / 'status.json'})", file=sys.stderr)  # fmt: skip
            return 1
        print(
            f"\nFAILED: {args.notebook.name} raised {status['error']}\n{status['traceback']}",
            file=sys.stderr,
        )
        print(f"the executed notebook with the traceback is in {executed}", file=sys.stderr)
        return 1
    print(f"\nok: {Path(out).resolve()}")
    return 0


def _raised_in_a_cell(executed: Path) -> bool:
    """Whether the executed notebook holds a cell's error (its traceback is worth showing)."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except (OSError, ValueError):
        return False
    return any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))


#: ``fwlab sweep NOTEBOOK --grid NAME=v1,v2``
sweep_command = Command(
    "sweep",
    lambda args: run_sweep_cli(args),  # defined below
    [
        Option(
            ["--grid", "grid"],
            multiple=True,
            required=True,
            metavar="NAME=v1,v2",
            help="a grid axis (repeat for more; the points are their cartesian product)",
        ),
        *_common("sweeps"),
        Option(
            ["--jobs", "jobs"],
            type=positive_int,
            default=2,
            help="points run at a time locally (default: 2)",
        ),
        Option(
            ["--scheduler", "scheduler"],
            default=None,
            metavar="ADDRESS",
            help="run the points on the Dask cluster of this scheduler (tcp://HOST:8786; "
            f"default: ${SCHEDULER_ENV} if set, else the local pool; 'local' forces it)",
        ),
        Option(
            ["--force", "force"],
            is_flag=True,
            help="re-run points that already finished ok (default: skip them)",
        ),
    ],
    epilog="Each point gets a folder named after its grid values, holding the executed "
    "notebook, status.json and results.json; results.csv gathers them. Exit status 1 if any "
    "point failed. Ctrl-C: the points not started are cancelled, the running ones stop (status "
    "'interrupted'), and one line says what finished and the command that resumes; a second "
    "Ctrl-C ends everything at once (exit status 130).",
)


def run_sweep_cli(args: argparse.Namespace) -> int:
    out, rows = _execute(args, "sweep")
    print()
    print(format_table(rows))
    print(f"\nresults: {Path(out).resolve() / CSV_FILE}")
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        print(
            f"\nFAILED: {len(failed)} of {len(rows)} points; see status.json and the executed "
            f"notebook in each failed point's folder",
            file=sys.stderr,
        )
        return 1
    return 0
