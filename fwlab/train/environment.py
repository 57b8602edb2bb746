"""The callbacks :func:`fwlab.train.fit` adds on its own, from environment variables that
``fwlab run``, ``fwlab sweep`` and ``fwlab record`` set for the notebooks' kernels (and their own
process), so a notebook logs its runs without knowing:

* :data:`fwlab.train.tensorboard.TENSORBOARD_ENV` (``--tensorboard DIR``): a
  :class:`fwlab.train.TensorBoardLogger` per run
  (:func:`fwlab.train.tensorboard.environment_loggers`);
* :data:`MLFLOW_ENV` (``--mlflow [URI]``): an
  :class:`fwlab.integrations.mlflow.MLflowCallback` per run into that tracking URI, in the
  experiment :data:`MLFLOW_EXPERIMENT_ENV` (default ``"fwlab"``), named
  ``<point>/<method>-seed<seed>`` where :data:`MLFLOW_RUN_ENV` names the point (a sweep's point
  folder, ``fwlab run``'s output folder, ``fwlab record``'s comparison) and tagged
  ``fwlab.point``. MLflow is imported only when the variable is set.

Example:
    >>> import os
    >>> from fwlab.train.tensorboard import TENSORBOARD_ENV
    >>> for name in (MLFLOW_ENV, TENSORBOARD_ENV):
    ...     _ = os.environ.pop(name, None)
    >>> environment_callbacks("fw_k5", 0)
    []
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from fwlab.train.callbacks import Callback
from fwlab.train.tensorboard import environment_loggers

__all__ = [
    "MLFLOW_ENV",
    "MLFLOW_EXPERIMENT_ENV",
    "MLFLOW_RUN_ENV",
    "end_environment_callbacks",
    "environment_callbacks",
]

#: the MLflow tracking URI every ``fit`` logs to (set by ``--mlflow`` of run/sweep/record)
MLFLOW_ENV = "FWLAB_MLFLOW_URI"
#: the MLflow experiment of those runs (default ``"fwlab"``)
MLFLOW_EXPERIMENT_ENV = "FWLAB_MLFLOW_EXPERIMENT"
#: the point the runs belong to: the first part of each MLflow run's name
MLFLOW_RUN_ENV = "FWLAB_MLFLOW_RUN"


def environment_callbacks(method_name: str, seed: int, *, resume: bool = False) -> list[Callback]:
    """The TensorBoard logger and MLflow callback the environment asks for (see the module
    docstring); ``[]`` when it asks for none."""
    callbacks: list[Callback] = list(environment_loggers(method_name, seed, resume=resume))
    uri = os.environ.get(MLFLOW_ENV)
    if uri:
        # the library never imports the integrations unless asked to
        from fwlab.integrations.mlflow import MLflowCallback

        point = os.environ.get(MLFLOW_RUN_ENV, "")
        name = f"{method_name}-seed{seed}"
        callbacks.append(
            MLflowCallback(
                uri,
                experiment=os.environ.get(MLFLOW_EXPERIMENT_ENV) or "fwlab",
                run_name=f"{point}/{name}" if point else name,
                tags={"fwlab.point": point} if point else None,
            )
        )
    return callbacks


def end_environment_callbacks(callbacks: Sequence[Any], err: BaseException) -> None:
    """Mark the MLflow runs of ``callbacks`` as ended by ``err``: ``KILLED`` for Ctrl-C,
    ``FAILED`` otherwise (a resumed ``fit`` continues them)."""
    status = "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED"
    for callback in callbacks:
        if hasattr(callback, "finish"):  # MLflowCallback: a no-op if its run never began
            callback.finish(status)
