"""Checkpoints of a run: atomic ``torch.save`` and a ``weights_only`` load."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from fwlab.train.callbacks import Callback, callback_states
from fwlab.train.outer_steps import at_iterate, inner_step
from fwlab.train.run import Run
from fwlab.util.atomic import atomic_open

CHECKPOINT = "checkpoint.pt"


def _atomic_torch_save(obj: Any, path: Path) -> None:
    # serialized in memory first: a full disk then fails the file write with OSError ENOSPC
    # (said as such), where torch's zip writer would raise "RuntimeError: [enforce fail at
    # inline_container.cc] unexpected pos"
    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_open(path, "wb") as f:
        f.write(buf.getbuffer())


class CheckpointError(ValueError, RuntimeError):
    """A checkpoint that cannot be read or is not one of fwlab's runs (a ValueError: bad input;
    a RuntimeError, as earlier fwlab raised)."""


#: what every checkpoint written by :func:`fit` holds
_KEYS = ("model", "optimizer", "scheduler", "rng", "counters", "history")


def _unusable(path: Path, why: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint {path} {why}; it is left as it is: keep it aside (rename it, e.g. to "
        f"{path.name}.bad) and pass --overwrite (overwrite=True) to start a new run in "
        f"{path.parent}, or resume from a copy of the run you trust"
    )


def load_checkpoint(path: str | os.PathLike, *, of_fit: bool = False) -> dict[str, Any]:
    """Read a checkpoint written by :func:`fit` with ``torch.load(weights_only=True)``.

    A file that cannot be read (truncated, damaged, another program's) raises
    :class:`CheckpointError` naming it, and so does, with ``of_fit``, one that lacks what
    ``fit`` writes (what resuming needs); the file is never changed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train without resume first")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise  # unreadable for the system's reasons (permissions): said as such
    except Exception as err:  # a truncated or foreign file
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise _unusable(path, f"cannot be read ({first})") from err
    missing = [k for k in _KEYS if k not in ckpt] if isinstance(ckpt, dict) else list(_KEYS)
    if of_fit and missing:
        raise _unusable(path, f"is not a checkpoint of fwlab's fit (it lacks {', '.join(missing)})")
    return ckpt


def _checkpoint(run: Run, out_dir: Path, callbacks: Sequence[Callback] = ()) -> None:
    """Write ``checkpoint.pt``: ``model`` holds the iterate ω (what one evaluates or deploys);
    mid outer step, ``inner_point`` also holds the shifted point ω + Δω_k the optimizer's state
    continues from (``None`` between outer steps); ``callbacks`` holds the state of the
    callbacks that have one, by :func:`fwlab.train.callbacks.state_keys`."""
    states = callback_states(callbacks)  # a state that is not plain data fails before writing
    with at_iterate(run.optimizer):
        omega = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
    state = {
        "format": 2,
        "model": omega,
        "inner_point": run.model.state_dict() if inner_step(run.optimizer) else None,
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
        "callbacks": states,
    }
    _atomic_torch_save(state, out_dir / CHECKPOINT)


def _model_to_resume(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The model state a resumed run continues from: the inner point mid outer step, else ω
    (format 1 checkpoints saved the live, possibly shifted, parameters as ``model``)."""
    return ckpt.get("inner_point") or ckpt["model"]


def _same_run(saved: dict[str, Any], history: dict[str, Any]) -> bool:
    return all(saved.get(k) == history.get(k) for k in ("task", "method", "config", "data"))
