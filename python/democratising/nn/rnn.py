"""Recurrent layers ``RNN``/``LSTM``/``GRU`` and the cells ``RNNCell``/``LSTMCell``/``GRUCell``,
with PyTorch's parameter names, shapes, initialisation and gate order (so ``load_state_dict``
of a PyTorch model's tensors works).

Per layer and direction one ``F.linear`` projects the input of every step at once; then one
engine op (``_core._rnn_sequence``) runs the whole recurrence — a GEMM for the hidden
projection and the fused gate math per step — with one fused backward through time. The
cells are the same op over one step. Packed sequences and LSTM projections (``proj_size``) run
the composite step functions below on differentiable ops instead; those are also the reference
the tests compare the fused op against (``FUSED = False``).
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from typing import Any, Optional

import numpy as np

from .. import _core
from .._core import Tensor
from .._specialise import specialise
from ..errors import ArgumentTypeError, DTypeError, InvalidValueError, ShapeError
from . import functional as F
from ._factory import to_factory
from ._layer_common import _changed_options
from ._rnn_utils import PackedSequence, _padded
from .layers import _uniform
from .module import Module
from .parameter import Parameter

# The recurrent state: ``(h,)`` for RNN/GRU, ``(h, c)`` for LSTM.
State = tuple[Tensor, ...]


def _rnn_step(
    gi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Optional[Tensor], nonlinearity: str
) -> Tensor:
    """``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``; ``gi`` is the input part."""
    pre = gi + F.linear(h, w_hh, b_hh)
    return pre.tanh() if nonlinearity == "tanh" else pre.relu()


def _lstm_step(
    gi: Tensor,
    h: Tensor,
    c: Tensor,
    w_hh: Tensor,
    b_hh: Optional[Tensor],
    w_hr: Optional[Tensor] = None,
) -> tuple[Tensor, Tensor]:
    """PyTorch's LSTM step with gates stacked ``i, f, g, o``; ``w_hr`` projects ``h``."""
    i, f, g, o = (gi + F.linear(h, w_hh, b_hh)).chunk(4, -1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, c


def _gru_step(gi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Optional[Tensor]) -> Tensor:
    """PyTorch's GRU step (gates ``r, z, n``); the reset gate multiplies the hidden projection
    *including* ``b_hn``: ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``."""
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, -1)
    r = (i_r + h_r).sigmoid()
    z = (i_z + h_z).sigmoid()
    n = (i_n + r * h_n).tanh()
    if n.dtype != h.dtype:  # autocast's low gates, a wider state: PyTorch's blend, unrounded
        return (h - n) * z + n
    return (1 - z) * n + z * h


# Whether layers and cells run the fused engine op (False: the composite step functions).
FUSED = True


def _fused(
    gi: Tensor, state: State, w_hh: Tensor, b_hh: Optional[Tensor], mode: str, reverse: bool
) -> tuple[Tensor, State]:
    """The recurrence over the input projection ``gi`` ``[T, N, G*H]`` as one engine op: the
    outputs ``[T, N, H]`` and the final state."""
    c0 = state[1] if len(state) > 1 else None
    packed = _core._rnn_sequence(gi, state[0], c0, w_hh, b_hh, mode, reverse)
    steps = gi.shape[0]
    return packed[:steps], tuple(packed[steps + k] for k in range(len(state)))


def _widened_under_autocast(state: State) -> bool:
    """Whether a GRU or LSTM cell step must leave the fused op for the composite one: under
    CPU autocast PyTorch's cell math (``gru_cell``, ``lstm_cell``, the GRU layer) runs its
    gates in the autocast dtype but blends them with the state, so a float32 state promotes
    the result to float32; the fused op would return the autocast dtype. (CUDA keeps the fused
    op: PyTorch's cuDNN RNNs are on its lower-precision list.) Outside autocast, one check."""
    amp = _core._get_autocast()
    return amp is not None and state[0].device.type == "cpu" and any(s.dtype != amp for s in state)


class _RNNDTypeError(DTypeError, ValueError):
    """An input whose dtype is not the recurrent layer's weights' dtype. Also a ``ValueError``:
    that is what PyTorch's ``RNNBase.forward`` raises, so ``except ValueError`` code works."""


def _check_dtype(input: Tensor, weight: Tensor) -> None:
    """PyTorch's check, skipped under autocast (which casts inside the projections)."""
    if input.dtype != weight.dtype and _core._get_autocast() is None:
        raise _RNNDTypeError(
            f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). "
            f"Convert input: input.to({weight.dtype}), or convert model: "
            f"model.to({input.dtype})"
        )


def _integer(value: Any) -> Any:
    """``value`` as a Python int when it is an integer of another kind (NumPy's)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return value


def _check_size(name: str, value: int, positive: bool = True) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ArgumentTypeError(f"{name} should be of type int, got: {type(value).__name__}")
    if positive and value <= 0:
        raise InvalidValueError(f"{name} must be greater than zero")


def _input_batched(module: Module, input: Tensor, batched_ndim: int, size_error: str) -> bool:
    """Whether ``input`` has a batch dimension (``batched_ndim`` dims, one fewer without), after
    the checks the recurrent layers and the cells share, each with PyTorch's messages: another
    dimension count, or a last dimension other than ``input_size`` (``size_error``, formatted
    with ``name``, ``got`` and ``expected``), raises ``ShapeError``."""
    name = type(module).__name__
    if input.ndim not in (batched_ndim - 1, batched_ndim):
        raise ShapeError(
            f"{name}: Expected input to be {batched_ndim - 1}D or {batched_ndim}D, got "
            f"{input.ndim}D instead"
        )
    if input.shape[-1] != module.input_size:
        got, expected = input.shape[-1], module.input_size
        raise ShapeError(size_error.format(name=name, got=got, expected=expected))
    return input.ndim == batched_ndim


def _reset_uniform(module: Module) -> None:
    """Every parameter of a recurrent layer or cell re-drawn from U(±1/√hidden_size)."""
    from . import init

    hidden_size = module.hidden_size
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    for weight in module.parameters():
        init.uniform_(weight, -bound, bound)


class RNNBase(Module):
    """The multi-layer, optionally bidirectional recurrence shared by ``RNN``, ``LSTM`` and
    ``GRU``. ``mode`` is ``"RNN_TANH"``, ``"RNN_RELU"``, ``"LSTM"`` or ``"GRU"``."""

    _GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if mode not in self._GATES:
            raise InvalidValueError(f"Unrecognized RNN mode: {mode}")
        if (
            not isinstance(dropout, numbers.Number)
            or isinstance(dropout, bool)
            or not 0 <= dropout <= 1
        ):
            raise InvalidValueError(
                "dropout should be a number in range [0, 1] representing the probability of "
                "an element being zeroed"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=3,
            )
        for flag_name, flag in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(flag, bool):
                raise ArgumentTypeError(
                    f"{flag_name} should be of type bool, got: {type(flag).__name__}"
                )
        _check_size("input_size", input_size)
        _check_size("hidden_size", hidden_size)
        _check_size("num_layers", num_layers)
        _check_size("proj_size", proj_size, positive=False)
        if proj_size < 0:
            raise InvalidValueError(
                "proj_size should be a positive integer or zero to disable projections"
            )
        if proj_size >= hidden_size:
            raise InvalidValueError("proj_size has to be smaller than hidden_size")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size

        gate_size = self._GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        directions = 2 if bidirectional else 1
        # PyTorch's init: every weight and bias U(±1/√hidden_size), registered in its order.
        bound = 1.0 / math.sqrt(hidden_size)
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * directions
            for direction in range(directions):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                shapes: list[tuple[str, tuple[int, ...]]] = [
                    (f"weight_ih{sfx}", (gate_size, layer_input)),
                    (f"weight_hh{sfx}", (gate_size, real_hidden)),
                ]
                if bias:
                    shapes += [(f"bias_ih{sfx}", (gate_size,)), (f"bias_hh{sfx}", (gate_size,))]
                if proj_size > 0:
                    shapes.append((f"weight_hr{sfx}", (proj_size, hidden_size)))
                for name, shape in shapes:
                    self.register_parameter(name, _uniform(shape, bound))
                self._all_weights.append([name for name, _ in shapes])
        to_factory(self, device, dtype)

    def reset_parameters(self) -> None:
        """Re-draws every parameter from U(±1/√hidden_size), in place (PyTorch's)."""
        _reset_uniform(self)

    @property
    def _flat_weights_names(self) -> list[str]:
        """Every parameter's name in registration order (PyTorch's attribute, which weight-drop
        wrappers read)."""
        return [name for names in self._all_weights for name in names]

    @property
    def _flat_weights(self) -> list[Optional[Tensor]]:
        """The parameters named by ``_flat_weights_names``, read now (so a parametrization or
        a replaced tensor shows)."""
        return [getattr(self, name, None) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters grouped per layer and direction, as in PyTorch."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """No-op kept for PyTorch compatibility: there is no cuDNN weight buffer to compact
        (PyTorch's is a no-op off cuDNN too)."""

    # PyTorch's public checking helpers, which subclasses of ``RNNBase`` call from their own
    # ``forward``; ours checks the same things inside ``_run``.
    def check_input(self, input: Tensor, batch_sizes: Optional[Tensor]) -> None:
        """A 3-D input (2-D packed data when ``batch_sizes`` is given) of the weights' dtype
        whose last dim is ``input_size``."""
        _check_dtype(input, self.weight_ih_l0)
        expected_dim = 2 if batch_sizes is not None else 3
        if input.ndim != expected_dim:
            raise ShapeError(f"input must have {expected_dim} dimensions, got {input.ndim}")
        if self.input_size != input.shape[-1]:
            raise ShapeError(
                "input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {input.shape[-1]}"
            )

    def get_expected_hidden_size(
        self, input: Tensor, batch_sizes: Optional[Tensor]
    ) -> tuple[int, int, int]:
        """``(num_layers * directions, batch, proj_size or hidden_size)`` for ``input``."""
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.shape[0] if self.batch_first else input.shape[1]
        directions = 2 if self.bidirectional else 1
        size = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (self.num_layers * directions, mini_batch, size)

    def check_hidden_size(
        self,
        hx: Tensor,
        expected_hidden_size: tuple[int, int, int],
        msg: str = "Expected hidden size {}, got {}",
    ) -> None:
        """Raises ``msg`` (PyTorch's ``RuntimeError``, our ``ShapeError``) on another shape."""
        if tuple(hx.shape) != tuple(expected_hidden_size):
            raise ShapeError(msg.format(expected_hidden_size, list(hx.shape)))

    def check_forward_args(self, input: Tensor, hidden: Any, batch_sizes: Optional[Tensor]) -> None:
        """``check_input`` and the hidden state's shape (both states for an LSTM)."""
        self.check_input(input, batch_sizes)
        expected = self.get_expected_hidden_size(input, batch_sizes)
        if self.mode != "LSTM":
            self.check_hidden_size(hidden, expected)
            return
        self.check_hidden_size(hidden[0], expected, "Expected hidden[0] size {}, got {}")
        cell = (expected[0], expected[1], self.hidden_size)
        self.check_hidden_size(hidden[1], cell, "Expected hidden[1] size {}, got {}")

    def permute_hidden(self, hx: Any, permutation: Optional[Tensor]) -> Any:
        """``hx`` (a tensor, or an LSTM's ``(h, c)``) reordered along the batch dim."""
        if permutation is None:
            return hx
        if isinstance(hx, tuple):
            return tuple(h.index_select(1, permutation) for h in hx)
        return hx.index_select(1, permutation)

    def _state_sizes(self) -> list[int]:
        h = self.proj_size if self.proj_size > 0 else self.hidden_size
        return [h, self.hidden_size] if self.mode == "LSTM" else [h]

    def _step(self, gi: Tensor, state: State, sfx: str) -> State:
        w_hh = getattr(self, f"weight_hh{sfx}")
        b_hh = self._parameters.get(f"bias_hh{sfx}")
        if self.mode == "LSTM":
            return _lstm_step(
                gi, state[0], state[1], w_hh, b_hh, self._parameters.get(f"weight_hr{sfx}")
            )
        if self.mode == "GRU":
            return (_gru_step(gi, state[0], w_hh, b_hh),)
        nonlinearity = "tanh" if self.mode == "RNN_TANH" else "relu"
        return (_rnn_step(gi, state[0], w_hh, b_hh, nonlinearity),)

    def _run(self, input: Any, hx: Optional[State]) -> tuple[Any, State]:
        """The shared forward: ``input`` ``[T, N, C]`` or batch-first/unbatched per the flags,
        or a ``PackedSequence``; ``hx`` a tuple of ``[L*D, N, H]`` states (or ``None`` for
        zeros)."""
        if isinstance(input, PackedSequence):
            return self._run_packed(input, hx)
        return self._run_padded(input, hx)

    def _run_packed(self, packed: PackedSequence, hx: Optional[State]) -> tuple[Any, State]:
        """A packed batch: run it padded (sorted by length, time-major) with each sequence's
        state frozen after its last step, then pack the outputs the same way. ``hx`` and
        ``h_n`` are in the caller's batch order, as in PyTorch."""
        padded, lengths = _padded(packed, None, 0.0)
        if hx is not None and packed.sorted_indices is not None:
            hx = tuple(h.index_select(1, packed.sorted_indices) for h in hx)
        out, h_n = self._run_padded(padded, hx, lengths)
        sizes = packed.batch_sizes.tolist()
        data = _core.cat([out[t, : int(bs)] for t, bs in enumerate(sizes)], 0)
        if packed.unsorted_indices is not None:
            h_n = tuple(h.index_select(1, packed.unsorted_indices) for h in h_n)
        return packed._replace(data=data), h_n

    def _run_padded(
        self, input: Tensor, hx: Optional[State], lengths: Optional[np.ndarray] = None
    ) -> tuple[Tensor, State]:
        """``_run`` on a tensor; with ``lengths`` (a packed batch, time-major) each sequence's
        state stops at its own last step and its later outputs (which ``_run_packed`` drops)
        repeat that state."""
        size_error = "input.size(-1) must be equal to input_size. Expected {expected}, got {got}"
        batched = _input_batched(self, input, 3, size_error)
        _check_dtype(input, self.weight_ih_l0)
        # Work time-major: [T, N, C].
        if not batched:
            x = input.unsqueeze(1)
        elif lengths is not None:
            x = input  # unpacked time-major whatever batch_first says
        else:
            x = input.transpose(0, 1) if self.batch_first else input
        steps, batch = x.shape[0], x.shape[1]
        if steps == 0:
            raise ShapeError("Expected sequence length to be larger than 0 in RNN")
        directions = 2 if self.bidirectional else 1
        sizes = self._state_sizes()
        if hx is None:
            hx = tuple(
                _core.zeros(
                    (self.num_layers * directions, batch, s), dtype=x.dtype, device=x.device
                )
                for s in sizes
            )
        else:
            want = 2 if not batched else 3
            if any(h.ndim != want for h in hx):
                got = next(h.ndim for h in hx if h.ndim != want)
                kind = "unbatched 2-D" if not batched else "batched 3-D"
                raise ShapeError(
                    f"For {kind} input, hx should also be {want}-D but got {got}-D tensor"
                )
            if not batched:
                hx = tuple(h.unsqueeze(1) for h in hx)
            for k, (h, s) in enumerate(zip(hx, sizes)):
                expected = (self.num_layers * directions, batch, s)
                if tuple(h.shape) != expected:
                    which = f"hidden[{k}]" if len(sizes) > 1 else "hidden"
                    raise ShapeError(f"Expected {which} size {expected}, got {list(h.shape)}")

        # Per step, which sequences have ended (bool [N, 1]): their state is kept with
        # ``where``, not blended arithmetically, so an overflowing extra step (inf * 0) cannot
        # turn a finished sequence's kept state or the next layer's input into NaN.
        masks: Optional[list[Tensor]] = None
        if lengths is not None:
            ended = np.arange(steps)[:, None] >= lengths[None, :]
            mask = _core.from_numpy(np.ascontiguousarray(ended[:, :, None]))
            masks = list((mask if x.device.type == "cpu" else mask.to(x.device)).unbind(0))

        finals: list[State] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs: list[Tensor] = []
            for direction in range(directions):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                idx = layer * directions + direction
                state = tuple(h[idx] for h in hx)
                # One GEMM for the input projection of every time step.
                projected = F.linear(
                    layer_input,
                    getattr(self, f"weight_ih{sfx}"),
                    self._parameters.get(f"bias_ih{sfx}"),
                )
                # (PyTorch's CPU LSTM and RNN layers give the autocast dtype, as the fused op)
                if (
                    FUSED
                    and masks is None
                    and self.proj_size == 0
                    and not (self.mode == "GRU" and _widened_under_autocast(state))
                ):
                    w_hh = getattr(self, f"weight_hh{sfx}")
                    b_hh = self._parameters.get(f"bias_hh{sfx}")
                    out_d, state = _fused(projected, state, w_hh, b_hh, self.mode, direction == 1)
                    outputs.append(out_d)
                    finals.append(state)
                    continue
                gi = projected.unbind(0)
                ys: list[Tensor] = []
                order = range(steps - 1, -1, -1) if direction else range(steps)
                for t in order:
                    new = self._step(gi[t], state, sfx)
                    if masks is None:
                        state = new
                    else:  # finished sequences keep their state
                        done = masks[t]
                        state = tuple(_core.where(done, s, n) for n, s in zip(new, state))
                    # After a sequence's end this repeats its kept state (no extra op, and
                    # never the overflowed step): packing drops those steps, and the next
                    # layer's steps there are discarded too.
                    ys.append(state[0])
                if direction:
                    ys.reverse()  # the backward direction's outputs, back in time order
                outputs.append(_core.stack(ys, 0))
                finals.append(state)
            layer_input = outputs[0] if directions == 1 else _core.cat(outputs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)

        out = layer_input
        h_n = tuple(_core.stack([s[k] for s in finals], 0) for k in range(len(sizes)))
        if not batched:
            return out.squeeze(1), tuple(h.squeeze(1) for h in h_n)
        if lengths is not None:
            return out, h_n
        return (out.transpose(0, 1) if self.batch_first else out), h_n

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + _changed_options(
            self,
            (
                ("proj_size", 0),
                ("num_layers", 1),
                ("bias", True),
                ("batch_first", False),
                ("dropout", 0),
                ("bidirectional", False),
            ),
        )


class _ProjSizeError(InvalidValueError, TypeError):
    """``proj_size`` given to an ``RNN`` or ``GRU``: PyTorch's ``ValueError``, and also the
    ``TypeError`` of an argument the constructor's signature does not have."""


def _without_proj_size(init: Any) -> Any:
    """``init`` that answers a ``proj_size`` argument with PyTorch's ``ValueError`` (only an
    LSTM projects its hidden state) rather than Python's unexpected-keyword ``TypeError``."""

    @functools.wraps(init)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        if "proj_size" in kwargs:
            raise _ProjSizeError("proj_size argument is only supported for LSTM, not RNN or GRU")
        init(*args, **kwargs)

    return wrapper


class RNN(RNNBase):
    """Elman RNN ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` with ``act`` tanh or
    ReLU. ``forward(input, hx=None)`` returns ``(output, h_n)``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise InvalidValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(
            mode,
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )
        self.nonlinearity = nonlinearity

    __init__ = _without_proj_size(__init__)

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        out, (h_n,) = self._run(input, None if hx is None else (hx,))
        return out, h_n


class LSTM(RNNBase):
    """LSTM with PyTorch's gate order ``i, f, g, o`` and optional output projection
    (``proj_size``). ``forward(input, hx=None)`` with ``hx = (h_0, c_0)`` returns
    ``(output, (h_n, c_n))``."""

    __init__ = specialise(RNNBase.__init__, fixed={"mode": "LSTM"})

    def get_expected_cell_size(
        self, input: Tensor, batch_sizes: Optional[Tensor]
    ) -> tuple[int, int, int]:
        """``(num_layers * directions, batch, hidden_size)``: the cell state is never
        projected."""
        layers, batch, _ = self.get_expected_hidden_size(input, batch_sizes)
        return (layers, batch, self.hidden_size)

    def forward(
        self, input: Tensor, hx: Optional[tuple[Tensor, Tensor]] = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        out, (h_n, c_n) = self._run(input, None if hx is None else tuple(hx))
        return out, (h_n, c_n)


class GRU(RNNBase):
    """GRU with PyTorch's gate order ``r, z, n``. ``forward(input, hx=None)`` returns
    ``(output, h_n)``."""

    __init__ = _without_proj_size(
        specialise(RNNBase.__init__, fixed={"mode": "GRU", "proj_size": 0})
    )

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        out, (h_n,) = self._run(input, None if hx is None else (hx,))
        return out, h_n


class RNNCellBase(Module):
    """One time step: ``weight_ih [G*H, in]``, ``weight_hh [G*H, H]``, ``bias_ih``/``bias_hh
    [G*H]`` (PyTorch's names), all initialised U(±1/√hidden_size)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        # (PyTorch's cells take any integer, a NumPy one included; the layers want an int.)
        input_size, hidden_size = (_integer(v) for v in (input_size, hidden_size))
        _check_size("input_size", input_size)
        _check_size("hidden_size", hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        bound = 1.0 / math.sqrt(hidden_size)
        self.weight_ih = _uniform((num_chunks * hidden_size, input_size), bound)
        self.weight_hh = _uniform((num_chunks * hidden_size, hidden_size), bound)
        if bias:
            self.bias_ih = _uniform((num_chunks * hidden_size,), bound)
            self.bias_hh = _uniform((num_chunks * hidden_size,), bound)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        to_factory(self, device, dtype)

    def reset_parameters(self) -> None:
        """Re-draws every parameter from U(±1/√hidden_size), in place (PyTorch's)."""
        _reset_uniform(self)

    def _prepare(
        self, input: Tensor, hx: Optional[State], count: int
    ) -> tuple[Tensor, State, bool]:
        """Batches an unbatched ``[in]`` input (and its state); zeros when ``hx`` is None.
        Returns the input projection ``x W_ih^T + b_ih``, the state and whether it was batched."""
        name = type(self).__name__
        size_error = "{name}: input has inconsistent input_size: got {got} expected {expected}"
        batched = _input_batched(self, input, 2, size_error)
        x = input if batched else input.unsqueeze(0)
        if hx is None:
            shape = (x.shape[0], self.hidden_size)
            hx = tuple(_core.zeros(shape, dtype=x.dtype, device=x.device) for _ in range(count))
        else:
            if len(hx) != count:
                # (only LSTMCell's tuple can be the wrong length; it was an unpacking ValueError)
                raise ShapeError(f"{name}: expected hx to hold {count} tensors, got {len(hx)}")
            if any(h.ndim != input.ndim for h in hx):
                raise ShapeError(
                    f"{name}: Expected hidden to be {input.ndim}D like the input, got "
                    f"{[h.ndim for h in hx]}"
                )
            if not batched:
                hx = tuple(h.unsqueeze(0) for h in hx)
            for k, h in enumerate(hx):
                if h.shape[0] != x.shape[0]:
                    raise ShapeError(
                        f"{name}: Input batch size {x.shape[0]} doesn't match hidden{k} batch "
                        f"size {h.shape[0]}"
                    )
                if h.shape[1] != self.hidden_size:
                    raise ShapeError(
                        f"{name}: hidden{k} has inconsistent hidden_size: got {h.shape[1]}, "
                        f"expected {self.hidden_size}"
                    )
        gi = F.linear(x, self.weight_ih, self._parameters.get("bias_ih"))
        return gi, hx, batched

    def _fused_step(self, gi: Tensor, state: State, mode: str) -> State:
        """One step as the fused engine op over a one-step sequence."""
        _, new = _fused(
            gi.unsqueeze(0), state, self.weight_hh, self._parameters.get("bias_hh"), mode, False
        )
        return new

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}" + _changed_options(self, (("bias", True),))
        nonlinearity = self.__dict__.get("nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    """``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``; ``forward(input, hx=None)`` returns
    ``h'``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise InvalidValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        gi, (h,), batched = self._prepare(input, None if hx is None else (hx,), 1)
        if FUSED:
            (h,) = self._fused_step(gi, (h,), f"RNN_{self.nonlinearity.upper()}")
        else:
            w_hh, b_hh = self.weight_hh, self._parameters.get("bias_hh")
            h = _rnn_step(gi, h, w_hh, b_hh, self.nonlinearity)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step (gates ``i, f, g, o``); ``forward(input, hx=None)`` with
    ``hx = (h, c)`` returns ``(h', c')``."""

    __init__ = specialise(RNNCellBase.__init__, fixed={"num_chunks": 4}, defaults={"bias": True})

    def forward(
        self, input: Tensor, hx: Optional[tuple[Tensor, Tensor]] = None
    ) -> tuple[Tensor, Tensor]:
        gi, (h, c), batched = self._prepare(input, None if hx is None else tuple(hx), 2)
        if FUSED and not _widened_under_autocast((h, c)):
            h, c = self._fused_step(gi, (h, c), "LSTM")
        else:
            h, c = _lstm_step(gi, h, c, self.weight_hh, self._parameters.get("bias_hh"))
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step (gates ``r, z, n``); ``forward(input, hx=None)`` returns ``h'``."""

    __init__ = specialise(RNNCellBase.__init__, fixed={"num_chunks": 3}, defaults={"bias": True})

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        gi, (h,), batched = self._prepare(input, None if hx is None else (hx,), 1)
        if FUSED and not _widened_under_autocast((h,)):
            (h,) = self._fused_step(gi, (h,), "GRU")
        else:
            h = _gru_step(gi, h, self.weight_hh, self._parameters.get("bias_hh"))
        return h if batched else h.squeeze(0)


__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNBase", "RNNCell", "RNNCellBase"]
