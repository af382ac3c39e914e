"""Regressions found by fuzzing public callables with odd arguments: each once crashed the
process (a Rust panic or an aborting allocation) or hung instead of raising a typed error."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F

#: An output too large to allocate (OutOfMemoryError) or whose element count does not fit in
#: memory's address range at all (ShapeError "too many elements"): both typed, never an abort.
_TOO_BIG = (dm.OutOfMemoryError, dm.ShapeError)


def _x(*shape: int) -> dm.Tensor:
    return dm.arange(int(np.prod(shape)), dtype=dm.float32).reshape(shape) / 10 - 1


@pytest.mark.parametrize("stride", [2**31, 2**62])
def test_conv2d_stride_past_the_input_is_one_window(stride: int) -> None:
    # A step past the last window's start once sized a buffer by the stride (abort at 2**31,
    # capacity-overflow panic at 2**62); the output is the first window, as PyTorch's.
    x, w = _x(1, 3, 5, 5), _x(2, 3, 2, 2)
    got = F.conv2d(x, w, stride=stride)
    want = F.conv2d(x, w, stride=4)
    assert tuple(got.shape) == (1, 2, 1, 1)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_conv_stride_past_the_input_keeps_the_gradient() -> None:
    x = _x(1, 2, 4, 6).requires_grad_(True)
    w = _x(3, 2, 2, 2)
    F.conv2d(x, w, stride=(2**40, 2)).sum().backward()
    g_big = x.grad.numpy().copy()
    x.grad = None
    F.conv2d(x, w, stride=(3, 2)).sum().backward()
    np.testing.assert_allclose(g_big, x.grad.numpy(), rtol=1e-6)


def test_conv1d_and_conv3d_huge_stride() -> None:
    assert tuple(F.conv1d(_x(1, 3, 5), _x(2, 3, 2), stride=2**62).shape) == (1, 2, 1)
    y = F.conv3d(_x(1, 3, 5, 5, 5), _x(2, 3, 2, 2, 2), stride=2**62)
    assert tuple(y.shape) == (1, 2, 1, 1, 1)


@pytest.mark.parametrize("padding", [100_000, 2**40, 2**62])
def test_conv2d_absurd_padding_raises_out_of_memory(padding: int) -> None:
    # 100_000 aborted on a 320 GB allocation; 2**62 wrapped around and panicked in im2col.
    with pytest.raises(_TOO_BIG):
        F.conv2d(_x(1, 3, 5, 5), _x(2, 3, 2, 2), padding=padding)
    if padding >= 2**40:  # a 1-D output that long cannot be allocated either
        with pytest.raises(_TOO_BIG):
            F.conv1d(_x(1, 3, 5), _x(2, 3, 2), padding=padding)


def test_conv_module_absurd_padding_raises() -> None:
    conv = dm.nn.Conv2d(3, 3, 2, padding=(2**40, 2**40))
    with pytest.raises(_TOO_BIG):
        conv(_x(1, 3, 5, 5))


@pytest.mark.parametrize("stride", [2**31, 2**62])
def test_conv_transpose_absurd_stride_raises_out_of_memory(stride: int) -> None:
    # 2**62 panicked ("rows out of bounds"); the output would be stride-sized.
    with pytest.raises(_TOO_BIG):
        F.conv_transpose2d(_x(1, 3, 5, 5), _x(3, 2, 2, 2), stride=stride)
    with pytest.raises(_TOO_BIG):
        F.conv_transpose1d(_x(1, 3, 5), _x(3, 2, 2), stride=stride)


def test_conv_ordinary_arguments_unchanged() -> None:
    x, w = _x(2, 3, 6, 5), _x(4, 3, 3, 2)
    y = F.conv2d(x, w, stride=(2, 1), padding=(1, 0), dilation=(1, 2))
    assert tuple(y.shape) == (2, 4, 3, 3)
    yt = F.conv_transpose2d(x, _x(3, 2, 2, 2), stride=2, padding=1, output_padding=1)
    assert tuple(yt.shape) == (2, 2, 11, 9)


def test_multigammaln_huge_p_on_empty_input_returns_at_once() -> None:
    # Looped 2**62 times over the empty tensor.
    out = dm.special.multigammaln(dm.zeros(0, 3), 2**62)
    assert tuple(out.shape) == (0, 3)


def test_multigammaln_absurd_p_raises_out_of_memory() -> None:
    # Looped 10**12 times; PyTorch builds the [..., p] term tensor and fails to allocate it.
    with pytest.raises(dm.OutOfMemoryError):
        dm.special.multigammaln(dm.tensor([1e30]), 10**12)


def test_multigammaln_large_p_matches_scipy_values() -> None:
    # scipy.special.multigammaln(3000.0, 2000), (2000.0, 2000)
    out = dm.special.multigammaln(dm.tensor([3000.0, 2000.0], dtype=dm.float64), 2000)
    np.testing.assert_allclose(out.numpy(), [35295785.00286699, 20138202.903447475], rtol=1e-12)


def test_multigammaln_p_must_be_int() -> None:
    with pytest.raises(TypeError):
        dm.special.multigammaln(dm.tensor([3.0]), 2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        dm.special.multigammaln(dm.tensor([3.0]), True)


@pytest.mark.parametrize(
    "call",
    [
        lambda: F.interpolate(_x(1, 1, 4, 4), scale_factor=2**40),
        lambda: F.interpolate(_x(1, 1, 4, 4), size=(2**40, 2)),
        lambda: F.interpolate(_x(1, 1, 4), scale_factor=2**40, mode="linear"),
        lambda: F.interpolate(_x(1, 1, 4, 4), size=2**40, mode="area"),
        lambda: F.adaptive_max_pool1d(_x(1, 1, 4), 2**62),
        lambda: F.adaptive_max_pool2d(_x(2, 3, 4, 5), (2**40, 2**40)),
        lambda: F.one_hot(dm.tensor([1, 2]), 2**40),
        lambda: F.one_hot(dm.tensor([2**62])),
    ],
)
def test_absurd_output_sizes_raise_typed_out_of_memory(call: object) -> None:
    # Each raised NumPy's untyped MemoryError/ValueError from a table of the output's size.
    with pytest.raises(dm.OutOfMemoryError):
        call()  # type: ignore[operator]


def test_embedding_weight_must_be_2d() -> None:
    with pytest.raises(dm.ShapeError):  # was IndexError: tuple index out of range
        F.embedding(dm.tensor([1]), _x(3))


def test_prelu_channel_weight_on_0d_input() -> None:
    with pytest.raises(dm.ShapeError):  # was IndexError: list assignment index out of range
        F.prelu(dm.tensor(1.0), _x(2))
    assert F.prelu(dm.tensor(-2.0), dm.tensor([0.5])).item() == -1.0


def test_glu_dim_out_of_range() -> None:
    with pytest.raises(dm.IndexOutOfRangeError):  # was IndexError: tuple index out of range
        F.glu(_x(2, 4), dim=5)
    x = _x(2, 4)
    got = F.glu(x, dim=-2).numpy()
    a, b = x.numpy()[:1], x.numpy()[1:]
    np.testing.assert_allclose(got, a / (1 + np.exp(-b)), rtol=1e-6)


def test_ordinary_sizes_unchanged() -> None:
    assert F.one_hot(dm.tensor([1, 2]), 4).tolist() == [[0, 1, 0, 0], [0, 0, 1, 0]]
    assert tuple(F.interpolate(_x(1, 1, 4, 4), scale_factor=2).shape) == (1, 1, 8, 8)
    assert tuple(F.adaptive_max_pool2d(_x(1, 1, 5, 5), 3).shape) == (1, 1, 3, 3)


def test_replicate_pad_absurd_amount_raises_out_of_memory() -> None:
    # NumPy's MemoryError from the index table; Conv2d(padding_mode="replicate") hit it too.
    with pytest.raises(dm.OutOfMemoryError):
        F.pad(_x(1, 1, 4), (2**62, 0), mode="replicate")
    with pytest.raises(dm.OutOfMemoryError):
        dm.nn.Conv2d(3, 4, 2, padding_mode="replicate", padding=2**40)(_x(1, 3, 4, 4))
    got = F.pad(dm.tensor([[[1.0, 2.0, 3.0]]]), (2, 1), mode="replicate")
    assert got.tolist() == [[[1.0, 1.0, 1.0, 2.0, 3.0, 3.0]]]


@pytest.mark.parametrize("repeats", [2**62, 2**60, 2**40])
def test_repeat_interleave_absurd_repeats_raise(repeats: int) -> None:
    # 2**62 and 2**60 crashed the process (NumPy's wrapped length in np.repeat).
    with pytest.raises(_TOO_BIG):
        dm.randn(4).repeat_interleave(repeats)
    with pytest.raises(_TOO_BIG):
        dm.repeat_interleave(dm.tensor([repeats]))
    assert dm.tensor([1.0, 2.0]).repeat_interleave(dm.tensor([2, 1])).tolist() == [1.0, 1.0, 2.0]


def test_polygamma_of_a_huge_order_returns_at_once() -> None:
    """It hung (a sum of ~n terms). n! overflows past n = 170: +-inf, NaN where the zeta
    underflows, as PyTorch's exp(lgamma(n + 1)) * zeta."""
    x = dm.tensor([0.5, 1.0, 2.0], dtype=dm.float64)
    got = dm.polygamma(2**62, x).tolist()
    assert got[0] == -math.inf and got[1] == -math.inf and math.isnan(got[2])
    assert dm.polygamma(201, x).tolist()[1] == math.inf
    assert dm.polygamma(3, dm.tensor([2.0], dtype=dm.float64)).item() == pytest.approx(
        0.4939394022668291  # scipy.special.polygamma(3, 2.0)
    )


def test_chunk_and_combinations_that_cannot_be_built_raise() -> None:
    with pytest.raises(_TOO_BIG):
        dm.zeros(0).chunk(2**62)  # hung building 2**62 empty pieces
    with pytest.raises(_TOO_BIG):
        dm.combinations(dm.randn(100), r=10)  # hung in itertools
    assert len(dm.zeros(0).chunk(3)) == 3
    assert tuple(dm.combinations(dm.arange(4), r=2).shape) == (6, 2)


def test_integer_trunc_division_is_exact() -> None:
    """It went through float division: 2**53 + 1 came back as 2**53, and x / 0 gave int64 max."""
    big = dm.tensor([2**53 + 1, -7, 7, -7, 6])
    den = dm.tensor([1, 2, -2, -2, 3])
    assert big.div(den, rounding_mode="trunc").tolist() == [2**53 + 1, -3, -3, 3, 2]
    i32 = dm.tensor([2**24 + 1], dtype=dm.int32).div(1, rounding_mode="trunc")
    assert i32.dtype == dm.int32 and i32.tolist() == [2**24 + 1]
    assert dm.tensor([-7]).div(2, rounding_mode="floor").tolist() == [-4]
    with pytest.raises(RuntimeError):  # (PyTorch: RuntimeError "ZeroDivisionError")
        dm.tensor([5]).div(0, rounding_mode="trunc")
    assert dm.tensor([-7.5]).div(2, rounding_mode="trunc").tolist() == [-3.0]


def test_bad_bounds_betas_and_split_sizes_are_typed_errors() -> None:
    # randint's bound past int64 was read as the size (the error then said high=0).
    with pytest.raises(OverflowError, match="does not fit in int64"):
        dm.randint(0, 2**63, (3,))
    with pytest.raises(ValueError, match="betas"):  # was a bare IndexError
        dm.optim.Adam([dm.zeros(1, requires_grad=True)], betas=[0.1])
    with pytest.raises(ValueError, match="non-negative"):  # was OverflowError from Rust
        dm.randn(5).split([-1, 6])
