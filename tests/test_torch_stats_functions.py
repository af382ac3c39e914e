"""PyTorch's statistics functions (``democratising._stats_functions``): values against NumPy
(quantile interpolation modes, NaN rules, weights, transposed views, empty tensors), gradients
against finite differences, the ``Tensor`` methods, and typed errors for bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import democratising as dm
from helpers import assert_close, gradcheck

RNG = np.random.default_rng(3)
X = RNG.standard_normal((3, 7))
MODES = ["linear", "lower", "higher", "midpoint", "nearest"]


def leaf(a: Any) -> dm.Tensor:
    return dm.tensor(np.asarray(a, dtype=np.float64), dtype=dm.float64, requires_grad=True)


# ---- covariance ------------------------------------------------------------------------------


def test_cov_matches_numpy_with_weights_and_corrections() -> None:
    t = dm.tensor(X)
    assert_close(dm.cov(t), np.cov(X), rtol=1e-12)
    assert_close(t.cov(correction=0), np.cov(X, ddof=0), rtol=1e-12)
    assert_close(dm.cov(t[0]), np.cov(X[0]), rtol=1e-12)
    assert dm.cov(t[0]).shape == ()
    fw = RNG.integers(0, 4, 7)
    aw = RNG.uniform(0.1, 1.0, 7)
    assert_close(
        dm.cov(t, fweights=dm.tensor(fw), aweights=dm.tensor(aw)),
        np.cov(X, fweights=fw, aweights=aw),
        rtol=1e-10,
    )
    assert_close(dm.cov(t, aweights=dm.tensor(aw)), np.cov(X, aweights=aw), rtol=1e-10)
    ints = dm.cov(dm.tensor([[1, 2, 4], [0, 1, 1]]))
    assert ints.dtype == dm.float32
    assert_close(ints, np.cov([[1, 2, 4], [0, 1, 1]]), rtol=1e-6)
    xt = dm.tensor(X.T.copy()).transpose(0, 1)
    assert_close(dm.cov(xt), np.cov(X), rtol=1e-12)
    gradcheck(dm.cov, [leaf(X)])
    gradcheck(lambda a, w: dm.cov(a, aweights=w), [leaf(X), leaf(aw)])
    with pytest.raises(dm.ShapeError):
        dm.cov(dm.zeros(2, 2, 2))
    with pytest.raises(dm.DTypeError):
        dm.cov(t, fweights=dm.tensor(aw))
    with pytest.raises(dm.InvalidValueError):
        dm.cov(t, aweights=dm.tensor(-aw))
    with pytest.raises(dm.ShapeError):
        dm.cov(t, fweights=dm.tensor(fw[:3]))


def test_corrcoef_matches_numpy() -> None:
    t = dm.tensor(X)
    assert_close(dm.corrcoef(t), np.corrcoef(X), rtol=1e-10)
    assert_close(t.corrcoef(), np.corrcoef(X), rtol=1e-10)
    assert dm.corrcoef(t[0]).item() == pytest.approx(1.0)
    assert float(dm.corrcoef(t).abs().max().item()) <= 1.0
    gradcheck(dm.corrcoef, [leaf(X)])


# ---- quantiles and medians -------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_quantile_matches_numpy(mode: str) -> None:
    for dtype in (dm.float32, dm.float64):
        t = dm.tensor(X, dtype=dtype)
        tol = 1e-6 if dtype == dm.float32 else 1e-12
        q = np.array([0.0, 0.2, 0.5, 0.9, 1.0])
        qt = dm.tensor(q, dtype=dtype)
        if dtype == dm.float32:  # PyTorch ranks with q rounded to the input's dtype
            q = q.astype(np.float32).astype(np.float64)
        q3 = float(np.float32(0.3)) if dtype == dm.float32 else 0.3
        ref = np.quantile(X, q3, method=mode)
        assert_close(dm.quantile(t, 0.3, interpolation=mode), ref, rtol=tol)
        got = dm.quantile(t, qt, dim=1, interpolation=mode)
        assert got.shape == (5, 3)
        assert_close(got, np.quantile(X, q, axis=1, method=mode), rtol=tol, atol=tol)
        kept = t.quantile(qt, dim=0, keepdim=True, interpolation=mode)
        assert_close(
            kept, np.quantile(X, q, axis=0, keepdims=True, method=mode), rtol=tol, atol=tol
        )
        whole = dm.quantile(t, 0.5, keepdim=True, interpolation=mode)
        assert whole.shape == (1, 1)
        assert dm.quantile(t, dm.tensor(0.5, dtype=dtype), dim=1).shape == (3,)


@pytest.mark.parametrize("mode", MODES)
def test_nan_rules_of_quantile_and_nanquantile(mode: str) -> None:
    a = X.copy()
    a[0, 2] = np.nan
    a[2, :] = np.nan
    t = dm.tensor(a)
    with np.errstate(invalid="ignore"):
        plain = np.quantile(a, 0.4, axis=1, method=mode)
    got = dm.quantile(t, 0.4, dim=1, interpolation=mode)
    assert np.isnan(got.numpy()[[0, 2]]).all()
    assert_close(got[1], plain[1], rtol=1e-12)
    q = np.array([0.1, 0.75])
    with pytest.warns(RuntimeWarning):
        ref = np.nanquantile(a, q, axis=1, method=mode)
    assert_close(t.nanquantile(dm.tensor(q), dim=1, interpolation=mode), ref, rtol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_quantile_gradients(mode: str) -> None:
    q = dm.tensor([0.15, 0.5, 0.85], dtype=dm.float64)
    gradcheck(lambda a: dm.quantile(a, q, dim=1, interpolation=mode), [leaf(X)])
    gradcheck(lambda a: dm.nanquantile(a, 0.3, interpolation=mode), [leaf(X)])


def test_quantile_checks_its_arguments() -> None:
    t = dm.tensor(X)
    with pytest.raises(dm.InvalidValueError):
        dm.quantile(t, 1.5)
    with pytest.raises(dm.InvalidValueError):
        dm.quantile(t, 0.5, interpolation="cubic")
    with pytest.raises(dm.DTypeError):
        dm.quantile(dm.tensor([1, 2]), 0.5)
    with pytest.raises(dm.DTypeError):
        dm.quantile(t, dm.tensor([0.5], dtype=dm.float32))
    with pytest.raises(dm.ShapeError):
        dm.quantile(dm.zeros(0, dtype=dm.float64), 0.5)
    with pytest.raises(dm.ShapeError):
        dm.quantile(t, dm.tensor([[0.5]], dtype=dm.float64))


def test_nanmedian() -> None:
    a = X.copy()
    a[0, 1] = np.nan
    a[1, :] = np.nan
    t = dm.tensor(a)
    v, i = dm.nanmedian(t, 1)
    for r in (0, 2):  # the lower median of the non-NaN values, and where it is
        vals = np.sort(a[r][~np.isnan(a[r])])
        assert v[r].item() == vals[(len(vals) - 1) // 2]
        assert a[r, i[r].item()] == v[r].item()
    assert np.isnan(v[1].item())
    lower = np.sort(a[~np.isnan(a)])[(np.count_nonzero(~np.isnan(a)) - 1) // 2]
    assert dm.nanmedian(t).item() == lower
    assert t.nanmedian(0, keepdim=True).values.shape == (1, 7)
    assert dm.nanmedian(dm.tensor([1, 3, 2, 4]), 0).values.item() == 2
    assert np.isnan(dm.nanmedian(dm.tensor([np.nan, np.nan])).item())
    gradcheck(lambda x: dm.nanmedian(x, 1).values, [leaf(X)])
    gradcheck(dm.nanmedian, [leaf(X)])
    x = leaf([1.0, 2.0, 2.0, 5.0])  # ties share the gradient of the whole-tensor median
    dm.nanmedian(x).backward()
    assert x.grad.tolist() == [0.0, 0.5, 0.5, 0.0]


def test_mode_picks_the_smallest_most_frequent_value() -> None:
    a = np.array([[1, 2, 2, 3, 3], [5, 5, 1, 1, 0]])
    values, indices = dm.mode(dm.tensor(a))
    assert values.tolist() == [2, 1] and indices.tolist() == [2, 3]
    f = dm.tensor(a.T.astype(np.float64))
    r = f.mode(0, keepdim=True)
    assert r.values.shape == (1, 2) and r.values.tolist() == [[2.0, 1.0]]
    assert dm.mode(dm.tensor(7)).values.item() == 7
    x = leaf(a.astype(np.float64))
    dm.mode(x, 1).values.sum().backward()  # the gradient goes to the element indices names
    expected = np.zeros(a.shape)
    expected[[0, 1], [2, 3]] = 1.0
    assert x.grad.tolist() == expected.tolist()


def test_renorm_caps_the_norm_of_each_slice() -> None:
    x = RNG.standard_normal((3, 4)) * 2
    for p, dim, cap in [(2, 0, 1.0), (1, 1, 2.0), (float("inf"), -1, 0.5)]:
        norms = np.linalg.norm(np.moveaxis(x, dim, 0).reshape(x.shape[dim], -1), ord=p, axis=1)
        scale = np.where(norms > cap, cap / (norms + 1e-7), 1.0)
        shape = [1, 1]
        shape[dim] = -1
        assert_close(dm.renorm(dm.tensor(x), p, dim, cap), x * scale.reshape(shape), rtol=1e-12)
    gradcheck(lambda a: dm.renorm(a, 2, 0, 1.0), [leaf(x)])
    y = dm.tensor(x)
    assert y.renorm_(2, 1, 0.1) is y
    assert float(dm.tensor(np.linalg.norm(y.numpy(), axis=0)).max().item()) <= 0.1 + 1e-6
    with pytest.raises(dm.InvalidValueError):
        dm.renorm(dm.tensor(x), 0, 0, 1.0)
    with pytest.raises(dm.DTypeError):
        dm.renorm(dm.tensor([[1, 2]]), 2, 0, 1.0)


# ---- counting --------------------------------------------------------------------------------


def test_histc() -> None:
    v = RNG.standard_normal(200).astype(np.float32)
    t = dm.tensor(v)
    h = dm.histc(t, 10)
    assert h.dtype == dm.float32 and h.shape == (10,)
    np.testing.assert_array_equal(h.numpy(), np.histogram(v, 10, (v.min(), v.max()))[0])
    inside = dm.histc(t, 4, -1, 1)
    assert inside.sum().item() == np.count_nonzero((v >= -1) & (v <= 1))
    assert dm.histc(dm.tensor([1.0, 1.0]), 4).tolist() == [0.0, 0.0, 2.0, 0.0]  # range [0, 2]
    assert dm.histc(dm.tensor([0.5, np.nan]), 2, 0, 1).tolist() == [0.0, 1.0]
    with pytest.raises(dm.InvalidValueError):  # NaN in the data range, as PyTorch
        dm.histc(dm.tensor([1.0, np.nan]))
    assert t.histc(bins=3).sum().item() == 200
    with pytest.raises(dm.DTypeError):
        dm.histc(dm.tensor([1, 2]))
    with pytest.raises(dm.InvalidValueError):
        dm.histc(t, 4, 2, 1)


def test_histogram() -> None:
    v = RNG.standard_normal(100)
    t = dm.tensor(v)
    hist, edges = dm.histogram(t, 8)
    rh, re = np.histogram(v, 8)
    assert_close(hist, rh)
    assert_close(edges, re, rtol=1e-12)
    r = t.histogram(5, range=(-1.0, 1.0), density=True)
    dh, de = np.histogram(v, 5, range=(-1, 1), density=True)
    assert_close(r.hist, dh, rtol=1e-12)
    assert_close(r.bin_edges, de, rtol=1e-12)
    given = np.array([-1.0, 0.0, 0.5, 2.0])
    assert_close(dm.histogram(t, dm.tensor(given)).hist, np.histogram(v, given)[0])
    w = RNG.uniform(0, 1, 100)
    assert_close(dm.histogram(t, 4, weight=dm.tensor(w)).hist, np.histogram(v, 4, weights=w)[0])
    same = dm.histogram(dm.ones(3, dtype=dm.float64), 2)
    assert same.bin_edges.tolist() == [0.5, 1.0, 1.5]
    empty = dm.histogram(dm.zeros(0), 2)
    assert empty.hist.tolist() == [0.0, 0.0] and empty.bin_edges.tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(dm.DTypeError):
        dm.histogram(dm.tensor([1, 2]), 2)
    with pytest.raises(dm.ShapeError):
        dm.histogram(t, 4, weight=dm.ones(3, dtype=dm.float64))
    with pytest.raises(dm.InvalidValueError):
        dm.histogram(t, dm.tensor([1.0, 0.0], dtype=dm.float64))


def test_bincount() -> None:
    a = RNG.integers(0, 6, 30)
    assert dm.bincount(dm.tensor(a)).tolist() == np.bincount(a).tolist()
    assert dm.tensor(a).bincount(minlength=10).tolist() == np.bincount(a, minlength=10).tolist()
    w32 = RNG.uniform(0, 1, 30).astype(np.float32)
    out = dm.bincount(dm.tensor(a), dm.tensor(w32))
    assert out.dtype == dm.float32
    assert_close(out, np.bincount(a, w32), rtol=1e-6)
    assert dm.bincount(dm.tensor(a), dm.tensor(a)).dtype == dm.float64
    assert dm.bincount(dm.zeros(0, dtype=dm.int64)).shape == (0,)
    with pytest.raises(dm.InvalidValueError):
        dm.bincount(dm.tensor([1, -1]))
    with pytest.raises(dm.DTypeError):
        dm.bincount(dm.tensor([1.0]))
    with pytest.raises(dm.ShapeError):
        dm.bincount(dm.tensor([1, 2]), dm.tensor([1.0]))


def test_isin() -> None:
    e = RNG.integers(0, 10, (3, 4))
    s = RNG.integers(0, 10, 5)
    assert dm.isin(dm.tensor(e), dm.tensor(s)).tolist() == np.isin(e, s).tolist()
    inv = dm.isin(dm.tensor(e), dm.tensor(s), invert=True)
    assert inv.dtype == dm.bool and inv.tolist() == np.isin(e, s, invert=True).tolist()
    assert dm.isin(dm.tensor([1.0, 2.5]), 2.5).tolist() == [False, True]
    assert dm.isin(3, dm.tensor([1, 3])).shape == ()
    assert dm.isin(dm.tensor([1, 2], dtype=dm.int32), dm.tensor([2.0])).tolist() == [False, True]
    with pytest.raises(TypeError):
        dm.isin(1, 2)  # type: ignore[arg-type]


def test_unique_consecutive() -> None:
    a = np.array([1, 1, 2, 2, 3, 1, 1, 2])
    t = dm.tensor(a)
    assert dm.unique_consecutive(t).tolist() == [1, 2, 3, 1, 2]
    out, inv, counts = t.unique_consecutive(return_inverse=True, return_counts=True)
    assert inv.tolist() == [0, 0, 1, 1, 2, 3, 3, 4] and counts.tolist() == [2, 2, 1, 2, 1]
    out, counts = dm.unique_consecutive(t, return_counts=True)
    assert out.tolist() == [1, 2, 3, 1, 2] and counts.dtype == dm.int64
    _, inv2 = dm.unique_consecutive(t.reshape(2, 4), return_inverse=True)
    assert inv2.shape == (2, 4)
    m = np.array([[1, 1, 2], [1, 1, 2], [3, 3, 4], [1, 1, 2]])
    rows, inv, counts = dm.unique_consecutive(dm.tensor(m), True, True, 0)
    assert rows.tolist() == [[1, 1, 2], [3, 3, 4], [1, 1, 2]]
    assert inv.tolist() == [0, 0, 1, 2] and counts.tolist() == [2, 1, 1]
    cols, inv, counts = dm.unique_consecutive(dm.tensor(m), True, True, 1)
    assert cols.tolist() == [[1, 2], [1, 2], [3, 4], [1, 2]] and counts.tolist() == [2, 1]
    empty = dm.unique_consecutive(dm.zeros(0), return_counts=True)
    assert empty[0].shape == (0,) and empty[1].shape == (0,)
