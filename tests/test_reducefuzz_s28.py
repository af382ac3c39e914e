"""Session-28 differential fuzz of the reductions, statistics, sorting and set ops against
PyTorch 2.x (CPU).

The cases are drawn from fixed seeds (shapes with 0-size dims and 0-d, dims given as None, int,
tuple or negative, keepdim, transposed and sliced inputs, float32/float64/int64/int32/bool,
NaN and +-inf, ties). The references are NumPy's or, where NumPy has no equivalent, the rule
PyTorch follows, written out here; every case was checked against PyTorch while the file was
written. Where PyTorch's choice among ties is implementation-defined (median, mode, kthvalue,
topk, max over ties), only what it guarantees is checked: the returned indices gather the
returned values. ``xfail(strict=True)`` marks the divergences that remain; each reason names
the code at fault, and a fix turns the mark into a failure that asks for its removal.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any, Optional, Union

import numpy as np
import pytest

import democratising as dm

_Dim = Optional[Union[int, tuple[int, ...]]]
NP_OF = {
    "float32": np.float32,
    "float64": np.float64,
    "int64": np.int64,
    "int32": np.int32,
    "bool": np.bool_,
}
# (NumPy's references warn on NaN and infinity arithmetic, which is what they are fed)
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
SHAPES = [(), (0,), (5,), (1,), (3, 4), (4, 1), (2, 0, 3), (2, 3, 4), (3, 3, 2), (17,)]


def _xfail(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=reason)


def _data(rng: np.random.Generator, shape: tuple[int, ...], dtype: str, kind: str) -> np.ndarray:
    """Random values of ``dtype``; ``kind`` "ties" draws from a few values, "special" mixes in
    NaN and +-inf (floating point only)."""
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith("int"):
        lim = 3 if kind == "ties" else 50
        return rng.integers(-lim, lim, size=shape).astype(NP_OF[dtype])
    a = rng.integers(-3, 3, size=shape) if kind == "ties" else rng.standard_normal(shape)
    a = np.asarray(a, dtype=NP_OF[dtype])
    if kind == "special" and a.size:
        u = rng.random(shape)
        a[u < 0.1] = np.nan
        a[(u >= 0.1) & (u < 0.15)] = np.inf
        a[(u >= 0.15) & (u < 0.2)] = -np.inf
    return a


def _pair(a: np.ndarray, layout: str) -> tuple[np.ndarray, dm.Tensor]:
    """The NumPy view and the democratising view of ``a``: contiguous, transposed (first and
    last dims swapped) or sliced with step 2 along dim 0."""
    t = dm.tensor(a.copy())
    if layout == "T" and a.ndim >= 2:
        return np.swapaxes(a, 0, -1), t.transpose(0, -1)
    if layout == "S" and a.ndim >= 1 and a.shape[0] >= 2:
        return a[::2], t[::2]
    return a, t


def _cases(seed: int, dtypes: tuple[str, ...], kinds: tuple[str, ...]) -> Iterator[Any]:
    rng = np.random.default_rng(seed)
    for shape in SHAPES:
        for dtype in dtypes:
            for kind in kinds:
                if kind == "special" and not dtype.startswith("float"):
                    continue
                layout = "CTS"[int(rng.integers(0, 3))]
                yield pytest.param(
                    _data(rng, shape, dtype, kind), layout, id=f"{shape}-{dtype}-{kind}-{layout}"
                )


def _dims(nd: int, single: bool = False) -> list[_Dim]:
    if nd == 0:
        return [0, -1] if single else [None, 0, -1]
    out: list[_Dim] = [] if single else [None]
    out += list(range(-nd, nd))
    if nd >= 2 and not single:
        out += [(0, 1), (-1, 0)]
    return out


def _axis(dim: _Dim, nd: int) -> Any:
    """NumPy's axis for ``dim`` (a 0-d tensor takes dims 0 and -1 as "all")."""
    return None if nd == 0 else dim


def _same(got: dm.Tensor, want: np.ndarray, dtype: Optional[str] = None, tol: float = 1e-5) -> None:
    g = got.detach().numpy()
    want = np.asarray(want)
    assert g.shape == want.shape, (g.shape, want.shape)
    if dtype is not None:
        assert str(got.dtype).split(".")[-1] == dtype, (got.dtype, dtype)
    if want.dtype.kind == "f":
        np.testing.assert_allclose(g.astype(np.float64), want, rtol=tol, atol=tol, equal_nan=True)
    else:
        np.testing.assert_array_equal(g, want)


def _gathers(x: np.ndarray, values: dm.Tensor, indices: dm.Tensor, dim: int) -> None:
    """``x`` at ``indices`` along ``dim`` is ``values`` (NaN where values is NaN)."""
    idx = indices.numpy()
    if x.ndim == 0:
        assert idx.ndim == 0 and int(idx) == 0
        return
    v = values.numpy()
    if idx.ndim < x.ndim:  # (keepdim=False)
        idx, v = np.expand_dims(idx, dim), np.expand_dims(v, dim)
    np.testing.assert_array_equal(np.take_along_axis(x, idx, axis=dim), v)


def _result_dtype(a: np.ndarray, for_sum: bool = True) -> str:
    if a.dtype.kind in "biu":
        return "int64" if for_sum else "float32"
    return str(a.dtype)


# ---- sum / mean / prod / nansum / nanmean ----------------------------------------------------

ALL = ("float32", "float64", "int64", "int32", "bool")


@pytest.mark.parametrize(("a", "layout"), list(_cases(1, ALL, ("plain", "special", "ties"))))
def test_sum_prod_mean_against_numpy(a: np.ndarray, layout: str) -> None:
    x, t = _pair(a, layout)
    for dim in _dims(x.ndim):
        for kd in (False, True):
            if dim is None and kd:
                continue
            kw: dict[str, Any] = {} if dim is None else {"dim": dim, "keepdim": kd}
            ax = _axis(dim, x.ndim)
            want_dt = _result_dtype(x)
            want = np.sum(x, axis=ax, keepdims=kd, dtype=NP_OF[want_dt])
            _same(dm.sum(t, **kw), want, want_dt, tol=1e-4)
            want = np.sum(x, axis=ax, keepdims=kd, dtype=np.float64)
            _same(dm.sum(t, dtype=dm.float64, **kw), want, "float64", tol=1e-4)
            if not isinstance(dim, tuple):
                pw = np.prod(x, axis=ax, keepdims=kd, dtype=NP_OF[want_dt])
                _same(dm.prod(t, **kw), pw, want_dt, tol=1e-4)
            if x.dtype.kind == "f":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean = np.mean(x, axis=ax, keepdims=kd, dtype=np.float64)
                    nanmean = np.nanmean(x, axis=ax, keepdims=kd, dtype=np.float64)
                _same(dm.mean(t, **kw), mean, str(x.dtype), tol=1e-4)
                _same(dm.nansum(t, **kw), np.nansum(x, axis=ax, keepdims=kd), str(x.dtype), 1e-4)
                _same(dm.nanmean(t, **kw), nanmean, str(x.dtype), tol=1e-4)
            elif dim is None:
                with pytest.raises(RuntimeError):  # (PyTorch: mean of an integer tensor)
                    dm.mean(t)
                with pytest.raises(RuntimeError):
                    dm.nanmean(t)


# ---- var / std / var_mean / std_mean ----------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "layout"), list(_cases(2, ("float32", "float64"), ("plain", "ties", "special")))
)
@pytest.mark.parametrize("correction", [0, 1, 2])
def test_var_std_against_numpy(a: np.ndarray, layout: str, correction: int) -> None:
    x, t = _pair(a, layout)
    for dim in _dims(x.ndim):
        for kd in (False, True):
            if dim is None and kd:
                continue
            ax = _axis(dim, x.ndim)
            xf = x.astype(np.float64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.mean(xf, axis=ax, keepdims=kd)
                ss = np.sum((xf - np.mean(xf, axis=ax, keepdims=True)) ** 2, axis=ax, keepdims=kd)
                n = xf.size // max(np.asarray(ss).size, 1) if xf.size else 0
                var = np.asarray(ss) / max(0, n - correction)  # (PyTorch's divisor)
            finite = np.isfinite(x).all()
            kw: dict[str, Any] = {"dim": dim, "keepdim": kd, "correction": correction}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                v, s = dm.var(t, **kw), dm.std(t, **kw)
                vm = dm.var_mean(t, **kw)
                sm = dm.std_mean(t, **kw)
            if finite:  # (with inf PyTorch's one-pass var_mean gives NaN means: not pinned)
                _same(v, var, str(x.dtype), tol=1e-4)
                _same(s, np.sqrt(var), str(x.dtype), tol=1e-4)
                _same(vm[0], var, tol=1e-4)
                _same(vm[1], mean, tol=1e-4)
                _same(sm[0], np.sqrt(var), tol=1e-4)
            if correction < 2 and dim is not None:
                unbiased = correction == 1
                _same(dm.var(t, dim, unbiased, kd), v.numpy().astype(np.float64))


# ---- amax / amin / max / min / argmax / argmin / aminmax ---------------------------------------


@pytest.mark.parametrize(("a", "layout"), list(_cases(3, ALL, ("plain", "special", "ties"))))
def test_extrema_and_arg_extrema_against_numpy(a: np.ndarray, layout: str) -> None:
    x, t = _pair(a, layout)
    for dim in _dims(x.ndim):
        for kd in (False, True):
            ax = _axis(dim, x.ndim)
            empty = x.size == 0 and (
                ax is None or any(x.shape[d] == 0 for d in ((ax,) if isinstance(ax, int) else ax))
            )
            if empty:
                if dim is not None:
                    with pytest.raises(IndexError):
                        dm.amax(t, dim, kd)
                continue
            want_max = np.max(x, axis=ax, keepdims=kd)
            want_min = np.min(x, axis=ax, keepdims=kd)
            if dim is not None:
                _same(dm.amax(t, dim, kd), want_max, str(x.dtype))
                _same(dm.amin(t, dim=dim, keepdim=kd), want_min, str(x.dtype))
            if x.dtype == np.bool_:
                with pytest.raises(RuntimeError):  # (PyTorch: no bool argmax kernel)
                    dm.argmax(t, dim=dim if not isinstance(dim, tuple) else None)
            elif dim is None or isinstance(dim, int):
                argmax = np.argmax(x, axis=ax, keepdims=kd) if ax is not None else np.argmax(x)
                argmin = np.argmin(x, axis=ax, keepdims=kd) if ax is not None else np.argmin(x)
                if ax is None and kd:
                    argmax = np.full((1,) * x.ndim, argmax)
                    argmin = np.full((1,) * x.ndim, argmin)
                _same(dm.argmax(t, dim=dim, keepdim=kd), argmax, "int64")
                _same(dm.argmin(t, dim=dim, keepdim=kd), argmin, "int64")
            if isinstance(dim, int):
                mx, mn = dm.max(t, dim, kd), dm.min(t, dim=dim, keepdim=kd)
                _same(mx.values, want_max, str(x.dtype))
                _same(mn.values, want_min, str(x.dtype))
                d = dim % max(x.ndim, 1)
                _gathers(x, mx.values, mx.indices, d)
                _gathers(x, mn.values, mn.indices, d)
                lo, hi = dm.aminmax(t, dim=dim, keepdim=kd)
                _same(lo, want_min, str(x.dtype))
                _same(hi, want_max, str(x.dtype))
            if dim is None and not kd:
                _same(dm.max(t), want_max, str(x.dtype))
                _same(dm.min(t), want_min, str(x.dtype))


def test_amax_shares_the_gradient_among_ties_and_max_picks_one() -> None:
    x = dm.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], requires_grad=True)
    dm.amax(x, 1).backward(dm.tensor([1.0, 3.0]))
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.5, 0.5], [1.0, 1.0, 1.0]])
    y = dm.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], requires_grad=True)
    r = dm.max(y, 1)
    r.values.backward(dm.tensor([1.0, 3.0]))
    g = y.grad.numpy()
    assert (g != 0).sum(axis=1).tolist() == [1, 1]  # one index per row takes it all
    np.testing.assert_array_equal(g[[0, 1], r.indices.numpy()], [1.0, 3.0])
    z = dm.tensor([[1.0, 3.0, 3.0]], requires_grad=True)
    dm.max(z).backward()  # (the full reduction shares it, as amax)
    np.testing.assert_allclose(z.grad.numpy(), [[0.0, 0.5, 0.5]])


def test_argmax_of_nan_and_ties_takes_the_first() -> None:
    x = dm.tensor([[1.0, math.nan, 3.0, math.nan], [2.0, 5.0, 5.0, -math.inf]])
    assert dm.argmax(x).item() == 1
    assert dm.argmin(x, 1).tolist() == [1, 3]
    assert dm.argmax(x, 1).tolist() == [1, 1]
    assert dm.argmax(dm.tensor([[0.0, -0.0]]), 1).tolist() == [0]


# ---- median / nanmedian / mode / kthvalue / quantile -------------------------------------------


def _lower_median(a: np.ndarray, axis: int, skip_nan: bool) -> np.ndarray:
    s = np.sort(a, axis=axis)  # (NaN last)
    n = np.sum(~np.isnan(s), axis=axis, keepdims=True) if skip_nan else a.shape[axis]
    k = np.maximum((np.asarray(n) - 1) // 2, 0)
    k = np.broadcast_to(k, (*s.shape[:axis], 1, *s.shape[axis + 1 :]))
    out = np.take_along_axis(s, k, axis=axis)
    if not skip_nan and s.dtype.kind == "f":
        out = np.where(np.isnan(s).any(axis=axis, keepdims=True), np.nan, out)
    return np.squeeze(out, axis)


def _expected(v: np.ndarray, x_ndim: int, d: int, kd: bool) -> np.ndarray:
    """A reduced-along-``d`` result in PyTorch's shape: 0-d stays 0-d, keepdim keeps ``d``."""
    if x_ndim == 0:
        return v.reshape(())
    return np.expand_dims(v, d) if kd else v


@pytest.mark.parametrize(("a", "layout"), list(_cases(4, ALL, ("plain", "special", "ties"))))
def test_median_nanmedian_kthvalue_mode_against_numpy(a: np.ndarray, layout: str) -> None:
    x, t = _pair(a, layout)
    xt = np.asarray(t.numpy())  # (what the indices gather from; bool stays bool)
    xa = (x.reshape(1) if x.ndim == 0 else x).astype(
        np.float64 if x.dtype.kind == "f" else np.int64
    )
    for dim in _dims(x.ndim, single=True):
        d = dim % max(x.ndim, 1)
        if xa.shape[d] == 0:
            with pytest.raises(IndexError):
                dm.median(t, dim)
            continue
        if x.dtype == np.bool_:  # (PyTorch: no bool kernel for these)
            for fn in (dm.median, dm.nanmedian):
                with pytest.raises(RuntimeError):
                    fn(t, dim)
        for kd in (False, True):
            if x.dtype == np.bool_:
                mo = dm.mode(t, dim, kd)
                _gathers(xt, mo.values, mo.indices, d)
                continue
            for fn, skip in ((dm.median, False), (dm.nanmedian, True)):
                r = fn(t, dim, kd)
                want = _expected(_lower_median(xa, d, skip), x.ndim, d, kd)
                _same(r.values, want.astype(x.dtype))
                _gathers(xt, r.values, r.indices, d)
            k = 1 + xa.shape[d] // 2
            kv = dm.kthvalue(t, k, dim, kd)
            want = _expected(np.take(np.sort(xa, axis=d), k - 1, axis=d), x.ndim, d, kd)
            _same(kv.values, want.astype(x.dtype))
            _gathers(xt, kv.values, kv.indices, d)
            if x.dtype.kind == "f" and np.isnan(x).any():
                continue  # (PyTorch's mode among NaNs depends on its sort)
            mo = dm.mode(t, dim, kd)
            _gathers(xt, mo.values, mo.indices, d)
            rows = np.moveaxis(xa, d, -1).reshape(-1, xa.shape[d])
            got = mo.values.numpy().astype(xa.dtype).reshape(-1)
            for row, v in zip(rows, got):
                assert (row == v).sum() == max(np.unique(row, return_counts=True)[1])


@pytest.mark.parametrize(
    ("a", "layout"), list(_cases(5, ("float32", "float64"), ("plain", "special", "ties")))
)
@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile_and_nanquantile_against_numpy(
    a: np.ndarray, layout: str, interpolation: str
) -> None:
    x, t = _pair(a, layout)
    q = np.array([0.0, 0.3, 0.55, 0.9, 1.0], dtype=x.dtype)
    qt = dm.tensor(q)
    for dim in [None, *_dims(x.ndim, single=True)]:
        for kd in (False, True):
            d = None if dim is None or x.ndim == 0 else dim
            if x.size == 0:
                with pytest.raises(RuntimeError):  # (PyTorch: "input tensor must be non-empty")
                    dm.quantile(t, qt, dim=dim, keepdim=kd, interpolation=interpolation)
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                want = np.quantile(
                    x.astype(np.float64),
                    q.astype(np.float64),
                    axis=d,
                    keepdims=kd,
                    method=interpolation,
                )
                nwant = np.nanquantile(
                    x.astype(np.float64),
                    q.astype(np.float64),
                    axis=d,
                    keepdims=kd,
                    method=interpolation,
                )
            if kd and dim is not None and x.ndim == 0:
                want, nwant = want.reshape(5), nwant.reshape(5)
            got = dm.quantile(t, qt, dim=dim, keepdim=kd, interpolation=interpolation)
            ngot = dm.nanquantile(t, qt, dim=dim, keepdim=kd, interpolation=interpolation)
            if interpolation in ("linear", "midpoint") and np.isinf(x).any():
                # NumPy blends an infinity in even at weight 0 (NaN); PyTorch takes the
                # element itself when the rank is whole: not comparable here.
                continue
            _same(got, want, str(x.dtype), tol=1e-4)
            _same(ngot, nwant, str(x.dtype), tol=1e-4)
            one = dm.quantile(t, 0.3, dim=dim, keepdim=kd, interpolation=interpolation)
            _same(one, want[1], str(x.dtype), tol=1e-4)


def test_quantile_gradient_goes_to_the_two_neighbours() -> None:
    x = dm.tensor([[1.0, 4.0, 3.0, 2.0]], dtype=dm.float64, requires_grad=True)
    dm.quantile(x, dm.tensor([0.3, 0.5], dtype=dm.float64), dim=1).backward(
        dm.tensor([[1.0], [2.0]], dtype=dm.float64)
    )
    # 0.3 -> rank 0.9: 0.1 of 1.0 (index 0) and 0.9 of 2.0 (index 3); 0.5 -> rank 1.5
    # 0.3: rank 0.9 of [1, 2, 3, 4] -> 0.1 to 1.0 (index 0), 0.9 to 2.0 (index 3);
    # 0.5: rank 1.5 -> 0.5 each to 2.0 (index 3) and 3.0 (index 2), times 2.
    np.testing.assert_allclose(x.grad.numpy(), [[0.1, 0.0, 1.0, 1.9]], rtol=1e-12)


# ---- logsumexp / norms / count_nonzero / all / any ---------------------------------------------


def test_logsumexp_of_infinite_rows_and_its_gradient() -> None:
    ninf, inf = -math.inf, math.inf
    x = dm.tensor([[ninf, ninf], [1.0, ninf], [inf, 1.0], [inf, inf]], requires_grad=True)
    out = dm.logsumexp(x, 1)
    np.testing.assert_array_equal(out.detach().numpy(), [ninf, 1.0, inf, inf])
    y = dm.tensor([[ninf, ninf], [1.0, ninf]], dtype=dm.float64, requires_grad=True)
    dm.logsumexp(y, 1).backward(dm.tensor([1.0, 2.0], dtype=dm.float64))
    # (an all -inf row gets NaN, exp(-inf - -inf), as PyTorch's)
    np.testing.assert_array_equal(y.grad.numpy(), [[math.nan, math.nan], [2.0, 0.0]])
    assert dm.logsumexp(dm.tensor([1, 2]), 0).dtype == dm.float32
    np.testing.assert_array_equal(dm.logsumexp(dm.zeros(2, 0), 1).numpy(), [ninf, ninf])


@pytest.mark.parametrize(("a", "layout"), list(_cases(6, ALL, ("plain", "special"))))
def test_logsumexp_count_nonzero_all_any_norm_against_numpy(a: np.ndarray, layout: str) -> None:
    x, t = _pair(a, layout)
    for dim in _dims(x.ndim):
        ax = _axis(dim, x.ndim)
        _same(dm.count_nonzero(t, dim=dim), np.asarray(np.count_nonzero(x, axis=ax)), "int64")
        for kd in (False, True):
            if dim is None and kd:
                continue
            _same(dm.all(t, dim=dim, keepdim=kd), np.all(x, axis=ax, keepdims=kd), "bool")
            _same(dm.any(t, dim=dim, keepdim=kd), np.any(x, axis=ax, keepdims=kd), "bool")
            if dim is None:
                continue
            xf = x.astype(np.float64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                lse = np.log(np.sum(np.exp(xf), axis=ax, keepdims=kd))
            fdt = str(x.dtype) if x.dtype.kind == "f" else "float32"
            if np.isfinite(x).all() and (np.abs(xf) < 50).all():
                _same(dm.logsumexp(t, dim, kd), lse, fdt, tol=1e-4)
            if x.dtype.kind == "f":
                mag = np.abs(xf)
                _same(
                    dm.norm(t, dim=dim, keepdim=kd),
                    np.sqrt(np.sum(mag * mag, ax, keepdims=kd)),
                    fdt,
                    1e-4,
                )
                _same(dm.norm(t, 1, dim, kd), np.sum(mag, axis=ax, keepdims=kd), fdt, 1e-4)
                dims = () if x.ndim == 0 else ((dim,) if isinstance(dim, int) else dim)
                if any(x.shape[d] == 0 for d in dims):
                    with pytest.raises(IndexError):  # (max of nothing: no identity)
                        dm.norm(t, math.inf, dim, kd)
                else:
                    want = np.max(mag, axis=ax, keepdims=kd)
                    _same(dm.norm(t, math.inf, dim, kd), want, fdt, 1e-4)


# ---- scans: cumsum / cumprod / cummax / cummin / logcumsumexp ---------------------------------


def _cum_extreme(a: np.ndarray, axis: int, bigger: bool) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's rule: the running extreme moves to a later equal element, and to any NaN."""
    a = np.moveaxis(a, axis, -1)
    vals, idx = np.empty_like(a), np.zeros(a.shape, dtype=np.int64)
    for pos in np.ndindex(a.shape[:-1]):
        row = a[pos]
        cur, at = None, 0
        for i, v in enumerate(row):
            better = cur is None or (v >= cur if bigger else v <= cur)
            if better or (isinstance(v, np.floating) and np.isnan(v)):
                cur, at = v, i
            vals[(*pos, i)], idx[(*pos, i)] = cur, at
    return np.moveaxis(vals, -1, axis), np.moveaxis(idx, -1, axis)


@pytest.mark.parametrize(("a", "layout"), list(_cases(7, ALL, ("plain", "special", "ties"))))
def test_scans_against_numpy(a: np.ndarray, layout: str) -> None:
    x, t = _pair(a, layout)
    for dim in _dims(x.ndim, single=True):
        xa = x.reshape(1) if x.ndim == 0 else x
        d = dim % max(x.ndim, 1)
        sdt = _result_dtype(x)
        cs = np.cumsum(xa, axis=d, dtype=NP_OF[sdt]).reshape(x.shape)
        cp = np.cumprod(xa, axis=d, dtype=NP_OF[sdt]).reshape(x.shape)
        _same(dm.cumsum(t, dim), cs, sdt, tol=1e-4)
        _same(dm.cumprod(t, dim), cp, sdt, tol=1e-4)
        _same(
            dm.cumsum(t, dim, dtype=dm.float64),
            np.cumsum(xa, d, dtype=np.float64).reshape(x.shape),
            "float64",
            1e-4,
        )
        for fn, bigger in ((dm.cummax, True), (dm.cummin, False)):
            vals, idx = _cum_extreme(xa, d, bigger)
            r = fn(t, dim)
            _same(r.values, vals.reshape(x.shape), str(x.dtype))
            _same(r.indices, idx.reshape(x.shape), "int64")
        if x.dtype.kind == "f":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                lcse = np.logaddexp.accumulate(xa.astype(np.float64), axis=d).reshape(x.shape)
            _same(dm.logcumsumexp(t, dim), lcse, str(x.dtype), tol=1e-4)
        else:
            with pytest.raises(RuntimeError):  # (PyTorch has no integer kernel)
                dm.logcumsumexp(t, dim)
    with pytest.raises(IndexError):
        dm.cumsum(t, max(x.ndim, 1))


def test_cumprod_gradient_through_zeros() -> None:
    a = np.array([[1.0, 0.0, 3.0, 0.0], [2.0, 0.0, 2.0, 1.0], [0.5, 2.0, 0.0, 4.0]])
    w = np.arange(1.0, 13.0).reshape(3, 4)
    x = dm.tensor(a, requires_grad=True)
    dm.cumprod(x, 1).backward(dm.tensor(w))
    want = np.zeros_like(a)  # d/dx_j of sum_i w_i prod_{k<=i} x_k, leaving x_j out
    for r in range(3):
        for j in range(4):
            want[r, j] = sum(w[r, i] * np.prod(np.delete(a[r, : i + 1], j)) for i in range(j, 4))
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12)


# ---- sort / argsort / msort / topk -------------------------------------------------------------


def _stable_order(a: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """PyTorch's stable order: NaN is the largest value (last ascending, first descending);
    -0.0 equals 0.0; equal values keep their order."""
    flat = a.reshape(-1)
    _, inv = np.unique(flat, return_inverse=True, equal_nan=True)
    key = inv.reshape(a.shape).astype(np.int64)
    return np.argsort(-key if descending else key, axis=axis, kind="stable")


@pytest.mark.parametrize(("a", "layout"), list(_cases(8, ALL, ("plain", "special", "ties"))))
def test_sort_argsort_topk_against_numpy(a: np.ndarray, layout: str) -> None:
    x, t = _pair(a, layout)
    for dim in _dims(x.ndim, single=True):
        xa = x.reshape(1) if x.ndim == 0 else x
        d = dim % max(x.ndim, 1)
        for desc in (False, True):
            order = _stable_order(xa, d, desc)
            vals = np.take_along_axis(xa, order, axis=d).reshape(x.shape)
            r = dm.sort(t, dim, descending=desc, stable=True)
            _same(r.values, vals, str(x.dtype))
            _same(r.indices, order.reshape(x.shape), "int64")
            _same(dm.argsort(t, dim, descending=desc, stable=True), order.reshape(x.shape), "int64")
            r = dm.sort(t, dim, descending=desc)  # (unstable: ties in any order)
            _same(r.values, vals, str(x.dtype))
            _gathers(np.asarray(t.numpy()), r.values, r.indices, d)
        if x.dtype == np.bool_:
            continue
        n = xa.shape[d]
        for k in sorted({0, min(1, n), n} - ({0} if x.ndim == 0 else set())):
            for largest in (True, False):
                order = _stable_order(xa, d, largest)
                want = np.take(np.take_along_axis(xa, order, axis=d), np.arange(k), axis=d)
                r = dm.topk(t, k, dim, largest=largest)
                _same(r.values, want.reshape(r.values.shape), str(x.dtype))
                _gathers(np.asarray(t.numpy()), r.values, r.indices, d)
        with pytest.raises(RuntimeError):
            dm.topk(t, n + 1, dim)
    if x.ndim >= 1:
        _same(dm.msort(t), np.take_along_axis(x, _stable_order(x, 0, False), axis=0), str(x.dtype))


# ---- unique / unique_consecutive ---------------------------------------------------------------


def _consecutive(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    flat = a.reshape(-1)
    if flat.size == 0:
        return flat, np.zeros(a.shape, np.int64), np.zeros(0, np.int64)
    new = np.concatenate([[True], flat[1:] != flat[:-1]])
    inverse = np.cumsum(new) - 1
    return flat[new], inverse.reshape(a.shape), np.bincount(inverse)


@pytest.mark.parametrize(
    ("a", "layout"), list(_cases(9, ("float64", "int64", "int32", "bool"), ("ties", "special")))
)
def test_unique_and_unique_consecutive_against_numpy(a: np.ndarray, layout: str) -> None:
    x, t = _pair(a, layout)
    vals, inv, cnt = np.unique(
        x.reshape(-1), return_inverse=True, return_counts=True, equal_nan=False
    )
    u, i, c = dm.unique(t, return_inverse=True, return_counts=True)
    _same(u, vals, str(x.dtype))
    _same(i, inv.reshape(x.shape), "int64")
    _same(c, cnt, "int64")
    vals, inv, cnt = _consecutive(x)
    u, i, c = dm.unique_consecutive(t, return_inverse=True, return_counts=True)
    _same(u, vals, str(x.dtype))
    _same(i, inv, "int64")
    _same(c, cnt, "int64")
    if x.ndim >= 2 and x.size and not (x.dtype.kind == "f" and np.isnan(x).any()):
        for d in range(-x.ndim, x.ndim):
            vals, inv, cnt = np.unique(x, axis=d, return_inverse=True, return_counts=True)
            u, i, c = dm.unique(t, dim=d, return_inverse=True, return_counts=True)
            _same(u, vals, str(x.dtype))
            _same(i, inv.reshape(-1), "int64")
            _same(c, cnt, "int64")


def test_unique_consecutive_along_a_dim() -> None:
    x = dm.tensor([[1, 1], [1, 1], [2, 1], [1, 1]])
    u, i, c = dm.unique_consecutive(x, dim=0, return_inverse=True, return_counts=True)
    assert u.tolist() == [[1, 1], [2, 1], [1, 1]]
    assert i.tolist() == [0, 0, 1, 2]
    assert c.tolist() == [2, 1, 1]
    u, c = dm.unique_consecutive(x.t(), dim=1, return_counts=True)
    assert u.tolist() == [[1, 2, 1], [1, 1, 1]] and c.tolist() == [2, 1, 1]
    with pytest.raises(IndexError):
        dm.unique_consecutive(x, dim=2)
    nan = math.nan
    u, c = dm.unique_consecutive(dm.tensor([nan, nan, -0.0, 0.0]), return_counts=True)
    assert np.isnan(u.numpy()[:2]).all() and u.numpy()[2] == 0.0 and c.tolist() == [1, 1, 2]


# ---- bincount / histc / searchsorted / bucketize -----------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_bincount_histc_searchsorted_against_numpy(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(0, 12))
    v = rng.integers(0, 6, size=n)
    w = rng.standard_normal(n).astype(np.float32)
    ml = int(rng.integers(0, 9))
    _same(dm.bincount(dm.tensor(v), minlength=ml), np.bincount(v, minlength=ml), "int64")
    _same(
        dm.bincount(dm.tensor(v), dm.tensor(w), minlength=ml),
        np.bincount(v, w, ml),
        "float32",
        1e-5,
    )
    w64 = w.astype(np.float64)
    _same(dm.bincount(dm.tensor(v), dm.tensor(w64)), np.bincount(v, w64), "float64")
    _same(dm.bincount(dm.tensor(v), dm.tensor(v)), np.bincount(v, v.astype(np.float64)), "float64")

    x = (rng.random(n) * 10 - 2).astype(np.float32)
    bins = int(rng.integers(1, 7))
    _same(
        dm.histc(dm.tensor(x), bins, 0, 5),
        np.histogram(x, bins, (0, 5))[0].astype(np.float32),
        "float32",
    )
    if n:
        lo, hi = float(x.min()), float(x.max())
        want = np.histogram(x, bins, (lo, hi) if lo < hi else (lo - 1, hi + 1))[0]
        _same(dm.histc(dm.tensor(x), bins), want.astype(np.float32), "float32")

    seq = np.sort(rng.integers(0, 5, size=(3, 6)).astype(np.float64), axis=1)
    q = rng.integers(-1, 7, size=(3, 4)).astype(np.float64)
    for side in ("left", "right"):
        want = np.stack([np.searchsorted(s, r, side=side) for s, r in zip(seq, q)])
        got = dm.searchsorted(dm.tensor(seq), dm.tensor(q), side=side)
        _same(got, want, "int64")
        right = side == "right"
        got = dm.searchsorted(dm.tensor(seq), dm.tensor(q), right=right, out_int32=True)
        _same(got, want.astype(np.int32), "int32")
        want = np.searchsorted(seq[0], q, side=side)
        _same(dm.bucketize(dm.tensor(q), dm.tensor(seq[0]), right=right), want, "int64")
        perm = rng.permutation(6)
        shuffled = seq[0][perm]
        sorter = np.argsort(shuffled, kind="stable")
        got = dm.searchsorted(
            dm.tensor(shuffled), dm.tensor(q[0]), side=side, sorter=dm.tensor(sorter)
        )
        _same(got, np.searchsorted(shuffled, q[0], side=side, sorter=sorter), "int64")


def test_bad_arguments_raise_pytorchs_exception_types() -> None:
    x = dm.tensor([[1.0, 2.0], [3.0, 4.0]])
    for fn in (
        lambda: dm.sum(x, 2),
        lambda: dm.mean(x, (0, -3)),
        lambda: dm.max(x, 2),
        lambda: dm.argmax(x, -3),
        lambda: dm.median(x, 2),
        lambda: dm.quantile(x, 0.5, dim=2),
        lambda: dm.sort(x, 2),
        lambda: dm.topk(x, 1, 2),
        lambda: dm.kthvalue(x, 1, 2),
        lambda: dm.logsumexp(x, 2),
        lambda: dm.var(x, 2),
        lambda: dm.cummax(x, 2),
        lambda: dm.diff(x, dim=2),
        lambda: dm.unique(x, dim=2),
        lambda: dm.count_nonzero(x, 2),
        lambda: dm.amax(dm.zeros(2, 0), 1),
        lambda: dm.mode(dm.zeros(2, 0), 1),
        lambda: dm.gradient(x, dim=2),
    ):
        with pytest.raises(IndexError):
            fn()
    for fn in (
        lambda: dm.sum(x, (0, 0)),
        lambda: dm.kthvalue(x, 3, 1),
        lambda: dm.topk(x, 3),
        lambda: dm.quantile(x, 1.5),
        lambda: dm.quantile(x, 0.5, interpolation="cubic"),
        lambda: dm.quantile(dm.tensor([1, 2]), 0.5),
        lambda: dm.quantile(x, dm.tensor([0.5], dtype=dm.float64)),
        lambda: dm.bincount(dm.tensor([-1, 2])),
        lambda: dm.bincount(dm.tensor([1.0])),
        lambda: dm.histc(x, bins=3, min=3, max=1),
        lambda: dm.searchsorted(dm.tensor([1.0]), dm.tensor([1.0]), side="middle"),
        lambda: dm.gradient(x, dim=(0, -2)),
        lambda: dm.gradient(dm.tensor([True, False, True])),
        lambda: dm.gradient(dm.tensor([1.0, 2.0]), spacing=[dm.tensor([True, False])]),
    ):
        with pytest.raises(RuntimeError):
            fn()


# ---- diff / trapezoid / cumulative_trapezoid ---------------------------------------------------


@pytest.mark.parametrize(
    ("a", "layout"),
    list(_cases(10, ("float32", "float64", "int64", "int32"), ("plain", "special"))),
)
def test_diff_and_trapezoid_against_numpy(a: np.ndarray, layout: str) -> None:
    x, t = _pair(a, layout)
    if x.ndim == 0:
        return
    for d in range(-x.ndim, x.ndim):
        for n in (1, 2):
            _same(dm.diff(t, n, d), np.diff(x, n, axis=d), str(x.dtype))
        if x.shape[d] == 0:
            continue
        pre = np.take(x, [0], axis=d)
        _same(
            dm.diff(t, 1, d, prepend=dm.tensor(pre), append=dm.tensor(pre)),
            np.diff(x, 1, axis=d, prepend=pre, append=pre),
            str(x.dtype),
        )
        if x.dtype.kind == "f" and np.isfinite(x).all():
            _same(dm.trapezoid(t, dim=d), np.trapezoid(x, axis=d), str(x.dtype), tol=1e-4)
            _same(
                dm.trapezoid(t, dx=0.5, dim=d),
                np.trapezoid(x, dx=0.5, axis=d),
                str(x.dtype),
                tol=1e-4,
            )
            c = (
                np.cumsum(
                    (np.take(x, range(1, x.shape[d]), d) + np.take(x, range(x.shape[d] - 1), d))
                    / 2,
                    axis=d,
                )
                if x.shape[d] > 1
                else np.take(x, [], d)
            )
            _same(dm.cumulative_trapezoid(t, dim=d), c, str(x.dtype), tol=1e-4)


# ---- gradient (torch.gradient) -----------------------------------------------------------------


def test_gradient_dim_errors_are_typed_as_pytorchs() -> None:
    x = dm.tensor([[1.0, 2.0, 4.0], [0.0, 5.0, 7.0]])
    with pytest.raises(IndexError):
        dm.gradient(x, dim=-3)
    with pytest.raises(RuntimeError, match="multiple times"):
        dm.gradient(x, dim=(1, -1))
    (g,) = dm.gradient(x, dim=-1)
    np.testing.assert_allclose(g.numpy(), np.gradient(x.numpy(), axis=-1))


# ---- divergences from PyTorch that remain (outside this session's files) ----------------------


def test_cumsum_into_int32_wraps_like_pytorch() -> None:
    x = dm.tensor([[2**31 - 1, 1, 5]], dtype=dm.int32)
    assert dm.cumsum(x, 1, dtype=dm.int32).tolist() == [[2**31 - 1, -(2**31), -(2**31) + 5]]
    assert dm.cumsum(dm.tensor([1.7, -2.5, 3.9]), 0, dtype=dm.int32).tolist() == [1, -1, 2]


def test_cumprod_into_int32_wraps_like_pytorch() -> None:
    x = dm.tensor([[65536, 65536, 3]], dtype=dm.int32)
    assert dm.cumprod(x, 1, dtype=dm.int32).tolist() == [[65536, 0, 0]]


def test_inplace_cumsum_of_int32_with_its_own_dtype() -> None:
    x = dm.tensor([[1, 2, 0], [3, 0, 7]], dtype=dm.int32)
    assert x.cumsum_(1, dtype=dm.int32).tolist() == [[1, 3, 3], [3, 3, 10]]


def test_inplace_cumsum_with_another_dtype_raises() -> None:
    with pytest.raises(RuntimeError):
        dm.tensor([1.0, 2.0]).cumsum_(0, dtype=dm.float64)


def test_nanmean_refuses_an_integer_dtype() -> None:
    with pytest.raises(RuntimeError):
        dm.nanmean(dm.tensor([1.0, 2.0]), dtype=dm.int64)


def test_norm_refuses_integer_and_narrowing_dtypes() -> None:
    with pytest.raises(RuntimeError):
        dm.norm(dm.tensor([3.0, 4.0]), dtype=dm.int32)
    with pytest.raises(RuntimeError):
        dm.norm(dm.tensor([3.0, 4.0], dtype=dm.float64), dtype=dm.float32)


def test_searchsorted_sorter_out_of_range_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError):
        dm.searchsorted(dm.tensor([3.0, 1.0, 2.0]), dm.tensor([2.0]), sorter=dm.tensor([1, 5, 0]))
