r"""SequenceModel: a recurrent body (RNN, LSTM or IndRNN) and a linear readout of the last step.

For a batch-first input :math:`x \in \mathbb{R}^{N \times T \times F}`,

.. math::
    h_{1..T} = \text{body}(x;\, h_0), \qquad \hat y = V\, \text{norm}(h_T) + c
    \in \mathbb{R}^{N \times \text{output\_size}},

with ``body`` one of :class:`torch.nn.RNN` (``cell="rnn"``), :class:`torch.nn.LSTM`
(``cell="lstm"``) or :class:`fwlab.models.IndRNN` (``cell="indrnn"``), all batch-first, and
:math:`h_T` the last layer's output at the last step. The head returns raw scores: add a sigmoid
or softmax in the loss (``BCEWithLogitsLoss``, ``CrossEntropyLoss``) or use MSE directly.

Batch norm (``batch_norm=True``):

* ``cell="indrnn"``: BN after every IndRNN layer (the IndRNN reference's "bn_after"); no extra
  norm before the head.
* ``cell="rnn"`` / ``"lstm"``: ``norm`` is a ``BatchNorm1d(hidden_size)`` on :math:`h_T`, the
  features the head reads. This is the paper's "FW+BN" (vanilla RNN + BN); the authors' code
  (``SimpleRNN.last_layer``) has exactly this BN on the final hidden state. Normalizing inside
  the recurrence would need a custom cell and is not what they ran.

Carried state (truncated BPTT). ``forward(x, state, return_state=True)`` also returns the body's
final state — a tensor ``(num_layers, N, H)`` for rnn/indrnn, a tuple ``(h, c)`` for lstm — which
can be fed to the next chunk. :meth:`SequenceModel.detach_state` cuts the graph between chunks::

    state = None
    for chunk in x.split(16, dim=1):                  # HAR-2 TBPTT: chunks of 16 steps
        y_hat, state = model(chunk, state, return_state=True)
        loss_fn(y_hat, y).backward(); opt.step(); opt.zero_grad()
        state = model.detach_state(state)

Example:
    >>> import torch
    >>> from fwlab.models import SequenceModel
    >>> _ = torch.manual_seed(0)
    >>> model = SequenceModel("lstm", input_size=9, hidden_size=16, output_size=2)
    >>> model(torch.randn(5, 128, 9)).shape
    torch.Size([5, 2])
    >>> y, (h, c) = model(torch.randn(5, 16, 9), return_state=True)
    >>> tuple(h.shape), tuple(c.shape)
    ((1, 5, 16), (1, 5, 16))
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from fwlab.models.indrnn import NONLINEARITIES, IndRNN
from fwlab.util.validate import boolean, in_range, one_of, optional, positive_int

__all__ = ["SequenceModel", "State", "CELLS"]

CELLS = ("rnn", "lstm", "indrnn")
#: the nonlinearity of a cell that has a choice, when none is given
_NONLINEARITY = {"rnn": "tanh", "indrnn": "relu"}

#: hidden state of the body: ``h`` (rnn, indrnn) or ``(h, c)`` (lstm), each (num_layers, N, H)
State = Tensor | tuple[Tensor, Tensor]


class SequenceModel(nn.Module):
    r"""Recurrent body + linear head on the last step; batch-first ``(N, T, F) -> (N, out)``.

    Args:
        cell: ``"rnn"`` (:class:`torch.nn.RNN`), ``"lstm"`` (:class:`torch.nn.LSTM`) or
            ``"indrnn"`` (:class:`fwlab.models.IndRNN`).
        input_size: features :math:`F` per step.
        hidden_size: units :math:`H` per layer.
        output_size: outputs of the head (1 for regression / MSE on binary labels, the number
            of classes for cross-entropy).
        num_layers: stacked recurrent layers.
        batch_norm: see the module docstring (per layer for IndRNN, before the head otherwise).
        dropout: between layers, in ``[0, 1)`` (torch semantics for rnn/lstm; a mask shared over
            time for IndRNN).
        nonlinearity: ``"tanh"`` or ``"relu"``; default ``"tanh"`` for rnn and ``"relu"`` for
            indrnn; must stay ``None`` for lstm.
        recurrent_max, seq_len_hint: IndRNN only (bound and initialization of ``u``).
        bias: learn the body's biases.

    Example:
        >>> m = SequenceModel("indrnn", 1, 8, 10, num_layers=2, batch_norm=True, seq_len_hint=784)
        >>> m(torch.randn(3, 784, 1)).shape
        torch.Size([3, 10])
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        output_size: int,
        num_layers: int = 1,
        *,
        batch_norm: bool = False,
        dropout: float = 0.0,
        nonlinearity: str | None = None,
        recurrent_max: float | None = None,
        seq_len_hint: int | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.cell = one_of("cell", cell, CELLS)
        self.input_size = input_size = positive_int("input_size", input_size)
        self.hidden_size = hidden_size = positive_int("hidden_size", hidden_size)
        self.output_size = output_size = positive_int("output_size", output_size)
        self.num_layers = num_layers = positive_int("num_layers", num_layers)
        dropout = in_range("dropout", dropout, 0, 1, high_open=True)
        self.batch_norm = boolean("batch_norm", batch_norm)
        bias = boolean("bias", bias)
        if cell == "lstm" and nonlinearity is not None:
            raise ValueError(
                f"nonlinearity is fixed for cell='lstm'; leave it None, got {nonlinearity!r}"
            )
        optional(one_of, "nonlinearity", nonlinearity, sorted(NONLINEARITIES))
        if cell != "indrnn" and (recurrent_max is not None or seq_len_hint is not None):
            raise ValueError(
                "recurrent_max and seq_len_hint apply to cell='indrnn' only; "
                f"remove them for cell={cell!r}"
            )

        self.nonlinearity = None if cell == "lstm" else nonlinearity or _NONLINEARITY[cell]
        common = dict(bias=bias, batch_first=True, dropout=dropout)
        if cell == "rnn":
            self.body: nn.Module = nn.RNN(
                input_size, hidden_size, num_layers, nonlinearity=self.nonlinearity, **common
            )
        elif cell == "lstm":
            self.body = nn.LSTM(input_size, hidden_size, num_layers, **common)
        else:
            self.body = IndRNN(
                input_size,
                hidden_size,
                num_layers,
                nonlinearity=self.nonlinearity,
                batch_norm=self.batch_norm,
                recurrent_max=recurrent_max,
                seq_len_hint=seq_len_hint,
                **common,
            )
        self.norm = (
            nn.BatchNorm1d(hidden_size) if self.batch_norm and cell != "indrnn" else nn.Identity()
        )
        self.head = nn.Linear(hidden_size, output_size)

    def forward(
        self, x: Tensor, state: State | None = None, return_state: bool = False
    ) -> Tensor | tuple[Tensor, State]:
        """Run the body over ``x`` ``(N, T, F)`` from ``state`` (zeros if ``None``).

        Returns the head's output ``(N, output_size)`` at the last step, and with
        ``return_state=True`` also the final state of the body (to carry to the next chunk).
        """
        self._check_input(x)
        if state is not None:
            self._check_state(state, x)
        out, new_state = self.body(x, state)
        y = self.head(self.norm(out[:, -1]))
        return (y, new_state) if return_state else y

    def _check_input(self, x: Tensor) -> None:
        """Refuse an input the body would fail on deep inside torch, naming what to change."""
        F = self.input_size
        if not isinstance(x, Tensor):
            raise ValueError(
                f"x must be a torch.Tensor of shape (N, T, {F}), got {type(x).__name__}; "
                "convert it with torch.as_tensor(x, dtype=torch.float32)"
            )
        if x.dim() != 3:
            hint = "; for one sequence use x.unsqueeze(0)" if x.dim() == 2 else ""
            raise ValueError(
                f"x must be batch-first (N, T, F) = (N, T, {F}), got shape {tuple(x.shape)}{hint}"
            )
        if x.shape[0] == 0:
            raise ValueError(f"x must hold at least one sequence, got N=0 (shape {tuple(x.shape)})")
        if x.shape[1] == 0:
            raise ValueError("x must have at least one time step, got T=0")
        if x.shape[2] != self.input_size:
            raise ValueError(
                f"x has {x.shape[2]} features per step but the model has input_size="
                f"{self.input_size}; pass (N, T, {self.input_size}) inputs or build the model "
                f"with input_size={x.shape[2]}"
            )
        if not x.is_floating_point():
            raise ValueError(f"x must be a floating-point tensor, got {x.dtype}; use x.float()")
        p = self.head.weight
        if x.dtype != p.dtype:
            raise ValueError(
                f"x has dtype {x.dtype} but the model's parameters are {p.dtype}; pass "
                f"x.to({p.dtype}) or convert the model with model.to({x.dtype})"
            )
        if x.device != p.device:
            raise ValueError(
                f"x is on {x.device} but the model is on {p.device}; pass x.to('{p.device}')"
            )
        if self.training and isinstance(self.norm, nn.BatchNorm1d) and x.shape[0] == 1:
            raise ValueError(
                f"x must hold at least 2 sequences to train cell={self.cell!r} with "
                "batch_norm=True (the norm before the head needs a batch statistic), got N=1; "
                "use a larger batch or model.eval()"
            )

    def _check_state(self, state: Any, x: Tensor) -> None:
        if self.cell == "lstm" and not (isinstance(state, tuple) and len(state) == 2):
            raise ValueError(
                f"state for cell='lstm' must be a tuple (h, c), got {type(state).__name__}"
            )
        if self.cell != "lstm" and isinstance(state, tuple):
            raise ValueError(f"state for cell={self.cell!r} must be a tensor h, not a tuple")
        expected = (self.num_layers, x.shape[0], self.hidden_size)
        for s in state if isinstance(state, tuple) else (state,):
            if not isinstance(s, Tensor):
                raise ValueError(f"state must hold tensors, got {type(s).__name__}")
            if tuple(s.shape) != expected:
                raise ValueError(
                    f"state must have shape (num_layers, N, hidden_size) = {expected}, got "
                    f"{tuple(s.shape)}; pass None for a zero state or model.init_state(N)"
                )
            if s.dtype != x.dtype or s.device != x.device:
                raise ValueError(
                    f"state must have the dtype and device of x ({x.dtype} on {x.device}), got "
                    f"{s.dtype} on {s.device}; pass model.init_state(N) or s.to(x)"
                )

    def constrain_(self) -> None:
        """Put the parameters back into the model's constraint set, in place: IndRNN's
        :math:`|u| \\le` ``recurrent_max`` (:meth:`fwlab.models.IndRNN.clamp_recurrent_`); a
        no-op for the other cells. :func:`fwlab.train.fit` calls it after every outer step.
        """
        clamp = getattr(self.body, "clamp_recurrent_", None)
        if clamp is not None:
            clamp()

    @staticmethod
    def detach_state(state: State | None) -> State | None:
        """The same state cut from the autograd graph (for truncated BPTT between chunks)."""
        if state is None:
            return None
        if isinstance(state, tuple):
            return tuple(s.detach() for s in state)  # type: ignore[return-value]
        return state.detach()

    def init_state(self, batch_size: int, *, device=None, dtype=None) -> State:
        """A zero state for ``batch_size`` sequences (what ``state=None`` means)."""
        h = self.head.weight.new_zeros(  # the parameters' device and dtype unless given
            self.num_layers, batch_size, self.hidden_size, device=device, dtype=dtype
        )
        return (h, torch.zeros_like(h)) if self.cell == "lstm" else h
