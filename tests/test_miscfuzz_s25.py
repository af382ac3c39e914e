"""Known divergences from PyTorch in the less common tensor functions, found by a differential
fuzz against PyTorch 2.x (CPU) in session 25. Each test states PyTorch's result as a constant
and was fixed in the same session (the strict xfails that marked them are gone)."""

from __future__ import annotations

import math

import pytest

import democratising as dm

# ---- masked_select / flip / cross: silent wrong results where PyTorch raises -----------------


def test_masked_select_rejects_integer_mask() -> None:
    # PyTorch: RuntimeError "masked_select: expected BoolTensor for mask". Here the int mask is
    # used as an index tensor and [20.0, 10.0, 20.0] comes back.
    x = dm.tensor([10.0, 20.0, 30.0])
    with pytest.raises((RuntimeError, TypeError)):
        dm.masked_select(x, dm.tensor([1, 0, 1]))


def test_flip_zero_dim_tensor() -> None:
    # PyTorch: tensor(3.); here IndexError "tuple index out of range".
    assert dm.flip(dm.tensor(3.0), (0,)).item() == 3.0


def test_flip_zero_dim_tensor_negative_dim() -> None:
    assert dm.flip(dm.tensor(3.0), (-1,)).item() == 3.0


@pytest.mark.parametrize(
    ("shape", "dims"),
    [((3,), (0, 0)), ((2, 3), (1, -1))],
)
def test_flip_rejects_repeated_dims(shape: tuple[int, ...], dims: tuple[int, ...]) -> None:
    # PyTorch: RuntimeError "dim 0 appears multiple times in the list of dims"; here the dim is
    # flipped twice and the input comes back unchanged.
    x = dm.arange(float(math.prod(shape))).reshape(shape)
    with pytest.raises((RuntimeError, ValueError)):
        dm.flip(x, dims)


@pytest.mark.parametrize("dim", [1, 2, -2])
def test_linalg_cross_rejects_out_of_range_dim(dim: int) -> None:
    # PyTorch: IndexError "Dimension out of range"; here dim is taken modulo ndim.
    a, b = dm.tensor([1.0, 2.0, 3.0]), dm.tensor([4.0, 5.0, 6.0])
    with pytest.raises(IndexError):
        dm.linalg.cross(a, b, dim=dim)


def test_cross_rejects_out_of_range_dim() -> None:
    with pytest.raises(IndexError):
        dm.cross(dm.ones(3, 3), dm.ones(3, 3), dim=2)


# ---- take_along_dim --------------------------------------------------------------------------


def test_take_along_dim_negative_indices_with_dim() -> None:
    # PyTorch wraps negative indices when dim is given: [30., 10.]; here IndexOutOfRangeError.
    out = dm.take_along_dim(dm.tensor([10.0, 20.0, 30.0]), dm.tensor([-1, 0]), dim=0)
    assert out.tolist() == [30.0, 10.0]


def test_take_along_dim_negative_indices_2d() -> None:
    out = dm.take_along_dim(dm.tensor([[10.0, 20.0, 30.0]]), dm.tensor([[-1, -3]]), dim=1)
    assert out.tolist() == [[30.0, 10.0]]


# ---- cov ---------------------------------------------------------------------------------------


def test_cov_non_positive_normaliser_gives_positive_zero_divisor() -> None:
    # PyTorch clamps a normaliser <= 0 to +0: inf. Here ``0.0 * norm_factor`` makes -0.0: -inf.
    out = dm.cov(dm.tensor([[1.0, 2.0, 4.0]]), correction=5, aweights=dm.tensor([1.0, 2.0, 1.0]))
    assert out.item() == math.inf


def test_cov_negative_normaliser_matrix_signs() -> None:
    x = dm.tensor([[1.0, 2.0, 4.0], [3.0, 1.0, 0.0]])
    out = dm.cov(x, correction=5, aweights=dm.tensor([1.0, 2.0, 1.0]))
    # PyTorch: [[inf, -inf], [-inf, inf]] (the signs of the centred cross products).
    assert out.tolist() == [[math.inf, -math.inf], [-math.inf, math.inf]]


@pytest.mark.parametrize("kind", ["fweights", "aweights"])
def test_cov_rejects_weights_summing_to_zero(kind: str) -> None:
    # PyTorch: RuntimeError "cov(): weights sum to zero, can't be normalized"; here NaN.
    w = dm.tensor([0, 0, 0]) if kind == "fweights" else dm.tensor([0.0, 0.0, 0.0])
    with pytest.raises((RuntimeError, ValueError)):
        dm.cov(dm.tensor([[1.0, 2.0, 4.0]]), **{kind: w})


# ---- isclose -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [{"rtol": -1.0}, {"atol": -1.0}])
def test_isclose_rejects_negative_tolerance(kw: dict[str, float]) -> None:
    # PyTorch: RuntimeError "rtol must be greater than or equal to zero, but got -1".
    with pytest.raises((RuntimeError, ValueError)):
        dm.isclose(dm.tensor([1.0]), dm.tensor([1.0]), **kw)


# ---- autograd on empty inputs / ties ---------------------------------------------------------


def test_cdist_without_features_stays_in_graph() -> None:
    # PyTorch: the (3, 2) zero result requires grad and backward gives a zero (3, 0) grad.
    a = dm.zeros(3, 0, requires_grad=True)
    d = dm.cdist(a, dm.zeros(2, 0))
    assert d.requires_grad
    d.sum().backward()
    assert a.grad is not None and tuple(a.grad.shape) == (3, 0)


@pytest.mark.parametrize("name", ["median", "nanmedian"])
def test_median_of_empty_stays_in_graph(name: str) -> None:
    # PyTorch: nan with requires_grad=True (grad_fn MedianBackward0); here a constant.
    a = dm.zeros(0, requires_grad=True)
    out = getattr(dm, name)(a)
    assert math.isnan(out.item())
    assert out.requires_grad


def test_clamp_tensor_bounds_triple_tie_gradient() -> None:
    # x == min == max: PyTorch gives the whole gradient to x ([1.], [0.], [0.]); here it is
    # split as maximum-then-minimum would ([0.25], [0.25], [0.5]).
    x = dm.tensor([3.0], requires_grad=True)
    lo = dm.tensor([3.0], requires_grad=True)
    hi = dm.tensor([3.0], requires_grad=True)
    dm.clamp(x, lo, hi).sum().backward()
    assert x.grad is not None and lo.grad is not None and hi.grad is not None
    assert (x.grad.tolist(), lo.grad.tolist(), hi.grad.tolist()) == ([1.0], [0.0], [0.0])


def test_clamp_tensor_bounds_single_tie_gradient_matches() -> None:
    # The companion that already agrees with PyTorch: a tie with one bound splits in half.
    x = dm.tensor([1.0, 5.0, 0.0, 9.0], requires_grad=True)
    lo = dm.tensor([1.0, 2.0, 1.0, 1.0], requires_grad=True)
    hi = dm.tensor([4.0, 5.0, 4.0, 4.0], requires_grad=True)
    dm.clamp(x, lo, hi).sum().backward()
    assert x.grad is not None and lo.grad is not None and hi.grad is not None
    assert x.grad.tolist() == [0.5, 0.5, 0.0, 0.0]
    assert lo.grad.tolist() == [0.5, 0.0, 1.0, 0.0]
    assert hi.grad.tolist() == [0.0, 0.5, 0.0, 1.0]
