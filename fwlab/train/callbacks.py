"""``Callback``: typed hooks that :func:`fwlab.train.fit` calls while it trains, and their state.

A callback subclasses :class:`Callback` and overrides the hooks it needs; each hook receives the
:class:`fwlab.train.Run` (model, optimizer, history, counters, ``request_stop()``):

=================== ===========================================================================
hook                when ``fit`` calls it
=================== ===========================================================================
``on_train_begin``  once, before the first batch (after a resume: before the first new batch,
                    with the counters, history and callback state of the checkpoint)
``on_step_end``     after every batch's ``optimizer.step()``, with its loss recorded
                    (``run.step`` batches done, ``run.last_loss``)
``on_eval_end``     after every evaluation, with its row in ``history["eval"]``
``on_train_end``    once, after the last evaluation, the summary and the final checkpoint
=================== ===========================================================================

Stopping: ``run.request_stop()`` in a hook ends the run cleanly after the current batch, at the
iterate ω; a ``KeyboardInterrupt`` raised in ``on_step_end`` or ``on_eval_end`` acts like Ctrl-C
(checkpoint, then ``KeyboardInterrupt``).

State in checkpoints: the state of a callback that overrides :meth:`Callback.state_dict` is
saved in ``fit``'s ``checkpoint.pt`` under its :func:`state_keys` key and restored with
:meth:`Callback.load_state_dict` on ``fit(..., resume=True)`` before ``on_train_begin``, so a
resumed run's callbacks continue where they were. A state in the checkpoint that no callback
takes, or a stateful callback with no state there, is reported in one ``UserWarning`` line (the
callback then starts fresh).

The function form ``fn(event, run)`` (``event`` a key of :data:`EVENTS`) keeps working, without
a warning: ``fit`` wraps such a function in :class:`FunctionCallback`.

Example:
    >>> from fwlab.data import load_task
    >>> from fwlab.train import Callback, TrainConfig, fit, get_method
    >>> class StepCounter(Callback):
    ...     def __init__(self):
    ...         self.steps = 0
    ...     def on_step_end(self, run):
    ...         self.steps += 1
    ...         if run.last_loss < 0.05:
    ...             run.request_stop()
    ...     def state_dict(self):
    ...         return {"steps": self.steps}
    ...     def load_state_dict(self, state):
    ...         self.steps = state["steps"]
    >>> data = load_task("adding", seq_len=10, n_train=200, n_test=100)
    >>> counter = StepCounter()
    >>> h = fit(get_method("fw_k1"), data, TrainConfig(hidden_size=8, batch_size=50, steps=8),
    ...         callbacks=[counter], progress=False)
    >>> counter.steps == h["summary"]["steps"] == len(h["train"]["loss"])
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from fwlab.util.validate import one_of

if TYPE_CHECKING:
    from fwlab.train.run import Run

__all__ = [
    "EVENTS",
    "Callback",
    "FunctionCallback",
    "as_callback",
    "as_callbacks",
    "state_keys",
]

#: the function form's event names → the hooks they stand for
EVENTS: dict[str, str] = {
    "begin": "on_train_begin",
    "step": "on_step_end",
    "eval": "on_eval_end",
    "end": "on_train_end",
}


class Callback:
    """Base class of :func:`fwlab.train.fit` callbacks: every hook does nothing until
    overridden (see the module docstring for when each runs)."""

    def on_train_begin(self, run: Run) -> None:
        """Before the first batch (of this process: after a resume, the first new batch)."""

    def on_step_end(self, run: Run) -> None:
        """After each batch: ``run.step`` batches done, ``run.last_loss`` is the batch's loss."""

    def on_eval_end(self, run: Run) -> None:
        """After each evaluation: ``run.history["eval"]`` holds its row."""

    def on_train_end(self, run: Run) -> None:
        """After the last evaluation, the summary and the final checkpoint."""

    def state_dict(self) -> dict[str, Any]:
        """What to save in the run's checkpoint (override with :meth:`load_state_dict`): plain
        dicts, lists, tuples, strings, numbers, booleans, ``None`` and tensors only, so that the
        checkpoint loads with ``torch.load(weights_only=True)`` (anything else is refused when
        the checkpoint is written)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (on ``fit(..., resume=True)``, before
        :meth:`on_train_begin`)."""

    def __call__(self, event: str, run: Run) -> None:
        """The function form ``callback(event, run)``, for code that calls callbacks itself."""
        one_of("event", event, list(EVENTS))
        getattr(self, EVENTS[event])(run)


class FunctionCallback(Callback):
    """A function ``fn(event, run)`` as a :class:`Callback`: each hook calls it with the hook's
    event (:data:`EVENTS`). ``fit`` wraps plain functions in it; it has no state to save.

    Example:
        >>> seen = []
        >>> cb = FunctionCallback(lambda event, run: seen.append(event))
        >>> cb.on_train_begin(None); cb.on_step_end(None); cb.on_train_end(None)
        >>> seen
        ['begin', 'step', 'end']
    """

    def __init__(self, fn: Callable[[str, Run], Any]) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be a function fn(event, run), got {type(fn).__name__}")
        self.fn = fn

    def on_train_begin(self, run: Run) -> None:
        self.fn("begin", run)

    def on_step_end(self, run: Run) -> None:
        self.fn("step", run)

    def on_eval_end(self, run: Run) -> None:
        self.fn("eval", run)

    def on_train_end(self, run: Run) -> None:
        self.fn("end", run)

    def __repr__(self) -> str:
        return f"FunctionCallback({self.fn!r})"


def as_callback(cb: Any, *, name: str = "callback") -> Callback:
    """``cb`` as a :class:`Callback`: a function is wrapped in :class:`FunctionCallback`;
    anything else raises ``TypeError`` naming ``name``.

    Example:
        >>> as_callback(print)
        FunctionCallback(<built-in function print>)
        >>> as_callback(3, name="callbacks[1]")
        Traceback (most recent call last):
        TypeError: callbacks[1] must be a fwlab.train.Callback or a function ...
    """
    if isinstance(cb, Callback):
        return cb
    if callable(cb) and not isinstance(cb, type):
        return FunctionCallback(cb)
    what = (
        f"the class {cb.__name__} (pass an instance)"
        if isinstance(cb, type)
        else (type(cb).__name__)
    )
    raise TypeError(
        f"{name} must be a fwlab.train.Callback or a function callback(event, run), got {what}"
    )


def as_callbacks(callbacks: Iterable[Any], *, name: str = "callbacks") -> list[Callback]:
    """A list of callbacks as :class:`Callback` objects (:func:`as_callback` on each, named
    ``name[i]``); a single callback or a non-iterable raises ``TypeError`` naming ``name``."""
    if isinstance(callbacks, (Callback, str, bytes, Mapping)) or callable(callbacks):
        raise TypeError(
            f"{name} must be a list of callbacks, got a single {type(callbacks).__name__}; "
            f"pass {name}=[...]"
        )
    try:
        items = list(callbacks)
    except TypeError:
        raise TypeError(
            f"{name} must be a list of callbacks, got {type(callbacks).__name__}"
        ) from None
    return [as_callback(cb, name=f"{name}[{i}]") for i, cb in enumerate(items)]


def _has_state(cb: Callback) -> bool:
    return type(cb).state_dict is not Callback.state_dict


def state_keys(callbacks: Sequence[Callback]) -> list[str | None]:
    """The checkpoint key of each callback: its class's qualified name and its index among the
    stateful callbacks of that name; ``None`` for a callback without state.

    Example:
        >>> class Counter(Callback):
        ...     def state_dict(self):
        ...         return {}
        >>> state_keys([Counter(), Callback(), Counter()])
        ['Counter[0]', None, 'Counter[1]']
    """
    seen: dict[str, int] = {}
    keys: list[str | None] = []
    for cb in callbacks:
        if not _has_state(cb):
            keys.append(None)
            continue
        name = type(cb).__qualname__
        keys.append(f"{name}[{seen.get(name, 0)}]")
        seen[name] = seen.get(name, 0) + 1
    return keys


def callback_states(callbacks: Sequence[Callback]) -> dict[str, Any]:
    """``{key: cb.state_dict()}`` of the stateful callbacks, each checked to be plain data."""
    out = {}
    for key, cb in zip(state_keys(callbacks), callbacks):
        if key is not None:
            state = cb.state_dict()
            _check_plain(state, f"{key}.state_dict()", "")
            out[key] = state
    return out


def load_callback_states(
    callbacks: Sequence[Callback], saved: Mapping[str, Any], where: str
) -> None:
    """Give each stateful callback its state from ``saved`` (a checkpoint's ``"callbacks"``);
    report keys with no callback, and callbacks with no state, in one ``UserWarning`` line."""
    keys = state_keys(callbacks)
    for key, cb in zip(keys, callbacks):
        if key is not None and key in saved:
            cb.load_state_dict(saved[key])
    extra = [k for k in saved if k not in keys]
    missing = [k for k in keys if k is not None and k not in saved]
    if extra or missing:
        said = []
        if extra:
            said.append(f"state for {extra} that no callback takes (ignored)")
        if missing:
            said.append(f"no state for {missing} (they start fresh)")
        warnings.warn(
            f"{where} holds {' and '.join(said)}; resume with the callbacks of the run that "
            "wrote it to continue them",
            UserWarning,
            stacklevel=5,
        )


_PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def _check_plain(obj: Any, owner: str, path: str) -> None:
    if isinstance(obj, _PLAIN):
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_plain(v, owner, f"{path}[{i}]")
        return
    if type(obj) is dict:
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(
                    f"{owner} has a key of type {type(k).__name__} at {path or 'the top'}; "
                    "use str or int keys"
                )
            _check_plain(v, owner, f"{path}[{k!r}]")
        return
    raise TypeError(
        f"{owner} holds a {type(obj).__name__} at {path or 'the top'}; a callback's state must "
        "be plain (dict, list, tuple, str, int, float, bool, None, torch.Tensor) so the "
        "checkpoint loads with weights_only=True"
    )
