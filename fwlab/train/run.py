"""``Run``: what callbacks see while :func:`fwlab.train.fit` runs."""

from __future__ import annotations

import math
from typing import Any

from fwlab.train.outer_steps import inner_step


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
        return inner_step(self.optimizer)
