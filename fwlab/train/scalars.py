r"""A history's series as flat, named scalars: what TensorBoard and MLflow log, and how a
history is rebuilt from them.

Each point of the history's ``train``, ``eval`` and ``optimizer`` parts becomes
``(tag, value, step)``, ``step`` being the batch count (the part's ``step`` list):

=================== =========================================================================
tag                 history series
=================== =========================================================================
``train/loss``      per-batch training loss (``history["train"]["loss"]``)
``train/lr``        η_t, the learning rate in use at each batch
``eval/train_loss`` mean training loss over the last epoch's batches, at each evaluation
``eval/test_loss``  test loss at each evaluation
``eval/test_acc``   test accuracy (%) at each evaluation (classification only)
``fw/delta``        δ_t, the trust-region radius, at each Frank-Wolfe outer step
``fw/K``            K, the inner iterations of that outer step (it can change while training)
``fw/gap``          FW gap :math:`\langle\nabla F, \Delta\omega_{K-1} - s_K\rangle`
``fw/dw_norm``      :math:`\lVert\Delta\omega_K\rVert_2`
``fw/angle_deg``    angle between :math:`\Delta\omega_K` and :math:`-\nabla F(\omega)`, degrees
=================== =========================================================================

Any other series of a part is tagged ``<train|eval|fw>/<key>`` (e.g. ``eval/valid_loss``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "PARTS",
    "SCALAR_TAGS",
    "hparams_of",
    "history_parts",
    "history_scalars",
    "scalar_tag",
    "series_of_tag",
]

# (history part, key) -> tag; the part's "step" list gives the x of each point
SCALAR_TAGS: dict[tuple[str, str], str] = {
    ("train", "loss"): "train/loss",
    ("train", "lr"): "train/lr",
    ("eval", "train_loss"): "eval/train_loss",
    ("eval", "test_loss"): "eval/test_loss",
    ("eval", "test_acc"): "eval/test_acc",
    ("eval", "epoch"): "eval/epoch",
    ("eval", "seconds"): "eval/seconds",
    ("optimizer", "delta"): "fw/delta",
    ("optimizer", "K"): "fw/K",
    ("optimizer", "fw_gap"): "fw/gap",
    ("optimizer", "dw_norm"): "fw/dw_norm",
    ("optimizer", "angle_deg"): "fw/angle_deg",
}
_SERIES_OF_TAG = {tag: series for series, tag in SCALAR_TAGS.items()}
#: the history's parts of per-step series
PARTS = ("train", "eval", "optimizer")
#: tag prefix of the other series of each part (e.g. ``eval/valid_loss``)
_PREFIX = {"train": "train", "eval": "eval", "optimizer": "fw"}
#: series that hold counts: read back as int
_INTEGER_SERIES = {("eval", "epoch"), ("optimizer", "K")}


def scalar_tag(part: str, key: str) -> str:
    """The tag of series ``key`` of history part ``part`` (``scalar_tag("optimizer", "fw_gap")
    == "fw/gap"``)."""
    return SCALAR_TAGS.get((part, key)) or f"{_PREFIX[part]}/{key}"


def series_of_tag(tag: str) -> tuple[str, str] | None:
    """``(part, key)`` of a tag written by :func:`history_scalars`; ``None`` for another tag.

    Example:
        >>> series_of_tag("fw/gap"), series_of_tag("eval/valid_acc"), series_of_tag("x/y")
        (('optimizer', 'fw_gap'), ('eval', 'valid_acc'), None)
    """
    if tag in _SERIES_OF_TAG:
        return _SERIES_OF_TAG[tag]
    prefix, _, key = tag.partition("/")
    part = next((p for p, pre in _PREFIX.items() if pre == prefix), None)
    return (part, key) if part is not None and key else None


def history_scalars(
    history: Mapping[str, Any], start: Mapping[str, int] | None = None
) -> tuple[list[tuple[str, float, int]], dict[str, int]]:
    """The scalars of ``history`` not yet written: ``([(tag, value, step), ...], cursor)``.

    ``start`` maps each part (``"train"``, ``"eval"``, ``"optimizer"``) to how many of its points
    were written before (``None``: none); the returned cursor is where the next call starts.
    ``None`` values (``test_acc`` of a regression task) are skipped.

    Example:
        >>> h = {"train": {"step": [1, 2], "loss": [0.5, 0.25], "lr": [0.1, 0.1]},
        ...      "eval": {"step": [], "test_loss": []}, "optimizer": {"step": []}}
        >>> history_scalars(h, {"train": 1})
        ([('train/loss', 0.25, 2), ('train/lr', 0.1, 2)], {'train': 2, 'eval': 0, 'optimizer': 0})
    """
    start = dict(start or {})
    out: list[tuple[str, float, int]] = []
    cursor: dict[str, int] = {}
    for part in PARTS:
        block = history.get(part, {})
        keys = [k for k in block if k != "step" and isinstance(block[k], list)]
        # a history being written by a training thread may have one list a value longer
        n = min([len(block.get("step", []))] + [len(block[k]) for k in keys])
        first = start.get(part, 0)
        for i in range(first, n):
            for key in keys:
                value = block[key][i]
                if value is not None:
                    out.append((scalar_tag(part, key), float(value), int(block["step"][i])))
        cursor[part] = max(n, first)
    return out, cursor


def history_parts(
    points: Mapping[str, Mapping[int, float]], layout: Mapping[str, list[str]] | None = None
) -> dict[str, dict[str, list]]:
    """The ``train``/``eval``/``optimizer`` parts of a history from ``tag → {step: value}``
    (what a logger wrote): each part's steps are the union of its series' steps, a series
    missing at a step reads ``None``. ``layout`` (part → its keys, as the run had them) keeps
    the series that were never written (``test_acc`` of a regression task) and their order.

    Example:
        >>> parts = history_parts({"train/loss": {1: 0.5, 2: 0.25}, "fw/K": {2: 5.0}})
        >>> parts["train"]["step"], parts["train"]["loss"], parts["optimizer"]["K"]
        ([1, 2], [0.5, 0.25], [5])
    """
    layout = layout or {}
    series: dict[str, dict[str, Mapping[int, float]]] = {part: {} for part in PARTS}
    for tag, values in points.items():
        where = series_of_tag(tag)
        if where is not None:
            series[where[0]][where[1]] = values
    parts: dict[str, dict[str, list]] = {}
    for part in PARTS:
        steps = sorted({int(s) for values in series[part].values() for s in values})
        keys = list(layout.get(part, ["step"] + [k for (p, k) in SCALAR_TAGS if p == part]))
        keys += [k for k in series[part] if k not in keys]
        block: dict[str, list] = {}
        for key in keys:
            if key == "step":
                block[key] = steps
                continue
            values = [series[part].get(key, {}).get(s) for s in steps]
            if (part, key) in _INTEGER_SERIES:
                values = [None if v is None else int(v) for v in values]
            block[key] = values
        parts[part] = block
    return parts


def hparams_of(history: Mapping[str, Any]) -> dict[str, int | float | str | bool]:
    """The hyperparameters of a run as flat numbers, strings and bools: the task, the method's
    name and settings, and the config (``p`` as a string, so ``"inf"`` and ``"2.0"`` share one
    column; the resolved δ, ``= lr`` when not set; a list such as ``K_switch`` as ``"15000,5"``).

    Example:
        >>> from fwlab.train import TrainConfig, get_method
        >>> h = {"task": "adding", "method": get_method("fw_k5").to_dict(),
        ...      "config": TrainConfig(steps=5, lr=0.01).to_dict()}
        >>> hp = hparams_of(h)
        >>> hp["method"], hp["K"], hp["p"], hp["delta"], hp["steps"]
        ('fw_k5', 5, '2.0', 0.01, 5)
    """
    method = dict(history["method"])
    config = dict(history["config"])
    hp: dict[str, Any] = {"task": history["task"], "method": method.pop("name")}
    method.pop("label", None)
    method["p"] = str(method["p"])
    if config.get("delta") is None:
        config["delta"] = config.get("lr")
    for key, value in {**method, **config}.items():
        if isinstance(value, (bool, int, float, str)):
            hp[key] = value
        elif isinstance(value, (list, tuple)):
            hp[key] = ",".join(str(v) for v in value)  # K_switch: "15000,5"
    return hp
