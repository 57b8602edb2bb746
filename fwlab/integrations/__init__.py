"""fwlab with the tools researchers already track their runs in (application layer).

Each module wraps one tool, which is an optional extra of fwlab, and imports it only when used:

* :mod:`fwlab.integrations.mlflow`: :class:`~fwlab.integrations.mlflow.MLflowCallback` logs a
  :func:`fwlab.train.fit` run to MLflow (``pip install 'fwlab[mlflow]'``), and
  :func:`~fwlab.integrations.mlflow.load_mlflow_histories` reads runs back as histories.
* :mod:`fwlab.integrations.optuna`: :func:`~fwlab.integrations.optuna.search` tunes a run's
  parameters with Optuna, every trial a run of the run engine (``pip install 'fwlab[search]'``);
  a trial reports intermediate values with :func:`fwlab.runs.intermediate.report`.

The library (optimizer, models, data, training loop, plots, widgets) never imports this package.
"""
