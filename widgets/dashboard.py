r"""``TrainingDashboard``: live training curves of one or several runs, and controls to steer them.

One ``plotly.graph_objects.FigureWidget`` (built by :func:`fwlab.plots.training_figure`) shows,
per run, the training loss, the test metric, η_t and δ_t, and Frank-Wolfe's diagnostics (FW gap,
‖Δω_K‖, angle between Δω_K and −∇F). It is refreshed inside ``figure.batch_update()``, at most
every ``throttle_steps`` batches and ``throttle_seconds`` seconds (and always when a run begins
or ends).

Two ways to feed it:

* **as a callback** of :func:`fwlab.train.fit`: ``fit(..., callbacks=[dash])`` (the run is named
  by :func:`fwlab.plots.run_title`: what the method is, e.g. "Frank-Wolfe K=5") or
  ``callbacks=[dash.callback("name")]``; ``dash.fit(...)`` does that.
  The curves are live while the cell runs, but a Jupyter kernel handles widget events only
  between cells, so the buttons and sliders act on such a run only from code (a callback).
* **in the background**: ``job = dash.start(method, data, config)`` trains in a thread
  (:class:`fwlab.train.BackgroundRun`) and returns at once; the kernel stays free, so the
  controls work while it trains. ``dash.wait()`` blocks until every background run has finished
  (and keeps redrawing meanwhile), and the kernel reads no widget message until it returns;
  ``await dash.wait_async()`` in a notebook cell waits the same way while the controls keep
  acting (ipykernel >= 7.4 reads widget messages while a cell awaits), also under "Run All"
  and in Voilà, and in papermill it waits like ``wait()``.

The status line follows each run's state as soon as it changes (pausing, paused, resumed,
stopping, stopped, done, error, changes queued and applied), not only at the next redraw.

Controls (``dash.controls[name]``) act on the run chosen in ``target`` (or on all of them):

======== ================================================================================
target   which run the controls steer (``"all"``: every run still training)
delta    δ_t, the trust-region radius in use (log slider; FW runs)
K        inner Frank-Wolfe iterations per outer step (FW runs)
p        the norm of the ball: 1, 1.5, 2, 3, ∞ (FW runs)
lr       η_t, the learning rate in use (log slider); changing it keeps δ_t fixed
pause    park the training thread after the current batch (background runs)
resume   continue a paused run
stop     end the run cleanly after the current batch, at the iterate ω
======== ================================================================================

A slider change is queued and applied at the next outer-step boundary, and recorded in the run's
``history["events"]`` with its step (:mod:`fwlab.train.background`), so
``fwlab.train.replay_callback(history["events"])`` reproduces the run headless. The sliders show
the values in use of the target run once they are applied.

Without a widget front end (papermill, nbval, an HTML export) show
:meth:`TrainingDashboard.static_figure`, a ``go.Figure`` of the same curves.

Example:
    >>> from fwlab.data import load_task
    >>> from fwlab.train import TrainConfig, fit, get_method
    >>> data = load_task("adding", seq_len=10, n_train=100, n_test=50)
    >>> dash = TrainingDashboard(throttle_seconds=0.0)
    >>> h = fit(get_method("fw_k1"), data, TrainConfig(hidden_size=8, batch_size=25, steps=8),
    ...         callbacks=[dash], progress=False)
    >>> list(dash.histories), len(dash.figure.data[0].y)
    (['Frank-Wolfe K=1'], 8)
"""

from __future__ import annotations

import asyncio
import html
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go

from fwlab.data.sequence_data import SequenceData
from fwlab.plots import (
    add_training_traces,
    format_p,
    run_title,
    training_figure,
    training_metric,
    training_panel_titles,
    training_trace_data,
)
from fwlab.plots.recorded import add_recorded, recorded_metric
from fwlab.train import (
    BackgroundRun,
    Callback,
    Method,
    Run,
    RunControl,
    TrainConfig,
    fit,
    get_method,
)
from fwlab.train.background import check_hyperparameters
from fwlab.train.registry import ALL, RunRegistry
from fwlab.train.tensorboard import load_histories

from ._page_acks import PROBE, RecoveringFigure
from ._throttle import OwnerThreadCaller, Throttle
from .explorer import P_OPTIONS

__all__ = ["TrainingDashboard"]

_SLIDERS = ("delta", "K", "p", "lr")
# two lines: on one line the three bottom panels' x titles run into each other at notebook width
_X_TITLE = "batches<br>(= gradient evaluations)"


class TrainingDashboard(RecoveringFigure, Callback):
    """Live loss/metric curves and Frank-Wolfe diagnostics of several runs side by side, with
    δ, K, p, η sliders and pause/resume/stop buttons (see the module docstring).

    Args:
        metric: ``"auto"`` (test accuracy for classification tasks, else test loss),
            ``"test_acc"`` or ``"test_loss"``.
        smooth: trailing mean of the per-batch loss over this many batches.
        max_points: longer series are averaged down to about this many points per trace.
        reference_loss: a dashed line in the loss panels (e.g. ``fwlab.data.STALLED_MSE``).
        title: the figure's title.
        throttle_steps: redraw at most every this many batches of a run ...
        throttle_seconds: ... and at most every this many seconds (every redraw sends every
            trace of six panels: a page on a busy machine falls behind faster redraws, and the
            status line, sent after them, with it).
        height: of the figure, in pixels.
        clock: the time source for throttling (tests pass a fake one).

    Attributes:
        figure: the ``go.FigureWidget``, replaced by a new one with every run drawn when the
            page stopped following it (:class:`._page_acks.RecoveringFigure`; the status line
            says so): read it anew rather than keeping it. ``widget``: controls, status, figure.
        controls: ``name → widget`` (see the module docstring).
        histories: ``name → history`` of every run seen (live while it trains).
        jobs: ``name → BackgroundRun`` of the runs started with :meth:`start`.
        runs: the :class:`fwlab.train.registry.RunRegistry` behind ``histories``, ``jobs`` and
            :meth:`status` (no UI in it).
        redraws: how many times the figure was redrawn.
    """

    headless_text = (
        "[TrainingDashboard: live curves and controls; they need a running kernel with a widget "
        "front end. static_figure() draws the same curves.]"
    )

    def __init__(
        self,
        *,
        metric: str = "auto",
        smooth: int = 1,
        max_points: int = 2000,
        reference_loss: float | None = None,
        title: str | None = None,
        throttle_steps: int = 1,
        throttle_seconds: float = 1.0,
        height: int = 560,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if metric not in ("auto", "test_acc", "test_loss"):
            raise ValueError(f"metric must be 'auto', 'test_acc' or 'test_loss', got {metric!r}")
        self._throttle = Throttle(steps=throttle_steps, seconds=throttle_seconds, clock=clock)
        self.throttle_steps = self._throttle.steps
        self.throttle_seconds = self._throttle.seconds
        self.metric = metric
        self.smooth = smooth
        self.max_points = max_points
        self.reference_loss = reference_loss
        self.runs = RunRegistry()
        self.jobs = self.runs.jobs
        self._recorded: list[tuple[Mapping[str, Any], str, list[str] | None]] = []
        self.redraws = 0
        self._lock = self.runs.lock
        self._traced: list[str] = []  # names whose traces are in the figure
        self._shown: dict[str, Any] = {}
        self._message = ""
        # training threads only ask; the redraw runs on this (the kernel's) thread
        self._redrawer = OwnerThreadCaller(lambda: self.redraw())
        self._status_refresher = OwnerThreadCaller(self._refresh_status)

        self._new_figure(
            training_figure(
                {},
                metric="test_loss" if metric == "auto" else metric,
                title=title,
                height=height,
            )
        )
        self._metric_shown = metric != "auto"
        self._add_reference("loss")
        if metric == "test_loss":
            self._add_reference("metric")

        slider = {"continuous_update": False, "style": {"description_width": "initial"}}
        log = dict(value=1e-3, base=10, min=-6, max=0, step=0.05, readout_format=".3g")
        self.controls: dict[str, W.DOMWidget] = {
            "target": W.Dropdown(options=[ALL], value=ALL, description="steer"),
            "delta": W.FloatLogSlider(description="δ_t", **log, **slider),
            "K": W.IntSlider(value=1, min=1, max=20, description="K", **slider),
            "p": W.SelectionSlider(options=list(P_OPTIONS), value=2.0, description="p", **slider),
            "lr": W.FloatLogSlider(description="η_t", **log, **slider),
            "pause": W.Button(description="pause", icon="pause"),
            "resume": W.Button(description="resume", icon="play"),
            "stop": W.Button(description="stop", icon="stop", button_style="danger"),
        }
        for name in _SLIDERS:
            self.controls[name].observe(
                lambda change, name=name: self._on_slider(name, change["new"]), names="value"
            )
        self.controls["target"].observe(self._on_target, names="value")
        for action in ("pause", "resume", "stop"):
            self.controls[action].on_click(lambda _, action=action: self._on_button(action))
        self._status = W.HTML()
        c = self.controls
        self.widget = W.VBox(
            [
                W.HBox(
                    [
                        W.VBox([c["target"], c["delta"], c["K"]]),
                        W.VBox([c["p"], c["lr"], W.HBox([c["pause"], c["resume"], c["stop"]])]),
                    ]
                ),
                self._status,
                self.figure,
            ]
        )
        self._update_status()

    # --- feeding it ----------------------------------------------------------------------------

    # a fit callback itself: the run is named by fwlab.plots.run_title (what the method is,
    # e.g. "Frank-Wolfe K=5")
    def on_train_begin(self, run: Run) -> None:
        self._callback_for(run_title(run.method)).on_train_begin(run)

    def on_step_end(self, run: Run) -> None:
        self._callback_for(run_title(run.method)).on_step_end(run)

    def on_eval_end(self, run: Run) -> None:
        self._callback_for(run_title(run.method)).on_eval_end(run)

    def on_train_end(self, run: Run) -> None:
        self._callback_for(run_title(run.method)).on_train_end(run)

    def callback(self, name: str) -> Callback:
        """A ``fit`` callback that shows its run as ``name`` and lets the controls steer it."""
        return self._callback_for(name)

    def _callback_for(self, name: str, control: RunControl | None = None) -> Callback:
        return self.runs.callback(name, control, observer=_Redraw(self, name))

    def fit(
        self,
        method: Method | str,
        data: SequenceData,
        config: TrainConfig,
        *,
        name: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """``fit(method, data, config, callbacks=[...this dashboard...], **options)`` here, in
        this thread; returns the history."""
        method = get_method(method) if isinstance(method, str) else method
        callbacks = [self.callback(name or run_title(method)), *options.pop("callbacks", ())]
        options.setdefault("progress", False)
        return fit(method, data, config, callbacks=callbacks, **options)

    def start(
        self,
        method: Method | str,
        data: SequenceData,
        config: TrainConfig,
        *,
        name: str | None = None,
        **options: Any,
    ) -> BackgroundRun:
        """Train in a background thread (:class:`fwlab.train.BackgroundRun`) shown and steered
        by this dashboard; returns the job at once. ``options`` go to ``BackgroundRun``."""
        method = get_method(method) if isinstance(method, str) else method
        name = name or run_title(method)
        if name in self.jobs and not self.jobs[name].done:
            raise ValueError(f"a run named {name!r} is still training; pass another name=")
        job = BackgroundRun(method, data, config, name=name, **options)
        job.add_callback(self._callback_for(name, control=job))
        job.add_listener(lambda _: self._status_refresher.request())
        job.add_done_callback(self._on_job_done)
        self.runs.add_job(name, job)
        self._refresh_targets()
        return job.start()

    def wait(self, timeout: float | None = None) -> dict[str, dict[str, Any]]:
        """Block until every background run has finished, redrawing meanwhile; returns
        :attr:`histories`. Re-raises the first error of a run; ``TimeoutError`` after
        ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in list(self.jobs.values()):
            while not job.wait(0.05):
                self._redrawer.flush()
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"{job.name!r} is still training (step {job.step})")
        self._redrawer.flush()
        for job in self.jobs.values():
            job.join()
        self.redraw()
        return self.histories

    async def wait_async(
        self, timeout: float | None = None, *, poll_s: float = 0.1
    ) -> dict[str, dict[str, Any]]:
        """:meth:`wait` for a notebook cell: ``await dash.wait_async()`` lets the kernel's
        loop run while the runs train, so the figure redraws and (ipykernel >= 7.4) the
        controls act, even when the cells below are already queued by "Run All" or Voilà;
        they run once every run has finished. Returns :attr:`histories`; re-raises the
        first error of a run; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in list(self.jobs.values()):
            while not job.done:
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"{job.name!r} is still training (step {job.step})")
                await asyncio.sleep(poll_s)
        return self.wait()

    # --- drawing ---------------------------------------------------------------------------------

    @property
    def histories(self) -> dict[str, dict[str, Any]]:
        """``name → history`` of every run that has begun, in the order the runs were started
        (live while they train)."""
        return self.runs.histories

    def _on_job_done(self, job: BackgroundRun) -> None:
        self.runs.job_done(job)
        self._redrawer.request()

    def redraw(self) -> None:
        """Refresh every trace from the histories (inside ``batch_update``), the status line
        and the sliders (to the values in use of the target run)."""
        with self._lock:
            if self._stopped_listening():
                self._replace_figure()  # drawn from the histories as they are now
                self.redraws += 1
            else:
                if self.metric != "auto" and not self._metric_shown:
                    self._metric_shown = True
                    self.figure.layout.annotations[1].text = training_panel_titles(self.metric)[1]
                    kind = "linear" if self.metric == "test_acc" else "log"
                    self.figure.update_yaxes(type=kind, row=1, col=2)
                    if self.metric == "test_loss":
                        self._add_reference("metric")
                new = [name for name in self.runs.names if name not in self._traced]
                if new and self.figure.data and self.figure.data[0].meta == PROBE:
                    self.figure.data = self.figure.data[1:]  # real traces now prove a drawing
                for name in new:
                    add_training_traces(self.figure, name, len(self._traced))
                    self._traced.append(name)
                data = training_trace_data(
                    self.histories,
                    metric=self.metric if self.metric != "auto" else "test_loss",
                    smooth=self.smooth,
                    max_points=self.max_points,
                )
                with self.figure.batch_update():
                    for trace in self.figure.data:
                        if trace.meta in data:
                            trace.update(data[trace.meta])
                self._acks.sent()
                self.redraws += 1
            self._refresh_status()

    def _refresh_status(self) -> None:
        """The status line, the target list and the sliders, from the runs' state now."""
        with self._lock:
            self._refresh_targets()
            self._sync_sliders()
            self._update_status()

    def _new_figure(self, figure: go.Figure) -> None:
        _style(figure)
        super()._new_figure(figure)

    def _replace_figure(self) -> None:
        """A new figure with every run drawn (see ``figure``). Call with the lock held."""
        super()._replace_figure()
        self._traced = list(self.histories)
        self._metric_shown = self.metric != "auto"

    def _add_reference(self, panel: str) -> None:
        if self.reference_loss is not None:
            line = {"dash": "dash", "color": "#7f7f7f", "width": 1}
            col = 1 if panel == "loss" else 2
            self.figure.add_hline(
                y=self.reference_loss, line=line, row=1, col=col, exclude_empty_subplots=False
            )

    def add_histories(
        self, histories: Mapping[str, Mapping[str, Any]] | str | os.PathLike
    ) -> list[str]:
        """Show finished runs beside the live ones: ``name → history``, or a path that
        :func:`fwlab.train.load_histories` reads (a TensorBoard run written by
        ``fwlab train --tensorboard``, a folder of ``history.json`` files, or one of them).
        Returns the names added (state ``"loaded"`` in the status table)."""
        if not isinstance(histories, Mapping):
            histories = load_histories(histories)
        with self._lock:
            for name, history in histories.items():
                self.runs.add_history(name, history)
            if self.metric == "auto" and histories:
                self.metric = training_metric(histories)
        self.redraw()
        return list(histories)

    def add_recorded(
        self, recorded: Mapping[str, Any], *, runs: list[str] | None = None
    ) -> list[str]:
        """Overlay recorded runs: mean (dashed) and min..max spread (band) across seeds in the
        loss and metric panels, against batches (= gradient evaluations).

        Args:
            recorded: a recorded comparison, as loaded
                (``fwlab.experiments.recorded.load_recorded(NAME)`` reads a shipped one).
            runs: only these recorded run names (default: all recorded).

        Returns the ``meta`` of the traces added (``"recorded:<panel>:<run>:<lo|hi|mean>"``).
        """
        if not isinstance(recorded, Mapping):
            raise TypeError(
                f"recorded must be a loaded comparison, got {recorded!r}: pass "
                "load_recorded(NAME) from fwlab.experiments.recorded"
            )
        metric = self.metric if self.metric != "auto" else recorded_metric(recorded)
        with self._lock:
            metas = add_recorded(self.figure, recorded, metric, runs=runs)
            self._recorded.append((recorded, metric, runs))
        return metas

    def static_figure(self) -> go.Figure:
        """The curves of every run so far, and the recorded runs added with
        :meth:`add_recorded`, as a static ``go.Figure`` (papermill, nbval, HTML)."""
        with self._lock:
            histories = self.histories
            recorded = list(self._recorded)
        fig = training_figure(
            histories,
            metric=self.metric,
            smooth=self.smooth,
            max_points=self.max_points,
            reference_loss=self.reference_loss,
            title=self.figure.layout.title.text,
            height=self.figure.layout.height or 560,
        )
        for rec, metric, runs in recorded:
            add_recorded(fig, rec, metric, runs=runs)
        _style(fig)
        return fig

    # --- controls ------------------------------------------------------------------------------

    def _targets(self) -> list[RunControl]:
        """The controls of the runs the widgets act on now (not yet ended)."""
        return self.runs.targets(self.controls["target"].value)

    def _refresh_targets(self) -> None:
        names = [ALL, *self.runs.controls]
        dd = self.controls["target"]
        if list(dd.options) != names:
            with self._held():
                value = dd.value
                dd.options = names
                dd.value = value if value in names else ALL

    def _sync_sliders(self) -> None:
        """Show the values in use of the (first Frank-Wolfe) target run, unless changes are
        queued."""
        targets = [c for c in self._targets() if c.run is not None]
        if not targets or any(c.pending() for c in targets):
            return
        # a Frank-Wolfe run shows all four values; with only Adam runs δ, K and p are off
        values = next((v for v in (c.in_use() for c in targets) if "delta" in v), None)
        values = values or targets[0].in_use()
        if values == self._shown:
            return
        self._shown = values
        fw = "delta" in values
        with self._held():
            for name in _SLIDERS:
                self.controls[name].disabled = not fw and name != "lr"
            for name, v in values.items():
                ctl = self.controls[name]
                if name == "p":
                    v = min((x for _, x in P_OPTIONS), key=lambda x: abs(x - v))
                elif name in ("delta", "lr"):
                    v = min(max(v, 10**ctl.min), 10**ctl.max)
                ctl.value = v

    def set(self, **values: Any) -> None:
        """Set sliders from code (``dash.set(delta=1e-2, K=5)``): one queued change per run.
        Each value is checked by the rule every run applies (:func:`fwlab.train.background.
        check_hyperparameters`) before any slider moves; a run that has no such control (K of
        an Adam run) says so in the status line."""
        unknown = set(values) - set(_SLIDERS)
        if unknown:
            raise ValueError(f"unknown controls {sorted(unknown)}; known: {list(_SLIDERS)}")
        if values:
            values = check_hyperparameters(values, "fw")  # "fw": every slider's rule
        with self._held():
            for name, v in values.items():
                self.controls[name].value = v
        self._apply(values)

    def _on_slider(self, name: str, value: Any) -> None:
        if not self._hold:
            self._apply({name: value})

    def _apply(self, values: Mapping[str, Any]) -> None:
        targets = self._targets()
        if not targets:
            self._message = "no run is training: start one with dashboard.start(...)"
        for c in targets:
            try:
                queued = c.set(**values)
            except ValueError as err:
                self._message = html.escape(str(err))
            else:
                self._message = "queued " + _format_values(queued) + " (next outer step)"
        self._update_status()

    def _on_target(self, change: Mapping[str, Any]) -> None:
        if not self._hold:
            self._shown = {}
            self._sync_sliders()
            self._update_status()

    def _on_button(self, action: str) -> None:
        targets = self._targets()
        if action == "pause":
            targets = [c for c in targets if isinstance(c, BackgroundRun)]
            if not targets:
                self._message = "pause works on runs started with dashboard.start(...)"
        for c in targets:
            getattr(c, action)()
        if targets:
            self._message = f"{action}: " + ", ".join(self.runs.name_of(c) for c in targets)
        self._update_status()

    # --- status --------------------------------------------------------------------------------

    def status(self) -> dict[str, dict[str, Any]]:
        """Per run: ``state``, ``step``, ``loss`` (last batch), values in use, ``pending``
        (:meth:`fwlab.train.registry.RunRegistry.status`)."""
        return self.runs.status()

    def _update_status(self) -> None:
        rows = []
        for name, s in self.status().items():
            used = {k: s[k] for k in ("lr", "delta", "K", "p") if k in s}
            cells = [
                f"<b>{html.escape(name)}</b>",
                s["state"],
                f"step {s['step']}",
                f"loss {s['loss']:.4g}",
                _format_values(used),
                ("queued " + _format_values(s["pending"])) if s["pending"] else "",
                html.escape(s.get("error", "")),
            ]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        table = f"<table>{''.join(rows)}</table>" if rows else "<i>no run yet</i>"
        message = self._message
        if self.figures_replaced:
            message += (
                f" The page had stopped following the figure: drawn anew "
                f"({self.figures_replaced}×)."
            )
        self._status.value = table + (f"<div>{message.strip()}</div>" if message else "")


class _Redraw(Callback):
    """After the registry recorded a hook of run ``name``: pick the metric, redraw when due."""

    def __init__(self, dash: TrainingDashboard, name: str) -> None:
        self.dash, self.name = dash, name

    def on_train_begin(self, run: Run) -> None:
        with self.dash._lock:
            if self.dash.metric == "auto":
                task = run.data.task
                self.dash.metric = "test_acc" if task == "classification" else "test_loss"
        self._redraw_if_due(force=True)

    def on_step_end(self, run: Run) -> None:
        self._redraw_if_due(batch=True)

    def on_eval_end(self, run: Run) -> None:
        self._redraw_if_due()

    def on_train_end(self, run: Run) -> None:
        self._redraw_if_due(force=True)

    def _redraw_if_due(self, **moment: bool) -> None:
        if self.dash._throttle.due(self.name, **moment):
            self.dash._redrawer.request()


def _style(fig: go.Figure) -> None:
    """The dashboard's own layout on top of :func:`fwlab.plots.training_figure`'s: the x
    titles on two lines, the legend below them."""
    fig.update_xaxes(title_text=_X_TITLE, row=2)
    fig.update_layout(legend_y=-0.19, margin_b=100)


def _format_values(values: Mapping[str, Any]) -> str:
    labels = {"lr": "η", "delta": "δ"}
    parts = []
    for k, v in values.items():
        text = format_p(v) if k == "p" else (f"{v:.3g}" if isinstance(v, float) else str(v))
        parts.append(f"{labels.get(k, k)} = {text}")
    return ", ".join(parts)
