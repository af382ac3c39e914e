"""The in-place fast path (``add_``/``sub_``/``mul_``/``div_`` written straight into a
contiguous float tensor or into the rows of a view, when nothing is recorded; bfloat16 in
float32, rounded once) and the row-by-row strided copy behind ``cat`` along the last dim: the
same values as the out-of-place path and NumPy, aliasing handled, versions bumped so
saved-tensor checks still fire."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
from democratising.errors import AutogradError

RNG = np.random.default_rng(11)
#: The in-place ops under test, with the ``alpha`` given to ``add_``/``sub_``.
INPLACE = {"add": -0.25, "sub": 3.0, "mul": None, "div": None}


def _apply(t: dm.Tensor, name: str, other: object) -> None:
    alpha = INPLACE[name]
    if alpha is None:
        getattr(t, f"{name}_")(other)
    else:
        getattr(t, f"{name}_")(other, alpha=alpha)


def _reference(name: str, x: np.ndarray, y: object) -> np.ndarray:
    """NumPy's value of ``x op= y``, in ``x``'s dtype."""
    alpha = np.asarray(INPLACE[name] or 1.0, x.dtype)
    y = np.asarray(y, x.dtype)
    return {"add": x + alpha * y, "sub": x - alpha * y, "mul": x * y, "div": x / y}[name]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [7, 70_000])  # below and above the threaded size
def test_inplace_ops_match_numpy(dtype: str, n: int) -> None:
    a, b = RNG.standard_normal(n).astype(dtype), RNG.uniform(0.5, 2.0, n).astype(dtype)
    for name in INPLACE:
        t = dm.from_numpy(a.copy())
        _apply(t, name, dm.from_numpy(b))
        np.testing.assert_allclose(t.numpy(), _reference(name, a, b), rtol=1e-6)
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


def _bf16(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to bfloat16 (to nearest even), as float32."""
    b = x.astype("float32").view("uint32")
    b = (b + 0x7FFF + ((b >> 16) & 1)) & 0xFFFF0000
    return b.view("float32")


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("rows", [3, 400])  # below and above the threaded size
def test_inplace_ops_into_a_row_strided_view(dtype: str, rows: int) -> None:
    """``base[:, 16:48] op= other``: the view's rows written in place, the columns around
    them untouched; ``other`` contiguous, itself a strided view, or a number."""
    base_np = _bf16(RNG.standard_normal((rows, 64)))
    o_np = _bf16(RNG.uniform(0.5, 2.0, (rows, 96)))
    cast = (lambda t: t.to(dm.bfloat16)) if dtype == "bfloat16" else (lambda t: t.to(dtype))
    rnd = _bf16 if dtype == "bfloat16" else (lambda x: x)
    for name in INPLACE:
        for other_kind in ("contiguous", "strided", "number"):
            base = cast(dm.from_numpy(base_np.copy()))
            whole = cast(dm.from_numpy(o_np))
            if other_kind == "contiguous":
                other, y = whole[:, :32].contiguous(), o_np[:, :32]
            elif other_kind == "strided":
                other, y = whole[:, 40:72], o_np[:, 40:72]
            else:
                other, y = 1.75, np.float32(1.75)
            view = base[:, 16:48]
            version = view._version
            _apply(view, name, other)
            assert view._version > version
            want = base_np.copy()
            want[:, 16:48] = rnd(_reference(name, base_np[:, 16:48], y))
            got = base.to(dm.float64).numpy()
            tol = 1e-2 if dtype == "bfloat16" else 1e-6
            np.testing.assert_allclose(got, want, rtol=tol, err_msg=f"{name} {other_kind}")
            np.testing.assert_array_equal(got[:, :16], base_np[:, :16])
            np.testing.assert_array_equal(got[:, 48:], base_np[:, 48:])


def test_inplace_into_an_expanded_view_is_refused() -> None:
    row = dm.zeros(1, 32).expand(4, 32)
    with pytest.raises(ValueError, match="single memory location"):
        row.add_(dm.ones(4, 32))


def test_bfloat16_with_a_number_rounds_once() -> None:
    """``x * 0.1`` on bfloat16 computes in float32 and rounds once, as PyTorch's opmath."""
    x_np = _bf16(RNG.standard_normal((70, 1000)))
    x = dm.from_numpy(x_np).to(dm.bfloat16)
    for got, want in [
        (x * 0.1, x_np * np.float32(0.1)),
        (0.1 * x, np.float32(0.1) * x_np),
        (x + 3.0, x_np + np.float32(3.0)),
        (2.0 - x, np.float32(2.0) - x_np),
        (x / 3.0, x_np / np.float32(3.0)),
        (x.t() * 0.5, x_np.T * np.float32(0.5)),  # a strided operand
    ]:
        assert got.dtype == dm.bfloat16
        np.testing.assert_array_equal(got.to(dm.float32).numpy(), _bf16(want))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_split_gradients_meet_in_one_buffer(dtype: str) -> None:
    """A split's pieces, through head reshapes and transposes, add their gradients into one
    buffer of the split tensor (a non-leaf: the engine's in-place accumulator)."""
    b, t, c, h = 2, 5, 32, 2
    x_np = _bf16(RNG.standard_normal((b, t, 3 * c)))
    g_np = _bf16(RNG.standard_normal((b, h, t, c // h)))
    leaf = dm.from_numpy(x_np).to(getattr(dm, dtype)).requires_grad_()
    q, k, v = (leaf * 1.0).split(c, dim=2)
    heads = [z.reshape(b, t, h, c // h).transpose(1, 2) for z in (q, k, v)]
    y = heads[0] * 2.0 + heads[2]  # k gets no gradient: its third stays zero
    y.backward(dm.from_numpy(g_np).to(getattr(dm, dtype)))
    g_rows = g_np.transpose(0, 2, 1, 3).reshape(b, t, c)
    want = np.concatenate([2.0 * g_rows, np.zeros_like(g_rows), g_rows], -1)
    np.testing.assert_allclose(leaf.grad.to(dm.float32).numpy(), want, rtol=1e-2)
    merged = y.transpose(1, 2).reshape(b, t, c)  # heads merged back: a copy of 32-wide rows
    np.testing.assert_array_equal(
        merged.detach().to(dm.float32).numpy(),
        y.detach().to(dm.float32).numpy().transpose(0, 2, 1, 3).reshape(b, t, c),
    )


def test_zeros_of_half_types() -> None:
    for dt in (dm.bfloat16, dm.float16):
        z = dm.zeros(3, 70_000, dtype=dt)
        assert z.dtype == dt
        np.testing.assert_array_equal(z.to(dm.float32).numpy(), np.zeros((3, 70_000), "float32"))
        assert not bool(z.to(dm.float32).signbit().any())


def test_bfloat16_add_with_alpha_rounds_once_on_every_path() -> None:
    """``x + alpha * y`` in float32, rounded once to bfloat16, as PyTorch's opmath: the same
    bits out of place, in place (fast path), and in place into rows too short for it."""
    x_np = _bf16(RNG.standard_normal((64, 40)))
    y_np = _bf16(RNG.standard_normal((64, 40)))
    want = _bf16(x_np + np.float32(0.1) * y_np)
    x, y = (dm.from_numpy(a).to(dm.bfloat16) for a in (x_np, y_np))
    np.testing.assert_array_equal(x.add(y, alpha=0.1).float().numpy(), want)
    fast = x.clone()
    fast.add_(y, alpha=0.1)
    np.testing.assert_array_equal(fast.float().numpy(), want)
    short = x.clone()
    short[:, :4].add_(y[:, :4], alpha=0.1)  # rows of 4: the out-of-place path, written back
    np.testing.assert_array_equal(short.float().numpy()[:, :4], want[:, :4])
    np.testing.assert_array_equal(short.float().numpy()[:, 4:], x_np[:, 4:])


def test_negative_zero_fill_of_half_types_keeps_its_sign() -> None:
    for dt in (dm.bfloat16, dm.float16):
        z = dm.full((70_000,), -0.0, dtype=dt)
        assert bool(z.float().signbit().all())
