"""The fused recurrent op (``_core._rnn_sequence``, which ``nn.RNN``/``LSTM``/``GRU`` and the
cells run): the same values and gradients as the composite step functions it replaced (kept as
the reference, ``rnn.FUSED = False``), float64 finite differences of the op itself over every
input, half precision under autocast, empty batches and typed errors."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pytest

import democratising as dm
from democratising import _core, nn
from democratising.errors import AutogradError, DTypeError, ShapeError
from democratising.nn import rnn as rnn_module
from helpers import gradcheck

RNG = np.random.default_rng(7)
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _t(a: np.ndarray, dtype: Any = dm.float64, grad: bool = False) -> dm.Tensor:
    return dm.tensor(a, dtype=dtype, requires_grad=grad)


def _run(module: nn.Module, x: np.ndarray, hx: Any, fused: bool, dtype: Any) -> list[np.ndarray]:
    """Outputs, final states and every gradient of a weighted loss over all of them."""
    rnn_module.FUSED = fused
    try:
        module.zero_grad()
        xt = _t(x, dtype, grad=True)
        state = None if hx is None else tuple(_t(h, dtype, grad=True) for h in hx)
        if state is None:
            out, h_n = module(xt)
        elif isinstance(module, nn.LSTM):
            out, h_n = module(xt, state)
        else:
            out, h_n = module(xt, state[0])
        finals = h_n if isinstance(h_n, tuple) else (h_n,)
        loss = (out * out).sum() + sum((f * (k + 2.0)).sum() for k, f in enumerate(finals))
        loss.backward()
        grads = [xt.grad] + ([] if state is None else [s.grad for s in state])
        grads += [p.grad for p in module.parameters()]
        values = [out, *finals, *grads]
        return [v.detach().numpy() for v in values]
    finally:
        rnn_module.FUSED = True


CASES = [
    (nn.LSTM, {}),
    (nn.GRU, {}),
    (nn.RNN, {}),
    (nn.RNN, {"nonlinearity": "relu", "num_layers": 2}),
    (nn.LSTM, {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    (nn.GRU, {"bidirectional": True, "bias": False}),
]


@pytest.mark.parametrize("cls,kwargs", CASES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("with_state", [False, True])
def test_layers_match_the_composite_reference(
    cls: type, kwargs: dict[str, Any], dtype: str, with_state: bool
) -> None:
    dt = getattr(dm, dtype)
    dm.manual_seed(0)
    m = cls(5, 7, **kwargs).to(dtype=dt)
    batch_first = kwargs.get("batch_first", False)
    x = RNG.standard_normal((3, 6, 5) if batch_first else (6, 3, 5))
    hx: Optional[tuple[np.ndarray, ...]] = None
    if with_state:
        layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
        count = 2 if cls is nn.LSTM else 1
        hx = tuple(RNG.standard_normal((layers, 3, 7)) for _ in range(count))
    fused, composite = _run(m, x, hx, True, dt), _run(m, x, hx, False, dt)
    tol = 1e-12 if dtype == "float64" else 2e-5
    for a, b in zip(fused, composite):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("cls,kwargs", CASES)
def test_row_blocks_on_two_threads_match_the_composite_reference(
    cls: type, kwargs: dict[str, Any]
) -> None:
    """A batch big enough to split into one block of rows per thread, each taken through every
    step forward and backward on its own (`cpu/rnn_sequence.rs`): blocks of 19 and 18 rows."""
    before = dm.get_num_threads()
    dm.set_num_threads(2)
    try:
        dm.manual_seed(1)
        m = cls(6, 24, **kwargs).double()
        batch_first = kwargs.get("batch_first", False)
        x = RNG.standard_normal((37, 9, 6) if batch_first else (9, 37, 6))
        layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
        hx = tuple(RNG.standard_normal((layers, 37, 24)) for _ in range(2 if cls is nn.LSTM else 1))
        fused, composite = _run(m, x, hx, True, dm.float64), _run(m, x, hx, False, dm.float64)
    finally:
        dm.set_num_threads(before)
    for a, b in zip(fused, composite):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("cls", [nn.LSTMCell, nn.GRUCell, nn.RNNCell])
def test_cells_match_the_composite_reference(cls: type) -> None:
    m = cls(4, 6).double()
    x = RNG.standard_normal((3, 4))
    results = []
    for fused in (True, False):
        rnn_module.FUSED = fused
        try:
            m.zero_grad()
            xt = _t(x, grad=True)
            state = None
            total = dm.zeros(())
            for _ in range(3):  # a Python-unrolled loop, as users write with cells
                state = m(xt, state)
                parts = state if isinstance(state, tuple) else (state,)
                total = total + sum((p * p).sum() for p in parts)
            total.backward()
            results.append([xt.grad.numpy()] + [p.grad.numpy() for p in m.parameters()])
        finally:
            rnn_module.FUSED = True
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", sorted(GATES))
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_op_gradcheck(mode: str, reverse: bool, bias: bool) -> None:
    steps, n, h = 3, 2, 3
    g = GATES[mode] * h
    gi = _t(RNG.standard_normal((steps, n, g)), grad=True)
    h0 = _t(RNG.standard_normal((n, h)), grad=True)
    c0 = _t(RNG.standard_normal((n, h)), grad=True) if mode == "LSTM" else None
    w = _t(RNG.standard_normal((g, h)) * 0.6, grad=True)
    b = _t(RNG.standard_normal(g), grad=True) if bias else None
    inputs = [t for t in (gi, h0, c0, w, b) if t is not None]

    def op(*args: dm.Tensor) -> dm.Tensor:
        it = iter(args)
        a_gi, a_h0 = next(it), next(it)
        a_c0 = next(it) if c0 is not None else None
        a_w = next(it)
        a_b = next(it) if b is not None else None
        # The packed output: every step's state, then the final state(s); all differentiable.
        return _core._rnn_sequence(a_gi, a_h0, a_c0, a_w, a_b, mode, reverse)

    out = op(*inputs)
    assert tuple(out.shape) == (steps + (2 if mode == "LSTM" else 1), n, h)
    gradcheck(op, inputs)


def test_reverse_runs_from_the_last_step_and_keeps_time_order() -> None:
    gi = _t(RNG.standard_normal((4, 2, 3)))
    h0, w = _t(np.zeros((2, 3))), _t(RNG.standard_normal((3, 3)))
    fwd = _core._rnn_sequence(gi.flip(0), h0, None, w, None, "RNN_TANH", False)
    rev = _core._rnn_sequence(gi, h0, None, w, None, "RNN_TANH", True)
    np.testing.assert_allclose(rev[:4].numpy(), fwd[:4].flip(0).numpy(), atol=1e-14)
    np.testing.assert_allclose(rev[4].numpy(), fwd[4].numpy(), atol=1e-14)


def test_empty_batch_and_empty_sequence() -> None:
    m = nn.LSTM(3, 4)
    x = dm.zeros(5, 0, 3, requires_grad=True)
    out, (h, _) = m(x)
    assert tuple(out.shape) == (5, 0, 4) and tuple(h.shape) == (1, 0, 4)
    out.sum().backward()
    assert tuple(x.grad.shape) == (5, 0, 3)
    # No steps at all: the final state is the initial one, and its gradient passes through.
    h0 = dm.ones(2, 4, requires_grad=True)
    packed = _core._rnn_sequence(dm.zeros(0, 2, 12), h0, None, dm.zeros(12, 4), None, "GRU")
    assert tuple(packed.shape) == (1, 2, 4)
    packed.sum().backward()
    np.testing.assert_array_equal(h0.grad.numpy(), np.ones((2, 4)))


def test_autocast_bfloat16_runs_in_float32_and_returns_bfloat16() -> None:
    dm.manual_seed(3)
    m = nn.LSTM(8, 16, num_layers=2)
    x = dm.randn(5, 4, 8)
    want, _ = m(x)
    with dm.autocast("cpu", dtype=dm.bfloat16):
        got, (h, _) = m(x)
    assert got.dtype == dm.bfloat16 and h.dtype == dm.bfloat16
    np.testing.assert_allclose(got.float().detach().numpy(), want.detach().numpy(), atol=3e-2)
    got.float().sum().backward()
    assert all(p.grad is not None and p.grad.dtype == dm.float32 for p in m.parameters())


def test_typed_errors() -> None:
    gi, h0, c0 = dm.zeros(3, 2, 16), dm.zeros(2, 4), dm.zeros(2, 4)
    w = dm.zeros(16, 4)
    with pytest.raises(ShapeError, match="weight_hh"):
        _core._rnn_sequence(gi, h0, c0, dm.zeros(16, 5), None, "LSTM")
    with pytest.raises(ShapeError, match="projection"):
        _core._rnn_sequence(dm.zeros(3, 2, 15), h0, c0, w, None, "LSTM")
    with pytest.raises(ShapeError, match="cell state"):
        _core._rnn_sequence(gi, h0, None, w, None, "LSTM")
    with pytest.raises(ShapeError, match="only an LSTM"):
        _core._rnn_sequence(dm.zeros(3, 2, 12), h0, c0, dm.zeros(12, 4), None, "GRU")
    with pytest.raises(ShapeError, match="bias_hh"):
        _core._rnn_sequence(gi, h0, c0, w, dm.zeros(15), "LSTM")
    with pytest.raises(DTypeError):
        _core._rnn_sequence(gi, h0.double(), c0, w, None, "LSTM")
    with pytest.raises(ValueError, match="unknown recurrent mode"):
        _core._rnn_sequence(gi, h0, c0, w, None, "LSTM2")
    with pytest.raises(DTypeError):
        nn.LSTM(3, 4)(dm.zeros(2, 1, 3), (dm.zeros(1, 1, 4).double(), dm.zeros(1, 1, 4)))


def test_modifying_the_output_in_place_is_caught_at_backward() -> None:
    m = nn.GRU(3, 4)
    out, _ = m(dm.randn(2, 1, 3))
    out.mul_(2)
    with pytest.raises(AutogradError, match="in-place"):
        out.sum().backward()


def test_one_fused_node_per_layer_and_direction() -> None:
    m = nn.LSTM(3, 4, bidirectional=True)
    out, _ = m(dm.randn(6, 2, 3))
    names = set()
    stack = [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node.name() in names:
            continue
        names.add(node.name())
        stack.extend(f for f, _ in node.next_functions)
    assert "RnnSequenceBackward0" in names
    assert not {"SigmoidBackward0", "TanhBackward0"} & names
