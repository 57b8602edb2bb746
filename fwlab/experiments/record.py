"""``fwlab record``: the long recorded comparisons, one resumable command each.

A *comparison* is a task, a :class:`fwlab.train.TrainConfig`, a list of methods and a list of
seeds (:data:`COMPARISONS`). ``fwlab record NAME --runs DIR`` (:mod:`fwlab.experiments.record_cli`)
is :func:`record`, a study on the run engine: it trains the runs seed-major (seed 0 of every
method first, so the most informative runs finish first), ``--jobs`` at a time, into
``DIR/NAME/<method>/seed<k>/`` (``history.json`` + ``checkpoint.pt``, a checkpoint every
``checkpoint_every`` batches; the engine's ``status.json`` beside them). Run the same command
again to resume: finished runs are skipped (a folder is done when its ``history.json`` is
finished, so folders written before the engine count too), an interrupted one continues from
its checkpoint (SIGKILL loses at most ``checkpoint_every`` batches). Commands started twice on
one folder share its queue (:func:`record`, :func:`train_one`). Every task gets a seeded
validation split taken out of its training set (:func:`fwlab.data.with_validation`), so a run
records the test value at the best validation value beside the best test value.

Each run writes ``provenance.json`` when it starts (:mod:`fwlab.runs.provenance`: commit,
whether the tree is dirty, CPU, kernels, environment) with the one ``fwlab train`` command that
re-trains it (:meth:`Comparison.train_command`). A comparison is recorded from a clean checkout:
with uncommitted changes ``record`` refuses unless told (``allow_dirty``, ``--allow-dirty``,
which the provenance records). ``--reproducible`` records in :mod:`fwlab.util.reproducible`'s mode,
so a run re-trains bit for bit on another x86-64 machine with the same torch; the comparisons'
commands ask for it. A run folder that holds a finished run of another configuration (method,
training config or data) is reported as ``"foreign"``: never counted, trained over or compacted.

``fwlab.experiments.recorded`` compacts finished raw runs into the small format stored in the
repository and loads it back.

Example::

    OMP_NUM_THREADS=1 nice -n 10 fwlab record adding-paper --runs /work/runs --reproducible
    fwlab record adding-paper --runs /work/runs --list       # the queue and each run's state
    fwlab record adding-paper --runs /work/runs --compact fwlab/experiments/data/adding-paper.json
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fwlab.data import load_task, validation_size, with_validation
from fwlab.data.sequence_data import SequenceData
from fwlab.train.checkpoint import CHECKPOINT
from fwlab.train.config import TrainConfig
from fwlab.train.history import HISTORY
from fwlab.train.loop import fit_claimed
from fwlab.train.methods import TABLE_III, Method, get_method

__all__ = [
    "RUN_LABELS",
    "Comparison",
    "COMPARISONS",
    "run_folder",
    "run_state",
    "check_selection",
    "record",
    "train_one",
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
        run_config: per run name, changes to ``config`` for that run only (a tuned
            comparison's per-method learning rate, :mod:`fwlab.experiments.tuning`).
    """

    name: str
    title: str
    task: str
    task_options: dict[str, Any]
    n_valid: int
    config: TrainConfig
    methods: tuple[tuple[str, str, dict[str, Any]], ...]
    seeds: tuple[int, ...] = tuple(range(10))
    lead: int = 3
    run_config: tuple[tuple[str, dict[str, Any]], ...] = ()

    def config_for(self, run_name: str, seed: int) -> TrainConfig:
        """The :class:`TrainConfig` run ``run_name`` of seed ``seed`` trains with.

        Example:
            >>> COMPARISONS["adding-small-fixed"].config_for("fw_k1", 12).lr
            0.001
        """
        return self.config.replace(seed=seed, **dict(self.run_config).get(run_name, {}))

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON data (:meth:`from_dict` reads it back)."""
        return dict(
            name=self.name, title=self.title, task=self.task, task_options=self.task_options,
            n_valid=self.n_valid, config=self.config.to_dict(),
            methods=[list(m) for m in self.methods], seeds=list(self.seeds), lead=self.lead,
            run_config=[[name, dict(changes)] for name, changes in self.run_config],
        )  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        """The comparison :meth:`to_dict` wrote.

        Example:
            >>> all(Comparison.from_dict(c.to_dict()) == c for c in COMPARISONS.values())
            True
        """
        run_config = tuple((name, dict(changes)) for name, changes in data.get("run_config", ()))
        return cls(**{**data, "config": TrainConfig(**data["config"]),
                      "methods": tuple(tuple(m) for m in data["methods"]),
                      "seeds": tuple(data["seeds"]),
                      "run_config": run_config})  # fmt: skip

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
            from fwlab.experiments.reproduce import load_table_task

            data = load_table_task(self.task, "smoke", seed=seed, **options)
            return with_validation(data, validation_size(len(data.train)), seed=seed)
        if self.task == "adding":
            options["seed"] = seed
        return with_validation(load_task(self.task, **options), self.n_valid, seed=seed)

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
        """The command that records (or resumes) every run of the comparison."""
        return f"OMP_NUM_THREADS=1 nice -n 10 fwlab record {self.name} --runs RUNS --reproducible"

    def run_command(self, run_name: str, seed: int) -> str:
        """The command that records (or resumes) one run into the comparison's folder."""
        return f"{self.command()} --only {run_name} --seeds {seed}"

    def train_command(
        self,
        run_name: str,
        seed: int,
        data: SequenceData | None = None,
        *,
        data_name: str | None = None,
        n_valid: int | None = None,
        reproducible: bool = True,
    ) -> str:
        """The one ``fwlab train`` command that re-trains run ``run_name`` of seed ``seed`` (into
        ``RUNS/<name>/<run>/seed<k>``), in reproducible mode unless ``reproducible=False``.
        ``data``: the run's data as loaded (default: loaded now), which says whether HAR-2 or
        BasicMotions was used and the validation split's size; or give those two as
        ``data_name`` and ``n_valid`` (a history's ``task`` and ``data.n_valid``).

        Example:
            >>> COMPARISONS["adding-paper"].train_command("fw_k5", 3)  # doctest: +ELLIPSIS
            'fwlab train --task adding --seq-len 100 --valid 2000 --method fw_k5 --hidden 128 ...'
        """
        import shlex

        if data_name is None or n_valid is None:
            data = self.data(seed) if data is None else data
            data_name = data.name
            n_valid = len(data.valid) if data.valid is not None else 0
        words = ["fwlab", "train", *_task_words(self, data_name), "--valid", str(n_valid)]
        preset, changes = next((p, c) for n, p, c in self.methods if n == run_name)
        words += ["--method", preset]
        for key, value in changes.items():
            if key not in _METHOD_FLAGS:
                raise ValueError(f"method change {key}={value!r} has no fwlab train option")
            words += [_METHOD_FLAGS[key], str(value)]
        config = self.config_for(run_name, seed)
        default = TrainConfig(steps=1)
        if config.eval_batch_size != default.eval_batch_size:
            raise ValueError("eval_batch_size has no fwlab train option; keep its default")
        for key, flag in _CONFIG_FLAGS:
            value = getattr(config, key)
            if value is not None and (key in ("hidden_size", "batch_size", "lr", "seed") or
                                      value != getattr(default, key)):  # fmt: skip
                words += [flag, str(value)]
        words += ["--reproducible"] if reproducible else []
        words += ["--out", f"RUNS/{self.name}/{run_name}/seed{seed}"]
        return shlex.join(words)


_METHOD_FLAGS = {"K": "--K", "p": "--p", "scope": "--scope", "outer": "--outer",
                 "num_layers": "--layers"}  # fmt: skip
_CONFIG_FLAGS = (
    ("hidden_size", "--hidden"), ("batch_size", "--batch-size"), ("lr", "--lr"),
    ("delta", "--delta"), ("epochs", "--epochs"), ("steps", "--steps"),
    ("lr_step", "--lr-step"), ("lr_gamma", "--lr-gamma"), ("loss", "--loss"),
    ("eval_every", "--eval-every"), ("seed", "--seed"),
    ("checkpoint_every", "--checkpoint-every"), ("device", "--device"),
)  # fmt: skip


def _task_words(comparison: Comparison, data_name: str) -> list[str]:
    """The ``fwlab train`` task options that load the data named ``data_name`` (a run's data,
    validation aside)."""
    opts = dict(comparison.task_options)
    if data_name in ("basicmotions", "noisy_basicmotions"):  # Table III's offline stand-in
        words = ["--task", "basicmotions"]
        return words + (["--noise-std", "2.0"] if data_name.startswith("noisy") else [])
    words = ["--task", comparison.task]
    if comparison.task == "adding":
        words += ["--seq-len", str(opts.pop("seq_len", 100))]
        for key, flag in (("n_train", "--subset"), ("n_test", "--test-subset")):
            if key in opts:
                words += [flag, str(opts.pop(key))]
    elif "source" in opts:
        words += ["--source", str(opts.pop("source"))]
    if opts:
        raise ValueError(f"task options {opts} have no fwlab train option")
    return words


_ADDING_PAPER = TrainConfig(
    hidden_size=128, batch_size=50, lr=1e-3, steps=20_000, eval_every=250, checkpoint_every=500
)
#: notebook 02's default (the calibration's choice), recorded on seeds it was not chosen on
_ADDING_CALIBRATED = TrainConfig(
    hidden_size=16, batch_size=50, lr=1e-3, steps=2_500, eval_every=100
)
_MNIST = TrainConfig(
    hidden_size=128, batch_size=32, lr=2e-4, epochs=30, eval_every=250, checkpoint_every=250
)

_TABLE3 = TrainConfig(hidden_size=32, batch_size=8, lr=5e-3, epochs=40)
#: notebook 02's small adding setting (its parameters cell), with a validation split
_ADDING_SMALL = TrainConfig(hidden_size=16, batch_size=50, lr=1e-3, steps=2_500, eval_every=100)
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
            "adding-calibrated",
            "adding task at notebook 02's calibrated default: T=30, hidden 16, batch 50, "
            "lr=δ=1e-3, 2,500 batches, 2,000 training sequences; seeds 10-19, none of them a "
            "seed the default was selected on (fwlab.experiments.calibration)",
            "adding",
            dict(seq_len=30, n_train=2_200, n_test=500),
            200,  # held out of the 2,200: 2,000 training sequences, as in the notebook
            _ADDING_CALIBRATED,
            (
                ("bptt_adam", "sgd", {}),
                ("sgd_clip", "sgd_clip", {}),
                ("fw_k1", "fw_k1", {}),
            ),
            seeds=tuple(range(10, 20)),
        ),
        Comparison(
            "adding-small-fixed",
            "notebook 02's small adding setting at the paper's lr: T=30, hidden 16, batch 50, "
            "lr=δ=1e-3, 2,500 batches; seeds 10-19 (the calibration chose it on seeds 0 and 1)",
            "adding",
            dict(seq_len=30, n_train=2_000, n_test=500),
            200,
            _ADDING_SMALL,
            (("sgd", "sgd", {}), ("sgd_clip", "sgd_clip", {}), ("fw_k1", "fw_k1", {})),
            seeds=tuple(range(10, 20)),
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


#: the tuned comparisons (:mod:`fwlab.experiments.tuning`): name -> (the fixed comparison, what
#: is compared, the reporting seeds, each run's learning rate as selected on the stored tuning
#: table ``fwlab/experiments/data/tuning/NAME.json``; tests/experiments/test_tuning.py re-selects
# and compares)
_TUNED: dict[str, tuple[str, str, tuple[int, ...], dict[str, float]]] = {
    "table3-har2-tuned": (
        "table3-har2",
        "six Table III rows on BasicMotions (offline; HAR-2 when the UCI files are present), "
        "hidden 32, batch 8, 40 epochs",
        tuple(range(10)),
        {
            "sgd": 0.05,
            "sgd_clip": 0.005,
            "fw_k1": 0.0158,
            "fw_k5": 0.05,
            "indrnn": 0.0158,
            "indrnn_fw": 0.0158,
        },
    ),
    "adding-small-tuned": (
        "adding-small-fixed",
        "notebook 02's small adding setting: T=30, hidden 16, batch 50, 2,500 batches; seeds 10-19",
        tuple(range(10, 20)),
        {"sgd": 0.00316, "sgd_clip": 0.00316, "fw_k1": 0.00316},
    ),
}
for _name, (_fixed, _what, _seeds, _lrs) in _TUNED.items():
    _base = COMPARISONS[_fixed]
    COMPARISONS[_name] = replace(
        _base,
        name=_name,
        title=f"{_what}; each method at the learning rate (δ = η) its tuning at equal budget "
        f"selected: {', '.join(f'{n} {lr:g}' for n, lr in _lrs.items())}",
        methods=tuple(m for m in _base.methods if m[0] in _lrs),
        seeds=_seeds,
        lead=len(_lrs),
        run_config=tuple((n, {"lr": lr}) for n, lr in _lrs.items()),
    )


def run_folder(runs: str | Path, comparison: Comparison, run_name: str, seed: int) -> Path:
    """``runs/<comparison>/<run name>/seed<k>``."""
    return Path(runs) / comparison.name / run_name / f"seed{seed}"


def run_state(
    folder: Path,
    steps_wanted: int | None = None,
    expected: tuple[Method, TrainConfig] | None = None,
) -> str:
    """``"done"`` (history.json of a finished run), ``"partial"`` (a checkpoint) or ``"todo"``;
    with ``expected`` (the run's method and config), ``"foreign"`` when the folder's finished
    run was trained with another method or config."""
    history = folder / HISTORY
    if history.is_file():
        try:
            h = json.loads(history.read_text())
        except (OSError, json.JSONDecodeError):
            h = {}
        summary = h.get("summary", {}) if isinstance(h, dict) else {}
        if summary and not summary.get("stopped_early"):
            if expected is not None and (
                h.get("method") != expected[0].to_dict() or h.get("config") != expected[1].to_dict()
            ):
                return "foreign"
            if steps_wanted is None or summary.get("steps", 0) >= steps_wanted:
                return "done"
    return "partial" if (folder / CHECKPOINT).is_file() else "todo"


def expected_run(comparison: Comparison, run_name: str, seed: int) -> tuple[Method, TrainConfig]:
    """The method and config run ``run_name`` of seed ``seed`` trains with."""
    return comparison.method(run_name), comparison.config_for(run_name, seed)


def check_selection(
    comparison: Comparison, only: list[str] | None, seeds: list[int] | None
) -> None:
    """Refuse ``only``/``seeds`` that name no run of ``comparison`` (``ValueError`` listing the
    valid choices); ``None`` selects everything."""
    for flag, given, valid, must, show in (
        ("--only", only, [m[0] for m in comparison.methods], "name runs of", repr),
        ("--seeds", seeds, comparison.seeds, "be seeds of", str),
    ):
        wrong = [v for v in given or () if v not in valid]
        if given is not None and (wrong or not given):
            raise ValueError(
                f"{flag} must {must} {comparison.name}: {', '.join(map(str, valid))}; got "
                f"{', '.join(map(show, wrong)) or 'nothing'}"
            )


def record(
    comparison: Comparison,
    runs: str | Path,
    *,
    only: list[str] | None = None,
    seeds: list[int] | None = None,
    progress: bool = False,
    allow_dirty: bool = False,
    jobs: int = 1,
    log: Any = None,
) -> list[dict[str, Any]]:
    """Train the comparison's runs that are not done, in queue order: a study on the run engine
    (:class:`fwlab.runs.Study` of :func:`train_one`, one run per (run name, seed) in
    ``runs/<comparison>/<run>/seed<k>``), ``jobs`` at a time (``1``: in this process, else in
    worker processes).

    Returns one ``{"run", "seed", "state", "summary"}`` per run visited; ``state`` is
    ``"trained"``, ``"done"`` (finished before), ``"running"`` (another process holds the
    run's claim: it is skipped) or ``"foreign"`` (the folder holds a finished run of another
    configuration: left alone). Several calls on the same folder, in several processes,
    therefore share the queue without training a run twice. In reproducible mode
    (``FWLAB_REPRODUCIBLE=1``, :mod:`fwlab.util.reproducible`) every run is. ``log`` (default
    stderr) gets the engine's line per run.

    Raises:
        ValueError: ``only``/``seeds`` name no run of the comparison (the message lists the
            valid ones), the checkout has uncommitted changes and not ``allow_dirty``, or a
            run failed (the first one's error; the others were still trained).
        NotADirectoryError: ``runs/<comparison>`` is a file.
        KeyboardInterrupt: Ctrl-C (:class:`fwlab.runs.Interrupted`: one line saying what
            finished and the command that resumes); the runs under way are checkpointed.
    """
    from fwlab.runs import Inline, Study
    from fwlab.runs.provenance import current_commit, tree_is_dirty

    check_selection(comparison, only, seeds)
    base = Path(runs) / comparison.name
    if base.exists() and not base.is_dir():
        raise NotADirectoryError(f"runs folder {base} is a file; pass --runs a folder")
    dirty = tree_is_dirty()
    if dirty is not False and not allow_dirty:
        said = (
            f"the checkout of commit {(current_commit() or '?')[:12]} has uncommitted changes "
            "(git status --porcelain)"
            if dirty
            else "fwlab is not imported from a git checkout, so its commit is unknown"
        )
        raise ValueError(
            f"{said}; a recorded run must name the code that trained it: commit first (or set "
            "FWLAB_COMMIT for an exported snapshot), or pass --allow-dirty (allow_dirty=True), "
            "which its provenance records"
        )
    queue = [{"run": name, "seed": seed} for name, seed in comparison.queue()
             if (only is None or name in only) and (seeds is None or seed in seeds)]  # fmt: skip
    spec = dict(comparison=comparison.to_dict(), allow_dirty=allow_dirty, progress=progress)
    study = Study(train_one, base, queue, fixed=spec, folder="{run}/seed{seed}", shared=True)
    outcome = study.run(
        jobs=jobs, executor=Inline() if jobs == 1 else None,
        resume=f"`{comparison.command().replace('RUNS', str(runs))}` resumes",
        log=sys.stderr if log is None else log,
    )  # fmt: skip
    failed = [str(r["error"]).removeprefix("ValueError: ") for r in outcome.failed
              if r["status"] == "failed"]  # fmt: skip
    if failed:
        more = f" ({len(failed) - 1} more run(s) failed: see their status.json)" * (len(failed) > 1)
        raise ValueError(failed[0] + more)
    visited = []
    for row in outcome.rows:
        state = {"busy": "running"}.get(row["status"], row.get("state"))
        if row["point"] not in outcome.started and state == "trained":
            state = "done"  # trained by an earlier call
        summary = row.get("summary") if state == "trained" else None
        visited.append(dict(run=row["run"], seed=row["seed"], state=state, summary=summary))
    return visited


def train_one(
    comparison: dict[str, Any],
    run: str,
    seed: int,
    run_dir: Path,
    allow_dirty: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Train run ``run`` of seed ``seed`` of ``comparison`` (:meth:`Comparison.to_dict`) into
    ``run_dir`` (claimed by the engine) with :func:`fwlab.train.loop.fit_claimed`, resuming
    from its checkpoint, unless the folder holds it finished (``"done"``) or holds a finished
    run of another configuration (``"foreign"``): what each run of :func:`record` executes.
    Returns ``{"state", "summary"}``. It also holds the run's lock file of the recorder before
    the engine (``RUNS/<comparison>/.<run>-seed<k>.lock``), so that such a recorder, still
    running on the same folder, and this one never train one run twice.
    """
    from filelock import FileLock, Timeout

    spec = Comparison.from_dict(comparison)
    method, config = expected_run(spec, run, seed)
    state = run_state(run_dir, config.steps, (method, config))
    if state in ("done", "foreign"):
        return {"state": state, "summary": None}
    legacy = FileLock(run_dir.parents[1] / f".{run}-seed{seed}.lock", thread_local=False)
    try:
        legacy.acquire(timeout=0)
    except Timeout:
        raise ValueError(
            f"{run} seed {seed} is being trained by an older fwlab record process (it holds "
            f"{legacy.lock_file}); run the same command again once it has finished"
        ) from None
    try:
        return _train_one(spec, run, seed, run_dir, method, config, allow_dirty, progress)
    finally:
        legacy.release()


def _train_one(
    spec: Comparison, run: str, seed: int, run_dir: Path, method: Method, config: TrainConfig,
    allow_dirty: bool, progress: bool,
) -> dict[str, Any]:  # fmt: skip
    from fwlab.runs.provenance import ProvenanceFile

    resume = (run_dir / CHECKPOINT).is_file()  # a stopped run continues
    if not resume and (run_dir / HISTORY).exists():
        raise ValueError(
            f"{run} seed {seed}: {run_dir} holds the history.json of an unfinished run and no "
            f"checkpoint to resume it from; move {run_dir} elsewhere and run the same fwlab "
            "record command again"
        )
    data = spec.data(seed)
    prov = ProvenanceFile(run_dir, spec.train_command(run, seed, data), allow_dirty=allow_dirty,
                          record_command=spec.run_command(run, seed))  # fmt: skip
    try:
        # a fresh run replaces what a process killed before its first checkpoint left
        history = fit_claimed(run_dir, method, data, config, resume=resume, overwrite=not resume,
                              callbacks=[prov], progress=progress)  # fmt: skip
    except KeyboardInterrupt as err:
        at = str(err).split(";")[0] or "interrupted"
        raise KeyboardInterrupt(
            f"{run} seed {seed} {at}; its checkpoint is kept and `{spec.command()}` resumes it"
        ) from None
    except ValueError as err:  # e.g. a checkpoint of another run in the folder
        raise ValueError(
            f"{run} seed {seed}: {str(err).split(';')[0]}; move {run_dir} elsewhere and run the "
            "same fwlab record command again"
        ) from None
    return {"state": "trained", "summary": history["summary"]}
