r"""Steer a running :func:`fwlab.train.fit`: change δ, K, p and η, pause, resume and stop, with
every change recorded in the history so that the run can be replayed headless.

Three pieces, none of them tied to a user interface: :class:`RunControl`, a ``fit`` callback
taking requests from any thread; :class:`BackgroundRun` (or :func:`start_fit`), ``fit`` in a
thread so that a Jupyter kernel stays free for widgets; and :func:`replay_callback`, which
re-applies a history's recorded changes in a headless ``fit`` (same data, method and config give
the same history but for the wall-clock fields ``eval.seconds`` and ``summary.wall_time``).

**What the controls mean.** ``lr`` is η_t and ``delta`` is δ_t, the values *in use*.
``FrankWolfe(tie_delta_to_lr=True)`` computes :math:`\delta_t = \delta\,\eta_t/\eta_0` with
:math:`\eta_0` = ``group["initial_lr"]``; setting only ``lr`` on such a group would therefore also
move δ. Here a change of ``lr`` or ``delta`` re-anchors the group: it writes ``lr``,
``initial_lr = lr`` and ``delta`` = the wanted (or the current) δ_t, so that

* changing η keeps δ_t where it was, changing δ keeps η_t where it was, and ``group["delta"]``
  is the δ in use right after the change;
* a ``StepLR`` still scales both from there on (it multiplies ``lr``; δ_t follows).

The history records the raw group values written (``{"lr", "initial_lr", "delta"}``), so a
replay writes exactly the same numbers. With ``tie_delta_to_lr=False`` no re-anchoring is needed
and only the named keys are written. Adam methods accept ``lr`` only.

**Events.** A change applied after ``s`` batches is recorded as
``{"step": s, "kind": "set", "values": {...}}`` (batch ``s + 1`` is the first to use it); a stop
as ``{"step": s, "kind": "stop"}`` (the run ends after ``s`` batches, at the iterate ω).
Pause and resume change nothing in the computation and are not recorded.

**Threads and randomness.** The model is built (from ``config.seed``) in the thread that calls
:meth:`BackgroundRun.start`, and seeding plus initialisation hold
:data:`fwlab.train.build.TORCH_RNG_LOCK`, as does a run reseeding its dropout stream, so an
initialisation never races with another run; but torch has one global random generator, so runs
that draw from it while training (dropout) are reproducible only when they do not train
concurrently.

Example:
    >>> from fwlab.data import load_task
    >>> from fwlab.train import TrainConfig, get_method
    >>> data = load_task("adding", seq_len=10, n_train=100, n_test=50)
    >>> config = TrainConfig(hidden_size=8, batch_size=25, steps=12)
    >>> job = BackgroundRun(get_method("fw_k1"), data, config)
    >>> _ = job.set(delta=5e-4)          # queued; applied at the first outer-step boundary
    >>> history = job.start().join()
    >>> [e["kind"] for e in history["events"]], history["optimizer"]["delta"][-1]
    (['set'], 0.0005)
    >>> again = fit(get_method("fw_k1"), data, config, progress=False,
    ...             callbacks=[replay_callback(history["events"])])
    >>> again["train"] == history["train"] and again["events"] == history["events"]
    True
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from concurrent.futures import wait as futures_wait
from typing import Any

from torch import nn

from fwlab.data.sequence_data import SequenceData
from fwlab.optim.frank_wolfe import effective_delta
from fwlab.train.build import build_model
from fwlab.train.callbacks import Callback, as_callback, as_callbacks
from fwlab.train.config import TrainConfig
from fwlab.train.loop import fit
from fwlab.train.methods import Method
from fwlab.train.outer_steps import takes_outer_steps
from fwlab.train.run import Run
from fwlab.util.turns import Turns
from fwlab.util.validate import nonnegative_float, one_of, p_exponent, positive_float, positive_int

__all__ = [
    "CONTROLLABLE",
    "BackgroundRun",
    "RunControl",
    "check_hyperparameters",
    "group_updates",
    "hyperparameters_in_use",
    "record_stop",
    "replay_callback",
    "start_fit",
]

#: hyperparameters the controls may change, by optimizer kind of :class:`fwlab.train.Method`
CONTROLLABLE: dict[str, tuple[str, ...]] = {"fw": ("lr", "delta", "K", "p"), "adam": ("lr",)}
_REPLAYED = ("set", "stop")


# ----------------------------------------------------------------------------- pure helpers
def check_hyperparameters(values: Mapping[str, Any], optimizer: str = "fw") -> dict[str, Any]:
    """Validate control values for an optimizer kind (``"fw"`` or ``"adam"``) and normalise
    them: ``lr`` ≥ 0 and ``delta`` > 0 as floats, ``K`` an integer ≥ 1, ``p`` via
    :func:`fwlab.util.validate.p_exponent` (``"inf"`` accepted): the rules FrankWolfe applies.

    Example:
        >>> check_hyperparameters({"delta": 1e-2, "p": "inf", "K": 3})
        {'delta': 0.01, 'p': inf, 'K': 3}
    """
    allowed = CONTROLLABLE[one_of("optimizer", optimizer, sorted(CONTROLLABLE))]
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(
            f"cannot set {unknown} on a {optimizer!r} run; the controls of such a run are {allowed}"
        )
    if not values:
        raise ValueError("nothing to set: pass at least one of " + ", ".join(allowed))
    return {key: _CONTROL_RULES[key](key, v) for key, v in values.items()}


#: each control's rule: the optimizer's (fwlab.util.validate), so a value refused here is refused
#: by FrankWolfe with the same message
_CONTROL_RULES: dict[str, Callable[[str, Any], Any]] = {
    "lr": nonnegative_float,
    "delta": positive_float,
    "K": positive_int,
    "p": p_exponent,
}


def hyperparameters_in_use(optimizer: Any) -> dict[str, Any]:
    """η_t, δ_t (the effective radius), K and p of the first param group: what the controls
    show. Adam gives ``lr`` only."""
    group = optimizer.param_groups[0]
    if not takes_outer_steps(optimizer):
        return {"lr": float(group["lr"])}
    return {
        "lr": float(group["lr"]),
        "delta": effective_delta(group),
        "K": int(group["K"]),
        "p": float(group["p"]),
    }


def group_updates(group: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The raw param-group values that make η_t, δ_t, K, p equal ``wanted`` (see the module
    docstring: a change of ``lr`` or ``delta`` on a tied FrankWolfe group re-anchors
    ``initial_lr`` so that the other one stays as it is).

    Example:
        >>> g = {"lr": 1e-3, "initial_lr": 1e-2, "delta": 1e-2, "tie_delta_to_lr": True,
        ...      "K": 1, "p": 2.0}                          # δ_t = 1e-2 · 1e-3/1e-2 = 1e-3
        >>> group_updates(g, {"lr": 5e-4})                  # η changes, δ_t stays 1e-3
        {'lr': 0.0005, 'initial_lr': 0.0005, 'delta': 0.001}
    """
    out: dict[str, Any] = {k: wanted[k] for k in ("K", "p") if k in wanted}
    if group.get("tie_delta_to_lr", False) and ("lr" in wanted or "delta" in wanted):
        lr = wanted.get("lr", float(group["lr"]))
        out.update(lr=lr, initial_lr=lr, delta=wanted.get("delta", effective_delta(dict(group))))
    else:  # Adam, or an untied group: the named keys only
        out.update({k: wanted[k] for k in ("lr", "delta") if k in wanted})
    return out


def record_stop(run: Run) -> None:
    """Stop ``run`` after the current batch and record ``{"step", "kind": "stop"}``."""
    run.history["events"].append({"step": run.step, "kind": "stop"})
    run.request_stop()


def replay_callback(events: Iterable[Mapping[str, Any]]) -> Callback:
    """A ``fit`` callback that re-applies the recorded ``"set"`` and ``"stop"`` events of a
    history at their steps (other kinds, e.g. ``"K_switch"``, are made by ``fit`` itself).

    Use one callback per replayed run. With ``resume=True`` the events already in the
    checkpoint's history are skipped. An event whose step the run passes without reaching it
    (a shorter run, a change recorded between outer steps) raises ``RuntimeError``.
    """
    todo: list[dict[str, Any]] = []
    for e in events:
        if e.get("kind") not in _REPLAYED:
            continue
        step = e.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"event step must be an integer >= 0, got {e!r}")
        if e["kind"] == "set" and not isinstance(e.get("values"), Mapping):
            raise ValueError(f"a 'set' event needs a dict of values, got {e!r}")
        todo.append({k: (dict(v) if k == "values" else v) for k, v in e.items()})
    if any(a["step"] > b["step"] for a, b in zip(todo, todo[1:])):
        raise ValueError("events must be in the order of their steps, as a history records them")
    return _Replay(todo)


class _Replay(Callback):
    """What :func:`replay_callback` returns: ``todo`` are the events to apply, in order."""

    def __init__(self, todo: list[dict[str, Any]]) -> None:
        self.todo = todo
        self.pos = 0

    def on_train_begin(self, run: Run) -> None:
        done = [e for e in run.history["events"] if e.get("kind") in _REPLAYED]
        if done:
            if self.todo[: len(done)] != done:
                raise RuntimeError("the resumed run's events differ from the ones being replayed")
            self.pos = len(done)
        self.on_step_end(run)

    def on_step_end(self, run: Run) -> None:
        todo = self.todo
        while self.pos < len(todo) and todo[self.pos]["step"] == run.step:
            e = todo[self.pos]
            self.pos += 1
            if e["kind"] == "set":
                run.set_hyperparameters(**e["values"])
            else:
                record_stop(run)
        if self.pos < len(todo) and todo[self.pos]["step"] < run.step:
            raise RuntimeError(
                f"the replay passed step {todo[self.pos]['step']} without applying {todo[self.pos]}"
            )

    def on_train_end(self, run: Run) -> None:
        if self.pos < len(self.todo):
            first = self.todo[self.pos]
            raise RuntimeError(
                f"the run ended at step {run.step} with {len(self.todo) - self.pos} recorded "
                f"change(s) not replayed, the first at step {first['step']}: {first}"
            )


# ----------------------------------------------------------------------------- the control
class RunControl(Callback):
    """A ``fit`` callback that applies changes requested from any thread.

    :meth:`set` queues hyperparameters, applied with :meth:`fwlab.train.Run.set_hyperparameters`
    at the run's begin or the first batch end where ``run.inner_step == 0`` (a Frank-Wolfe outer
    step never mixes two radii or two K) and recorded as one ``"set"`` event. :meth:`stop` ends
    the run after the current batch (a ``"stop"`` event). :meth:`pause` parks the training
    thread at the next batch end until :meth:`resume` or :meth:`stop` (useful only when ``fit``
    runs in another thread than the one that resumes it).

    Args:
        optimizer: ``"fw"`` or ``"adam"``, for validating :meth:`set` before the run begins
            (``None``: validated as ``"fw"`` until the run's optimizer is known).
    """

    def __init__(self, optimizer: str | None = None) -> None:
        self._kind = optimizer
        self._lock = threading.Lock()
        self._pending: dict[str, Any] = {}
        self._stop = False
        self._running = threading.Event()
        self._running.set()
        self._parked = threading.Event()
        self._ended = threading.Event()
        self._listeners: list[Callable[[RunControl], Any]] = []
        self.run: Run | None = None

    def add_listener(self, fn: Callable[[RunControl], Any]) -> None:
        """Call ``fn(self)`` whenever what :attr:`paused`, :attr:`parked`,
        :attr:`stop_requested`, :attr:`ended` or :meth:`pending` say changes, so a user interface
        shows the state at once; ``fn`` runs in the thread that made the change (the caller's
        for a request, the training thread when it parks, wakes, applies a change or ends) and
        must return quickly."""
        self._listeners.append(fn)

    def _changed(self) -> None:
        for fn in list(self._listeners):
            fn(self)

    # --- requests (any thread) ---------------------------------------------------------------
    def set(self, **values: Any) -> dict[str, Any]:
        """Queue ``lr``, ``delta``, ``K`` and/or ``p`` (the values in use, see the module
        docstring); returns everything now queued. Raises ``ValueError`` for an unknown name or
        a bad value, in the calling thread."""
        values = check_hyperparameters(values, self._optimizer_kind())
        with self._lock:
            self._pending.update(values)
            queued = dict(self._pending)
        self._changed()
        return queued

    def pending(self) -> dict[str, Any]:
        """The changes queued and not yet applied."""
        with self._lock:
            return dict(self._pending)

    def pause(self) -> None:
        self._running.clear()
        self._changed()

    def resume(self) -> None:
        self._running.set()
        self._changed()

    def stop(self) -> None:
        """End the run after the current batch (also when paused)."""
        with self._lock:
            self._stop = True
        self._running.set()
        self._changed()

    def wait_paused(self, timeout: float | None = None) -> bool:
        """Wait until the training thread is parked by :meth:`pause`; False on timeout."""
        return self._parked.wait(timeout)

    @property
    def paused(self) -> bool:
        """A pause is requested (the thread parks, or has parked, at the next batch)."""
        return not self._running.is_set()

    @property
    def parked(self) -> bool:
        """The training thread is waiting in :meth:`pause` right now."""
        return self._parked.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop

    @property
    def ended(self) -> bool:
        """``fit`` has called :meth:`on_train_end`."""
        return self._ended.is_set()

    @property
    def step(self) -> int:
        return self.run.step if self.run is not None else 0

    def in_use(self) -> dict[str, Any]:
        """η_t, δ_t, K, p of the running optimizer ({} before the run begins)."""
        return hyperparameters_in_use(self.run.optimizer) if self.run is not None else {}

    def _optimizer_kind(self) -> str:
        if self.run is not None:
            return "fw" if takes_outer_steps(self.run.optimizer) else "adam"
        return self._kind or "fw"

    # --- the callback (training thread) --------------------------------------------------------
    def on_train_begin(self, run: Run) -> None:
        self.run = run
        self.on_step_end(run)

    def on_train_end(self, run: Run) -> None:
        self._ended.set()
        self._changed()

    def on_step_end(self, run: Run) -> None:
        if not self._running.is_set() and not self._stop:
            self._park()
        with self._lock:
            if self._stop:
                self._pending.clear()
                record_stop(run)
                return
            if not self._pending or run.inner_step != 0:
                return
            wanted, self._pending = self._pending, {}
        run.set_hyperparameters(**group_updates(run.optimizer.param_groups[0], wanted))
        self._changed()

    def _park(self) -> None:
        """Wait in the training thread until :meth:`resume` (or :meth:`stop`)."""
        self._parked.set()
        self._changed()
        self._running.wait()
        self._parked.clear()
        self._changed()


# ----------------------------------------------------------------------------- the thread
class BackgroundRun(RunControl):
    """``fit(method, data, config, ...)`` in a daemon thread, steerable through the
    :class:`RunControl` methods (``set``, ``pause``, ``resume``, ``stop``).

    Args:
        method, data, config: as for :func:`fwlab.train.fit`.
        callbacks: more ``fit`` callbacks; they run in the training thread after the control.
        model: train this model (default: :func:`fwlab.train.build_model`, built in the thread
            calling :meth:`start`).
        out_dir, resume, overwrite, progress: as for ``fit`` (``progress`` off by default).
        name: a label (default: the method's title, e.g. "Frank-Wolfe K=5").
        slots: a :class:`threading.Semaphore` the run holds while it trains: runs sharing one
            train at most its value at a time, the others wait for a free slot (steering
            applies once they begin).
        turns: a :class:`fwlab.util.turns.Turns` the run takes while it computes: it waits for a
            turn before its first batch, hands it on between batches (``Turns.pass_on``), and
            gives it up while paused. Runs sharing one compute in turns, at most its ``n`` at a
            time, and each makes progress (also runs that train until stopped); threads that
            compute at once contend for the interpreter (the measurements in
            :mod:`fwlab.util.turns`).

    Attributes:
        future: a :class:`concurrent.futures.Future` holding the final history, or the exception
            that ended the thread (running from :meth:`start`, done when ``fit`` has returned or
            raised).
        history: the live history (``None`` before the run begins); the final one after it ends.
        error: the exception that ended the thread, or ``None``.
    """

    def __init__(
        self,
        method: Method,
        data: SequenceData,
        config: TrainConfig,
        *,
        callbacks: Sequence[Callback] = (),
        model: nn.Module | None = None,
        out_dir: Any = None,
        resume: bool = False,
        overwrite: bool = False,
        progress: bool = False,
        name: str | None = None,
        slots: threading.Semaphore | None = None,
        turns: Turns | None = None,
    ) -> None:
        super().__init__(method.optimizer)
        self.method, self.data, self.config = method, data, config
        self.name = name or method.title
        self._callbacks = tuple(as_callbacks(callbacks))  # refused here, not in the thread
        self._model = model
        self._fit_kwargs = {
            "out_dir": out_dir,
            "resume": resume,
            "overwrite": overwrite,
            "progress": progress,
        }
        if slots is not None and not isinstance(slots, threading.Semaphore):
            raise ValueError(
                f"slots must be a threading.Semaphore or None, got {type(slots).__name__}; "
                "pass e.g. slots=threading.BoundedSemaphore(2)"
            )
        if turns is not None and not isinstance(turns, Turns):
            raise ValueError(
                f"turns must be a fwlab.util.turns.Turns or None, got {type(turns).__name__}; "
                "pass e.g. turns=Turns(2)"
            )
        self._slots = slots
        self._turns = turns
        self.future: Future[dict[str, Any]] = Future()
        self._thread = threading.Thread(target=self._target, name=f"fwlab fit: {self.name}")
        self._thread.daemon = True

    def start(self) -> BackgroundRun:
        """Build the model (here, not in the thread) and start training; returns ``self``."""
        if self._thread.ident is not None:
            raise RuntimeError(f"{self.name!r} was started already; create a new BackgroundRun")
        if self.future.cancelled():
            raise RuntimeError(f"{self.name!r} was cancelled before start; create a new one")
        if self._model is None:
            self._model = build_model(self.method, self.data, self.config)
        self.future.set_running_or_notify_cancel()  # from here on future.cancel() is refused
        self._thread.start()
        return self

    def _target(self) -> None:
        result: dict[str, Any] | None = None
        error: BaseException | None = None
        try:
            # wait for a free slot, then for a turn to compute, if any
            with self._slots or contextlib.nullcontext(), self._turns or contextlib.nullcontext():
                result = fit(
                    self.method,
                    self.data,
                    self.config,
                    model=self._model,
                    callbacks=[self, *self._callbacks],
                    **self._fit_kwargs,
                )
        except BaseException as err:  # surfaced by join(), .error and .future
            error = err
        ended_now = not self._ended.is_set()  # fit failed before its "end" event
        self._ended.set()
        self._parked.clear()
        if ended_now:
            try:
                self._changed()
            except Exception as err:  # a broken listener must not hide the run's result
                error = error or err
        if error is None:
            self.future.set_result(result)  # runs the done callbacks, in this thread
        else:
            self.future.set_exception(error)

    def on_step_end(self, run: Run) -> None:
        if self._turns is not None:
            self._turns.pass_on()  # another run's turn, if one waits and this one had its share
        super().on_step_end(run)

    def _park(self) -> None:
        if self._turns is None:
            return super()._park()
        self._turns.release()  # a paused run computes nothing: the others may use its turn
        try:
            super()._park()
        finally:
            self._turns.acquire()

    def add_callback(self, fn: Callback | Callable[[str, Run], Any]) -> None:
        """Add a ``fit`` callback (after the others); only before :meth:`start`."""
        if self._thread.ident is not None:
            raise RuntimeError(f"{self.name!r} is started; add callbacks before start()")
        self._callbacks = (*self._callbacks, as_callback(fn, name="fn"))

    def add_done_callback(self, fn: Callable[[BackgroundRun], Any]) -> None:
        """Call ``fn(self)`` when the run finishes (result or error): in the training thread,
        or at once here if it has finished already. ``future.add_done_callback`` underneath:
        an exception ``fn`` raises is logged by :mod:`concurrent.futures` and ignored."""
        self.future.add_done_callback(lambda _: fn(self))

    def join(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the end and return the history; re-raises the exception that ended the
        thread; ``TimeoutError`` if it is still running after ``timeout`` seconds."""
        self._check_started()
        try:
            return self.future.result(timeout)
        except FutureTimeoutError:
            raise TimeoutError(f"{self.name!r} is still training (step {self.step})") from None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the end (no result, no exception); True if the
        run has finished."""
        self._check_started()
        return bool(futures_wait([self.future], timeout).done)

    def _check_started(self) -> None:
        if self._thread.ident is None:
            raise RuntimeError(f"{self.name!r} was never started; call start() first")

    @property
    def running(self) -> bool:
        return self.future.running()

    @property
    def done(self) -> bool:
        """Started and finished (with a result or an error)."""
        return self.future.done() and not self.future.cancelled()

    @property
    def error(self) -> BaseException | None:
        return self.future.exception() if self.done else None

    @property
    def history(self) -> dict[str, Any] | None:
        if self.done and self.error is None:
            return self.future.result()
        return self.run.history if self.run is not None else None


def start_fit(
    method: Method, data: SequenceData, config: TrainConfig, **options: Any
) -> BackgroundRun:
    """``BackgroundRun(method, data, config, **options).start()``."""
    return BackgroundRun(method, data, config, **options).start()
