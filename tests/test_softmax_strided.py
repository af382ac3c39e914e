"""Softmax and log-softmax over a dim that is not the last: the CPU kernel reads the columns of
``[n, inner]`` blocks in tiles (no permuted copy). Checked against NumPy across tile edges
(inner 1, 63, 64, 65, 130), blocks split over the threads, half types, masked (-inf) columns
and empty tensors, with float64 finite-difference gradients."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
from helpers import assert_close, gradcheck

RNG = np.random.default_rng(41)


def _np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isneginf(m), 0.0, m)
    e = np.exp(x - m)
    return e / e.sum(axis=axis, keepdims=True)


def _np_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    return (x - m) - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("inner", [1, 5, 63, 64, 65, 130])
@pytest.mark.parametrize("log", [False, True])
def test_strided_softmax_matches_numpy_forward_and_backward(inner: int, log: bool) -> None:
    x = RNG.standard_normal((3, 7, inner)) * 4
    g = RNG.standard_normal(x.shape)
    t = dm.tensor(x, requires_grad=True)
    y = t.log_softmax(1) if log else t.softmax(1)
    ref = _np_log_softmax(x, 1) if log else _np_softmax(x, 1)
    assert_close(y, ref, atol=1e-12)
    y.backward(dm.tensor(g))
    if log:
        dx = g - np.exp(ref) * g.sum(1, keepdims=True)
    else:
        dx = ref * (g - (g * ref).sum(1, keepdims=True))
    assert t.grad is not None
    assert_close(t.grad, dx, atol=1e-12)


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_strided_softmax_gradcheck_float64(dim: int) -> None:
    x = dm.tensor(RNG.standard_normal((4, 3, 70)), dtype=dm.float64, requires_grad=True)
    gradcheck(lambda t: t.softmax(dim), [x])
    gradcheck(lambda t: t.log_softmax(dim), [x])


def test_blocks_split_over_threads_and_float32() -> None:
    # 8 blocks of [16, 1024]: above the size where blocks run on both threads.
    x = (RNG.standard_normal((8, 16, 1024)) * 3).astype(np.float32)
    t = dm.tensor(x, requires_grad=True)
    y = t.softmax(1)
    assert y.dtype == dm.float32
    assert_close(y, _np_softmax(x.astype(np.float64), 1), rtol=1e-5, atol=1e-6)
    (y * dm.tensor(x)).sum().backward()
    p = _np_softmax(x.astype(np.float64), 1)
    dx = p * (x - (x * p).sum(1, keepdims=True))
    assert t.grad is not None
    assert_close(t.grad, dx, rtol=1e-4, atol=1e-5)


def test_non_contiguous_input_and_first_dim() -> None:
    x = RNG.standard_normal((6, 9, 80))
    t = dm.tensor(x).permute(2, 0, 1)  # [80, 6, 9], not contiguous
    assert_close(t.softmax(0), _np_softmax(x.transpose(2, 0, 1), 0), atol=1e-12)
    assert_close(t.log_softmax(1), _np_log_softmax(x.transpose(2, 0, 1), 1), atol=1e-12)


def test_masked_columns_and_large_values() -> None:
    x = np.array([[1000.0, -np.inf, 3.0], [999.0, -np.inf, -1000.0]])
    y = dm.tensor(x).softmax(0)
    assert np.isnan(y.numpy()[:, 1]).all()  # a fully masked column: 0/0, as PyTorch
    assert_close(y[:, 0], _np_softmax(x[:, [0, 2]], 0)[:, 0], atol=1e-12)
    assert_close(y[:, 2], _np_softmax(x[:, [0, 2]], 0)[:, 1], atol=1e-12)
    ls = dm.tensor(x[:, [0, 2]], dtype=dm.float32).log_softmax(0)
    assert_close(ls, _np_log_softmax(x[:, [0, 2]], 0), rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("dtype", [dm.float16, dm.bfloat16])
def test_half_types_round_once(dtype: dm.dtype) -> None:
    x = RNG.standard_normal((2, 5, 70)).astype(np.float32)
    t = dm.tensor(x, dtype=dtype, requires_grad=True)
    y = t.softmax(1)
    assert y.dtype == dtype
    xr = t.detach().float().numpy().astype(np.float64)
    assert_close(y.float(), _np_softmax(xr, 1), rtol=1e-2, atol=4e-3)
    y.sum().backward()
    assert t.grad is not None and t.grad.dtype == dtype
    assert np.abs(t.grad.float().numpy()).max() < 2e-2


def test_empty_tensors() -> None:
    for shape, dim in [((0, 3, 4), 1), ((2, 0, 4), 1), ((2, 3, 0), 1), ((3, 0), 0)]:
        t = dm.zeros(*shape, requires_grad=True)
        y = t.softmax(dim)
        assert tuple(y.shape) == shape
        y.sum().backward()
        assert t.grad is not None and tuple(t.grad.shape) == shape
