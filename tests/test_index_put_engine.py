"""``index_put`` / ``index_put_`` through the engine's advanced-index put: integer keys of
the leading dims (bool masks as their nonzero positions), broadcast keys, negative indices,
accumulation of repeats, gradients for both operands, and typed errors."""

import numpy as np
import pytest

import democratising as dm
from democratising.errors import IndexOutOfRangeError, ShapeError

RNG = np.random.default_rng(11)


def _reference(a, keys, v, accumulate):
    out = a.copy()
    keys = tuple(keys)
    if accumulate:
        np.add.at(out, keys, np.broadcast_to(v, out[keys].shape))
    else:
        out[keys] = v
    return out


CASES = [
    ((5, 4), [np.array([0, 2, 2, -1])], (4, 4)),
    ((5, 4), [np.array([0, 2, 3, -1])], (4,)),
    ((5, 4, 3), [np.array([[0], [2]]), np.array([1, 3, -4])], (2, 3, 3)),
    ((5, 4), [RNG.random((5, 4)) > 0.5], ()),
    ((5, 4), [np.array([True, False, True, False, True]), np.array([1, 2, 3])], ()),
    ((5,), [np.array([], dtype=np.int64)], ()),
]


@pytest.mark.parametrize("accumulate", [True, False])
@pytest.mark.parametrize("shape,keys,vshape", CASES)
def test_index_put_matches_numpy(shape, keys, vshape, accumulate):
    a, v = RNG.standard_normal(shape), RNG.standard_normal(vshape)
    if not accumulate and any(k.dtype != np.bool_ and len(np.unique(k)) < k.size for k in keys):
        pytest.skip("repeated positions without accumulate: NumPy and PyTorch leave the order open")
    got = dm.index_put(dm.tensor(a), tuple(dm.tensor(k) for k in keys), dm.tensor(v), accumulate)
    np.testing.assert_allclose(got.numpy(), _reference(a, keys, v, accumulate), rtol=1e-12)


def test_accumulating_put_of_many_rows_and_its_gradients():
    a = RNG.standard_normal((50, 8))
    idx = RNG.integers(-50, 50, 2000)
    v = RNG.standard_normal((2000, 8))
    x = dm.tensor(a, requires_grad=True)
    val = dm.tensor(v, requires_grad=True)
    out = dm.index_put(x, (dm.tensor(idx),), val, accumulate=True)
    np.testing.assert_allclose(out.detach().numpy(), _reference(a, [idx], v, True), rtol=1e-10)
    w = RNG.standard_normal((50, 8))
    (out * dm.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), w)
    np.testing.assert_allclose(val.grad.numpy(), w[idx])


def test_in_place_form_and_non_accumulating_gradient():
    x = dm.zeros(5, 4)
    x.index_put_((dm.tensor([1, 1]),), dm.ones(4), accumulate=True)
    np.testing.assert_array_equal(x.numpy()[1], [2, 2, 2, 2])
    base = dm.tensor(RNG.standard_normal((5, 4)), requires_grad=True)
    val = dm.tensor(RNG.standard_normal(4), requires_grad=True)
    dm.index_put(base, (dm.tensor([0, 3]),), val).sum().backward()
    want = np.ones((5, 4))
    want[[0, 3]] = 0
    np.testing.assert_array_equal(base.grad.numpy(), want)
    np.testing.assert_array_equal(val.grad.numpy(), [2, 2, 2, 2])


@pytest.mark.parametrize(
    "keys,error",
    [
        ([np.array([5])], IndexOutOfRangeError),
        ([np.array([-6])], IndexOutOfRangeError),
        ([np.array([0, 1]), np.array([0, 1, 2])], IndexOutOfRangeError),
    ],
)
def test_bad_keys_raise_typed_errors_and_leave_the_tensor(keys, error):
    x = dm.zeros(5, 4)
    with pytest.raises(error):
        x.index_put_(tuple(dm.tensor(k) for k in keys), dm.tensor(1.0))
    assert x.sum().item() == 0


def test_values_that_do_not_broadcast_raise_shape_error():
    with pytest.raises(ShapeError):
        dm.index_put(dm.zeros(5, 4), (dm.tensor([0, 1]),), dm.ones(3))
