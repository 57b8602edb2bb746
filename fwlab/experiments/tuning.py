"""One trial of a tuning search: train a method at a learning rate (and δ) and score it on the
validation split, reporting every evaluation so that a pruner can stop it early.

:func:`train_trial` is the function target of ``fwlab search METHOD`` and of tuned-baseline
comparisons at equal budget: every method gets the same search (space, trials, sampler, seeds
kept apart from the reporting seeds) through :func:`fwlab.integrations.optuna.search`, and is
selected on ``valid_loss`` (or ``valid_acc``, maximized) only, never on the test set.

Example (a few batches of the adding task, outside a search):
    >>> r = train_trial("adding", "fw_k1", lr=1e-2, steps=4, eval_every=2, hidden_size=4,
    ...                 batch_size=20, task_options={"seq_len": 5, "n_train": 100, "n_test": 20})
    >>> r["steps"], r["pruned"], r["valid_loss"] > 0, r["evals"]
    (4, False, True, 2)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["train_trial"]


def train_trial(
    task: str,
    method: str,
    lr: float,
    delta: float | None = None,
    seed: int = 0,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    eval_every: int | None = None,
    hidden_size: int = 32,
    batch_size: int = 32,
    task_options: Mapping[str, Any] | None = None,
    valid_fraction: float = 0.1,
    device: str = "cpu",
    run_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train the preset ``method`` on ``task`` (:func:`fwlab.data.load_task` with
    ``task_options``) with ``lr`` and ``delta`` (``None``: tied, δ = lr), holding out
    ``valid_fraction`` of the training set as a validation split chosen by ``seed``.

    At every evaluation it reports ``valid_loss`` (and ``valid_acc`` for classifiers) with
    :func:`fwlab.integrations.intermediate.report` and stops when the search prunes it. With
    ``run_dir`` (given by the run engine) the training lives in ``run_dir/train``; a trial run
    again after an interruption resumes from its checkpoint.

    Returns ``valid_loss`` (the lowest validation loss), ``valid_acc`` (the highest validation
    accuracy; ``None`` for regression), the test values at the best validation value
    (:func:`fwlab.train.history.selected_by_validation`), ``steps``, ``evals``, ``pruned``.
    """
    from fwlab.data import load_task, validation_size, with_validation
    from fwlab.integrations.intermediate import report
    from fwlab.train import Callback, TrainConfig, fit, get_method
    from fwlab.train.history import selected_by_validation

    data = load_task(task, **dict(task_options or {}))
    data = with_validation(data, validation_size(len(data.train), valid_fraction), seed=seed)
    config = TrainConfig(hidden_size=hidden_size, batch_size=batch_size, lr=lr, delta=delta,
                         steps=steps, epochs=epochs, eval_every=eval_every, seed=seed,
                         device=device)  # fmt: skip
    pruned = []

    class ReportToPruner(Callback):
        """Each evaluation's validation values go to the search's pruner; it may stop the run."""

        def on_eval_end(self, run: Any) -> None:
            ev = run.history["eval"]
            values = {"valid_loss": ev["valid_loss"][-1]}
            if ev["valid_acc"][-1] is not None:
                values["valid_acc"] = ev["valid_acc"][-1]
            if report(run.step, values) and not pruned:
                pruned.append(run.step)
                run.request_stop()

    on_eval = ReportToPruner()

    out = None if run_dir is None else Path(run_dir) / "train"
    resume = out is not None and (out / "checkpoint.pt").exists()
    history = fit(get_method(method), data, config, callbacks=[on_eval], out_dir=out,
                  resume=resume, overwrite=out is not None and not resume,
                  progress=False)  # fmt: skip
    ev = history["eval"]
    accs = [a for a in ev["valid_acc"] if a is not None]
    return {
        "valid_loss": min(ev["valid_loss"]),
        "valid_acc": max(accs) if accs else None,
        **selected_by_validation(ev),
        "steps": history["summary"]["steps"],
        "evals": len(ev["step"]),
        "pruned": bool(pruned),
        "data": data.name,
    }
