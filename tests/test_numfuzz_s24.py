"""Wrong results found by the session-24 differential fuzz of tensor ops against PyTorch (CPU).

Each test states the CORRECT result, as PyTorch 2.x gives it (the numbers are constants taken
from PyTorch for the same call), and is marked ``xfail(strict=True)`` while democratising still
gets it wrong: once a fix lands the test passes, pytest reports XPASS as a failure, and the mark
must be removed. The reason string of each mark names the code at fault.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm

B = 2**53 + 1  # 9007199254740993: the smallest int64 that float64 cannot hold


def _xfail(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=reason)


# ---- autograd ---------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["fmod", "remainder", "operator"])
def test_remainder_backward_when_only_the_dividend_needs_grad(form: str) -> None:
    x = dm.tensor([3.0, -1.0, 5.5], requires_grad=True)
    if form == "fmod":
        y = dm.fmod(x, 2.0)
    elif form == "remainder":
        y = dm.remainder(x, dm.tensor([2.0, 2.0, 2.0]))
    else:
        y = x % 2.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 1.0])


def test_atan2_inplace_gradient_for_other() -> None:
    y = dm.tensor([0.5, 3.0], requires_grad=True)
    dm.tensor([1.5, 2.0]).clone().atan2_(y).sum().backward()
    np.testing.assert_allclose(
        y.grad.numpy(), [-0.6000000238418579, -0.1538461595773697], rtol=1e-6
    )


@pytest.mark.parametrize(
    ("op", "want"),
    [
        ("pow_", [0.49659135937690735, 5.545177459716797]),
        ("xlogy_", [3.0, 0.6666666865348816]),
        ("remainder_", [-3.0, -0.0]),
    ],
)
def test_inplace_binary_gradient_for_other(op: str, want: list[float]) -> None:
    y = dm.tensor([0.5, 3.0], requires_grad=True)
    getattr(dm.tensor([1.5, 2.0]).clone(), op)(y).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), want, rtol=1e-6)


def test_one_sided_clamp_passes_the_gradient_at_infinity() -> None:
    x = dm.tensor([math.inf, 1.0, 3.0], requires_grad=True)
    dm.clamp(x, min=2.5).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 1.0])
    z = dm.tensor([-math.inf, 1.0, 3.0], requires_grad=True)
    dm.clamp(z, max=2.5).sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [1.0, 1.0, 0.0])


def test_pow_exponent_gradient_with_a_half_precision_base() -> None:
    base = dm.tensor([0.72265625]).to(dm.bfloat16)
    e = dm.tensor([4.45], requires_grad=True)
    (base**e).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), [-0.0765404999256134], rtol=2e-5)


def test_logit_gradient_outside_the_unit_interval_is_nan() -> None:
    x = dm.tensor([-0.5, 1.5, 0.5], requires_grad=True)
    dm.logit(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [math.nan, math.nan, 4.0])


# ---- integers ---------------------------------------------------------------------------------


def test_argmax_argmin_of_int64_beyond_2_pow_53() -> None:
    x = dm.tensor([B - 1, B])
    assert x.argmax().item() == 1
    values, indices = x.max(0)
    assert (values.item(), indices.item()) == (B, 1)
    y = dm.tensor([5, -(2**63) + 1, 3, -(2**63)])
    assert y.argmin().item() == 3
    values, indices = y.min(0)
    assert (values.item(), indices.item()) == (-(2**63), 3)


def test_integer_power_with_an_exponent_of_2_pow_32_or_more() -> None:
    assert (dm.tensor([0, 1, 2]) ** 4294967296).tolist() == [0, 1, 0]
    assert (dm.tensor([3]) ** 4294967297).tolist() == [7473929035676909571]
    assert dm.pow(dm.tensor([False, True]), 2**40).tolist() == [0, 1]


def test_int64_clamp_keeps_values_beyond_2_pow_53() -> None:
    x = dm.tensor([B, B - 1, -B, 3])
    assert x.clamp(-B, B).tolist() == [B, B - 1, -B, 3]
    assert x.clamp(min=B).tolist() == [B, B, B, B]


def test_int64_masked_fill_with_a_tensor_value_beyond_2_pow_53() -> None:
    x = dm.tensor([B, B - 1, -B, 3])
    assert x.masked_fill(x > 5, dm.tensor(B)).tolist() == [B, B, -B, 3]


def test_integer_clamp_with_min_above_max_gives_max() -> None:
    # PyTorch's documented rule: min > max sets every element to max.
    assert dm.clamp(dm.tensor([1, 5, -3]), 2, 0).tolist() == [0, 0, 0]


# ---- shapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["all", "any"])
def test_all_any_over_every_dim_keep_the_dims(op: str) -> None:
    x = dm.ones(2, 3)
    assert tuple(getattr(x, op)(dim=None, keepdim=True).shape) == (1, 1)
    assert tuple(getattr(dm, op)(dm.zeros(1, 1, 1), dim=None, keepdim=True).shape) == (1, 1, 1)


def test_masked_scatter_of_a_0d_tensor_stays_0d() -> None:
    out = dm.tensor(8.0).masked_scatter(dm.tensor(True), dm.tensor([1.0, 2.0]))
    assert tuple(out.shape) == ()
    assert out.item() == 1.0


# ---- float accuracy ---------------------------------------------------------------------------


def test_sinc_in_half_precision() -> None:
    h = dm.sinc(dm.tensor([7.0, 3.5, 1000.0, 2.5, 65504.0]).to(dm.float16))
    np.testing.assert_allclose(
        h.float().numpy(),
        [-5.960464477539063e-08, -0.0909423828125, 5.960464477539063e-08, 0.1273193359375, 0.0],
        atol=1e-4,
    )
    b = dm.sinc(dm.tensor([7.0, 3.5, 1000.0, 2.5, -17.875]).to(dm.bfloat16))
    np.testing.assert_allclose(
        b.float().numpy(),
        [
            -6.05359673500061e-08,
            -0.0908203125,
            3.818422555923462e-08,
            0.126953125,
            -0.006805419921875,
        ],
        atol=1e-4,
    )


def test_round_decimals_in_half_precision() -> None:
    h = dm.round(dm.tensor([-2.105, 1234.5678]).to(dm.float16), decimals=2)
    assert h.float().tolist() == [-2.109375, 1235.0]
    b = dm.round(dm.tensor([-2.105, 1234.5678]).to(dm.bfloat16), decimals=2)
    assert b.float().tolist() == [-2.109375, 1232.0]


def _h(v: float) -> dm.Tensor:
    return dm.tensor([v]).to(dm.float16)


def test_lerp_in_float16() -> None:
    got = dm.lerp(_h(-0.623046875), _h(0.6103515625), _h(0.544921875))
    assert got.float().tolist() == [0.049072265625]


def test_logaddexp2_in_float16() -> None:
    assert dm.logaddexp2(_h(-1.0947265625), _h(-1.0)).float().tolist() == [-0.046600341796875]


def test_float64_asinh_acosh_of_huge_values() -> None:
    x = dm.tensor([1e308, -1e308], dtype=dm.float64)
    np.testing.assert_allclose(dm.asinh(x).numpy(), [709.889355822726, -709.889355822726])
    np.testing.assert_allclose(dm.acosh(x[:1]).numpy(), [709.889355822726])


def test_float64_lgamma_of_the_smallest_subnormal() -> None:
    tiny = dm.tensor([5e-324], dtype=dm.float64)
    np.testing.assert_allclose(dm.lgamma(tiny).numpy(), [744.4400719213812])


def test_float32_std_of_large_values_is_finite() -> None:
    got = dm.tensor([1.0, 3e37, -1.0]).std().item()
    assert math.isclose(got, 1.7320508482001606e37, rel_tol=1e-5)


def test_integer_power_with_a_tensor_exponent_of_2_pow_32_or_more() -> None:
    assert (dm.tensor([2]) ** dm.tensor([4294967296 + 3])).tolist() == [0]


def test_int64_fmod_of_the_minimum() -> None:
    assert dm.fmod(dm.tensor([-(2**63)]), 5).tolist() == [-3]


def test_half_remainder_and_fmod_round_the_python_scalar_to_half() -> None:
    x = dm.tensor([-1.5, 1.5]).to(dm.float16)
    np.testing.assert_allclose(
        dm.remainder(x, 0.001).float().numpy(), [0.000606536865234375, 0.00039386749267578125]
    )
    np.testing.assert_allclose(
        dm.fmod(x, 0.001).float().numpy(), [-0.00039386749267578125, 0.00039386749267578125]
    )


def test_masked_fill_broadcasts_to_the_mask() -> None:
    out = dm.zeros(3).masked_fill(dm.ones(2, 3, dtype=dm.bool), 1.0)
    assert tuple(out.shape) == (2, 3)
    assert out.tolist() == [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]


def test_hardtanh_and_relu6_keep_integer_dtype() -> None:
    ht = dm.nn.functional.hardtanh(dm.tensor([-3, 0, 3]))
    assert ht.dtype == dm.int64 and ht.tolist() == [-1, 0, 1]
    r6 = dm.nn.functional.relu6(dm.tensor([-3, 0, 9]))
    assert r6.dtype == dm.int64 and r6.tolist() == [0, 0, 6]


def test_clamp_min_max_gradient_at_the_bound_and_at_nan() -> None:
    # PyTorch (and dm.clamp itself) give 0 where x equals the bound or is NaN.
    x = dm.tensor([-1.0, 1.0, 6.0, math.nan], requires_grad=True)
    dm.clamp_min(x, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0, 0.0])
    z = dm.tensor([-1.0, 1.0, 6.0, math.nan], requires_grad=True)
    dm.clamp_max(z, 1.0).sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [1.0, 0.0, 0.0, 0.0])
