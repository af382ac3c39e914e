"""``Tensor.view(dtype)``: the same bytes read as another dtype, checked against NumPy's
``ndarray.view``."""

import numpy as np
import pytest

import democratising as dm

CASES = [
    (np.float32, dm.int32, np.int32),
    (np.int64, dm.float64, np.float64),
    (np.float32, dm.float16, np.float16),
    (np.float64, dm.int32, np.int32),
    (np.int32, dm.int64, np.int64),
    (np.float16, dm.float32, np.float32),
    (np.bool_, dm.int32, np.int32),
]


@pytest.mark.parametrize(("src", "dt", "ref"), CASES)
def test_view_matches_numpy(src: type, dt: dm.dtype, ref: type) -> None:
    a = (np.arange(24) % 7 == 3) if src is np.bool_ else np.arange(24).astype(src) * 3 - 5
    a = a.reshape(2, 3, 4)
    got = dm.from_numpy(a.copy()).view(dt)
    want = a.view(ref)
    assert got.dtype == dt and tuple(got.shape) == want.shape
    np.testing.assert_array_equal(got.numpy(), want)


def test_view_shares_memory_and_drops_autograd() -> None:
    x = dm.arange(4.0, requires_grad=True)
    bits = x.view(dm.int32)
    assert not bits.requires_grad and bits.grad_fn is None
    a = dm.arange(4.0)
    b = a.view(dm.int32)
    b[0] = int(np.float32(1.0).view(np.int32))
    assert a.tolist() == [1.0, 1.0, 2.0, 3.0]
    h = dm.ones(2, 4, dtype=dm.float16)
    assert h.view(dm.bfloat16).view(dm.float16).tolist() == h.tolist()


def test_view_of_sliced_rows_and_empty() -> None:
    a = np.arange(32, dtype=np.float32).reshape(4, 8)
    got = dm.from_numpy(a.copy())[1:3].view(dm.float16)
    np.testing.assert_array_equal(got.numpy(), a[1:3].view(np.float16))
    assert dm.zeros(0, 4).view(dm.float16).shape == (0, 8)
    assert dm.tensor(1.0).view(dm.int32).item() == 1065353216


def test_view_refusals() -> None:
    with pytest.raises(dm.ShapeError, match="dim"):
        dm.tensor(1.0).view(dm.float16)
    with pytest.raises(dm.ShapeError, match="stride"):
        dm.arange(6.0).reshape(2, 3).t().view(dm.float16)
    with pytest.raises(dm.ShapeError, match="divisible"):
        dm.arange(3, dtype=dm.int32).view(dm.int64)
    with pytest.raises(dm.DTypeError):
        dm.ones(4).view(dm.bool)
