"""A run: (target, parameters, seed), its folder name and its digest.

Example:
    >>> r = Run(Function("fwlab.runs.examples:square"), {"x": 3}, seed=1)
    >>> r.name, r.arguments
    ('x=3__seed=1', {'x': 3, 'seed': 1})
    >>> r.digest() == Run(Function("fwlab.runs.examples:square"), {"x": 3}, seed=1).digest()
    True
    >>> r.digest() == Run(Function("fwlab.runs.examples:square"), {"x": 4}, seed=1).digest()
    False
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fwlab.runs.grid import point_name
from fwlab.runs.target import Function, Target  # noqa: F401 - Function: the example
from fwlab.util.validate import nonnegative_int, optional

__all__ = ["Run"]


@dataclass(frozen=True)
class Run:
    """One execution of ``target`` with ``params`` (and ``seed``, passed as the parameter
    ``seed`` when it is not ``None``).

    ``name`` is the run's folder under its study (default: :func:`fwlab.runs.point_name` of the
    parameters and seed); ``index`` its place in the study (the row order of the results).
    """

    target: Target
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    name: str = ""
    index: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed", optional(nonnegative_int, "seed", self.seed))
        if self.seed is not None and "seed" in self.params:
            raise ValueError("give the seed once: as seed=, not also as a parameter 'seed'")
        object.__setattr__(self, "params", dict(self.params))
        if not self.name:
            object.__setattr__(self, "name", point_name(self.arguments))

    @property
    def arguments(self) -> dict[str, Any]:
        """What the target receives: the parameters, then ``seed`` when set."""
        return {**self.params, **({} if self.seed is None else {"seed": self.seed})}

    def digest(self, identity: str | None = None) -> str:
        """SHA-256 of what ran: the target's :meth:`identity` (pass it to save re-reading a
        notebook for every run) and the arguments as JSON."""
        identity = self.target.identity() if identity is None else identity
        payload = json.dumps(
            [self.target.kind, identity, self.arguments], sort_keys=True, default=repr
        )
        return hashlib.sha256(payload.encode()).hexdigest()
