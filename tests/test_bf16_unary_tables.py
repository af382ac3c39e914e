"""bfloat16 unary ops by table (``cpu/unary_table.rs``): on a large contiguous bfloat16 tensor
the transcendental ops look their results up in a table of all 65,536 bit patterns, built
with the elementwise kernels' own formula and rounding. Every pattern (NaNs, infinities,
denormals, both zeros) must give the bits the formula loops give on small tensors, forward
and backward."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F

PATTERNS = 1 << 16
CHUNK = 4096  # below the size where tables are used: the formula loops


def _all_patterns() -> dm.Tensor:
    """Every bfloat16 bit pattern once, in order (two per int32 word, little end first)."""
    lo = np.arange(0, PATTERNS, 2, dtype=np.int64)
    words = (lo | ((lo + 1) << 16)).astype(np.uint32).view(np.int32)
    return dm.from_numpy(words).view(dm.bfloat16)


def _bits(t: dm.Tensor) -> np.ndarray:
    return t.detach().contiguous().view(dm.int32).numpy().view(np.uint16)


OPS: dict[str, Callable[[dm.Tensor], dm.Tensor]] = {
    "exp": dm.exp,
    "log": dm.log,
    "log2": dm.log2,
    "log10": dm.log10,
    "log1p": dm.log1p,
    "expm1": dm.expm1,
    "exp2": dm.exp2,
    "sin": dm.sin,
    "cos": dm.cos,
    "tan": dm.tan,
    "tanh": dm.tanh,
    "sinh": dm.sinh,
    "cosh": dm.cosh,
    "sigmoid": dm.sigmoid,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
    "mish": F.mish,
    "erf": dm.erf,
    "erfc": dm.erfc,
    "erfinv": dm.erfinv,
    "asin": dm.asin,
    "acos": dm.acos,
    "atan": dm.atan,
    "asinh": dm.asinh,
    "acosh": dm.acosh,
    "atanh": dm.atanh,
    "lgamma": dm.lgamma,
    "digamma": dm.digamma,
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_table_matches_the_formula_bit_for_bit(name: str) -> None:
    op = OPS[name]
    x = _all_patterns()
    whole = op(x)
    pieces = dm.cat([op(x[i : i + CHUNK]) for i in range(0, PATTERNS, CHUNK)])
    np.testing.assert_array_equal(_bits(whole), _bits(pieces))


@pytest.mark.parametrize("name", sorted(OPS))
def test_table_backward_matches_the_formula_bit_for_bit(name: str) -> None:
    op = OPS[name]
    rng = np.random.default_rng(5)
    g_np = rng.standard_normal(PATTERNS).astype(np.float32)
    g_np[::97] = 0.0
    g = dm.from_numpy(g_np).to(dm.bfloat16)
    x = _all_patterns().requires_grad_()
    op(x).backward(g)
    chunks = []
    for i in range(0, PATTERNS, CHUNK):
        xc = _all_patterns()[i : i + CHUNK].contiguous().requires_grad_()
        op(xc).backward(g[i : i + CHUNK])
        chunks.append(xc.grad)
    np.testing.assert_array_equal(_bits(x.grad), _bits(dm.cat(chunks)))


def test_small_and_strided_tensors_take_the_formula() -> None:
    """A transposed view and a short tensor give the same values as the contiguous copy."""
    rng = np.random.default_rng(6)
    x = dm.from_numpy(rng.standard_normal((300, 400)).astype(np.float32)).to(dm.bfloat16)
    np.testing.assert_array_equal(_bits(dm.sigmoid(x.t())), _bits(dm.sigmoid(x).t()))
    np.testing.assert_array_equal(_bits(dm.exp(x[:3])), _bits(dm.exp(x)[:3]))


@pytest.mark.parametrize("dtype", [dm.bfloat16, dm.float16])
@pytest.mark.parametrize("op", ["neg", "abs"])
def test_half_neg_and_abs_flip_or_clear_the_sign_bit(dtype: dm.dtype, op: str) -> None:
    """``-x`` and ``|x|`` of every half bit pattern are the pattern with its sign bit flipped or
    cleared (NaNs and infinities too), through contiguous tensors and strided views alike."""
    x = _all_patterns().view(dtype)
    want = _bits(x).astype(np.uint16)
    want = want ^ np.uint16(0x8000) if op == "neg" else want & np.uint16(0x7FFF)
    assert np.array_equal(_bits(getattr(x, op)()), want)
    view = x.reshape(256, 256).t()  # strided: the gathering loop
    got = _bits(getattr(view, op)().t().contiguous().reshape(-1))
    assert np.array_equal(got, want)
    assert getattr(x[:0], op)().shape == (0,)
