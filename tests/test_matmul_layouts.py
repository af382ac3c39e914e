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


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5), (0, 4, 5), (3, 4, 0)])
@pytest.mark.parametrize("transposed", [False, True])
def test_batch_times_one_matrix_is_one_product(shape: tuple[int, ...], transposed: bool) -> None:
    """``[..., m, k] @ [k, n]`` runs as one ``[rows, k]`` product (contiguous or not); values
    and both gradients (the shared matrix's summed over the batch) match NumPy."""
    k = shape[-1]
    a = RNG.standard_normal(shape)
    b = RNG.standard_normal((k, 6))
    g = RNG.standard_normal((*shape[:-1], 6))
    if transposed:  # a non-contiguous view of the same values
        at = dm.tensor(np.ascontiguousarray(np.swapaxes(a, -1, -2)), requires_grad=True)
        av = at.transpose(-1, -2)
    else:
        at = av = dm.tensor(a, requires_grad=True)
    bt = dm.tensor(b, requires_grad=True)
    y = av @ bt
    np.testing.assert_allclose(y.detach().numpy(), a @ b, rtol=1e-12, atol=1e-12)
    (y * dm.tensor(g)).sum().backward()
    ga = g @ b.T
    assert at.grad is not None and bt.grad is not None
    got_a = at.grad.numpy()
    np.testing.assert_allclose(np.swapaxes(got_a, -1, -2) if transposed else got_a, ga, atol=1e-12)
    rows = int(np.prod(shape[:-1]))
    gb = a.reshape(rows, k).T @ g.reshape(rows, 6)
    np.testing.assert_allclose(bt.grad.numpy(), gb, rtol=1e-12, atol=1e-12)
