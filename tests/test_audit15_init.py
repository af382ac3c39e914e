"""``nn.init``'s random fillers take PyTorch's ``generator=`` parameter."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import democratising as dm
import democratising.nn.init as init

RANDOM = [
    "uniform_",
    "normal_",
    "trunc_normal_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
]


@pytest.mark.parametrize("name", RANDOM)
def test_generator_makes_the_draw_reproducible(name: str) -> None:
    fn = getattr(init, name)
    assert list(inspect.signature(fn).parameters)[-1] == "generator"
    a = fn(dm.empty(5, 4), generator=dm.Generator().manual_seed(11)).numpy()
    b = fn(dm.empty(5, 4), generator=dm.Generator().manual_seed(11)).numpy()
    np.testing.assert_array_equal(a, b)


def test_generator_by_position_and_wrong_kind() -> None:
    a = init.kaiming_uniform_(dm.empty(3, 4), 0.0, "fan_in", "relu", dm.Generator().manual_seed(2))
    b = init.kaiming_uniform_(
        dm.empty(3, 4), nonlinearity="relu", generator=dm.Generator().manual_seed(2)
    )
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    bound = np.sqrt(2.0) * np.sqrt(3.0 / 4)
    assert np.abs(a.numpy()).max() <= bound
    with pytest.raises(TypeError):
        init.normal_(dm.empty(2, 2), generator=5)


def test_sparse_zeros_a_fraction_of_each_column_and_follows_the_seed() -> None:
    dm.manual_seed(0)
    w = dm.nn.init.sparse_(dm.empty(10, 6), 0.25, std=0.5)
    a = w.numpy()
    assert list((a == 0).sum(0)) == [3] * 6  # ceil(0.25 * 10) per column
    assert 0.2 < a[a != 0].std() < 1.0
    dm.manual_seed(0)
    np.testing.assert_array_equal(dm.nn.init.sparse_(dm.empty(10, 6), 0.25, std=0.5).numpy(), a)
    with pytest.raises(ValueError, match="2 dimensions"):
        dm.nn.init.sparse_(dm.empty(3), 0.1)
