"""``generator=`` on the random creation functions, as PyTorch's: a seeded ``dm.Generator``
gives the same draws whatever else used the global generator, and leaves it untouched."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm


def draws(g: dm.Generator) -> list[np.ndarray]:
    return [
        dm.randn(3, 2, generator=g).numpy(),
        dm.rand(4, generator=g).numpy(),
        dm.randint(0, 7, (5,), generator=g).numpy(),
        dm.randperm(6, generator=g).numpy(),
    ]


def test_a_seeded_generator_repeats_its_draws() -> None:
    first = draws(dm.Generator().manual_seed(11))
    dm.randn(100)  # the global generator moves; the seeded one does not care
    again = draws(dm.Generator().manual_seed(11))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    other = draws(dm.Generator().manual_seed(12))
    assert not np.array_equal(first[0], other[0])
    assert first[2].dtype == np.int64 and sorted(first[3]) == list(range(6))


def test_the_global_generator_is_left_as_it_was() -> None:
    dm.manual_seed(5)
    want = dm.randn(4).numpy()
    dm.manual_seed(5)
    draws(dm.Generator().manual_seed(1))
    np.testing.assert_array_equal(dm.randn(4).numpy(), want)


def test_a_generator_must_be_a_generator() -> None:
    with pytest.raises(TypeError, match=r"dm\.Generator"):
        dm.randn(2, generator=3)
