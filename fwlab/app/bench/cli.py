"""``fwlab bench``: its options and what it prints or writes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from fwlab.app.bench.config import DEFAULT_KEYS, DEVICES, KEYS
from fwlab.app.bench.run import format_table, run_bench
from fwlab.util.argtypes import Command, Option, choice, path_type, positive_int

#: ``fwlab bench``
command = Command(
    "bench",
    lambda args: run_cli(args),  # defined below
    [
        Option(["--repeats", "repeats"], type=positive_int, default=None,
               help="repeats per figure, the median is reported (default 5, 2 quick)"),
        Option(["--quick", "quick"], is_flag=True,
               help="tiny sizes: seconds instead of minutes (for tests; ratios then mean little)"),
        Option(["--json", "json"], type=path_type, default=None, metavar="PATH",
               help="also write the results as JSON to PATH"),
        Option(["--only", "only"], type=choice(KEYS), greedy=True, at_least_one=True,
               default=None, metavar="KEY...", help=f"measure only these keys: {', '.join(KEYS)}"),
        Option(["--notebooks", "notebooks"], is_flag=True,
               help="also time the execution of every notebook (notebooks_s)"),
        Option(["--notebooks-dir", "notebooks_dir"], type=path_type, default=None,
               help="folder of the notebooks (default: notebooks/ of this checkout)"),
        Option(["--device", "device"], type=choice(DEVICES), default="cpu",
               help="where the model figures run (cuda: refused when no GPU is visible)"),
        Option(["--threads", "threads"], type=positive_int, default=1,
               help="torch intra-op threads during the measurements"),
    ],
    show_default=True,
)  # fmt: skip


def _json_path_problem(path: Path) -> str | None:
    """Why the results could not be written to ``path`` (None if they can)."""
    from fwlab.util.outdir import check_output_dir

    if path.is_dir():
        return "is a folder; give a file name, e.g. bench.json inside it"
    try:  # creates the folder and writes a probe file into it, as the results will be
        check_output_dir(path.parent, option="its folder")
    except ValueError as err:
        return str(err)
    if path.exists() and not os.access(path, os.W_OK):
        return "is not writable; choose another path"
    return None


def run_cli(args: argparse.Namespace) -> int:
    if args.device == "cuda" and not torch.cuda.is_available():  # before minutes of CPU figures
        raise ValueError(
            f"--device cuda but torch {torch.__version__} sees no CUDA device; run it on a "
            "machine with a GPU, or without --device"
        )
    if args.json is not None:  # refuse an unusable --json now, not after minutes of measuring
        problem = _json_path_problem(args.json)
        if problem:
            raise ValueError(f"--json {args.json}: {problem}")
    keys = args.only or [*DEFAULT_KEYS, *(["notebooks_s"] if args.notebooks else [])]
    keys = list(dict.fromkeys(keys))
    result = run_bench(
        keys,
        quick=args.quick,
        repeats=args.repeats,
        threads=args.threads,
        device=args.device,
        notebooks_dir=args.notebooks_dir,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    print(format_table(result))
    if args.json is not None:
        from fwlab.util.atomic import atomic_write_text

        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")  # whole or not at all
    return 0
