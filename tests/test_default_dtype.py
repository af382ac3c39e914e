"""``set_default_dtype`` / ``get_default_dtype`` as PyTorch's: the dtype of factories, of
tensors from Python floats, of new layers' parameters and of float results of integer inputs.
Every test restores float32, since the setting is process-wide."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import democratising as dm
from democratising.errors import DTypeError


@pytest.fixture(autouse=True)
def restore_float32() -> Iterator[None]:
    yield
    dm.set_default_dtype(dm.float32)


def test_the_default_is_float32() -> None:
    assert dm.get_default_dtype() == dm.float32
    assert dm.zeros(2).dtype == dm.tensor([0.5]).dtype == dm.float32


def test_float64_default_reaches_factories_literals_and_promotion() -> None:
    dm.set_default_dtype(dm.float64)
    assert dm.get_default_dtype() == dm.float64
    made = [
        dm.zeros(2),
        dm.ones(2, 3),
        dm.empty(1),
        dm.rand(2),
        dm.randn(2),
        dm.full((2,), 1.5),
        dm.arange(0.0, 1.0, 0.25),
        dm.linspace(0, 1, 5),
        dm.eye(2),
        dm.tensor([0.1, 0.2]),
        dm.Tensor(),
    ]
    assert all(t.dtype == dm.float64 for t in made)
    assert dm.tensor(0.1).item() == 0.1  # exact, not float32's nearest
    ints = dm.tensor([1, 2])
    assert ints.dtype == dm.int64 and dm.arange(3).dtype == dm.int64
    assert (ints * 0.5).dtype == (ints / ints).dtype == ints.exp().dtype == dm.float64
    # Explicit dtypes and NumPy arrays keep theirs.
    assert dm.zeros(2, dtype=dm.float32).dtype == dm.float32
    assert dm.tensor(np.zeros(2, np.float32)).dtype == dm.float32


def test_layers_built_under_float64_train_in_float64() -> None:
    dm.set_default_dtype(dm.float64)
    dm.manual_seed(0)
    model = dm.nn.Sequential(dm.nn.Linear(3, 4), dm.nn.ReLU(), dm.nn.Linear(4, 2))
    assert all(p.dtype == dm.float64 for p in model.parameters())
    opt = dm.optim.SGD(model.parameters(), lr=0.1)
    x, y = dm.randn(8, 3), dm.tensor([0, 1] * 4)
    losses = []
    for _ in range(5):
        loss = dm.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert loss.dtype == dm.float64 and losses[-1] < losses[0]


@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_half_defaults(half: str) -> None:
    dt = getattr(dm, half)
    dm.set_default_dtype(dt)
    assert dm.tensor([1.5]).dtype == dm.ones(1).dtype == dt
    assert float(dm.tensor([1.5])[0]) == 1.5


@pytest.mark.parametrize("bad", ["int64", "bool", "int32"])
def test_only_float_dtypes_can_be_the_default(bad: str) -> None:
    with pytest.raises(DTypeError, match="floating-point"):
        dm.set_default_dtype(getattr(dm, bad))
    assert dm.get_default_dtype() == dm.float32
