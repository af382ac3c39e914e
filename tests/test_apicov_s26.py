"""API-coverage probes (session 26): present names whose basic use differs from PyTorch.

Each test encodes PyTorch 2.15's result (computed once with torch and pasted as constants; no
torch import here) and is a strict xfail until democratising matches it, so a fix shows up as
an XPASS that must be acknowledged by removing the marker.
"""

import math

import numpy as np

import democratising as dm
import democratising.nn.functional as F


def test_squeeze_accepts_several_dims_as_varargs() -> None:
    x = dm.zeros(1, 3, 1)
    assert x.squeeze(0, 2).shape == (3,)


def test_count_nonzero_accepts_dims_as_varargs() -> None:
    x = dm.tensor([[0, 1], [2, 0]])
    assert x.count_nonzero(0, 1).item() == 2


def test_cauchy_fills_a_zero_dim_tensor() -> None:
    x = dm.tensor(0.5)
    out = x.cauchy_()
    assert out.shape == ()
    assert math.isfinite(out.item())


def test_geometric_fills_a_zero_dim_tensor() -> None:
    x = dm.tensor(0.5)
    out = x.geometric_(0.5)
    assert out.shape == ()
    assert out.item() >= 1.0


def test_tensor_polygamma_even_order_at_poles_is_minus_inf() -> None:
    out = dm.tensor([0.0, -1.0]).polygamma(2)
    assert out.tolist() == [-math.inf, -math.inf]


def test_linalg_vander_promotes_int32_to_int64() -> None:
    out = dm.linalg.vander(dm.tensor([1, 2, 3], dtype=dm.int32))
    assert out.dtype == dm.int64
    assert out.tolist() == [[1, 1, 1], [1, 2, 4], [1, 3, 9]]


def test_linear_accepts_one_dimensional_weight() -> None:
    x = dm.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = F.linear(x, dm.tensor([0.5, -1.0]))
    assert out.shape == (2,)
    np.testing.assert_allclose(out.numpy(), [-1.5, -2.5], rtol=1e-6)


def test_cosine_similarity_promotes_integer_operand() -> None:
    a = dm.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    b = dm.tensor([[1, 0, 2], [3, 1, 1]])
    out = F.cosine_similarity(a, b)
    assert out.dtype == dm.float32
    np.testing.assert_allclose(out.numpy(), [0.8366599678993225, 0.3289758265018463], rtol=1e-5)


def test_histc_bins_like_pytorch_on_edges() -> None:
    out = dm.histc(dm.tensor([0.1, 0.2, 0.3]), bins=4)
    assert out.tolist() == [1.0, 1.0, 0.0, 1.0]
