r"""``fit``: train a recurrent model with one method on one task, with a history and checkpoints.

The loop is the same for every method: each mini-batch (each chunk with truncated BPTT) is one
forward/backward and one ``optimizer.step()``. For Frank-Wolfe this is the optimizer's streaming
mode, i.e. the authors' code: each inner iteration sees a new mini-batch, and the outer update
happens every K batches. Evaluation always happens at the iterate :math:`\omega`
(:meth:`fwlab.optim.FrankWolfe.at_omega`), never at a shifted inner point.

A run is reproducible from its seed: the model is initialised from ``seed``, epoch ``e`` shuffles
the training set with a generator seeded from ``(seed, e)``, and the torch RNG (dropout) is
saved in checkpoints, so a run killed and resumed from its checkpoint produces the same history
as an uninterrupted run.

The history is plain data (JSON): the per-step series of ``train`` (per batch), ``eval`` (per
evaluation) and ``optimizer`` (per Frank-Wolfe outer step) that :data:`fwlab.train.history.SERIES`
lists, ``events`` (changes made while running, e.g. K switched) and ``summary`` (final and best
test accuracy or loss, steps, epochs, wall time).

Example:
    >>> from fwlab.data import load_task
    >>> from fwlab.train import TrainConfig, fit, get_method
    >>> data = load_task("adding", seq_len=10, n_train=200, n_test=100)
    >>> h = fit(get_method("fw_k1"), data, TrainConfig(hidden_size=8, batch_size=50, steps=8),
    ...         progress=False)
    >>> h["summary"]["steps"], len(h["train"]["loss"]), len(h["optimizer"]["fw_gap"])
    (8, 8, 8)
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from fwlab.data.sequence_data import SequenceData
from fwlab.models import SequenceModel
from fwlab.optim.interrupt import DeferredInterrupt
from fwlab.train.build import TORCH_RNG_LOCK, build_model, build_optimizer, build_scheduler
from fwlab.train.callbacks import (
    Callback,
    FunctionCallback,
    as_callbacks,
    load_callback_states,
)
from fwlab.train.checkpoint import (
    CHECKPOINT,
    _checkpoint,
    _model_to_resume,
    _same_run,
    load_checkpoint,
)
from fwlab.train.config import TrainConfig
from fwlab.train.environment import end_environment_callbacks, environment_callbacks
from fwlab.train.history import (
    HISTORY,
    PROVENANCE,
    SERIES,
    _new_history,
    _recent_train_loss,
    _summary,
    save_history,
)
from fwlab.train.losses import criterion, evaluate, loss_kind
from fwlab.train.methods import Method
from fwlab.train.outer_steps import (
    abandon_outer_step,
    at_iterate,
    inner_step,
    outer_stats,
    takes_outer_steps,
)
from fwlab.train.run import Run
from fwlab.util import reproducible
from fwlab.util.outdir import claim, claim_run_dir, set_aside

# fit, and names other modules import from here
__all__ = [
    "TrainConfig",
    "fit",
    "fit_claimed",
    "check_run_inputs",
    "build_model",
    "loss_kind",
    "load_checkpoint",
    "release_when_replaced",
]


def _epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def fit(
    method: Method,
    data: SequenceData,
    config: TrainConfig,
    *,
    model: nn.Module | None = None,
    callbacks: Sequence[Callback | Callable[[str, Run], Any]] = (),
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``method`` on ``data`` and return the history (see the module docstring).

    Args:
        method: a :class:`fwlab.train.Method` (e.g. ``get_method("fw_k5")``).
        data: a :class:`fwlab.data.SequenceData` (e.g. ``load_task("adding")``).
        config: a :class:`TrainConfig`.
        model: train this model instead of :func:`build_model`'s; if it has a
            ``constrain_()`` method (:meth:`fwlab.models.SequenceModel.constrain_`), it is called
            after every outer step.
        callbacks: :class:`fwlab.train.Callback` objects or functions ``callback(event, run)``,
            called in order (:mod:`fwlab.train.callbacks`: when each hook runs, and the state
            that rides in the checkpoint and is restored on ``resume``).
        out_dir: where ``history.json`` and ``checkpoint.pt`` go (nothing is written if None).
            It is checked (a file in the way, not writable: ``ValueError``) and claimed before
            training (:func:`fwlab.util.outdir.claim`: a second run into it, in another process or
            thread, fails at once naming the holder). A folder that holds anything is refused
            unless ``resume`` or ``overwrite``.
        resume: continue from ``out_dir/checkpoint.pt`` (``FileNotFoundError`` if there is
            none; the method, config and task must match the checkpoint's).
        overwrite: replace the run in ``out_dir``: its ``checkpoint.pt`` and ``history.json``
            are moved aside (other files are kept), deleted once the new run has written a
            checkpoint of its own (the first periodic one, an interrupt's, or the final one),
            and put back if it fails or is killed before that. Everything is checked first
            (the loss against the task, NaN/inf in the data: ``ValueError``).
        progress: show a ``tqdm`` progress bar.

    Ctrl-C (SIGINT in the main thread) or a ``KeyboardInterrupt`` raised by a callback stops
    the run at the end of the batch: the checkpoint is written (with ``out_dir``), the model is
    put back at the iterate ω (an outer step under way is abandoned) and ``KeyboardInterrupt`` is
    raised, saying at which step. Resuming from that checkpoint gives the history of an
    uninterrupted run. A second Ctrl-C interrupts at once (the model is still put back at ω, the
    last checkpoint is kept); so does any other exception.

    With ``FWLAB_REPRODUCIBLE=1`` in the environment the run is in :mod:`fwlab.util.reproducible`'s
    mode (one thread, oneDNN off; ``RuntimeError`` before anything is built when the process
    was not started pinned).
    """
    callbacks = as_callbacks(callbacks)  # a bad one fails before the folder is touched
    if reproducible.requested():
        reproducible.activate()
    if out_dir is None and (resume or overwrite):
        raise ValueError(
            f"{'resume' if resume else 'overwrite'}=True needs out_dir (the folder of the "
            "run); pass out_dir"
        )
    if resume and overwrite:
        raise ValueError(
            "resume and overwrite exclude each other: resume continues the run in the folder, "
            "overwrite replaces it; pass one of them"
        )
    check_run_inputs(method, data, config)  # before the folder is touched
    with contextlib.ExitStack() as held:
        out = None
        if out_dir is not None:
            out = held.enter_context(claim(out_dir, option="out_dir"))
            if not overwrite:
                claim_run_dir(out, resume=resume, overwrite=False, checkpoint=CHECKPOINT,
                              outputs=_OUTPUTS)  # fmt: skip
        interrupt, callbacks = _held_for_training(held, out, overwrite, callbacks)
        return _fit(method, data, config, model, callbacks, out, resume, progress, interrupt)


#: the files of a run that ``overwrite`` replaces
_OUTPUTS = (CHECKPOINT, HISTORY, PROVENANCE)


def fit_claimed(
    out: Path | None,
    method: Method,
    data: SequenceData,
    config: TrainConfig,
    *,
    model: nn.Module | None = None,
    callbacks: Sequence[Callback | Callable[[str, Run], Any]] = (),
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """:func:`fit` into ``out``, a folder its caller holds the claim of
    (:func:`fwlab.util.outdir.claim`) and has checked (:func:`fwlab.util.outdir.claim_run_dir`,
    unless ``overwrite``), after fit's own checks (:func:`check_run_inputs`); ``out=None``
    writes nothing. ``fwlab train`` claims ``--out`` this way before it loads the data, so that
    a busy folder is refused at once and the folder is claimed once. With ``overwrite``, the
    previous run's files are set aside here (see :func:`fit`)."""
    with contextlib.ExitStack() as held:
        interrupt, cbs = _held_for_training(held, out, overwrite, as_callbacks(callbacks))
        return _fit(method, data, config, model, cbs, out, resume, progress, interrupt)


def _held_for_training(
    held: contextlib.ExitStack, out: Path | None, overwrite: bool, callbacks: list[Callback]
) -> tuple[DeferredInterrupt, list[Callback]]:
    """Enter into ``held`` what a run holds while it trains: Ctrl-C deferred to the end of the
    batch, and with ``overwrite`` the previous run's files set aside until the new run has a
    checkpoint of its own. Returns the interrupt and the callbacks to train with."""
    interrupt = held.enter_context(DeferredInterrupt())
    if overwrite:
        aside = held.enter_context(set_aside(out, _OUTPUTS, (out / CHECKPOINT).is_file))
        callbacks = [release_when_replaced(aside), *callbacks]
    return interrupt, callbacks


def release_when_replaced(*handles: Any) -> Callback:
    """A callback that deletes the runs :func:`fwlab.util.outdir.set_aside` moved away as soon as
    the new run can stand in for them (its ``replaced`` test, e.g. its checkpoint exists),
    checked at every hook; before that a failure or a killed process puts them back."""

    def release(event: str, run: Run) -> None:
        for handle in handles:
            handle.release_if_replaced()

    return FunctionCallback(release)


def check_run_inputs(method: Method, data: SequenceData, config: TrainConfig) -> None:
    """What ``fit`` checks before it touches an output folder: the loss fits the task, and
    every input and target of the data is finite (a NaN in the data is the data's problem,
    not a step size's: it is named here, not met as a diverged run), and Frank-Wolfe has a
    radius (``delta=None`` means δ = lr, which is no radius for ``lr=0``)."""
    if method.optimizer == "fw" and config.delta is None and config.lr == 0:
        raise ValueError(
            "delta must be a finite number > 0, and delta=None means delta = lr, which is 0; "
            "pass e.g. delta=0.1, or an lr > 0"
        )
    loss_kind(config, data)
    for split, dataset in (("train", data.train), ("test", data.test), ("valid", data.valid)):
        if dataset is None:
            continue
        for what, t in zip(("inputs", "targets"), dataset.tensors):
            if not t.is_floating_point():
                continue
            bad = ~torch.isfinite(t)
            if bool(bad.any()):
                first = int(bad.reshape(len(t), -1).any(1).nonzero()[0])
                raise ValueError(
                    f"the {split} {what} of {data.name!r} hold {int(bad.sum())} NaN/inf values "
                    f"(the first in sample {first}); clean the data (drop those samples, or "
                    "torch.nan_to_num) before training"
                )


def _fit(
    method: Method,
    data: SequenceData,
    config: TrainConfig,
    model: nn.Module | None,
    callbacks: Sequence[Callback],
    out: Path | None,
    resume: bool,
    progress: bool,
    interrupt: DeferredInterrupt,
) -> dict[str, Any]:
    device = config.device
    if model is None:
        model = build_model(method, data, config)
    model.to(device).train()
    optimizer = build_optimizer(model, method, config)
    scheduler = build_scheduler(optimizer, config)
    history = _new_history(method, config, data)
    run = Run(model, optimizer, scheduler, history, config, method, data)
    # under `fwlab run/sweep --tensorboard DIR` / `--mlflow URI` every run also logs there
    added = environment_callbacks(method.name, config.seed, resume=resume)
    callbacks = [*callbacks, *added]
    try:
        return _train(run, callbacks, out, resume, progress, interrupt)
    except BaseException as err:
        abandon_outer_step(optimizer)  # the model the caller holds is at the iterate ω
        end_environment_callbacks(added, err)
        raise


def _train(
    run: Run,
    callbacks: Sequence[Callback],
    out: Path | None,
    resume: bool,
    progress: bool,
    interrupt: DeferredInterrupt,
) -> dict[str, Any]:
    from tqdm.auto import tqdm

    model, optimizer, scheduler, history = run.model, run.optimizer, run.scheduler, run.history
    data, config, method = run.data, run.config, run.method
    kind = loss_kind(config, data)
    device, eval_batch = config.device, config.eval_batch_size

    if resume and out is not None and (out / CHECKPOINT).exists():
        ckpt = load_checkpoint(out / CHECKPOINT, of_fit=True)
        if not _same_run(ckpt["history"], history):
            raise ValueError(
                f"the checkpoint in {out} belongs to another run (task, method or config "
                "differ); use another out_dir or resume=False"
            )
        model.load_state_dict(_model_to_resume(ckpt))
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None and ckpt["scheduler"] is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        with TORCH_RNG_LOCK:
            torch.set_rng_state(ckpt["rng"])
            if ckpt.get("cuda_rng") and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
        run.history = history = ckpt["history"]
        run.step = ckpt["counters"]["step"]
        run.epoch = ckpt["counters"]["epoch"]
        run.batch_in_epoch = ckpt["counters"]["batch_in_epoch"]
        run.pending_lr_steps = ckpt["counters"].get("pending_lr_steps", 0)
        load_callback_states(callbacks, ckpt.get("callbacks", {}), f"the checkpoint in {out}")
    else:
        with TORCH_RNG_LOCK:  # not in the middle of another thread's model initialisation
            torch.manual_seed(config.seed + 1)  # dropout stream, independent of the init stream

    x_train, y_train = data.train.tensors
    n_train = len(x_train)
    per_epoch = math.ceil(n_train / config.batch_size)
    chunks = math.ceil(data.seq_len / method.tbptt) if method.tbptt else 1
    total = _total_steps(config, per_epoch * chunks)
    bar = tqdm(total=total, initial=run.step, disable=not progress, desc=method.title, leave=False)
    t_start = time.perf_counter() - float(history["summary"].get("wall_time", 0.0))
    for cb in callbacks:
        cb.on_train_begin(run)

    def record_eval() -> None:
        with at_iterate(optimizer):
            test, valid = (
                {}
                if split is None
                else evaluate(model, split, kind, batch_size=eval_batch, device=device)
                for split in (data.test, data.valid)
            )
        ev = history["eval"]
        ev["valid_loss"].append(valid.get("loss"))
        ev["valid_acc"].append(valid.get("acc"))
        ev["step"].append(run.step)
        ev["epoch"].append(run.epoch)
        ev["train_loss"].append(_recent_train_loss(history, per_epoch * chunks))
        ev["test_loss"].append(test["loss"])
        ev["test_acc"].append(test.get("acc"))
        ev["seconds"].append(time.perf_counter() - t_start)
        _notify(callbacks, "on_eval_end", run, interrupt)

    def done() -> bool:
        if run.stop_requested:
            return True
        if config.steps is not None and run.step >= config.steps:
            return True
        return config.epochs is not None and run.epoch >= config.epochs

    last_checkpoint = run.step
    while not done():
        order = _epoch_order(n_train, config.seed, run.epoch)
        while run.batch_in_epoch < per_epoch and not done():
            idx = order[run.batch_in_epoch * config.batch_size :][: config.batch_size]
            x, y = x_train[idx].to(device), y_train[idx].to(device)
            pieces = x.split(method.tbptt, dim=1) if method.tbptt else (x,)
            state = None
            for piece in pieces:
                _apply_pending_lr_steps(run)
                _apply_k_switch(run)
                optimizer.zero_grad(set_to_none=True)
                if method.tbptt:
                    pred, state = model(piece, state, return_state=True)
                else:
                    pred = model(piece)
                loss = criterion(kind, pred, y)
                loss.backward()
                if method.clip_value is not None:
                    nn.utils.clip_grad_value_(model.parameters(), method.clip_value)
                if method.clip_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), method.clip_norm)
                optimizer.step()
                if method.tbptt:
                    state = SequenceModel.detach_state(state)
                if run.inner_step == 0 and hasattr(model, "constrain_"):
                    model.constrain_()  # e.g. IndRNN's |u| <= bound, after each outer step
                run.step += 1
                run.last_loss = loss.item()
                tr = history["train"]
                tr["step"].append(run.step)
                tr["loss"].append(run.last_loss)
                tr["lr"].append(optimizer.param_groups[0]["lr"])
                st = outer_stats(optimizer)
                if st is not None:
                    op = history["optimizer"]
                    op["step"].append(run.step)
                    for key in SERIES["optimizer"][1:]:
                        # a checkpoint written before K was a series: None at its earlier steps
                        op.setdefault(key, [None] * (len(op["step"]) - 1)).append(st[key])
                bar.update(1)
                _notify(callbacks, "on_step_end", run, interrupt)
                if config.eval_every and run.step % config.eval_every == 0:
                    record_eval()
                if done():
                    break
            run.batch_in_epoch += 1
            every = config.checkpoint_every
            if out is not None and every and run.step // every > last_checkpoint // every:
                history["summary"]["wall_time"] = time.perf_counter() - t_start
                _checkpoint(run, out, callbacks)
                last_checkpoint = run.step
            if interrupt.requested:  # Ctrl-C: stop here, where the run is consistent
                bar.close()
                _stop_interrupted(run, callbacks, out, t_start)
        if run.batch_in_epoch >= per_epoch:
            run.epoch += 1
            run.batch_in_epoch = 0
            if scheduler is not None:
                run.pending_lr_steps += 1
                _apply_pending_lr_steps(run)
            if not (config.eval_every and history["eval"]["step"][-1:] == [run.step]):
                record_eval()
            if interrupt.requested and not done():
                bar.close()
                _stop_interrupted(run, callbacks, out, t_start)
    bar.close()
    abandon_outer_step(optimizer)  # stopped mid outer step: back to the iterate omega
    if not history["eval"]["step"] or history["eval"]["step"][-1] != run.step:
        record_eval()
    history["summary"] = _summary(history, run, time.perf_counter() - t_start)
    if out is not None:
        _checkpoint(run, out, callbacks)
        save_history(history, out / HISTORY)
    for cb in callbacks:
        cb.on_train_end(run)
    return history


def _notify(
    callbacks: Sequence[Callback], hook: str, run: Run, interrupt: DeferredInterrupt
) -> None:
    """Call ``hook`` of each callback; a ``KeyboardInterrupt`` from one stops the run at the
    batch's end."""
    for cb in callbacks:
        try:
            getattr(cb, hook)(run)
        except KeyboardInterrupt:
            interrupt.request()


def _stop_interrupted(
    run: Run, callbacks: Sequence[Callback], out: Path | None, t_start: float
) -> None:
    """Checkpoint the run where it stands (model at ω, optimizer state with the outer step under
    way), put the model back at ω and raise ``KeyboardInterrupt`` saying how to continue."""
    if out is not None:
        run.history["summary"]["wall_time"] = time.perf_counter() - t_start
        _checkpoint(run, out, callbacks)
        where = f"; {out / CHECKPOINT} continues it with resume=True (fwlab train --resume)"
    else:
        where = " (no out_dir: nothing was saved)"
    abandon_outer_step(run.optimizer)
    raise KeyboardInterrupt(f"interrupted at step {run.step}{where}")


def _total_steps(config: TrainConfig, per_epoch_steps: int) -> int:
    totals = []
    if config.steps is not None:
        totals.append(config.steps)
    if config.epochs is not None:
        totals.append(config.epochs * per_epoch_steps)
    return min(totals)


def _apply_pending_lr_steps(run: Run) -> None:
    """Step the LR scheduler for the epochs that ended, at an outer-step boundary only: a
    Frank-Wolfe outer step never mixes two radii δ_t (nor divides by another δ in its Adam step).
    """
    while run.pending_lr_steps and run.inner_step == 0:
        run.scheduler.step()
        run.pending_lr_steps -= 1


def _apply_k_switch(run: Run) -> None:
    switch = run.method.K_switch
    opt = run.optimizer
    if not switch or not takes_outer_steps(opt) or run.step < switch[0]:
        return
    if any(e.get("kind") == "K_switch" for e in run.history["events"]):
        return  # switched once; a later K set by a callback or control stays
    if inner_step(opt) == 0 and opt.param_groups[0]["K"] != switch[1]:
        for group in opt.param_groups:
            group["K"] = switch[1]
        run.history["events"].append(
            {"step": run.step, "kind": "K_switch", "values": {"K": switch[1]}}
        )
