"""Named training methods: the rows of the paper's Tables II and III, as frozen data.

A :class:`Method` says which recurrent body, which optimizer and which loop options a row uses;
the task-specific numbers (hidden size, lr, batch, epochs) live in
:class:`fwlab.train.TrainConfig`. Every field is a number, a string or a bool, so a method can
be saved in a history or a checkpoint and compared across runs.

==============  ===================  ==========================================================
name            paper's row          what it is
==============  ===================  ==========================================================
``sgd``         SGD                  vanilla RNN, full BPTT, Adam ("SGD" in the paper = Adam)
``sgd_clip``    SGD+Clipping         the same with gradient-norm clipping at 1.0
``tbptt``       TBPTT                truncated BPTT: chunks of 16 steps, state detached
``lstm_adam``   LSTM+Adam            LSTM, Adam
``fw_k1``       Ours K=1             vanilla RNN, Frank-Wolfe K=1 (authors' variant: per-tensor
                                     balls, Adam outer step, a new batch per inner step)
``fw_k5``       Ours K=5             the same, K=5
``fw_k10``      Ours K=10            the same, K=10
``fw_bn``       Ours+BN              FW K=1 with batch norm before the head
``tbptt_fw``    TBPTT+Ours           TBPTT chunks, FW K=1 (one inner iteration per chunk)
``lstm_fw``     LSTM+Ours            LSTM, FW K=1
``indrnn``      IndRNN               IndRNN, Adam, grad clamp ±10, recurrent weights bounded
``indrnn_fw``   IndRNN+Ours          IndRNN, FW (K=5 in Table III, K=1/5 in Table II)
==============  ===================  ==========================================================

``normalized_adam`` is Adam on per-tensor normalized gradients
(:class:`fwlab.optim.NormalizedAdam`): the algorithm of ``fw_k1`` written without a trust region,
the baseline that shows what K > 1 adds beyond gradient normalization. ``fw_k1_alg1`` runs
Algorithm 1 exactly as printed (one global ball, outer="sgd") for comparison, and
``fw_decay_k5``/``fw_decay_k10`` are the adding task's "decay K" curves (K=1,
then K=5 or 10 after 15,000 batches).

Example:
    >>> m = get_method("fw_k5")
    >>> m.optimizer, m.K, m.scope, m.outer, m.cell
    ('fw', 5, 'tensor', 'adam', 'rnn')
    >>> get_method("fw_k5", K=10).K
    10
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from fwlab.optim.frank_wolfe import OUTERS, SCOPES
from fwlab.util.validate import (
    boolean,
    in_range,
    nonnegative_float,
    one_of,
    optional,
    p_exponent,
    positive_float,
    positive_int,
    refusal,
)

__all__ = [
    "Method",
    "METHODS",
    "get_method",
    "TABLE_II",
    "TABLE_III",
    "PAPER_RESULTS",
]

CELLS = ("rnn", "lstm", "indrnn")
OPTIMIZERS = ("adam", "fw", "normalized_adam")


@dataclass(frozen=True)
class Method:
    """One training method (a row of the paper's tables).

    Attributes:
        name: registry key.
        label: the row's name in the paper.
        cell: recurrent body, ``"rnn"``, ``"lstm"`` or ``"indrnn"``.
        optimizer: ``"adam"`` (the paper's baseline), ``"fw"`` (:class:`fwlab.optim.FrankWolfe`)
            or ``"normalized_adam"`` (:class:`fwlab.optim.NormalizedAdam`).
        K, p, scope, outer: FrankWolfe settings (``optimizer="fw"`` only).
        K_switch: ``(batches, K)``: set K to this value after that many batches (adding task).
        clip_norm: clip the gradient's global 2-norm to this value before each step.
        clip_value: clamp each gradient entry to ``±clip_value`` (IndRNN reference).
        tbptt: chunk length of truncated BPTT (``None``: full BPTT).
        batch_norm: batch norm (per layer for IndRNN, before the head otherwise).
        num_layers, dropout: body depth and dropout between layers.
        weight_decay: L2 penalty; for IndRNN applied to input weights only (not to the
            recurrent weights u or biases), as in the IndRNN reference.
    """

    name: str
    label: str
    cell: str = "rnn"
    optimizer: str = "adam"
    K: int = 1
    p: float = 2.0
    scope: str = "tensor"
    outer: str = "adam"
    K_switch: tuple[int, int] | None = None
    clip_norm: float | None = None
    clip_value: float | None = None
    tbptt: int | None = None
    batch_norm: bool = False
    num_layers: int = 1
    dropout: float = 0.0
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        # the rules of fwlab.util.validate, the optimizer's among them; numbers are stored plain
        # (np.int64(5) as K becomes 5), so a method saves to JSON
        def store(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        one_of("cell", self.cell, CELLS)
        one_of("optimizer", self.optimizer, OPTIMIZERS)
        store("K", positive_int("K", self.K))
        store("p", p_exponent("p", self.p))
        one_of("scope", self.scope, SCOPES)
        one_of("outer", self.outer, OUTERS)
        store("tbptt", optional(positive_int, "tbptt", self.tbptt))
        for name in ("clip_norm", "clip_value"):
            store(name, optional(positive_float, name, getattr(self, name)))
        if self.K_switch is not None:
            pair = self.K_switch
            try:
                if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                    raise ValueError
                store("K_switch", tuple(positive_int("K_switch", v) for v in pair))
            except ValueError:
                rule = "None or (batches, K) of integers >= 1"
                raise refusal("K_switch", rule, pair, "(15000, 5)") from None
        store("batch_norm", boolean("batch_norm", self.batch_norm))
        store("num_layers", positive_int("num_layers", self.num_layers))
        store("dropout", in_range("dropout", self.dropout, 0, 1, high_open=True))
        store("weight_decay", nonnegative_float("weight_decay", self.weight_decay))

    @property
    def title(self) -> str:
        """The method's name for what it is, for figures, dashboards and histories
        (``label`` is the paper's row name, kept for the reproduced tables).

        Example:
            >>> [get_method(n).title for n in ("sgd", "sgd_clip", "fw_k5", "tbptt_fw")]
            ['BPTT+Adam', 'BPTT+Adam+clip 1', 'Frank-Wolfe K=5', 'TBPTT(16)+Frank-Wolfe K=1']
            >>> get_method("lstm_fw").title, get_method("indrnn").title
            ('LSTM, Frank-Wolfe K=1', 'IndRNN, BPTT+Adam+clamp ±10')
        """
        if self.optimizer == "fw":
            opt = f"Frank-Wolfe K={self.K}"
            if self.p != 2:
                opt += f" p={'∞' if math.isinf(self.p) else f'{self.p:g}'}"
            if self.scope == "global":
                opt += ", one ball"
            if self.outer == "sgd":
                opt += ", plain outer step"
            if self.K_switch:
                opt += f" → K={self.K_switch[1]} after {self.K_switch[0]} batches"
        else:
            opt = "BPTT+" if not self.tbptt else ""
            opt += {"adam": "Adam", "normalized_adam": "normalized Adam"}[self.optimizer]
        if self.tbptt:
            opt = f"TBPTT({self.tbptt})+{opt}"
        if self.batch_norm:
            opt += "+BN"
        if self.clip_norm is not None:
            opt += f"+clip {self.clip_norm:g}"
        if self.clip_value is not None:
            opt += f"+clamp ±{self.clip_value:g}"
        body = {"rnn": "", "lstm": "LSTM, ", "indrnn": "IndRNN, "}[self.cell]
        return body + opt

    def replace(self, **changes: Any) -> Method:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["p"] = "inf" if math.isinf(self.p) else self.p
        d["K_switch"] = list(self.K_switch) if self.K_switch else None
        return d


_FW = dict(optimizer="fw", scope="tensor", outer="adam")

METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("sgd", "SGD"),
        Method("sgd_clip", "SGD+Clipping", clip_norm=1.0),
        Method("tbptt", "TBPTT", tbptt=16),
        Method("lstm_adam", "LSTM+Adam", cell="lstm"),
        Method("fw_k1", "Ours K=1", K=1, **_FW),
        Method("fw_k5", "Ours K=5", K=5, **_FW),
        Method("fw_k10", "Ours K=10", K=10, **_FW),
        Method("fw_bn", "Ours+BN", K=1, batch_norm=True, **_FW),
        Method("tbptt_fw", "TBPTT+Ours", K=1, tbptt=16, **_FW),
        Method("lstm_fw", "LSTM+Ours", cell="lstm", K=1, **_FW),
        Method("indrnn", "IndRNN", cell="indrnn", clip_value=10.0),
        Method("indrnn_fw", "IndRNN+Ours", cell="indrnn", clip_value=10.0, K=5, **_FW),
        Method(
            "normalized_adam",
            "Adam on per-tensor normalized gradients",
            optimizer="normalized_adam",
        ),
        Method("fw_k1_alg1", "Algorithm 1, K=1", optimizer="fw", K=1, scope="global", outer="sgd"),
        Method("fw_decay_k5", "Decay K to 5 after 15000 batches", K=1, K_switch=(15000, 5), **_FW),
        Method(
            "fw_decay_k10", "Decay K to 10 after 15000 batches", K=1, K_switch=(15000, 10), **_FW
        ),
    ]
}


def get_method(name: str, **changes: Any) -> Method:
    """The preset ``name`` (a key of :data:`METHODS`), with optional field changes."""
    method = METHODS[one_of("method", name, sorted(METHODS))]
    return method.replace(**changes) if changes else method


#: Table II: IndRNN (6 layers x 128, BN, dropout 0.1) on pixel / permuted MNIST.
TABLE_II: dict[str, Any] = {
    "tasks": ("pixel_mnist", "permuted_mnist"),
    "rows": (
        ("Baseline (Adam)", "indrnn", {}),
        ("Ours K=1", "indrnn_fw", {"K": 1}),
        ("Ours K=5", "indrnn_fw", {"K": 5}),
    ),
}

#: The paper's test accuracies (%) and hours on one RTX 2080 Ti, by table, row label and task.
PAPER_RESULTS: dict[int, dict[str, dict[str, tuple[float, float]]]] = {
    2: {
        "Baseline (Adam)": {"pixel_mnist": (98.88, 4.84), "permuted_mnist": (93.00, 4.92)},
        "Ours K=1": {"pixel_mnist": (98.73, 3.46), "permuted_mnist": (92.87, 3.68)},
        "Ours K=5": {"pixel_mnist": (98.82, 2.55), "permuted_mnist": (92.59, 2.41)},
    },
    3: {
        "SGD": {"har2": (87.66, 0.17), "noisy_har2": (74.38, 0.17)},
        "SGD+Clipping": {"har2": (93.36, 0.13), "noisy_har2": (74.38, 0.13)},
        "TBPTT": {"har2": (93.62, 0.38), "noisy_har2": (86.20, 0.56)},
        "LSTM+Adam": {"har2": (94.40, 0.14), "noisy_har2": (92.12, 0.17)},
        "Ours K=1": {"har2": (93.52, 0.15), "noisy_har2": (86.04, 0.14)},
        "Ours K=5": {"har2": (94.11, 0.14), "noisy_har2": (89.36, 0.14)},
        "Ours K=10": {"har2": (93.65, 0.37), "noisy_har2": (89.52, 0.35)},
        "Ours+BN": {"har2": (94.37, 0.36), "noisy_har2": (89.38, 0.41)},
        "TBPTT+Ours": {"har2": (94.01, 0.35), "noisy_har2": (89.28, 0.84)},
        "LSTM+Ours": {"har2": (94.95, 0.19), "noisy_har2": (92.41, 0.42)},
        "IndRNN": {"har2": (95.73, 0.46), "noisy_har2": (91.20, 0.45)},
        "IndRNN+Ours": {"har2": (96.55, 0.13), "noisy_har2": (92.15, 0.17)},
    },
}

#: Table III: HAR-2 / Noisy-HAR-2, hidden 80: the methods with a row in the paper's results.
TABLE_III: dict[str, Any] = {
    "tasks": ("har2", "noisy_har2"),
    "rows": tuple((m.label, m.name, {}) for m in METHODS.values() if m.label in PAPER_RESULTS[3]),
}
