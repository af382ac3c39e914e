"""Mismatches with PyTorch found by the session-26 differential fuzz of ``nn.init`` and
``nn.utils``, now fixed. Each test encodes PyTorch's (CPU, 2.x) result as constants."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import democratising as dm
import democratising.nn as dnn

# A Conv1d(2, 3, 4) weight, ``(arange(24).reshape(3, 2, 4) - 7) / 4``.
_W = (np.arange(24, dtype=np.float32).reshape(3, 2, 4) - 7) / 4

# PyTorch's ``torch.norm_except_dim(_W, 2, dim)``: a negative ``dim`` other than -1 counts
# from the end (-2 is dim 1, -3 dim 0); only -1 means "the whole tensor".
_G_EXPECTED = {
    -2: ((1, 2, 1), [6.133922, 8.038967]),
    -3: ((3, 1, 1), [2.95804, 3.570714, 8.9861]),
}


def _conv_with_weight() -> dnn.Module:
    """A Conv1d whose weight is ``_W``, so the norms are known constants."""
    conv = dnn.Conv1d(2, 3, 4)
    with dm.no_grad():
        conv.weight.copy_(dm.tensor(_W))
    return conv


@pytest.mark.parametrize("dim", [-2, -3])
def test_parametrizations_weight_norm_negative_dim(dim: int) -> None:
    conv = _conv_with_weight()
    dnn.utils.parametrizations.weight_norm(conv, dim=dim)
    g = conv.parametrizations.weight.original0
    shape, values = _G_EXPECTED[dim]
    assert tuple(g.shape) == shape
    np.testing.assert_allclose(np.asarray(g.detach().numpy()).ravel(), values, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(conv.weight.detach().numpy()), _W, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dim", [-2, -3])
def test_hook_weight_norm_negative_dim(dim: int) -> None:
    conv = _conv_with_weight()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        dnn.utils.weight_norm(conv, dim=dim)
    shape, values = _G_EXPECTED[dim]
    assert tuple(conv.weight_g.shape) == shape
    np.testing.assert_allclose(
        np.asarray(conv.weight_g.detach().numpy()).ravel(), values, rtol=1e-5
    )
    np.testing.assert_allclose(np.asarray(conv.weight.detach().numpy()), _W, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", ["orthogonal_", "sparse_"])
@pytest.mark.parametrize("dtype", ["int64", "bool"])
def test_random_init_refuses_non_float(fn: str, dtype: str) -> None:
    t = dm.zeros(4, 4, dtype=getattr(dm, dtype))
    args = (0.5,) if fn == "sparse_" else ()
    with pytest.raises(RuntimeError):
        getattr(dnn.init, fn)(t, *args)


@pytest.mark.parametrize("fn", ["uniform_", "normal_", "xavier_uniform_", "kaiming_normal_"])
def test_other_random_inits_refuse_int(fn: str) -> None:
    """The control for the test above: these already refuse, as PyTorch's do."""
    with pytest.raises(RuntimeError):
        getattr(dnn.init, fn)(dm.zeros(4, 4, dtype=dm.int64))
