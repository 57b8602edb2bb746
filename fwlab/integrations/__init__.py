"""fwlab with the tools researchers already track their runs in (application layer).

Each module wraps one tool, which is an optional extra of fwlab, and imports it only when used:

* :mod:`fwlab.integrations.mlflow`: :class:`~fwlab.integrations.mlflow.MLflowCallback` logs a
  :func:`fwlab.train.fit` run to MLflow (``pip install 'fwlab[mlflow]'``), and
  :func:`~fwlab.integrations.mlflow.load_mlflow_histories` reads runs back as histories.

The library (optimizer, models, data, training loop, plots, widgets) never imports this package.
"""
