"""Reductions, softmax and log_softmax against NumPy, with float64 gradchecks."""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import numpy as np
import pytest

import democratising as dm
from helpers import assert_close, gradcheck

RNG = np.random.default_rng(1)
Dim = Optional[Union[int, tuple[int, ...]]]

DIMS: list[Dim] = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2)]


def _np_logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


REDUCE: dict[str, tuple[Callable[..., dm.Tensor], Callable[..., np.ndarray]]] = {
    "sum": (lambda t, d, k: t.sum(d, keepdim=k), lambda x, d, k: x.sum(d, keepdims=k)),
    "mean": (lambda t, d, k: t.mean(dim=d, keepdim=k), lambda x, d, k: x.mean(d, keepdims=k)),
    "var": (lambda t, d, k: t.var(d, keepdim=k), lambda x, d, k: x.var(d, ddof=1, keepdims=k)),
    "var_biased": (
        lambda t, d, k: t.var(d, unbiased=False, keepdim=k),
        lambda x, d, k: x.var(d, keepdims=k),
    ),
    "std": (lambda t, d, k: t.std(d, keepdim=k), lambda x, d, k: x.std(d, ddof=1, keepdims=k)),
    "std_corr0": (
        lambda t, d, k: t.std(d, correction=0, keepdim=k),
        lambda x, d, k: x.std(d, keepdims=k),
    ),
    "amax": (lambda t, d, k: t.amax(d, keepdim=k), lambda x, d, k: x.max(d, keepdims=k)),
    "amin": (lambda t, d, k: dm.amin(t, d, keepdim=k), lambda x, d, k: x.min(d, keepdims=k)),
    "logsumexp": (lambda t, d, k: t.logsumexp(d, keepdim=k), _np_logsumexp),
}


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("name", list(REDUCE))
def test_reduce(name: str, dim: Dim, keepdim: bool) -> None:
    f, ref = REDUCE[name]
    x = RNG.standard_normal((3, 4, 5))
    for dtype in (np.float32, np.float64):
        xd = x.astype(dtype)
        out = f(dm.tensor(xd), dim, keepdim)
        assert out.dtype == dm.tensor(xd).dtype
        tol = 1e-5 if dtype == np.float32 else 1e-12
        assert_close(out, ref(x, dim, keepdim), rtol=tol, atol=tol)
    # the same reduction over a non-contiguous view
    v = dm.tensor(x).permute(2, 0, 1)
    assert_close(f(v, dim, keepdim), ref(x.transpose(2, 0, 1), dim, keepdim), atol=1e-12)


def test_reduce_all_defaults() -> None:
    x = RNG.standard_normal((4, 6))
    t = dm.tensor(x)
    assert t.sum().shape == ()
    assert_close(t.sum(), x.sum(), atol=1e-12)
    assert_close(t.mean(), x.mean(), atol=1e-12)
    assert_close(t.var(), x.var(ddof=1), atol=1e-12)
    assert_close(t.std(), x.std(ddof=1), atol=1e-12)
    assert_close(t.max(), x.max())
    assert_close(t.min(), x.min())
    assert_close(dm.sum(t, 0), x.sum(0), atol=1e-12)
    assert_close(t.sum(dim=[0, 1]), x.sum(), atol=1e-12)
    assert_close(t.T.sum(0), x.sum(1), atol=1e-12)
    assert_close(t[::2, 1::2].mean(1), x[::2, 1::2].mean(1), atol=1e-12)


def test_integer_and_bool_reductions() -> None:
    a = np.array([[1, 5, 3], [7, 2, 2]], dtype=np.int64)
    t = dm.tensor(a)
    assert_close(t.sum(), a.sum(), check_dtype=dm.int64)
    assert_close(t.sum(1), a.sum(1), check_dtype=dm.int64)
    assert_close(t.amax(0), a.max(0), check_dtype=dm.int64)
    assert_close(t.sum(dtype=dm.float64), a.sum().astype(np.float64), check_dtype=dm.float64)
    assert dm.tensor([True, True, False]).sum().item() == 2
    assert dm.tensor([1, 2], dtype=dm.int32).sum().dtype == dm.int64
    assert dm.tensor([[True, False], [True, True]]).all(1).tolist() == [False, True]
    assert dm.tensor([[True, False], [False, False]]).any(1).tolist() == [True, False]
    assert dm.tensor([1.0, 0.0]).any().item() is True
    assert dm.tensor([1.0, 0.0]).all().item() is False
    with pytest.raises(dm.DTypeError):
        t.mean()


def test_zero_size_reductions() -> None:
    e = dm.zeros(0, 3)
    assert_close(e.sum(0), np.zeros(3))
    assert_close(e.sum(), np.array(0.0))
    assert np.isnan(e.mean().item())
    assert_close(dm.zeros(3, 0).sum(1), np.zeros(3))
    assert_close(dm.zeros(3, 0).logsumexp(1), np.full(3, -np.inf))
    assert dm.zeros(3, 0).amax(0).shape == (0,)
    with pytest.raises(IndexError):
        e.amax(0)
    with pytest.raises(IndexError):
        dm.zeros(3, 0).argmax(1)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_argmax_argmin(dim: Optional[int], keepdim: bool) -> None:
    x = RNG.standard_normal((4, 5)).astype(np.float32)
    t = dm.tensor(x)
    for f, ref in ((dm.argmax, np.argmax), (dm.argmin, np.argmin)):
        out = f(t, dim, keepdim=keepdim)
        assert out.dtype == dm.int64
        expected = ref(x, axis=dim, keepdims=keepdim) if dim is not None else ref(x)
        if dim is None and keepdim:
            expected = ref(x, keepdims=True)
        assert_close(out, np.asarray(expected))
    assert_close(t.T.argmax(0), x.T.argmax(0))


def test_argmax_ties_and_nan() -> None:
    t = dm.tensor([[1.0, 5.0, 5.0], [2.0, 2.0, 0.0]])
    assert t.argmax(1).tolist() == [1, 0]
    assert t.argmin(1).tolist() == [0, 2]
    n = dm.tensor([1.0, float("nan"), 3.0])
    assert n.argmax().item() == 1
    assert np.isnan(n.max().item())
    assert np.isnan(n.amax(0).item())


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_max_min_with_dim(dim: int, keepdim: bool) -> None:
    x = RNG.standard_normal((3, 4))
    t = dm.tensor(x)
    values, indices = t.max(dim, keepdim=keepdim)
    assert_close(values, x.max(dim, keepdims=keepdim))
    assert_close(indices, np.argmax(x, dim, keepdims=keepdim))
    r = dm.min(t, dim, keepdim)
    assert_close(r.values, x.min(dim, keepdims=keepdim))
    assert_close(r.indices, np.argmin(x, dim, keepdims=keepdim))
    # elementwise form
    y = RNG.standard_normal((3, 4))
    assert_close(t.max(dm.tensor(y)), np.maximum(x, y))


def test_logsumexp_stability() -> None:
    x = np.array([[1000.0, 1000.0, -1000.0], [-1e4, -1e4 + 1, -1e4 + 2]])
    assert_close(dm.tensor(x).logsumexp(1), _np_logsumexp(x, 1), rtol=1e-6)
    assert dm.tensor([-np.inf, -np.inf]).logsumexp(0).item() == -np.inf
    assert_close(dm.tensor([1000.0, 1000.0], dtype=dm.float32).logsumexp(0), 1000 + np.log(2))


# ---- softmax / log_softmax ----------------------------------------------------------------------


def _np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2])
def test_softmax_any_dim(dim: int) -> None:
    x = RNG.standard_normal((2, 3, 4))
    t = dm.tensor(x)
    assert_close(t.softmax(dim), _np_softmax(x, dim), atol=1e-12)
    assert_close(dm.log_softmax(t, dim), np.log(_np_softmax(x, dim)), atol=1e-12)
    xf = x.astype(np.float32)
    assert_close(dm.softmax(dm.tensor(xf), dim), _np_softmax(x, dim), atol=1e-6)
    assert_close(t.permute(2, 0, 1).softmax(dim), _np_softmax(x.transpose(2, 0, 1), dim))
    s = t.softmax(dim).sum(dim)
    assert_close(s, np.ones(s.shape), atol=1e-12)


def test_softmax_stability() -> None:
    x = np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 1000.0], [-1000.0, -999.0, -1001.0]])
    for dtype in (dm.float32, dm.float64):
        t = dm.tensor(x, dtype=dtype)
        sm = t.softmax(-1)
        lsm = t.log_softmax(-1)
        assert not np.isnan(sm.double().numpy()).any()
        assert not np.isnan(lsm.double().numpy()).any()
        assert_close(sm, _np_softmax(x, -1), atol=1e-6)
        expected_lsm = x - _np_logsumexp(x, -1, keepdims=True)
        assert_close(lsm, expected_lsm, rtol=1e-6, atol=1e-4)


def test_softmax_dtype_and_low_precision() -> None:
    t = dm.tensor([[1.0, 2.0, 3.0]], dtype=dm.float16)
    out = t.softmax(-1)
    assert out.dtype == dm.float16
    assert_close(out, _np_softmax(np.array([[1.0, 2.0, 3.0]]), -1), rtol=1e-2, atol=1e-3)
    assert t.softmax(-1, dtype=dm.float32).dtype == dm.float32
    assert dm.tensor([1.0, 2.0]).log_softmax(0, dtype=dm.float64).dtype == dm.float64


# ---- gradients ----------------------------------------------------------------------------------


def _leaf(*shape: int) -> dm.Tensor:
    return dm.tensor(RNG.standard_normal(shape), dtype=dm.float64, requires_grad=True)


@pytest.mark.parametrize(
    "fn",
    [
        lambda t: t.sum(),
        lambda t: t.sum(1),
        lambda t: t.sum((0, 2), keepdim=True),
        lambda t: t.mean(),
        lambda t: t.mean(-1, keepdim=True),
        lambda t: t.mean((0, 1)),
        lambda t: t.var(1),
        lambda t: t.var((0, 2), unbiased=False),
        lambda t: t.std(),
        lambda t: t.std(0, keepdim=True),
        lambda t: t.amax(1),
        lambda t: t.amin((0, 2)),
        lambda t: t.max(),
        lambda t: t.min(-1).values,
        lambda t: t.max(0, keepdim=True)[0],
        lambda t: t.logsumexp(1),
        lambda t: t.logsumexp((0, 1), keepdim=True),
        lambda t: t.logsumexp(None),
        lambda t: t.softmax(0),
        lambda t: t.softmax(-1),
        lambda t: t.log_softmax(1),
        lambda t: t.log_softmax(-1),
        lambda t: t.permute(2, 0, 1).softmax(1),
    ],
)
def test_reduce_gradcheck(fn: Callable[[dm.Tensor], dm.Tensor]) -> None:
    gradcheck(fn, [_leaf(2, 3, 4)])


def test_softmax_gradient_large_inputs() -> None:
    x = dm.tensor([[1000.0, 999.0, 998.0]], dtype=dm.float64, requires_grad=True)
    gradcheck(lambda t: t.log_softmax(-1), [x])
    gradcheck(lambda t: t.softmax(-1), [x])
    gradcheck(lambda t: t.logsumexp(-1), [x])


def test_max_gradient_ties_split_or_pick() -> None:
    # amax spreads the gradient evenly over ties (PyTorch semantics); max(dim) picks one index.
    x = dm.tensor([[1.0, 3.0, 3.0]], dtype=dm.float64, requires_grad=True)
    x.amax(1).sum().backward()
    assert x.grad is not None
    assert_close(x.grad, np.array([[0.0, 0.5, 0.5]]))
    y = dm.tensor([[1.0, 3.0, 3.0]], dtype=dm.float64, requires_grad=True)
    y.max(1).values.sum().backward()
    assert y.grad is not None
    assert y.grad.sum().item() == 1.0
    assert y.grad[0, 0].item() == 0.0


def test_float32_sums_are_accurate_for_long_rows() -> None:
    # A naive float32 running sum of a million 0.1s is off by ~0.1%; PyTorch-level accuracy is
    # expected (cascade/blocked accumulation).
    x = np.full(10**6, 0.1, dtype=np.float32)
    t = dm.tensor(x)
    exact = float(np.sum(x.astype(np.float64)))
    assert abs(t.sum().item() - exact) / exact < 1e-6
    assert abs(t.mean().item() - 0.1) < 1e-7
    assert abs(t.reshape(-1, 1).sum(0).item() - exact) / exact < 1e-4
    assert abs(t.reshape(2, -1).sum(1)[0].item() - exact / 2) / exact < 1e-6
    assert t.var().item() < 1e-10
    big = dm.tensor(np.full(10**5, 1e4, dtype=np.float32) + (np.arange(10**5) % 2))
    assert abs(big.var().item() - np.var(np.arange(10**5) % 2, ddof=1)) < 1e-3
    lse = dm.tensor(np.zeros(10**6, dtype=np.float32)).logsumexp(0).item()
    assert abs(lse - np.log(1e6)) < 1e-5


def test_std_gradient_is_zero_on_a_constant_slice_and_exact_elsewhere() -> None:
    x = dm.tensor([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]], dtype=dm.float64, requires_grad=True)
    x.std(1).sum().backward()
    row = np.array([1.0, 2.0, 4.0])
    want = (row - row.mean()) / ((row.size - 1) * row.std(ddof=1))
    np.testing.assert_allclose(x.grad.numpy(), np.stack([np.zeros(3), want]), rtol=1e-12)
    y = dm.ones(4, requires_grad=True)
    y.std().backward()
    np.testing.assert_array_equal(y.grad.numpy(), np.zeros(4, dtype=np.float32))
