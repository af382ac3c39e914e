"""Optimizers step float16 and bfloat16 parameters (in float32, rounded back once, states
kept in the parameter's dtype); an op whose result cannot be allocated raises
OutOfMemoryError instead of aborting the process; a 0-d tensor has no dimension to name."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F

OPTIMIZERS: list[tuple[str, dict[str, Any]]] = [
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("Adam", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "amsgrad": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adamax", {"lr": 0.01}),
    ("NAdam", {"lr": 0.01}),
]


@pytest.mark.parametrize("dtype", [dm.float16, dm.bfloat16])
@pytest.mark.parametrize(("name", "kwargs"), OPTIMIZERS)
def test_a_half_parameter_steps_as_its_float32_twin_rounded_once(
    dtype: dm.dtype, name: str, kwargs: dict[str, Any]
) -> None:
    rng = np.random.default_rng(0)
    v, g = rng.standard_normal((2, 7)).astype(np.float32)
    p = dm.nn.Parameter(dm.tensor(v).to(dtype))
    twin = dm.nn.Parameter(p.detach().float())
    opt = getattr(dm.optim, name)([p], **kwargs)
    opt32 = getattr(dm.optim, name)([twin], **kwargs)
    p.grad = dm.tensor(g).to(dtype)
    twin.grad = p.grad.float()
    opt.step()
    opt32.step()
    assert p.dtype == dtype
    np.testing.assert_array_equal(
        p.detach().float().numpy(), twin.detach().to(dtype).float().numpy()
    )
    for key, state in opt.state[p].items():
        if isinstance(state, dm.Tensor) and state.ndim:
            assert state.dtype == dtype, key


@pytest.mark.parametrize("dtype", [dm.float16, dm.bfloat16])
def test_a_bfloat16_model_trains_with_adam(dtype: dm.dtype) -> None:
    dm.manual_seed(0)
    model = dm.nn.Linear(4, 1).to(dtype)
    x = dm.randn(64, 4).to(dtype)
    y = (x.float() @ dm.tensor([[1.0], [-2.0], [0.5], [3.0]])).to(dtype)
    opt = dm.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        loss = F.mse_loss(model(x).float(), y.float())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert model.weight.dtype == dtype
    assert losses[-1] < 0.1 * losses[0]


HUGE: dict[str, Callable[[], object]] = {
    "matmul": lambda: dm.ones(2**24, 1) @ dm.ones(1, 2**24),
    "broadcast add": lambda: dm.ones(2**24, 1) + dm.ones(1, 2**24),
    "linear": lambda: dm.nn.Linear(1, 2**24)(dm.ones(2**24, 1)),
    "sum of an expanded view": lambda: dm.ones(3).expand(2**46, 3).sum(),
    "unary of an expanded view": lambda: dm.ones(3).expand(2**46, 3).exp(),
    "cast of an expanded view": lambda: dm.ones(3).expand(2**46, 3).double(),
    "adaptive pool": lambda: F.adaptive_avg_pool2d(dm.ones(1, 1, 4, 4), 2**46),
}


@pytest.mark.parametrize("op", list(HUGE))
def test_an_op_whose_result_cannot_be_allocated_raises(op: str) -> None:
    with pytest.raises(MemoryError):
        HUGE[op]()
    with pytest.raises(dm.OutOfMemoryError):
        HUGE[op]()
    # The process is still alive and computing.
    assert (dm.ones(2, 2) @ dm.ones(2, 2)).sum().item() == 8.0


def test_size_and_stride_of_a_0d_tensor_name_no_dimension() -> None:
    t = dm.tensor(2.0)
    assert t.size() == () and t.stride() == ()
    for call in (lambda: t.size(0), lambda: t.stride(0), lambda: t.size(-1)):
        with pytest.raises(IndexError, match="no dimensions"):
            call()
    assert dm.ones(2, 3).size(-1) == 3 and dm.ones(2, 3).stride(0) == 3
