"""Adaptive max pooling (1-D and 2-D), and max pooling's indices, against a NumPy reference of
PyTorch's kernels, with float64 finite-difference gradient checks."""

from __future__ import annotations

import math
from typing import Optional, Union

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.errors import InvalidValueError, ShapeError
from democratising.nn import functional as F
from helpers import assert_close, gradcheck

RNG = np.random.default_rng(0)
Size = Union[int, tuple[Optional[int], ...]]


def f64(a: np.ndarray, requires_grad: bool = False) -> dm.Tensor:
    return dm.tensor(np.asarray(a, dtype=np.float64), dtype=dm.float64, requires_grad=requires_grad)


def bins(n_in: int, n_out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows along one axis: ``[floor(i*In/Out), ceil((i+1)*In/Out))``."""
    return [(i * n_in // n_out, -(-(i + 1) * n_in // n_out)) for i in range(n_out)]


def resolve(size: Size, in_hw: tuple[int, int]) -> tuple[int, int]:
    sizes = (size, size) if isinstance(size, int) else size
    return tuple(n if o is None else o for o, n in zip(sizes, in_hw))  # type: ignore[return-value]


def adaptive_max_ref(a: np.ndarray, out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Values and flat in-plane indices as PyTorch's kernel picks them: the first greatest in
    row-major order, the last NaN if any, the window's first cell when all are ``-inf``."""
    h, w = a.shape[-2:]
    planes = a.reshape(-1, h, w)
    vals = np.empty((len(planes), *out_hw))
    idx = np.empty((len(planes), *out_hw), dtype=np.int64)
    for b, plane in enumerate(planes):
        for i, (r0, r1) in enumerate(bins(h, out_hw[0])):
            for j, (c0, c1) in enumerate(bins(w, out_hw[1])):
                best, arg = -math.inf, r0 * w + c0
                for r in range(r0, r1):
                    for c in range(c0, c1):
                        v = plane[r, c]
                        if v > best or math.isnan(v):
                            best, arg = v, r * w + c
                vals[b, i, j], idx[b, i, j] = best, arg
    shape = (*a.shape[:-2], *out_hw)
    return vals.reshape(shape), idx.reshape(shape)


def scatter_grad(shape: tuple[int, ...], idx: np.ndarray, g: np.ndarray, dims: int) -> np.ndarray:
    """The input gradient of a ``dims``-D max pool: each output's gradient added at its chosen
    index in its plane (the last ``dims`` axes)."""
    plane = int(np.prod(shape[-dims:]))
    grad = np.zeros((int(np.prod(shape)) // plane, plane))
    flat_idx, flat_g = idx.reshape(len(grad), -1), g.reshape(len(grad), -1)
    for p in range(len(grad)):
        np.add.at(grad[p], flat_idx[p], flat_g[p])
    return grad.reshape(shape)


def tie_heavy(shape: tuple[int, ...]) -> np.ndarray:
    """Small integers (many ties) with some ``-inf``, so whole windows can be ``-inf``."""
    a = RNG.integers(-2, 3, size=shape).astype(np.float64)
    a[RNG.random(shape) < 0.2] = -np.inf
    return a


SIZES_2D = [(3, 2), 1, (7, 5), (2, None), (None, 3), 4, (5, 3), (9, 8), (14, 10)]


@pytest.mark.parametrize("size", SIZES_2D)
def test_adaptive_max_pool2d_values_indices_and_gradient(size: Size) -> None:
    a = tie_heavy((2, 3, 7, 5))
    out_hw = resolve(size, (7, 5))
    want_vals, want_idx = adaptive_max_ref(a, out_hw)
    x = f64(a, requires_grad=True)
    vals, idx = F.adaptive_max_pool2d(x, size, return_indices=True)
    assert idx.dtype == dm.int64
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    np.testing.assert_array_equal(vals.detach().numpy(), want_vals)
    np.testing.assert_array_equal(F.adaptive_max_pool2d(f64(a), size).numpy(), want_vals)
    g = RNG.normal(size=want_vals.shape)
    (vals * f64(g)).sum().backward()
    assert x.grad is not None
    assert_close(x.grad, scatter_grad(a.shape, want_idx, g, 2), atol=1e-12)


@pytest.mark.parametrize("size", [(3, 2), (2, 5), 1, (4, 3)])
def test_adaptive_max_pool2d_gradcheck(size: Size) -> None:
    x = f64(RNG.normal(size=(1, 2, 6, 5)), True)
    gradcheck(lambda t: F.adaptive_max_pool2d(t, size), [x])


def test_adaptive_max_pool2d_nan_propagates_and_its_index_is_the_last_nan() -> None:
    a = RNG.normal(size=(2, 2, 6, 7))
    a[0, 0, 1, 2] = a[0, 0, 2, 1] = a[1, 1, 5, 6] = np.nan
    for size in [(4, 3), (3, 7), 1, (2, 5)]:
        want_vals, want_idx = adaptive_max_ref(a, resolve(size, (6, 7)))
        vals, idx = F.adaptive_max_pool2d(f64(a), size, return_indices=True)
        np.testing.assert_array_equal(vals.numpy(), want_vals)  # NaN positions compare equal
        np.testing.assert_array_equal(idx.numpy(), want_idx)


def test_adaptive_max_pool2d_unbatched_and_other_dtypes() -> None:
    a = RNG.normal(size=(3, 7, 5)).astype(np.float32)
    want_vals, want_idx = adaptive_max_ref(a.astype(np.float64), (3, 2))
    vals, idx = F.adaptive_max_pool2d(dm.tensor(a), (3, 2), return_indices=True)
    assert vals.dtype == dm.float32 and vals.shape == (3, 3, 2)
    np.testing.assert_array_equal(vals.numpy(), want_vals.astype(np.float32))
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    assert F.adaptive_max_pool2d(dm.tensor(a), (None, 2)).shape == (3, 7, 2)
    half = F.adaptive_max_pool2d(dm.tensor(a).to(dm.bfloat16), (3, 2))
    assert half.dtype == dm.bfloat16 and half.shape == (3, 3, 2)


@pytest.mark.parametrize(("length", "size"), [(10, 4), (10, 5), (10, 1), (3, 5), (7, (3,))])
def test_adaptive_max_pool1d_matches_the_2d_reference(length: int, size: Size) -> None:
    a = tie_heavy((2, 3, length))
    out = size if isinstance(size, int) else size[0]
    want_vals, want_idx = adaptive_max_ref(a[:, :, None, :], (1, out))  # type: ignore[arg-type]
    want_vals, want_idx = want_vals[:, :, 0], want_idx[:, :, 0]
    x = f64(a, requires_grad=True)
    vals, idx = F.adaptive_max_pool1d(x, size, return_indices=True)
    np.testing.assert_array_equal(vals.detach().numpy(), want_vals)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    assert idx.dtype == dm.int64
    g = RNG.normal(size=want_vals.shape)
    (vals * f64(g)).sum().backward()
    assert x.grad is not None
    assert_close(x.grad, scatter_grad(a.shape, want_idx, g, 1), atol=1e-12)
    unbatched, unbatched_idx = F.adaptive_max_pool1d(f64(a[1]), size, return_indices=True)
    np.testing.assert_array_equal(unbatched.numpy(), want_vals[1])
    np.testing.assert_array_equal(unbatched_idx.numpy(), want_idx[1])


def test_adaptive_max_pool1d_gradcheck() -> None:
    x = f64(RNG.normal(size=(2, 2, 7)), True)
    for size in (3, 7, 9, 1):
        gradcheck(lambda t, size=size: F.adaptive_max_pool1d(t, size), [x])


def test_adaptive_max_pool_modules() -> None:
    a = RNG.normal(size=(2, 3, 7, 5))
    want_vals, want_idx = adaptive_max_ref(a, (3, 5))
    out = nn.AdaptiveMaxPool2d((3, None))(f64(a))
    assert isinstance(out, dm.Tensor)
    np.testing.assert_array_equal(out.numpy(), want_vals)
    vals, idx = nn.AdaptiveMaxPool2d((3, None), return_indices=True)(f64(a))
    np.testing.assert_array_equal(vals.numpy(), want_vals)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    vals, idx = nn.AdaptiveMaxPool1d(2, return_indices=True)(f64(a[0, :, 0]))
    assert vals.shape == (3, 2) and idx.shape == (3, 2)
    assert repr(nn.AdaptiveMaxPool2d((None, 3))) == "AdaptiveMaxPool2d(output_size=(None, 3))"
    assert repr(nn.AdaptiveMaxPool2d(3, True)) == "AdaptiveMaxPool2d(output_size=3)"
    assert repr(nn.AdaptiveMaxPool1d(4)) == "AdaptiveMaxPool1d(output_size=4)"
    assert nn.modules.pooling.AdaptiveMaxPool2d is nn.AdaptiveMaxPool2d


def test_adaptive_max_pool_errors() -> None:
    x = f64(RNG.normal(size=(2, 3, 4, 5)))
    with pytest.raises(ShapeError, match="3-D or 4-D"):
        F.adaptive_max_pool2d(f64(np.zeros(5)), 2)
    with pytest.raises(ShapeError, match="3-D or 4-D"):
        nn.AdaptiveMaxPool2d(2)(f64(np.zeros((1, 2, 3, 4, 5))))
    with pytest.raises(ShapeError, match="2-D or 3-D"):
        F.adaptive_max_pool1d(x, 2)
    with pytest.raises(InvalidValueError, match="output_size must be >= 0"):
        F.adaptive_max_pool2d(x, (2, -1))
    with pytest.raises(InvalidValueError, match="output_size must be >= 0"):
        F.adaptive_max_pool1d(x[0], -1)
    # A size of 0 gives an empty result, as in PyTorch.
    assert tuple(F.adaptive_max_pool1d(x[0], 0).shape) == (3, 4, 0)
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_max_pool2d(x, (1, 2, 3))


def max_pool1d_ref(
    a: np.ndarray, k: int, s: int, p: int, d: int, ceil_mode: bool
) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's max_pool1d values and indices along ``L`` (padding never chosen)."""
    length = a.shape[-1]
    span = length + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= length + p:
        out -= 1
    rows = a.reshape(-1, length)
    vals, idx = np.empty((len(rows), out)), np.empty((len(rows), out), dtype=np.int64)
    for b, row in enumerate(rows):
        for j in range(out):
            cells = [c for c in range(j * s - p, j * s - p + d * k, d) if 0 <= c < length]
            best, arg = -math.inf, cells[0]
            for c in cells:
                if row[c] > best or math.isnan(row[c]):
                    best, arg = row[c], c
            vals[b, j], idx[b, j] = best, arg
    return vals.reshape(*a.shape[:-1], out), idx.reshape(*a.shape[:-1], out)


@pytest.mark.parametrize(
    ("k", "s", "p", "d", "ceil_mode"),
    [(2, 2, 0, 1, False), (3, 2, 1, 1, True), (3, 2, 1, 2, False), (2, 1, 1, 1, False)],
)
def test_max_pool1d_return_indices(k: int, s: int, p: int, d: int, ceil_mode: bool) -> None:
    a = tie_heavy((2, 3, 9))
    a[0, 1, 4] = np.nan
    want_vals, want_idx = max_pool1d_ref(a, k, s, p, d, ceil_mode)
    vals, idx = F.max_pool1d(f64(a), k, s, p, d, ceil_mode, return_indices=True)
    assert idx.dtype == dm.int64
    np.testing.assert_array_equal(vals.numpy(), want_vals)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    layer = nn.MaxPool1d(k, s, p, d, return_indices=True, ceil_mode=ceil_mode)
    layer_vals, layer_idx = layer(f64(a[0]))
    np.testing.assert_array_equal(layer_vals.numpy(), want_vals[0])
    np.testing.assert_array_equal(layer_idx.numpy(), want_idx[0])


def test_max_pool2d_module_returns_values_and_indices() -> None:
    a = RNG.normal(size=(2, 3, 6, 6))
    vals, idx = nn.MaxPool2d(2, return_indices=True)(f64(a))
    want_vals, want_idx = adaptive_max_ref(a, (3, 3))  # 6 -> 3 is a plain 2x2 pool
    np.testing.assert_array_equal(vals.numpy(), want_vals)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    assert (
        repr(nn.MaxPool2d(3, 2, 1))
        == "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)"
    )
