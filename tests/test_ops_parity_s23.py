"""Parity with PyTorch found by the session-23 semantics sweep of the top-level functions and
Tensor methods: ``out=`` on the free functions written in Python, reductions of 0-d and empty
tensors, ``norm(keepdim=True)``, and the exception classes of out-of-range indices. Every
expected value here was produced by PyTorch 2.x for the same call."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
from democratising.errors import IndexOutOfRangeError


def _x() -> dm.Tensor:
    return dm.tensor([[0.5, -1.0, 2.0], [3.0, 0.25, -0.75]])


def _close(t: dm.Tensor, expected: object, dtype: object = None) -> None:
    # (atol 1e-4: the expected values are PyTorch's, printed to 4 places)
    np.testing.assert_allclose(t.numpy(), np.asarray(expected), rtol=1e-4, atol=1e-4)
    if dtype is not None:
        assert t.dtype == dtype


# ---- out= --------------------------------------------------------------------------------------


def test_out_is_written_resized_and_returned() -> None:
    out = dm.empty(0)
    r = dm.cumsum(_x(), 1, out=out)
    assert r is out
    _close(out, [[0.5, -0.5, 1.5], [3.0, 3.25, 2.5]], dm.float32)


def test_out_of_wider_dtype_takes_the_cast_result() -> None:
    out = dm.empty(0, dtype=dm.float64)
    dm.prod(_x(), 1, out=out)
    _close(out, [-1.0, -0.5625], dm.float64)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda x, o: dm.atan2(x, dm.ones(3), out=o),
         [[0.4636, -0.7854, 1.1071], [1.2490, 0.2450, -0.6435]]),
        (lambda x, o: dm.where(x > 0, x, dm.tensor(0.0), out=o),
         [[0.5, 0.0, 2.0], [3.0, 0.25, 0.0]]),
        (lambda x, o: dm.lerp(x, dm.zeros(3), 0.5, out=o),
         [[0.25, -0.5, 1.0], [1.5, 0.125, -0.375]]),
        (lambda x, o: dm.norm(x, dim=1, out=o), [2.2913, 3.1024]),
        (lambda x, o: dm.subtract(x, 1, out=o), [[-0.5, -2.0, 1.0], [2.0, -0.75, -1.75]]),
        (lambda x, o: dm.logspace(0, 2, 3, out=o), [1.0, 10.0, 100.0]),
        (lambda x, o: dm.fmod(dm.tensor([5, -5, 7]), 3, out=o), [2.0, -2.0, 1.0]),
    ],
)  # fmt: skip
def test_out_on_python_functions(call: object, expected: object) -> None:
    out = dm.empty(6)  # a wrong shape: resized, as PyTorch does
    r = call(_x(), out)  # type: ignore[operator]
    assert r is out
    _close(out, expected, dm.float32)


def test_out_tuple_for_values_and_indices() -> None:
    v, i = dm.empty(0), dm.empty(0, dtype=dm.int64)
    r = dm.max(_x(), 1, out=(v, i))
    assert r.values is v and r.indices is i
    _close(v, [2.0, 3.0])
    assert i.tolist() == [2, 0]
    v, i = dm.empty(0), dm.empty(0, dtype=dm.int64)
    r = dm.sort(_x(), 1, descending=True, out=(v, i))
    assert r[0] is v
    _close(v, [[2.0, 0.5, -1.0], [3.0, 0.25, -0.75]])
    assert i.tolist() == [[2, 0, 1], [0, 1, 2]]
    v, i = dm.empty(0), dm.empty(0, dtype=dm.int64)
    dm.topk(_x(), 1, out=(v, i))
    _close(v, [[2.0], [3.0]])
    assert i.tolist() == [[2], [0]]


def test_out_rejects_a_narrowing_cast_and_grad() -> None:
    with pytest.raises(RuntimeError, match="can't be cast"):
        dm.fmod(_x(), 2.0, out=dm.empty(0, dtype=dm.int64))
    x = _x().requires_grad_()
    with pytest.raises(RuntimeError, match="automatic differentiation"):
        dm.cumsum(x, 1, out=dm.empty(0))
    with dm.no_grad():
        _close(dm.cumsum(x, 1, out=dm.empty(0)), [[0.5, -0.5, 1.5], [3.0, 3.25, 2.5]])
    with pytest.raises(TypeError):
        dm.max(_x(), 1, out=dm.empty(0))  # two results need two tensors


def test_out_shows_in_the_signature() -> None:
    import inspect

    assert "out" in inspect.signature(dm.cumsum).parameters
    assert dm.cumsum(_x(), 0).shape == (2, 3)  # the plain call is unchanged


# ---- reductions --------------------------------------------------------------------------------


def test_prod_of_a_0d_tensor_over_dim() -> None:
    _close(dm.prod(dm.tensor(3.0), 0), 3.0)
    r = dm.prod(dm.tensor(4), -1, keepdim=True)
    assert r.shape == () and r.dtype == dm.int64 and r.item() == 4
    r = dm.prod(dm.tensor(True), 0)
    assert r.dtype == dm.int64 and r.item() == 1


@pytest.mark.parametrize(
    ("p", "expected"), [("fro", 3.8568), (1, 7.5), (math.inf, 3.0), (0, 6.0), (3, 3.3190)]
)
def test_norm_keepdim_without_dim_keeps_every_dim(p: object, expected: float) -> None:
    r = dm.norm(_x(), p=p, keepdim=True)
    assert r.shape == (1, 1)
    _close(r, [[expected]])


def test_mode_and_nanmedian_of_empty_dims() -> None:
    with pytest.raises(IndexError, match="non-zero size"):
        dm.mode(dm.zeros(0, 3), 0)
    with pytest.raises(IndexError, match="non-zero size"):
        dm.nanmedian(dm.zeros(3, 0), 1)
    r = dm.mode(dm.zeros(0, 3), 1)
    assert r.values.shape == (0,) and r.indices.shape == (0,)
    assert r.indices.dtype == dm.int64
    assert dm.nanmedian(dm.zeros(0, 3), 1).values.shape == (0,)


# ---- error classes -----------------------------------------------------------------------------


def test_index_out_of_range_is_both_index_and_runtime_error() -> None:
    assert issubclass(IndexOutOfRangeError, IndexError)
    assert issubclass(IndexOutOfRangeError, RuntimeError)
    x = _x()
    with pytest.raises(RuntimeError):  # PyTorch: RuntimeError
        dm.gather(x, 1, dm.tensor([[3]]))
    with pytest.raises(RuntimeError):
        dm.topk(x, 4)
    with pytest.raises(RuntimeError):
        dm.kthvalue(x, 0)
    with pytest.raises(RuntimeError):
        x.index_add(1, dm.tensor([3]), dm.ones(2, 1))
    with pytest.raises(IndexError):  # PyTorch: IndexError
        x.index_fill(1, dm.tensor([-4]), 1.0)
    with pytest.raises(IndexError):
        x[5]


def test_nextafter_broadcast_error_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError):
        dm.nextafter(dm.ones(2, 3), dm.ones(4))
    assert dm.nextafter(dm.ones(2, 1), dm.zeros(3)).shape == (2, 3)
