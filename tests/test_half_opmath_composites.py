"""Ops written as several engine ops compute half-precision inputs in float32 and round once
(``_opmath.in_float32``), as PyTorch's opmath does: rounding every intermediate to bfloat16
left ``selu`` 1 ulp off on 6% of the values, ``hypot`` on 27%, ``glu`` on 22%, and
``addcmul(value=...)`` could cancel to 0 where the answer is not. Floor and truncating
division by a Python number divide in float32 (the rounded quotient or divisor moved results
by a whole integer). References: NumPy float64, rounded to bfloat16 once."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _to_bf16(a: np.ndarray) -> np.ndarray:
    """float64 values rounded to float32 then bfloat16 (to nearest even), as float32."""
    bits = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    out = (((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)
    return np.where(np.isnan(a), np.float32(np.nan), out)


def _bf16_values(n: int, seed: int, scale: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return _to_bf16(rng.standard_normal(n) * scale)


def _lgamma(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.lgamma)(x)


# name -> (our op on bfloat16 tensors, its float64 reference on arrays)
UNARY: dict[str, tuple[Callable[..., dm.Tensor], Callable[..., np.ndarray]]] = {
    "selu": (
        F.selu,
        lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(x)),
    ),
    "celu_0.3": (
        lambda t: F.celu(t, 0.3),
        lambda x: np.where(x > 0, x, 0.3 * np.expm1(x / 0.3)),
    ),
    "spherical_bessel_j0": (
        dm.special.spherical_bessel_j0,
        lambda x: np.where(x == 0, 1.0, np.sin(x) / np.where(x == 0, 1.0, x)),
    ),
    "multigammaln_3": (
        lambda t: dm.special.multigammaln(t.abs() + 1.5, 3),  # (|x| + 1.5 rounded in bfloat16)
        lambda x: (
            1.5 * math.log(math.pi)
            + sum(_lgamma(_to_bf16(np.abs(x) + 1.5) - j / 2) for j in range(3))
        ),
    ),
}
BINARY: dict[str, tuple[Callable[..., dm.Tensor], Callable[..., np.ndarray]]] = {
    "hypot": (dm.hypot, np.hypot),
    "glu": (lambda a, b: F.glu(dm.cat([a, b])), lambda a, b: a / (1.0 + np.exp(-b))),
    "addcmul_0.5": (
        lambda a, b: dm.addcmul(a, b, a, value=0.5),
        lambda a, b: a + 0.5 * b * a,
    ),
    "addcdiv_2": (
        lambda a, b: dm.addcdiv(a, a, b.abs() + 0.5, value=2),
        lambda a, b: a + 2 * a / _to_bf16(np.abs(b) + 0.5),  # (the divisor rounded first)
    ),
}


def _mismatches(got: dm.Tensor, want: np.ndarray) -> int:
    g = got.float().numpy()
    return int((~(np.isnan(g) & np.isnan(want)) & (g != want)).sum())


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_composites_round_once(name: str) -> None:
    op, ref = UNARY[name]
    x = _bf16_values(4096, 1)
    got = op(dm.from_numpy(x).to(dm.bfloat16))
    assert got.dtype == dm.bfloat16
    with np.errstate(all="ignore"):
        want = _to_bf16(ref(x.astype(np.float64)))
    assert _mismatches(got, want) <= 4  # ties of float32's own rounding at most


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_composites_round_once(name: str) -> None:
    op, ref = BINARY[name]
    a, b = _bf16_values(4096, 2), _bf16_values(4096, 3)
    got = op(dm.from_numpy(a).to(dm.bfloat16), dm.from_numpy(b).to(dm.bfloat16))
    assert got.dtype == dm.bfloat16
    with np.errstate(all="ignore"):
        want = _to_bf16(ref(a.astype(np.float64), b.astype(np.float64)))
    assert _mismatches(got, want) <= 4


def test_addcmul_with_a_value_no_longer_cancels() -> None:
    # 1 + 0.5 * (-1.0078125 * 1.984375): the bfloat16 product was rounded to -2.0 first.
    x = dm.tensor([1.0], dtype=dm.bfloat16)
    got = dm.addcmul(
        x,
        dm.tensor([-1.0078125], dtype=dm.bfloat16),
        dm.tensor([1.984375], dtype=dm.bfloat16),
        value=0.5,
    )
    assert got.float().item() == pytest.approx(1.0 - 0.5 * 1.0078125 * 1.984375, abs=2e-4)
    assert got.float().item() != 0.0


def test_dtypes_promotion_gradients_and_in_place_forms() -> None:
    bf = dm.bfloat16
    x = dm.tensor([0.5, -1.25, 3.0], dtype=bf, requires_grad=True)
    F.selu(x).sum().backward()
    assert x.grad.dtype == bf
    v = np.array([0.5, -1.25, 3.0])
    want = _SELU_SCALE * np.where(v > 0, 1.0, _SELU_ALPHA * np.exp(v))
    np.testing.assert_allclose(x.grad.float().numpy(), want, rtol=1e-2)
    t = dm.tensor([1.0, -2.0], dtype=bf)
    assert F.selu(t, inplace=True) is t and t.dtype == bf
    # A float32 operand promotes the result to float32 (nothing cast back).
    assert dm.addcmul(dm.zeros(2, dtype=bf), dm.ones(2), dm.ones(2, dtype=bf)).dtype == dm.float32
    assert dm.hypot(dm.ones(2, dtype=bf), other=dm.ones(2, dtype=bf)).dtype == bf
    assert dm.hypot(dm.ones(2, dtype=dm.float16), dm.ones(2, dtype=dm.float16)).dtype == dm.float16
    a = dm.ones(3, dtype=bf)
    a.addcmul_(dm.ones(3, dtype=bf), dm.ones(3, dtype=bf), value=0.25)
    assert a.dtype == bf and a.float().tolist() == [1.25] * 3


@pytest.mark.parametrize("dtype", [dm.bfloat16, dm.float16])
def test_floor_and_trunc_division_by_a_number_divide_in_float32(dtype: dm.dtype) -> None:
    x = dm.tensor([-1.703125, 2.984375, 5.0], dtype=dtype)
    xs = x.float().numpy().astype(np.float64)
    floor = np.floor(xs / np.float64(np.float32(1.7)))
    assert (x // 1.7).float().tolist() == floor.tolist()
    assert dm.floor_divide(x, 1.7).float().tolist() == floor.tolist()
    assert x.div(1.7, rounding_mode="floor").float().tolist() == floor.tolist()
    # 2.984375 / 0.995 = 2.9994: truncated 2 (the quotient rounded to a half type first was 3).
    trunc = np.trunc(xs / np.float64(np.float32(0.995)))
    assert x.div(0.995, rounding_mode="trunc").float().tolist() == trunc.tolist()
    assert (x // 1.7).dtype == dtype and x.div(0.995, rounding_mode="trunc").dtype == dtype
    y = x.clone()
    y.div_(0.995, rounding_mode="trunc")
    assert y.float().tolist() == trunc.tolist()
