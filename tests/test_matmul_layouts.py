"""Matmul over every operand layout must equal NumPy: the CPU passes strides straight to the
GEMM (transposed views never copy), so each combination of row- and column-major operands is
its own path, among them a wide layer's weight gradient ``g.T @ x``."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a_t,b_t", [(True, False), (False, False), (True, True), (False, True)])
def test_large_products_in_every_layout(dtype, a_t: bool, b_t: bool) -> None:  # type: ignore[no-untyped-def]
    m, n, k = 5000, 40, 300
    a = RNG.standard_normal((k, m) if a_t else (m, k)).astype(dtype)
    b = RNG.standard_normal((n, k) if b_t else (k, n)).astype(dtype)
    at, bt = dm.from_numpy(a), dm.from_numpy(b)
    y = (at.t() if a_t else at) @ (bt.t() if b_t else bt)
    want = (a.T if a_t else a) @ (b.T if b_t else b)
    assert y.shape == (m, n) and y.is_contiguous()
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.numpy(), want, rtol=tol, atol=tol * np.abs(want).max())


def test_weight_gradient_of_a_wide_layer() -> None:
    x = RNG.standard_normal((300, 40))
    w = RNG.standard_normal((5000, 40))
    xt, wt = dm.tensor(x, requires_grad=True), dm.tensor(w, requires_grad=True)
    g = RNG.standard_normal((300, 5000))
    (dm.nn.functional.linear(xt, wt) * dm.tensor(g)).sum().backward()
    np.testing.assert_allclose(wt.grad.numpy(), g.T @ x, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(xt.grad.numpy(), g @ w, rtol=1e-12, atol=1e-10)
