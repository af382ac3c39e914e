"""The in-place fast path (``add_``/``sub_``/``mul_``/``div_`` written straight into a
contiguous float tensor when nothing is recorded) and the row-by-row strided copy behind
``cat`` along the last dim: the same values as the out-of-place path and NumPy, aliasing
handled, versions bumped so saved-tensor checks still fire."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
from democratising.errors import AutogradError

RNG = np.random.default_rng(11)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [7, 70_000])  # below and above the threaded size
def test_inplace_ops_match_numpy(dtype: str, n: int) -> None:
    a, b = RNG.standard_normal(n).astype(dtype), RNG.uniform(0.5, 2.0, n).astype(dtype)
    for name, ref in [
        ("add", lambda x, y: x + np.asarray(-0.25, dtype) * y),
        ("sub", lambda x, y: x - np.asarray(3.0, dtype) * y),
        ("mul", lambda x, y: x * y),
        ("div", lambda x, y: x / y),
    ]:
        t = dm.from_numpy(a.copy())
        o = dm.from_numpy(b)
        if name == "add":
            t.add_(o, alpha=-0.25)
        elif name == "sub":
            t.sub_(o, alpha=3.0)
        else:
            getattr(t, f"{name}_")(o)
        np.testing.assert_allclose(t.numpy(), ref(a, b), rtol=1e-6)
    t = dm.from_numpy(a.copy())
    t.mul_(0.5)  # a Python number keeps the tensor's dtype
    assert t.dtype == getattr(dm, dtype)
    np.testing.assert_allclose(t.numpy(), a * np.asarray(0.5, dtype), rtol=1e-6)


def test_aliasing_operands() -> None:
    a = RNG.standard_normal(10).astype("float32")
    t = dm.from_numpy(a.copy())
    t.add_(t)  # the same elements: fine in place
    np.testing.assert_allclose(t.numpy(), 2 * a)
    t = dm.from_numpy(a.copy())
    t[1:].add_(t[:-1])  # overlapping, shifted: computed before it is written, as before
    want = a.copy()
    want[1:] = a[1:] + a[:-1]
    np.testing.assert_allclose(t.numpy(), want)


def test_in_place_write_is_seen_by_saved_tensor_checks() -> None:
    w = dm.ones(3, requires_grad=True)
    x = dm.ones(3)
    y = (w * x).sum()
    with dm.no_grad():
        x.mul_(2.0)
    with pytest.raises(AutogradError, match="in-place"):
        y.backward()


def test_strided_non_contiguous_and_broadcast_copies() -> None:
    parts = [RNG.standard_normal((4, 3, 5)).astype("float32") for _ in range(3)]
    got = dm.cat([dm.from_numpy(p) for p in parts], -1)
    np.testing.assert_array_equal(got.numpy(), np.concatenate(parts, -1))
    base = dm.from_numpy(RNG.standard_normal((6, 4)).astype("float32"))
    cols = dm.cat([base.t(), base.t()], -1)  # sources strided along the last dim
    np.testing.assert_array_equal(cols.numpy(), np.concatenate([base.numpy().T] * 2, -1))
    dst = dm.zeros(3, 8)
    dst[:, 2:6] = dm.from_numpy(np.arange(4, dtype="float32"))  # broadcast source
    want = np.zeros((3, 8), "float32")
    want[:, 2:6] = np.arange(4)
    np.testing.assert_array_equal(dst.numpy(), want)
