"""Layer-module parity cases found by the session-25 differential fuzz against torch.nn.

The expected values and exceptions are PyTorch 2.x's (recorded from torch, which these tests
do not import). ``xfail(strict=True)`` marks a case democratising still gets wrong, so the
marker must be removed once the behaviour is fixed.
"""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F


@pytest.mark.parametrize("shape,groups", [((1, 3), 3), ((1, 3, 1, 1), 3), ((1, 4, 1), 4)])
def test_group_norm_single_value_per_group_raises(shape: tuple[int, ...], groups: int) -> None:
    # PyTorch: ValueError "Expected more than 1 value per channel when training" when
    # (N * C // G) * prod(spatial) == 1; democratising returns zeros instead.
    with pytest.raises(ValueError, match="more than 1 value"):
        dm.nn.GroupNorm(groups, shape[1])(dm.randn(shape))
    with pytest.raises(ValueError, match="more than 1 value"):
        F.group_norm(dm.randn(shape), groups)


def test_group_norm_single_value_per_group_batched_is_zero() -> None:
    # With a batch of 2 PyTorch's check passes and each one-value group normalises to 0:
    # the fix for the case above must not reject this.
    out = dm.nn.GroupNorm(3, 3, affine=False)(dm.tensor([[1.0, -2.0, 3.0], [0.5, 0.25, 7.0]]))
    np.testing.assert_array_equal(out.numpy(), np.zeros((2, 3), dtype=np.float32))


@pytest.mark.parametrize(
    "layer,input_shape,output_size",
    [
        ("ConvTranspose2d", (2, 2, 5, 5), [3, 9, 10]),  # 4-D input: 2 or 4 elements
        ("ConvTranspose1d", (1, 2, 5), [4, 2, 3, 9]),  # 3-D input: 1 or 3 elements
        ("ConvTranspose2d", (2, 5, 5), [1, 2, 3, 9, 9]),  # unbatched: 2 or 3 elements
    ],
)
def test_conv_transpose_output_size_wrong_length_raises(
    layer: str, input_shape: tuple[int, ...], output_size: list[int]
) -> None:
    # PyTorch: ValueError "ConvTranspose2D: for 4D input, output_size must have 2 or 4
    # elements (got 3)"; democratising silently uses the last entries.
    m = getattr(dm.nn, layer)(2, 3, 3, stride=2, padding=1)
    with pytest.raises(ValueError, match="output_size"):
        m(dm.randn(input_shape), output_size=output_size)


@pytest.mark.parametrize("output_size", [[9, 10], [2, 3, 9, 10]])
def test_conv_transpose_output_size_valid_lengths(output_size: list[int]) -> None:
    # The accepted forms (spatial only, or the full batched shape) give PyTorch's shape.
    m = dm.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    assert tuple(m(dm.randn(2, 2, 5, 5), output_size=output_size).shape) == (2, 3, 9, 10)


@pytest.mark.parametrize(
    "fn,x_shape,w_shape,stride,padding",
    [
        (F.conv_transpose1d, (1, 1, 4), (1, 1, 1), 1, 2),
        (F.conv_transpose2d, (1, 1, 2, 2), (1, 1, 1, 1), (2, 1), (0, 1)),
        (F.conv_transpose3d, (1, 1, 2, 2, 2), (1, 1, 1, 1, 1), (2, 1, 1), (0, 0, 1)),
    ],
)
def test_conv_transpose_zero_output_raises(
    fn: object, x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: object, padding: object
) -> None:
    # PyTorch: RuntimeError "Calculated output size per channel: (3 x 2 x 0). Output size is
    # too small". democratising returns an empty tensor (1-D, 2-D) or, in 3-D with a depth
    # stride, fails inside a reshape with ShapeError "shape [1, 1, -1, 2, 0] is invalid".
    with pytest.raises(RuntimeError, match="too small"):
        fn(dm.randn(x_shape), dm.randn(w_shape), stride=stride, padding=padding)  # type: ignore[operator]


def test_bilinear_zero_in1_features_raises() -> None:
    # PyTorch: ValueError "in1_features must be > 0, but got (in1_features=0)".
    with pytest.raises(ValueError, match="in1_features"):
        dm.nn.Bilinear(0, 2, 2)
