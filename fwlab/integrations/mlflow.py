r"""MLflow tracking: a :func:`fwlab.train.fit` callback that logs a run to MLflow, and a loader
that reads MLflow runs back as histories (``pip install 'fwlab[mlflow]'``).

:class:`MLflowCallback` creates one MLflow run per ``fit`` and logs

* **parameters**: every hyperparameter of the method and the config (task, method, K, p, scope,
  outer, hidden size, batch size, lr, δ, seed, ...; ``None`` as ``"None"``), the data sizes
  (``data.n_train``, ...) and the ``commit`` of the code; at the end the run's provenance
  (:func:`fwlab.runs.provenance.provenance`: command, commit, date, machine, wall time)
  as ``fwlab.provenance.*`` tags, and MLflow's own ``mlflow.source.git.commit``;
* **metrics per step**, the step being the batch count: every series of the history under the
  tags of :data:`fwlab.train.scalars.SCALAR_TAGS` (``train/loss``, ``train/lr`` = η_t,
  ``eval/test_loss``, ``eval/test_acc``, ``fw/delta`` = δ_t, ``fw/K``, ``fw/gap``,
  ``fw/dw_norm`` = ‖Δω_K‖, ``fw/angle_deg``, ...; the same extraction TensorBoard uses), and
  at the end the summary as ``summary/<key>`` (best and final test accuracy or loss, ...);
* **steering events** (``history["events"]``: K switched, lr set from a dashboard, ...): each
  numeric value as the metric ``events/<name>`` at the event's step, and the whole list as the
  artifact ``fwlab/events.json``, rewritten as events arrive;
* **artifacts**: ``fwlab/run.json`` (task, method, config, data, the history's layout) at the
  start, ``history.json`` and the training figure (``figures/training.html``; PNG/SVG/PDF with
  ``figures=``) at the end.

Metrics are sent in batches: at every evaluation, at least every ``flush_secs`` seconds, and at
the end. A run that ``fit`` finishes is marked ``FINISHED``; one that stops on an exception
stays ``RUNNING`` unless the caller marks it with :meth:`MLflowCallback.finish` (``fwlab train
--mlflow`` marks an interrupted run ``KILLED`` and a failed one ``FAILED``). The MLflow run's
id rides in ``fit``'s checkpoint, so a resumed ``fit`` (``resume=True``, ``fwlab train --resume
--mlflow``) continues the same MLflow run, tagged ``fwlab.resumed_at_step``.

:func:`load_mlflow_histories` returns ``name → history`` for the runs an
:class:`MLflowCallback` logged: ``TrainingDashboard.add_histories`` shows them beside live runs,
:func:`fwlab.plots.training_figure` draws them. A finished run is read from its ``history.json``
(exactly what ``fit`` returned); a run still training, or killed, is rebuilt from its metrics.

The store is a URI, an SQLite file or a folder (:func:`tracking_uri`). A local store needs no
server and keeps its artifacts beside the file (``mlartifacts/``); ``mlflow ui
--backend-store-uri sqlite:///PATH`` shows it.

Example::

    from fwlab.integrations.mlflow import MLflowCallback, load_mlflow_histories

    history = fit(method, data, config, callbacks=[MLflowCallback("tracking/mlflow.db")])
    dash.add_histories(load_mlflow_histories("tracking/mlflow.db"))  # a TrainingDashboard

(``tests/integrations/test_mlflow.py`` runs this against a local store and a real ``mlflow
server``.)
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from fwlab.train.callbacks import Callback
from fwlab.train.history import HISTORY, load_history
from fwlab.train.scalars import PARTS, history_parts, history_scalars, hparams_of, series_of_tag
from fwlab.util.environ import temporary_environ
from fwlab.util.validate import one_of, positive_float, positive_int

__all__ = [
    "FIGURE_FORMATS",
    "FIT_CALLBACKS",
    "FORMAT_TAG",
    "MLFLOW_ENV",
    "MLFLOW_EXPERIMENT_ENV",
    "MLFLOW_RUN_ENV",
    "MLflowCallback",
    "check_tracking_uri",
    "fit_callbacks",
    "load_mlflow_histories",
    "mlflow_environment",
    "prepare_store",
    "read_mlflow_run",
    "tracking_uri",
]

#: the tag that marks a run logged by :class:`MLflowCallback` (its artifacts' layout version)
FORMAT_TAG = "fwlab.format"
_FORMAT = "1"
_RUN_JSON, _EVENTS_JSON = "fwlab/run.json", "fwlab/events.json"
_PROGRESS_BAR_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
_RUN_KEYS = ("task", "method", "config", "data")
#: the figure files :class:`MLflowCallback` can attach (PNG, SVG, PDF need ``fwlab[export]``)
FIGURE_FORMATS = ("html", "png", "svg", "pdf")
_INSTALL = "pip install 'fwlab[mlflow]'"
# log_batch takes at most 1000 metrics and 100 parameters per request
_MAX_METRICS, _MAX_PARAMS = 1000, 100
_STATUSES = ("FINISHED", "FAILED", "KILLED")


#: the MLflow tracking URI every ``fit`` logs to (set by ``--mlflow`` of run/sweep/record)
MLFLOW_ENV = "FWLAB_MLFLOW_URI"
#: the MLflow experiment of those runs (default ``"fwlab"``)
MLFLOW_EXPERIMENT_ENV = "FWLAB_MLFLOW_EXPERIMENT"
#: the point the runs belong to: the first part of each MLflow run's name
MLFLOW_RUN_ENV = "FWLAB_MLFLOW_RUN"
#: the entry of :data:`fwlab.train.environment.CALLBACKS_ENV` that makes ``fit`` read them
FIT_CALLBACKS = f"{__name__}:fit_callbacks"


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ModuleNotFoundError as err:
        if err.name != "mlflow":
            raise
        raise ModuleNotFoundError(f"MLflow is not installed: {_INSTALL}", name="mlflow") from None
    return mlflow


def tracking_uri(store: str | os.PathLike[str] | None) -> str:
    """The MLflow tracking URI for ``store``: anything with a scheme (``http://127.0.0.1:5000``,
    ``sqlite:///...``, ``databricks``) as given, a path ending in ``.db`` as an SQLite file,
    another path as a folder that gets one, ``<folder>/mlflow.db`` (MLflow 3 refuses
    plain-folder stores); ``None``: MLflow's own choice (``$MLFLOW_TRACKING_URI``, else, in
    MLflow 3, ``mlflow.db`` in the working folder).

    Example:
        >>> tracking_uri("http://127.0.0.1:5000"), tracking_uri("/tmp/x/runs.db")
        ('http://127.0.0.1:5000', 'sqlite:////tmp/x/runs.db')
        >>> tracking_uri("/tmp/x/tracking")
        'sqlite:////tmp/x/tracking/mlflow.db'
    """
    if store is None:
        return str(_import_mlflow().get_tracking_uri())
    if not isinstance(store, (str, os.PathLike)):
        raise TypeError(
            f"the MLflow store must be a URI or a path, got {type(store).__name__}; e.g. "
            "'http://127.0.0.1:5000', 'mlflow.db' or a folder"
        )
    text = os.fspath(store)
    if not text.strip():
        raise ValueError("the MLflow store is empty; give a URI, a .db file or a folder")
    if "://" in text or text.split(":")[0] in ("databricks", "databricks-uc", "file"):
        return text
    path = Path(text).expanduser().resolve()
    if path.suffix not in (".db", ".sqlite", ".sqlite3"):
        path = path / "mlflow.db"
    return f"sqlite:///{path}"


def check_tracking_uri(uri: str, *, timeout: float = 5.0) -> None:
    """Fail fast, in one line, if ``uri`` cannot be a store: an ``http(s)`` server that does
    not answer its ``/health`` within ``timeout`` seconds (MLflow's client would retry for
    minutes), or an SQLite file that is a folder or lies under a file."""
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except (OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise ValueError(
                f"no MLflow server answers at {uri} ({reason}); start one with `mlflow server "
                "--host 127.0.0.1 --port PORT` or give a local store (a .db file or a folder)"
            ) from None
    path = _sqlite_file(uri)
    if path is None:
        return
    if path.is_dir():
        raise ValueError(f"the MLflow store {path} is a folder, not an SQLite file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"the MLflow store {path} is under a file, {parent}")
            break


def _sqlite_file(uri: str) -> Path | None:
    """The file of an ``sqlite:///`` store (absolute, or relative to the working folder)."""
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def _client(uri: str) -> Any:
    """An ``MlflowClient`` of ``uri``; an SQLite store's folder is created."""
    from mlflow.tracking import MlflowClient

    db = _sqlite_file(uri)
    if db is not None:
        db.resolve().parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(uri)


def _experiment_id(client: Any, name: str) -> str:
    """The id of the experiment ``name``, created if missing: a local store keeps its
    artifacts beside it (``mlartifacts/``), not in the working folder."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    db = _sqlite_file(client.tracking_uri)
    artifacts = None if db is None else (db.resolve().parent / "mlartifacts").as_uri()
    try:
        return str(client.create_experiment(name, artifacts))
    except Exception:  # created meanwhile by another process
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def prepare_store(store: str | os.PathLike[str] | None, experiment: str = "fwlab") -> str:
    """The tracking URI of ``--mlflow STORE`` (``None``: MLflow's default), checked before
    anything runs: MLflow installed, the store reachable (:func:`check_tracking_uri`) and the
    experiment created, so the runs of a sweep's parallel workers all find it. Every failure is
    a one-line ``ValueError`` that starts with ``--mlflow:``.

    Example: ``prepare_store("sweeps/mlflow.db")`` → ``'sqlite:////.../sweeps/mlflow.db'``.
    """
    try:
        _import_mlflow()
        if not (isinstance(experiment, str) and experiment.strip()):
            raise ValueError(f"the experiment must be a non-empty string, got {experiment!r}")
        uri = tracking_uri(store)
        check_tracking_uri(uri)
        _experiment_id(_client(uri), experiment)
    except (ValueError, TypeError, ModuleNotFoundError) as err:
        raise ValueError(f"--mlflow: {err}") from None
    return uri


def fit_callbacks(method_name: str, seed: int, *, resume: bool = False) -> list[Callback]:
    """The factory :data:`FIT_CALLBACKS` names for :func:`fwlab.train.fit` (through
    :data:`fwlab.train.environment.CALLBACKS_ENV`): an :class:`MLflowCallback` into the tracking
    URI :data:`MLFLOW_ENV`, in the experiment :data:`MLFLOW_EXPERIMENT_ENV` (default
    ``"fwlab"``), named ``<point>/<method>-seed<seed>`` where :data:`MLFLOW_RUN_ENV` names the
    point (a sweep's point folder, ``fwlab run``'s output folder, ``fwlab record``'s
    comparison) and tagged ``fwlab.point``; ``[]`` when :data:`MLFLOW_ENV` is unset (MLflow is
    not imported then)."""
    uri = os.environ.get(MLFLOW_ENV)
    if not uri:
        return []
    point = os.environ.get(MLFLOW_RUN_ENV, "")
    name = f"{method_name}-seed{seed}"
    return [
        MLflowCallback(
            uri,
            experiment=os.environ.get(MLFLOW_EXPERIMENT_ENV) or "fwlab",
            run_name=f"{point}/{name}" if point else name,
            tags={"fwlab.point": point} if point else None,
        )
    ]


@contextlib.contextmanager
def mlflow_environment(
    store: str | os.PathLike[str] | None, experiment: str = "fwlab", *, point: str = ""
) -> Iterator[str | None]:
    """While inside, every :func:`fwlab.train.fit` of this process (and of the kernels it
    starts) logs to MLflow (:func:`fit_callbacks`, named in
    :data:`fwlab.train.environment.CALLBACKS_ENV`): ``store`` is
    :func:`prepare_store`'d first, runs are named ``<point>/<method>-seed<seed>``; the
    variables are restored after. ``store=None`` sets nothing (``--mlflow`` not given; ``""``
    is MLflow's default store). Yields the tracking URI (or ``None``)."""
    if store is None:
        yield None
        return
    from fwlab.train.environment import CALLBACKS_ENV

    uri = prepare_store(store or None, experiment)
    named = [e.strip() for e in os.environ.get(CALLBACKS_ENV, "").split(",") if e.strip()]
    factories = ",".join(dict.fromkeys([*named, FIT_CALLBACKS]))  # added once
    values = {MLFLOW_ENV: uri, MLFLOW_EXPERIMENT_ENV: experiment, MLFLOW_RUN_ENV: point,
              CALLBACKS_ENV: factories}  # fmt: skip
    with temporary_environ(values):
        yield uri


class MLflowCallback(Callback):
    """A :func:`fwlab.train.fit` callback logging the run to MLflow (see the module docstring).

    Args:
        store: the tracking URI or a local path (:func:`tracking_uri`); ``None``: MLflow's own
            default (``$MLFLOW_TRACKING_URI``, else a local store in the working folder).
        experiment: the MLflow experiment (created if missing).
        run_name: the MLflow run's name (default ``<method>-seed<seed>``).
        tags: more tags for the run (strings).
        flush_secs: metrics are sent at least this often (and at every evaluation and the end).
        figures: the training figure's formats attached at the end (``"html"``, ``"png"``,
            ``"svg"``, ``"pdf"``; the last three need ``fwlab[export]``); ``()`` for none.

    A :class:`fwlab.train.Callback`: :meth:`on_train_begin`, :meth:`on_step_end`,
    :meth:`on_eval_end`, :meth:`on_train_end`; its state (:attr:`run_id`, the MLflow run's id
    once the run has begun) rides in ``fit``'s checkpoint.

    Example: ``fit(method, data, config, callbacks=[MLflowCallback("mlflow.db")])``.
    """

    def __init__(
        self,
        store: str | os.PathLike[str] | None = None,
        *,
        experiment: str = "fwlab",
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        flush_secs: float = 10.0,
        figures: Sequence[str] = ("html",),
    ) -> None:
        _import_mlflow()  # a missing extra fails here, before training
        self.tracking_uri = tracking_uri(store) if store is not None else None
        if not (isinstance(experiment, str) and experiment.strip()):
            raise ValueError(f"experiment must be a non-empty string, got {experiment!r}")
        if run_name is not None and not (isinstance(run_name, str) and run_name.strip()):
            raise ValueError(f"run_name must be a non-empty string or None, got {run_name!r}")
        tags = dict(tags or {})
        bad = [k for k, v in tags.items() if not (isinstance(k, str) and isinstance(v, str))]
        if bad:
            raise TypeError(f"tags must map strings to strings; not so for {bad}")
        flush_secs = positive_float("flush_secs", flush_secs)
        if isinstance(figures, str):
            figures = (figures,)
        unknown = [f for f in figures if f not in FIGURE_FORMATS]
        if unknown:
            raise ValueError(f"figures must be among {FIGURE_FORMATS}, got {unknown}")
        self.experiment = experiment
        self.run_name = run_name
        self.tags = tags
        self.flush_secs = float(flush_secs)
        self.figures = tuple(figures)
        self.command = shlex.join(sys.argv)  # recorded in the provenance
        self.run_id: str | None = None
        self._client: Any = None
        self._cursor: dict[str, int] = {}
        self._events = 0
        self._last_flush = 0.0
        self._name = ""
        self._continue: str | None = None  # the MLflow run of a resumed fit's checkpoint
        self._history: Mapping[str, Any] | None = None

    # ------------------------------------------------------------------ the fit callback
    def state_dict(self) -> dict[str, Any]:
        """The MLflow run's id, saved in ``fit``'s checkpoint: a resumed ``fit`` continues it."""
        return {"run_id": self.run_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._continue = state.get("run_id")

    def on_train_begin(self, run: Any) -> None:
        """Create the MLflow run and log the parameters and ``fwlab/run.json``; a resumed
        ``fit`` whose checkpoint names an MLflow run of this store continues that run instead
        (it is marked ``RUNNING`` again and the history so far is sent again: points the killed
        process sent after its checkpoint appear twice, with the same values)."""
        _import_mlflow()
        from mlflow.entities import Param, RunTag

        from fwlab.runs.provenance import current_commit

        history = run.history
        uri = self.tracking_uri or tracking_uri(None)
        self._client = client = _client(uri)
        self._history = history
        if run.step and self._continue and self._continued(run):
            return
        experiment_id = _experiment_id(client, self.experiment)
        commit = current_commit()
        tags = {
            FORMAT_TAG: _FORMAT,
            "fwlab.task": str(history["task"]),
            "fwlab.method": str(history["method"]["name"]),
            "mlflow.source.name": self.command,
            **({"mlflow.source.git.commit": commit} if commit else {}),
            **({"fwlab.resumed_at_step": str(run.step)} if run.step else {}),
            **self.tags,
        }
        name = self.run_name or f"{history['method']['name']}-seed{history['config']['seed']}"
        created = client.create_run(experiment_id, run_name=name, tags=tags)
        self._name = created.info.run_name or name
        self.run_id = created.info.run_id
        params = [Param(k, v) for k, v in run_parameters(history, commit).items()]
        for i in range(0, len(params), _MAX_PARAMS):
            client.log_batch(self.run_id, params=params[i : i + _MAX_PARAMS])
        info = {k: history[k] for k in _RUN_KEYS if k in history}
        info["layout"] = {p: list(history[p]) for p in PARTS if p in history}
        client.log_text(self.run_id, json.dumps(info, allow_nan=True), _RUN_JSON)
        client.log_batch(self.run_id, tags=[RunTag("mlflow.note.content", _note(history))])
        self._cursor, self._events = {}, 0
        self._last_flush = time.monotonic()
        if run.step:  # resumed: log what the history holds so far
            self._flush(history)

    def _continued(self, run: Any) -> bool:
        """Continue the MLflow run of the checkpoint; ``False`` if this store has no such run."""
        from mlflow.exceptions import MlflowException

        try:
            found = self._client.get_run(self._continue)
        except MlflowException:
            return False
        self.run_id, self._name = self._continue, found.info.run_name or ""
        self._client.update_run(self.run_id, status="RUNNING")
        self._client.set_tag(self.run_id, "fwlab.resumed_at_step", str(run.step))
        self._cursor, self._events = {}, 0
        self._flush(run.history)
        return True

    def on_step_end(self, run: Any) -> None:
        """Send the new points if ``flush_secs`` have passed since the last batch sent."""
        if self._client is not None and time.monotonic() - self._last_flush >= self.flush_secs:
            self._flush(run.history)

    def on_eval_end(self, run: Any) -> None:
        """Send the new points (the evaluation's included)."""
        if self._client is not None:
            self._flush(run.history)

    def on_train_end(self, run: Any) -> None:
        """Send the rest, the summary, ``history.json``, the figures and the provenance; mark the
        run ``FINISHED``."""
        if self._client is None:
            return
        from mlflow.entities import Metric, RunTag

        from fwlab.runs.provenance import provenance

        history = run.history
        self._flush(history)
        summary = history.get("summary", {})
        steps = int(summary.get("steps", run.step))
        now = _now_ms()
        metrics = [
            Metric(f"summary/{k}", float(v), now, steps)
            for k, v in summary.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        prov = provenance(self.command, wall_seconds=float(summary.get("wall_time", 0.0)))
        tags = [RunTag(f"fwlab.provenance.{k}", str(v)) for k, v in prov.items()]
        self._client.log_batch(self.run_id, metrics=metrics, tags=tags)
        self._client.log_text(self.run_id, json.dumps(history, allow_nan=True), HISTORY)
        self._log_figures(history)
        self.finish("FINISHED")

    def finish(self, status: str = "FAILED") -> None:
        """End the MLflow run with ``status`` (``"FINISHED"``, ``"FAILED"`` or ``"KILLED"``),
        after sending the metrics not sent yet; a no-op before the run began or after it
        ended."""
        one_of("status", status, _STATUSES)
        if self._client is not None:
            if self._history is not None and status != "FINISHED":  # a run that stopped
                self._flush(self._history)
            # MLflow prints the run's URL to stdout here: keep stdout for the caller's output
            with contextlib.redirect_stdout(sys.stderr):
                self._client.set_terminated(self.run_id, status)
            self._client = None

    # ---------------------------------------------------------------------------- helpers
    def _flush(self, history: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric

        scalars, self._cursor = history_scalars(history, self._cursor)
        events = list(history["events"])[self._events :]
        now = _now_ms()
        metrics = [Metric(tag, v, now, step) for tag, v, step in scalars]
        for e in events:
            for key, value in dict(e.get("values", {})).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    metrics.append(Metric(f"events/{key}", float(value), now, int(e["step"])))
        for i in range(0, len(metrics), _MAX_METRICS):
            self._client.log_batch(self.run_id, metrics=metrics[i : i + _MAX_METRICS])
        if events:
            self._events += len(events)
            text = json.dumps(list(history["events"])[: self._events], allow_nan=True)
            self._client.log_text(self.run_id, text, _EVENTS_JSON)
        self._last_flush = time.monotonic()

    def _log_figures(self, history: Mapping[str, Any]) -> None:
        if not self.figures:
            return
        from fwlab.plots import training_figure

        fig = training_figure({self._name: history}, title=f"{self._name} on {history['task']}")
        with tempfile.TemporaryDirectory(prefix="fwlab-mlflow-") as tmp:
            for fmt in self.figures:
                path = Path(tmp) / f"training.{fmt}"
                if fmt == "html":
                    # plotly.js from its CDN: one MB-sized copy per run would fill the store
                    fig.write_html(path, include_plotlyjs="cdn")
                else:
                    from fwlab.plots.figure_files import save_figure

                    save_figure(fig, path)
                self._client.log_artifact(self.run_id, str(path), "figures")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _note(history: Mapping[str, Any]) -> str:
    m, c = history["method"], history["config"]
    return (
        f"fwlab: {m['name']} on {history['task']} (seed {c['seed']}); metrics are against "
        "batches (= gradient evaluations); `fwlab.integrations.mlflow.load_mlflow_histories` "
        "reads this run back as a history"
    )


def run_parameters(history: Mapping[str, Any], commit: str | None) -> dict[str, str]:
    """The MLflow parameters of a run: :func:`fwlab.train.scalars.hparams_of`, every other
    field of the method and the config (``None`` as ``"None"``), the data sizes as
    ``data.<key>`` and ``commit``.

    Example:
        >>> from fwlab.train import TrainConfig, get_method
        >>> h = {"task": "adding", "method": get_method("fw_k5").to_dict(),
        ...      "config": TrainConfig(steps=5, lr=0.01, seed=3).to_dict(),
        ...      "data": {"n_train": 10}}
        >>> p = run_parameters(h, "abc")
        >>> p["method"], p["K"], p["seed"], p["epochs"], p["data.n_train"], p["commit"]
        ('fw_k5', '5', '3', 'None', '10', 'abc')
    """
    params = {k: str(v) for k, v in hparams_of(history).items()}
    for key, value in {**history["method"], **history["config"]}.items():
        if key not in ("name", "label"):
            params.setdefault(key, str(value))
    params.update({f"data.{k}": str(v) for k, v in history.get("data", {}).items()})
    params["commit"] = str(commit)
    return params


# ---------------------------------------------------------------------------- reading back
def read_mlflow_run(run_id: str, store: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The history of the MLflow run ``run_id`` logged by :class:`MLflowCallback`: its
    ``history.json`` when the run finished, else rebuilt from its metrics (float64, as sent),
    ``fwlab/run.json`` and ``fwlab/events.json``."""
    _import_mlflow()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri(store) if store is not None else None)
    return _read_run(client, client.get_run(run_id))


def _read_run(client: Any, run: Any) -> dict[str, Any]:
    run_id = run.info.run_id
    if run.data.tags.get(FORMAT_TAG) is None:
        raise ValueError(
            f"MLflow run {run_id} was not logged by fwlab's MLflowCallback (no {FORMAT_TAG} tag)"
        )
    # MLflow draws a progress bar per artifact downloaded (one per run loaded, in a notebook's
    # output): off unless the user set the variable themselves
    quiet = {_PROGRESS_BAR_ENV: os.environ.get(_PROGRESS_BAR_ENV, "false")}
    with tempfile.TemporaryDirectory(prefix="fwlab-mlflow-") as tmp, temporary_environ(quiet):
        files = {a.path for a in client.list_artifacts(run_id)}
        files |= {a.path for a in client.list_artifacts(run_id, "fwlab")}

        def read(name: str, default: Any) -> Any:
            if name not in files:
                return default
            return json.loads(Path(client.download_artifacts(run_id, name, tmp)).read_text())

        if HISTORY in files:
            return load_history(client.download_artifacts(run_id, HISTORY, tmp))
        info = read(_RUN_JSON, {})
        events = read(_EVENTS_JSON, [])
    points = {
        key: {m.step: m.value for m in client.get_metric_history(run_id, key)}
        for key in run.data.metrics
        if series_of_tag(key) is not None
    }
    history: dict[str, Any] = {k: info.get(k, {}) for k in _RUN_KEYS}
    history.update(history_parts(points, info.get("layout")))
    history["events"] = events
    history["summary"] = {}
    return history


def load_mlflow_histories(
    store: str | os.PathLike[str] | None = None,
    *,
    experiment: str = "fwlab",
    run_ids: Sequence[str] | None = None,
    filter_string: str = "",
    max_results: int = 100,
) -> dict[str, dict[str, Any]]:
    """``name → history`` of the runs :class:`MLflowCallback` logged into ``experiment`` of the
    store (oldest first), in the format ``TrainingDashboard.add_histories`` and
    :func:`fwlab.plots.training_figure` take: ``dash.add_histories(load_mlflow_histories(
    "mlflow.db"))`` shows them beside the live runs.

    Args:
        store: as for :class:`MLflowCallback`.
        experiment: the experiment whose runs to read (ignored with ``run_ids``).
        run_ids: read these runs only.
        filter_string: an MLflow search filter, e.g. ``"params.method = 'fw_k5'"``.
        max_results: read at most this many runs.

    A run is named by its MLflow run name; two runs of one name are told apart by their id's
    first 8 characters. ``FileNotFoundError`` when no run matches, ``ValueError`` naming the
    experiments there when ``experiment`` does not exist.
    """
    _import_mlflow()
    from mlflow.tracking import MlflowClient

    max_results = positive_int("max_results", max_results)
    uri = tracking_uri(store) if store is not None else None
    client = MlflowClient(uri)
    if run_ids is not None:
        runs = [client.get_run(r) for r in run_ids]
    else:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            names = [e.name for e in client.search_experiments()]
            raise ValueError(
                f"no MLflow experiment {experiment!r} in {client.tracking_uri}; it has {names}"
            )
        query = f"tags.`{FORMAT_TAG}` = '{_FORMAT}'"
        if filter_string:
            query += f" and {filter_string}"
        runs = client.search_runs(
            [found.experiment_id],
            filter_string=query,
            max_results=max_results,
            order_by=["attributes.start_time ASC"],
        )
    if not runs:
        raise FileNotFoundError(
            f"no fwlab runs in {client.tracking_uri}"
            + ("" if run_ids is not None else f", experiment {experiment!r}")
            + (f" matching {filter_string!r}" if filter_string else "")
        )
    names = [r.info.run_name or r.info.run_id for r in runs]
    out: dict[str, dict[str, Any]] = {}
    for run, name in zip(runs, names):
        if names.count(name) > 1:
            name = f"{name} ({run.info.run_id[:8]})"
        out[name] = _read_run(client, run)
    return out
