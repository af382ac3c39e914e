"""Views (shared memory), basic/advanced indexing against NumPy, assignment, joins, gradchecks."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
from helpers import assert_close, gradcheck

RNG = np.random.default_rng(2)
X = np.arange(60.0).reshape(3, 4, 5)


def _leaf(*shape: int) -> dm.Tensor:
    return dm.tensor(RNG.standard_normal(shape), dtype=dm.float64, requires_grad=True)


# ---- reshape / view -----------------------------------------------------------------------------


def test_view_shares_memory() -> None:
    base = dm.arange(12.0)
    v = base.view(3, 4)
    v[1, 2] = -1.0
    assert base[6].item() == -1.0
    base[0] = 50.0
    assert v[0, 0].item() == 50.0
    assert v.data_ptr() == base.data_ptr()
    assert base.view(2, -1).shape == (2, 6)
    assert base.view((4, 3)).shape == (4, 3)
    assert base.view_as(dm.zeros(6, 2)).shape == (6, 2)


def test_view_on_non_contiguous_raises_and_reshape_copies() -> None:
    t = dm.arange(12.0).reshape(3, 4)
    tt = t.T
    assert not tt.is_contiguous()
    with pytest.raises(dm.ShapeError) as exc:
        tt.view(12)
    assert isinstance(exc.value, ValueError)
    with pytest.raises(dm.ShapeError):
        t[:, 1:3].view(6)
    assert t[:, ::2].view(6).stride() == (2,)  # strides (4, 2) merge into one dim
    r = tt.reshape(12)
    assert_close(r, np.arange(12.0).reshape(3, 4).T.reshape(12))
    r[0] = 99.0
    assert t[0, 0].item() == 0.0  # reshape of a non-viewable layout is a copy
    c = t.reshape(2, 6)
    c[0, 0] = 7.0
    assert t[0, 0].item() == 7.0  # reshape of a contiguous tensor is a view
    # a view that only splits/merges compatible dims works on non-contiguous tensors too
    p = dm.zeros(2, 3, 4).permute(1, 0, 2)
    assert p.view(3, 2, 2, 2).shape == (3, 2, 2, 2)
    with pytest.raises(dm.ShapeError):
        t.reshape(5, -1)
    with pytest.raises(dm.ShapeError):
        t.view(-1, -1)


def test_permute_transpose_and_t() -> None:
    t = dm.tensor(X)
    assert_close(t.permute(2, 0, 1), X.transpose(2, 0, 1))
    assert_close(t.permute([1, 2, 0]), X.transpose(1, 2, 0))
    assert_close(t.permute(-1, 0, 1), X.transpose(2, 0, 1))
    assert_close(t.transpose(0, 2), X.swapaxes(0, 2))
    assert_close(dm.transpose(t, -1, -2), X.swapaxes(-1, -2))
    assert_close(t.T, X.T)
    m = dm.tensor(X[0])
    assert_close(m.T, X[0].T)
    assert m.t().shape == (5, 4)
    assert m.T.stride() == (1, 5)
    p = t.permute(2, 0, 1)
    p[0, 0, 1] = -5.0
    assert t[0, 1, 0].item() == -5.0
    with pytest.raises(dm.ShapeError):
        t.permute(0, 1)
    with pytest.raises(IndexError):
        t.permute(0, 1, 1)


def test_expand() -> None:
    col = dm.tensor([[1.0], [2.0]])
    e = col.expand(2, 3)
    assert_close(e, np.array([[1.0] * 3, [2.0] * 3]))
    assert e.stride()[1] == 0
    assert col.expand(-1, 4).shape == (2, 4)
    assert dm.tensor([1.0, 2.0]).expand(3, 2).shape == (3, 2)
    assert col.expand_as(dm.zeros(5, 2, 3)).shape == (5, 2, 3)
    col[1, 0] = 9.0
    assert e[1, 2].item() == 9.0
    with pytest.raises(dm.ShapeError):
        dm.zeros(3).expand(4)


def test_squeeze_unsqueeze_flatten_narrow() -> None:
    z = dm.zeros(1, 3, 1)
    assert z.squeeze().shape == (3,)
    assert z.squeeze(0).shape == (3, 1)
    assert z.squeeze(-1).shape == (1, 3)
    assert z.squeeze(1).shape == (1, 3, 1)
    assert z.squeeze((0, 2)).shape == (3,)
    assert dm.zeros(2, 3).unsqueeze(0).shape == (1, 2, 3)
    assert dm.zeros(2, 3).unsqueeze(-1).shape == (2, 3, 1)
    assert dm.zeros(2, 3).unsqueeze(1).shape == (2, 1, 3)
    assert dm.tensor(1.0).unsqueeze(0).shape == (1,)
    t = dm.tensor(X)
    assert_close(t.flatten(), X.reshape(-1))
    assert_close(t.flatten(1), X.reshape(3, -1))
    assert_close(t.flatten(0, 1), X.reshape(12, 5))
    assert_close(t.T.flatten(), X.T.reshape(-1))
    assert dm.tensor(2.0).flatten().shape == (1,)
    assert_close(t.narrow(1, 1, 2), X[:, 1:3])
    assert_close(t.narrow(-1, -2, 2), X[:, :, 3:])
    n = t.narrow(0, 1, 1)
    n[0, 0, 0] = -1.0
    assert t[1, 0, 0].item() == -1.0
    with pytest.raises(IndexError):
        t.narrow(0, 2, 5)


def test_split_chunk_unbind() -> None:
    t = dm.tensor(X)
    parts = t.split(2, 1)
    assert [p.shape for p in parts] == [(3, 2, 5), (3, 2, 5)]
    assert_close(parts[1], X[:, 2:4])
    assert [c.shape for c in t.chunk(2, 0)] == [(2, 4, 5), (1, 4, 5)]
    u = t.unbind(2)
    assert len(u) == 5
    assert_close(u[3], X[:, :, 3])
    assert [r.shape for r in t] == [(4, 5)] * 3


# ---- getitem ------------------------------------------------------------------------------------

I = np.array  # noqa: E741 - short alias for index arrays in the key table

KEYS: list[tuple[Any, ...]] = [
    (1,),
    (-1,),
    (slice(None, None, 2),),
    (slice(1, None), slice(None, None, 3), -1),
    (slice(None, -1), slice(2, 100)),
    (slice(5, 1),),
    (Ellipsis, 1),
    (None, 1, Ellipsis, None),
    (slice(None), None, slice(1, 3)),
    (Ellipsis,),
    (I([0, 2]),),
    (I([-1, 0, 0]),),
    (slice(None), I([1, 3])),
    (I([0, 2]), I([1, 3])),
    (I([0, 2]), slice(None), I([1, 3])),
    (slice(None), I([0, 1]), I([2, 3])),
    (I([[0, 1], [2, 0]]),),
    (slice(None), I([[0], [3]]), I([1, 2])),
    (1, I([0, 3]), slice(None, None, 2)),
    (slice(None), None, I([1, 2])),
    (Ellipsis, I([0, 4])),
    (X > 30,),
    (X[:, :, 0] > 10,),
    (slice(None), I([True, False, True, True])),
    (I([True, False, True]), slice(1, 3)),
]


@pytest.mark.parametrize("key", KEYS, ids=[str(i) for i in range(len(KEYS))])
@pytest.mark.parametrize("as_tensor", [False, True], ids=["np_key", "tensor_key"])
def test_getitem_matches_numpy(key: tuple[Any, ...], as_tensor: bool) -> None:
    def conv(k: Any) -> Any:
        if isinstance(k, np.ndarray):
            return dm.tensor(k) if as_tensor else k.tolist()
        return k

    dkey = tuple(conv(k) for k in key)
    # A lone nested list of ints goes in a tuple: by itself PyTorch reads it as a tuple of
    # indices (with a deprecation warning), not as one multi-dimensional index.
    nested = isinstance(dkey[0], list) and any(isinstance(v, list) for v in dkey[0])
    if len(dkey) == 1 and not nested:
        dkey = dkey[0]
    out = dm.tensor(X)[dkey]
    assert_close(out, X[key])
    # the same key on a non-contiguous base
    base = np.ascontiguousarray(X.transpose(2, 1, 0)).transpose(2, 1, 0)
    nc = dm.tensor(X.transpose(2, 1, 0)).permute(2, 1, 0)
    assert not nc.is_contiguous()
    assert_close(nc[dkey], base[key])


def test_getitem_scalars_and_special() -> None:
    t = dm.tensor(X)
    assert t[1, 2, 3].shape == ()
    assert t[1, 2, 3].item() == X[1, 2, 3]
    assert t[dm.tensor(1)].shape == (4, 5)
    assert t[True].shape == (1, 3, 4, 5)
    assert t[False].shape == (0, 3, 4, 5)
    s = dm.tensor(5.0)
    assert s[None].shape == (1,)
    assert s[...].shape == ()
    assert dm.tensor([1.0, 2.0])[[True, False]].tolist() == [1.0]


def test_basic_indexing_is_a_view() -> None:
    t = dm.tensor(X)
    v = t[1:, ::2, 3]
    v[0, 1] = -100.0
    assert t[1, 2, 3].item() == -100.0
    row = t[2]
    row += 1.0
    assert t[2, 0, 0].item() == X[2, 0, 0] + 1
    adv = t[[0, 1]]
    adv[0, 0, 0] = 1234.0
    assert t[0, 0, 0].item() != 1234.0  # advanced indexing copies


@pytest.mark.parametrize(
    ("key", "exc"),
    [
        ((3,), IndexError),
        ((-4,), IndexError),
        (([0, 5],), IndexError),
        ((0, 0, 0, 0), IndexError),
        ((Ellipsis, Ellipsis), IndexError),
        ((slice(None, None, -1),), ValueError),
        ((dm.tensor([True, False]),), IndexError),
        ((dm.tensor([0.5]),), TypeError),
    ],
)
def test_getitem_errors(key: tuple[Any, ...], exc: type) -> None:
    with pytest.raises(exc) as info:
        dm.tensor(X)[key if len(key) > 1 else key[0]]
    assert isinstance(info.value, dm.DemocratisingError)


# ---- setitem ------------------------------------------------------------------------------------

SET_CASES: list[tuple[Any, Any]] = [
    ((1,), 5.0),
    ((slice(None), 2), np.arange(3.0)[:, None]),
    ((0, slice(None, None, 2)), 7.0),
    ((Ellipsis, None, 1), np.arange(12.0).reshape(3, 4, 1)),
    ((I([0, 2]),), np.arange(20.0).reshape(4, 5)),
    ((I([0, 2]), I([1, 3])), np.array([[8.0], [9.0]])),
    ((slice(1, None), I([0, 3])), 1.0),
    ((X > 30,), -1.0),
    ((X[:, :, 0] > 10,), np.arange(5.0)),
    ((slice(None), 1, I([4, 0])), np.array([1.0, 2.0])),
]


@pytest.mark.parametrize(("key", "value"), SET_CASES, ids=[str(i) for i in range(len(SET_CASES))])
def test_setitem_matches_numpy(key: tuple[Any, ...], value: Any) -> None:
    expected = X.copy()
    expected[key] = value
    t = dm.tensor(X)
    dkey = tuple(dm.tensor(k) if isinstance(k, np.ndarray) else k for k in key)
    v = dm.tensor(value) if isinstance(value, np.ndarray) else value
    t[dkey if len(dkey) > 1 else dkey[0]] = v
    assert_close(t, expected)


def test_setitem_through_views_and_casting() -> None:
    base = dm.zeros(4, 4)
    view = base.T[1:3]
    view[:, 0] = dm.tensor([1.0, 2.0])
    assert base[0, 1].item() == 1.0 and base[0, 2].item() == 2.0
    ints = dm.zeros(3, dtype=dm.int64)
    ints[1] = 2.7
    assert ints.dtype == dm.int64 and ints.tolist() == [0, 2, 0]
    ints[[0, 2]] = dm.tensor([5, 6], dtype=dm.int32)
    assert ints.tolist() == [5, 2, 6]
    s = dm.tensor(1.0)
    s[()] = 3.0
    assert s.item() == 3.0
    with pytest.raises(dm.ShapeError):
        dm.zeros(3, 4)[0] = dm.ones(3)


def test_inplace_ops_write_through_non_contiguous_views() -> None:
    x = np.arange(24.0).reshape(4, 6)
    t = dm.tensor(x)
    t.T.add_(1.0)
    x = x + 1
    t[::2, 1::2].mul_(2.0)
    x[::2, 1::2] *= 2
    t[1].fill_(-1.0)
    x[1] = -1
    t[:, 3].zero_()
    x[:, 3] = 0
    t.T[::2].clamp_(-0.5, 10.0)
    x.T[::2] = np.clip(x.T[::2], -0.5, 10.0)
    t[2:].copy_(dm.tensor([1.0, 2, 3, 4, 5, 6]))
    x[2:] = [1, 2, 3, 4, 5, 6]
    t.T.copy_(dm.tensor(np.arange(24.0).reshape(6, 4)))
    x.T[:] = np.arange(24.0).reshape(6, 4)
    t.div_(2.0)
    x /= 2
    t.sub_(dm.tensor([1.0, 2, 3, 4, 5, 6]), alpha=2.0)
    x -= 2 * np.array([1.0, 2, 3, 4, 5, 6])
    assert_close(t, x)


def test_overlapping_self_copies() -> None:
    u = dm.tensor([[1.0, 2.0], [3.0, 4.0]])
    u.copy_(u.T)
    assert u.tolist() == [[1.0, 3.0], [2.0, 4.0]]
    v = dm.arange(6.0)
    v[1:] = v[:-1]
    assert v.tolist() == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    w = dm.arange(6.0)
    w[1:] += w[:-1]
    a = np.arange(6.0)
    a[1:] += a[:-1]
    assert w.tolist() == a.tolist()


# ---- joins and structured ops -------------------------------------------------------------------


def test_cat_stack() -> None:
    a = RNG.standard_normal((2, 3))
    b = RNG.standard_normal((4, 3))
    assert_close(dm.cat([dm.tensor(a), dm.tensor(b)]), np.concatenate([a, b]))
    assert_close(dm.cat([dm.tensor(a).T, dm.tensor(b).T], -1), np.concatenate([a.T, b.T], -1))
    assert_close(dm.cat((dm.tensor(a), dm.zeros(0, 3, dtype=dm.float64)), 0), a)
    assert_close(dm.stack([dm.tensor(a), dm.tensor(a * 2)]), np.stack([a, a * 2]))
    assert_close(dm.stack([dm.tensor(a), dm.tensor(a)], dim=-1), np.stack([a, a], -1))
    assert dm.cat([dm.ones(2, dtype=dm.int32), dm.ones(2, dtype=dm.float64)]).dtype == dm.float64
    with pytest.raises(dm.ShapeError):
        dm.cat([dm.tensor(a), dm.zeros(2, 4)], 0)
    with pytest.raises(dm.ShapeError):
        dm.stack([dm.zeros(2), dm.zeros(3)])


def test_gather_index_select_masked_fill() -> None:
    x = RNG.standard_normal((3, 4))
    t = dm.tensor(x)
    idx = np.array([[0, 0], [1, 3], [3, 2]])
    assert_close(t.gather(1, dm.tensor(idx)), np.take_along_axis(x, idx, 1))
    idx0 = np.array([[2, 0, 1, 1]])
    assert_close(dm.gather(t, 0, dm.tensor(idx0)), np.take_along_axis(x, idx0, 0))
    assert_close(t.index_select(1, dm.tensor([3, 0, 3])), x[:, [3, 0, 3]])
    assert_close(dm.index_select(t.T, 0, dm.tensor([1])), x.T[[1]])
    mask = x > 0
    assert_close(t.masked_fill(dm.tensor(mask), -9.0), np.where(mask, -9.0, x))
    row_mask = np.array([True, False, False, True])
    assert_close(t.masked_fill(dm.tensor(row_mask), 0.0), np.where(row_mask, 0.0, x))
    with pytest.raises(IndexError):
        t.gather(1, dm.tensor([[4]]))
    with pytest.raises(IndexError):
        t.index_select(0, dm.tensor([3]))


# ---- gradients through views and indexing -------------------------------------------------------

IDX = dm.tensor([0, 2, 0])
GRAD_CASES: dict[str, tuple[Callable[..., dm.Tensor], list[tuple[int, ...]]]] = {
    "slice": (lambda t: t[1:, ::2], [(3, 4)]),
    "int_none_ellipsis": (lambda t: t[None, ..., 1], [(3, 4)]),
    "adv_duplicates": (lambda t: t[IDX], [(3, 4)]),
    "adv_pairs": (lambda t: t[[0, 2, 2], [1, 3, 1]], [(3, 4)]),
    "mask": (lambda t: t[dm.tensor([[True, False, True, True]] * 3)], [(3, 4)]),
    "gather": (lambda t: t.gather(1, dm.tensor([[0, 0], [1, 3], [2, 2]])), [(3, 4)]),
    "index_select": (lambda t: t.index_select(1, dm.tensor([3, 0, 3])), [(3, 4)]),
    "cat": (lambda a, b: dm.cat([a, b], 1), [(3, 2), (3, 4)]),
    "stack": (lambda a, b: dm.stack([a, b], 1), [(3, 2), (3, 2)]),
    "masked_fill": (lambda t: t.masked_fill(dm.tensor([True, False, True, False]), 0.5), [(3, 4)]),
    "expand": (lambda t: t.expand(2, 3, 4) * 1.0, [(3, 1)]),
    "permute_reshape": (lambda t: t.permute(1, 0, 2).reshape(3, 8), [(2, 3, 4)]),
    "view_chain": (lambda t: t.T.reshape(-1)[::3].unsqueeze(0).squeeze(), [(3, 4)]),
    "narrow_flatten": (lambda t: t.narrow(1, 1, 2).flatten(), [(3, 4)]),
    "unbind": (lambda t: t.unbind(1)[2] * t.unbind(0)[0][:3], [(3, 4)]),
    "split": (lambda t: t.split(2, 1)[1], [(3, 4)]),
    "contiguous": (lambda t: t.T.contiguous().view(-1), [(3, 4)]),
}


@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_view_index_gradcheck(name: str) -> None:
    fn, shapes = GRAD_CASES[name]
    gradcheck(fn, [_leaf(*s) for s in shapes])


def _set_basic(x: dm.Tensor, v: dm.Tensor) -> dm.Tensor:
    y = x * 1.0
    y[1, ::2] = v
    return y


def _set_adv(x: dm.Tensor, v: dm.Tensor) -> dm.Tensor:
    y = x * 1.0
    y[dm.tensor([0, 2])] = v
    return y


def _set_mask(x: dm.Tensor, v: dm.Tensor) -> dm.Tensor:
    y = x * 1.0
    y[dm.tensor([True, False, True])] = v * 2.0
    return y


def _set_mixed(x: dm.Tensor, v: dm.Tensor) -> dm.Tensor:
    y = x * 1.0
    y[1:, [0, 3]] = v  # a slice and an index list together
    y[:2][:, dm.tensor([True, False, True, False])] = v * 3.0
    y[::2, [1, 2]] += v  # getitem (a copy), in-place add on it, then setitem
    y[1:, [2]] += v[:, :1]
    picked = y[[0, 2]]
    picked.mul_(2.0)  # advanced indexing returns a new tensor, free to modify in place
    return y + picked.sum()


@pytest.mark.parametrize(
    ("fn", "vshape"),
    [(_set_basic, (2,)), (_set_adv, (4,)), (_set_mask, (2, 4)), (_set_mixed, (2, 2))],
)
def test_setitem_gradcheck(fn: Callable[[dm.Tensor, dm.Tensor], dm.Tensor], vshape: Any) -> None:
    gradcheck(fn, [_leaf(3, 4), _leaf(*vshape)])


# ---- whole-block index keys -----------------------------------------------------------------
# `t[:, ..., idx]` on a contiguous tensor (an embedding lookup, index_select, and their
# scatter-add gradients) copies whole blocks; these pin it to NumPy, with repeats, negative
# positions, multi-dim index tensors and views.


@pytest.mark.parametrize("dim", [0, 1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_block_index_matches_numpy(dim: int, dtype: str) -> None:
    base = (RNG.standard_normal((4, 5, 6)) * 10).astype(dtype)
    idx = np.array([[0, -1, 2], [2, 2, 1]])
    key = (slice(None),) * dim + (idx,)
    got = dm.tensor(base)[(*key,)].numpy()
    np.testing.assert_array_equal(got, base[key])
    # a view with an offset (contiguous) and a non-contiguous one (the general path)
    np.testing.assert_array_equal(dm.tensor(base)[1:][(*key,)].numpy(), base[1:][key])
    t = dm.tensor(base).transpose(0, 2)
    np.testing.assert_array_equal(t[(*key,)].numpy(), np.swapaxes(base, 0, 2)[key])


def test_block_index_errors_and_gradient_with_repeats() -> None:
    t = dm.tensor(X)
    with pytest.raises(IndexError, match="out of bounds"):
        t[dm.tensor([0, 3])]
    w = dm.tensor(X.reshape(12, 5), requires_grad=True)
    ids = dm.tensor([[3, 3, 0], [11, 3, -1]])
    g = RNG.standard_normal((2, 3, 5))
    (dm.nn.functional.embedding(ids % 12, w) * dm.tensor(g)).sum().backward()
    want = np.zeros((12, 5))
    np.add.at(want, np.array([[3, 3, 0], [11, 3, 11]]), g)
    assert_close(w.grad, want)


def test_block_index_assignment_and_values_from_its_own_memory() -> None:
    want = np.arange(20.0).reshape(4, 5)
    t = dm.tensor(want)
    t[dm.tensor([0, 2])] = dm.tensor(np.full((2, 5), 7.0))
    want[[0, 2]] = 7.0
    np.testing.assert_array_equal(t.numpy(), want)
    t[dm.tensor([0, 1])] = t[2:4]  # values that are a view of the destination
    want[[0, 1]] = want[2:4].copy()
    np.testing.assert_array_equal(t.numpy(), want)


# ---- diagonal ---------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [-4, -2, -1, 0, 1, 3, 6])
@pytest.mark.parametrize("dims", [(0, 1), (1, 2), (2, 0), (-1, -2), (0, 2)])
def test_diagonal_matches_numpy(offset: int, dims: tuple[int, int]) -> None:
    got = dm.tensor(X).diagonal(offset, *dims)
    np.testing.assert_array_equal(got.numpy(), np.diagonal(X, offset, *dims))
    np.testing.assert_array_equal(dm.diagonal(dm.tensor(X), offset, *dims).numpy(), got.numpy())


def test_diagonal_is_a_view_writes_reach_the_base() -> None:
    """PyTorch's idiom ``m.diagonal().fill_(1)`` (and ``copy_``, ``+=``) edits ``m`` itself."""
    m = dm.zeros(3, 4)
    m.diagonal().fill_(1.0)
    m.diagonal(1).copy_(dm.tensor([5.0, 6.0, 7.0]))
    m.diagonal(-1).add_(2.0)
    want = np.eye(3, 4) + np.diag([5.0, 6.0, 7.0], 1)[:3, :4] + 2 * np.eye(3, 4, -1)
    np.testing.assert_array_equal(m.numpy(), want)
    assert m.diagonal().data_ptr() == m.data_ptr()
    t = dm.arange(9.0).reshape(3, 3).T  # a transposed base: the diagonal is the same elements
    np.testing.assert_array_equal(t.diagonal().numpy(), [0.0, 4.0, 8.0])
    assert dm.linalg.diagonal(dm.zeros(2, 3, 3)).shape == (2, 3)


def test_diagonal_empty_and_errors() -> None:
    assert dm.ones(0, 3).diagonal().shape == (0,)
    assert dm.ones(2, 3).diagonal(5).shape == (0,)
    assert dm.ones(2, 3).diagonal(-9).shape == (0,)
    with pytest.raises(IndexError, match="Dimension out of range"):
        dm.ones(3).diagonal()
    with pytest.raises(ValueError, match="cannot be identical"):
        dm.ones(3, 3).diagonal(0, 1, -1)


def test_diagonal_gradcheck_and_inplace_through_the_view() -> None:
    gradcheck(lambda a: a.diagonal(1, 0, 2) * 1.5, [_leaf(3, 2, 4)])
    gradcheck(lambda a: a.diagonal(-1).exp(), [_leaf(4, 3)])
    w = dm.ones(3, 3, dtype=dm.float64, requires_grad=True)
    y = w * 1.0
    y.diagonal().mul_(3.0)  # an in-place op on the view of a non-leaf is recorded
    (y * y).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), 2 + 16 * np.eye(3))
