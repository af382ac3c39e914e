"""``dm.set_printoptions`` and the tensor repr's number formatting, as PyTorch prints."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

import democratising as dm


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    dm.set_printoptions(profile="default")


def test_default_repr_matches_pytorch() -> None:
    assert repr(dm.tensor([1.23456, 2.0])) == "tensor([1.2346, 2.0000])"
    assert repr(dm.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(dm.tensor([1e-8, 1.0])) == "tensor([1.0000e-08, 1.0000e+00])"
    assert repr(dm.tensor([0.5, math.inf])) == "tensor([0.5000,    inf])"
    assert repr(dm.tensor([1, 2])) == "tensor([1, 2])"


def test_precision_threshold_edgeitems_and_profiles() -> None:
    dm.set_printoptions(precision=2)
    assert repr(dm.tensor([1.23456, 2.0])) == "tensor([1.23, 2.00])"
    dm.set_printoptions(threshold=5, edgeitems=2)
    assert repr(dm.arange(10.0)) == "tensor([0., 1.,  ..., 8., 9.])"
    dm.set_printoptions(profile="default")
    assert "..." not in repr(dm.arange(10.0))
    dm.set_printoptions(profile="full")
    assert "..." not in repr(dm.arange(5000.0))
    dm.set_printoptions(profile="short")
    assert repr(dm.tensor([1.23456])) == "tensor([1.23])"
    with pytest.raises(ValueError):
        dm.set_printoptions(profile="tiny")


def test_sci_mode_and_linewidth() -> None:
    dm.set_printoptions(sci_mode=True)
    assert repr(dm.tensor([1.5, 2.0])) == "tensor([1.5000e+00, 2.0000e+00])"
    dm.set_printoptions(sci_mode=False)
    assert repr(dm.tensor([1e-8, 1.0])) == "tensor([0.0000, 1.0000])"
    dm.set_printoptions(linewidth=30)
    assert max(len(line) for line in repr(dm.arange(20.0)).splitlines()) <= 30
