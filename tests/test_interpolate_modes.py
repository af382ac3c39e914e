"""``F.interpolate``'s interpolating modes (linear, bilinear, bicubic, trilinear): values
against a NumPy reference of PyTorch's source-coordinate rule and against figures PyTorch
2.15 gives, align_corners both ways, scale factors, float64 gradients, and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from helpers import gradcheck


def bilinear_np(x: np.ndarray, ho: int, wo: int, align: bool) -> np.ndarray:
    """PyTorch's bilinear rule, one output pixel at a time."""
    h, w = x.shape[-2:]

    def src(o: int, n_in: int, n_out: int) -> tuple[int, int, float]:
        if align:
            s = o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            s = max((o + 0.5) * n_in / n_out - 0.5, 0.0)
        lo = min(int(np.floor(s)), n_in - 1)
        return lo, min(lo + 1, n_in - 1), s - lo

    out = np.zeros((*x.shape[:-2], ho, wo))
    for i in range(ho):
        y0, y1, fy = src(i, h, ho)
        for j in range(wo):
            x0, x1, fx = src(j, w, wo)
            top = x[..., y0, x0] * (1 - fx) + x[..., y0, x1] * fx
            bottom = x[..., y1, x0] * (1 - fx) + x[..., y1, x1] * fx
            out[..., i, j] = top * (1 - fy) + bottom * fy
    return out


@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize(("shape", "size"), [((2, 3, 5, 7), (8, 4)), ((1, 1, 4, 4), (4, 9))])
def test_bilinear_matches_the_reference(
    shape: tuple[int, ...], size: tuple[int, int], align: bool
) -> None:
    x = np.random.default_rng(0).standard_normal(shape)
    got = F.interpolate(dm.tensor(x), size=size, mode="bilinear", align_corners=align)
    np.testing.assert_allclose(got.numpy(), bilinear_np(x, *size, align), atol=1e-12)


def test_known_values_from_pytorch() -> None:
    x = dm.arange(12, dtype=dm.float64).reshape(1, 1, 3, 4) ** 2 / 10
    bicubic = F.interpolate(x, size=(4, 3), mode="bicubic").flatten().numpy()
    np.testing.assert_allclose(
        bicubic,
        [
            -0.11294442635995362,
            0.011523437499999987,
            0.5535838939525464,
            0.5587063259548618,
            1.3443359374999997,
            2.5475581416377318,
            3.6629950629340304,
            5.4822265625,
            7.719050654658565,
            6.962770815248847,
            9.4431640625,
            12.341149902343748,
        ],
        rtol=1e-12,
    )
    up = F.interpolate(x, scale_factor=2, mode="bilinear").flatten().numpy()[:8]
    np.testing.assert_allclose(up, [0.0, 0.025, 0.075, 0.175, 0.325, 0.525, 0.775, 0.9])
    corners = F.interpolate(
        dm.tensor([[[[0.0, 1.0], [2.0, 3.0]]]]), size=3, mode="bilinear", align_corners=True
    )
    np.testing.assert_allclose(corners.numpy()[0, 0], [[0, 0.5, 1], [1, 1.5, 2], [2, 2.5, 3]])


@pytest.mark.parametrize(
    ("mode", "shape", "kwargs"),
    [
        ("linear", (2, 3, 7), {"size": 11}),
        ("bilinear", (1, 2, 4, 6), {"scale_factor": 0.5, "align_corners": True}),
        ("bicubic", (1, 2, 6, 5), {"size": (9, 4)}),
        ("trilinear", (1, 1, 3, 4, 5), {"scale_factor": (2.0, 1.5, 0.5)}),
    ],
)
def test_modes_are_differentiable(mode: str, shape: tuple[int, ...], kwargs: dict) -> None:
    x = dm.tensor(np.random.default_rng(1).standard_normal(shape), requires_grad=True)
    gradcheck(lambda t: F.interpolate(t, mode=mode, **kwargs), [x])


def test_constants_stay_constant_and_modes_check_their_input() -> None:
    ones = dm.ones(1, 2, 5, 5)
    for mode in ("bilinear", "bicubic"):
        np.testing.assert_allclose(
            F.interpolate(ones, size=(7, 3), mode=mode).numpy(), np.ones((1, 2, 7, 3)), atol=1e-6
        )
    with pytest.raises(ValueError, match="needs 4D input"):
        F.interpolate(dm.ones(1, 2, 5), size=4, mode="bilinear")
    with pytest.raises(ValueError, match="unsupported mode"):
        F.interpolate(ones, size=4, mode="area-ish")
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(ones, size=4, mode="nearest", align_corners=True)
    with pytest.raises(ValueError, match="Anti-alias"):
        F.interpolate(ones, size=4, mode="nearest", antialias=True)


def test_upsampling_modules() -> None:
    x = dm.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    got = dm.nn.UpsamplingBilinear2d(scale_factor=2)(x).numpy()[0, 0]
    np.testing.assert_allclose(got[0], [0.0, 1 / 3, 2 / 3, 1.0], rtol=1e-6)
    np.testing.assert_allclose(got[:, 0], [0.0, 2 / 3, 4 / 3, 2.0], rtol=1e-6)
    near = dm.nn.UpsamplingNearest2d(size=(4, 4))(x).numpy()[0, 0]
    np.testing.assert_array_equal(near, np.repeat(np.repeat([[0, 1], [2, 3]], 2, 0), 2, 1))
    up = dm.nn.Upsample(scale_factor=2, mode="bicubic", align_corners=False)
    assert tuple(up(dm.ones(1, 3, 4, 5)).shape) == (1, 3, 8, 10)
