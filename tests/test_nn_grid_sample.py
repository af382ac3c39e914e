"""``F.affine_grid`` and ``F.grid_sample``: NumPy references (written point by point from
PyTorch's documented conventions), gradients, and the argument checks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising.errors import DTypeError, ShapeError
from helpers import assert_close, gradcheck, to_numpy

RNG = np.random.default_rng(11)


def _np_affine_grid(theta: np.ndarray, size: tuple[int, int, int, int], align: bool) -> np.ndarray:
    n, _, h, w = size

    def axis(k: int) -> np.ndarray:
        if k == 1:
            return np.zeros(1)
        r = np.linspace(-1.0, 1.0, k)
        return r if align else r * (k - 1) / k

    xs, ys = axis(w), axis(h)
    out = np.empty((n, h, w, 2))
    for b in range(n):
        for i in range(h):
            for j in range(w):
                out[b, i, j] = theta[b] @ np.array([xs[j], ys[i], 1.0])
    return out


def _reflect(x: float, low: float, high: float) -> float:
    """``x`` mirrored at ``low`` and ``high`` until it lies between them."""
    if low == high:
        return 0.0
    while x < low or x > high:
        x = 2 * low - x if x < low else 2 * high - x
    return x


def _source(coord: float, size: int, padding: str, align: bool) -> float:
    x = (coord + 1) / 2 * (size - 1) if align else ((coord + 1) * size - 1) / 2
    if padding == "border":
        x = min(max(x, 0.0), size - 1.0)
    elif padding == "reflection":
        x = _reflect(x, 0.0, size - 1.0) if align else _reflect(x, -0.5, size - 0.5)
        x = min(max(x, 0.0), size - 1.0)
    return x


def _np_grid_sample(inp: np.ndarray, grid: np.ndarray, mode: str, padding: str, align: bool):
    n, c, h, w = inp.shape
    _, ho, wo, _ = grid.shape
    out = np.zeros((n, c, ho, wo))

    def pixel(b: int, y: int, x: int) -> np.ndarray:
        return inp[b, :, y, x] if 0 <= y < h and 0 <= x < w else np.zeros(c)

    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                x = _source(grid[b, i, j, 0], w, padding, align)
                y = _source(grid[b, i, j, 1], h, padding, align)
                if mode == "nearest":
                    out[b, :, i, j] = pixel(b, int(np.rint(y)), int(np.rint(x)))
                    continue
                x0, y0 = math.floor(x), math.floor(y)
                fx, fy = x - x0, y - y0
                out[b, :, i, j] = (
                    pixel(b, y0, x0) * (1 - fx) * (1 - fy)
                    + pixel(b, y0, x0 + 1) * fx * (1 - fy)
                    + pixel(b, y0 + 1, x0) * (1 - fx) * fy
                    + pixel(b, y0 + 1, x0 + 1) * fx * fy
                )
    return out


@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_matches_numpy(mode: str, padding: str, align: bool) -> None:
    inp = RNG.standard_normal((2, 3, 5, 4))
    grid = RNG.uniform(-1.6, 1.6, (2, 3, 6, 2))
    got = F.grid_sample(dm.tensor(inp), dm.tensor(grid), mode, padding, align)
    assert_close(got, _np_grid_sample(inp, grid, mode, padding, align), rtol=1e-10, atol=1e-12)
    got32 = F.grid_sample(
        dm.tensor(inp, dtype=dm.float32), dm.tensor(grid, dtype=dm.float32), mode, padding, align
    )
    assert got32.dtype == dm.float32
    if mode == "bilinear":  # (nearest may round a float32 tie differently)
        assert_close(got32, _np_grid_sample(inp, grid, mode, padding, align), rtol=1e-4, atol=1e-5)


def test_identity_grid_reproduces_the_image() -> None:
    inp = RNG.standard_normal((2, 3, 4, 5))
    theta = np.tile(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), (2, 1, 1))
    for align in (False, True):
        grid = F.affine_grid(dm.tensor(theta), (2, 3, 4, 5), align_corners=align)
        for mode in ("bilinear", "nearest"):
            out = F.grid_sample(dm.tensor(inp), grid, mode=mode, align_corners=align)
            assert_close(out, inp, rtol=1e-10, atol=1e-12)
    # a horizontal flip
    flip = np.tile(np.array([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), (2, 1, 1))
    grid = F.affine_grid(dm.tensor(flip), (2, 3, 4, 5), align_corners=False)
    out = F.grid_sample(dm.tensor(inp), grid, align_corners=False)
    assert_close(out, inp[..., ::-1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 1, 3), (2, 2, 3, 1)])
def test_affine_grid_matches_numpy(align: bool, size: tuple[int, int, int, int]) -> None:
    theta = RNG.standard_normal((2, 2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unit-size warning with align_corners=True
        got = F.affine_grid(dm.tensor(theta), size, align_corners=align)
    assert_close(got, _np_affine_grid(theta, size, align), rtol=1e-10, atol=1e-12)
    got32 = F.affine_grid(dm.tensor(theta, dtype=dm.float32), size, align_corners=False)
    assert got32.dtype == dm.float32


def test_gradients_reach_theta_image_and_grid() -> None:
    theta = dm.tensor(RNG.standard_normal((2, 2, 3)), requires_grad=True)
    gradcheck(lambda t: F.affine_grid(t, (2, 1, 3, 4), align_corners=False), [theta])
    inp = dm.tensor(RNG.standard_normal((1, 2, 4, 3)), requires_grad=True)
    grid = dm.tensor(RNG.uniform(-1.2, 1.2, (1, 3, 2, 2)), requires_grad=True)
    for padding in ("zeros", "border", "reflection"):
        for align in (False, True):
            gradcheck(
                lambda x, g, p=padding, a=align: F.grid_sample(x, g, "bilinear", p, a),
                [inp, grid],
            )
    # nearest: differentiable in the image (the grid's gradient is zero)
    gradcheck(lambda x: F.grid_sample(x, grid.detach(), "nearest", "zeros", False), [inp])
    # the whole spatial transformer: theta -> grid -> sample
    t = dm.tensor(RNG.standard_normal((1, 2, 3)) * 0.5, requires_grad=True)
    gradcheck(
        lambda t, x: F.grid_sample(
            x, F.affine_grid(t, (1, 2, 3, 3), align_corners=False), align_corners=False
        ),
        [t, inp],
    )


def test_noncontiguous_and_empty_inputs() -> None:
    inp = RNG.standard_normal((1, 2, 5, 4))
    x = dm.tensor(inp.transpose(0, 1, 3, 2).copy()).transpose(2, 3)
    assert not x.is_contiguous()
    grid = RNG.uniform(-1, 1, (1, 2, 3, 2))
    got = F.grid_sample(x, dm.tensor(grid), align_corners=True)
    assert_close(got, _np_grid_sample(inp, grid, "bilinear", "zeros", True), rtol=1e-10)
    empty = F.grid_sample(dm.randn(0, 2, 3, 3), dm.randn(0, 4, 5, 2), align_corners=False)
    assert tuple(empty.shape) == (0, 2, 4, 5)
    none = F.grid_sample(dm.randn(2, 3, 3, 3), dm.randn(2, 0, 5, 2), align_corners=False)
    assert tuple(none.shape) == (2, 3, 0, 5)


def test_align_corners_none_warns_and_means_false() -> None:
    inp, grid = dm.randn(1, 1, 3, 3), dm.rand(1, 2, 2, 2) * 2 - 1
    with pytest.warns(UserWarning, match="align_corners=False"):
        a = F.grid_sample(inp, grid)
    assert_close(a, to_numpy(F.grid_sample(inp, grid, align_corners=False)))
    theta = dm.randn(1, 2, 3)
    with pytest.warns(UserWarning, match="align_corners=False"):
        g = F.affine_grid(theta, (1, 1, 2, 2))
    assert_close(g, to_numpy(F.affine_grid(theta, (1, 1, 2, 2), align_corners=False)))


def test_argument_errors() -> None:
    inp, grid = dm.randn(1, 1, 3, 3), dm.randn(1, 2, 2, 2)
    with pytest.raises(ValueError, match="expected mode"):
        F.grid_sample(inp, grid, mode="area", align_corners=False)
    with pytest.raises(ValueError, match="expected padding_mode"):
        F.grid_sample(inp, grid, padding_mode="circular", align_corners=False)
    with pytest.raises(ValueError, match="bicubic interpolation only supports 4D"):
        F.grid_sample(
            dm.randn(1, 1, 2, 2, 2), dm.randn(1, 1, 1, 1, 3), mode="bicubic", align_corners=False
        )
    with pytest.raises(ShapeError, match="size 3 in last dimension"):
        F.grid_sample(dm.randn(1, 1, 2, 2, 2), dm.randn(1, 1, 1, 1, 2), align_corners=False)
    with pytest.raises(ShapeError, match="same batch size"):
        F.grid_sample(inp, dm.randn(2, 2, 2, 2), align_corners=False)
    with pytest.raises(ShapeError):
        F.grid_sample(inp, dm.randn(1, 2, 2, 3), align_corners=False)
    with pytest.raises(DTypeError):
        F.grid_sample(inp, grid.double(), align_corners=False)
    with pytest.raises(TypeError, match="must be Tensor"):
        F.grid_sample(np.zeros((1, 1, 3, 3)), grid)
    theta = dm.randn(2, 2, 3)
    with pytest.raises(ValueError, match="floating point"):
        F.affine_grid(dm.ones(2, 2, 3, dtype=dm.int64), (2, 1, 3, 3), align_corners=False)
    with pytest.raises(ValueError, match="Nx2x3"):
        F.affine_grid(dm.randn(2, 3, 4), (2, 1, 3, 3), align_corners=False)
    with pytest.raises(ValueError, match="Nx3x4"):
        F.affine_grid(dm.randn(2, 2, 3), (2, 1, 3, 3, 3), align_corners=False)
    with pytest.raises(ValueError, match="positive output size"):
        F.affine_grid(theta, (2, 1, 0, 3), align_corners=False)
    with pytest.raises(ShapeError):
        F.affine_grid(theta, (3, 1, 2, 2), align_corners=False)


def test_grid_gradient_stops_on_the_clipping_bounds() -> None:
    inp = dm.tensor(RNG.standard_normal((1, 1, 3, 3)))
    for padding in ("border", "reflection"):
        g = dm.tensor([[[[1.0, -1.0], [0.25, 0.5]]]], dtype=dm.float64, requires_grad=True)
        out = F.grid_sample(inp, g, padding_mode=padding, align_corners=True)
        (grad,) = dm.autograd.grad(out.sum(), [g])
        assert_close(grad[0, 0, 0], np.zeros(2))  # on the corner pixel: clipped, as PyTorch
        assert np.all(to_numpy(grad[0, 0, 1]) != 0)
