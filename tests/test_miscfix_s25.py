"""Regression tests for the session-25 fixes to the less common tensor functions (found by a
differential fuzz against PyTorch 2.x; the expected values are PyTorch's, written as constants
or computed with NumPy): dtype and argument checks PyTorch makes (``masked_select``,
``isclose``, ``cov``, ``trace``, ``median``, ``logaddexp``), dims (``flip``, ``cross``),
``take_along_dim``'s negative indices, ``cov``'s zeroed normaliser, and empty inputs that stay
in the autograd graph (``cdist``, ``median``, ``nanmedian``)."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
from democratising.errors import (
    ArgumentTypeError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidValueError,
)

# ---- masked_select -------------------------------------------------------------------------


@pytest.mark.parametrize("mask", [[1, 0, 1], [1.0, 0.0, 1.0]])
def test_masked_select_needs_a_bool_mask(mask: list[float]) -> None:
    # PyTorch: RuntimeError "masked_select: expected BoolTensor for mask".
    with pytest.raises(DTypeError, match="expected BoolTensor for mask"):
        dm.masked_select(dm.tensor([10.0, 20.0, 30.0]), dm.tensor(mask))


def test_masked_select_with_a_bool_mask_broadcasts() -> None:
    x = dm.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert dm.masked_select(x, dm.tensor([True, False])).tolist() == [1.0, 3.0]


# ---- flip ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dims", [(0,), (-1,), ()])
def test_flip_of_a_zero_dim_tensor_is_its_value(dims: tuple[int, ...]) -> None:
    assert dm.flip(dm.tensor(3.0), dims).item() == 3.0


def test_flip_of_a_zero_dim_tensor_keeps_the_gradient() -> None:
    x = dm.tensor(2.0, requires_grad=True)
    (dm.flip(x, (0,)) * 3.0).backward()
    assert x.grad is not None and x.grad.item() == 3.0


@pytest.mark.parametrize(
    ("shape", "dims"), [((3,), (0, 0)), ((2, 3), (1, -1)), ((), (0, -1)), ((2, 3), (0, 1, 0))]
)
def test_flip_rejects_a_repeated_dim(shape: tuple[int, ...], dims: tuple[int, ...]) -> None:
    # PyTorch: RuntimeError "dim 1 appears multiple times in the list of dims".
    x = dm.arange(float(math.prod(shape))).reshape(shape)
    with pytest.raises(RuntimeError, match="appears multiple times"):
        dm.flip(x, dims)


def test_flip_still_reverses_each_given_dim() -> None:
    x = dm.arange(6.0).reshape(2, 3)
    assert dm.flip(x, (0, 1)).tolist() == [[5.0, 4.0, 3.0], [2.0, 1.0, 0.0]]
    assert x.flip(-1).tolist() == [[2.0, 1.0, 0.0], [5.0, 4.0, 3.0]]
    with pytest.raises(IndexError):
        dm.flip(dm.tensor(3.0), (1,))


# ---- cross ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [1, 2, -2])
def test_linalg_cross_rejects_a_dim_out_of_range(dim: int) -> None:
    # PyTorch: IndexError "Dimension out of range (expected to be in range of [-1, 0], ...)".
    a, b = dm.tensor([1.0, 2.0, 3.0]), dm.tensor([4.0, 5.0, 6.0])
    with pytest.raises(IndexOutOfRangeError, match="Dimension out of range"):
        dm.linalg.cross(a, b, dim=dim)


def test_cross_rejects_a_dim_out_of_range_and_zero_dim_inputs() -> None:
    with pytest.raises(IndexError):
        dm.cross(dm.ones(3, 3), dm.ones(3, 3), dim=2)
    with pytest.raises(IndexError, match="no dimensions"):
        dm.linalg.cross(dm.tensor(1.0), dm.tensor(1.0))


def test_cross_in_range_dims_unchanged() -> None:
    a, b = dm.tensor([1.0, 2.0, 3.0]), dm.tensor([4.0, 5.0, 6.0])
    assert dm.linalg.cross(a, b, dim=0).tolist() == [-3.0, 6.0, -3.0]
    assert dm.linalg.cross(a, b, dim=-1).tolist() == [-3.0, 6.0, -3.0]
    m = dm.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    n = dm.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert dm.cross(m, n, dim=-2).tolist() == [[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]]


# ---- take_along_dim ------------------------------------------------------------------------


def test_take_along_dim_counts_negative_indices_from_the_end() -> None:
    x = dm.tensor([10.0, 20.0, 30.0])
    assert dm.take_along_dim(x, dm.tensor([-1, 0, -3]), dim=0).tolist() == [30.0, 10.0, 10.0]
    y = dm.tensor([[10.0, 20.0, 30.0]])
    assert dm.take_along_dim(y, dm.tensor([[-1, -3]]), dim=1).tolist() == [[30.0, 10.0]]
    assert dm.take_along_dim(y, dm.tensor([[-2], [1]]), dim=-1).tolist() == [[20.0], [20.0]]


def test_take_along_dim_negative_index_gradient() -> None:
    x = dm.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    dm.take_along_dim(x, dm.tensor([[-1, -1, 0]]), dim=1).sum().backward()
    assert x.grad is not None and x.grad.tolist() == [[1.0, 0.0, 2.0]]


@pytest.mark.parametrize("bad", [3, -4])
def test_take_along_dim_index_beyond_the_size_raises(bad: int) -> None:
    with pytest.raises(IndexError, match=r"\[-3, 3\)"):
        dm.take_along_dim(dm.tensor([10.0, 20.0, 30.0]), dm.tensor([bad]), dim=0)


def test_take_along_dim_without_dim_does_not_wrap() -> None:
    # PyTorch: RuntimeError "index -1 is out of bounds for dimension 0 with size 3".
    with pytest.raises(IndexError):
        dm.take_along_dim(dm.tensor([10.0, 20.0, 30.0]), dm.tensor([-1, 0]))


# ---- cov -----------------------------------------------------------------------------------

_X = [[1.0, 2.0, 4.0], [3.0, 1.0, 0.0]]


def test_cov_non_positive_normaliser_divides_by_positive_zero() -> None:
    # PyTorch zeroes the normaliser (+0): the signs of the centred cross products survive.
    w = dm.tensor([1.0, 2.0, 1.0])
    assert dm.cov(dm.tensor([_X[0]]), correction=5, aweights=w).item() == math.inf
    out = dm.cov(dm.tensor(_X), correction=5, aweights=w)
    assert out.tolist() == [[math.inf, -math.inf], [-math.inf, math.inf]]
    assert dm.cov(dm.tensor(_X), correction=3).tolist() == out.tolist()


@pytest.mark.parametrize("kind", ["fweights", "aweights"])
def test_cov_rejects_weights_summing_to_zero(kind: str) -> None:
    # PyTorch: RuntimeError "cov(): weights sum to zero, can't be normalized".
    w = dm.tensor([0, 0, 0]) if kind == "fweights" else dm.tensor([0.0, 0.0, 0.0])
    with pytest.raises(InvalidValueError, match="weights sum to zero"):
        dm.cov(dm.tensor([_X[0]]), **{kind: w})


@pytest.mark.parametrize("correction", [0.5, True, 1.0])
def test_cov_correction_must_be_an_int(correction: Any) -> None:
    # PyTorch: TypeError "cov(): argument 'correction' must be int, not float".
    with pytest.raises(ArgumentTypeError, match="must be int"):
        dm.cov(dm.tensor(_X), correction=correction)


def test_cov_values_unchanged_against_numpy() -> None:
    a = np.array(_X)
    fw, aw = np.array([1, 2, 1]), np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(dm.cov(dm.tensor(_X), correction=0).numpy(), np.cov(a, ddof=0))
    got = dm.cov(dm.tensor(_X), fweights=dm.tensor([1, 2, 1]), aweights=dm.tensor(aw))
    np.testing.assert_allclose(got.numpy(), np.cov(a, fweights=fw, aweights=aw), rtol=1e-6)


# ---- isclose / allclose --------------------------------------------------------------------


@pytest.mark.parametrize("fn", [dm.isclose, dm.allclose])
@pytest.mark.parametrize(("kw", "name"), [({"rtol": -1.0}, "rtol"), ({"atol": -1e-9}, "atol")])
def test_close_rejects_negative_tolerances(fn: Callable[..., Any], kw: dict, name: str) -> None:
    # PyTorch: RuntimeError "rtol must be greater than or equal to zero, but got -1".
    with pytest.raises(InvalidValueError, match=f"{name} must be greater than or equal to zero"):
        fn(dm.tensor([1.0]), dm.tensor([1.0]), **kw)


@pytest.mark.parametrize("fn", [dm.isclose, dm.allclose])
@pytest.mark.parametrize(
    ("a", "b"),
    [
        (dm.int64, dm.float32),
        (dm.float32, dm.float64),
        (dm.bool, dm.int64),
        (dm.int32, dm.int64),
        (dm.float16, dm.bfloat16),
    ],
)
def test_close_rejects_mixed_dtypes(fn: Callable[..., Any], a: Any, b: Any) -> None:
    # PyTorch: RuntimeError "Long did not match Float" for every pair of different dtypes.
    with pytest.raises(DTypeError, match="did not match"):
        fn(dm.ones(2, dtype=a), dm.ones(2, dtype=b))


def test_close_same_dtype_unchanged() -> None:
    assert dm.isclose(dm.tensor([1, 2]), dm.tensor([1, 3]), atol=1).tolist() == [True, True]
    assert dm.isclose(dm.tensor([True]), dm.tensor([True])).tolist() == [True]
    nan = math.nan
    got = dm.isclose(dm.tensor([nan, 1.0]), dm.tensor([nan, 1.0 + 1e-9]), equal_nan=True)
    assert got.tolist() == [True, True]
    assert dm.allclose(dm.ones(2, 1), dm.ones(3), rtol=0.0, atol=0.0)


# ---- dtype checks: trace, median, logaddexp, logcumsumexp ----------------------------------


def test_trace_of_bool_raises() -> None:
    # PyTorch: "trace" not implemented for 'Bool'.
    with pytest.raises(DTypeError):
        dm.trace(dm.tensor([[True, False], [True, True]]))
    assert dm.trace(dm.tensor([[1, 0], [1, 1]])).item() == 2


@pytest.mark.parametrize(
    "call",
    [
        lambda x: dm.median(x),
        lambda x: dm.median(x, 0),
        lambda x: dm.nanmedian(x),
        lambda x: dm.nanmedian(x, 0),
        lambda x: dm.median(x[0], 0),
    ],
)
def test_median_of_bool_raises(call: Callable[[dm.Tensor], Any]) -> None:
    with pytest.raises(DTypeError, match="not implemented for 'Bool'"):
        call(dm.tensor([True, False, True]))


def test_median_of_empty_values_per_dtype() -> None:
    # PyTorch: NaN cast to the dtype: int64 -> -2**63, int32 -> -2**31, bool -> True.
    for fn in (dm.median, dm.nanmedian):
        assert fn(dm.zeros(0, dtype=dm.int64)).item() == -(2**63)
        assert fn(dm.zeros(0, dtype=dm.int32)).item() == -(2**31)
        assert fn(dm.zeros(0, dtype=dm.bool)).item() is True
        assert math.isnan(fn(dm.zeros(2, 0)).item())
    with pytest.raises(IndexError):
        dm.median(dm.zeros(2, 0, dtype=dm.bool), 1)


@pytest.mark.parametrize("dtype", [dm.int64, dm.int32, dm.bool])
def test_logaddexp_and_logcumsumexp_of_integers_raise(dtype: Any) -> None:
    x = dm.ones(2, dtype=dtype)
    with pytest.raises(DTypeError):
        dm.logaddexp(x, x)
    with pytest.raises(DTypeError):
        dm.logcumsumexp(x, 0)
    # An integer tensor with a float one promotes to float, as in PyTorch.
    got = dm.logaddexp(dm.tensor([1, 2]), dm.tensor([1.0, 2.0]))
    np.testing.assert_allclose(got.numpy(), np.log(2.0) + np.array([1.0, 2.0]), rtol=1e-6)


# ---- empty inputs stay in the graph --------------------------------------------------------


@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, math.inf])
def test_cdist_without_features_is_zero_and_in_the_graph(p: float) -> None:
    a = dm.zeros(3, 0, requires_grad=True)
    d = dm.cdist(a, dm.zeros(2, 0), p=p)
    assert d.tolist() == [[0.0, 0.0]] * 3 and d.requires_grad
    d.sum().backward()
    assert a.grad is not None and tuple(a.grad.shape) == (3, 0)


@pytest.mark.parametrize("name", ["median", "nanmedian"])
@pytest.mark.parametrize("shape", [(0,), (2, 0)])
def test_median_of_empty_is_nan_in_the_graph(name: str, shape: tuple[int, ...]) -> None:
    a = dm.zeros(shape, requires_grad=True)
    out = getattr(dm, name)(a)
    assert math.isnan(out.item()) and out.requires_grad
    out.backward()
    assert a.grad is not None and tuple(a.grad.shape) == shape
    with dm.no_grad():
        assert not getattr(dm, name)(a).requires_grad
