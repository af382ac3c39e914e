"""More PyTorch tensor methods written in Python over engine ops (``democratising._tensor_more``):
values against NumPy (float32 and float64, broadcasting, a transposed input, empty tensors),
gradients against finite differences, in-place forms on leaves under ``no_grad`` (the optimizer
habit), PyTorch's tie/NaN/duplicate-index rules, and typed errors for bad input."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
from helpers import gradcheck

RNG = np.random.default_rng(11)
A = RNG.standard_normal((3, 5))
B = RNG.standard_normal((3, 5))
C = RNG.standard_normal(5)
POS = RNG.uniform(0.5, 2.0, (3, 5))
DTYPES = {"float32": (dm.float32, 1e-5), "float64": (dm.float64, 1e-12)}


def leaf(a: Any) -> dm.Tensor:
    return dm.tensor(np.asarray(a, dtype=np.float64), dtype=dm.float64, requires_grad=True)


def make(a: np.ndarray, dtype: dm.dtype, layout: str) -> dm.Tensor:
    """``a`` as a tensor; "transposed": a non-contiguous view with the same values."""
    if layout == "transposed":
        t = dm.tensor(np.ascontiguousarray(a.T), dtype=dtype).t()
        assert not t.is_contiguous()
        return t
    return dm.tensor(a, dtype=dtype)


def const(a: Any, dtype: dm.dtype) -> dm.Tensor:
    return dm.tensor(np.asarray(a), dtype=dtype)


def close(got: dm.Tensor, want: Any, tol: float, atol: Any = None) -> None:
    want = np.asarray(want)
    assert tuple(got.shape) == want.shape, f"shape {tuple(got.shape)} != {want.shape}"
    g = got.detach()
    np.testing.assert_allclose(
        g.double().numpy(), want, rtol=tol, atol=tol if atol is None else atol
    )


def cummax_ref(a: np.ndarray, largest: bool) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's loop along the last axis: ties move the index on, NaN sticks (latest NaN)."""
    vals, idx = np.empty_like(a), np.zeros(a.shape, dtype=np.int64)
    for lane in np.ndindex(a.shape[:-1]):
        best, at = a[lane][0], 0
        for i, v in enumerate(a[lane]):
            better = v >= best if largest else v <= best
            if np.isnan(v) or (not np.isnan(best) and better):
                best, at = v, i
            vals[lane][i], idx[lane][i] = best, at
    return vals, idx


# name -> (method on x of shape (3, 5), NumPy reference on A); the other operands are constants
# in x's dtype. Each runs in float32 and float64, contiguous and transposed.
CASES: dict[str, tuple[Callable[[dm.Tensor], Any], Callable[[np.ndarray], Any]]] = {
    "addcmul_broadcast": (
        lambda x: x.addcmul(const(B, x.dtype), const(C, x.dtype), value=0.5),
        lambda a: a + 0.5 * B * C,
    ),
    "addcdiv": (
        lambda x: dm.addcdiv(x, const(C, x.dtype), const(POS, x.dtype), value=-2),
        lambda a: a - 2 * C / POS,
    ),
    "clamp_min_scalar": (lambda x: x.clamp_min(0.25), lambda a: np.maximum(a, 0.25)),
    "clamp_max_tensor": (
        lambda x: dm.clamp_max(x, const(C, x.dtype)),
        lambda a: np.minimum(a, C),
    ),
    "sgn": (lambda x: x.sgn(), np.sign),
    "fmod_scalar": (lambda x: x.fmod(0.7), lambda a: np.fmod(a, 0.7)),
    "fmod_tensor": (lambda x: dm.fmod(x, const(-POS, x.dtype)), lambda a: np.fmod(a, -POS)),
    "sinh": (lambda x: (x * 3).sinh(), lambda a: np.sinh(a * 3)),
    "cosh": (lambda x: dm.cosh(x * 3), lambda a: np.cosh(a * 3)),
    "logaddexp": (lambda x: x.logaddexp(const(B * 4, x.dtype)), lambda a: np.logaddexp(a, B * 4)),
    "dist": (lambda x: x.dist(const(B, x.dtype)), lambda a: np.linalg.norm(a - B)),
    "dist_p1": (lambda x: dm.dist(x, const(C, x.dtype), 1), lambda a: np.abs(a - C).sum()),
    "count_nonzero": (
        lambda x: (x > 0).count_nonzero(1),
        lambda a: np.count_nonzero(a > 0, axis=1),
    ),
    "median_all": (lambda x: x.median(), lambda a: np.sort(a, None)[(a.size - 1) // 2]),
    "median_dim": (lambda x: x.median(0).values, lambda a: np.sort(a, 0)[1]),
    "median_dim_keepdim_even": (
        lambda x: dm.median(x[:, :4], 1, keepdim=True).values,
        lambda a: np.sort(a[:, :4], 1)[:, 1:2],  # the lower of the two middle values
    ),
    "cumprod": (lambda x: x.cumprod(1), lambda a: np.cumprod(a, 1)),
    "cumprod0": (lambda x: dm.cumprod(x, 0), lambda a: np.cumprod(a, 0)),
    "logcumsumexp": (
        lambda x: (x * 30).logcumsumexp(1),
        lambda a: np.logaddexp.accumulate(a * 30, 1),
    ),
    "cummax": (lambda x: x.cummax(1).values, lambda a: np.maximum.accumulate(a, 1)),
    "cummin": (lambda x: dm.cummin(x, 0).values, lambda a: np.minimum.accumulate(a, 0)),
    "nansum": (lambda x: x.nansum(1), lambda a: a.sum(1)),
    "nanmean": (lambda x: x.nanmean((0, 1), keepdim=True), lambda a: a.mean(keepdims=True)),
    "nan_to_num": (lambda x: x.nan_to_num(), lambda a: a),
    "index_fill": (
        lambda x: x.index_fill(1, dm.tensor([0, -1]), -3.0),
        lambda a: np.where(np.isin(np.arange(5), [0, 4]), -3.0, a),
    ),
    "index_add": (
        lambda x: x.index_add(0, dm.tensor([2, 0, 2]), const(B, x.dtype), alpha=2),
        lambda a: a + 2 * np.stack([B[1], np.zeros(5), B[0] + B[2]]),
    ),
    "index_copy": (
        lambda x: dm.index_copy(x, 1, dm.tensor([3, 1]), const(B[:, :2], x.dtype)),
        lambda a: np.stack([a[:, 0], B[:, 1], a[:, 2], B[:, 0], a[:, 4]], 1),
    ),
    "scatter_src": (
        lambda x: x.scatter(1, dm.tensor([[4, 0], [1, 2], [3, 3]]), const(B, x.dtype)),
        lambda a: _set(
            a,
            [(0, 4, B[0, 0]), (0, 0, B[0, 1]), (1, 1, B[1, 0]), (1, 2, B[1, 1]), (2, 3, B[2, 1])],
        ),
    ),
    "scatter_value": (
        lambda x: dm.scatter(x, 0, dm.tensor([[2, 0, 1, 1, 0]]), 9.0),
        lambda a: _set(a, [(2, 0, 9.0), (0, 1, 9.0), (1, 2, 9.0), (1, 3, 9.0), (0, 4, 9.0)]),
    ),
    "scatter_reduce_add": (
        lambda x: x.scatter(
            0, dm.tensor([[1, 1, 0, 2, 2], [1, 0, 0, 2, 1]]), const(B, x.dtype), reduce="add"
        ),
        lambda a: _scatter_ref(a, 0, np.array([[1, 1, 0, 2, 2], [1, 0, 0, 2, 1]]), B, np.add),
    ),
    "scatter_reduce_multiply": (
        lambda x: x.scatter(
            1, dm.tensor([[0, 0, 4], [2, 2, 2], [1, 3, 1]]), const(B, x.dtype), reduce="multiply"
        ),
        lambda a: _scatter_ref(a, 1, np.array([[0, 0, 4], [2, 2, 2], [1, 3, 1]]), B, np.multiply),
    ),
    "scatter_add_method": (
        lambda x: x.clone().scatter_add_(1, dm.tensor([[0, 0], [4, 1], [2, 2]]), const(B, x.dtype)),
        lambda a: _scatter_ref(a, 1, np.array([[0, 0], [4, 1], [2, 2]]), B, np.add),
    ),
    "take_along_dim": (
        lambda x: x.take_along_dim(dm.tensor([[4], [0], [2]]), 1),
        lambda a: np.take_along_axis(a, np.array([[4], [0], [2]]), 1),
    ),
    "take_along_dim_broadcast": (
        lambda x: dm.take_along_dim(x.unsqueeze(0), dm.tensor([2, 0]).reshape(2, 1, 1), 1),
        lambda a: np.take_along_axis(a[None], np.array([2, 0]).reshape(2, 1, 1), 1),
    ),
    "take_along_dim_flat": (
        lambda x: x.take_along_dim(dm.tensor([14, 0, 7])),
        lambda a: a.ravel()[[14, 0, 7]],
    ),
    "ravel": (lambda x: x.ravel(), np.ravel),
    "sum_to_size": (lambda x: x.sum_to_size(1, 5), lambda a: a.sum(0, keepdims=True)),
    "sum_to_size_lead": (
        lambda x: x.unsqueeze(0).expand(2, 3, 5).sum_to_size((3, 1)),
        lambda a: 2 * a.sum(1, keepdims=True),
    ),
    "tensor_split": (
        lambda x: dm.cat([p * (i + 1) for i, p in enumerate(x.tensor_split(2, dim=1))], 1),
        lambda a: np.concatenate([p * (i + 1) for i, p in enumerate(np.array_split(a, 2, 1))], 1),
    ),
    "tensor_split_indices": (
        lambda x: dm.cat([p * (i + 1) for i, p in enumerate(dm.tensor_split(x, [1, -1, 9], 1))], 1),
        lambda a: np.concatenate(
            [p * (i + 1) for i, p in enumerate(np.array_split(a, [1, -1, 9], 1))], 1
        ),
    ),
    "movedim": (
        lambda x: x.unsqueeze(2).movedim((0, 2), (2, 0)),
        lambda a: np.moveaxis(a[:, :, None], (0, 2), (2, 0)),
    ),
    "moveaxis": (lambda x: dm.moveaxis(x, 0, -1), lambda a: np.moveaxis(a, 0, -1)),
    "unflatten": (
        lambda x: x.reshape(15).unflatten(0, (5, -1)),
        lambda a: a.reshape(5, 3),
    ),
    "var_mean": (
        lambda x: dm.stack(dm.var_mean(x, 1)),
        lambda a: np.stack([a.var(1, ddof=1), a.mean(1)]),
    ),
    "std_mean_correction": (
        lambda x: dm.stack(dm.std_mean(x, (0, 1), correction=0, keepdim=True)),
        lambda a: np.stack([a.std(keepdims=True), a.mean(keepdims=True)]),
    ),
    "lerp_inplace": (
        lambda x: x.clone().lerp_(const(B, x.dtype), 0.25),
        lambda a: a + 0.25 * (B - a),
    ),
    "tril_inplace": (lambda x: x.clone().tril_(1), lambda a: np.tril(a, 1)),
    "triu_inplace": (lambda x: x.clone().triu_(-1), lambda a: np.triu(a, -1)),
}


def _set(a: np.ndarray, writes: list[tuple[int, int, float]]) -> np.ndarray:
    out = a.copy()
    for i, j, v in writes:
        out[i, j] = v
    return out


def _scatter_ref(a: np.ndarray, dim: int, index: np.ndarray, src: np.ndarray, op: Any) -> Any:
    out = a.copy()
    for i, j in np.ndindex(index.shape):
        at = (index[i, j], j) if dim == 0 else (i, index[i, j])
        out[at] = op(out[at], src[i, j])
    return out


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("name", list(CASES))
def test_values_match_numpy(name: str, dtype: str, layout: str) -> None:
    fn, ref = CASES[name]
    dt, tol = DTYPES[dtype]
    got = fn(make(A, dt, layout))
    if got.dtype.is_floating_point:
        assert got.dtype == dt, f"{name} returned {got.dtype}"
    close(got, ref(A), tol)


# Differentiable ones: name -> (function of float64 leaves, inputs). Inputs avoid the kinks
# (ties, integer quotients of fmod, zeros of the norm) where finite differences are undefined.
GRADS: dict[str, tuple[Callable[..., dm.Tensor], list[Any]]] = {
    "addcmul": (lambda x, t1, t2: x.addcmul(t1, t2, value=-0.5), [A, B, C]),
    "addcdiv": (lambda x, t1, t2: dm.addcdiv(x, t1, t2, value=3), [A, C, POS]),
    "clamp_min_tensor": (lambda x, m: x.clamp_min(m), [A, C + 0.05]),
    "clamp_max_scalar": (lambda x: x.clamp_max(0.15), [A]),
    "fmod": (lambda x, o: x.fmod(o), [A * 2.1, -POS]),
    "sinh": (lambda x: x.sinh(), [A * 2]),
    "cosh": (lambda x: x.cosh(), [A * 2]),
    "logaddexp": (lambda x, o: x.logaddexp(o), [A, B * 3]),
    "logaddexp_tie": (lambda x, o: dm.logaddexp(x, o), [C, C.copy()]),
    "nan_to_num": (lambda x: x.nan_to_num(), [A]),
    "dist": (lambda x, o: x.dist(o, 3), [A, B]),
    "nansum": (lambda x: x.nansum(0), [A]),
    "nanmean": (lambda x: x.nanmean(1, keepdim=True), [A]),
    "median_all": (lambda x: x.median(), [A]),
    "median_dim": (lambda x: x.median(1).values, [A]),
    "cumprod": (lambda x: x.cumprod(1), [A]),
    "cumprod_with_zero": (
        lambda x: x.cumprod(0),
        [np.array([[1.5, 0.0], [0.0, -2.0], [3.0, 0.5]])],
    ),
    "logcumsumexp": (lambda x: x.logcumsumexp(0), [A * 5]),
    "cummax": (lambda x: x.cummax(1).values, [A]),
    "cummin": (lambda x: x.cummin(0).values, [A]),
    "index_fill_tensor_value": (
        lambda x, v: x.index_fill(0, dm.tensor([1]), v.reshape(())),
        [A, [0.5]],
    ),
    "index_add": (
        lambda x, s: x.index_add(1, dm.tensor([4, 0, 4]), s, alpha=-1.5),
        [A, B[:, :3]],
    ),
    "index_copy": (lambda x, s: x.index_copy(0, dm.tensor([2, 0]), s), [A, B[:2]]),
    "scatter_src": (
        lambda x, s: x.scatter(1, dm.tensor([[1, 2], [0, 4], [2, 3]]), s),
        [A, B],
    ),
    "scatter_multiply": (
        lambda x, s: x.scatter(
            0, dm.tensor([[1, 0, 2, 2, 1], [1, 1, 2, 0, 0]]), s, reduce="multiply"
        ),
        [A, B],
    ),
    "scatter_add_": (
        lambda x, s: (x * 1).scatter_add_(0, dm.tensor([[2, 0, 0, 1, 2]]), s),
        [A, B],
    ),
    "take_along_dim": (
        lambda x: x.take_along_dim(dm.tensor([[1, 1, 4], [0, 2, 3], [4, 4, 4]]), 1),
        [A],
    ),
    "tensor_split": (lambda x: x.tensor_split([2, 3], 1)[2] * 2, [A]),
    "movedim_unflatten": (lambda x: x.unflatten(1, (5, 1)).movedim(0, 2), [A]),
    "sum_to_size": (lambda x: x.sum_to_size(3, 1), [A]),
    "var_mean": (lambda x: dm.var_mean(x, 0)[0] + dm.var_mean(x, 0)[1] * 2, [A]),
    "std_mean": (lambda x: dm.std_mean(x, 1, keepdim=True)[0], [A]),
    # In place on a non-leaf: the gradient flows through the written values.
    "addcmul_": (lambda x, t: (x * 1).addcmul_(t, t, value=0.3), [A, B]),
    "addcdiv_": (lambda x, t: (x * 1).addcdiv_(t, t * t + 1), [A, B]),
    "lerp_": (lambda x, e: (x * 1).lerp_(e, 0.3), [A, B]),
    "clamp_min_": (lambda x: (x * 1).clamp_min_(0.1), [A]),
    "index_fill_": (lambda x: (x * 1).index_fill_(1, dm.tensor([2]), 0.0), [A]),
    "index_add_": (lambda x, s: (x * 1).index_add_(0, dm.tensor([0]), s), [A, B[:1]]),
    "index_copy_": (lambda x, s: (x * 1).index_copy_(1, dm.tensor([0]), s), [A, B[:, :1]]),
    "scatter_": (lambda x, s: (x * 1).scatter_(0, dm.tensor([[2, 1, 0, 0, 1]]), s), [A, B]),
    "tril_": (lambda x: (x * 1).tril_(), [A]),
    "nan_to_num_": (lambda x: (x * 1).nan_to_num_(), [A]),
}


@pytest.mark.parametrize("name", list(GRADS))
def test_gradients_match_finite_differences(name: str) -> None:
    fn, arrays = GRADS[name]
    gradcheck(fn, [leaf(a) for a in arrays])


# ---- PyTorch's particular rules -------------------------------------------------------------


def test_clamp_min_max_ties_and_nan_follow_pytorch() -> None:
    x, m = leaf([1.0, 2.0, 3.0]), leaf([2.0, 2.0, 2.0])
    x.clamp_min(m).sum().backward()
    # (PyTorch 2.15: a tensor bound gives maximum's gradient, half each at a tie.)
    assert x.grad.tolist() == [0.0, 0.5, 1.0] and m.grad.tolist() == [1.0, 0.5, 0.0]
    nan = float("nan")
    got = dm.tensor([nan, 1.0, 5.0]).clamp_min(2.0).tolist()
    assert np.isnan(got[0]) and got[1:] == [2.0, 5.0]
    assert np.isnan(dm.tensor([1.0]).clamp_max(dm.tensor([nan])).item())
    r = dm.tensor([1, 5]).clamp_min(2.5)  # an integer tensor and a float bound: float result
    assert r.dtype == dm.float32 and r.tolist() == [2.5, 5.0]
    assert dm.tensor([1, 5]).clamp_max(3).tolist() == [1, 3]


def test_fmod_takes_the_sign_of_the_dividend_for_floats_and_ints() -> None:
    a = np.array([7.5, -7.5, 7.5, -7.5, 3.0, 1e-8])
    b = np.array([2.0, 2.0, -2.0, -2.0, np.inf, -3.0])
    close(dm.tensor(a).fmod(dm.tensor(b)), np.fmod(a, b), 0)
    ai, bi = np.array([7, -7, 7, -7, 6]), np.array([3, 3, -3, -3, 4])
    got = dm.fmod(dm.tensor(ai), dm.tensor(bi))
    assert got.dtype == dm.int64 and got.tolist() == np.fmod(ai, bi).tolist()
    i32 = dm.tensor([-5, 5], dtype=dm.int32).fmod(3)
    assert i32.dtype == dm.int32 and i32.tolist() == [-2, 2]
    assert dm.tensor([5]).fmod(1.5).dtype == dm.float32


def test_sinh_cosh_are_accurate_near_zero_and_near_overflow() -> None:
    small = np.array([1e-9, -3e-7, 0.0])
    close(dm.tensor(small).sinh(), np.sinh(small), 1e-15, atol=0)
    big = np.array([88.5, -89.0], dtype=np.float32)
    got = dm.tensor(big).sinh()
    assert got.dtype == dm.float32 and np.isfinite(got.numpy()).all()
    np.testing.assert_allclose(got.numpy(), np.sinh(big), rtol=1e-5)
    np.testing.assert_allclose(dm.tensor(big).cosh().numpy(), np.cosh(big), rtol=1e-5)
    assert dm.tensor([1, 2]).sinh().dtype == dm.float32  # integer input: float result


def test_logaddexp_and_logcumsumexp_handle_infinities_and_wide_ranges() -> None:
    inf = np.inf
    a = np.array([-inf, inf, -inf, 0.0, 1000.0, 0.0, -40.0])
    b = np.array([-inf, inf, 3.0, -20.0, 1000.0, -inf, 0.0])
    # Relative accuracy where the result is tiny (log1p, not log(1 + .)).
    close(dm.tensor(a).logaddexp(dm.tensor(b)), np.logaddexp(a, b), 1e-14, atol=0)
    wide = np.array([[-1000.0, 0.0, -inf, 5.0, 1000.0]])
    close(dm.tensor(wide).logcumsumexp(1), np.logaddexp.accumulate(wide, 1), 1e-15)
    assert dm.logcumsumexp(dm.zeros(0, 3), 0).shape == (0, 3)


def test_nan_to_num_replaces_nan_and_infinities() -> None:
    a = np.array([np.nan, np.inf, -np.inf, 1.5])
    for dt, npdt in ((dm.float32, np.float32), (dm.float64, np.float64)):
        close(dm.tensor(a, dtype=dt).nan_to_num(), np.nan_to_num(a.astype(npdt)), 0)
    got = dm.nan_to_num(dm.tensor(a), nan=-1.0, posinf=7.0, neginf=-7.0)
    assert got.tolist() == [-1.0, 7.0, -7.0, 1.5]
    half = dm.tensor(a, dtype=dm.float16).nan_to_num()
    assert half.dtype == dm.float16 and half.tolist() == [0.0, 65504.0, -65504.0, 1.5]
    x = leaf(a)
    x.nan_to_num().sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 1.0]
    ints = dm.tensor([1, 2])
    assert ints.nan_to_num().tolist() == [1, 2]


def test_nansum_and_nanmean_skip_nan() -> None:
    a = A.copy()
    a[0, 1] = a[2, 4] = np.nan
    a[1, :] = np.nan
    for dt, tol in DTYPES.values():
        x = dm.tensor(a, dtype=dt)
        close(x.nansum(), np.nansum(a), tol)
        close(dm.nansum(x, 1, keepdim=True), np.nansum(a, 1, keepdims=True), tol)
        with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
            want = np.nanmean(a, 1)
        close(x.nanmean(1), want, tol)  # the all-NaN row gives NaN
    x = leaf(a)
    x.nansum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (~np.isnan(a)).astype(float))
    assert dm.nansum(dm.tensor([1, 2, 3])).tolist() == 6
    assert dm.zeros(0).nansum().item() == 0.0
    with pytest.raises(dm.DTypeError, match="floating point"):
        dm.tensor([1, 2]).nanmean()


def test_count_nonzero_counts_nan_and_reduces_over_dims() -> None:
    a = np.array([[0.0, np.nan, 2.0], [0.0, 0.0, -1.0]])
    x = dm.tensor(a)
    got = x.count_nonzero()
    assert got.dtype == dm.int64 and got.item() == 3
    assert dm.count_nonzero(x, 0).tolist() == [0, 1, 2]
    assert x.count_nonzero((0, 1)).item() == 3
    assert dm.zeros(0, 2).count_nonzero(0).tolist() == [0, 0]


def test_median_is_the_lower_median_propagates_nan_and_shares_the_gradient_of_ties() -> None:
    assert dm.tensor([4.0, 1.0, 3.0, 2.0]).median().item() == 2.0
    assert dm.tensor([5, 1, 3]).median().item() == 3
    x = leaf([1.0, 2.0, 3.0, 2.0, 0.0])
    m = x.median()
    assert m.shape == () and m.item() == 2.0
    m.backward()
    assert x.grad.tolist() == [0.0, 0.5, 0.0, 0.5, 0.0]
    nan = np.nan
    assert np.isnan(dm.tensor([1.0, nan, 3.0]).median().item())
    assert np.isnan(dm.zeros(0).median().item())
    r = dm.tensor([[1.0, nan, 5.0, nan], [4.0, 3.0, 2.0, 1.0]]).median(1)
    assert r.indices.tolist() == [1, 2]  # the first NaN; the lower middle value
    assert np.isnan(r.values[0].item()) and r.values[1].item() == 2.0
    values, indices = dm.median(dm.tensor([[2.0, 7.0, 7.0]]), dim=-1, keepdim=True)
    assert values.tolist() == [[7.0]] and indices.tolist() == [[1]] and indices.dtype == dm.int64
    z = dm.tensor(3.0).median(0)
    assert z.values.item() == 3.0 and z.indices.item() == 0
    with pytest.raises(IndexError, match="non-zero size"):
        dm.zeros(2, 0).median(1)
    with pytest.raises(IndexError):
        dm.ones(2, 3).median(2)


def test_cummax_cummin_indices_follow_pytorch_ties_and_nan() -> None:
    a = np.array([[1.0, 3.0, 2.0, 3.0, np.nan, 5.0, np.nan], [2.0, 2.0, 1.0, 1.0, 0.0, 4.0, 0.0]])
    for largest, op in ((True, dm.cummax), (False, dm.cummin)):
        want_v, want_i = cummax_ref(a, largest)
        for layout in ("contiguous", "transposed"):
            got = op(make(a, dm.float64, layout), 1)
            close(got.values, want_v, 0)
            assert got.indices.tolist() == want_i.tolist()
    ints = dm.tensor([3, 1, 4, 1, 5]).cummin(0)
    assert ints.values.tolist() == [3, 1, 1, 1, 1] and ints.indices.tolist() == [0, 1, 1, 3, 3]
    e = dm.zeros(2, 0).cummax(1)
    assert e.values.shape == (2, 0) and e.indices.shape == (2, 0)


def test_cumprod_promotes_integers_and_keeps_empty_dims() -> None:
    got = dm.tensor([1, 2, 3, 4], dtype=dm.int32).cumprod(0)
    assert got.dtype == dm.int64 and got.tolist() == [1, 2, 6, 24]
    assert dm.tensor([True, True, False]).cumprod(0).tolist() == [1, 1, 0]
    assert dm.ones(3, 2).cumprod(0, dtype=dm.float64).dtype == dm.float64
    assert dm.zeros(0, 3).cumprod(0).shape == (0, 3)
    assert dm.tensor(2.5).cumprod(0).item() == 2.5


def test_empty_tensors() -> None:
    e = dm.zeros(0, 5)
    assert e.addcmul(dm.ones(0, 5), dm.ones(5)).shape == (0, 5)
    assert e.sinh().shape == (0, 5) and e.logaddexp(dm.zeros(5)).shape == (0, 5)
    x = dm.ones(2, 3)
    assert x.index_add(0, dm.zeros(0, dtype=dm.int64), dm.zeros(0, 3)).tolist() == x.tolist()
    assert x.index_copy(1, dm.zeros(0, dtype=dm.int64), dm.zeros(2, 0)).tolist() == x.tolist()
    assert x.scatter(0, dm.zeros(0, 3, dtype=dm.int64), 5.0).tolist() == x.tolist()
    assert [p.shape for p in dm.zeros(0).tensor_split(2)] == [(0,), (0,)]
    assert dm.zeros(0, 4).ravel().shape == (0,)


# ---- in place on a leaf under no_grad (optimizer updates) -----------------------------------


def test_inplace_forms_update_a_leaf_under_no_grad() -> None:
    p = dm.tensor(A.copy(), requires_grad=True)
    g = dm.tensor(B)
    with dm.no_grad():
        assert p.addcmul_(g, g, value=-0.1) is p
        p.addcdiv_(g, dm.tensor(POS), value=0.5)
        p.lerp_(dm.zeros(3, 5, dtype=dm.float64), 0.5)
        p.clamp_min_(-1.0).clamp_max_(1.0)
        p.index_add_(0, dm.tensor([1]), dm.ones(1, 5, dtype=dm.float64), alpha=2)
    want = np.clip((A - 0.1 * B * B + 0.5 * B / POS) * 0.5, -1, 1)
    want[1] += 2
    close(p, want, 1e-12)
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    with dm.no_grad():
        p.index_fill_(1, dm.tensor([0]), 0.0).index_copy_(
            0, dm.tensor([2]), dm.zeros(1, 5, dtype=dm.float64)
        )
        p.scatter_(1, dm.tensor([[4], [4], [4]]), 3.0).scatter_add_(
            0, dm.tensor([[0, 0, 0, 0, 0]]), dm.ones(1, 5, dtype=dm.float64)
        )
        p.tril_().triu_(-1).nan_to_num_().fill_diagonal_(-5.0)
    q = np.where(np.isin(np.arange(5), [0]), 0.0, want)
    q[2] = 0.0
    q[:, 4] = 3.0
    q[0] += 1
    q = np.triu(np.tril(q), -1)
    np.fill_diagonal(q, -5.0)
    close(p, q, 1e-12)
    p.sum().backward()
    assert p.grad.tolist() == np.ones((3, 5)).tolist()


def test_inplace_checks_shape_dtype_and_leaf() -> None:
    p = dm.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        p.addcmul_(dm.ones(3), dm.ones(3))  # outside no_grad, as PyTorch
    with pytest.raises(ValueError):
        dm.ones(3).addcmul_(dm.ones(2, 3), dm.ones(3))  # the result would not fit
    with pytest.raises(dm.DTypeError, match="can't be cast"):
        dm.tensor([1, 2]).clamp_min_(0.5)
    x = dm.tensor([1, 2])
    assert x.addcmul_(dm.tensor([2, 2]), dm.tensor([3, 3])) is x and x.tolist() == [7, 8]


# ---- index ops: PyTorch's rules and errors --------------------------------------------------


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
@pytest.mark.parametrize("dtype", [dm.float32, dm.float64, dm.int64, dm.int32, dm.bfloat16])
def test_index_add_matches_numpy_on_views_along_every_dim(dim: int, dtype: dm.dtype) -> None:
    """``index_add`` adds whole slices (an accumulating index_put): the same sums as NumPy's
    ``np.add.at`` for repeated indices, a transposed ``self`` and ``source``, and alpha."""
    x = RNG.integers(-4, 5, (4, 6, 5)).astype(np.float64)
    d = dim % 3
    idx = np.array([1, 0, 1, 3, 1])[: x.shape[d] - 1]
    src_shape = list(x.shape)
    src_shape[d] = len(idx)
    src = RNG.integers(-4, 5, src_shape).astype(np.float64)
    want = x.copy()
    np.add.at(want, (slice(None),) * d + (idx,), 2 * src)
    # Non-contiguous operands with the same values: transposed copies, transposed back.
    xt = dm.tensor(x.transpose(2, 1, 0).copy(), dtype=dtype).permute(2, 1, 0)
    st = dm.tensor(src.transpose(2, 1, 0).copy(), dtype=dtype).permute(2, 1, 0)
    assert not xt.is_contiguous() and not st.is_contiguous()
    got = xt.index_add(dim, dm.tensor(idx), st, alpha=2)
    assert got.dtype == dtype and got.shape == x.shape
    np.testing.assert_array_equal(got.double().numpy(), want)
    assert xt.double().numpy().tolist() == x.tolist()  # self is not modified


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", [dm.float32, dm.float64, dm.int64, dm.bool, dm.bfloat16])
def test_scatter_matches_numpy_with_repeats_views_and_a_smaller_index(dim: int, dtype) -> None:
    """``scatter`` (the engine's, for an index of ``self``'s shape outside ``dim``; index_put
    at flat targets for a smaller one): the last write in row-major order wins, as NumPy's
    fancy assignment, on transposed operands and a larger ``src``."""
    x = RNG.integers(0, 2, (4, 5)).astype(np.float64)
    d = dim % 2
    for shape in ((4, 5), (3, 4) if d == 0 else (3, 5)):
        ishape = list(shape)
        ishape[1 - d] = x.shape[1 - d] if shape == (4, 5) else ishape[1 - d]
        idx = RNG.integers(0, x.shape[d], ishape)
        src = RNG.integers(0, 2, (6, 7)).astype(np.float64)
        want = x.copy()
        for p in np.ndindex(*idx.shape):
            q = list(p)
            q[d] = idx[p]
            want[tuple(q)] = src[p]
        xt = dm.tensor(x.T.copy(), dtype=dtype).T
        st = dm.tensor(src.T.copy(), dtype=dtype).T
        got = xt.scatter(dim, dm.tensor(idx), st)
        assert got.dtype == dtype and tuple(got.shape) == x.shape
        np.testing.assert_array_equal(got.double().numpy(), want)
        np.testing.assert_array_equal(xt.double().numpy(), x)


def test_scatter_gradients_skip_the_overwritten_positions() -> None:
    x = dm.tensor(A, requires_grad=True)
    s = dm.tensor(B, requires_grad=True)
    idx = dm.tensor([[1, 1, 0, 2, 4], [0, 3, 3, 1, 1], [2, 2, 2, 0, 0]])
    g = RNG.standard_normal((3, 5))
    x.scatter(1, idx, s).backward(dm.tensor(g))
    hit = np.zeros((3, 5), bool)
    np.put_along_axis(hit, idx.numpy(), True, 1)
    np.testing.assert_array_equal(x.grad.numpy(), np.where(hit, 0.0, g))
    np.testing.assert_array_equal(s.grad.numpy(), np.take_along_axis(g, idx.numpy(), 1))
    assert x.scatter(1, idx, s).grad_fn.name() == "ScatterBackward0"
    gradcheck(lambda a, b: a.scatter(0, dm.tensor([[2, 0, 1, 0, 2]]), b), [leaf(A), leaf(B)])


def test_index_add_gradients_reach_self_and_the_repeated_slices() -> None:
    x = dm.tensor(A, requires_grad=True)
    s = dm.tensor(RNG.standard_normal((3, 2)), requires_grad=True)
    g = RNG.standard_normal((3, 5))
    x.index_add(1, dm.tensor([4, 4]), s, alpha=3).backward(dm.tensor(g))
    np.testing.assert_array_equal(x.grad.numpy(), g)
    np.testing.assert_allclose(s.grad.numpy(), 3 * g[:, [4, 4]], rtol=1e-6)


def test_index_ops_handle_repeats_like_pytorch() -> None:
    x = dm.zeros(3)
    # index_add accumulates repeats; index_copy and scatter keep the last write.
    assert x.index_add(0, dm.tensor([1, 1, 1]), dm.tensor([1.0, 2.0, 4.0])).tolist() == [0, 7, 0]
    assert x.index_copy(0, dm.tensor([1, 1]), dm.tensor([1.0, 2.0])).tolist() == [0, 2, 0]
    got = x.scatter(0, dm.tensor([2, 2, 0]), dm.tensor([1.0, 2.0, 3.0]))
    assert got.tolist() == [3.0, 0.0, 2.0]
    assert dm.ones(3).scatter(0, dm.tensor([1, 1]), 3.0, reduce="multiply").tolist() == [1, 9, 1]
    # A 0-d tensor and a 0-d index.
    assert dm.tensor(1.0).index_fill(0, dm.tensor(0), 4.0).item() == 4.0
    assert dm.tensor(1.0).index_add(0, dm.tensor([0]), dm.tensor(2.0)).item() == 3.0
    assert dm.tensor(1.0).scatter(0, dm.tensor(0), 6.0).item() == 6.0
    # Integer tensors and an integer fill value cast as PyTorch does.
    assert dm.tensor([1, 2, 3]).index_fill(0, dm.tensor([1]), 2.7).tolist() == [1, 2, 3]
    # Tensor fill values.
    v = dm.tensor(0.5, requires_grad=True)
    dm.index_fill(dm.zeros(2, 2), 0, dm.tensor([0]), v).sum().backward()
    assert v.grad.item() == 2.0


BAD_INDEX = {
    "index_fill": lambda x, i: x.index_fill(1, i, 0.0),
    "index_add": lambda x, i: x.index_add(1, i, dm.ones(2, 1)),
    "index_copy": lambda x, i: x.index_copy(1, i, dm.ones(2, 1)),
    "scatter": lambda x, i: x.scatter(1, i.reshape(1, 1), 1.0),
    "scatter_src": lambda x, i: x.scatter(1, i.reshape(1, 1), dm.ones(1, 1)),
    "scatter_add_": lambda x, i: x.scatter_add_(1, i.reshape(1, 1), dm.ones(1, 1)),
    "take_along_dim": lambda x, i: x.take_along_dim(i.reshape(1, 1), 1),
}


@pytest.mark.parametrize("name", list(BAD_INDEX))
@pytest.mark.parametrize("bad", [3, -4])
def test_out_of_range_indices_raise_index_error(name: str, bad: int) -> None:
    with pytest.raises(IndexError):
        BAD_INDEX[name](dm.zeros(2, 3), dm.tensor([bad]))


def test_bad_dims_shapes_and_dtypes_raise_typed_errors() -> None:
    x = dm.zeros(2, 3)
    i = dm.tensor([0])
    for call in (
        lambda: x.index_fill(2, i, 0.0),
        lambda: x.index_add(-3, i, dm.ones(1, 3)),
        lambda: x.cummax(2),
        lambda: x.cumprod(5),
        lambda: x.movedim(0, 2),
        lambda: x.unflatten(3, (1,)),
        lambda: x.logcumsumexp(-3),
        lambda: x.scatter(2, dm.zeros(2, 3, dtype=dm.int64), 0.0),
    ):
        with pytest.raises(IndexError):
            call()
    for call in (
        lambda: x.addcmul(dm.ones(4), dm.ones(4)),
        lambda: x.index_add(0, dm.tensor([0, 1]), dm.ones(1, 3)),
        lambda: x.index_add(0, i, dm.ones(1, 2)),
        lambda: x.index_copy(1, i, dm.ones(3, 1)),
        lambda: x.index_fill(0, dm.tensor([[0]]), 1.0),
        lambda: x.index_fill(0, i, dm.ones(2)),
        lambda: x.scatter(0, dm.zeros(2, 4, dtype=dm.int64), 0.0),
        lambda: x.scatter(0, dm.zeros(3, dtype=dm.int64), 0.0),
        lambda: x.scatter(0, dm.zeros(1, 3, dtype=dm.int64), dm.ones(1, 2)),
        lambda: x.take_along_dim(dm.zeros(2, dtype=dm.int64), 0),
        lambda: x.take_along_dim(dm.zeros(2, 2, dtype=dm.int64), 0),
        lambda: x.sum_to_size(2),
        lambda: x.sum_to_size(1, 2, 3),
        lambda: x.unflatten(1, (2, 2)),
        lambda: x.unflatten(1, (-1, 2)),
        lambda: x.unflatten(1, (-1, -1)),
        lambda: x.movedim((0, 1), 0),
        lambda: x.movedim((0, 0), (0, 1)),
        lambda: x.tensor_split(0),
        lambda: dm.tensor(1.0).tensor_split(1),
        lambda: dm.zeros(2, 3, 2).fill_diagonal_(1.0),
        lambda: dm.zeros(3).fill_diagonal_(1.0),
        lambda: x.scatter(0, i.reshape(1, 1), 1.0, reduce="mean"),
        lambda: dm.searchsorted(dm.ones(2, 3), dm.ones(3, 1)),
        lambda: dm.searchsorted(dm.ones(2, 3), 1.0),
        lambda: dm.searchsorted(dm.ones(3), 1.0, side="left", right=True),
        lambda: dm.bucketize(dm.ones(2), dm.ones(2, 2)),
        lambda: dm.zeros(2).exponential_(0.0),
    ):
        with pytest.raises(ValueError):
            call()
    for call in (
        lambda: x.index_add(0, i, dm.ones(1, 3, dtype=dm.float64)),
        lambda: x.index_copy(0, i, dm.ones(1, 3, dtype=dm.float64)),
        lambda: x.index_fill(0, dm.tensor([0.0]), 1.0),
        lambda: x.scatter(0, dm.zeros(1, 3), 1.0),
        lambda: x.scatter(0, dm.zeros(1, 3, dtype=dm.int64), dm.ones(1, 3, dtype=dm.float64)),
        lambda: dm.tensor([1, 2]).addcdiv(dm.tensor([1]), dm.tensor([2])),
        lambda: dm.tensor([1, 2]).addcmul(dm.tensor([1]), dm.tensor([2]), value=0.5),
        lambda: dm.tensor([1, 2]).exponential_(),
        lambda: x.tensor_split(dm.tensor([1.0])),
        lambda: dm.addcmul(5, dm.ones(1), dm.ones(1)),
        lambda: dm.median([1.0, 2.0]),
        lambda: x.scatter(0, i.reshape(1, 1)),
    ):
        with pytest.raises(TypeError):
            call()


# ---- shapes ---------------------------------------------------------------------------------


def test_tensor_split_matches_numpy_array_split() -> None:
    a = np.arange(7.0)
    for spec in (1, 3, 7, 9, [2, 5], [0, 7], [5, 2], [-3, -1], [10]):
        got = dm.tensor(a).tensor_split(spec)
        want = np.array_split(a, spec)
        assert isinstance(got, tuple) and [p.tolist() for p in got] == [w.tolist() for w in want]
    assert [p.tolist() for p in dm.arange(5).tensor_split(dm.tensor(2))] == [[0, 1, 2], [3, 4]]
    by_tensor = dm.tensor_split(dm.arange(5), dm.tensor([1, 3]))
    assert [p.tolist() for p in by_tensor] == [[0], [1, 2], [3, 4]]
    rows = dm.ones(4, 2).t().tensor_split(3, dim=1)
    assert [p.shape for p in rows] == [(2, 2), (2, 1), (2, 1)]


def test_movedim_unflatten_ravel_sum_to_size_shapes() -> None:
    x = dm.zeros(2, 3, 4, 5)
    assert x.movedim(1, -1).shape == (2, 4, 5, 3)
    assert (
        x.movedim((3, 0), (0, 3)).shape == np.moveaxis(np.zeros((2, 3, 4, 5)), (3, 0), (0, 3)).shape
    )
    assert dm.movedim(dm.tensor(1.0), 0, -1).shape == ()
    assert x.unflatten(-1, (1, 5, 1)).shape == (2, 3, 4, 1, 5, 1)
    assert dm.unflatten(dm.zeros(0, 6), 1, (-1, 3)).shape == (0, 2, 3)
    t = dm.arange(6).reshape(2, 3).t()
    assert t.ravel().tolist() == [0, 3, 1, 4, 2, 5] and t.ravel().is_contiguous()
    assert dm.ones(2, 3).sum_to_size(2, 3).tolist() == dm.ones(2, 3).tolist()
    assert dm.ones(2, 3).sum_to_size([]).item() == 6.0


def test_nbytes_and_itemsize_properties() -> None:
    for dt, size in (
        (dm.float32, 4),
        (dm.float64, 8),
        (dm.float16, 2),
        (dm.bfloat16, 2),
        (dm.int64, 8),
        (dm.int32, 4),
        (dm.bool, 1),
    ):
        t = dm.zeros(2, 3, dtype=dt)
        assert t.itemsize == size and t.nbytes == 6 * size
    assert dm.zeros(0, 4).nbytes == 0
    assert isinstance(type(dm.zeros(1)).__dict__["nbytes"], property)


def test_var_mean_std_mean_forms() -> None:
    x = dm.tensor(A)
    v, m = dm.var_mean(x)
    close(v, A.var(ddof=1), 1e-12)
    close(m, A.mean(), 1e-12)
    v, m = dm.var_mean(x, False)  # the older (input, unbiased) form
    close(v, A.var(), 1e-12)
    s, m = dm.std_mean(x, 0, True, True)
    close(s, A.std(0, ddof=1, keepdims=True), 1e-12)
    close(m, A.mean(0, keepdims=True), 1e-12)
    assert not hasattr(x, "var_mean")  # a free function only, as in PyTorch


# ---- sorted search --------------------------------------------------------------------------


def test_searchsorted_and_bucketize_match_numpy() -> None:
    seq = np.array([1.0, 3.0, 3.0, 5.0, 7.0])
    vals = np.array([[0.0, 3.0, 6.0], [7.0, 8.0, 3.0]])
    for side in ("left", "right"):
        got = dm.searchsorted(dm.tensor(seq), dm.tensor(vals), side=side)
        assert got.dtype == dm.int64 and got.tolist() == np.searchsorted(seq, vals, side).tolist()
    right = dm.searchsorted(dm.tensor(seq), dm.tensor(vals), right=True, out_int32=True)
    assert (
        right.dtype == dm.int32 and right.tolist() == np.searchsorted(seq, vals, "right").tolist()
    )
    scalar = dm.searchsorted(dm.tensor(seq), 3.0)
    assert scalar.shape == () and scalar.item() == 1
    rows = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    got = dm.searchsorted(dm.tensor(rows), dm.tensor([[2.5, 0.0], [25.0, 31.0]]))
    assert got.tolist() == [[2, 0], [2, 3]]
    unsorted = np.array([5.0, 1.0, 3.0])
    order = np.argsort(unsorted)
    got = dm.searchsorted(dm.tensor(unsorted), dm.tensor([2.0, 4.0]), sorter=dm.tensor(order))
    assert got.tolist() == np.searchsorted(unsorted, [2.0, 4.0], sorter=order).tolist()
    bounds = np.array([1, 3, 5, 7])
    v = np.array([[0, 1, 3], [6, 7, 9]])
    # bucketize: right=False is boundaries[i-1] < v <= boundaries[i] (searchsorted's left).
    assert (
        dm.bucketize(dm.tensor(v), dm.tensor(bounds)).tolist()
        == np.digitize(v, bounds, right=True).tolist()
    )
    assert (
        dm.bucketize(dm.tensor(v), dm.tensor(bounds), right=True).tolist()
        == np.digitize(v, bounds).tolist()
    )
    assert dm.bucketize(4, dm.tensor(bounds)).item() == 2
    assert (
        dm.bucketize(dm.tensor(v).t(), dm.tensor(bounds)).tolist()
        == np.digitize(v.T, bounds, right=True).tolist()
    )


# ---- random fills ---------------------------------------------------------------------------


def test_bernoulli_and_exponential_fills() -> None:
    dm.manual_seed(3)
    x = dm.zeros(20000).bernoulli_(0.3)
    assert x.dtype == dm.float32 and set(np.unique(x.numpy())) <= {0.0, 1.0}
    assert abs(x.mean().item() - 0.3) < 0.02
    assert dm.zeros(4).bernoulli_(dm.tensor([0.0, 1.0, 1.0, 0.0])).tolist() == [0, 1, 1, 0]
    assert dm.zeros(2, 2, dtype=dm.int64).bernoulli_(1.0).tolist() == [[1, 1], [1, 1]]
    dm.manual_seed(5)
    first = dm.zeros(6).bernoulli_(0.5).tolist()
    dm.manual_seed(5)
    assert dm.zeros(6).bernoulli_(0.5).tolist() == first
    gen = dm.Generator().manual_seed(9)
    a = dm.zeros(6, dtype=dm.float64).exponential_(2.0, generator=gen).tolist()
    b = dm.zeros(6, dtype=dm.float64).exponential_(2.0, generator=dm.Generator().manual_seed(9))
    assert a == b.tolist()
    e = dm.zeros(20000, dtype=dm.float64).exponential_(4.0)
    assert e.min().item() >= 0 and abs(e.mean().item() - 0.25) < 0.01
    p = dm.ones(3, requires_grad=True)
    with dm.no_grad():
        p.bernoulli_(0.0).exponential_()
    assert p.is_leaf and p.requires_grad and (p >= 0).all()
    with pytest.raises(ValueError):
        dm.zeros(2).bernoulli_(1.5)


FREE = (
    "addcmul addcdiv clamp_min clamp_max sgn fmod sinh cosh logaddexp nan_to_num dist nansum "
    "nanmean count_nonzero median cumprod logcumsumexp cummax cummin index_fill index_add "
    "index_copy scatter take_along_dim ravel tensor_split movedim moveaxis unflatten var_mean "
    "std_mean searchsorted bucketize"
).split()


def test_free_functions_are_exported_like_torch() -> None:
    x = dm.tensor(A)
    for name in FREE:
        assert callable(getattr(dm, name)), name
    assert dm.sgn(x).tolist() == x.sgn().tolist()
    assert dm.ravel(x).tolist() == x.ravel().tolist()
    assert dm.cummax(x, 0).indices.tolist() == x.cummax(0).indices.tolist()
    for name in ("var_mean", "std_mean", "searchsorted", "bucketize"):
        assert not hasattr(x, name)  # free functions only, as in PyTorch
    with pytest.raises(TypeError, match="must be Tensor"):
        dm.sinh(1.0)
