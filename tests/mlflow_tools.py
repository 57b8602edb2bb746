"""Helpers for the MLflow tests: skip where MLflow is not installed, and import its client only
when a test calls it. Importing mlflow costs about 1.3 s of CPU, which every test worker would
otherwise pay while it merely collects these files."""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

import pytest

#: the mark of a module whose tests all need MLflow
needs_mlflow = pytest.mark.skipif(
    find_spec("mlflow") is None, reason="MLflow is not installed (pip install 'fwlab[mlflow]')"
)


def MlflowClient(tracking_uri: str) -> Any:  # noqa: N802 (stands in for MLflow's class)
    """``mlflow.tracking.MlflowClient(tracking_uri)``, imported on first use."""
    from mlflow.tracking import MlflowClient as Client

    return Client(tracking_uri)
