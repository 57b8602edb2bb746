"""The callbacks :func:`fwlab.train.fit` adds on its own, from environment variables that
``fwlab run``, ``fwlab sweep`` and ``fwlab record`` set for the notebooks' kernels (and their own
process), so a notebook logs its runs without knowing:

* :data:`fwlab.train.tensorboard.TENSORBOARD_ENV` (``--tensorboard DIR``): a
  :class:`fwlab.train.TensorBoardLogger` per run
  (:func:`fwlab.train.tensorboard.environment_loggers`);
* :data:`CALLBACKS_ENV`: comma-separated ``"module:function"`` factories, each called as
  ``function(method_name, seed, resume=resume)`` for a list of callbacks to add. The modules
  are imported only when named, and the library names none: the application does (``--mlflow``
  of run/sweep/record names the factory of its MLflow integration, which reads its own
  variables).

Example:
    >>> import os
    >>> from fwlab.train.tensorboard import TENSORBOARD_ENV
    >>> for name in (CALLBACKS_ENV, TENSORBOARD_ENV):
    ...     _ = os.environ.pop(name, None)
    >>> environment_callbacks("fw_k5", 0)
    []
    >>> os.environ[CALLBACKS_ENV] = "fwlab.train.environment:_no_callbacks"
    >>> environment_callbacks("fw_k5", 0)
    []
    >>> del os.environ[CALLBACKS_ENV]
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any

from fwlab.train.callbacks import Callback
from fwlab.train.tensorboard import environment_loggers

__all__ = [
    "CALLBACKS_ENV",
    "callback_factories",
    "end_environment_callbacks",
    "environment_callbacks",
]

#: ``"module:function[,module:function...]"``: factories of callbacks every ``fit`` adds
CALLBACKS_ENV = "FWLAB_FIT_CALLBACKS"


def _no_callbacks(method_name: str, seed: int, *, resume: bool = False) -> list[Callback]:
    """A factory that adds nothing (the module docstring's example)."""
    return []


def callback_factories(value: str | None = None) -> list[Any]:
    """The factories :data:`CALLBACKS_ENV` names (``value``: its text, default the variable's),
    imported; a malformed or unimportable entry is a one-line ``ValueError`` naming it."""
    text = os.environ.get(CALLBACKS_ENV, "") if value is None else value
    factories = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        module, sep, name = entry.partition(":")
        if not (sep and module and name):
            raise ValueError(
                f"{CALLBACKS_ENV}: {entry!r} is not 'module:function'; fix or unset the variable"
            )
        try:
            factory = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as err:
            raise ValueError(
                f"{CALLBACKS_ENV}: cannot load {entry!r} ({err}); fix or unset the variable"
            ) from None
        if not callable(factory):
            raise ValueError(f"{CALLBACKS_ENV}: {entry!r} is not callable; name a function")
        factories.append(factory)
    return factories


def environment_callbacks(method_name: str, seed: int, *, resume: bool = False) -> list[Callback]:
    """The TensorBoard logger and the callbacks of the factories the environment asks for (see
    the module docstring); ``[]`` when it asks for none."""
    callbacks: list[Callback] = list(environment_loggers(method_name, seed, resume=resume))
    for factory in callback_factories():
        callbacks.extend(factory(method_name, seed, resume=resume))
    return callbacks


def end_environment_callbacks(callbacks: Sequence[Any], err: BaseException) -> None:
    """Tell the callbacks of ``callbacks`` that have a ``finish(status)`` method (an MLflow run,
    say) how ``fit`` ended: ``"KILLED"`` for Ctrl-C, ``"FAILED"`` otherwise (a resumed ``fit``
    continues them)."""
    status = "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED"
    for callback in callbacks:
        if hasattr(callback, "finish"):  # a no-op if its run never began
            callback.finish(status)
