"""Shared test helpers: NumPy comparison, a float64 finite-difference gradient check, and
the NumPy-made weights the PyTorch-trajectory programs start from."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Callable, Optional

import numpy as np

import democratising as dm


def to_numpy(t: dm.Tensor) -> np.ndarray:
    """A NumPy copy of ``t`` (bfloat16 goes through float32)."""
    d = t.detach()
    if d.dtype == dm.bfloat16:
        d = d.float()
    return np.array(d.numpy(), copy=True)


def assert_close(
    actual: dm.Tensor,
    expected: Any,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    check_dtype: Optional[dm.dtype] = None,
    equal_nan: bool = True,
) -> None:
    """Asserts that ``actual`` matches ``expected`` (a NumPy array or scalar) in shape and value."""
    assert isinstance(actual, dm.Tensor), f"expected a Tensor, got {type(actual).__name__}"
    exp = np.asarray(expected)
    got = to_numpy(actual)
    assert tuple(actual.shape) == exp.shape, f"shape {tuple(actual.shape)} != {exp.shape}"
    if check_dtype is not None:
        assert actual.dtype == check_dtype, f"dtype {actual.dtype} != {check_dtype}"
    if exp.dtype == np.bool_ or got.dtype == np.bool_:
        np.testing.assert_array_equal(got, exp)
    else:
        np.testing.assert_allclose(
            got.astype(np.float64),
            exp.astype(np.float64),
            rtol=rtol,
            atol=atol,
            equal_nan=equal_nan,
        )


def _numeric_grad(
    fn: Callable[..., dm.Tensor],
    arrays: list[np.ndarray],
    k: int,
    weights: np.ndarray,
    eps: float,
) -> np.ndarray:
    def scalar(arrs: list[np.ndarray]) -> float:
        with dm.no_grad():
            out = fn(*[dm.tensor(a, dtype=dm.float64) for a in arrs])
        return float(np.sum(to_numpy(out).astype(np.float64) * weights))

    base = arrays[k]
    grad = np.zeros_like(base)
    flat = grad.reshape(-1)
    for i in range(base.size):
        plus = [a.copy() for a in arrays]
        minus = [a.copy() for a in arrays]
        plus[k].reshape(-1)[i] += eps
        minus[k].reshape(-1)[i] -= eps
        flat[i] = (scalar(plus) - scalar(minus)) / (2 * eps)
    return grad


def gradcheck(
    fn: Callable[..., dm.Tensor],
    inputs: Sequence[dm.Tensor],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> None:
    """Checks autograd against central finite differences.

    ``inputs`` are float64 tensors with ``requires_grad=True``; ``fn(*inputs)`` returns a tensor.
    Compares d(sum(out * w))/d(input) for fixed random weights ``w``, for every input.
    """
    for x in inputs:
        assert x.dtype == dm.float64, f"gradcheck needs float64 inputs, got {x.dtype}"
        assert x.requires_grad, "gradcheck inputs must require grad"
    arrays = [to_numpy(x) for x in inputs]
    out = fn(*inputs)
    assert out.dtype == dm.float64, f"fn returned {out.dtype}, expected float64"
    rng = np.random.default_rng(seed)
    shape = tuple(out.shape)
    signs = rng.choice([-1.0, 1.0], size=shape)
    weights = np.asarray(rng.uniform(0.5, 1.5, size=shape) * signs, dtype=np.float64)
    w = dm.tensor(weights, dtype=dm.float64)
    grads = dm.autograd.grad((out * w).sum(), list(inputs), allow_unused=True)
    for k, (x, g) in enumerate(zip(inputs, grads)):
        analytic = np.zeros(tuple(x.shape)) if g is None else to_numpy(g)
        assert analytic.shape == tuple(x.shape), f"grad {k} has shape {analytic.shape}"
        numeric = _numeric_grad(fn, arrays, k, weights, eps)
        np.testing.assert_allclose(
            analytic, numeric, rtol=rtol, atol=atol, err_msg=f"gradient of input {k} is wrong"
        )


class FakeWorld:
    """A world of ``size`` ranks seen from ``rank``, to register with ``democratising._ranks``
    without MPI; ``others_found_inf`` is what the other ranks contribute to ``any_rank``."""

    def __init__(self, size: int, rank: int, others_found_inf: bool = False) -> None:
        self._size, self._rank, self.others_found_inf = size, rank, others_found_inf
        self.any_rank_calls = 0

    def rank(self) -> int:
        return self._rank

    def size(self) -> int:
        return self._size

    def any_rank(self, flag: bool) -> bool:
        self.any_rank_calls += 1
        return flag or self.others_found_inf


def numpy_init(torch: Any, model: Any, seed: int) -> None:
    """Loads NumPy-made values into every parameter and buffer (the same numbers on
    every backend), so trajectories can be compared with the ones PyTorch gave."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, value in model.state_dict().items():
        shape = tuple(value.shape)
        if name.endswith("num_batches_tracked"):
            continue
        if name.endswith("running_mean"):
            arr = np.zeros(shape, np.float32)
        elif name.endswith("running_var"):
            arr = np.ones(shape, np.float32)
        elif len(shape) >= 2:
            bound = 1.0 / math.sqrt(int(np.prod(shape[1:])))
            arr = rng.uniform(-bound, bound, shape).astype(np.float32)
        elif name.endswith("weight"):  # norm scales
            arr = (1.0 + 0.1 * rng.uniform(-1, 1, shape)).astype(np.float32)
        else:
            arr = (0.1 * rng.uniform(-1, 1, shape)).astype(np.float32)
        state[name] = torch.tensor(arr)
    model.load_state_dict(state, strict=False)


def to_np(t: Any) -> np.ndarray:
    """A float64 NumPy copy of a tensor of either backend."""
    return np.asarray(t.detach().float().numpy(), dtype=np.float64)
