"""Python protocols of ``dm.Tensor`` against ``torch.Tensor`` (session 23 sweep): truth value,
scalar conversion, ``__index__``, ``len``/iteration, ``in``, ``reversed``, hashing, ``copy``,
``deepcopy``, ``pickle``, NumPy interop (``__array__``, ufuncs through ``__array_wrap__``),
``__format__``, reflected and bitwise operators and indexing. Expected values were taken from
PyTorch 2.x runs; the tests themselves do not import torch."""

from __future__ import annotations

import copy
import math
import pickle
import weakref

import numpy as np
import pytest

import democratising as dm


class _Sub(dm.Tensor):
    pass


# ---- truth value and scalar conversion -------------------------------------------------------


def test_bool_needs_exactly_one_element() -> None:
    assert bool(dm.tensor([2.0])) is True
    assert bool(dm.tensor(0.0)) is False
    assert bool(dm.tensor([[0.0]])) is False
    for t in (dm.tensor([]), dm.tensor([1.0, 2.0])):
        with pytest.raises(RuntimeError, match="ambiguous"):
            bool(t)


def test_scalar_conversions() -> None:
    assert int(dm.tensor(2.7)) == 2
    assert int(dm.tensor([[3]])) == 3
    assert float(dm.tensor(3)) == 3.0
    assert complex(dm.tensor(3.0)) == 3 + 0j
    with pytest.raises(ValueError):
        int(dm.tensor([2.7, 1.0]))
    with pytest.raises(ValueError):
        float(dm.tensor([3, 4]))
    with pytest.raises(RuntimeError):
        dm.tensor([1, 2]).item()
    assert dm.tensor([[1.5]]).item() == 1.5


def test_index_protocol() -> None:
    assert [10, 20, 30][dm.tensor(1)] == 20
    assert [10, 20, 30][dm.tensor([1])] == 20
    assert list(range(dm.tensor(3))) == [0, 1, 2]
    with pytest.raises(TypeError, match="integer tensors of a single element"):
        [10, 20, 30][dm.tensor(1.0)]


def test_len_and_iteration() -> None:
    with pytest.raises(TypeError, match="0-d"):
        len(dm.tensor(1.0))
    with pytest.raises(TypeError, match="0-d"):
        list(dm.tensor(1.0))
    assert len(dm.zeros(3, 2)) == 3
    rows = list(dm.tensor([[1, 2], [3, 4]]))
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4]]
    assert [x.shape for x in dm.tensor([1, 2])] == [(), ()]


# ---- in, reversed, hashing, comparisons with other objects -----------------------------------


def test_contains_numbers_and_tensors() -> None:
    t = dm.tensor([[1, 2], [3, 4]])
    assert 2 in t
    assert 5 not in t
    assert np.int64(4) in t
    assert dm.tensor([1, 2]) in t  # any broadcast match (torch: True)
    assert dm.tensor(3) in t
    assert dm.tensor([9, 9]) not in t


@pytest.mark.parametrize("element", ["a", [1, 2], None])
def test_contains_rejects_other_objects(element: object) -> None:
    with pytest.raises(RuntimeError, match="only supports Tensor or scalar"):
        _ = element in dm.tensor([1, 2])


def test_reversed_flips_the_first_dim() -> None:
    assert reversed(dm.tensor([1, 2, 3])).tolist() == [3, 2, 1]
    assert [r.tolist() for r in reversed(dm.tensor([[1, 2], [3, 4]]))] == [[3, 4], [1, 2]]
    assert reversed(dm.tensor(2)).tolist() == 2


def test_hash_is_identity() -> None:
    a, b = dm.tensor(1.0), dm.tensor(1.0)
    assert hash(a) == hash(a) and hash(a) != hash(b)
    assert len({a: 1, b: 2}) == 2
    assert len({a, a}) == 1
    assert weakref.ref(a)() is a


def test_eq_with_none() -> None:
    t = dm.tensor([1, 2])
    assert (t == None) is False  # noqa: E711 - the protocol under test
    assert (t != None) is True  # noqa: E711


# ---- copy, deepcopy, pickle ------------------------------------------------------------------


def test_copy_and_deepcopy() -> None:
    t = dm.tensor([1.0, 2.0], requires_grad=True)
    c = copy.copy(t)
    assert c is not t and c.requires_grad and c.is_leaf and c.data_ptr() == t.data_ptr()
    t.grad = dm.tensor([5.0, 6.0])
    d = copy.deepcopy(t)
    assert d.requires_grad and d.is_leaf and d.data_ptr() != t.data_ptr()
    assert d.grad.tolist() == [5.0, 6.0] and d.grad is not t.grad
    p = copy.deepcopy(dm.nn.Parameter(dm.tensor([1.0])))
    assert type(p).__name__ == "Parameter" and p.requires_grad
    with pytest.raises(RuntimeError):
        copy.deepcopy(t * 2)


def _roundtrip(x: object) -> dm.Tensor:
    return pickle.loads(pickle.dumps(x))


@pytest.mark.parametrize(
    "t",
    [dm.tensor(True), dm.tensor(2.5), dm.tensor(7), dm.tensor(1.5, dtype=dm.bfloat16)],
)
def test_pickle_keeps_0d_shape(t: dm.Tensor) -> None:
    # np.ascontiguousarray made every 0-d tensor come back with shape (1,).
    r = _roundtrip(t)
    assert r.shape == () and r.dtype == t.dtype and r.tolist() == t.tolist()


def test_pickle_dtype_grad_parameter_views() -> None:
    r = _roundtrip(dm.tensor([1.5, 2.25], dtype=dm.bfloat16))
    assert r.dtype == dm.bfloat16 and r.tolist() == [1.5, 2.25]
    r = _roundtrip(dm.tensor([1, 2], dtype=dm.int32))
    assert r.dtype == dm.int32 and r.tolist() == [1, 2]
    r = _roundtrip(dm.tensor([1.0, 2.0], requires_grad=True))
    assert r.requires_grad and r.is_leaf
    for rg in (True, False):
        p = _roundtrip(dm.nn.Parameter(dm.tensor([1.0, 2.0]), requires_grad=rg))
        assert type(p).__name__ == "Parameter" and p.requires_grad is rg
    r = _roundtrip(dm.arange(6.0).reshape(2, 3).t())
    assert r.tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]


def test_pickle_and_copies_keep_subclass_and_attributes() -> None:
    s = _Sub(dm.tensor([1.0]))
    s.tag = [1]
    # torch keeps both for pickle and copy.copy; its deepcopy refuses a plain (non-wrapper)
    # subclass, where dm's copies it like a Parameter.
    for r in (_roundtrip(s), copy.deepcopy(s), copy.copy(s)):
        assert type(r) is _Sub and r.tag == [1] and r.tolist() == [1.0]


# ---- NumPy interop ---------------------------------------------------------------------------


def test_asarray_shares_memory() -> None:
    t = dm.tensor([1.0, 2.0])
    np.asarray(t)[0] = 9.0
    assert t.tolist() == [9.0, 2.0]
    a = np.asarray(dm.tensor(3.0))
    assert a.shape == () and a.dtype == np.float32
    assert np.asarray(dm.tensor([1, 2]), dtype=np.float64).dtype == np.float64


def test_ufuncs_return_tensors() -> None:
    r = np.add(dm.tensor([1.0, 2.0]), 1)
    assert isinstance(r, dm.Tensor) and r.dtype == dm.float32 and r.tolist() == [2.0, 3.0]
    r = np.sin(dm.tensor([1.0, 2.0]))
    assert isinstance(r, dm.Tensor)
    assert r.tolist() == pytest.approx([0.8414710164070129, 0.9092974066734314])
    r = np.add(dm.tensor([1, 2]), 1.5)
    assert isinstance(r, dm.Tensor) and r.dtype == dm.float64 and r.tolist() == [2.5, 3.5]
    r = np.add(dm.tensor(1.0), 1)
    assert isinstance(r, dm.Tensor) and r.shape == () and r.item() == 2.0
    r = np.greater(dm.tensor([1.0, 2.0]), 1)  # torch: uint8 (dm has no uint8): values agree
    assert isinstance(r, dm.Tensor) and r.tolist() == [False, True]
    r = np.add(dm.tensor([1.0]), 1j)  # a result the engine cannot hold stays an array
    assert isinstance(r, np.ndarray) and r.tolist() == [1 + 1j]


def test_numpy_scalars_keep_the_tensor_dtype() -> None:
    assert (np.float64(2) * dm.tensor([1.0, 2.0])).dtype == dm.float32
    assert (np.float64(2) * dm.tensor(3.0)).dtype == dm.float32
    assert (np.int64(2) * dm.tensor([1, 2], dtype=dm.int32)).dtype == dm.int32
    r = np.float32(2) + dm.tensor([1, 2])
    assert r.dtype == dm.float32 and r.tolist() == [3.0, 4.0]
    assert np.from_dlpack(dm.tensor([1.0, 2.0])).tolist() == [1.0, 2.0]


# ---- formatting ------------------------------------------------------------------------------


def test_format() -> None:
    assert format(dm.tensor(3.14159), ".2f") == "3.14"
    assert format(dm.tensor(7), "03d") == "007"
    assert f"{dm.tensor(2.5):>8.3f}" == "   2.500"
    assert format(dm.tensor([1.0, 2.0]), "") == "tensor([1., 2.])"
    for t in (dm.tensor([1.0, 2.0]), dm.tensor([1.5])):
        with pytest.raises(TypeError):
            format(t, ".2f")


def test_tolist_bf16() -> None:
    assert dm.tensor([1.1, 2.0], dtype=dm.bfloat16).tolist() == [1.1015625, 2.0]
    assert dm.tensor(1.1, dtype=dm.bfloat16).tolist() == 1.1015625
    assert dm.tensor(3.5).tolist() == 3.5


# ---- operators -------------------------------------------------------------------------------


def test_unary_operators() -> None:
    assert (~dm.tensor([1, -2])).tolist() == [-2, 1]
    assert (~dm.tensor([True, False])).tolist() == [False, True]
    assert abs(dm.tensor([-1, 2])).tolist() == [1, 2]
    with pytest.raises(TypeError, match="invert"):
        ~dm.tensor([1.0])
    with pytest.raises(RuntimeError):
        -dm.tensor([True])


def test_power_and_division_edge_cases() -> None:
    with pytest.raises(RuntimeError, match="negative integer powers"):
        dm.tensor([2, 3]) ** -1
    assert (dm.tensor([2, 4]) ** -0.5).tolist() == pytest.approx([0.7071067690849304, 0.5])
    for op in (lambda t: t // 0, lambda t: t % 0):
        with pytest.raises(RuntimeError):
            op(dm.tensor([1, 2]))
    q = (dm.tensor([1.0, -2.0, 0.0]) // 0).tolist()
    assert q[:2] == [math.inf, -math.inf] and math.isnan(q[2])
    assert all(math.isnan(v) for v in (dm.tensor([1.0, -2.0]) % 0).tolist())
    assert (7 // dm.tensor([2, -3])).tolist() == [3, -3]
    assert (7 % dm.tensor([2, -3])).tolist() == [1, -2]
    assert (dm.tensor([-7, 7]) % 3).tolist() == [2, 1]
    assert (dm.tensor([-7.5, 7.0]) % -3).tolist() == [-1.5, -2.0]


def test_bitwise_and_shifts() -> None:
    assert (dm.tensor([8, -8]) >> 1).tolist() == [4, -4]
    assert (1 << dm.tensor([1, 2])).tolist() == [2, 4]
    assert (16 >> dm.tensor([1, 2])).tolist() == [8, 4]
    assert (dm.tensor([6, 3]) ^ dm.tensor([1, 1])).tolist() == [7, 2]
    assert (1 ^ dm.tensor([6, 3])).tolist() == [7, 2]
    r = dm.tensor([True, False]) & dm.tensor([3, 2])
    assert r.dtype == dm.int64 and r.tolist() == [1, 0]
    with pytest.raises(TypeError):
        dm.tensor([1.0]) & 1
    t = dm.tensor([6, 3])
    t &= 5
    assert t.tolist() == [4, 1]


# ---- indexing --------------------------------------------------------------------------------


def test_getitem_special_indices() -> None:
    t = dm.tensor([1, 2])
    assert t[None].shape == (1, 2)
    assert dm.tensor([[1, 2]])[..., None].shape == (1, 2, 1)
    assert t[True].shape == (1, 2) and t[False].shape == (0, 2)
    assert dm.tensor(5)[True].tolist() == [5]
    with pytest.raises(ValueError):
        dm.tensor([1, 2, 3])[::-1]
    with pytest.raises(IndexError):
        dm.tensor([1, 2, 3])[5]


def test_setitem_value_types() -> None:
    t = dm.zeros(2, 2)
    t[0] = dm.tensor([1, 2])
    assert t.dtype == dm.float32 and t.tolist() == [[1.0, 2.0], [0.0, 0.0]]
    i = dm.zeros(2, 2, dtype=dm.int64)
    i[0] = dm.tensor([1.7, -2.7])
    assert i.tolist() == [[1, -2], [0, 0]]
    j = dm.zeros(2, dtype=dm.int64)
    j[0] = 2.7
    assert j.tolist() == [2, 0]
    b = dm.zeros(2, 2)
    b[:] = dm.tensor([1.0, 2.0])
    assert b.tolist() == [[1.0, 2.0], [1.0, 2.0]]
    with pytest.raises(RuntimeError):
        b[:] = dm.tensor([1.0, 2.0, 3.0])


# ---- type identity ---------------------------------------------------------------------------


def test_type_identity() -> None:
    p = dm.nn.Parameter(dm.tensor([1.0]))
    assert isinstance(p, dm.Tensor)
    assert type(dm.tensor([1.0])).__name__ == "Tensor"
    assert type(p).__name__ == "Parameter"
    s = _Sub(dm.tensor([1.0]))
    assert type(s) is _Sub and isinstance(s, dm.Tensor)
