"""Engine behaviour settled in session 28: a graph recorded before ``param.data = t`` delivers
its gradient to the parameter as it is now (PyTorch's one parameter object), and the
float32 transcendental functions (vectorised polynomials) against float64 references."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.errors import ShapeError


def test_grad_after_data_swap_reaches_the_new_data() -> None:
    lin = nn.Linear(3, 2)
    out = lin(dm.ones(4, 3)).sum()
    lin.weight.data = dm.zeros(2, 3)
    (gw,) = dm.autograd.grad(out, [lin.weight])
    np.testing.assert_allclose(gw.numpy(), np.full((2, 3), 4.0))


def test_a_data_swap_to_another_dtype_gets_the_gradient_in_that_dtype() -> None:
    lin = nn.Linear(3, 2)
    out = lin(dm.ones(4, 3)).sum()
    lin.double()
    out.backward()
    assert lin.weight.grad is not None and lin.weight.grad.dtype == dm.float64
    np.testing.assert_allclose(lin.weight.grad.numpy(), np.full((2, 3), 4.0))


def test_a_data_swap_to_another_shape_refuses_the_gradient() -> None:
    lin = nn.Linear(3, 2)
    out = lin(dm.ones(4, 3)).sum()
    lin.weight.data = dm.zeros(5)
    with pytest.raises(ShapeError, match="replaced after the forward"):
        out.backward()
    assert lin.weight.grad is None


def test_two_swaps_follow_the_chain() -> None:
    w = dm.ones(3, requires_grad=True)
    out = (w * 2).sum()
    w.data = dm.zeros(3)
    w.data = dm.full((3,), 5.0)
    out.backward()
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(w.detach().numpy(), [5.0, 5.0, 5.0])


_CASES = [
    ("log", np.log, 1e-30, 1e30, True),
    ("log2", np.log2, 1e-30, 1e30, True),
    ("log10", np.log10, 1e-30, 1e30, True),
    ("exp2", np.exp2, -140.0, 127.0, False),
    ("expm1", np.expm1, -80.0, 80.0, False),
    ("asin", np.arcsin, -1.0, 1.0, False),
    ("acos", np.arccos, -1.0, 1.0, False),
    ("atan", np.arctan, -1e4, 1e4, False),
    ("asinh", np.arcsinh, -1e6, 1e6, False),
    ("acosh", np.arccosh, 1.0, 1e6, False),
    ("atanh", np.arctanh, -0.9999, 0.9999, False),
]


@pytest.mark.parametrize("name,ref,lo,hi,geometric", _CASES, ids=[c[0] for c in _CASES])
def test_float32_functions_within_a_few_ulp(name, ref, lo, hi, geometric) -> None:
    if geometric:
        x = np.geomspace(lo, hi, 20001).astype(np.float32)
    else:
        x = np.linspace(lo, hi, 20001).astype(np.float32)
        x = np.concatenate([x, np.float32([0.0, -0.0, 1e-3, -1e-3, 1e-30])])
        x = x[(x >= lo) & (x <= hi)]
    got = getattr(dm.tensor(x), name)().numpy().astype(np.float64)
    want = ref(x.astype(np.float64))
    tol = 6 * np.spacing(np.abs(want).astype(np.float32)).astype(np.float64) + 1e-44
    bad = np.abs(got - want) > tol
    assert not bad.any(), (x[bad][:5], got[bad][:5], want[bad][:5])


def test_float32_erfc_and_erfinv_against_float64() -> None:
    x = np.linspace(-5.0, 9.0, 20001).astype(np.float32)
    got = dm.tensor(x).erfc().numpy().astype(np.float64)
    want = np.array([math.erfc(float(v)) for v in x])
    np.testing.assert_allclose(got, want, rtol=6 * 2**-24, atol=1e-44)
    y = np.linspace(-0.99999, 0.99999, 4001).astype(np.float32)
    inv = dm.tensor(y).erfinv().numpy().astype(np.float64)
    back = np.array([math.erf(v) for v in inv])
    # erf(erfinv(y)) == y to the float32 rounding of erfinv's result.
    slope = 2 / math.sqrt(math.pi) * np.exp(-(inv**2))
    np.testing.assert_array_less(np.abs(back - y), 4e-7 * np.abs(inv) * slope + 1e-7)


def test_float32_special_values() -> None:
    inf, nan = math.inf, math.nan
    t = dm.tensor([0.0, -1.0, inf, nan])
    np.testing.assert_array_equal(t.log().numpy(), [-inf, nan, inf, nan])
    np.testing.assert_array_equal(dm.tensor([1.0, -1.0, 2.0]).atanh().numpy(), [inf, -inf, nan])
    np.testing.assert_array_equal(dm.tensor([inf, -inf, 0.0]).erfc().numpy(), [0.0, 2.0, 1.0])
    np.testing.assert_array_equal(dm.tensor([1.0, -1.0, 1.5]).erfinv().numpy(), [inf, -inf, nan])
    np.testing.assert_array_equal(dm.tensor([128.0, -inf, 10.0]).exp2().numpy(), [inf, 0.0, 1024.0])
    e = dm.tensor([-0.0, inf, -inf]).expm1().numpy()
    assert math.copysign(1.0, e[0]) == -1.0 and e[1] == inf and e[2] == -1.0
