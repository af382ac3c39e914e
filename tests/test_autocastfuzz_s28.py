"""Session 28 side-by-side fuzz of CPU autocast's op dtype policy against PyTorch's lists
(``torch.autocast("cpu", dtype=torch.bfloat16 | torch.float16)`` with mixed float32 and
low-precision inputs): the lower-precision list (matmul, conv, linear, ...) runs in the
autocast dtype, the float32 list (``cdist``, ``grid_sampler``, ``prod``, ...) in float32, the
promote list (``cat``, ``stack``, ``index_copy``) in the widest operand dtype, and everything
else in its inputs' dtype. The expected dtypes and values are PyTorch 2.15's (CPU), recorded
once; the suite does not import torch. Where this package keeps softmax, norms, reductions and
losses in float32 (API.md's mixed-precision contract) the tests follow API.md.
``xfail(strict=True)`` marks errors raised where PyTorch runs; each reason names the file."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
from democratising.errors import DTypeError

F = dm.nn.functional
LOWS = [dm.bfloat16, dm.float16]


def _x(*shape: int, seed: int = 0) -> dm.Tensor:
    rng = np.random.default_rng(seed + sum(shape))
    return dm.tensor(rng.standard_normal(shape).astype(np.float32))


def _np(t: dm.Tensor) -> np.ndarray:
    return np.asarray(t.detach().float().tolist(), dtype=np.float32)


# ---- the float32 list: cdist and grid_sample (with a low grid from affine_grid) ---------------


@pytest.mark.parametrize("low", LOWS)
@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, 3.0, float("inf")])
def test_cdist_under_autocast_runs_in_float32(low: dm.dtype, p: float) -> None:
    a, b = _x(5, 3).to(low), _x(2, 3)
    with dm.autocast("cpu", dtype=low):
        both_mixed = [dm.cdist(a, b, p=p), dm.cdist(b, a, p=p), dm.cdist(a, a, p=p)]
    for out in both_mixed:
        assert out.dtype == dm.float32
    # the low input widened exactly, the distances computed in float32
    ref = dm.cdist(a.float(), b, p=p)
    np.testing.assert_allclose(_np(both_mixed[0]), _np(ref), rtol=1e-6, atol=1e-7)


def test_cdist_keeps_refusing_mixed_dtypes_outside_autocast() -> None:
    with pytest.raises(DTypeError):
        dm.cdist(_x(5, 3).to(dm.bfloat16), _x(2, 3))
    with dm.autocast("cpu", dtype=dm.bfloat16), pytest.raises(DTypeError):
        dm.cdist(_x(5, 3).to(dm.bfloat16), _x(2, 3).double())  # float64 is not cast (PyTorch)


def test_cdist_under_autocast_is_differentiable_into_both_dtypes() -> None:
    a = _x(4, 3).to(dm.bfloat16).requires_grad_()
    b = _x(2, 3).requires_grad_()
    with dm.autocast("cpu", dtype=dm.bfloat16):
        dm.cdist(a, b).sum().backward()
    assert a.grad is not None and a.grad.dtype == dm.bfloat16
    assert b.grad is not None and b.grad.dtype == dm.float32


@pytest.mark.parametrize("low", LOWS)
@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("which", ["grid", "input", "both"])
def test_grid_sample_under_autocast_runs_in_float32(low: dm.dtype, mode: str, which: str) -> None:
    x = _x(2, 3, 6, 6)
    g = dm.tensor((np.random.default_rng(1).random((2, 4, 5, 2)) * 2.2 - 1.1).astype(np.float32))
    xi = x.to(low) if which in ("input", "both") else x
    gi = g.to(low) if which in ("grid", "both") else g
    with dm.autocast("cpu", dtype=low):
        y = F.grid_sample(xi, gi, mode=mode, padding_mode="border", align_corners=False)
    assert y.dtype == dm.float32
    ref = F.grid_sample(
        xi.float(), gi.float(), mode=mode, padding_mode="border", align_corners=False
    )
    np.testing.assert_array_equal(_np(y), _np(ref))


def test_grid_sample_5d_under_autocast_runs_in_float32() -> None:
    with dm.autocast("cpu", dtype=dm.bfloat16):
        y = F.grid_sample(_x(1, 2, 3, 3, 3), _x(1, 2, 2, 2, 3).to(dm.bfloat16), align_corners=True)
    assert y.dtype == dm.float32 and y.shape == (1, 2, 2, 2, 2)


def test_grid_sample_keeps_refusing_mixed_dtypes_outside_autocast() -> None:
    with pytest.raises(DTypeError):
        F.grid_sample(_x(2, 3, 5, 5), _x(2, 4, 4, 2).to(dm.bfloat16), align_corners=False)


def test_grid_sample_under_autocast_warns_about_align_corners_once() -> None:
    with dm.autocast("cpu", dtype=dm.bfloat16), pytest.warns(UserWarning) as record:
        F.grid_sample(_x(1, 1, 4, 4), _x(1, 2, 2, 2).to(dm.bfloat16))
    assert len([w for w in record if "align_corners" in str(w.message)]) == 1
    assert record[0].filename == __file__  # (pointing at the caller, as without autocast)


_THETA = [[[0.3, -1.7, 0.05], [1.1, 0.45, -0.2]]]
#: F.affine_grid(tensor(_THETA), [1, 1, 3, 3], align_corners=False) under bfloat16 autocast,
#: and of tensor(_THETA).to(bfloat16) without it (the same: bmm rounds the operands to
#: bfloat16, sums in float32 and rounds once).
_GRID_BF16 = [
    0.98828125, -1.234375, 1.1875, -0.5, 1.390625, 0.2353515625, -0.150390625, -0.9375,
    0.050048828125, -0.2001953125, 0.25, 0.53515625, -1.2890625, -0.63671875, -1.0859375,
    0.10009765625, -0.88671875, 0.8359375,
]  # fmt: skip
#: F.affine_grid(tensor(_THETA).half(), [1, 1, 3, 3], align_corners=True).
_GRID_F16_ALIGNED = [
    1.4501953125, -1.75, 1.75, -0.64990234375, 2.05078125, 0.44970703125, -0.25, -1.2998046875,
    0.04998779296875, -0.199951171875, 0.35009765625, 0.8994140625, -1.9501953125, -0.849609375,
    -1.650390625, 0.25, -1.3505859375, 1.349609375,
]  # fmt: skip


def test_affine_grid_under_autocast_is_low_like_torchs_bmm() -> None:
    with dm.autocast("cpu", dtype=dm.bfloat16):
        grid = F.affine_grid(dm.tensor(_THETA), [1, 1, 3, 3], align_corners=False)
        wide = F.affine_grid(dm.tensor(_THETA).double(), [1, 1, 3, 3], align_corners=False)
        other_low = F.affine_grid(dm.tensor(_THETA).half(), [1, 1, 3, 3], align_corners=False)
    assert grid.dtype == dm.bfloat16 and grid.shape == (1, 3, 3, 2)
    assert _np(grid).ravel().tolist() == _GRID_BF16
    assert wide.dtype == dm.float64  # float64 is not eligible for autocast
    assert other_low.dtype == dm.bfloat16


def test_affine_grid_of_half_theta_sums_in_float32_like_torch() -> None:
    grid = F.affine_grid(dm.tensor(_THETA).to(dm.bfloat16), [1, 1, 3, 3], align_corners=False)
    assert grid.dtype == dm.bfloat16
    assert _np(grid).ravel().tolist() == _GRID_BF16
    grid = F.affine_grid(dm.tensor(_THETA).half(), [1, 1, 3, 3], align_corners=True)
    assert grid.dtype == dm.float16
    assert _np(grid).ravel().tolist() == _GRID_F16_ALIGNED


#: The spatial transformer below under torch.autocast("cpu", dtype=torch.bfloat16): its
#: output and the Linear's weight gradient (float32 both).
_STN_Y = [
    0.10703125596046448, 0.21406251192092896, 0.3246093690395355, 0.4320312440395355, 0.5625,
    0.6722655892372131, 0.7816406488418579, 0.8912109136581421, 1.0203125476837158,
    1.1291015148162842, 1.2396483421325684, 1.3468749523162842, 0.39708250761032104,
    0.32246091961860657, 0.2566772401332855, 0.15842285752296448, 1.6281249523162842,
    1.7351562976837158, 1.8425781726837158, 1.953125, 2.049999952316284, 2.1580076217651367,
    2.2669923305511475, 2.375, 2.471874952316284, 2.580859422683716, 2.6898436546325684,
    2.7984373569488525, 2.1698546409606934, 2.1527786254882812, 2.1296188831329346,
    2.0765135288238525,
]  # fmt: skip
_STN_WEIGHT_GRAD = [
    0.0009613037109375, 0.00311279296875, 0.010009765625, 0.00103759765625, -0.0024566650390625,
    -0.002288818359375, -0.1484375, 0.279296875, 0.1640625, 0.029541015625, -0.01123046875,
    0.0673828125, 1.2265625, -1.921875, -0.482421875, 1.03125, -1.421875, 0.025390625,
]  # fmt: skip


def test_spatial_transformer_under_autocast_matches_torch() -> None:
    lin = dm.nn.Linear(3, 6)
    with dm.no_grad():
        lin.weight.copy_(dm.tensor(np.arange(18, dtype=np.float32).reshape(6, 3) / 40 - 0.2))
        lin.bias.copy_(dm.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))
    x = dm.tensor(np.arange(32, dtype=np.float32).reshape(2, 1, 4, 4) / 10, requires_grad=True)
    inp = dm.tensor([[0.5, -0.25, 1.0], [-0.5, 0.75, 0.125]])
    with dm.autocast("cpu", dtype=dm.bfloat16):
        theta = lin(inp).view(-1, 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        y = F.grid_sample(x, grid, align_corners=False)
        loss = (y * y).mean()
    loss.backward()
    assert (theta.dtype, grid.dtype, y.dtype) == (dm.bfloat16, dm.bfloat16, dm.float32)
    np.testing.assert_allclose(_np(y).ravel(), _STN_Y, rtol=1e-6, atol=1e-6)
    assert lin.weight.grad is not None and lin.weight.grad.dtype == dm.float32
    np.testing.assert_allclose(_np(lin.weight.grad).ravel(), _STN_WEIGHT_GRAD, rtol=1e-6)
    assert x.grad is not None and x.grad.dtype == dm.float32


# ---- the promote list: index_copy (cat and stack promote everywhere) -------------------------


@pytest.mark.parametrize("low", LOWS)
def test_index_copy_under_autocast_promotes_to_float32(low: dm.dtype) -> None:
    base, src = _x(4, 3), _x(2, 3)
    idx = dm.tensor([3, 1])
    with dm.autocast("cpu", dtype=low):
        a = base.index_copy(0, idx, src.to(low))
        b = base.to(low).index_copy(0, idx, src)
        c = dm.index_copy(base, 0, idx, src.to(low))
        same = base.to(low).index_copy(0, idx, src.to(low))
    for out in (a, b, c):
        assert out.dtype == dm.float32
    expect = _np(base)
    expect[[3, 1]] = _np(src.to(low))
    np.testing.assert_array_equal(_np(a), expect)
    assert same.dtype == low  # one dtype: nothing to promote


def test_index_copy_keeps_refusing_mixed_dtypes_where_torch_does() -> None:
    base, src, idx = _x(4, 3), _x(2, 3).to(dm.bfloat16), dm.tensor([3, 1])
    with pytest.raises(DTypeError):
        base.index_copy(0, idx, src)  # no autocast
    with dm.autocast("cpu", dtype=dm.bfloat16):
        with pytest.raises(DTypeError):
            base.clone().index_copy_(0, idx, src)  # the in-place form is not on the list
        with pytest.raises(DTypeError):
            base.double().index_copy(0, idx, src)  # float64 is not eligible
    base.index_copy_(0, idx, src.float())
    assert base.dtype == dm.float32


def test_index_copy_under_autocast_is_differentiable() -> None:
    base = _x(4, 3).requires_grad_()
    src = _x(2, 3).to(dm.bfloat16).requires_grad_()
    with dm.autocast("cpu", dtype=dm.bfloat16):
        base.index_copy(0, dm.tensor([3, 1]), src).sum().backward()
    assert base.grad is not None and src.grad is not None
    assert src.grad.dtype == dm.bfloat16 and _np(src.grad).tolist() == [[1.0] * 3] * 2
    assert _np(base.grad)[:, 0].tolist() == [1.0, 0.0, 1.0, 0.0]


# ---- ops outside the lists: the input dtype (mv is on the CUDA list only) --------------------


def test_mv_under_cpu_autocast_runs_in_its_inputs_dtype() -> None:
    m, v = _x(3, 4), _x(4)
    with dm.autocast("cpu", dtype=dm.bfloat16):
        assert dm.mv(m, v).dtype == dm.float32
        assert m.mv(v).dtype == dm.float32
        assert dm.mv(m.to(dm.bfloat16), v.to(dm.bfloat16)).dtype == dm.bfloat16
        assert (m @ v).dtype == dm.bfloat16  # matmul is on the list
    np.testing.assert_allclose(_np(dm.mv(m, v)), _np(m) @ _np(v), rtol=1e-5, atol=1e-6)


# ---- a table of PyTorch's output dtypes under CPU autocast ------------------------------------

_Op = Callable[..., Any]


def _sample(a: dm.Tensor, g: dm.Tensor) -> dm.Tensor:
    return F.grid_sample(a, g, align_corners=False)


#: (name, op, operands as "f" float32 / "b" the autocast dtype, the dtype torch gives:
#: "low" the autocast dtype, "f32" float32).
_TABLE: list[tuple[str, _Op, list[tuple[int, ...]], str, str]] = [
    ("conv1d", lambda a, w, b: F.conv1d(a, w, b), [(2, 3, 8), (4, 3, 3), (4,)], "fff", "low"),
    ("conv2d", lambda a, w, b: F.conv2d(a, w, b), [(2, 3, 6, 6), (4, 3, 3, 3), (4,)], "bff", "low"),
    ("conv_t2d", lambda a, w: F.conv_transpose2d(a, w), [(2, 3, 5, 5), (3, 4, 3, 3)], "fb", "low"),
    ("mm", lambda a, b: dm.mm(a, b), [(3, 4), (4, 5)], "fb", "low"),
    ("bmm", lambda a, b: dm.bmm(a, b), [(2, 3, 4), (2, 4, 5)], "bf", "low"),
    ("matmul", lambda a, b: dm.matmul(a, b), [(2, 3, 4), (4, 5)], "ff", "low"),
    ("addmm", lambda c, a, b: dm.addmm(c, a, b), [(3, 5), (3, 4), (4, 5)], "fbf", "low"),
    ("baddbmm", dm.baddbmm, [(2, 3, 5), (2, 3, 4), (2, 4, 5)], "fff", "low"),
    ("addbmm", lambda c, a, b: dm.addbmm(c, a, b), [(3, 5), (2, 3, 4), (2, 4, 5)], "bff", "low"),
    ("linear", lambda a, w, b: F.linear(a, w, b), [(3, 4), (5, 4), (5,)], "ffb", "low"),
    ("prelu", lambda a, w: F.prelu(a, w), [(2, 3), (1,)], "bf", "low"),
    ("sdpa", F.scaled_dot_product_attention, [(1, 2, 3, 4)] * 3, "fbf", "low"),
    ("cdist", lambda a, b: dm.cdist(a, b), [(5, 3), (2, 3)], "bf", "f32"),
    ("grid_sample", _sample, [(1, 2, 4, 4), (1, 3, 3, 2)], "bb", "f32"),
    ("prod", lambda a: dm.prod(a), [(3, 4)], "b", "f32"),
    ("trace", lambda a: dm.trace(a), [(4, 4)], "b", "f32"),
    ("mse_loss", lambda a, b: F.mse_loss(a, b), [(3, 4), (3, 4)], "bf", "f32"),
    ("l1_loss", lambda a, b: F.l1_loss(a, b), [(3, 4), (3, 4)], "fb", "f32"),
    ("cat", lambda a, b: dm.cat([a, b]), [(3,), (3,)], "bf", "f32"),
    ("stack", lambda a, b: dm.stack([a, b]), [(3,), (3,)], "fb", "f32"),
    ("add", lambda a, b: a + b, [(3,), (3,)], "bf", "f32"),
    ("mul", lambda a, b: a * b, [(3,), (3,)], "bb", "low"),
    ("relu", F.relu, [(3,)], "b", "low"),
    ("outer", dm.outer, [(3,), (4,)], "ff", "f32"),
    ("mv", dm.mv, [(3, 4), (4,)], "ff", "f32"),
]  # fmt: skip


@pytest.mark.parametrize("low", LOWS)
@pytest.mark.parametrize(
    ("name", "op", "shapes", "codes", "want"), _TABLE, ids=[t[0] for t in _TABLE]
)
def test_output_dtype_under_autocast_is_torchs(
    low: dm.dtype, name: str, op: _Op, shapes: list[tuple[int, ...]], codes: str, want: str
) -> None:
    args = [
        _x(*s, seed=i).to(low if c == "b" else dm.float32)
        for i, (s, c) in enumerate(zip(shapes, codes))
    ]
    with dm.autocast("cpu", dtype=low):
        out = op(*args)
    assert out.dtype == (low if want == "low" else dm.float32), name


# ---- the float32 list: quantile, the pools, linalg ---------------------------------------------

#: quantile(x, tensor([0.25, 0.5, 0.9])) of _QX under torch.autocast (float32 both): the low
#: input (and q) widened to float32, and of the float32 input with a low q.
_QX = np.linspace(-1.3, 2.1, 10, dtype=np.float32)[[3, 7, 1, 9, 0, 5, 2, 8, 4, 6]]
_Q_LOW = {
    "bfloat16": [-0.448974609375, 0.400390625, 1.7509765625],
    "float16": [-0.449981689453125, 0.39996337890625, 1.7600202560424805],
}
_Q_F32 = {
    "bfloat16": [-0.44999998807907104, 0.4000000059604645, 1.7546874284744263],
    "float16": [-0.44999998807907104, 0.4000000059604645, 1.759667992591858],
}


@pytest.mark.parametrize("low", LOWS)
@pytest.mark.parametrize("fn", ["quantile", "nanquantile"])
def test_quantile_under_autocast_runs_in_float32(fn: str, low: dm.dtype) -> None:
    x, q = dm.tensor(_QX), dm.tensor([0.25, 0.5, 0.9])
    key = str(low).split(".")[-1]
    with dm.autocast("cpu", dtype=low):
        of_low = getattr(dm, fn)(x.to(low), q.to(low))
        of_f32 = getattr(dm, fn)(x, q.to(low))
        scalar_q = getattr(dm, fn)(x.to(low), 0.5)
    assert (of_low.dtype, of_f32.dtype, scalar_q.dtype) == (dm.float32,) * 3
    np.testing.assert_allclose(_np(of_low), _Q_LOW[key], rtol=1e-6)
    np.testing.assert_allclose(_np(of_f32), _Q_F32[key], rtol=1e-6)
    with pytest.raises(DTypeError):  # outside autocast PyTorch refuses a low input too
        getattr(dm, fn)(x.to(low), q)


@pytest.mark.parametrize("low", LOWS)
def test_linalg_vecdot_under_autocast_is_low(low: dm.dtype) -> None:
    a = dm.tensor([[0.5, -1.25, 2.0], [1.5, 0.75, -0.5]])
    b = dm.tensor([[1.1, 0.3, -0.7], [0.2, -2.2, 0.9]])
    with dm.autocast("cpu", dtype=low):
        mixed = dm.linalg.vecdot(a.to(low), b)
        both_f32 = dm.linalg.vecdot(a, b)
        wide = dm.linalg.vecdot(a.double(), b.double())
    assert (mixed.dtype, both_f32.dtype, wide.dtype) == (low, low, dm.float64)
    want = [-1.21875, -1.8046875] if low == dm.bfloat16 else [-1.2255859375, -1.7998046875]
    assert _np(mixed).tolist() == want  # torch's values
    with pytest.raises(DTypeError):  # no autocast: one dtype, as PyTorch's
        dm.linalg.vecdot(a.to(low), b)


def test_max_unpool_of_bfloat16_and_under_autocast() -> None:
    x = _x(1, 2, 4, 4, 4)
    y, idx = F.max_pool3d(x, 2, return_indices=True)
    out = F.max_unpool3d(y.to(dm.bfloat16), idx, 2)
    assert out.dtype == dm.bfloat16 and out.shape == (1, 2, 4, 4, 4)
    np.testing.assert_array_equal(_np(out), _np(F.max_unpool3d(y.to(dm.bfloat16).float(), idx, 2)))
    y2, idx2 = F.max_pool2d(_x(1, 2, 4, 4), 2, return_indices=True)
    y1, idx1 = F.max_pool1d(_x(1, 2, 4), 2, return_indices=True)
    for low in LOWS:
        with dm.autocast("cpu", dtype=low):  # on PyTorch's float32 list (1d through 2d)
            assert F.max_unpool3d(y.to(low), idx, 2).dtype == dm.float32
            assert F.max_unpool2d(y2.to(low), idx2, 2).dtype == dm.float32
            assert F.max_unpool1d(y1.to(low), idx1, 2).dtype == dm.float32


#: F.fractional_max_pool2d of _FMP_X (bfloat16) with _random_samples _FMP_SAMPLES (bfloat16):
#: PyTorch's values and indices.
_FMP_X = np.arange(72, dtype=np.float32).reshape(1, 2, 6, 6)[:, :, ::-1].copy() / 7
_FMP_SAMPLES = [[[0.3, 0.7], [0.9, 0.1]]]
_FMP_Y = [
    4.4375, 4.71875, 5.0, 2.71875, 3.0, 3.28125, 1.0, 1.2890625, 1.5703125, 9.5625, 9.875,
    10.125, 7.84375, 8.125, 8.4375, 6.15625, 6.4375, 6.71875,
]  # fmt: skip
_FMP_I = [1, 3, 5, 13, 15, 17, 25, 27, 29] * 2


def test_fractional_max_pool_of_bfloat16() -> None:
    x = dm.tensor(_FMP_X).to(dm.bfloat16)
    samples = dm.tensor(_FMP_SAMPLES).to(dm.bfloat16)
    y, i = F.fractional_max_pool2d(
        x, 2, output_size=3, return_indices=True, _random_samples=samples
    )
    assert y.dtype == dm.bfloat16 and y.shape == (1, 2, 3, 3)
    assert _np(y).ravel().tolist() == _FMP_Y
    assert i.flatten().tolist() == _FMP_I
    assert F.fractional_max_pool2d(x, 2, output_size=3).dtype == dm.bfloat16  # drawn samples
    out3 = F.fractional_max_pool3d(_x(1, 2, 6, 6, 6).to(dm.bfloat16), 2, output_size=3)
    assert out3.dtype == dm.bfloat16 and out3.shape == (1, 2, 3, 3, 3)
    for low in LOWS:
        with dm.autocast("cpu", dtype=low):  # on PyTorch's float32 list
            y2, i2 = F.fractional_max_pool2d(
                x.to(low), 2, output_size=3, return_indices=True, _random_samples=samples
            )
            y3 = F.fractional_max_pool3d(_x(1, 2, 6, 6, 6).to(low), 2, output_size=3)
        assert (y2.dtype, i2.dtype, y3.dtype) == (dm.float32, dm.int64, dm.float32)
        assert i2.flatten().tolist() == _FMP_I


_SPD = np.array([[2.0, 0.5, 0.1], [0.3, 1.7, -0.4], [0.2, -0.6, 3.1], [1.0, 1.0, 1.0]], np.float32)
_RHS = np.array([[1.0], [2.0], [-1.0], [0.5]], np.float32)
#: torch.linalg.lstsq(_SPD, _RHS).solution under bfloat16/float16 autocast (float32).
_LSTSQ = [0.19731880724430084, 0.9375573396682739, -0.20765134692192078]
#: torch.linalg.inv((_SPD.T @ _SPD).to(low)) under autocast (float32, of the rounded input).
_INV = {
    "bfloat16": [0.3075643479824066, -0.1881369948387146, -0.07461892068386078,
                 -0.1881369799375534, 0.3480275869369507, 0.07797892391681671,
                 -0.07461891323328018, 0.07797892391681671, 0.11561502516269684],
    "float16": [0.30719077587127686, -0.18783606588840485, -0.07440733164548874,
                -0.18783608078956604, 0.3477373719215393, 0.07768748700618744,
                -0.07440733164548874, 0.07768747955560684, 0.11522592604160309],
}  # fmt: skip


@pytest.mark.parametrize("low", LOWS)
def test_linalg_solves_under_autocast_run_in_float32(low: dm.dtype) -> None:
    a, b = dm.tensor(_SPD), dm.tensor(_RHS)
    key = str(low).split(".")[-1]
    with dm.autocast("cpu", dtype=low):
        s = a.mT @ a  # low (matmul), as in the torch run
        sol = dm.linalg.lstsq(a, b)
        sol_low = dm.linalg.lstsq(a.to(low), b.to(low))
        inv = dm.linalg.inv(s)
        by_kw = dm.linalg.solve(s, B=b[:3])
    assert s.dtype == low
    assert sol.solution.dtype == dm.float32  # float32 throughout, no bfloat16 matmul inside
    np.testing.assert_allclose(_np(sol.solution).ravel(), _LSTSQ, rtol=2e-6, atol=1e-7)
    assert sol_low.solution.dtype == dm.float32 and sol_low.residuals.dtype == dm.float32
    assert inv.dtype == dm.float32
    np.testing.assert_allclose(_np(inv).ravel(), _INV[key], rtol=1e-6)
    assert by_kw.dtype == dm.float32


def _tau() -> dm.Tensor:
    return dm.tensor([0.5, 0.25, 0.0])


#: (name, op on a 3x3 SPD matrix of the given dtype); torch gives float32 for every one under
#: CPU autocast, from a low or a float32 input (its float32 list).
_FP32_LIST: list[tuple[str, _Op]] = [
    ("inv", dm.linalg.inv),
    ("inv_ex", lambda a: dm.linalg.inv_ex(a).inverse),
    ("inverse", dm.inverse),
    ("pinverse", dm.pinverse),
    ("cholesky", dm.linalg.cholesky),
    ("cholesky_ex", lambda a: dm.linalg.cholesky_ex(a).L),
    ("torch_cholesky", dm.cholesky),
    ("solve", lambda a: dm.linalg.solve(a, a[:, :1])),
    ("lstsq", lambda a: dm.linalg.lstsq(a, a[:, :1]).solution),
    ("svd", lambda a: dm.linalg.svd(a).Vh),
    ("torch_svd", lambda a: dm.svd(a).V),
    ("torch_svd_no_uv", lambda a: dm.svd(a, compute_uv=False).U),
    ("svdvals", dm.linalg.svdvals),
    ("qr", lambda a: dm.linalg.qr(a).R),
    ("eigh", lambda a: dm.linalg.eigh(a).eigenvectors),
    ("eigvalsh", dm.linalg.eigvalsh),
    ("cond", dm.linalg.cond),
    ("cond_fro", lambda a: dm.linalg.cond(a, "fro")),
    ("householder", lambda a: dm.linalg.householder_product(a, _tau().to(a.dtype))),
    ("householder_mixed", lambda a: dm.linalg.householder_product(a, _tau())),
    ("orgqr", lambda a: dm.orgqr(a, _tau().to(a.dtype))),
    ("tensorinv", lambda a: dm.linalg.tensorinv(a.reshape(3, 1, 3), ind=2)),
    ("tensorsolve", lambda a: dm.linalg.tensorsolve(a, a[:, 0])),
]


@pytest.mark.parametrize("low", LOWS)
@pytest.mark.parametrize("cast", ["low", "f32"])
@pytest.mark.parametrize(("name", "op"), _FP32_LIST, ids=[t[0] for t in _FP32_LIST])
def test_linalg_fp32_list_under_autocast(low: dm.dtype, cast: str, name: str, op: _Op) -> None:
    a = dm.tensor(_SPD)
    s = (a.mT @ a).to(low if cast == "low" else dm.float32)
    with dm.autocast("cpu", dtype=low):
        out = op(s)
    assert out.dtype == dm.float32, name
    if not name.endswith("mixed"):
        assert op(s).dtype == s.dtype, name  # outside autocast: the input's dtype


@pytest.mark.parametrize("low", LOWS)
def test_matrix_exp_under_autocast_keeps_its_inputs_dtype(low: dm.dtype) -> None:
    s = dm.tensor(_SPD[:3] / 10)
    with dm.autocast("cpu", dtype=low):  # on no list: float32 stays float32 (its matmuls too)
        out, out_low = dm.linalg.matrix_exp(s), dm.linalg.matrix_exp(s.to(low))
    assert (out.dtype, out_low.dtype) == (dm.float32, low)
    np.testing.assert_array_equal(_np(out), _np(dm.linalg.matrix_exp(s)))


# ---- ops on no CPU list: vdot and bilinear keep their operands' dtype -------------------------

_BA = [[0.5, -1.25, 2.0], [1.5, 0.75, -0.5]]
_BB = [[1.1, 0.3, -0.7], [0.2, -2.2, 0.9]]
#: F.bilinear(_BA, _BB, _BW, [0.1, -0.2]) with every operand low, under autocast (torch's).
_BILINEAR = {
    "bfloat16": [-0.162109375, 0.3359375, 1.65625, -0.37890625],
    "float16": [-0.1597900390625, 0.327880859375, 1.6513671875, -0.37939453125],
}
#: torch.vdot(_BA[0], _BB[0]) in the low dtype under autocast.
_VDOT = {"bfloat16": -1.2265625, "float16": -1.2255859375}


def _bw() -> dm.Tensor:
    return dm.tensor(np.arange(18, dtype=np.float32).reshape(2, 3, 3) / 10 - 0.8)


@pytest.mark.parametrize("low", LOWS)
def test_vdot_and_bilinear_under_autocast_keep_the_low_dtype(low: dm.dtype) -> None:
    a, b, w, bias = dm.tensor(_BA), dm.tensor(_BB), _bw(), dm.tensor([0.1, -0.2])
    key = str(low).split(".")[-1]
    with dm.autocast("cpu", dtype=low):
        v = dm.vdot(a[0].to(low), b[0].to(low))
        v32 = dm.vdot(a[0], b[0])
        y = F.bilinear(a.to(low), b.to(low), w.to(low), bias.to(low))
        y_nobias = F.bilinear(a.to(low), b.to(low), w.to(low))
        y32 = F.bilinear(a, b, w)
    assert (v.dtype, v32.dtype) == (low, dm.float32)
    assert (y.dtype, y_nobias.dtype, y32.dtype) == (low, low, dm.float32)
    # (within an ulp of torch's: its products accumulate in float32 before rounding)
    np.testing.assert_allclose(_np(v), _VDOT[key], rtol=1e-2)
    np.testing.assert_allclose(_np(y).ravel(), _BILINEAR[key], rtol=1e-2, atol=1e-3)


def test_vdot_of_int32_is_int32() -> None:
    out = dm.vdot(dm.tensor([1, 2], dtype=dm.int32), dm.tensor([3, 4], dtype=dm.int32))
    assert out.dtype == dm.int32 and out.item() == 11


# ---- dtype= checks of the reductions (PyTorch's RuntimeErrors) --------------------------------


@pytest.mark.parametrize("name", ["cumsum_", "cumprod_"])
def test_inplace_scan_dtype_must_be_the_tensors(name: str) -> None:
    x = dm.tensor([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="Bad in-place call"):
        getattr(x, name)(0, dtype=dm.float64)
    with pytest.raises(RuntimeError, match="Bad in-place call"):
        getattr(dm.tensor([1, 2], dtype=dm.int32), name)(0, dtype=dm.int64)
    assert x.tolist() == [1.0, 2.0, 3.0]  # nothing written
    assert getattr(x, name)(0, dtype=dm.float32) is x
    assert x.tolist() == ([1.0, 3.0, 6.0] if name == "cumsum_" else [1.0, 2.0, 6.0])


def test_nanmean_dtype_must_be_floating() -> None:
    x = dm.tensor([1.0, float("nan"), 2.0])
    for bad in (dm.int64, dm.bool):
        with pytest.raises(RuntimeError, match="could not infer output dtype"):
            dm.nanmean(x, dtype=bad)
    out = dm.nanmean(x, dtype=dm.float64)
    assert out.dtype == dm.float64 and out.item() == 1.5
    assert x.nanmean(dtype=dm.bfloat16).dtype == dm.bfloat16


@pytest.mark.parametrize(
    ("have", "want", "ok"),
    [
        (dm.float32, dm.float64, True),
        (dm.float32, dm.float32, True),
        (dm.bfloat16, dm.float32, True),
        (dm.float16, dm.float32, True),
        (dm.bfloat16, dm.bfloat16, True),
        (dm.float32, dm.bfloat16, False),
        (dm.float64, dm.float32, False),
        (dm.bfloat16, dm.float16, False),
        (dm.float32, dm.int32, False),
    ],
)
def test_norm_dtype_widens_only(have: dm.dtype, want: dm.dtype, ok: bool) -> None:
    x = dm.tensor([3.0, 4.0]).to(have)
    if ok:
        out = dm.norm(x, dtype=want)
        assert out.dtype == want and out.item() == 5.0
        assert x.norm(p=1, dim=0, dtype=want).item() == 7.0
    else:
        with pytest.raises(RuntimeError, match=r"linalg\.vector_norm"):
            dm.norm(x, dtype=want)


def test_searchsorted_bad_sorter_is_an_index_and_runtime_error() -> None:
    seq, v = dm.tensor([3.0, 1.0, 2.0]), dm.tensor([2.0])
    for bad in ([1, 5, 0], [1, -1, 0]):
        with pytest.raises(RuntimeError, match="sorter index out of range") as info:
            dm.searchsorted(seq, v, sorter=dm.tensor(bad))
        assert isinstance(info.value, IndexError)
    assert dm.searchsorted(seq, v, sorter=dm.tensor([1, 2, 0])).tolist() == [1]
