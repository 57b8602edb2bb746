"""``fwlab record``: the long recorded comparisons, one resumable command each.

A *comparison* is a task, a :class:`fwlab.train.TrainConfig`, a list of methods and a list of
seeds (:data:`COMPARISONS`). ``fwlab record NAME --runs DIR`` trains its runs one at a time,
seed-major (seed 0 of every method first, so the most informative runs finish first), into
``DIR/NAME/<method>/seed<k>/`` (``history.json`` + ``checkpoint.pt``, a checkpoint every
``checkpoint_every`` batches). Run the same command again to resume: finished runs are skipped,
an interrupted one continues from its checkpoint (SIGKILL loses at most ``checkpoint_every``
batches). A lock file makes a second concurrent command on the same folder wait for nothing: it
stops at once, naming the lock. Every task gets a seeded validation split taken out of its
training set (:func:`fwlab.data.with_validation`), so a run records the test value at the best
validation value beside the best test value.

``fwlab.train.recorded`` compacts finished raw runs into the small format stored in the
repository and loads it back.

Example::

    OMP_NUM_THREADS=1 nice -n 10 fwlab record adding-paper --runs /work/runs
    fwlab record adding-paper --runs /work/runs --list       # the queue and each run's state
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fwlab.data import load_task, with_validation
from fwlab.data.sequence_data import SequenceData
from fwlab.experiments.provenance import provenance
from fwlab.train.loop import CHECKPOINT, HISTORY, TrainConfig, fit
from fwlab.train.methods import Method, get_method

__all__ = [
    "Comparison",
    "COMPARISONS",
    "run_folder",
    "run_state",
    "record",
    "configure_parser",
    "run_cli",
]


@dataclass(frozen=True)
class Comparison:
    """A recorded comparison: ``methods`` × ``seeds`` runs of one task at one config.

    Attributes:
        name: folder and command name (``"adding-paper"``).
        title: one line saying what is compared.
        task: a :data:`fwlab.data.TASKS` name; ``task_options``: its loader options (the run's
            seed is passed as ``seed`` to loaders that take one).
        n_valid: size of the validation split taken from the training set.
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
        if self.task in ("adding", "har2", "noisy_har2"):
            options["seed"] = seed
        data = load_task(self.task, **options)
        if self.subset is not None:
            from fwlab.train.cli import shrink

            data = shrink(data, *self.subset, seed=seed)
        return with_validation(data, self.n_valid, seed=seed)

    def queue(self) -> list[tuple[str, int]]:
        """``(run name, seed)`` in the order they are trained: the ``lead`` core methods on the
        first two seeds, then the others on the first seed, then seed-major for the rest.

        Example:
            >>> [f"{n}{s}" for n, s in COMPARISONS["adding-paper"].queue()][:7]
            ['bptt_adam0', 'fw_k10', 'sgd_clip0', 'bptt_adam1', 'fw_k11', 'sgd_clip1', 'fw_k50']
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

COMPARISONS: dict[str, Comparison] = {
    c.name: c
    for c in [
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
                ("fw_k5", "fw_k5", {}),
                ("fw_decay_k5", "fw_decay_k5", {}),
            ),
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

    Returns one ``{"run", "seed", "state", "summary"}`` per run visited. Holds
    ``runs/<comparison>/.lock`` while it works (a second call raises ``RuntimeError``).
    """
    from filelock import FileLock, Timeout

    base = Path(runs) / comparison.name
    if base.exists() and not base.is_dir():
        raise NotADirectoryError(f"runs folder {base} is a file; pass --runs a folder")
    base.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(base / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RuntimeError(
            f"another `fwlab record {comparison.name}` holds {base / '.lock'}; wait for it "
            "(it trains the same queue) or stop it"
        ) from None
    done: list[dict[str, Any]] = []
    try:
        cache: dict[int, SequenceData] = {}
        for run_name, seed in comparison.queue():
            if (only and run_name not in only) or (seeds is not None and seed not in seeds):
                continue
            folder = run_folder(runs, comparison, run_name, seed)
            config = comparison.config.replace(seed=seed)
            if run_state(folder, config.steps) == "done":
                done.append(dict(run=run_name, seed=seed, state="done", summary=None))
                continue
            if seed not in cache:
                cache.clear()
                cache[seed] = comparison.data(seed)
            method = comparison.method(run_name)
            history = fit(
                method, cache[seed], config, out_dir=folder, resume=True, progress=progress
            )
            prov = provenance(comparison.command(), wall_seconds=history["summary"]["wall_time"])
            (folder / "provenance.json").write_text(json.dumps(prov, indent=1) + "\n")
            done.append(dict(run=run_name, seed=seed, state="trained", summary=history["summary"]))
    finally:
        lock.release()
    return done


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("comparison", choices=sorted(COMPARISONS), help="what to record")
    parser.add_argument(
        "--runs", type=Path, required=True, help="folder of the raw runs (outside the checkout)"
    )
    parser.add_argument("--only", nargs="*", default=None, help="only these run names")
    parser.add_argument("--seeds", type=int, nargs="*", default=None, help="only these seeds")
    parser.add_argument("--list", action="store_true", help="print the queue and exit")
    parser.add_argument("--progress", action="store_true", help="show progress bars")


def run_cli(args: argparse.Namespace) -> int:
    comparison = COMPARISONS[args.comparison]
    if args.list:
        for run_name, seed in comparison.queue():
            folder = run_folder(args.runs, comparison, run_name, seed)
            print(f"{run_state(folder, comparison.config.steps):8s} {run_name} seed{seed}")
        return 0
    try:
        results = record(
            comparison, args.runs, only=args.only, seeds=args.seeds, progress=args.progress
        )
    except (RuntimeError, NotADirectoryError, ValueError) as err:
        print(f"fwlab record: {err}", file=sys.stderr)
        return 2
    for r in results:
        print(json.dumps(r))
    return 0
