r"""Independently recurrent neural network (IndRNN; Li et al., CVPR 2018).

One layer :math:`k` maps a sequence :math:`x_1..x_T` to :math:`h_1..h_T` with

.. math::
    h_t = \sigma\left(W_k x_t + u_k \odot h_{t-1} + b_k\right),

where :math:`W_k \in \mathbb{R}^{H \times F}` (``weight_ih_l{k}``), :math:`u_k \in \mathbb{R}^H`
(``weight_hh_l{k}``, a *vector*: each unit only sees its own past) and
:math:`b_k \in \mathbb{R}^H` (``bias_l{k}``). :math:`W_k x_t + b_k` is computed for all steps in
one matmul; only the element-wise recurrence is iterated: by
:func:`fwlab.models.indrnn_layer_fused` (projection and recurrence in one autograd Function with
hand-written forward and backward loops, no graph per step; ``recurrence="auto"`` or
``"fused"``), or by :func:`indrnn_recurrence`, the
plain autograd loop kept as the reference (``recurrence="reference"``, and what ``"auto"`` uses
under ``torch.func`` transforms, which custom autograd Functions do not support here, and
under autocast, whose mixed dtypes it handles).

The stack follows the IndRNN reference (``Sunnydreamrain/IndRNN_pytorch``, plain net on
pixel-MNIST) that the FW-RNN paper copies:

* initialization: :math:`u \sim U(0, U_{\max})` with :math:`U_{\max} = 5^{1/T}` when the sequence
  length :math:`T` is known (``seq_len_hint``); the last layer
  :math:`u \sim U(5^{-1/T}, U_{\max})` so that the top layer keeps long memory from the start;
  input weights ``kaiming_uniform_(a=8)``; biases 0;
* constraint: :math:`|u| \le U_{\max}`, enforced by clamping *before every forward in training
  mode* (the reference's ``--constrain_U``); :meth:`IndRNN.clamp_recurrent_` does it on demand.
  The clamp runs outside the autograd graph and writes only when some :math:`|u|` is out of
  bounds, so two forwards sharing one backward (or truncated BPTT without detaching the state)
  work: nothing a saved graph depends on changes unless the optimizer moved it;
* ``batch_norm=True``: ``BatchNorm1d`` over the hidden features after each layer's activation
  ("bn_after"), its statistics shared over batch *and* time;
* ``dropout``: between layers (not after the last, as :class:`torch.nn.RNN`), with one Bernoulli
  mask per sequence and unit that is shared over all time steps, in training only.

Example:
    >>> import torch
    >>> from fwlab.models import IndRNN
    >>> _ = torch.manual_seed(0)
    >>> rnn = IndRNN(3, 8, num_layers=2, batch_first=True, seq_len_hint=50)
    >>> out, h_n = rnn(torch.randn(4, 50, 3))
    >>> tuple(out.shape), tuple(h_n.shape)
    ((4, 50, 8), (2, 4, 8))
    >>> round(rnn.recurrent_max, 5)   # 5 ** (1 / 50)
    1.03271
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from fwlab.models.indrnn_fused import indrnn_layer_fused
from fwlab.util.validate import boolean, in_range, one_of, optional, positive_float, positive_int

__all__ = ["IndRNN", "indrnn_recurrence", "NONLINEARITIES", "RECURRENCES"]

NONLINEARITIES: dict[str, Callable[[Tensor], Tensor]] = {"relu": torch.relu, "tanh": torch.tanh}

#: how :class:`IndRNN` iterates the recurrence (see the module docstring)
RECURRENCES = ("auto", "fused", "reference")

#: the reference's ``MAG``: |u|^T ≤ MAG bounds how much a unit can amplify over T steps
_MAG = 5.0


def indrnn_recurrence(
    z: Tensor, u: Tensor, h0: Tensor, activation: Callable[[Tensor], Tensor], time_dim: int = 0
) -> Tensor:
    r"""The IndRNN recurrence :math:`h_t = \sigma(z_t + u \odot h_{t-1})` over one sequence.

    Args:
        z: pre-activations :math:`W x_t + b`, shape ``(T, N, H)`` (``time_dim=0``) or
            ``(N, T, H)`` (``time_dim=1``).
        u: recurrent weights, shape ``(H,)``.
        h0: initial state :math:`h_0`, shape ``(N, H)``.
        activation: :math:`\sigma`, applied element-wise.
        time_dim: which dimension of ``z`` is time; the output has the same layout.

    Returns:
        :math:`h_1..h_T` stacked along ``time_dim``, the shape of ``z``.

    Example:
        >>> z = torch.tensor([[[1.0]], [[0.0]], [[0.0]]])          # T=3, N=1, H=1
        >>> indrnn_recurrence(z, torch.tensor([0.5]), torch.zeros(1, 1), torch.relu).flatten()
        tensor([1.0000, 0.5000, 0.2500])
    """
    h = h0
    hs = []
    # relu/tanh act in place on the fresh pre-activation: one op and one allocation less per
    # step, about 12% faster (their backward needs only their own output)
    in_place = _IN_PLACE.get(activation)
    # unbind is ~11x faster than indexing z[:, t] on CPU for long sequences
    for z_t in z.unbind(time_dim):
        pre = torch.addcmul(z_t, u, h)  # z_t + u * h in one op
        h = in_place(pre) if in_place is not None else activation(pre)
        hs.append(h)
    return torch.stack(hs, dim=time_dim)


_IN_PLACE: dict[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]] = {
    torch.relu: torch.relu_,
    torch.tanh: torch.tanh_,
}


class IndRNN(nn.Module):
    r"""A stack of IndRNN layers with the interface of :class:`torch.nn.RNN`.

    Args:
        input_size: features :math:`F` of the input.
        hidden_size: units :math:`H` per layer.
        num_layers: stacked layers (default 1).
        nonlinearity: ``"relu"`` (the reference) or ``"tanh"``.
        batch_first: inputs and outputs are ``(N, T, F)`` instead of ``(T, N, F)``; ``h_n`` is
            ``(num_layers, N, H)`` either way.
        bias: learn ``bias_l{k}`` (otherwise no bias parameter exists).
        dropout: probability in ``[0, 1)`` of zeroing a unit's output for a whole sequence,
            between layers, in training only (inverted dropout: kept units scaled by 1/(1−p)).
        batch_norm: ``BatchNorm1d(H)`` after each layer (statistics over batch and time).
        recurrent_max: the bound :math:`U_{\max}` on :math:`|u|`; ``None`` means
            ``5 ** (1 / seq_len_hint)`` when ``seq_len_hint`` is given, otherwise no bound.
        seq_len_hint: the sequence length :math:`T` the initialization is tuned for.
        last_layer_init: with a known :math:`T`, draw the last layer's :math:`u` from
            :math:`U(5^{-1/T}, U_{\max})` (the reference's ``--u_lastlayer_ini``).
        recurrence: ``"auto"``, ``"fused"`` (under autocast it computes in the parameters'
            dtype) or ``"reference"`` (see the module docstring); the same numbers either way.

    Without any bound, :math:`u \sim U(0, 1)`.

    Shapes: ``input`` ``(T, N, F)`` or ``(N, T, F)``, optionally unbatched ``(T, F)``;
    ``hx`` ``(num_layers, N, H)`` (``(num_layers, H)`` unbatched), zeros if ``None``.
    Returns ``(output, h_n)``: the last layer's states at every step and every layer's last
    state.

    Example:
        >>> rnn = IndRNN(2, 4, recurrent_max=1.0)
        >>> out, h_n = rnn(torch.ones(7, 3, 2))
        >>> tuple(out.shape), tuple(h_n.shape), bool((rnn.weight_hh_l0.abs() <= 1.0).all())
        ((7, 3, 4), (1, 3, 4), True)
        >>> sorted(n for n, _ in rnn.named_parameters())
        ['bias_l0', 'weight_hh_l0', 'weight_ih_l0']
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "relu",
        batch_first: bool = False,
        bias: bool = True,
        dropout: float = 0.0,
        batch_norm: bool = False,
        recurrent_max: float | None = None,
        *,
        seq_len_hint: int | None = None,
        last_layer_init: bool = True,
        recurrence: str = "auto",
    ) -> None:
        super().__init__()
        self.input_size = input_size = positive_int("input_size", input_size)
        self.hidden_size = hidden_size = positive_int("hidden_size", hidden_size)
        self.num_layers = num_layers = positive_int("num_layers", num_layers)
        self.nonlinearity = one_of("nonlinearity", nonlinearity, sorted(NONLINEARITIES))
        self.recurrence = one_of("recurrence", recurrence, RECURRENCES)
        self.batch_first = boolean("batch_first", batch_first)
        self.bias = boolean("bias", bias)
        self.batch_norm = boolean("batch_norm", batch_norm)
        self.last_layer_init = boolean("last_layer_init", last_layer_init)
        self.dropout = in_range("dropout", dropout, 0, 1, high_open=True)
        self.seq_len_hint = optional(positive_int, "seq_len_hint", seq_len_hint)
        if recurrent_max is None and self.seq_len_hint is not None:
            recurrent_max = _MAG ** (1.0 / self.seq_len_hint)
        self.recurrent_max = optional(positive_float, "recurrent_max", recurrent_max)

        for k in range(num_layers):
            fan_in = input_size if k == 0 else hidden_size
            self.register_parameter(
                f"weight_ih_l{k}", nn.Parameter(torch.empty(hidden_size, fan_in))
            )
            self.register_parameter(f"weight_hh_l{k}", nn.Parameter(torch.empty(hidden_size)))
            if self.bias:
                self.register_parameter(f"bias_l{k}", nn.Parameter(torch.empty(hidden_size)))
        self.bn = (
            nn.ModuleList(nn.BatchNorm1d(hidden_size) for _ in range(num_layers))
            if self.batch_norm
            else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw every parameter with the reference initialization (see the module docstring)."""
        high = self.recurrent_max if self.recurrent_max is not None else 1.0
        for k in range(self.num_layers):
            nn.init.kaiming_uniform_(getattr(self, f"weight_ih_l{k}"), a=8)
            low = 0.0
            if k == self.num_layers - 1 and self.last_layer_init and self.seq_len_hint:
                low = min(_MAG ** (-1.0 / self.seq_len_hint), high)
            nn.init.uniform_(getattr(self, f"weight_hh_l{k}"), low, high)
            if self.bias:
                nn.init.zeros_(getattr(self, f"bias_l{k}"))
        if self.bn is not None:
            for bn in self.bn:
                bn.reset_parameters()
                bn.reset_running_stats()

    @torch.no_grad()
    def clamp_recurrent_(self) -> None:
        """Clamp every ``weight_hh_l{k}`` to ``[-recurrent_max, recurrent_max]`` in place.

        A no-op without a bound, and a tensor inside the bound is not written at all: its
        version counter stays, so autograd graphs that saved it (an earlier forward whose
        backward has not run yet) stay valid. :meth:`forward` calls it in training mode; call
        it after ``optimizer.step()`` as well if the parameters must satisfy the bound at all
        times.
        """
        if self.recurrent_max is None:
            return
        us = self.recurrent_weights()
        # one host-device sync for all layers (on CUDA each .item() would wait for the GPU)
        peaks = [u.detach().abs().amax().to(us[0].device, torch.float64) for u in us]
        outside = (torch.stack(peaks) > self.recurrent_max).tolist()
        for u, out in zip(us, outside, strict=True):
            if out:
                u.clamp_(-self.recurrent_max, self.recurrent_max)

    def recurrent_weights(self) -> list[nn.Parameter]:
        """The vectors ``u`` of all layers (e.g. to exclude them from weight decay)."""
        return [getattr(self, f"weight_hh_l{k}") for k in range(self.num_layers)]

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run the stack from ``hx`` (zeros if ``None``); returns ``(output, h_n)``.

        ``output`` is the last layer's output at every step (after its BN, if any); ``h_n[k]``
        is layer k's recurrent state :math:`h_T` (before BN and dropout), i.e. exactly what
        ``hx`` must be to continue the sequence in a next call (truncated BPTT).
        In training mode :meth:`clamp_recurrent_` runs first.
        """
        input, hx, time_dim, batched = self._check_inputs(input, hx)
        n = input.shape[1 - time_dim]
        if hx is None:
            hx = input.new_zeros(self.num_layers, n, self.hidden_size)
        if self.training:
            self.clamp_recurrent_()
        fused = self.recurrence == "fused" or (
            self.recurrence == "auto"
            and not torch._C._are_functorch_transforms_active()
            and not torch.is_autocast_enabled(input.device.type)
        )

        activation = NONLINEARITIES[self.nonlinearity]
        # work time-major whatever the layout: the projection then writes (T, N, H) contiguously
        # and every step of the recurrence reads a contiguous slice (batch-first slices are
        # strided, which makes the element-wise ops markedly slower on CPU)
        x = input.transpose(0, 1) if time_dim == 1 else input
        h_last = []
        for k in range(self.num_layers):
            w = getattr(self, f"weight_ih_l{k}")
            b = getattr(self, f"bias_l{k}") if self.bias else None
            u = getattr(self, f"weight_hh_l{k}")
            if fused:  # projection + recurrence, forward and backward hand-written
                x = indrnn_layer_fused(x, w, b, u, hx[k], self.nonlinearity)
            else:
                z = nn.functional.linear(x, w, b)  # every step in one matmul
                x = indrnn_recurrence(z, u, hx[k], activation, 0)
            h_last.append(x[-1])
            if self.bn is not None:
                # one set of statistics over batch and time ("bn_after")
                x = self.bn[k](x.reshape(-1, self.hidden_size)).view_as(x)
            if self.dropout > 0.0 and self.training and k < self.num_layers - 1:
                keep = 1.0 - self.dropout
                mask = x.new_empty(n, self.hidden_size).bernoulli_(keep).div_(keep)
                x = x * mask.unsqueeze(0)  # the same units are dropped at every step
        h_n = torch.stack(h_last, 0)
        if time_dim == 1:
            x = x.transpose(0, 1)
        if not batched:
            return x.squeeze(1), h_n.squeeze(1)
        return x, h_n

    def _check_inputs(self, input: object, hx: object) -> tuple[Tensor, Tensor | None, int, bool]:
        """Validate ``input``/``hx``; returns them batched (hx ``(L, N, H)``), time_dim, batched."""
        if not isinstance(input, Tensor):
            raise ValueError(
                f"input must be a torch.Tensor, got {type(input).__name__}; "
                "convert it with torch.as_tensor(input, dtype=torch.float32)"
            )
        if input.dim() not in (2, 3):
            raise ValueError(
                f"input must be 3-D ({'N, T' if self.batch_first else 'T, N'}, F) or 2-D (T, F), "
                f"got shape {tuple(input.shape)}; reshape it, e.g. x.unsqueeze(-1) for one feature"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"input has {input.shape[-1]} features (last dimension of shape "
                f"{tuple(input.shape)}), expected input_size={self.input_size}; build the model "
                f"with input_size={input.shape[-1]} or fix the input's layout"
            )
        w = self.weight_ih_l0
        if not input.is_floating_point():
            raise ValueError(
                f"input must be a floating-point tensor, got {input.dtype}; use input.to({w.dtype})"
            )
        if input.dtype != w.dtype or input.device != w.device:
            raise ValueError(
                f"input is {input.dtype} on {input.device} but the parameters are {w.dtype} on "
                f"{w.device}; use input.to({w.dtype}) / input.to({str(w.device)!r}) or "
                "model.to(...) so that they match"
            )
        batched = input.dim() == 3
        time_dim = (1 if self.batch_first else 0) if batched else 0
        if input.shape[time_dim] == 0:
            raise ValueError(
                f"input must have at least one time step, got T=0 (shape {tuple(input.shape)})"
            )
        n = input.shape[1 - time_dim] if batched else 1
        if n == 0:
            raise ValueError(f"input has an empty batch (N=0, shape {tuple(input.shape)})")
        if hx is not None:
            want = (
                (self.num_layers, n, self.hidden_size)
                if batched
                else (self.num_layers, self.hidden_size)
            )
            if not isinstance(hx, Tensor):
                raise ValueError(
                    f"hx must be a torch.Tensor of shape {want} or None, got {type(hx).__name__}"
                )
            if tuple(hx.shape) != want:
                layout = "(num_layers, N, H)" if batched else "(num_layers, H) for 2-D input"
                raise ValueError(
                    f"hx must have shape {layout} = {want}, got {tuple(hx.shape)}; pass the h_n "
                    "of a previous call on the same batch, or None for zeros"
                )
            if hx.dtype != input.dtype or hx.device != input.device:
                raise ValueError(
                    f"hx is {hx.dtype} on {hx.device} but input is {input.dtype} on "
                    f"{input.device}; use hx.to(input)"
                )
        if not batched:
            input = input.unsqueeze(1)  # (T, 1, F)
            hx = hx.unsqueeze(1) if hx is not None else None
        return input, hx, time_dim, batched

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        s += f", nonlinearity={self.nonlinearity!r}, batch_first={self.batch_first}"
        if not self.bias:
            s += ", bias=False"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.batch_norm:
            s += ", batch_norm=True"
        if self.recurrent_max is not None:
            s += f", recurrent_max={self.recurrent_max:.6g}"
        if self.recurrence != "auto":
            s += f", recurrence={self.recurrence!r}"
        return s
