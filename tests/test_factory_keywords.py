"""PyTorch's keyword spellings of the factories and views (``zeros(size=...)``,
``permute(dims=...)``) and typed errors for bad device indices and non-index keys."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "rand", "randn"])
def test_factories_take_size_as_a_keyword(name: str) -> None:
    make = getattr(dm, name)
    assert tuple(make(size=(2, 3)).shape) == (2, 3)
    assert tuple(make(size=[4], dtype=dm.float64).shape) == (4,)
    t = make(size=(2,), requires_grad=True, out=None, layout=None, pin_memory=False)
    assert t.requires_grad
    with pytest.raises(ValueError, match="both"):
        make(2, size=(2,))
    with pytest.raises(TypeError, match="colour"):
        make(2, colour="red")
    if name in ("rand", "randn"):  # the random factories draw into `out`, as PyTorch's
        out = dm.zeros(2)
        assert make(2, out=out) is out and bool((out != 0).any())
    else:  # the others write into `out` too (resized, in its dtype), as PyTorch's
        out = dm.full((5,), 7, dtype=dm.int64)
        assert make(2, out=out) is out and tuple(out.shape) == (2,) and out.dtype == dm.int64
    np.testing.assert_array_equal(dm.ones(size=(2, 2)).numpy(), np.ones((2, 2)))


def test_permute_takes_dims_as_a_keyword() -> None:
    t = dm.arange(24.0).reshape(2, 3, 4)
    want = np.arange(24.0).reshape(2, 3, 4).transpose(2, 0, 1)
    for got in (t.permute(2, 0, 1), t.permute((2, 0, 1)), t.permute(dims=(2, 0, 1))):
        np.testing.assert_array_equal(got.numpy(), want)
    with pytest.raises(TypeError, match="dims"):
        t.permute(2, 0, 1, dims=(2, 0, 1))
    with pytest.raises(TypeError, match="order"):
        t.permute(order=(2, 0, 1))


def test_negative_cuda_index_is_a_device_error() -> None:
    with pytest.raises(dm.DeviceError, match="-1"):
        dm.Device.cuda(-1)
    assert dm.Device.cuda(0) == dm.Device.cuda()


@pytest.mark.parametrize("key", ["a", 1.5, (0, "b")])
def test_string_and_float_keys_are_index_errors(key: object) -> None:
    t = dm.zeros(3, 3)
    with pytest.raises(IndexError, match="valid indices"):
        t[key]  # type: ignore[index]
    with pytest.raises(IndexError, match="valid indices"):
        t[key] = 1.0  # type: ignore[index]
