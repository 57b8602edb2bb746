"""A package's names imported from their modules on first use (PEP 562), so that importing the
package does not import what its heaviest module needs (torch, for most of fwlab).

An exported name must not also be the name of a submodule of the package: importing that
submodule would bind the module to the name (the tests check fwlab's packages).

Example:
    >>> import sys, types
    >>> demo = sys.modules["demo"] = types.ModuleType("demo")
    >>> demo.__getattr__, demo.__dir__ = lazy_exports("demo", {"as_p": "fwlab.util.exponent"})
    >>> "as_p" in vars(demo), demo.as_p("inf"), "as_p" in vars(demo), "as_p" in dir(demo)
    (False, inf, True, True)
    >>> demo.nothing
    Traceback (most recent call last):
    ...
    AttributeError: module 'demo' has no attribute 'nothing'
    >>> del sys.modules["demo"]
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: ``exports`` maps a name to the module
    (absolute, or relative to ``package``) it is imported from when first asked for; the value
    is then stored in the package, so later look-ups cost nothing."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(exports[name], package), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted([*vars(sys.modules[package]), *exports])

    return __getattr__, __dir__
