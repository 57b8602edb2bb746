"""The ``fwlab`` command: ``fwlab lab | train | record | run | sweep | reproduce | bench``.

Each sub-command lives in the module of its concept, which provides two functions:
``configure_parser(parser)`` (adds its options to an ``argparse`` sub-parser) and
``run_cli(args) -> int`` (does the work, returns the exit status); a module that serves two
sub-commands names them ``configure_<command>_parser`` / ``run_<command>_cli``. This file only
wires them.

Example:
    >>> from fwlab.cli import build_parser
    >>> sorted(build_parser()._subparsers._group_actions[0].choices)
    ['bench', 'lab', 'record', 'reproduce', 'run', 'sweep', 'train']
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# sub-command -> (module providing configure_parser/run_cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "lab": ("fwlab.lab", "open JupyterLab on the notebooks (the trust-region playground first)"),
    "train": ("fwlab.train.cli", "train one method on one task and write its history"),
    "run": ("fwlab.sweep", "execute a notebook with papermill, with parameters"),
    "sweep": ("fwlab.sweep", "execute a notebook over a parameter grid and gather the results"),
    "record": ("fwlab.train.record", "train a recorded comparison's runs (resumable)"),
    "reproduce": ("fwlab.train.reproduce", "run a table of the paper and print it beside ours"),
    "bench": ("fwlab.bench", "measure fwlab's speed ratios and print/write them"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fwlab",
        description="Frank-Wolfe trust-region training of RNNs (Yue et al., ICPR 2020).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name, _command=name)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name is None or not module_name.startswith(err.name):
                raise
            p.set_defaults(_missing=True)
            continue
        configure = getattr(module, f"configure_{name}_parser", None) or module.configure_parser
        configure(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if not getattr(args, "_passthrough", False):
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.extra = unknown  # e.g. `fwlab lab --no-browser --port 8899`: for jupyter lab
    if getattr(args, "_missing", False):
        parser.error(f"'{args._command}' is not available in this installation")
    module = importlib.import_module(args._module)
    run = getattr(module, f"run_{args._command}_cli", None) or module.run_cli
    return int(run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
