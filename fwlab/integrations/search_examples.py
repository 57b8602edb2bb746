"""Cheap targets for searches: the README's example and the search's tests.

They are real targets (importable by name in any worker), not stand-ins: ``bowl`` is a
quadratic with its minimum 0 at ``x = 0.3, y = -0.2`` (the value a search must find) that
reports a curve decaying towards it, so a pruner has something to judge.
"""

from __future__ import annotations

import time
from typing import Any

from fwlab.runs.intermediate import report

__all__ = ["bowl"]

#: where ``bowl`` is lowest
BOWL_MINIMUM = {"x": 0.3, "y": -0.2}


def bowl(x: float, y: float = -0.2, steps: int = 0, pause: float = 0.0) -> dict[str, Any]:
    """``loss = (x - 0.3)² + (y + 0.2)²``. With ``steps``, first reports the curve
    ``loss + 1/(s + 1)`` at steps ``s = 0..steps-1`` (sleeping ``pause`` seconds before each),
    stopping early when the search prunes it (``pruned`` is then ``True``)."""
    loss = (x - BOWL_MINIMUM["x"]) ** 2 + (y - BOWL_MINIMUM["y"]) ** 2
    for s in range(steps):
        time.sleep(pause)
        if report(s, loss=loss + 1.0 / (s + 1)):
            return {"loss": loss + 1.0 / (s + 1), "pruned": True, "steps": s + 1}
    return {"loss": loss, "pruned": False, "steps": steps}
