"""``inplace=True`` activations follow PyTorch's cast rule for the write back: a floating
result is never written into an integer tensor (it was, truncated: ``F.silu`` of ``[1, 2]``
in place gave ``[0, 1]``). Integer-preserving ones (``relu``, ``hardtanh``) still work."""

from __future__ import annotations

from typing import Callable

import pytest

import democratising as dm
import democratising.nn as nn
import democratising.nn.functional as F

FLOAT_RESULTS: dict[str, Callable[[dm.Tensor], dm.Tensor]] = {
    "silu": lambda t: F.silu(t, inplace=True),
    "mish": lambda t: F.mish(t, inplace=True),
    "hardswish": lambda t: F.hardswish(t, inplace=True),
    "elu": lambda t: F.elu(t, inplace=True),
    "selu": lambda t: F.selu(t, inplace=True),
    "SiLU module": nn.SiLU(inplace=True),
}


@pytest.mark.parametrize("name", sorted(FLOAT_RESULTS))
def test_float_results_are_not_written_into_integer_tensors(name: str) -> None:
    t = dm.tensor([1, 2, -3])
    with pytest.raises(dm.DTypeError, match="can't be cast to the desired output type"):
        FLOAT_RESULTS[name](t)
    assert t.tolist() == [1, 2, -3]  # untouched


@pytest.mark.parametrize("name", sorted(FLOAT_RESULTS))
def test_float_non_leaf_inputs_are_still_written_in_place_under_autograd(name: str) -> None:
    w = dm.tensor([1.0, 2.0, -3.0], requires_grad=True)
    h = w * 1.0
    y = FLOAT_RESULTS[name](h)
    assert y is h and y.dtype == dm.float32
    y.sum().backward()
    assert w.grad is not None and w.grad.shape == (3,)


def test_integer_preserving_activations_still_run_in_place() -> None:
    t = dm.tensor([-1, 2, 7])
    assert F.relu(t, inplace=True) is t and t.tolist() == [0, 2, 7]
    u = dm.tensor([-4, 0, 5])
    F.hardtanh(u, -2.0, 2.0, inplace=True)
    assert u.tolist() == [-2, 0, 2]
    x = dm.randn(4)
    assert F.silu(x, inplace=True) is x
