"""Regressions for session 49: in-place writes into any view of a transposed or channels-last
result under autograd, and constant writes into expanded views. PyTorch's values are written
out as constants or rebuilt with NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm

# ---- in-place writes into views of permuted results -------------------------------------------


def test_reshaped_view_of_a_transposed_result_takes_an_inplace_write() -> None:
    # y's storage is x.t()'s order; y.t().reshape(-1) is a view of it along that order.
    x = dm.arange(6.0).reshape(2, 3).requires_grad_()
    y = x.t() * 2
    z = y.t().reshape(-1)
    z.mul_(2)
    np.testing.assert_allclose(y.detach().numpy(), [[0, 12], [4, 16], [8, 20]])
    assert z.grad_fn is not None
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 4.0))


def test_inplace_write_into_views_of_a_channels_last_result_gradchecks() -> None:
    def f(x: dm.Tensor) -> dm.Tensor:
        y = (x * 1.5).contiguous(memory_format=dm.channels_last)
        flat = y.permute(0, 2, 3, 1).reshape(-1)  # memory order of y
        flat[1:7].mul_(flat[:6] + 2.0)
        y[:, 1].exp_()
        return y

    x = dm.randn(2, 3, 2, 2, dtype=dm.float64, requires_grad=True)
    assert dm.autograd.gradcheck(f, (x,))
    ref = (x.detach().numpy() * 1.5).transpose(0, 2, 3, 1).copy()
    flat = ref.reshape(-1)
    flat[1:7] *= flat[:6].copy() + 2.0
    ref = ref.transpose(0, 3, 1, 2)
    ref[:, 1] = np.exp(ref[:, 1])
    np.testing.assert_allclose(f(x).detach().numpy(), ref, rtol=1e-12)


def test_inplace_write_into_a_strided_view_of_a_transposed_result_double_backward() -> None:
    x = dm.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=dm.float64, requires_grad=True)
    y = x.t() * 1.0  # strides of x.t()
    y.t().reshape(-1)[::2].pow_(2)
    (g,) = dm.autograd.grad(y.sum(), x, create_graph=True)
    # y.t() in memory: [1, 2, 3, 4, 5, 6]; every other element squared: 1, 3, 5.
    np.testing.assert_allclose(g.detach().numpy(), [[2, 1, 6], [1, 10, 1]])
    (gg,) = dm.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), [[2, 0, 2], [0, 2, 0]])


# ---- constant writes into expanded views ------------------------------------------------------


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (lambda x: x.fill_(1.0), [1, 1, 1]),
        (lambda x: x.zero_(), [0, 0, 0]),
        (lambda x: x.masked_fill_(dm.tensor([True, False, True]), 2.0), [2, 5, 2]),
        (
            lambda x: x.masked_fill_(dm.tensor([[True, False, False], [False, False, True]]), 2.0),
            [2, 5, 2],
        ),
        (lambda x: x.masked_fill_(dm.tensor([False, True, False]), dm.tensor(7.0)), [5, 7, 5]),
        (lambda x: x.index_fill_(1, dm.tensor([0, 2]), 3.0), [3, 5, 3]),
        (lambda x: x.index_fill_(0, dm.tensor([1]), 3.0), [3, 3, 3]),
        (lambda x: x.__setitem__(slice(None), 4.0), [4, 4, 4]),
        (lambda x: x.__setitem__((0, 1), 4.0), [5, 4, 5]),
        (
            lambda x: x.__setitem__(dm.tensor([[False, True, False], [False, False, False]]), 6.0),
            [5, 6, 5],
        ),
    ],
    ids=[
        "fill",
        "zero",
        "mask1d",
        "mask2d",
        "mask-tensor-value",
        "index_fill",
        "index_fill-bdim",
        "setitem-all",
        "setitem-one",
        "setitem-mask",
    ],
)
def test_constant_writes_into_an_expanded_view(write, expected) -> None:  # type: ignore[no-untyped-def]
    base = dm.full((3,), 5.0)
    x = base.expand(2, 3)
    write(x)
    np.testing.assert_array_equal(base.numpy(), np.array(expected, dtype=np.float32))


@pytest.mark.parametrize(
    "write",
    [
        lambda x: x.add_(1),
        lambda x: x.copy_(dm.ones(2, 3)),
        lambda x: x.__setitem__(slice(None), dm.ones(3)),
        lambda x: x.__setitem__(slice(None), dm.tensor(1.0)),
        lambda x: x.clamp_(min=1),
    ],
    ids=["add_", "copy_", "setitem-tensor", "setitem-0d", "clamp_"],
)
def test_other_writes_into_an_expanded_view_still_raise(write) -> None:  # type: ignore[no-untyped-def]
    x = dm.zeros(3).expand(2, 3)
    with pytest.raises(RuntimeError, match="single memory location"):
        write(x)


def test_expanded_fill_keeps_its_checks() -> None:
    x = dm.zeros(3).expand(2, 3)
    with pytest.raises(RuntimeError):
        x.masked_fill_(dm.tensor([1, 0, 1]), 1.0)  # not a bool mask
    with pytest.raises(IndexError):
        x.index_fill_(1, dm.tensor([3]), 1.0)
    # Recorded by autograd: refused, as the write has no single-valued gradient.
    a = dm.zeros(3, requires_grad=True) * 1
    with pytest.raises(RuntimeError):
        a.expand(2, 3).fill_(1.0)
    with dm.inference_mode():
        t = dm.zeros(3)
    with pytest.raises(RuntimeError):
        t.expand(2, 3).fill_(1.0)


# ---- hooks and retain_grad on a view written through its base ---------------------------------


def test_retain_grad_and_hooks_of_a_stale_view_see_its_current_history() -> None:
    x = dm.arange(3.0).requires_grad_()
    y = x * 2
    v = y[:2]
    y.mul_(3)  # v now holds 6 * x[:2]
    seen: list[list[float]] = []
    v.retain_grad()
    v.register_hook(lambda g: seen.append(g.tolist()))
    assert v.grad_fn is not None and "AsStrided" in v.grad_fn.name()
    (v * v).sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), [0.0, 12.0])
    assert seen == [[0.0, 12.0]]
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 72.0, 0.0])


def test_bilinear_refuses_operands_of_two_dtypes() -> None:
    x32 = dm.randn(4, 3)
    with pytest.raises(TypeError, match="same dtype"):
        dm.nn.functional.bilinear(x32, x32.double(), dm.randn(2, 3, 3))
    with pytest.raises(RuntimeError):
        dm.nn.Bilinear(3, 3, 2)(x32.double(), x32.double())
    out = dm.nn.functional.bilinear(x32.double(), x32.double(), dm.randn(2, 3, 3).double())
    assert out.dtype == dm.float64
