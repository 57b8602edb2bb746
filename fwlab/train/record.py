"""``fwlab record``: the long recorded comparisons, one resumable command each.

A *comparison* is a task, a :class:`fwlab.train.TrainConfig`, a list of methods and a list of
seeds (:data:`COMPARISONS`). ``fwlab record NAME --runs DIR`` trains its runs one at a time,
seed-major (seed 0 of every method first, so the most informative runs finish first), into
``DIR/NAME/<method>/seed<k>/`` (``history.json`` + ``checkpoint.pt``, a checkpoint every
``checkpoint_every`` batches). Run the same command again to resume: finished runs are skipped,
an interrupted one continues from its checkpoint (SIGKILL loses at most ``checkpoint_every``
batches). Each run is claimed with its own lock file (``DIR/NAME/.<method>-seed<k>.lock``,
released by the operating system when the process dies), so starting the same command twice
trains two runs at a time: each command skips the runs another one holds and takes the next.
Every task gets a seeded validation split taken out of its training set
(:func:`fwlab.data.with_validation`), so a run records the test value at the best validation
value beside the best test value.

``fwlab.train.recorded`` compacts finished raw runs into the small format stored in the
repository and loads it back.

Example::

    OMP_NUM_THREADS=1 nice -n 10 fwlab record adding-paper --runs /work/runs
    fwlab record adding-paper --runs /work/runs --list       # the queue and each run's state
    fwlab record adding-paper --runs /work/runs --compact fwlab/experiments/data/adding-paper.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fwlab.argtypes import add_mlflow_options
from fwlab.atomic import atomic_write_text
from fwlab.data import load_task, validation_size, with_validation
from fwlab.data.sequence_data import SequenceData
from fwlab.experiments.provenance import provenance
from fwlab.train.checkpoint import CHECKPOINT
from fwlab.train.config import TrainConfig
from fwlab.train.history import HISTORY
from fwlab.train.loop import fit
from fwlab.train.methods import TABLE_III, Method, get_method

__all__ = [
    "RUN_LABELS",
    "Comparison",
    "COMPARISONS",
    "run_folder",
    "run_state",
    "record",
    "configure_parser",
    "run_cli",
]


#: what each recorded run is, in words (figures and tables)
RUN_LABELS = {
    "bptt_adam": "BPTT+Adam",
    "sgd_clip": "BPTT+Adam, clip 1",
    "fw_k1": "Frank-Wolfe K=1",
    "fw_k5": "Frank-Wolfe K=5",
    "fw_decay_k5": "Frank-Wolfe K=1, K=5 from batch 15k",
    "indrnn": "IndRNN+Adam",
    "indrnn_fw": "IndRNN+Frank-Wolfe K=5",
    "sgd": "BPTT+Adam",
    "tbptt": "TBPTT+Adam (chunks of 16)",
    "lstm_adam": "LSTM+Adam",
    "fw_k10": "Frank-Wolfe K=10",
    "fw_bn": "Frank-Wolfe K=1, batch norm",
    "tbptt_fw": "TBPTT+Frank-Wolfe K=1",
    "lstm_fw": "LSTM+Frank-Wolfe K=1",
    "normalized_adam": "Adam on per-tensor normalized gradients",
}


@dataclass(frozen=True)
class Comparison:
    """A recorded comparison: ``methods`` × ``seeds`` runs of one task at one config.

    Attributes:
        name: folder and command name (``"adding-paper"``).
        title: one line saying what is compared.
        task: a :data:`fwlab.data.TASKS` name; ``task_options``: its loader options (the run's
            seed is passed as ``seed`` to loaders that take one).
        n_valid: size of the validation split taken from the training set (``0`` for the
            ``har2``/``noisy_har2`` columns: 10 % of whichever data set is loaded).
        config: the :class:`TrainConfig` (its ``seed`` is replaced by each run's seed).
        methods: ``(run name, preset name, field changes)`` in queue order.
        seeds: the seeds.
        lead: how many of the first methods form the core comparison: the queue trains them
            on the first two seeds before the other methods' first seed (so the comparisons
            that need several seeds finish first).
    """

    name: str
    title: str
    task: str
    task_options: dict[str, Any]
    n_valid: int
    config: TrainConfig
    methods: tuple[tuple[str, str, dict[str, Any]], ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    subset: tuple[int, int] | None = field(default=None)
    lead: int = 3

    def method(self, run_name: str) -> Method:
        for name, preset, changes in self.methods:
            if name == run_name:
                return get_method(preset, **changes)
        raise ValueError(
            f"run_name must be one of {[m[0] for m in self.methods]} for comparison "
            f"{self.name!r}, got {run_name!r}"
        )

    def data(self, seed: int) -> SequenceData:
        """The task data of seed ``seed``, with its validation split."""
        options = dict(self.task_options)
        if self.task in ("har2", "noisy_har2"):  # HAR-2 if its files are here, else BasicMotions
            from fwlab.train.reproduce import load_table_task

            data = load_table_task(self.task, "smoke", seed=seed, **options)
            return with_validation(data, validation_size(len(data.train)), seed=seed)
        if self.task == "adding":
            options["seed"] = seed
        data = load_task(self.task, **options)
        if self.subset is not None:
            from fwlab.data import shrink

            data = shrink(data, *self.subset, seed=seed)
        return with_validation(data, self.n_valid, seed=seed)

    def queue(self) -> list[tuple[str, int]]:
        """``(run name, seed)`` in the order they are trained: the ``lead`` core methods on the
        first two seeds, then the others on the first seed, then seed-major for the rest.

        Example:
            >>> [f"{n}{s}" for n, s in COMPARISONS["adding-paper"].queue()][6:10]
            ['sgd_clip1', 'normalized_adam1', 'fw_k50', 'fw_decay_k50']
        """
        names = [m[0] for m in self.methods]
        core, rest = names[: self.lead], names[self.lead :]
        first = [(n, s) for s in self.seeds[:2] for n in core] + [(n, self.seeds[0]) for n in rest]
        return first + [(n, s) for s in self.seeds for n in names if (n, s) not in first]

    def command(self) -> str:
        return f"OMP_NUM_THREADS=1 nice -n 10 fwlab record {self.name} --runs RUNS"


_ADDING_PAPER = TrainConfig(
    hidden_size=128, batch_size=50, lr=1e-3, steps=20_000, eval_every=250, checkpoint_every=500
)
_MNIST = TrainConfig(
    hidden_size=128, batch_size=32, lr=2e-4, epochs=30, eval_every=250, checkpoint_every=250
)

_TABLE3 = TrainConfig(hidden_size=32, batch_size=8, lr=5e-3, epochs=40)
_TABLE3_ROWS = tuple((name, name, dict(changes)) for _, name, changes in TABLE_III["rows"])

COMPARISONS: dict[str, Comparison] = {
    c.name: c
    for c in [
        *(
            Comparison(
                f"table3-{task.replace('_', '-')}",
                f"every Table III row on {'noisy ' if task == 'noisy_har2' else ''}BasicMotions "
                "(offline; HAR-2 when the UCI files are present): hidden 32, batch 8, "
                "lr=δ=5e-3, 40 epochs",
                task,
                {},
                0,  # 10 % of the training set (validation_size)
                _TABLE3,
                _TABLE3_ROWS,
                lead=len(_TABLE3_ROWS),
            )
            for task in ("har2", "noisy_har2")
        ),
        Comparison(
            "adding-paper",
            "adding task at the paper's setting: T=100, hidden 128, batch 50, lr=δ=1e-3, "
            "20k batches",
            "adding",
            dict(seq_len=100),
            2_000,
            _ADDING_PAPER,
            (
                ("bptt_adam", "sgd", {}),
                ("fw_k1", "fw_k1", {}),
                ("sgd_clip", "sgd_clip", {}),
                ("normalized_adam", "normalized_adam", {}),
                ("fw_k5", "fw_k5", {}),
                ("fw_decay_k5", "fw_decay_k5", {}),
            ),
            lead=4,
        ),
        Comparison(
            "mnist-offline",
            "pixel-MNIST on the 5,000 offline real digits: IndRNN vs IndRNN+FW K=5, vanilla "
            "RNN BPTT+Adam vs FW K=1; hidden 128, batch 32, lr=δ=2e-4, 30 epochs",
            "pixel_mnist",
            dict(source="offline"),
            500,
            _MNIST,
            (
                ("indrnn", "indrnn", dict(num_layers=2)),
                ("indrnn_fw", "indrnn_fw", dict(num_layers=2)),
                ("bptt_adam", "sgd", {}),
                ("fw_k1", "fw_k1", {}),
                ("sgd_clip", "sgd_clip", {}),
                ("normalized_adam", "normalized_adam", {}),
            ),
            lead=4,
        ),
    ]
}


def run_folder(runs: str | Path, comparison: Comparison, run_name: str, seed: int) -> Path:
    """``runs/<comparison>/<run name>/seed<k>``."""
    return Path(runs) / comparison.name / run_name / f"seed{seed}"


def run_state(folder: Path, steps_wanted: int | None = None) -> str:
    """``"done"`` (history.json of a finished run), ``"partial"`` (a checkpoint) or ``"todo"``."""
    history = folder / HISTORY
    if history.is_file():
        try:
            summary = json.loads(history.read_text()).get("summary", {})
        except (OSError, json.JSONDecodeError):
            summary = {}
        if summary and not summary.get("stopped_early"):
            if steps_wanted is None or summary.get("steps", 0) >= steps_wanted:
                return "done"
    return "partial" if (folder / CHECKPOINT).is_file() else "todo"


def record(
    comparison: Comparison,
    runs: str | Path,
    *,
    only: list[str] | None = None,
    seeds: list[int] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Train the comparison's runs that are not done, one at a time, in queue order.

    Returns one ``{"run", "seed", "state", "summary"}`` per run visited; ``state`` is
    ``"trained"``, ``"done"`` (finished before) or ``"running"`` (another process holds the
    run's lock ``runs/<comparison>/.<run>-seed<k>.lock``: it is skipped). Several calls on the
    same folder, in several processes, therefore share the queue without training a run twice.
    """
    from filelock import FileLock, Timeout

    base = Path(runs) / comparison.name
    if base.exists() and not base.is_dir():
        raise NotADirectoryError(f"runs folder {base} is a file; pass --runs a folder")
    base.mkdir(parents=True, exist_ok=True)
    visited: list[dict[str, Any]] = []
    cache: dict[int, SequenceData] = {}
    for run_name, seed in comparison.queue():
        if (only and run_name not in only) or (seeds is not None and seed not in seeds):
            continue
        folder = run_folder(runs, comparison, run_name, seed)
        config = comparison.config.replace(seed=seed)
        entry = dict(run=run_name, seed=seed, state="done", summary=None)
        if run_state(folder, config.steps) == "done":
            visited.append(entry)
            continue
        lock = FileLock(str(base / f".{run_name}-seed{seed}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            visited.append({**entry, "state": "running"})
            continue
        try:
            if run_state(folder, config.steps) == "done":  # finished while we looked elsewhere
                visited.append(entry)
                continue
            if seed not in cache:
                cache.clear()
                cache[seed] = comparison.data(seed)
            method = comparison.method(run_name)
            resume = (folder / CHECKPOINT).is_file()  # a stopped run continues
            history = fit(
                method, cache[seed], config, out_dir=folder, resume=resume, progress=progress
            )
            prov = provenance(comparison.command(), wall_seconds=history["summary"]["wall_time"])
            atomic_write_text(folder / "provenance.json", json.dumps(prov, indent=1) + "\n")
            visited.append({**entry, "state": "trained", "summary": history["summary"]})
        finally:
            lock.release()
    return visited


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("comparison", choices=sorted(COMPARISONS), help="what to record")
    parser.add_argument(
        "--runs", type=Path, required=True, help="folder of the raw runs (outside the checkout)"
    )
    parser.add_argument("--only", nargs="*", default=None, help="only these run names")
    parser.add_argument("--seeds", type=int, nargs="*", default=None, help="only these seeds")
    parser.add_argument("--list", action="store_true", help="print the queue and exit")
    parser.add_argument(
        "--compact",
        type=Path,
        default=None,
        metavar="JSON",
        help="write the finished runs in the stored format (fwlab.train.recorded) to JSON and "
        "exit (the recorded comparisons shipped with fwlab: fwlab/experiments/data/NAME.json)",
    )
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    add_mlflow_options(parser, "also log every run to MLflow as <comparison>/<method>-seed<seed>")


def run_cli(args: argparse.Namespace) -> int:
    comparison = COMPARISONS[args.comparison]
    if args.list:
        for run_name, seed in comparison.queue():
            folder = run_folder(args.runs, comparison, run_name, seed)
            print(f"{run_state(folder, comparison.config.steps):8s} {run_name} seed{seed}")
        return 0
    if args.compact is not None:
        from fwlab.train.recorded import compact_comparison, write_recorded

        if args.compact.is_dir():
            print(f"fwlab record: --compact {args.compact} is a folder; give a .json path",
                  file=sys.stderr)  # fmt: skip
            return 2
        recorded = compact_comparison(args.runs, comparison)
        write_recorded(recorded, args.compact)
        done = sum(len(v) for v in recorded["runs"].values())
        print(f"{args.compact}: {done} runs recorded, {len(recorded['not_recorded'])} not yet")
        return 0
    from fwlab.integrations.mlflow import mlflow_environment

    try:
        with mlflow_environment(args.mlflow, args.mlflow_experiment, point=comparison.name):
            results = record(
                comparison, args.runs, only=args.only, seeds=args.seeds, progress=args.progress
            )
    except (RuntimeError, NotADirectoryError, ValueError) as err:
        print(f"fwlab record: {err}", file=sys.stderr)
        return 2
    for r in results:
        print(json.dumps(r))
    return 0
