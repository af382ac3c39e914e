"""PyTorch's indexing and scatter ops written over engine ops (``democratising._index_functions``):
values against NumPy references (contiguous and transposed inputs, duplicates, negative
indices, bool masks, empty tensors), gradients in the written-into tensor and the written
values against float64 finite differences, in-place forms, and typed errors for bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import democratising as dm
from helpers import gradcheck

RNG = np.random.default_rng(5)


def leaf(a: Any) -> dm.Tensor:
    return dm.tensor(np.asarray(a, dtype=np.float64), dtype=dm.float64, requires_grad=True)


def t(a: Any, dtype: Any = None) -> dm.Tensor:
    return dm.tensor(np.asarray(a), dtype=dtype)


def host(x: dm.Tensor) -> np.ndarray:
    return x.detach().numpy()


def idx(a: Any) -> dm.Tensor:
    return dm.tensor(np.asarray(a, dtype=np.int64))


# ---- index_put / put ---------------------------------------------------------------------------


def test_index_put_matches_numpy() -> None:
    a = RNG.standard_normal((4, 5))
    rows, cols = np.array([0, -1, 2]), np.array([1, 3, 0])
    v = RNG.standard_normal(3)
    ref = a.copy()
    ref[rows, cols] = v
    got = dm.tensor(a).index_put((idx(rows), idx(cols)), dm.tensor(v))
    np.testing.assert_array_equal(host(got), ref)
    # a bool mask, values broadcast over the rows it selects
    mask = np.array([True, False, True, False])
    ref = a.copy()
    ref[mask] = v[:1]
    got = dm.index_put(dm.tensor(a), (t(mask),), dm.tensor(v[:1]))
    np.testing.assert_array_equal(host(got), ref)
    # fewer indices than dims: whole trailing rows
    row_vals = RNG.standard_normal((2, 5))
    ref = a.copy()
    ref[[3, 1]] = row_vals
    np.testing.assert_array_equal(
        host(dm.tensor(a).index_put([idx([3, 1])], dm.tensor(row_vals))), ref
    )


def test_index_put_accumulate_and_duplicates() -> None:
    a = np.zeros((3, 4))
    r, c = np.array([0, 0, 2, 0]), np.array([1, 1, 3, 1])
    v = np.array([1.0, 2.0, 3.0, 4.0])
    ref = a.copy()
    np.add.at(ref, (r, c), v)
    got = dm.tensor(a).index_put((idx(r), idx(c)), dm.tensor(v), accumulate=True)
    np.testing.assert_array_equal(host(got), ref)
    got = dm.tensor(a).index_put((idx(r), idx(c)), dm.tensor(v))  # last write wins
    assert host(got)[0, 1] == 4.0 and host(got)[2, 3] == 3.0


def test_index_put_in_place_non_contiguous() -> None:
    a = RNG.standard_normal((3, 4))
    x = dm.tensor(a).t()  # (4, 3), non-contiguous
    ref = a.T.copy()
    ref[[1, 2], [0, 2]] = [7.0, 8.0]
    out = x.index_put_((idx([1, 2]), idx([0, 2])), dm.tensor(np.array([7.0, 8.0])))
    assert out is x
    np.testing.assert_array_equal(host(x), ref)


def test_index_put_gradients() -> None:
    a, v = RNG.standard_normal((4, 3)), RNG.standard_normal(4)
    # (A repeated position without accumulate: PyTorch gives every write the gradient, which
    # finite differences do not see; test_fuzzidx_s24 checks that case against PyTorch.)
    unique, repeated = (
        (idx([0, 3, 2, 1]), idx([2, 0, 0, 1])),
        (idx([0, 3, 3, 1]), idx([2, 0, 0, 1])),
    )
    for acc, keys in ((False, unique), (True, unique), (True, repeated)):
        gradcheck(
            lambda x, w, acc=acc, keys=keys: x.index_put(keys, w, accumulate=acc),
            [leaf(a), leaf(v)],
        )


def test_index_put_empty_and_errors() -> None:
    x = dm.zeros(3, 2)
    assert dm.equal(x.index_put((idx([]),), dm.zeros(0, 2)), x)
    assert dm.zeros(0, 3).index_put((idx([]),), dm.tensor(1.0)).shape == (0, 3)
    with pytest.raises(dm.IndexOutOfRangeError):
        x.index_put((idx([3]),), dm.tensor(1.0))
    with pytest.raises(dm.IndexOutOfRangeError):
        x.index_put((idx([0]), idx([0]), idx([0])), dm.tensor(1.0))
    with pytest.raises(dm.DTypeError):
        x.index_put((dm.tensor([0.0]),), dm.tensor(1.0))
    with pytest.raises(dm.DTypeError):
        x.index_put((idx([0]),), dm.tensor(1.0, dtype=dm.float64))
    with pytest.raises(dm.ShapeError):
        x.index_put((idx([0, 1]),), dm.ones(3))
    with pytest.raises(TypeError):
        x.index_put((idx([0]),), 1.0)  # type: ignore[arg-type]


def test_put_matches_numpy() -> None:
    a = RNG.standard_normal((3, 4))
    ix = np.array([[0, -1], [5, 7]])
    v = RNG.standard_normal((2, 2))
    ref = a.copy()
    np.put(ref, ix % 12, v)
    np.testing.assert_array_equal(host(dm.tensor(a).put(idx(ix), dm.tensor(v))), ref)
    x = dm.tensor(a).t()  # put indexes the row-major order of the (transposed) view
    ref_t = a.T.copy()
    np.add.at(ref_t.reshape(-1), [1, 1, 2], [1.0, 2.0, 3.0])
    assert x.put_(idx([1, 1, 2]), dm.tensor(np.array([1.0, 2.0, 3.0])), accumulate=True) is x
    np.testing.assert_array_equal(host(x), ref_t)
    gradcheck(
        lambda x, s: x.put(idx([4, 0, 4]), s, accumulate=True),
        [leaf(a), leaf(RNG.standard_normal(3))],
    )
    gradcheck(lambda x, s: x.put(idx([[4], [0]]), s), [leaf(a), leaf([[1.0], [2.0]])])
    assert dm.equal(dm.zeros(2).put(idx([]), dm.zeros(0)), dm.zeros(2))
    with pytest.raises(dm.IndexOutOfRangeError):
        dm.zeros(2, 2).put(idx([4]), dm.ones(1))
    with pytest.raises(dm.ShapeError):
        dm.zeros(2, 2).put(idx([1, 2]), dm.ones(1))
    with pytest.raises(dm.DTypeError):
        dm.zeros(2, 2).put(dm.tensor([1.0]), dm.ones(1))


# ---- masked_scatter ----------------------------------------------------------------------------


def _masked_scatter_ref(a: np.ndarray, m: np.ndarray, s: np.ndarray) -> np.ndarray:
    a, m = np.broadcast_arrays(a, m)
    out = a.copy()
    out[m] = s.reshape(-1)[: int(m.sum())]
    return out


def test_masked_scatter_matches_numpy() -> None:
    a = RNG.standard_normal((2, 3))
    m = np.array([True, False, True])
    s = RNG.standard_normal((2, 3))
    got = dm.tensor(a).masked_scatter(t(m), dm.tensor(s))
    np.testing.assert_array_equal(host(got), _masked_scatter_ref(a, m, s))
    m2 = np.array([[True, False, True], [False, True, False]])
    got = dm.masked_scatter(dm.tensor(a[0]), t(m2), dm.tensor(s))  # input broadcast
    np.testing.assert_array_equal(host(got), _masked_scatter_ref(a[0], m2, s))
    x = dm.tensor(a.T.copy()).t()  # non-contiguous, same values as a
    assert x.masked_scatter_(t(m), dm.tensor(s)) is x
    np.testing.assert_array_equal(host(x), _masked_scatter_ref(a, m, s))
    none = np.zeros((2, 3), dtype=bool)
    np.testing.assert_array_equal(
        host(dm.tensor(a).masked_scatter(t(none), dm.zeros(0, dtype=dm.float64))), a
    )
    assert dm.zeros(0, 3).masked_scatter(t(m), dm.ones(3)).shape == (0, 3)


def test_masked_scatter_gradients_and_errors() -> None:
    m = t(np.array([[True, False, True], [False, True, True]]))
    gradcheck(
        lambda x, s: x.masked_scatter(m, s),
        [leaf(RNG.standard_normal((2, 3))), leaf(RNG.standard_normal(6))],
    )
    with pytest.raises(dm.ShapeError):
        dm.zeros(3).masked_scatter(t([True, True, True]), dm.ones(2))
    with pytest.raises(dm.DTypeError):
        dm.zeros(3).masked_scatter(idx([1, 1, 1]), dm.ones(3))
    with pytest.raises(dm.DTypeError):
        dm.zeros(3).masked_scatter(t([True, True, True]), dm.ones(3, dtype=dm.float64))
    with pytest.raises(dm.ShapeError):  # in place: the mask may not grow the tensor
        dm.zeros(3).masked_scatter_(t([[True, True, True]] * 2), dm.ones(6))


# ---- scatter_reduce ----------------------------------------------------------------------------


def _scatter_reduce_ref(
    a: np.ndarray, dim: int, index: np.ndarray, src: np.ndarray, reduce: str, include_self: bool
) -> np.ndarray:
    """A loop over the index, as PyTorch's documentation defines the op."""
    out = a.astype(np.float64).copy()
    groups: dict[tuple[int, ...], list[float]] = {}
    for pos in np.ndindex(*index.shape):
        target = list(pos)
        target[dim] = int(index[pos])
        groups.setdefault(tuple(target), []).append(float(src[pos]))
    for target, vals in groups.items():
        vs = ([float(a[target])] if include_self else []) + vals
        if reduce == "sum":
            out[target] = sum(vs)
        elif reduce == "prod":
            out[target] = np.prod(vs)
        elif reduce == "mean":
            out[target] = sum(vs) / len(vs)
            if a.dtype.kind in "iu":
                out[target] = np.floor(out[target])
        elif reduce == "amax":
            out[target] = max(vs)
        else:
            out[target] = min(vs)
    return out.astype(a.dtype)


REDUCES = ["sum", "prod", "mean", "amax", "amin"]


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_matches_reference(reduce: str, include_self: bool) -> None:
    a = RNG.standard_normal((4, 3))
    src = RNG.standard_normal((3, 3))
    index = np.array([[0, 1, 0], [0, 3, 0], [2, 1, 0]])
    for dim, ix in ((0, index), (1, index % 3)):
        ref = _scatter_reduce_ref(a, dim, ix, src, reduce, include_self)
        got = dm.tensor(a).scatter_reduce(
            dim, idx(ix), dm.tensor(src), reduce, include_self=include_self
        )
        np.testing.assert_allclose(host(got), ref, rtol=1e-12, atol=1e-12)
    # integer tensors (mean rounds down) and a non-contiguous src
    ai = RNG.integers(-9, 9, (4, 3))
    si = RNG.integers(-9, 9, (3, 3))
    ref = _scatter_reduce_ref(ai, 0, index, si, reduce, include_self)
    got = dm.scatter_reduce(
        dm.tensor(ai), 0, idx(index), dm.tensor(si.T.copy()).t(), reduce, include_self=include_self
    )
    np.testing.assert_array_equal(host(got), ref)


@pytest.mark.parametrize("reduce", REDUCES)
def test_scatter_reduce_gradients(reduce: str) -> None:
    a = RNG.standard_normal((4, 3))
    src = RNG.standard_normal((3, 3))
    index = idx([[0, 1, 0], [0, 3, 0], [2, 1, 0]])
    for include_self in (True, False):
        gradcheck(
            lambda x, s, inc=include_self: x.scatter_reduce(0, index, s, reduce, include_self=inc),
            [leaf(a), leaf(src)],
        )


def test_scatter_reduce_amax_shares_gradient_among_ties() -> None:
    a = leaf([1.0, 5.0, 3.0])
    b = leaf([5.0, 5.0, 2.0])
    out = a.scatter_reduce(0, idx([0, 0, 1]), b, "amax")
    np.testing.assert_array_equal(host(out), [5.0, 5.0, 3.0])
    out.sum().backward()
    np.testing.assert_array_equal(host(a.grad), [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(host(b.grad), [0.5, 0.5, 0.0])


def test_scatter_reduce_in_place_empty_and_errors() -> None:
    x = dm.zeros(3)
    assert x.scatter_reduce_(0, idx([0, 0]), dm.tensor([1.0, 2.0]), "sum") is x
    np.testing.assert_array_equal(host(x), [3.0, 0.0, 0.0])
    assert dm.equal(x.scatter_reduce(0, idx([]), dm.zeros(0), "amax"), x)
    with pytest.raises(dm.InvalidValueError):
        x.scatter_reduce(0, idx([0]), dm.ones(1), "max")
    with pytest.raises(dm.IndexOutOfRangeError):
        x.scatter_reduce(0, idx([3]), dm.ones(1), "sum")
    with pytest.raises(dm.DTypeError):
        x.scatter_reduce(0, dm.tensor([0.0]), dm.ones(1), "sum")
    with pytest.raises(dm.DTypeError):
        x.scatter_reduce(0, idx([0]), dm.ones(1, dtype=dm.float64), "sum")
    with pytest.raises(dm.ShapeError):
        dm.zeros(3, 2).scatter_reduce(0, idx([0]), dm.ones(1), "sum")


# ---- select/slice/diagonal scatter -------------------------------------------------------------


def test_select_slice_diagonal_scatter_match_numpy() -> None:
    a = RNG.standard_normal((4, 5))
    s = RNG.standard_normal(4)
    ref = a.copy()
    ref[:, -1] = s
    np.testing.assert_array_equal(host(dm.select_scatter(dm.tensor(a), dm.tensor(s), 1, -1)), ref)
    s2 = RNG.standard_normal((2, 5))
    ref = a.copy()
    ref[1::2] = s2
    got = dm.tensor(a).slice_scatter(dm.tensor(s2), 0, 1, None, 2)
    np.testing.assert_array_equal(host(got), ref)
    ref = a.copy()
    s3 = RNG.standard_normal((4, 2))
    ref[:, -2:] = s3
    np.testing.assert_array_equal(host(dm.slice_scatter(dm.tensor(a), dm.tensor(s3), 1, -2)), ref)
    full = RNG.standard_normal((4, 5))
    np.testing.assert_array_equal(
        host(dm.slice_scatter(dm.tensor(a), dm.tensor(full), 1, -10, 100)), full
    )
    for offset in (0, 2, -1):
        d = np.diagonal(a, offset).copy()
        s4 = RNG.standard_normal(d.shape)
        ref = a.copy()
        rows = np.arange(d.size) + max(-offset, 0)
        ref[rows, rows + offset] = s4
        got = dm.diagonal_scatter(dm.tensor(a), dm.tensor(s4), offset)
        np.testing.assert_array_equal(host(got), ref)
    # 3-D, other dims, a non-contiguous input
    b = RNG.standard_normal((2, 3, 4))
    x = dm.tensor(b.transpose(2, 1, 0).copy()).permute(2, 1, 0)
    sd = RNG.standard_normal((3, 2))  # diagonal of dims (0, 2): remaining dim 1, then diag
    ref = b.copy()
    for k in range(2):
        ref[k, :, k] = sd[:, k]
    np.testing.assert_array_equal(host(x.diagonal_scatter(dm.tensor(sd), 0, 0, 2)), ref)


def test_scatter_variants_gradients() -> None:
    a = RNG.standard_normal((3, 4))
    gradcheck(lambda x, s: dm.select_scatter(x, s, 0, 1), [leaf(a), leaf(RNG.standard_normal(4))])
    gradcheck(
        lambda x, s: dm.slice_scatter(x, s, 1, 0, 4, 3),
        [leaf(a), leaf(RNG.standard_normal((3, 2)))],
    )
    gradcheck(lambda x, s: dm.diagonal_scatter(x, s, 1), [leaf(a), leaf(RNG.standard_normal(3))])


def test_scatter_variants_errors_and_empty() -> None:
    x = dm.zeros(2, 3)
    with pytest.raises(dm.ShapeError):
        dm.select_scatter(x, dm.ones(3), 1, 0)
    with pytest.raises(dm.IndexOutOfRangeError):
        dm.select_scatter(x, dm.ones(2), 1, 5)
    with pytest.raises(dm.InvalidValueError):
        dm.slice_scatter(x, dm.ones(2, 3), 1, 0, 3, 0)
    with pytest.raises(dm.ShapeError):
        dm.slice_scatter(x, dm.ones(2, 2), 1, 0, 3)
    with pytest.raises(dm.ShapeError):
        dm.diagonal_scatter(x, dm.ones(3))
    with pytest.raises(dm.ShapeError):
        dm.diagonal_scatter(dm.zeros(3), dm.ones(1))
    assert dm.slice_scatter(dm.zeros(0, 3), dm.zeros(0, 3)).shape == (0, 3)
    assert dm.equal(dm.slice_scatter(x, dm.zeros(2, 0), 1, 3), x)
    assert dm.diagonal_scatter(dm.zeros(0, 2), dm.zeros(0)).shape == (0, 2)


# ---- unfold, ndimension ------------------------------------------------------------------------


def _unfold_ref(a: np.ndarray, dim: int, size: int, step: int) -> np.ndarray:
    w = np.lib.stride_tricks.sliding_window_view(a, size, axis=dim)
    return np.take(w, np.arange(0, w.shape[dim], step), axis=dim)


@pytest.mark.parametrize(("dim", "size", "step"), [(0, 2, 1), (1, 3, 2), (-1, 5, 1), (1, 1, 3)])
def test_unfold_matches_numpy(dim: int, size: int, step: int) -> None:
    a = RNG.standard_normal((4, 5))
    np.testing.assert_array_equal(
        host(dm.tensor(a).unfold(dim, size, step)), _unfold_ref(a, dim, size, step)
    )
    x = dm.tensor(a.T.copy()).t()  # non-contiguous
    np.testing.assert_array_equal(host(x.unfold(dim, size, step)), _unfold_ref(a, dim, size, step))


def test_unfold_edges_gradient_and_errors() -> None:
    assert dm.arange(5.0).unfold(0, 0, 1).shape == (6, 0)
    assert dm.zeros(0, 3).unfold(0, 0, 1).shape == (1, 3, 0)
    np.testing.assert_array_equal(host(dm.tensor(3.0).unfold(0, 1, 2)), [3.0])
    b = RNG.standard_normal((2, 6, 3))
    np.testing.assert_array_equal(host(dm.tensor(b).unfold(1, 3, 2)), _unfold_ref(b, 1, 3, 2))
    gradcheck(lambda x: x.unfold(1, 3, 1), [leaf(RNG.standard_normal((2, 5)))])
    with pytest.raises(dm.ShapeError):
        dm.arange(5.0).unfold(0, 6, 1)
    with pytest.raises(dm.InvalidValueError):
        dm.arange(5.0).unfold(0, 2, 0)
    with pytest.raises(IndexError):
        dm.arange(5.0).unfold(1, 2, 1)


def test_ndimension() -> None:
    assert dm.zeros(2, 3, 4).ndimension() == 3
    assert dm.tensor(1.0).ndimension() == 0
