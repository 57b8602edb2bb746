r"""TensorBoard: a :func:`fwlab.train.fit` callback that writes a run's history as scalars, and
loaders that turn TensorBoard runs or ``history.json`` files back into histories.

:class:`TensorBoardLogger` writes every series of the history as a scalar at the batch count of
each point (TensorBoard's ``step``), tagged as :mod:`fwlab.train.scalars` says (``train/loss``,
``fw/gap``, ...), plus the run's hyperparameters (:func:`~fwlab.train.scalars.hparams_of`)
through TensorBoard's hparams plugin, with the metrics ``eval/test_loss`` and, for
classification, ``eval/test_acc``, so runs compare in a stock ``tensorboard --logdir``. The
run's task/method/config, its recorded events (steering) and its summary go in as text
summaries under ``fwlab/``, so :func:`read_tensorboard_run` gives back the history (values in
float32, TensorBoard's precision).

A resumed run (``fit(..., resume=True)``) continues the same log folder: the logger opens the
writer with ``purge_step`` = the resumed step + 1, so points that the killed process wrote after
its last checkpoint are hidden rather than shown twice.

Example:
    >>> import tempfile
    >>> from fwlab.data import load_task
    >>> from fwlab.train import TrainConfig, fit, get_method
    >>> data = load_task("adding", seq_len=10, n_train=100, n_test=50)
    >>> logdir = tempfile.mkdtemp()
    >>> h = fit(get_method("fw_k1"), data, TrainConfig(hidden_size=8, batch_size=25, steps=8),
    ...         callbacks=[TensorBoardLogger(logdir)], progress=False)
    >>> back = read_tensorboard_run(logdir)
    >>> back["train"]["step"] == h["train"]["step"], back["method"]["name"]
    (True, 'fw_k1')
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from fwlab.train.callbacks import Callback
from fwlab.train.history import HISTORY, load_history
from fwlab.train.scalars import (
    PARTS,
    SCALAR_TAGS,
    history_parts,
    history_scalars,
    hparams_of,
)
from fwlab.util.validate import positive_float

__all__ = [
    "SCALAR_TAGS",
    "TENSORBOARD_ENV",
    "environment_loggers",
    "TensorBoardLogger",
    "hparams_of",
    "history_scalars",
    "is_tensorboard_run",
    "load_histories",
    "read_tensorboard_run",
]

_RUN_TEXT, _EVENTS_TEXT, _SUMMARY_TEXT = "fwlab/run", "fwlab/events", "fwlab/summary"
_RUN_KEYS = ("task", "method", "config", "data")
#: set (by ``fwlab run/sweep --tensorboard``) for a notebook's kernel: every ``fit`` in it logs
TENSORBOARD_ENV = "FWLAB_TENSORBOARD_DIR"


class TensorBoardLogger(Callback):
    """A :func:`fwlab.train.fit` callback writing the run to ``log_dir`` for TensorBoard.

    Args:
        log_dir: the run's folder (one folder per run; ``tensorboard --logdir`` on its parent
            compares runs). Created if missing.
        flush_secs: the writer flushes at least this often (and at every evaluation and at the
            end, so a killed run loses at most the batches since its last evaluation).

    Example: ``fit(method, data, config, callbacks=[TensorBoardLogger("tb/fw_k5")])``.
    """

    def __init__(self, log_dir: str | os.PathLike, *, flush_secs: float = 10.0) -> None:
        if not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"log_dir must be a path, got {type(log_dir).__name__}")
        path = Path(log_dir)
        if path.exists() and not path.is_dir():
            raise ValueError(f"log_dir {str(path)!r} is a file, not a folder; give a folder path")
        self.log_dir = path
        self.flush_secs = positive_float("flush_secs", flush_secs)
        self._writer: Any = None
        self._cursor: dict[str, int] = {}
        self._events = 0

    def on_train_begin(self, run: Any) -> None:
        self._open(run.history, run.step, run.data.task == "classification")

    def on_step_end(self, run: Any) -> None:
        if self._writer is not None:
            self._write_new(run.history)

    def on_eval_end(self, run: Any) -> None:
        if self._writer is not None:
            self._write_new(run.history)
            self._writer.flush()

    def on_train_end(self, run: Any) -> None:
        if self._writer is not None:
            self._write_new(run.history)
            self._close(run.history)

    def _open(self, history: Mapping[str, Any], step: int, classification: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        if self._writer is not None:
            self._writer.close()
        _after_event_files(self.log_dir)
        self._writer = SummaryWriter(
            str(self.log_dir),
            purge_step=step + 1 if step else None,
            flush_secs=max(1, round(self.flush_secs)),
        )
        if step:  # resumed: what is in the history was written by the first process
            _, self._cursor = history_scalars(history)
            self._events = len(history["events"])
            return
        self._cursor, self._events = {}, 0
        metrics = {"eval/test_loss": math.nan}
        if classification:
            metrics["eval/test_acc"] = math.nan
        exp, ssi, _ = hparams(hparams_of(history), metrics)
        file_writer = self._writer._get_file_writer()
        file_writer.add_summary(exp)
        file_writer.add_summary(ssi)
        run_info = {k: history[k] for k in _RUN_KEYS if k in history}
        # the series of each part, so that reading back restores the ones never written
        run_info["layout"] = {p: list(history[p]) for p in PARTS if p in history}
        self._writer.add_text(_RUN_TEXT, _code(run_info), 0)

    def _write_new(self, history: Mapping[str, Any]) -> None:
        scalars, self._cursor = history_scalars(history, self._cursor)
        for tag, value, step in scalars:
            self._writer.add_scalar(tag, value, step)
        events = history["events"]
        for e in events[self._events :]:
            self._writer.add_text(_EVENTS_TEXT, _code(e), int(e.get("step", 0)))
        self._events = len(events)

    def _close(self, history: Mapping[str, Any]) -> None:
        from torch.utils.tensorboard.summary import hparams

        summary = history.get("summary", {})
        steps = int(summary.get("steps", 0))
        self._writer.add_text(_SUMMARY_TEXT, _code(summary), steps)
        _, _, end = hparams({}, {})  # session end info with STATUS_SUCCESS: fit returned
        self._writer._get_file_writer().add_summary(end, steps)
        self.close()

    def close(self) -> None:
        """Flush and close the writer (``fit`` closes it at the run's end)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _after_event_files(log_dir: Path) -> None:
    """Wait, if need be, until the clock is past the second in every event file's name in
    ``log_dir``. TensorBoard reads a folder's event files in name order, and a name is
    ``events.out.tfevents.<second>.<host>.<pid>.<counter>``: two files one process opens in the
    same second sort by their counter as text (``10`` before ``9``), so a resumed run's purge
    would be read before the points it purges."""
    seconds = [p.name.split(".")[3] for p in log_dir.glob("events.out.tfevents.*")]
    latest = max((int(s) for s in seconds if s.isdigit()), default=None)
    while latest is not None and time.time() < latest + 1:
        time.sleep(latest + 1 - time.time())


def environment_loggers(
    method_name: str, seed: int, *, resume: bool = False
) -> list[TensorBoardLogger]:
    """``[TensorBoardLogger($FWLAB_TENSORBOARD_DIR/<method>-seed<seed>)]`` when the variable
    :data:`TENSORBOARD_ENV` is set, else ``[]`` (:mod:`fwlab.train.environment`). A second fresh
    run of the same method and seed gets the next free folder (``-2``, ``-3``, ...); a resumed
    run continues the last one.

    Example:
        >>> import os, tempfile
        >>> os.environ[TENSORBOARD_ENV] = tempfile.mkdtemp()
        >>> environment_loggers("fw_k5", 0)[0].log_dir.name
        'fw_k5-seed0'
        >>> del os.environ[TENSORBOARD_ENV]
        >>> environment_loggers("fw_k5", 0)
        []
    """
    root = os.environ.get(TENSORBOARD_ENV)
    if not root:
        return []
    base = Path(root) / f"{method_name}-seed{seed}"
    path, n = base, 1
    while is_tensorboard_run(path):
        nxt = base.with_name(f"{base.name}-{n + 1}")
        if resume and not is_tensorboard_run(nxt):
            break  # the last run of this name: continue it
        path, n = nxt, n + 1
    return [TensorBoardLogger(path)]


def _code(obj: Any) -> str:
    # markdown code block: TensorBoard's text tab shows it verbatim; _uncode reads it back
    return "```\n" + json.dumps(obj, allow_nan=True) + "\n```"


def _uncode(text: str) -> Any:
    return json.loads(text.strip().removeprefix("```").removesuffix("```"))


# ---------------------------------------------------------------------------- reading back
def is_tensorboard_run(path: str | os.PathLike) -> bool:
    """Whether the folder ``path`` holds TensorBoard event files (``events.out.tfevents.*``)."""
    path = Path(path)
    return path.is_dir() and any(p.name.startswith("events.out.tfevents") for p in path.iterdir())


def read_tensorboard_run(path: str | os.PathLike) -> dict[str, Any]:
    """The history of a run written by :class:`TensorBoardLogger` into the folder ``path``.

    Scalars come back in float32 (TensorBoard's precision); ``task``/``method``/``config``,
    ``events`` and ``summary`` come from the ``fwlab/`` text summaries. A folder written by
    another program gives the scalars of :data:`SCALAR_TAGS` that it has and empty metadata.
    """
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.util import tensor_util

    path = Path(path)
    if not is_tensorboard_run(path):
        raise FileNotFoundError(
            f"no TensorBoard event files (events.out.tfevents.*) in {str(path)!r}; give the "
            "folder passed to --tensorboard or TensorBoardLogger"
        )
    acc = ea.EventAccumulator(str(path), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    tags = acc.Tags()

    def texts(tag: str) -> list[Any]:
        tag += "/text_summary"  # the suffix SummaryWriter.add_text gives its tags
        if tag not in tags.get("tensors", []):
            return []
        out = []
        for ev in acc.Tensors(tag):
            value = tensor_util.make_ndarray(ev.tensor_proto).reshape(-1)[0]
            out.append(_uncode(value.decode() if isinstance(value, bytes) else str(value)))
        return out

    run_info = (texts(_RUN_TEXT) or [{}])[-1]
    history: dict[str, Any] = {"task": run_info.get("task")}
    history.update({key: run_info.get(key, {}) for key in ("method", "config", "data")})
    points = {
        tag: {ev.step: ev.value for ev in acc.Scalars(tag)} for tag in tags.get("scalars", [])
    }
    history.update(history_parts(points, run_info.get("layout")))
    history["events"] = texts(_EVENTS_TEXT)
    history["summary"] = (texts(_SUMMARY_TEXT) or [{}])[-1]
    return history


def _runs(root: Path) -> Iterator[tuple[str, Path, str]]:
    """``(name, path, kind)`` of every run under ``root``; ``kind`` is ``"tensorboard"`` or
    ``"json"``; names are the run folders relative to ``root`` (``"."`` for ``root`` itself)."""
    for folder, _dirs, files in sorted(os.walk(root)):
        here = Path(folder)
        name = here.relative_to(root).as_posix()
        if any(f.startswith("events.out.tfevents") for f in files):
            yield name, here, "tensorboard"
        elif HISTORY in files:
            yield name, here / HISTORY, "json"


def load_histories(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """``name → history`` of every run under ``path``: TensorBoard run folders (written by
    :class:`TensorBoardLogger` or ``fwlab train --tensorboard``) and ``history.json`` files (of
    ``fwlab train --out`` or a sweep), named by their folder relative to ``path``; show them with
    ``TrainingDashboard(histories=...)`` or :func:`fwlab.plots.training_figure`.

    ``path`` may also be one ``history.json`` file or one run folder (named by its folder name).
    A folder holding both a TensorBoard run and a ``history.json`` is read from TensorBoard.
    Raises ``FileNotFoundError`` when there is no run under ``path``.
    """
    root = Path(path)
    if root.is_file():
        if root.suffix != ".json":
            raise ValueError(
                f"{str(root)!r} is neither a folder nor a history .json file; give a run folder, "
                "a folder of runs or a history.json"
            )
        return {root.parent.name or ".": load_history(root)}
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder or file: {str(root)!r}")
    out: dict[str, dict[str, Any]] = {}
    for name, run_path, kind in _runs(root):
        if name == ".":
            name = root.resolve().name
        read = read_tensorboard_run if kind == "tensorboard" else load_history
        out[name] = read(run_path)
    if not out:
        raise FileNotFoundError(
            f"no runs under {str(root)!r}: no TensorBoard event files and no {HISTORY}"
        )
    return out
