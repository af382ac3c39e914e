"""Tensor-op parity fixes found by differential testing against PyTorch (expected values are
NumPy's or PyTorch 2.x's, hard-coded)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm

X = [0.3, -1.2, 2.0]


def _grad_through(op: str, *args: object, values: list[float] = X) -> np.ndarray:
    """Gradient of ``sum(x.clone().op_(*args))`` with respect to ``x``."""
    x = dm.tensor(values, requires_grad=True)
    y = x.clone()
    getattr(y, op)(*args)
    y.sum().backward()
    return np.asarray(x.grad.numpy())


@pytest.mark.parametrize(
    ("op", "args", "expected"),
    [
        ("exp_", (), np.exp(X)),
        ("neg_", (), -np.ones(3)),
        ("abs_", (), np.sign(X)),
        ("pow_", (3,), 3 * np.square(X)),
        ("sigmoid_", (), (1 / (1 + np.exp(-np.array(X)))) * (1 - 1 / (1 + np.exp(-np.array(X))))),
        ("cosh_", (), np.sinh(X)),  # an in-place form built by `_tensor_more._inplace_of`
        ("clamp_", (-1.0, 1.0), [1.0, 0.0, 0.0]),
    ],
)
def test_inplace_unary_on_a_non_leaf_is_differentiable(
    op: str, args: tuple[object, ...], expected: np.ndarray
) -> None:
    # Before: "one of the tensors needed for gradient computation has been modified by an
    # in-place operation" (the result's graph had saved the tensor copy_ then overwrote).
    np.testing.assert_allclose(_grad_through(op, *args), expected, rtol=1e-5)


def test_inplace_on_a_view_updates_the_base_and_keeps_gradients() -> None:
    x = dm.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * 1
    y[0].exp_()
    y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy()[0], np.exp([1.0, 2.0]), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), [[math.e, math.e**2], [1.0, 1.0]], rtol=1e-6)


def test_inplace_on_a_leaf_requiring_grad_still_raises() -> None:
    with pytest.raises(dm.AutogradError):
        dm.tensor([1.0, 2.0], requires_grad=True).exp_()


def test_inplace_float_result_into_an_int_tensor_raises() -> None:
    for call in (lambda t: t.sqrt_(), lambda t: t.pow_(0.5), lambda t: t.remainder_(1.5)):
        with pytest.raises(dm.DTypeError):
            call(dm.tensor([1, 4]))


def test_augmented_assignment_is_in_place() -> None:
    # PyTorch's values; a view (`v`) must see them, as `x //= 2` does not rebind `x`.
    x = dm.tensor([5, -7, 9])
    v = x[1:]
    v //= 2
    assert x.tolist() == [5, -4, 4]
    x = dm.tensor([5, -7, 9])
    v = x[1:]
    v %= 4
    assert x.tolist() == [5, 1, 1]
    f = dm.tensor([5.0, -7.0, 9.0])
    v = f[1:]
    v **= 2
    assert f.tolist() == [5.0, 49.0, 81.0]
    m = dm.tensor([True, False, True])
    v = m[1:]
    v |= dm.tensor([True, True])
    assert m.tolist() == [True, True, True]
    m = dm.tensor([True, False, True])
    alias = m
    m &= dm.tensor([False, True, True])
    m ^= dm.tensor([True, True, False])
    assert m is alias and m.tolist() == [True, True, True]
    i = dm.tensor([1, 2, 3])
    alias = i
    i <<= 2
    i >>= 1
    assert i is alias and i.tolist() == [2, 4, 6]


def test_augmented_assignment_keeps_the_dtype() -> None:
    for op in ("__ifloordiv__", "__imod__", "__ipow__"):
        with pytest.raises(dm.DTypeError):
            getattr(dm.tensor([1, 2, 3]), op)(2.5)


def test_shift_operators() -> None:
    x = dm.tensor([1, 2, 3])
    assert (x << 2).tolist() == [4, 8, 12]
    assert (x >> 1).tolist() == [0, 1, 1]
    assert (1 << x).tolist() == [2, 4, 8]
    assert (16 >> x).tolist() == [8, 4, 2]


def test_cumsum_and_prod_of_bool_and_int32_accumulate_in_int64() -> None:
    b = dm.tensor([True, True, False, True])
    out = dm.cumsum(b, 0)
    assert out.dtype == dm.int64 and out.tolist() == [1, 2, 2, 3]  # not saturated at True
    p = b[:2].prod()
    assert p.dtype == dm.int64 and p.item() == 1
    assert b.prod(0, keepdim=True).tolist() == [0]
    i32 = dm.tensor([3, 4, 5]).to(dm.int32)
    assert i32.cumsum(0).dtype == dm.int64 and i32.prod().dtype == dm.int64
    assert b.cumsum(0, dtype=dm.float32).dtype == dm.float32


def test_nanmedian_gradient_ignores_nan_elements() -> None:
    x = dm.tensor([[math.nan, 1.0, 3.0], [2.0, math.nan, 1.0]], requires_grad=True)
    v = dm.nanmedian(x)
    v.backward()
    assert v.item() == 1.0
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.5, 0.0], [0.0, 0.0, 0.5]])


def test_repeat_interleave_of_repeats_alone() -> None:
    assert dm.repeat_interleave(dm.tensor([2, 0, 1])).tolist() == [0, 0, 2]
    assert dm.tensor([1, 3]).repeat_interleave().tolist() == [0, 1, 1, 1]
    t = dm.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.repeat_interleave(dm.tensor([2, 1]), dim=0, output_size=3).shape == (3, 2)
    with pytest.raises(dm.ShapeError):
        t.repeat_interleave(dm.tensor([2, 1]), dim=0, output_size=4)
    with pytest.raises(dm.DTypeError):
        dm.repeat_interleave(dm.tensor([1.0, 2.0]))


def test_bmm_does_not_broadcast() -> None:
    with pytest.raises(dm.ShapeError):
        dm.bmm(dm.ones(1, 4, 3), dm.ones(2, 3, 5))
    with pytest.raises(dm.ShapeError):
        dm.bmm(dm.ones(2, 4, 3), dm.ones(2, 4, 5))
    assert dm.bmm(dm.ones(2, 4, 3), dm.ones(2, 3, 5)).shape == (2, 4, 5)


def test_addmm_beta_zero_ignores_input_and_checks_shapes() -> None:
    m1 = dm.tensor([[1.0, 2.0], [3.0, 4.0]])
    m2 = dm.tensor([[1.0, 0.0], [0.0, 1.0]])
    out = dm.addmm(dm.full((2, 2), math.nan), m1, m2, beta=0, alpha=2)
    assert out.tolist() == [[2.0, 4.0], [6.0, 8.0]]
    np.testing.assert_allclose(
        dm.addmm(dm.tensor([1.0, -1.0]), m1, m2, beta=0.5).numpy(), [[1.5, 1.5], [3.5, 3.5]]
    )
    ints = dm.addmm(dm.tensor([[1, 1], [1, 1]]), dm.tensor([[1, 2]]).t(), dm.tensor([[3, 4]]))
    assert ints.dtype == dm.int64 and ints.tolist() == [[4, 5], [7, 9]]
    with pytest.raises(dm.ShapeError):
        dm.addmm(dm.ones(2), dm.ones(3), dm.ones(3, 2))
    with pytest.raises(dm.ShapeError):
        dm.addmm(dm.ones(3), dm.ones(2, 3), dm.ones(3, 2))


def test_bool_input_to_float_math_promotes() -> None:
    b = dm.tensor([True, False])
    np.testing.assert_allclose(dm.cosh(b).numpy(), [math.cosh(1.0), 1.0], rtol=1e-6)
    np.testing.assert_allclose(dm.exp2(b).numpy(), [2.0, 1.0])
    assert dm.exp2(b).dtype == dm.float32
    s = dm.sgn(b)
    assert s.dtype == dm.bool and s.tolist() == [True, False]


def test_math_on_bool_reads_zeros_and_ones_as_pytorch():
    b = dm.tensor([True, False])
    # torch 2.15: float32 results for the math functions.
    for name, want in [
        ("exp", [np.e, 1.0]),
        ("sin", [np.sin(1.0), 0.0]),
        ("sigmoid", [1 / (1 + np.exp(-1.0)), 0.5]),
        ("sqrt", [1.0, 0.0]),
        ("reciprocal", [1.0, np.inf]),
        ("log", [0.0, -np.inf]),
        ("exp2", [2.0, 1.0]),
    ]:
        out = getattr(b, name)()
        assert out.dtype == dm.float32, name
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-6)
        assert getattr(dm, name)(b).dtype == dm.float32
    sq = b.square()
    assert sq.dtype == dm.int64 and sq.tolist() == [1, 0]
    assert b.sign().dtype == dm.bool and b.sign().tolist() == [True, False]
    for name in ("abs", "neg", "relu", "floor", "round"):  # ("abs_cpu" not implemented)
        with pytest.raises(dm.DTypeError):
            getattr(b, name)()
    with pytest.raises(dm.DTypeError):
        dm.nn.functional.gelu(b)


def test_all_and_any_take_a_tuple_of_dims():
    t = dm.tensor([[True, False], [True, True]])
    assert t.all(dim=(0, 1)).item() is False
    assert t.any(dim=(0, 1)).item() is True
    assert t.all(dim=[0]).tolist() == [True, False]
    assert t.all(dim=(0, 1), keepdim=True).shape == (1, 1)
    assert t.any(1).tolist() == [True, True]


def test_div_in_place_takes_a_rounding_mode():
    t = dm.tensor([5, -5, 7])
    assert t.div_(2, rounding_mode="floor") is t
    assert t.tolist() == [2, -3, 3] and t.dtype == dm.int64  # torch: tensor([ 2, -3,  3])
    f = dm.tensor([5.0, -5.0, 7.0])
    f.div_(2, rounding_mode="trunc")
    assert f.tolist() == [2.0, -2.0, 3.0]
    with pytest.raises(ValueError, match="rounding_mode"):
        f.div_(2, rounding_mode="nearest")
