"""dtype semantics found by differential tests against PyTorch (expected values from torch 2.x):
``tensor()`` inference over lists holding tensors and NumPy scalars, half-precision results
of the special functions with mixed dtypes, bfloat16 ``nextafter``, and PyTorch's required
``dims`` of ``flip``/``tile``."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm

T = dm.tensor


# ---- tensor(): PyTorch joins element dtypes with promote_types, NumPy would not ------------


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: [T(1.5, dtype=dm.float16), 2], dm.float16),  # NumPy: float64
        (lambda: (T(1.5, dtype=dm.float16), 2), dm.float16),
        (lambda: [T(1.5, dtype=dm.bfloat16)], dm.bfloat16),  # was float32
        (lambda: [T(1.5, dtype=dm.bfloat16), T(2, dtype=dm.int32)], dm.bfloat16),
        (lambda: [T(1.0, dtype=dm.float16), 2.5], dm.float32),  # float16 with the default
        (lambda: [T(1.0, dtype=dm.float16), T(2.0, dtype=dm.bfloat16)], dm.float32),
        (lambda: [T(2, dtype=dm.int32), T(3)], dm.int64),
        (lambda: [True, T(2, dtype=dm.int32)], dm.int32),
        (lambda: [T(2, dtype=dm.int32), 2.5], dm.float32),
        (lambda: [T(2, dtype=dm.int32), 3], dm.int64),
        (lambda: [np.float16(1), 2], dm.float16),
        (lambda: [np.float16(1), T(1)], dm.float16),
        (lambda: [np.float32(1), 2.5], dm.float32),
        (lambda: [np.float64(1), 2.5], dm.float64),
        (lambda: [np.int32(1), np.int32(2)], dm.int32),
        (lambda: [[T(1.5, dtype=dm.float16), 2]], dm.float16),
        (lambda: [[T(1.5, dtype=dm.bfloat16)], [2]], dm.bfloat16),  # was a DTypeError
    ],
)
def test_tensor_infers_dtype_of_mixed_lists_as_pytorch(make, expected):
    assert T(make()).dtype == expected


def test_tensor_mixed_list_keeps_values():
    t = T([T(1.5, dtype=dm.bfloat16), T(-2, dtype=dm.int32), 3])
    assert t.dtype == dm.bfloat16
    assert t.float().tolist() == [1.5, -2.0, 3.0]
    nested = T([[T(1.5, dtype=dm.bfloat16)], [2]])
    assert nested.shape == (2, 1) and nested.float().tolist() == [[1.5], [2.0]]


def test_tensor_mixed_list_python_float_takes_default_dtype():
    old = dm.get_default_dtype()
    dm.set_default_dtype(dm.bfloat16)
    try:
        # float16 with the bfloat16 default promotes to float32; an int tensor takes it whole.
        assert T([T(1.0, dtype=dm.float16), 2.5]).dtype == dm.float32
        assert T([T(1, dtype=dm.int32), 2.5]).dtype == dm.bfloat16
    finally:
        dm.set_default_dtype(old)


def test_tensor_plain_lists_unchanged():
    assert T([1, 2]).dtype == dm.int64
    assert T([1.0]).dtype == dm.float32
    assert T([True]).dtype == dm.bool
    assert T([1, 2.5]).dtype == dm.float32
    assert T([[1, 2], [3, 4]]).dtype == dm.int64
    assert T([T(1.5, dtype=dm.float16), 2], dtype=dm.float64).dtype == dm.float64


# ---- special functions: PyTorch's result dtype, 0-d tensors only raising the kind ------------


def test_zeta_gammainc_promote_mixed_floats():
    a16 = T([2.0, 3.0], dtype=dm.float16)
    a32 = T([2.0, 3.0])
    q16 = T([1.5, 2.0], dtype=dm.float16)
    assert dm.special.zeta(a32, q16).dtype == dm.float32  # was float16
    assert dm.special.zeta(q16, a32).dtype == dm.float32
    assert dm.special.gammaincc(a16, T([1.5, 2.5])).dtype == dm.float32
    assert dm.special.gammainc(a16, T([1.5, 2.5], dtype=dm.bfloat16)).dtype == dm.float32


def test_special_zero_dim_float64_does_not_widen():
    q = T(1.5, dtype=dm.float64)
    z = dm.special.zeta(T([2.0, 3.0]), q)
    assert z.dtype == dm.float32
    np.testing.assert_allclose(z.numpy(), [0.9348021745681763, 0.41439831256866455], rtol=1e-5)
    g = dm.special.gammainc(T([2.0, 3.0]), q)
    assert g.dtype == dm.float32
    np.testing.assert_allclose(g.numpy(), [0.44217461347579956, 0.1911531239748001], rtol=1e-5)
    gb = dm.special.gammainc(T([2.0, 3.0], dtype=dm.bfloat16), q)
    assert gb.dtype == dm.bfloat16
    np.testing.assert_allclose(gb.float().numpy(), [0.44140625, 0.19140625], atol=4e-3)
    c = dm.special.chebyshev_polynomial_t(T([0.5, 2.0]), T(3.0, dtype=dm.float64))
    assert c.dtype == dm.float32 and c.tolist() == [-1.0, 26.0]


def test_xlog1py_half_with_integer_other_stays_half():
    r = dm.special.xlog1py(T([2.0, 3.0], dtype=dm.float16), T([1, 3]))
    assert r.dtype == dm.float16  # was float32
    np.testing.assert_allclose(r.float().numpy(), [1.38671875, 4.16015625], rtol=1e-3)
    assert dm.special.xlog1py(T([2, 3]), T([1, 3])).dtype == dm.float32


# ---- nextafter on bfloat16 -------------------------------------------------------------------


def test_nextafter_bfloat16_matches_pytorch_bits():
    a = T([1.5, -2.5, 0.0, 1.0, 3.0e38, float("inf"), 9.2e-41], dtype=dm.bfloat16)
    b = T([2.0, -3.0, -1.0, 0.0, float("inf"), 0.0, 0.0], dtype=dm.bfloat16)
    r = dm.nextafter(a, b)
    assert r.dtype == dm.bfloat16
    # torch.nextafter(a, b).view(torch.int16)
    bits = [16321, -16351, -32767, 16255, 32611, 32639, 0]
    got = (r.float().numpy().view(np.uint32) >> 16).astype(np.uint16).view(np.int16)
    assert got.tolist() == bits


def test_nextafter_bfloat16_equal_and_nan():
    a = T([1.5, float("nan"), 2.0], dtype=dm.bfloat16)
    b = T([1.5, 1.0, float("nan")], dtype=dm.bfloat16)
    r = dm.nextafter(a, b).float().numpy()
    assert r[0] == 1.5 and np.isnan(r[1]) and np.isnan(r[2])


# ---- flip/tile need dims; histogram's default bins --------------------------------------------


def test_flip_and_tile_without_dims_raise():
    x = T([[1, 2], [3, 4]])
    with pytest.raises(TypeError, match="dims"):
        x.flip()  # NumPy's flip(x) reverses every axis; it used to return x unchanged
    with pytest.raises(TypeError, match="dims"):
        dm.flip(x)
    with pytest.raises(TypeError, match="dims"):
        x.tile()
    assert x.flip(0).tolist() == [[3, 4], [1, 2]]
    assert x.flip(dims=[1]).tolist() == [[2, 1], [4, 3]]


def test_histogram_default_bins_is_100():
    hist, edges = dm.histogram(T([1.0, 2.0, 3.0, 4.0]))
    assert hist.shape == (100,) and edges.shape == (101,)
    assert float(hist.sum()) == 4.0


# ---- nansum(dtype=): the result in that dtype -------------------------------------------------


@pytest.mark.parametrize("dtype", [dm.int32, dm.bool, dm.float16, dm.float64])
def test_nansum_result_has_requested_dtype(dtype):
    x = T([[1.5, float("nan"), 3.0], [0.5, 4.0, -1.0]])
    assert dm.nansum(x, dtype=dtype).dtype == dtype
    assert x.nansum(0, dtype=dtype).dtype == dtype
    assert dm.nansum(T([[3, -7, 2], [1, 4, 0]]), 1, keepdim=True, dtype=dtype).shape == (2, 1)


def test_nansum_int32_values():
    x = T([[1.5, float("nan"), 3.0], [0.5, 4.0, -1.0]])
    # torch.nansum(x, dtype=torch.int32): the input cast first (1.5 -> 1), then summed
    assert dm.nansum(x, dtype=dm.int32).item() == 7
    assert dm.nansum(x, 0, dtype=dm.int32).tolist() == [1, 4, 2]


def test_tensor_numpy_scalar_lists():
    assert T([np.float32(i) for i in range(50)]).dtype == dm.float32
    assert T([np.uint8(1), np.int16(2)]).dtype == dm.int16  # (promote_types, as PyTorch)
    assert T([np.uint8(1), np.uint8(2)]).dtype == dm.uint8
    assert T([np.uint16(1)]).dtype == dm.int64  # (no uint16 dtype here)
    assert T([np.bool_(True), T(False)]).dtype == dm.bool
    with pytest.raises(dm.DTypeError):
        T([np.str_("a"), T(1.0)])


def test_repeat_interleave_counts_keep_their_dtype():
    out = dm.repeat_interleave(T([1, 2], dtype=dm.int32))
    assert out.dtype == dm.int32 and out.tolist() == [0, 1, 1]
    assert dm.repeat_interleave(T([2, 0, 1])).dtype == dm.int64


# ---- gradient with coordinate tensors, cov with aweights: PyTorch's promoted dtype -------------


def test_gradient_coordinates_promote_and_accept_bfloat16():
    f = T([1.5, -2.25, 3.0])
    (g,) = dm.gradient(f, spacing=(T([0.0, 1.5, 4.0], dtype=dm.bfloat16),))  # was a DTypeError
    assert g.dtype == dm.float32
    np.testing.assert_allclose(g.numpy(), [-2.5, -0.775, 2.1], rtol=1e-6)
    (g,) = dm.gradient(f.half(), spacing=(T([0, 2, 5]),))
    assert g.dtype == dm.float32  # float16 input over integer coordinates
    np.testing.assert_allclose(g.numpy(), [-1.875, -0.425, 1.75], rtol=1e-3)
    (g,) = dm.gradient(T([3, -7, 2]), spacing=(T([0.0, 1.5, 4.0], dtype=dm.float64),))
    assert g.dtype == dm.float64
    np.testing.assert_allclose(g.numpy(), [-6.666666666666667, -2.816666666666667, 3.6])


def test_cov_aweights_promote():
    c = dm.cov(T([[1.5, -2.25, 3.0]]), aweights=T([1.0, 2.0, 1.0], dtype=dm.float64))
    assert c.dtype == dm.float64
    np.testing.assert_allclose(c.item(), 8.55)
    c = dm.cov(T([[3, -7, 2]], dtype=dm.int32), aweights=T([1.0, 2.0, 1.0], dtype=dm.float16))
    assert c.dtype == dm.float16
    np.testing.assert_allclose(c.float().item(), 36.3125, rtol=1e-3)
    assert dm.cov(T([[3, -7, 2]])).dtype == dm.float32
