"""``record``: how a notebook or a function reports results to the engine (:mod:`fwlab.runs`)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fwlab.runs.files import RESULTS_ENV, RESULTS_FILE, _write_json


def _jsonable(value: Any, key: str) -> Any:
    """``value`` as plain JSON data; tensors and numpy values become numbers or lists."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "tolist"):  # torch.Tensor, numpy arrays and numpy scalars
        return _jsonable(value.tolist(), key)
    raise TypeError(
        f"record(): {key!r} is a {type(value).__name__}, which cannot be stored in JSON; "
        "pass numbers, strings, booleans, None, lists/dicts of them, tensors or numpy arrays"
    )


def record(metrics: Mapping[str, Any] | None = None, /, **kwargs: Any) -> dict[str, Any]:
    """Report a notebook's results to the runner (``fwlab run`` / ``fwlab sweep``).

    Call it anywhere in a notebook, as often as you like; names may also come as a dict (for
    names that are not identifiers). Values must be JSON data; tensors and numpy values are
    converted (a one-element tensor to a number, others to nested lists).

    When the environment variable ``FWLAB_RESULTS_DIR`` is set (the runner sets it for the
    kernel), the values are merged into ``$FWLAB_RESULTS_DIR/results.json`` and the merged dict
    is returned; otherwise (interactive use) nothing is written and the converted dict is
    returned.

    Example:
        >>> import os
        >>> os.environ.pop("FWLAB_RESULTS_DIR", None)  # interactive: nothing written
        >>> record({"test/acc": 0.93}, loss=0.25)
        {'test/acc': 0.93, 'loss': 0.25}
    """
    values = {**(dict(metrics) if metrics is not None else {}), **kwargs}
    values = {str(k): _jsonable(v, str(k)) for k, v in values.items()}
    folder = os.environ.get(RESULTS_ENV)
    if not folder:
        return values
    path = Path(folder) / RESULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged.update(values)
    _write_json(path, merged)
    return merged
