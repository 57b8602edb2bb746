r"""Recorded runs: compact long training runs into a small file, and load them back.

A raw run (``history.json`` of :func:`fwlab.train.fit`, a few MB for 20,000 batches) is compacted
by :func:`compact_history` into a history of the same shape with at most ``points`` entries per
series: the per-batch training loss is averaged over equal bins of batches (the bin's last step
is kept as its step), evaluations are kept at evenly spaced indices (first and last always, and
the evaluation with the best test value), and the Frank-Wolfe diagnostics are thinned the same
way. The summary is kept whole, and so are the first :data:`HEAD_BATCHES` per-batch losses
(``first_losses``, at full precision: what a re-training is checked against bit for bit). A
*recorded comparison* (:func:`compact_comparison`) gathers the compacted runs of every method
and seed of one :class:`fwlab.experiments.record.Comparison`, each with its provenance
(:mod:`fwlab.runs.provenance`) and the ``fwlab train`` command that re-trains it
(``command``), and lists the runs that were not recorded with the command that records them
(a folder holding a finished run of another configuration is listed as ``"foreign"``).

The x axis of every series is ``step``: batches, i.e. gradient evaluations (each batch is one
forward/backward pass; a Frank-Wolfe outer step with K inner iterations costs K of them), so
methods with different K are compared at equal cost.

Example:
    >>> h = {"train": {"step": list(range(1, 101)), "loss": [1.0] * 50 + [0.0] * 50,
    ...                "lr": [1e-3] * 100},
    ...      "eval": {"step": [50, 100], "test_loss": [0.5, 0.1]},
    ...      "optimizer": {"step": [], "fw_gap": []}, "summary": {"steps": 100}}
    >>> c = compact_history(h, points=4)
    >>> c["train"]["step"], c["train"]["loss"]
    ([25, 50, 75, 100], [1.0, 1.0, 0.0, 0.0])
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from fwlab.util.validate import int_at_least, one_of

__all__ = [
    "RECORDED_DIR",
    "compact_history",
    "compact_comparison",
    "run_train_command",
    "HEAD_BATCHES",
    "write_recorded",
    "load_recorded",
    "recorded_names",
    "seed_histories",
]

#: where the recorded comparisons shipped with fwlab live
RECORDED_DIR = Path(__file__).resolve().parent / "data"


def _bins(n: int, points: int) -> list[tuple[int, int]]:
    k = min(n, points)
    edges = [round(i * n / k) for i in range(k + 1)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def _pick(n: int, points: int, must: tuple[int, ...] = ()) -> list[int]:
    if n <= points:
        return list(range(n))
    idx = {round(i * (n - 1) / (points - 1)) for i in range(points)}
    idx.update(i for i in must if 0 <= i < n)
    return sorted(idx)


def _mean(values: list[Any]) -> float | None:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(vals) / len(vals) if vals else None


#: how many of a run's first per-batch losses are stored unbinned, at full precision
HEAD_BATCHES = 300


def compact_history(
    history: dict[str, Any], *, points: int = 200, head: int = HEAD_BATCHES
) -> dict[str, Any]:
    """A copy of ``history`` with at most ~``points`` entries per series (see the module doc),
    and its first ``head`` per-batch training losses unbinned as ``first_losses`` (JSON writes
    a float's shortest repr, which reads back to the same double: the bits are kept).

    Args:
        history: a history of :func:`fwlab.train.fit`.
        points: bins of the per-batch training loss; evaluations and optimizer diagnostics kept.
        head: how many first losses to keep at full precision.

    Raises:
        ValueError: ``points`` is not an integer >= 2.
    """
    points = int_at_least("points", points, 2)
    out = {k: v for k, v in history.items() if k not in ("train", "eval", "optimizer")}
    tr = history.get("train", {})
    steps = tr.get("step", [])
    bins = _bins(len(steps), points)
    out["train"] = {
        "step": [steps[b - 1] for a, b in bins],
        **{k: [_mean(v[a:b]) for a, b in bins] for k, v in tr.items() if k != "step"},
    }
    ev = history.get("eval", {})
    n_ev = len(ev.get("step", []))
    losses = ev.get("test_loss") or []
    best = (min(range(n_ev), key=lambda i: (losses[i], i)),) if len(losses) == n_ev and n_ev else ()
    keep = _pick(n_ev, points, best)
    out["eval"] = {k: [v[i] for i in keep] for k, v in ev.items() if len(v) == n_ev}
    op = history.get("optimizer", {})
    n_op = len(op.get("step", []))
    keep = _pick(n_op, points)
    out["optimizer"] = {k: [v[i] for i in keep] for k, v in op.items() if len(v) == n_op}
    out["first_losses"] = list(tr.get("loss", [])[:head])
    out["compacted"] = {"points": points, "batches": len(steps), "evaluations": n_ev}
    return out


def compact_comparison(runs: str | os.PathLike, comparison: Any, *, points: int = 200) -> dict:
    """The recorded form of ``comparison`` (a :class:`fwlab.experiments.record.Comparison`) from its
    raw runs under ``runs``: finished runs compacted, unfinished ones listed as not recorded."""
    from fwlab.experiments.record import RUN_LABELS, expected_run, run_folder, run_state
    from fwlab.train.history import HISTORY, load_history

    result: dict[str, Any] = {
        "name": comparison.name,
        "title": comparison.title,
        "task": comparison.task,
        "config": comparison.config.to_dict(),
        "command": comparison.command(),
        "labels": {name: RUN_LABELS.get(name, name) for name, _, _ in comparison.methods},
        "runs": {},
        "not_recorded": [],
    }
    if comparison.run_config:  # a tuned comparison: each run's own learning rate
        result["run_config"] = {name: dict(changes) for name, changes in comparison.run_config}
    for run_name, seed in comparison.queue():
        folder = run_folder(runs, comparison, run_name, seed)
        state = run_state(folder, comparison.config.steps, expected_run(comparison, run_name, seed))
        if state != "done":
            missing = {"run": run_name, "seed": seed, "state": state,
                       "command": comparison.run_command(run_name, seed)}  # fmt: skip
            if state == "foreign":
                missing["reason"] = f"{folder} holds a finished run of another configuration"
            result["not_recorded"].append(missing)
            continue
        compact = compact_history(load_history(folder / HISTORY), points=points)
        prov = folder / "provenance.json"
        compact["provenance"] = json.loads(prov.read_text()) if prov.is_file() else None
        compact["command"] = run_train_command(comparison, run_name, seed, compact)
        result["runs"].setdefault(run_name, {})[str(seed)] = compact
    return result


def run_train_command(comparison: Any, run_name: str, seed: int, compact: dict[str, Any]) -> str:
    """The ``fwlab train`` command that re-trains a stored run (``compact``: its compacted
    history): the one its provenance carries, else the one the comparison gives for its data,
    with ``--reproducible`` only when the run was recorded in that mode."""
    prov = compact.get("provenance") or {}
    if str(prov.get("command", "")).startswith("fwlab train"):
        return prov["command"]
    return comparison.train_command(
        run_name, seed, data_name=compact["task"], n_valid=compact["data"]["n_valid"],
        reproducible=bool(prov.get("reproducible")),
    )  # fmt: skip


def write_recorded(recorded: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write a recorded comparison as compact JSON (atomically)."""
    from fwlab.util.atomic import atomic_write

    text = json.dumps(recorded, separators=(",", ":"), allow_nan=True)
    return atomic_write(Path(path), text.encode())


def recorded_names() -> list[str]:
    """The recorded comparisons shipped with fwlab (file stems under :data:`RECORDED_DIR`)."""
    return sorted(p.stem for p in RECORDED_DIR.glob("*.json") if not p.stem.startswith("calib"))


def load_recorded(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """A recorded comparison: a name of :func:`recorded_names` or a path to its JSON file.

    Returns a dict with ``name``, ``title``, ``task``, ``config``, ``command``, ``runs``
    (run name → seed (str) → compacted history with its ``provenance``) and ``not_recorded``.

    Raises:
        FileNotFoundError: no such file or recorded name (the message lists the names).
        ValueError: the file is not a recorded comparison.
    """
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = RECORDED_DIR / f"{name_or_path}.json"
    if path.is_dir():
        raise FileNotFoundError(f"{path} is a folder; give a recorded comparison's .json file")
    if not path.is_file():
        raise FileNotFoundError(
            f"no recorded comparison at {path}; shipped ones: {recorded_names()}"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not JSON ({err}); re-write it with write_recorded") from err
    if not isinstance(data, dict) or not {"runs", "not_recorded"} <= set(data):
        raise ValueError(f"{path} is not a recorded comparison (no 'runs'/'not_recorded')")
    return _list_unrecorded(data)


def _list_unrecorded(data: dict[str, Any]) -> dict[str, Any]:
    """Every (run, seed) the comparison of this name asks for that the file neither stores nor
    lists is added to ``not_recorded`` as ``"not started"`` with its command, so a file written
    when the comparison had fewer seeds says what is still missing instead of looking complete."""
    from fwlab.experiments.record import COMPARISONS

    comparison = COMPARISONS.get(data.get("name"))
    if comparison is None:
        return data
    listed = {(r["run"], int(r["seed"])) for r in data["not_recorded"]}
    stored = {(run, int(seed)) for run, seeds in data["runs"].items() for seed in seeds}
    for run_name, seed in comparison.queue():
        if (run_name, seed) not in stored | listed:
            command = comparison.run_command(run_name, seed)
            data["not_recorded"].append(
                {"run": run_name, "seed": seed, "state": "not started", "command": command}
            )
    return data


def seed_histories(recorded: dict[str, Any], run_name: str) -> dict[int, dict[str, Any]]:
    """The compacted histories of ``run_name`` by seed (empty if none was recorded)."""
    names = set(recorded["runs"]) | {r["run"] for r in recorded["not_recorded"]}
    one_of("run_name", run_name, sorted(names))
    return {int(s): h for s, h in sorted(recorded["runs"].get(run_name, {}).items())}
