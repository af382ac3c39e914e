"""PyTorch's ``memory_format=`` arguments: ``dm.channels_last`` gives the NHWC strides PyTorch
gives (values and gradients unchanged), the other formats and bad values behave as there;
also einsum's sublist form and ``cuda(non_blocking=)``."""

import pickle

import numpy as np
import pytest

import democratising as dm


def test_channels_last_strides_match_pytorch():
    x = dm.randn(2, 3, 4, 5)
    y = x.contiguous(memory_format=dm.channels_last)
    # torch: x.contiguous(memory_format=torch.channels_last).stride() == (60, 1, 15, 3)
    assert y.stride() == (60, 1, 15, 3)
    assert not y.is_contiguous()
    assert y.is_contiguous(memory_format=dm.channels_last)
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    assert x.to(memory_format=dm.channels_last).stride() == (60, 1, 15, 3)
    assert x.clone(memory_format=dm.channels_last).stride() == (60, 1, 15, 3)
    # preserve_format (the default) keeps a channels-last layout; contiguous() undoes it.
    assert y.clone().stride() == (60, 1, 15, 3)
    assert y.contiguous().stride() == (60, 20, 5, 1)
    assert y.to(memory_format=dm.contiguous_format).stride() == (60, 20, 5, 1)
    assert y.cpu(memory_format=dm.contiguous_format).stride() == (60, 20, 5, 1)
    assert y.cpu().stride() == (60, 1, 15, 3)


def test_channels_last_3d_and_size_one_dims():
    x = dm.randn(2, 3, 2, 2, 2)
    y = x.contiguous(memory_format=dm.channels_last_3d)
    assert y.stride() == (24, 1, 12, 6, 3)
    assert y.is_contiguous(memory_format=dm.channels_last_3d)
    # A size-1 dim may have any stride (torch agrees: both layouts hold).
    one = dm.ones(1, 3, 1, 1)
    assert one.is_contiguous() and one.is_contiguous(memory_format=dm.channels_last)
    # Another rank is never channels-last, as in PyTorch.
    assert not dm.ones(2, 3).is_contiguous(memory_format=dm.channels_last)


def test_like_functions_preserve_or_take_the_format():
    y = dm.randn(2, 3, 4, 5).contiguous(memory_format=dm.channels_last)
    for like in (dm.zeros_like, dm.ones_like, dm.empty_like, dm.rand_like, dm.randn_like):
        assert like(y).stride() == (60, 1, 15, 3), like.__name__
        assert like(y, memory_format=dm.contiguous_format).stride() == (60, 20, 5, 1)
    assert dm.full_like(y, 2.0).stride() == (60, 1, 15, 3)
    assert dm.randint_like(y, 5).stride() == (60, 1, 15, 3)
    g = dm.zeros_like(y, requires_grad=True)
    assert g.is_leaf and g.requires_grad


def test_values_and_gradients_do_not_depend_on_the_layout():
    def step(channels_last: bool) -> tuple[float, np.ndarray, np.ndarray]:
        dm.manual_seed(0)
        model = dm.nn.Sequential(
            dm.nn.Conv2d(3, 4, 3),
            dm.nn.BatchNorm2d(4),
            dm.nn.ReLU(),
            dm.nn.Flatten(),
            dm.nn.Linear(24, 2),
        )
        x = dm.randn(2, 3, 4, 5)
        if channels_last:
            model = model.to(memory_format=dm.channels_last)
            x = x.contiguous(memory_format=dm.channels_last)
        x.requires_grad_()
        opt = dm.optim.Adam(model.parameters(), lr=0.1)
        for _ in range(2):
            opt.zero_grad()
            loss = model(x).pow(2).mean()
            loss.backward()
            opt.step()
        return loss.item(), x.grad.numpy(), model[0].weight.detach().numpy()

    a, b = step(False), step(True)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])


def test_bad_formats_raise_typed_errors():
    with pytest.raises(TypeError, match="memory_format must be"):
        dm.ones(2, 3).contiguous(memory_format="channels_last")
    with pytest.raises(TypeError, match="memory_format must be"):
        dm.nn.Linear(2, 3).to(memory_format=3)
    with pytest.raises(dm.ShapeError, match="rank-4"):
        dm.ones(2, 3).contiguous(memory_format=dm.channels_last)
    with pytest.raises(ValueError, match="rank-5"):
        dm.ones(2, 3, 4, 5).to(memory_format=dm.channels_last_3d)


def test_formats_print_and_pickle_as_singletons():
    assert repr(dm.channels_last) == "democratising.channels_last"
    for fmt in (dm.preserve_format, dm.contiguous_format, dm.channels_last, dm.channels_last_3d):
        assert pickle.loads(pickle.dumps(fmt)) is fmt
        assert isinstance(fmt, dm.memory_format)


def test_einsum_sublist_form_matches_the_equation_form():
    a, b = dm.randn(2, 3), dm.randn(3, 4)
    np.testing.assert_allclose(dm.einsum(a, [0, 1], b, [1, 2], [0, 2]).numpy(), (a @ b).numpy())
    np.testing.assert_allclose(dm.einsum(a, [0, 1], b, [1, 2]).numpy(), (a @ b).numpy())
    np.testing.assert_allclose(dm.einsum(a, [..., 1], [...]).numpy(), a.sum(1).numpy())
    # Implicit output in the ints' order (torch: einsum(a, [30, 3]).shape == (3, 2)).
    assert dm.einsum(a, [30, 3]).shape == (3, 2)
    with pytest.raises(ValueError, match=r"\[0, 52\)"):
        dm.einsum(a, [60, 1])


def test_cuda_takes_pytorchs_keywords():
    x = dm.ones(2)
    if dm.cuda.is_available():
        assert x.cuda(non_blocking=True).device.type == "cuda"
    else:
        with pytest.raises(dm.DeviceError):
            x.cuda(non_blocking=True, memory_format=dm.preserve_format)


def test_as_strided_gathers_pytorchs_positions_with_gradients():
    a = np.arange(12, dtype=np.float32)
    x = dm.tensor(a, requires_grad=True)
    windows = x.as_strided((3, 3), (1, 1))
    # torch: arange(12).as_strided((3, 3), (1, 1)) == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]
    np.testing.assert_array_equal(windows.detach().numpy(), [[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    windows.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[:5], [1, 2, 3, 2, 1])  # overlaps sum
    m = dm.tensor(a.reshape(3, 4))
    np.testing.assert_array_equal(
        dm.as_strided(m, (2, 2, 2), (4, 1, 1), 1).numpy(),
        np.lib.stride_tricks.as_strided(a[1:], (2, 2, 2), (16, 4, 4)),
    )
    # A view's positions are in its base's storage: the offset defaults to the view's.
    np.testing.assert_array_equal(m[1:].as_strided((2, 2), (4, 1)).numpy(), [[4, 5], [8, 9]])
    np.testing.assert_array_equal(m.t().as_strided((2, 2), (1, 4)).numpy(), [[0, 4], [1, 5]])
    assert m.as_strided((0, 2), (4, 1)).shape == (0, 2)
    # Any position of the storage, as PyTorch's: a view may reach before its own first element.
    np.testing.assert_array_equal(m[1:].as_strided((2,), (1,), 0).numpy(), [0, 1])
    with pytest.raises(IndexError, match="storage"):
        m.as_strided((2, 2), (4, 9))  # (position 13 of 12)
    with pytest.raises(dm.ShapeError, match="mismatch"):
        m.as_strided((2,), (1, 2))


def test_as_strided_is_a_view_with_pytorchs_gradients() -> None:
    # Values and gradients as PyTorch 2.15 gives them for the same calls.
    base = dm.zeros(6)
    v = base.as_strided((2, 2), (3, 1), 1)
    v[1, 0] = 7.0
    assert base.tolist() == [0.0, 0.0, 0.0, 0.0, 7.0, 0.0]  # a write shows through
    base[1] = 5.0
    assert v.tolist() == [[5.0, 0.0], [7.0, 0.0]]  # and back
    assert v.data_ptr() == base.data_ptr() + 4
    # The gradient through a transposed input is read back in the input's geometry.
    x = dm.arange(6.0).reshape(2, 3).requires_grad_()
    w = dm.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    y = x.t().as_strided((3, 2), (1, 2), 0)
    (y * w).sum().backward()
    assert y.tolist() == [[0.0, 2.0], [1.0, 3.0], [2.0, 4.0]]
    assert x.grad.tolist() == [[1.0, 3.0, 7.0], [4.0, 6.0, 0.0]]
    # An expanded input shares each position's gradient among the elements that hold it.
    leaf = dm.ones(1, requires_grad=True)
    e = leaf.expand(4)
    e.as_strided((2,), (0,), 0).sum().backward()
    assert leaf.grad.tolist() == [2.0]
    # Double backward through the view.
    z = dm.arange(5.0, requires_grad=True)
    win = z.as_strided((3, 3), (1, 1))
    (g,) = dm.autograd.grad((win**2).sum(), z, create_graph=True)
    assert g.tolist() == [0.0, 4.0, 12.0, 12.0, 8.0]
    (gg,) = dm.autograd.grad(g.sum(), z)
    assert gg.tolist() == [2.0, 4.0, 6.0, 4.0, 2.0]
