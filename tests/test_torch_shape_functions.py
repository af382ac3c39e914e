"""PyTorch's stacking, splitting, creation and product functions
(``democratising._shape_functions``): values against NumPy (mixed dtypes, transposed views,
empty tensors), gradients against finite differences, the ``Tensor`` methods and in-place
forms, and typed errors for bad input."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import democratising as dm
from helpers import assert_close, gradcheck

RNG = np.random.default_rng(7)
A = RNG.standard_normal((2, 3))
B = RNG.standard_normal((2, 3))
V = RNG.standard_normal(3)


def leaf(a: Any) -> dm.Tensor:
    return dm.tensor(np.asarray(a, dtype=np.float64), dtype=dm.float64, requires_grad=True)


# ---- at least n dims, stacking, splitting ----------------------------------------------------


def test_atleast_nd_follow_numpy() -> None:
    arrays = [np.array(2.0), V, A, RNG.standard_normal((2, 3, 4))]
    for name in ("atleast_1d", "atleast_2d", "atleast_3d"):
        fn, ref = getattr(dm, name), getattr(np, name)
        for a in arrays:
            out = fn(dm.tensor(a))
            assert isinstance(out, dm.Tensor)
            assert_close(out, ref(a))
        many = fn(dm.tensor(arrays[0]), dm.tensor(arrays[1]))
        assert isinstance(many, tuple) and len(many) == 2
        assert_close(many[1], ref(arrays[1]))
        listed = fn([dm.tensor(V)])
        assert isinstance(listed, tuple) and len(listed) == 1


@pytest.mark.parametrize("name", ["hstack", "vstack", "dstack", "column_stack", "row_stack"])
def test_stacks_follow_numpy(name: str) -> None:
    fn = getattr(dm, name)
    ref = getattr(np, name if name != "row_stack" else "vstack")
    for parts in ([A, B], [V, V], [A, B.astype(np.float32)]):
        assert_close(fn([dm.tensor(p) for p in parts]), ref(parts), rtol=1e-6)
    mixed = fn([dm.tensor([[1, 2]]), dm.tensor([[0.5, 1.5]])])
    assert mixed.dtype == dm.float32
    gradcheck(lambda a, b: fn([a, b]), [leaf(A), leaf(B)])
    with pytest.raises(TypeError):
        fn(dm.tensor(A))
    with pytest.raises(dm.ShapeError):
        fn([])


def test_column_stack_makes_columns_of_vectors() -> None:
    out = dm.column_stack([dm.tensor(V), dm.tensor(np.ones((3, 2)))])
    assert_close(out, np.column_stack([V, np.ones((3, 2))]))


def test_splits_follow_numpy() -> None:
    x = RNG.standard_normal((4, 6, 2))
    t = dm.tensor(x)
    for got, ref in (
        (dm.hsplit(t, 3), np.hsplit(x, 3)),
        (dm.hsplit(t, [1, 4]), np.hsplit(x, [1, 4])),
        (dm.vsplit(t, 2), np.vsplit(x, 2)),
        (dm.dsplit(t, [1]), np.dsplit(x, [1])),
        (dm.hsplit(dm.tensor(V), 3), np.hsplit(V, 3)),
        (t.vsplit([1, 3]), np.vsplit(x, [1, 3])),
    ):
        assert isinstance(got, tuple) and len(got) == len(ref)
        for g, r in zip(got, ref):
            assert_close(g, r)
    with pytest.raises(dm.ShapeError):
        dm.hsplit(t, 4)
    with pytest.raises(dm.ShapeError):
        dm.vsplit(dm.tensor(V), 1)
    with pytest.raises(dm.ShapeError):
        dm.dsplit(dm.tensor(A), 1)


def test_rot90_matches_numpy_and_is_differentiable() -> None:
    x = RNG.standard_normal((2, 3, 4))
    t = dm.tensor(x)
    for k in range(-5, 6):
        assert_close(dm.rot90(t, k), np.rot90(x, k))
        assert_close(t.rot90(k, [2, 0]), np.rot90(x, k, axes=(2, 0)))
    gradcheck(lambda a: dm.rot90(a, 1, [1, 2]), [leaf(x)])
    with pytest.raises(dm.ShapeError):
        dm.rot90(dm.tensor(V))
    with pytest.raises(dm.ShapeError):
        dm.rot90(t, 1, [0, 0])
    with pytest.raises(dm.ShapeError):
        dm.rot90(t, 1, [0])


# ---- building ---------------------------------------------------------------------------------


def test_block_diag() -> None:
    blocks = [np.arange(4.0).reshape(2, 2), np.array([5.0, 6.0, 7.0]), np.array(8.0)]
    out = dm.block_diag(*[dm.tensor(b) for b in blocks])
    expected = np.zeros((4, 6))
    expected[:2, :2] = blocks[0]
    expected[2, 2:5] = blocks[1]
    expected[3, 5] = 8.0
    assert_close(out, expected)
    assert dm.block_diag(dm.tensor([[1]]), dm.tensor([[2.5]])).dtype == dm.float32
    assert dm.block_diag(dm.zeros(2, 0), dm.ones(1, 1)).shape == (3, 1)
    gradcheck(lambda a, b: dm.block_diag(a, b), [leaf(A), leaf(V)])
    with pytest.raises(dm.ShapeError):
        dm.block_diag(dm.zeros(1, 1, 1))


def test_cartesian_prod_and_combinations_follow_itertools() -> None:
    a, b = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0])
    out = dm.cartesian_prod(dm.tensor(a), dm.tensor(b))
    assert_close(out, np.array(list(itertools.product(a, b))))
    assert dm.cartesian_prod(dm.tensor(a)).shape == (3,)
    gradcheck(lambda x, y: dm.cartesian_prod(x, y), [leaf(a), leaf(b)])
    with pytest.raises(dm.DTypeError):
        dm.cartesian_prod(dm.tensor([1]), dm.tensor([1.0]))
    x = np.array([1.0, 2.0, 3.0, 4.0])
    for r in (1, 2, 3):
        assert_close(dm.combinations(dm.tensor(x), r), np.array(list(itertools.combinations(x, r))))
        cwr = list(itertools.combinations_with_replacement(x, r))
        assert_close(dm.combinations(dm.tensor(x), r, with_replacement=True), np.array(cwr))
    assert dm.combinations(dm.tensor(x), 5).shape == (0, 5)
    assert dm.combinations(dm.tensor(x), 0).shape == (0,)
    gradcheck(lambda t: dm.combinations(t, 2), [leaf(x)])
    with pytest.raises(dm.ShapeError):
        dm.combinations(dm.tensor(A))


def test_tril_triu_indices_follow_numpy() -> None:
    for row, col, off in [(3, 3, 0), (4, 5, 1), (4, 5, -2), (0, 3, 0), (3, 4, 10)]:
        lo = dm.tril_indices(row, col, off)
        up = dm.triu_indices(row, col, off)
        assert lo.dtype == dm.int64 and lo.shape[0] == 2
        np.testing.assert_array_equal(lo.numpy(), np.array(np.tril_indices(row, off, col)))
        np.testing.assert_array_equal(up.numpy(), np.array(np.triu_indices(row, off, col)))
    assert dm.tril_indices(3, 3, dtype=dm.int32).dtype == dm.int32
    with pytest.raises(dm.DTypeError):
        dm.triu_indices(3, 3, dtype=dm.float32)


def test_diag_embed_and_diagflat() -> None:
    x = RNG.standard_normal((2, 3))
    t = dm.tensor(x)
    for off in (-1, 0, 2):
        out = dm.diag_embed(t, off)
        n = 3 + abs(off)
        expected = np.stack([np.diag(row, off) for row in x])
        assert out.shape == (2, n, n)
        assert_close(out, expected)
        assert_close(dm.diagflat(t, off), np.diagflat(x, off))
    moved = dm.diag_embed(t, 1, 0, 2)
    assert_close(moved, np.moveaxis(np.stack([np.diag(r, 1) for r in x]), (1, 2), (0, 2)))
    assert_close(t.diag_embed(0, -1, -2), np.stack([np.diag(r) for r in x]).swapaxes(1, 2))
    assert dm.diag_embed(dm.tensor([1, 2])).dtype == dm.int64
    gradcheck(lambda a: dm.diag_embed(a, -1, 0, 1), [leaf(x)])
    gradcheck(lambda a: a.diagflat(1), [leaf(x)])
    with pytest.raises(dm.ShapeError):
        dm.diag_embed(t, 0, 1, 1)


def test_vander() -> None:
    x = np.array([1.0, 2.0, -3.0, 0.5])
    assert_close(dm.vander(dm.tensor(x)), np.vander(x))
    assert_close(dm.vander(dm.tensor(x), 3, increasing=True), np.vander(x, 3, increasing=True))
    ints = dm.vander(dm.tensor([1, 2, 3], dtype=dm.int32), 4)
    assert ints.dtype == dm.int64 and ints.tolist() == np.vander([1, 2, 3], 4).tolist()
    assert dm.vander(dm.tensor(x), 0).shape == (4, 0)
    gradcheck(lambda a: dm.vander(a, 4), [leaf(x)])
    with pytest.raises(dm.ShapeError):
        dm.vander(dm.tensor(A))


def test_unravel_index() -> None:
    idx = np.array([[0, 5], [11, 7]])
    rows, cols = dm.unravel_index(dm.tensor(idx), (3, 4))
    r, c = np.unravel_index(idx, (3, 4))
    assert rows.dtype == dm.int64 and rows.shape == (2, 2)
    assert rows.tolist() == r.tolist() and cols.tolist() == c.tolist()
    (only,) = dm.unravel_index(dm.tensor(4), 6)
    assert only.shape == () and only.item() == 4
    neg = dm.unravel_index(dm.tensor([-1]), (2, 3))
    assert [t.tolist() for t in neg] == [[1], [2]]
    with pytest.raises(dm.IndexOutOfRangeError):
        dm.unravel_index(dm.tensor([6]), (2, 3))
    with pytest.raises(dm.DTypeError):
        dm.unravel_index(dm.tensor([1.0]), (2, 3))


# ---- products ---------------------------------------------------------------------------------


def test_kron_inner_vdot_follow_numpy() -> None:
    p, q = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 2))
    assert_close(dm.kron(dm.tensor(p), dm.tensor(q)), np.kron(p, q))
    assert_close(dm.kron(dm.tensor(V), dm.tensor(p)), np.kron(V, p))
    assert_close(dm.tensor(p).kron(dm.tensor(q[None])), np.kron(p, q[None]))
    ints = dm.kron(dm.tensor([[1, 2]]), dm.tensor([3, 4]))
    assert ints.dtype == dm.int64 and ints.tolist() == np.kron([[1, 2]], [3, 4]).tolist()
    gradcheck(dm.kron, [leaf(p), leaf(q)])
    r = RNG.standard_normal((4, 3))
    assert_close(dm.inner(dm.tensor(p), dm.tensor(r)), np.inner(p, r), rtol=1e-12)
    assert_close(dm.inner(dm.tensor(V), dm.tensor(V)), np.inner(V, V), rtol=1e-12)
    assert_close(dm.inner(dm.tensor(2.0), dm.tensor(p)), 2 * p)
    assert_close(dm.tensor(p).inner(dm.tensor(V)), np.inner(p, V), rtol=1e-12)
    gradcheck(dm.inner, [leaf(p), leaf(r)])
    with pytest.raises(dm.ShapeError):
        dm.inner(dm.tensor(p), dm.tensor(q))
    assert_close(dm.vdot(dm.tensor(V), dm.tensor(V)), np.vdot(V, V), rtol=1e-12)
    gradcheck(dm.vdot, [leaf(V), leaf(V * 2)])
    with pytest.raises(dm.DTypeError):
        dm.vdot(dm.tensor([1.0]), dm.tensor([1]))
    with pytest.raises(dm.ShapeError):
        dm.vdot(dm.tensor(p), dm.tensor(p))


def test_add_products_with_beta_and_alpha() -> None:
    m, b1, b2 = (
        RNG.standard_normal((3, 5)),
        RNG.standard_normal((2, 3, 4)),
        RNG.standard_normal((2, 4, 5)),
    )
    t = dm.tensor
    assert_close(dm.addbmm(t(m), t(b1), t(b2)), m + (b1 @ b2).sum(0), rtol=1e-12)
    assert_close(
        dm.addbmm(t(m[0]), t(b1), t(b2), beta=0.5, alpha=2), 0.5 * m[0] + 2 * (b1 @ b2).sum(0)
    )
    assert_close(dm.baddbmm(t(m), t(b1), t(b2), alpha=3), m + 3 * (b1 @ b2), rtol=1e-12)
    nan = t(np.full((3, 5), np.nan))
    assert_close(dm.baddbmm(nan, t(b1), t(b2), beta=0), b1 @ b2, rtol=1e-12)  # NaN ignored
    mat, vec = RNG.standard_normal((3, 4)), RNG.standard_normal(4)
    assert_close(dm.addmv(t(V), t(mat), t(vec), beta=2), 2 * V + mat @ vec, rtol=1e-12)
    u, w = RNG.standard_normal(3), RNG.standard_normal(4)
    assert_close(dm.addr(t(mat), t(u), t(w), alpha=-1), mat - np.outer(u, w), rtol=1e-12)
    assert dm.addr(t([[1, 2]]), t([1]), t([3, 4])).tolist() == [[4, 6]]
    gradcheck(lambda a, x, y: dm.baddbmm(a, x, y, beta=0.5), [leaf(m), leaf(b1), leaf(b2)])
    gradcheck(lambda a, x, y: dm.addbmm(a, x, y, alpha=2), [leaf(m), leaf(b1), leaf(b2)])
    gradcheck(dm.addmv, [leaf(V), leaf(mat), leaf(vec)])
    gradcheck(dm.addr, [leaf(mat), leaf(u), leaf(w)])
    x = t(mat)
    assert x.addr_(t(u), t(w)) is x
    assert_close(x, mat + np.outer(u, w), rtol=1e-12)
    with pytest.raises(dm.ShapeError):
        dm.addmv(t(V), t(mat), t(mat))
    with pytest.raises(dm.ShapeError):
        dm.baddbmm(t(np.zeros((4, 4))), t(b1), t(b2))


def test_chain_matmul() -> None:
    a, b, c = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 4)), RNG.standard_normal((4, 1))
    assert_close(dm.chain_matmul(dm.tensor(a), dm.tensor(b), dm.tensor(c)), a @ b @ c, rtol=1e-12)
    assert_close(dm.chain_matmul(dm.tensor(a)), a)
    gradcheck(dm.chain_matmul, [leaf(a), leaf(b), leaf(c)])
    with pytest.raises(dm.ShapeError):
        dm.chain_matmul(dm.tensor(V))
    with pytest.raises(dm.ShapeError):
        dm.chain_matmul()


# ---- selection --------------------------------------------------------------------------------


def test_select_narrow_copy_take_argwhere() -> None:
    x = RNG.standard_normal((3, 4))
    t = dm.tensor(x)
    assert_close(dm.select(t, 1, -1), x[:, -1])
    copy = dm.narrow_copy(t, 1, 1, 2)
    assert_close(copy, x[:, 1:3])
    assert copy.is_contiguous() and t.narrow_copy(0, 2, 1).shape == (1, 4)
    idx = np.array([[0, 11], [-1, 5]])
    assert_close(dm.take(t, dm.tensor(idx)), np.take(x, idx))
    assert_close(t.transpose(0, 1).take(dm.tensor([1, 2])), np.take(x.T, [1, 2]))
    assert dm.take(t, dm.tensor(3)).shape == ()
    gradcheck(lambda a: dm.take(a, dm.tensor([0, 5, 5, -1])), [leaf(x)])
    with pytest.raises(dm.IndexOutOfRangeError):
        dm.take(t, dm.tensor([12]))
    with pytest.raises(dm.DTypeError):
        dm.take(t, dm.tensor([1], dtype=dm.int32))
    m = np.array([[0, 1, 0], [2, 0, 3]])
    assert dm.argwhere(dm.tensor(m)).tolist() == np.argwhere(m).tolist()
    assert dm.tensor(m).argwhere().dtype == dm.int64
    assert dm.argwhere(dm.tensor(5)).shape == (1, 0)
    assert dm.argwhere(dm.zeros(0, 2)).shape == (0, 2)


def test_aminmax() -> None:
    x = RNG.standard_normal((3, 4))
    t = dm.tensor(x)
    lo, hi = dm.aminmax(t)
    assert lo.item() == x.min() and hi.item() == x.max()
    r = t.aminmax(dim=1, keepdim=True)
    assert_close(r.min, x.min(1, keepdims=True))
    assert_close(r.max, x.max(1, keepdims=True))
    whole = dm.aminmax(t, keepdim=True)
    assert whole.min.shape == (1, 1)
    assert dm.aminmax(dm.tensor([3, 1, 2])).max.dtype == dm.int64
    gradcheck(lambda a: dm.aminmax(a, dim=0).max, [leaf(x)])
    with pytest.raises(dm.InvalidValueError):
        dm.aminmax(dm.zeros(0))
    with pytest.raises(IndexError):  # PyTorch's error for an empty reduction dim
        dm.aminmax(dm.zeros(2, 0), dim=1)


# ---- trapezoid rule --------------------------------------------------------------------------


def test_trapezoid_rules_follow_numpy_and_scipy_definitions() -> None:
    y = RNG.standard_normal((3, 5))
    xs = np.sort(RNG.standard_normal(5))
    t = dm.tensor(y)
    assert_close(dm.trapezoid(t), np.trapezoid(y) if hasattr(np, "trapezoid") else np.trapz(y))
    mid = (y[:, 1:] + y[:, :-1]) / 2
    assert_close(dm.trapezoid(t, dx=0.5), 0.5 * mid.sum(1), rtol=1e-12)
    assert_close(dm.trapezoid(t, dm.tensor(xs)), (mid * np.diff(xs)).sum(1), rtol=1e-12)
    assert_close(dm.trapz(t, dm.tensor(xs)), (mid * np.diff(xs)).sum(1), rtol=1e-12)
    assert_close(dm.trapz(t, dx=2.0), 2 * mid.sum(1), rtol=1e-12)
    down = (y[1:] + y[:-1]) / 2
    assert_close(dm.trapezoid(t, dim=0), down.sum(0), rtol=1e-12)
    assert_close(dm.cumulative_trapezoid(t), np.cumsum(mid, 1), rtol=1e-12)
    x2 = np.sort(RNG.standard_normal((3, 5)), 1)
    assert_close(dm.cumulative_trapezoid(t, dm.tensor(x2)), np.cumsum(mid * np.diff(x2, axis=1), 1))
    ints = dm.trapezoid(dm.tensor([1, 2, 4]))
    assert ints.dtype == dm.float32 and ints.item() == 4.5
    assert dm.trapezoid(dm.tensor([1.0])).item() == 0.0
    assert dm.cumulative_trapezoid(dm.tensor([1.0])).shape == (0,)
    gradcheck(lambda a, b: dm.trapezoid(a, b), [leaf(y), leaf(xs)])
    gradcheck(lambda a: dm.cumulative_trapezoid(a, dx=0.3, dim=0), [leaf(y)])
    with pytest.raises(dm.ShapeError):
        dm.trapezoid(t, dm.tensor(xs[:4]))
    with pytest.raises(dm.InvalidValueError):
        dm.trapezoid(t, dm.tensor(xs), dx=1.0)
