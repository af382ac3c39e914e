"""PyTorch tensor methods written in Python over engine ops (``democratising._tensor_extra``):
values against NumPy, gradients against finite differences, and the small PyTorch habits
(``f"{loss:.4f}"``, ``t == None``, ``.data =``, pickling, ``to()`` returning ``self``)."""

from __future__ import annotations

import pickle
from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
from helpers import gradcheck

RNG = np.random.default_rng(7)
A = RNG.standard_normal((3, 5))


def leaf(a: np.ndarray) -> dm.Tensor:
    return dm.tensor(a, dtype=dm.float64, requires_grad=True)


CASES: dict[str, tuple[Callable[[dm.Tensor], Any], Callable[[np.ndarray], np.ndarray]]] = {
    "sort": (lambda x: x.sort(1).values, lambda a: np.sort(a, 1)),
    "sort_desc": (lambda x: dm.sort(x, 0, descending=True)[0], lambda a: -np.sort(-a, 0)),
    "topk": (lambda x: x.topk(2).values, lambda a: -np.sort(-a, 1)[:, :2]),
    "norm": (lambda x: x.norm(), lambda a: np.linalg.norm(a)),
    "norm_dim": (
        lambda x: x.norm(dim=1, keepdim=True),
        lambda a: np.linalg.norm(a, axis=1)[:, None],
    ),
    "norm_p1": (lambda x: x.norm(p=1, dim=0), lambda a: np.abs(a).sum(0)),
    "norm_p3": (lambda x: dm.norm(x, 3), lambda a: (np.abs(a) ** 3).sum() ** (1 / 3)),
    "prod": (lambda x: x.prod(1), lambda a: a.prod(1)),
    "prod_all": (lambda x: x.prod(), lambda a: a.prod()),
    "cumsum": (lambda x: x.cumsum(1), lambda a: a.cumsum(1)),
    "cumsum0": (lambda x: dm.cumsum(x, 0), lambda a: a.cumsum(0)),
    "flip": (lambda x: x.flip((0, 1)), lambda a: a[::-1, ::-1]),
    "roll": (lambda x: x.roll(2, 1), lambda a: np.roll(a, 2, 1)),
    "roll_flat": (lambda x: x.roll(-3), lambda a: np.roll(a, -3)),
    "repeat": (lambda x: x.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3))),
    "tile": (lambda x: x.tile((2,)), lambda a: np.tile(a, (1, 2))),
    "triu": (lambda x: x.triu(1), lambda a: np.triu(a, 1)),
    "tril": (lambda x: dm.tril(x, -1), lambda a: np.tril(a, -1)),
    "diag_of_matrix": (lambda x: x.diag(1), lambda a: np.diag(a, 1)),
    "trace": (lambda x: x[:, :3].trace(), lambda a: np.trace(a[:, :3])),
    "diff": (lambda x: x.diff(), lambda a: np.diff(a)),
    "repeat_interleave": (lambda x: x.repeat_interleave(2, dim=0), lambda a: np.repeat(a, 2, 0)),
    "lerp": (lambda x: x.lerp(x * 2, 0.3), lambda a: a + 0.3 * a),
    "masked_select": (lambda x: x.masked_select(x > 0), lambda a: a[a > 0]),
    "outer": (lambda x: x[0].outer(x[1]), lambda a: np.outer(a[0], a[1])),
    "clamp_tensor": (
        lambda x: x.clamp(max=dm.zeros(5, dtype=dm.float64)),
        lambda a: np.minimum(a, 0),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_values_match_numpy_and_gradients_match_finite_differences(name: str) -> None:
    fn, ref = CASES[name]
    got = fn(leaf(A))
    np.testing.assert_allclose(got.detach().numpy(), ref(A), rtol=1e-12, atol=1e-12)
    gradcheck(fn, [leaf(A)])


def test_diag_of_a_vector_and_indices_of_sort() -> None:
    v = RNG.standard_normal(4)
    for k in (0, 2, -1):
        np.testing.assert_array_equal(dm.diag(leaf(v), k).detach().numpy(), np.diag(v, k))
        gradcheck(lambda x, k=k: x.diag(k), [leaf(v)])
    t = dm.tensor([[3.0, 1.0, 2.0, 1.0]])
    assert t.argsort().tolist() == [[1, 3, 2, 0]]  # stable: ties keep their order
    assert t.topk(2, largest=False).indices.tolist() == [[1, 3]]
    with pytest.raises(IndexError):
        t.topk(5)


def test_value_tests_and_comparisons() -> None:
    t = dm.tensor([1.0, float("nan"), float("inf"), -float("inf")])
    assert t.isnan().tolist() == [False, True, False, False]
    assert dm.isinf(t).tolist() == [False, False, True, True]
    assert t.isfinite().tolist() == [True, False, False, False]
    assert dm.arange(3).isnan().tolist() == [False] * 3
    assert dm.allclose(dm.tensor([1.0, 2.0]), dm.tensor([1.0, 2.0 + 1e-9]))
    assert dm.equal(dm.ones(2), dm.ones(2)) and not dm.ones(2).equal(dm.ones(3))
    assert dm.isclose(dm.tensor([1.0, 2.0]), dm.tensor([1.0, 2.5])).tolist() == [True, False]


def test_factories_from_a_tensor_and_in_place_forms() -> None:
    x = dm.zeros(2, dtype=dm.float64)
    assert x.new_zeros(3).dtype == dm.float64 and x.new_ones((2, 2)).shape == (2, 2)
    assert x.new_full((2,), 7.0).tolist() == [7.0, 7.0] and x.new_tensor([1, 2]).dtype == dm.float64
    y = dm.tensor([-1.0, 4.0])
    assert y.abs_() is y and y.tolist() == [1.0, 4.0]
    y.sqrt_()
    y.masked_fill_(y > 1.5, 0.0)
    assert y.tolist() == [1.0, 0.0]
    w = dm.empty(100).uniform_(-0.5, 0.5)
    assert -0.5 <= w.min().item() and w.max().item() <= 0.5
    w.normal_(3.0, 0.01)
    assert abs(w.mean().item() - 3.0) < 0.01
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        y.nosuch  # noqa: B018


def test_split_sizes_randint_keywords_linspace_and_clamp_checks() -> None:
    parts = dm.arange(10).split([3, 7])
    assert [p.tolist() for p in parts] == [[0, 1, 2], list(range(3, 10))]
    with pytest.raises(dm.ShapeError, match="add up"):
        dm.arange(10).split([3, 3])
    r = dm.randint(low=5, high=7, size=(50,))
    assert r.shape == (50,) and set(r.tolist()) <= {5, 6}
    assert dm.linspace(2, 3, 1).tolist() == [2.0]
    with pytest.raises(ValueError, match="at least one"):
        dm.ones(2).clamp()


def test_pytorch_habits_format_none_data_to_and_pickle() -> None:
    loss = dm.tensor(0.123456)
    assert f"{loss:.3f}" == "0.123" and f"{dm.ones(2)}" == str(dm.ones(2))
    with pytest.raises(TypeError):
        f"{dm.ones(2):.2f}"
    assert (dm.ones(2) == None) is False and (dm.ones(2) != None) is True  # noqa: E711
    t = dm.randn(3, requires_grad=True)
    t.data = dm.zeros(3)
    assert t.tolist() == [0.0, 0.0, 0.0] and t.requires_grad
    t.data = dm.zeros(4)  # PyTorch: a leaf's data may change shape
    assert t.shape == (4,) and t.requires_grad and t.is_leaf
    assert t.to("cpu") is t and t.cpu() is t and t.to(dm.float32) is t
    assert t.to(dm.float64) is not t
    p = pickle.loads(pickle.dumps(dm.nn.Parameter(dm.tensor([1.0, 2.0]))))
    assert type(p) is dm.nn.Parameter and p.requires_grad and p.tolist() == [1.0, 2.0]
    b = pickle.loads(pickle.dumps(dm.arange(4).bfloat16()))
    assert b.dtype == dm.bfloat16 and b.tolist() == [0.0, 1.0, 2.0, 3.0]
    # as PyTorch: a non-leaf pickles and loads as a leaf that requires grad
    u = pickle.loads(pickle.dumps(t * 2))
    assert u.requires_grad and u.is_leaf and u.grad_fn is None and u.shape == (4,)


def test_meshgrid_and_broadcast_tensors() -> None:
    x, y = dm.arange(3), dm.arange(2)
    for indexing in ("ij", "xy"):
        got = dm.meshgrid(x, y, indexing=indexing)
        want = np.meshgrid(np.arange(3), np.arange(2), indexing=indexing)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w)
    a, b = dm.broadcast_tensors(dm.ones(3, 1), dm.ones(4))
    assert a.shape == b.shape == (3, 4)


def test_exact_integer_items_empty_reprs_scalar_pow_and_single_argument_where() -> None:
    big = 2**53 + 1
    assert dm.tensor([big]).item() == big
    assert dm.tensor([7], dtype=dm.int32).item() == 7
    assert repr(dm.zeros(0, 3)) == "tensor([], size=(0, 3))"
    assert dm.pow(2.0, dm.tensor([1.0, 3.0])).tolist() == [2.0, 8.0]
    rows, cols = dm.where(dm.tensor([[True, False], [False, True]]))
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1]
    assert dm.where(dm.tensor([True, False]), dm.ones(2), 0.0).tolist() == [1.0, 0.0]


def test_nonzero_as_tuple_indexes_like_a_mask() -> None:
    t = dm.tensor([[0.0, 1.0], [2.0, 0.0]])
    assert t.nonzero().tolist() == [[0, 1], [1, 0]]
    rows, cols = t.nonzero(as_tuple=True)
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]
    assert t[t.nonzero(as_tuple=True)].tolist() == t[t != 0].tolist()
    assert [i.tolist() for i in dm.tensor(3.0).nonzero(as_tuple=True)] == [[0]]


def test_div_rounding_modes_match_numpy() -> None:
    a, b = np.array([7, -7, 5]), np.array([2, 2, -3])
    assert dm.tensor(a).div(dm.tensor(b), rounding_mode="floor").tolist() == (a // b).tolist()
    trunc = dm.div(dm.tensor(a), dm.tensor(b), rounding_mode="trunc")
    assert trunc.dtype == dm.int64 and trunc.tolist() == np.trunc(a / b).astype(int).tolist()
    np.testing.assert_allclose(dm.tensor(a).div(dm.tensor(b)).numpy(), a / b, rtol=1e-6)
    with pytest.raises(ValueError, match="rounding_mode"):
        dm.ones(2).div(2, rounding_mode="round")


def test_clamp_promotes_an_integer_tensor_to_float_for_a_float_bound() -> None:
    t = dm.tensor([1, 2, 3])
    got = t.clamp(0.5, 2.5)
    assert got.dtype == dm.float32
    np.testing.assert_array_equal(got.numpy(), [1.0, 2.0, 2.5])
    assert t.clamp(min=2).dtype == dm.int64
    assert dm.clamp(t, max=1.5).dtype == dm.float32
    # In place, the float result cannot be written back into the integers: refused.
    with pytest.raises(TypeError, match="can't be cast"):
        t.clamp_(0.5)
    np.testing.assert_array_equal(t.numpy(), [1, 2, 3])


def test_clamp_in_place_takes_tensor_bounds_and_differentiates() -> None:
    x = dm.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    lo = dm.tensor([-1.0, 0.0, 0.0])
    hi = dm.tensor([1.0, 1.0, 2.0], requires_grad=True)
    y = x * 1
    assert y.clamp_(lo, hi) is y
    np.testing.assert_allclose(y.detach().numpy(), [-1.0, 0.5, 2.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 1.0, 0.0])
    np.testing.assert_allclose(hi.grad.numpy(), [0.0, 0.0, 1.0])
    with pytest.raises(ValueError):
        y.detach().clamp_()


def test_nan_is_the_largest_value_in_descending_sort_and_topk() -> None:
    nan, inf = float("nan"), float("inf")
    x = dm.tensor([[1.0, nan, inf, 3.0, 3.0, nan], [2.0, 1.0, 0.0, 5.0, -inf, 1.0]])
    s = x.sort(1, descending=True)
    # PyTorch's order: NaN first (ties in their order), then descending, ties stable.
    np.testing.assert_array_equal(s.indices.numpy(), [[1, 5, 2, 3, 4, 0], [3, 0, 1, 5, 2, 4]])
    top = x.topk(3, 1)
    np.testing.assert_array_equal(top.indices.numpy(), [[1, 5, 2], [3, 0, 1]])
    assert np.isnan(top.values.numpy()[0, :2]).all()
    # Ascending keeps NaN last; smallest-k never picks it.
    np.testing.assert_array_equal(x.sort(1).indices.numpy()[0], [0, 3, 4, 2, 1, 5])
    np.testing.assert_array_equal(x.topk(2, 1, largest=False).indices.numpy()[0], [0, 3])
    b = dm.tensor([True, False, True]).sort(descending=True)
    np.testing.assert_array_equal(b.indices.numpy(), [0, 2, 1])


def test_a_requested_float64_keeps_python_floats_exact() -> None:
    assert dm.tensor([0.7], dtype=dm.float64).item() == 0.7
    assert dm.tensor([[0.1, 2]], dtype="float64").numpy()[0, 0] == 0.1
    assert dm.tensor(0.7).dtype == dm.float32  # the default dtype is unchanged
    # Other requested dtypes round once from the exact value.
    assert (
        dm.tensor([0.7], dtype=dm.bfloat16).item() == dm.tensor(np.array([0.7])).bfloat16().item()
    )


def test_hooks_may_not_change_the_gradients_size_or_dtype_and_chunk_counts_are_positive() -> None:
    p = dm.nn.Parameter(dm.ones(3))

    def shrink(g: dm.Tensor) -> dm.Tensor:
        return g.sum()

    p.register_hook(shrink)
    with pytest.raises(dm.errors.AutogradError, match="hook 'shrink' has changed the size"):
        (p * 2).sum().backward()
    q = dm.nn.Parameter(dm.ones(3))
    q.register_hook(lambda g: g.double())
    with pytest.raises(RuntimeError, match="changed the type"):
        (q * 2).sum().backward()
    for bad in (0, -1):
        with pytest.raises(ValueError, match="greater than 0"):
            dm.ones(4).chunk(bad)


def test_kthvalue_matches_numpy_and_differentiates() -> None:
    a = np.random.default_rng(2).standard_normal((4, 7))
    x = dm.tensor(a, requires_grad=True)
    r = x.kthvalue(3, 1)
    np.testing.assert_array_equal(r.values.detach().numpy(), np.sort(a, 1)[:, 2])
    np.testing.assert_array_equal(r.indices.numpy(), np.argsort(a, 1, kind="stable")[:, 2])
    r.values.sum().backward()
    want = np.zeros_like(a)
    want[np.arange(4), np.argsort(a, 1, kind="stable")[:, 2]] = 1.0
    np.testing.assert_array_equal(x.grad.numpy(), want)
    kept = dm.kthvalue(dm.tensor(a), 1, 0, keepdim=True)
    assert tuple(kept.values.shape) == (1, 7)
    np.testing.assert_array_equal(kept.values.numpy()[0], a.min(0))
    with pytest.raises(IndexError):
        dm.tensor(a).kthvalue(8, 1)
