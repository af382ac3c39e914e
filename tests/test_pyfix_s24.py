"""Regression tests for the session-24 fuzz fixes made in Python (in-place gradients, half
precision kept in float32 inside, clamp_min/clamp_max gradients, 0-d masked_scatter, int64
fmod, logit's gradient). Expected values are PyTorch 2.x's for the same calls, as constants."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm

NAN = math.nan


def _h(*v: float) -> dm.Tensor:
    return dm.tensor(list(v)).to(dm.float16)


# ---- in-place forms keep the original self for the backward ----------------------------------


@pytest.mark.parametrize(
    ("op", "want"),
    [
        ("atan2_", [-0.6000000238418579, -0.1538461595773697]),
        ("arctan2_", [-0.6000000238418579, -0.1538461595773697]),
        ("pow_", [0.49659135937690735, 5.545177459716797]),
        ("xlogy_", [3.0, 0.6666666865348816]),
        ("remainder_", [-3.0, -0.0]),
        ("hypot_", [0.31622776601683794, 0.8320502943378437]),
    ],
)
def test_inplace_gradient_for_other_reads_self_from_before_the_write(
    op: str, want: list[float]
) -> None:
    y = dm.tensor([0.5, 3.0], requires_grad=True)
    x = dm.tensor([1.5, 2.0]).clone()
    out = getattr(x, op)(y)
    assert out is x
    out.sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), want, rtol=1e-6)


def test_float_power_inplace_gradient_for_the_exponent() -> None:
    y = dm.tensor([0.5, 3.0], dtype=dm.float64, requires_grad=True)
    dm.tensor([1.5, 2.0], dtype=dm.float64).float_power_(y).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [0.4965913116837105, 5.545177444479562])


def test_scatter_reduce_inplace_prod_gradient_for_the_source() -> None:
    s = dm.tensor([2.0, 3.0, 5.0], requires_grad=True)
    x = dm.tensor([1.5, 4.0, 0.5])
    x.scatter_reduce_(0, dm.tensor([0, 0, 2]), s, "prod").sum().backward()
    np.testing.assert_allclose(s.grad.numpy(), [4.5, 3.0, 0.5])


def test_inplace_without_grad_still_writes_into_self() -> None:
    x = dm.tensor([1.5, 2.0])
    with dm.no_grad():
        x.atan2_(dm.tensor([0.5, 3.0], requires_grad=True))
    np.testing.assert_allclose(x.numpy(), [1.2490457723982544, 0.5880026035475675], rtol=1e-6)


# ---- half precision computed in float32, rounded once ----------------------------------------


def test_sinc_half_precision() -> None:
    got = dm.sinc(_h(7.0, 3.5, 1000.0, 2.5, 65504.0, 0.0)).float().tolist()
    assert got == [
        -5.960464477539063e-08,
        -0.0909423828125,
        5.960464477539063e-08,
        0.1273193359375,
        0.0,
        1.0,
    ]
    assert dm.sinc(_h(1.0)).dtype == dm.float16


def test_round_decimals_half_precision() -> None:
    h = dm.round(_h(-2.105, 1234.5678, 65504.0), decimals=2)
    assert h.dtype == dm.float16
    assert h.float().tolist() == [-2.109375, 1235.0, 65504.0]
    b = dm.tensor([-2.105, 1234.5678]).to(dm.bfloat16).round(decimals=-1)
    assert b.dtype == dm.bfloat16 and b.float().tolist() == [0.0, 1232.0]


def test_lerp_half_precision_and_weight_one_gives_end() -> None:
    assert dm.lerp(_h(-0.623046875), _h(0.6103515625), _h(0.544921875)).float().tolist() == [
        0.049072265625
    ]
    out = dm.lerp(_h(-0.623046875), _h(0.6103515625), 0.7)
    assert out.dtype == dm.float16 and out.float().tolist() == [0.2403564453125]
    a, e = dm.tensor([0.1, -3.3]), dm.tensor([7.7, 1e-3])
    assert dm.lerp(a, e, 1.0).tolist() == e.tolist()
    assert dm.lerp(a, e, dm.tensor([1.0, 1.0])).tolist() == e.tolist()


def test_lerp_gradients() -> None:
    x = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    e = dm.tensor([0.0, 5.0, -1.0], requires_grad=True)
    w = dm.tensor([0.2, 0.8, 1.0], requires_grad=True)
    dm.lerp(x, e, w).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.8, 0.2, 0.0], atol=1e-7)
    np.testing.assert_allclose(e.grad.numpy(), [0.2, 0.8, 1.0], atol=1e-7)
    np.testing.assert_allclose(w.grad.numpy(), [-1.0, 3.0, -4.0])


def test_logaddexp_and_logaddexp2_half_precision() -> None:
    assert dm.logaddexp2(_h(-1.0947265625), _h(-1.0)).float().tolist() == [-0.046600341796875]
    got = dm.logaddexp(_h(1.0, -2.5), _h(2.0, -2.5))
    assert got.dtype == dm.float16
    assert got.float().tolist() == [2.3125, -1.806640625]


# ---- clamp_min / clamp_max with a number: no gradient at a tie or at NaN ----------------------


def test_clamp_min_max_gradient_with_a_number_bound() -> None:
    x = dm.tensor([-1.0, 1.0, 6.0, NAN, math.inf, -math.inf], requires_grad=True)
    y = dm.clamp_min(x, 1.0)
    y.sum().backward()
    v = y.tolist()
    assert math.isnan(v[3]) and v[:3] + v[4:] == [1.0, 1.0, 6.0, math.inf, 1.0]
    assert x.grad.tolist() == [0.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    z = dm.tensor([-1.0, 1.0, 6.0, NAN, math.inf, -math.inf], requires_grad=True)
    y = z.clamp_max(1.0)
    y.sum().backward()
    assert z.grad.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert math.isnan(dm.clamp_min(dm.tensor([2.0]), NAN).item())


def test_clamp_min_max_number_bound_dtypes() -> None:
    assert dm.clamp_min(dm.tensor([1, 3]), 2).dtype == dm.int64
    assert dm.clamp_max(dm.tensor([1, 3]), 2.5).tolist() == [1.0, 2.5]
    assert dm.clamp_min(_h(1.0, 3.0), 2).dtype == dm.float16


# ---- masked_scatter of a 0-d tensor ----------------------------------------------------------


def test_masked_scatter_0d() -> None:
    src = dm.tensor([1.0, 2.0])
    out = dm.tensor(8.0).masked_scatter(dm.tensor(True), src)
    assert tuple(out.shape) == () and out.item() == 1.0
    out = dm.tensor(8.0).masked_scatter(dm.tensor(False), src)
    assert tuple(out.shape) == () and out.item() == 8.0
    x = dm.tensor(8.0)
    assert x.masked_scatter_(dm.tensor(True), src) is x and tuple(x.shape) == ()


# ---- integer fmod at the int64 limits --------------------------------------------------------


def test_int64_fmod_at_the_limits() -> None:
    lo, hi = -(2**63), 2**63 - 1
    xs = [lo, lo + 1, hi, -7, 7, 0, 13, -13]
    assert dm.fmod(dm.tensor(xs), 5).tolist() == [-3, -2, 2, -2, 2, 0, 3, -3]
    assert dm.fmod(dm.tensor(xs), -5).tolist() == [-3, -2, 2, -2, 2, 0, 3, -3]
    assert dm.fmod(dm.tensor(xs), dm.tensor([lo] * 8)).tolist() == [
        0,
        lo + 1,
        hi,
        -7,
        7,
        0,
        13,
        -13,
    ]
    assert dm.fmod(dm.tensor(xs), hi).tolist() == [-1, 0, 0, -7, 7, 0, 13, -13]
    assert dm.fmod(dm.tensor([-5, 5], dtype=dm.int32), 3).tolist() == [-2, 2]


# ---- logit's gradient ------------------------------------------------------------------------


def test_logit_gradient_without_eps_is_nan_outside_the_unit_interval() -> None:
    x = dm.tensor([-0.5, 1.5, 0.5, 0.0, 1.0, NAN, math.inf], requires_grad=True)
    dm.logit(x).sum().backward()
    g = x.grad.tolist()
    assert [math.isnan(v) for v in g] == [True, True, False, False, False, True, True]
    assert g[2:5] == [4.0, math.inf, math.inf]


def test_logit_with_eps_clamps_strictly_outside_the_bounds() -> None:
    x = dm.tensor([-0.5, 0.05, 0.25, 0.75, 0.95, 1.5, NAN], requires_grad=True)
    y = dm.logit(x, eps=0.25)
    y.sum().backward()
    v, g = y.tolist(), x.grad.tolist()
    np.testing.assert_allclose(
        v[:6], [-1.0986123, -1.0986123, -1.0986123, 1.0986123, 1.0986123, 1.0986123], rtol=1e-6
    )
    np.testing.assert_allclose(g[:6], [0.0, 0.0, 5.3333335, 5.3333335, 0.0, 0.0], rtol=1e-6)
    assert math.isnan(v[6]) and math.isnan(g[6])
    # eps > 0.5: below eps gives eps, else above 1 - eps gives 1 - eps (PyTorch's order).
    got = dm.logit(dm.tensor([0.1, 0.9]), eps=0.7).tolist()
    np.testing.assert_allclose(got, [0.8472978, -0.8472978], rtol=1e-6)


def test_logit_half_precision() -> None:
    x = dm.tensor([-0.5, 0.5, 0.25], requires_grad=True)
    y = dm.logit(x.to(dm.float16))
    y.sum().backward()
    assert y.dtype == dm.float16
    v = y.float().tolist()
    assert math.isnan(v[0]) and v[1:] == [0.0, -1.0986328125]
    g = x.grad.tolist()
    assert math.isnan(g[0]) and g[1:] == [4.0, 5.33203125]


# ---- copysign joins `other` to the graph ------------------------------------------------------


def test_copysign_gradient_when_only_other_requires_grad() -> None:
    y = dm.tensor([0.5, -3.0], requires_grad=True)
    out = dm.copysign(dm.tensor([1.5, 2.0]), y)
    assert out.requires_grad and out.tolist() == [1.5, -2.0]
    out.sum().backward()
    assert y.grad.tolist() == [0.0, 0.0]
    z = dm.tensor([0.5, -3.0], requires_grad=True)
    dm.tensor([1.5, 2.0]).clone().copysign_(z).sum().backward()
    assert z.grad.tolist() == [0.0, 0.0]
    signed = dm.copysign(dm.tensor([0.0, 1.0]), dm.tensor([-0.0, -1.0], requires_grad=True))
    assert [math.copysign(1.0, v) for v in signed.tolist()] == [-1.0, -1.0]
