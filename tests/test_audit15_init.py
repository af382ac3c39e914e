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
