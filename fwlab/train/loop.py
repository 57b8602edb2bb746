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

The history is plain data (JSON): ``train`` (per batch: step, loss, lr), ``eval`` (per
evaluation: step, epoch, train_loss, test_loss, test_acc for classification, seconds),
``optimizer`` (per Frank-Wolfe outer step, of the first param group: step, fw_gap, dw_norm,
angle_deg, delta),
``events`` (changes made while running, e.g. K switched) and ``summary`` (final and best test
accuracy or loss, steps, epochs, wall time).

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

import dataclasses
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from fwlab.data.sequence_data import SequenceData
from fwlab.models import SequenceModel
from fwlab.optim import FrankWolfe
from fwlab.train.methods import Method

__all__ = [
    "TrainConfig",
    "Run",
    "fit",
    "evaluate",
    "build_model",
    "build_optimizer",
    "loss_kind",
    "save_history",
    "load_checkpoint",
    "selected_by_validation",
]

LOSSES = ("auto", "mse", "ce", "sigmoid_mse")
CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"


@dataclass(frozen=True)
class TrainConfig:
    """The numbers of a run that do not depend on the method.

    Attributes:
        hidden_size: units per recurrent layer (paper: 128 MNIST/adding, 80 HAR-2).
        batch_size: mini-batch size.
        lr: the learning rate :math:`\\eta` (Adam's lr for ``outer="adam"``).
        delta: the trust-region radius :math:`\\delta`; ``None`` means ``delta = lr`` as in the
            paper.
        epochs: passes over the training set; ``steps``: stop after this many batches (each
            forward/backward counts one; a TBPTT chunk counts one). At least one must be set;
            with both, the first reached ends the run.
        lr_step, lr_gamma: ``StepLR`` every ``lr_step`` epochs by ``lr_gamma`` (``None``: off);
            Frank-Wolfe's :math:`\\delta` follows the lr (``tie_delta_to_lr``).
        loss: ``"mse"`` (regression), ``"ce"`` (cross-entropy), ``"sigmoid_mse"`` (one sigmoid
            output and MSE against the 0/1 label, the paper's choice for binary tasks) or
            ``"auto"`` (mse for regression, sigmoid_mse for 2 classes, ce otherwise).
        eval_every: also evaluate every this many batches (``None``: at epoch ends only).
        eval_batch_size: batch size of evaluation.
        seed: seeds the model initialisation, the shuffling and dropout.
        checkpoint_every: write ``checkpoint.pt`` every this many batches (and at the end) when
            an output folder is given.
        device: ``"cpu"``, ``"cuda"``, ...
    """

    hidden_size: int = 128
    batch_size: int = 50
    lr: float = 1e-3
    delta: float | None = None
    epochs: int | None = None
    steps: int | None = None
    lr_step: int | None = None
    lr_gamma: float = 0.1
    loss: str = "auto"
    eval_every: int | None = None
    eval_batch_size: int = 1000
    seed: int = 0
    checkpoint_every: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("hidden_size", "batch_size", "eval_batch_size"):
            _check_int(name, getattr(self, name), 1)
        for name in ("epochs", "steps", "lr_step", "eval_every", "checkpoint_every"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 1)
        if self.epochs is None and self.steps is None:
            raise ValueError("epochs or steps must be set (how long to train), got neither")
        if not _number(self.lr) or self.lr < 0:
            raise ValueError(f"lr must be a number >= 0, got {self.lr!r}")
        if self.delta is not None and (not _number(self.delta) or not self.delta > 0):
            raise ValueError(f"delta must be None or a number > 0, got {self.delta!r}")
        if not _number(self.lr_gamma) or not 0 < self.lr_gamma <= 1:
            raise ValueError(f"lr_gamma must be a number in (0, 1], got {self.lr_gamma!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


# ---------------------------------------------------------------------------- building blocks
def loss_kind(config: TrainConfig, data: SequenceData) -> str:
    """The loss actually used: resolves ``"auto"`` and checks the loss fits the task."""
    kind = config.loss
    if kind == "auto":
        if data.task == "regression":
            return "mse"
        return "sigmoid_mse" if data.n_classes == 2 else "ce"
    if data.task == "regression" and kind != "mse":
        raise ValueError(f"loss must be 'mse' or 'auto' for the regression task {data.name!r}")
    if data.task == "classification" and kind == "mse":
        raise ValueError(
            f"loss 'mse' is for regression; use 'sigmoid_mse' or 'ce' for {data.name!r}"
        )
    if kind == "sigmoid_mse" and data.n_classes != 2:
        raise ValueError(f"loss 'sigmoid_mse' needs 2 classes, {data.name!r} has {data.n_classes}")
    return kind


def _output_size(kind: str, data: SequenceData) -> int:
    return int(data.n_classes) if kind == "ce" else 1  # type: ignore[arg-type]


def criterion(kind: str, out: Tensor, y: Tensor) -> Tensor:
    """The training loss of one batch (mean over the batch)."""
    if kind == "mse":
        return F.mse_loss(out, y)
    if kind == "ce":
        return F.cross_entropy(out, y)
    return F.mse_loss(torch.sigmoid(out.squeeze(-1)), y.float())


def _correct(kind: str, out: Tensor, y: Tensor) -> int:
    if kind == "ce":
        return int((out.argmax(-1) == y).sum())
    if kind == "sigmoid_mse":
        return int(((out.squeeze(-1) > 0) == (y > 0)).sum())  # sigmoid(out) > 0.5
    return 0


def build_model(method: Method, data: SequenceData, config: TrainConfig) -> SequenceModel:
    """The model of ``method`` for ``data``, initialised from ``config.seed``."""
    torch.manual_seed(config.seed)
    kind = loss_kind(config, data)
    extra: dict[str, Any] = {}
    if method.cell == "indrnn":
        extra["seq_len_hint"] = data.seq_len
    return SequenceModel(
        method.cell,
        data.input_size,
        config.hidden_size,
        _output_size(kind, data),
        num_layers=method.num_layers,
        batch_norm=method.batch_norm,
        dropout=method.dropout,
        **extra,
    ).to(config.device)


def _param_groups(model: nn.Module, method: Method) -> list[dict[str, Any]]:
    """Weight decay on everything, or, for IndRNN, on matrices only (not u, biases, BN)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not method.weight_decay:
        return [{"params": params}]
    if method.cell != "indrnn":
        return [{"params": params, "weight_decay": method.weight_decay}]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    return [
        {"params": decay, "weight_decay": method.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, method: Method, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam, or FrankWolfe with the method's K, p, scope and outer step; δ = lr unless set."""
    groups = _param_groups(model, method)
    if method.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    delta = config.delta if config.delta is not None else config.lr
    return FrankWolfe(
        groups,
        lr=config.lr,
        delta=delta,
        K=method.K,
        p=method.p,
        scope=method.scope,
        outer=method.outer,
    )


@torch.no_grad()
def evaluate(
    model: nn.Module, dataset: Any, kind: str, *, batch_size: int = 1000, device: str = "cpu"
) -> dict[str, float]:
    """Mean loss (and accuracy in %, for classification) of ``model`` on ``dataset``."""
    was_training = model.training
    model.eval()
    x_all, y_all = dataset.tensors
    total, correct, n = 0.0, 0, len(x_all)
    for i in range(0, n, batch_size):
        x, y = x_all[i : i + batch_size].to(device), y_all[i : i + batch_size].to(device)
        out = model(x)
        total += float(criterion(kind, out, y)) * len(x)
        correct += _correct(kind, out, y)
    model.train(was_training)
    result = {"loss": total / max(n, 1)}
    if kind != "mse":
        result["acc"] = 100.0 * correct / max(n, 1)
    return result


# ---------------------------------------------------------------------------- the run
class Run:
    """What callbacks see while :func:`fit` runs: the model, optimizer, history and counters.

    A callback may read anything, call :meth:`request_stop` (the run ends cleanly after the
    current batch, at the iterate ω), and change ``run.optimizer.param_groups`` through
    :meth:`set_hyperparameters`, which records the change in ``history["events"]``.
    """

    def __init__(self, model, optimizer, scheduler, history, config, method, data) -> None:
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.history = history
        self.config = config
        self.method = method
        self.data = data
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.stop_requested = False
        self.last_loss = math.nan
        self.pending_lr_steps = 0  # epochs ended mid outer step whose scheduler step waits

    def request_stop(self) -> None:
        self.stop_requested = True

    def set_hyperparameters(self, **values: Any) -> None:
        """Set ``lr``, ``delta``, ``K``, ``p`` ... in every param group, effective from the next
        step, and record ``{"step", "kind": "set", "values"}`` in the history's events."""
        for group in self.optimizer.param_groups:
            for key in values:
                if key not in group:
                    raise ValueError(
                        f"{key} is not a hyperparameter of {type(self.optimizer).__name__}"
                    )
            group.update(values)
        self.history["events"].append({"step": self.step, "kind": "set", "values": dict(values)})

    @property
    def inner_step(self) -> int:
        opt = self.optimizer
        return opt.inner_step() if isinstance(opt, FrankWolfe) else 0


Callback = Callable[[str, Run], Any]


def _new_history(method: Method, config: TrainConfig, data: SequenceData) -> dict[str, Any]:
    return {
        "task": data.name,
        "method": method.to_dict(),
        "config": config.to_dict(),
        "data": {
            "n_train": len(data.train),
            "n_test": len(data.test),
            "n_valid": len(data.valid) if data.valid is not None else 0,
            "seq_len": data.seq_len,
        },
        "train": {"step": [], "loss": [], "lr": []},
        "eval": {
            "step": [],
            "epoch": [],
            "train_loss": [],
            "test_loss": [],
            "test_acc": [],
            "valid_loss": [],
            "valid_acc": [],
            "seconds": [],
        },
        "optimizer": {"step": [], "fw_gap": [], "dw_norm": [], "angle_deg": [], "delta": []},
        "events": [],
        "summary": {},
    }


def _epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def _atomic_torch_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_history(history: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``history`` as JSON atomically (temp file + rename); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(history, f, allow_nan=True)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`fit` with ``torch.load(weights_only=True)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train without resume first")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise RuntimeError(
            f"checkpoint {path} cannot be read ({first}); delete it and train from the start"
        ) from err


def _checkpoint(run: Run, out_dir: Path) -> None:
    state = {
        "format": 1,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict() if run.scheduler is not None else None,
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "counters": {
            "step": run.step,
            "epoch": run.epoch,
            "batch_in_epoch": run.batch_in_epoch,
            "pending_lr_steps": run.pending_lr_steps,
        },
        "history": json.loads(json.dumps(run.history)),
    }
    _atomic_torch_save(state, out_dir / CHECKPOINT)


def _same_run(saved: dict[str, Any], history: dict[str, Any]) -> bool:
    return all(saved.get(k) == history.get(k) for k in ("task", "method", "config", "data"))


def fit(
    method: Method,
    data: SequenceData,
    config: TrainConfig,
    *,
    model: nn.Module | None = None,
    callbacks: Sequence[Callback] = (),
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``method`` on ``data`` and return the history (see the module docstring).

    Args:
        method: a :class:`fwlab.train.Method` (e.g. ``get_method("fw_k5")``).
        data: a :class:`fwlab.data.SequenceData` (e.g. ``load_task("adding")``).
        config: a :class:`TrainConfig`.
        model: train this model instead of :func:`build_model`'s.
        callbacks: functions ``callback(event, run)`` called with ``event`` in
            ``"begin"``, ``"step"`` (after every batch), ``"eval"``, ``"end"``; ``run`` is the
            :class:`Run` (model, optimizer, history, counters, ``request_stop()``).
        out_dir: where ``history.json`` and ``checkpoint.pt`` go (nothing is written if None).
        resume: continue from ``out_dir/checkpoint.pt`` if it exists (the method, config and
            task must match the checkpoint's).
        progress: show a ``tqdm`` progress bar.
    """
    from tqdm.auto import tqdm

    kind = loss_kind(config, data)
    device = config.device
    if model is None:
        model = build_model(method, data, config)
    model.to(device).train()
    optimizer = build_optimizer(model, method, config)
    scheduler = (
        torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step, gamma=config.lr_gamma)
        if config.lr_step
        else None
    )
    history = _new_history(method, config, data)
    run = Run(model, optimizer, scheduler, history, config, method, data)
    out = Path(out_dir) if out_dir is not None else None

    if resume and out is not None and (out / CHECKPOINT).exists():
        ckpt = load_checkpoint(out / CHECKPOINT)
        if not _same_run(ckpt["history"], history):
            raise ValueError(
                f"the checkpoint in {out} belongs to another run (task, method or config "
                "differ); use another out_dir or resume=False"
            )
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None and ckpt["scheduler"] is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["rng"])
        if ckpt.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
        run.history = history = ckpt["history"]
        run.step = ckpt["counters"]["step"]
        run.epoch = ckpt["counters"]["epoch"]
        run.batch_in_epoch = ckpt["counters"]["batch_in_epoch"]
        run.pending_lr_steps = ckpt["counters"].get("pending_lr_steps", 0)
    else:
        torch.manual_seed(config.seed + 1)  # dropout stream, independent of the init stream

    x_train, y_train = data.train.tensors
    n_train = len(x_train)
    per_epoch = math.ceil(n_train / config.batch_size)
    chunks = math.ceil(data.seq_len / method.tbptt) if method.tbptt else 1
    total = _total_steps(config, per_epoch * chunks)
    bar = tqdm(total=total, initial=run.step, disable=not progress, desc=method.label, leave=False)
    t_start = time.perf_counter() - float(history["summary"].get("wall_time", 0.0))
    for cb in callbacks:
        cb("begin", run)

    def record_eval() -> None:
        with _at_omega(optimizer):
            test = evaluate(
                model, data.test, kind, batch_size=config.eval_batch_size, device=device
            )
            valid = (
                evaluate(model, data.valid, kind, batch_size=config.eval_batch_size, device=device)
                if data.valid is not None
                else {}
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
        for cb in callbacks:
            cb("eval", run)

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
                if method.cell == "indrnn" and run.inner_step == 0:
                    model.body.clamp_recurrent_()
                run.step += 1
                run.last_loss = loss.item()
                tr = history["train"]
                tr["step"].append(run.step)
                tr["loss"].append(run.last_loss)
                tr["lr"].append(optimizer.param_groups[0]["lr"])
                if isinstance(optimizer, FrankWolfe) and run.inner_step == 0:
                    st = optimizer.stats[0]
                    op = history["optimizer"]
                    op["step"].append(run.step)
                    for key in ("fw_gap", "dw_norm", "angle_deg", "delta"):
                        op[key].append(st[key])
                bar.update(1)
                for cb in callbacks:
                    cb("step", run)
                if config.eval_every and run.step % config.eval_every == 0:
                    record_eval()
                if done():
                    break
            run.batch_in_epoch += 1
            every = config.checkpoint_every
            if out is not None and every and run.step // every > last_checkpoint // every:
                history["summary"]["wall_time"] = time.perf_counter() - t_start
                _checkpoint(run, out)
                last_checkpoint = run.step
        if run.batch_in_epoch >= per_epoch:
            run.epoch += 1
            run.batch_in_epoch = 0
            if scheduler is not None:
                run.pending_lr_steps += 1
                _apply_pending_lr_steps(run)
            if not (config.eval_every and history["eval"]["step"][-1:] == [run.step]):
                record_eval()
    bar.close()
    if isinstance(optimizer, FrankWolfe) and run.inner_step:
        optimizer.reset_inner()  # stopped mid outer step: back to the iterate omega
    if not history["eval"]["step"] or history["eval"]["step"][-1] != run.step:
        record_eval()
    history["summary"] = _summary(history, run, time.perf_counter() - t_start)
    if out is not None:
        _checkpoint(run, out)
        save_history(history, out / HISTORY)
    for cb in callbacks:
        cb("end", run)
    return history


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
    if not switch or not isinstance(opt, FrankWolfe) or run.step < switch[0]:
        return
    if any(e.get("kind") == "K_switch" for e in run.history["events"]):
        return  # switched once; a later K set by a callback or control stays
    if opt.inner_step() == 0 and opt.param_groups[0]["K"] != switch[1]:
        for group in opt.param_groups:
            group["K"] = switch[1]
        run.history["events"].append(
            {"step": run.step, "kind": "K_switch", "values": {"K": switch[1]}}
        )


class _NullContext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _at_omega(optimizer: torch.optim.Optimizer):
    return optimizer.at_omega() if isinstance(optimizer, FrankWolfe) else _NullContext()


def _recent_train_loss(history: dict[str, Any], window: int) -> float:
    losses = history["train"]["loss"][-window:]
    return sum(losses) / len(losses) if losses else math.nan


def _summary(history: dict[str, Any], run: Run, wall: float) -> dict[str, Any]:
    ev = history["eval"]
    accs = [a for a in ev["test_acc"] if a is not None]
    summary: dict[str, Any] = {
        "steps": run.step,
        "epochs": run.epoch,
        "wall_time": wall,
        "stopped_early": run.stop_requested,
        "final_test_loss": ev["test_loss"][-1] if ev["test_loss"] else None,
        "best_test_loss": min(ev["test_loss"]) if ev["test_loss"] else None,
    }
    if accs:
        summary["final_test_acc"] = accs[-1]
        summary["best_test_acc"] = max(accs)
    summary.update(selected_by_validation(ev))
    return summary


def selected_by_validation(ev: dict[str, list]) -> dict[str, Any]:
    """The test values at the evaluation with the best validation value (first one on ties).

    Classification selects by the highest validation accuracy, regression by the lowest
    validation loss; returns ``{}`` when the run had no validation split.

    Example:
        >>> ev = {"step": [1, 2, 3], "test_loss": [0.5, 0.4, 0.1], "test_acc": [None] * 3,
        ...       "valid_loss": [0.6, 0.3, 0.35], "valid_acc": [None] * 3}
        >>> selected_by_validation(ev)
        {'selected_step': 2, 'test_loss_at_best_valid': 0.4}
    """
    vl = ev.get("valid_loss") or []
    if not vl or vl[0] is None:
        return {}
    va = ev.get("valid_acc") or []
    if va and va[0] is not None:
        i = max(range(len(va)), key=lambda j: (va[j], -j))
        return {
            "selected_step": ev["step"][i],
            "test_acc_at_best_valid": ev["test_acc"][i],
            "test_loss_at_best_valid": ev["test_loss"][i],
        }
    i = min(range(len(vl)), key=lambda j: (vl[j], j))
    return {"selected_step": ev["step"][i], "test_loss_at_best_valid": ev["test_loss"][i]}
