"""The remaining Tensor methods PyTorch programs call (``_tensor_methods_torch``): the in-place
forms, the queries, the identities of real tensors, the spellings, and the top-level in-place
functions, each against NumPy or the out-of-place op it mirrors."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
from democratising.errors import DeviceError, DTypeError, InvalidValueError, ShapeError
from helpers import gradcheck


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("cumsum", (0,)),
        ("cumprod", (0,)),
        ("sinh", ()),
        ("cosh", ()),
        ("log10", ()),
        ("log2", ()),
        ("frac", ()),
        ("fmod", (0.7,)),
        ("true_divide", (2.0,)),
        ("floor_divide", (0.3,)),
        ("sgn", ()),
        ("polygamma", (1,)),
    ],
)
def test_inplace_forms_write_the_out_of_place_result(name: str, args: tuple) -> None:
    x = dm.tensor([0.5, 1.25, 2.0, 3.5])
    want = getattr(x, name)(*args)
    out = getattr(x, f"{name}_")(*args)
    assert out is x
    np.testing.assert_allclose(x.numpy(), want.numpy(), rtol=1e-6)


def test_comparison_and_logical_inplace_forms_keep_the_dtype() -> None:
    x = dm.tensor([1.0, 2.0, 3.0])
    x.lt_(dm.tensor([2.0, 2.0, 2.0]))
    assert x.dtype == dm.float32 and x.tolist() == [1.0, 0.0, 0.0]
    i = dm.tensor([0, 3, 0])
    i.logical_or_(dm.tensor([1, 0, 0]))
    assert i.dtype == dm.int64 and i.tolist() == [1, 1, 0]
    with pytest.raises(DTypeError):
        dm.tensor([1, 2]).true_divide_(2.0)  # a float result can't go into int64


def test_queries() -> None:
    x = dm.randn(2, 3)
    assert x.is_cpu and x.get_device() == -1
    assert x.is_signed() and not dm.tensor([True]).is_signed()
    assert x.is_same_size(dm.zeros(2, 3)) and not x.is_same_size(dm.zeros(3, 2))
    assert not x.is_inference() and not x.is_conj() and not x.is_neg()
    assert x.conj() is x and x.resolve_conj() is x and x.resolve_neg() is x and x.real is x
    assert x.H.shape == (3, 2) and x.adjoint().shape == (3, 2)
    np.testing.assert_array_equal(x.H.numpy(), x.numpy().T)
    with pytest.raises(ShapeError):
        _ = dm.zeros(2, 2, 2).H


def test_storage_offset_and_retains_grad() -> None:
    x = dm.arange(12.0).reshape(3, 4)
    assert x.storage_offset() == 0
    assert x[1:].storage_offset() == 4 and x[:, 2:][1].storage_offset() == 6
    a = dm.randn(3, requires_grad=True)
    b = a * 2
    assert not b.retains_grad
    b.retain_grad()
    assert b.retains_grad and not a.retains_grad and not (a * 3).retains_grad


def test_spellings() -> None:
    x = dm.arange(10.0)
    parts = x.split_with_sizes([3, 7])
    assert [p.shape[0] for p in parts] == [3, 7]
    with pytest.raises(ShapeError):
        x.split_with_sizes([3, 3])
    assert [p.shape[0] for p in x.unsafe_chunk(3)] == [4, 4, 2]
    assert [p.shape[0] for p in x.unsafe_split(4)] == [4, 4, 2]
    dm.manual_seed(0)
    draws = dm.full((1000,), 0.25).bernoulli()
    assert set(draws.unique().tolist()) <= {0.0, 1.0} and 0.15 < draws.mean().item() < 0.35
    w = dm.tensor([0.25])
    np.testing.assert_allclose(dm.tensor([-2.0, 3.0]).prelu(w).numpy(), [-0.5, 3.0], rtol=1e-6)


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
def test_index_reduce_matches_numpy(reduce: str) -> None:
    rng = np.random.default_rng(0)
    base, src = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    index = np.array([0, 2, 0, 3, 2])
    want = base.copy()
    for row in range(4):
        picked = src[index == row]
        if not len(picked):
            continue
        both = np.concatenate([base[row : row + 1], picked])
        want[row] = {
            "prod": both.prod(0),
            "mean": both.mean(0),
            "amax": both.max(0),
            "amin": both.min(0),
        }[reduce]
    got = dm.tensor(base).index_reduce(0, dm.tensor(index), dm.tensor(src), reduce)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    x = dm.tensor(base.copy())
    assert x.index_reduce_(0, dm.tensor(index), dm.tensor(src), reduce) is x
    if reduce in ("prod", "mean"):
        gradcheck(
            lambda b, s: b.index_reduce(0, dm.tensor(index), s, reduce),
            [dm.tensor(base, requires_grad=True), dm.tensor(src, requires_grad=True)],
        )
    with pytest.raises(InvalidValueError):
        dm.tensor(base).index_reduce(0, dm.tensor(index), dm.tensor(src), "sum")
    with pytest.raises(ShapeError):
        dm.tensor(base).index_reduce(0, dm.tensor(index[:2]), dm.tensor(src), reduce)


def test_apply_and_map_on_the_host() -> None:
    x = dm.tensor([1.0, 2.0, 3.0])
    assert x.apply_(lambda v: v * v) is x and x.tolist() == [1.0, 4.0, 9.0]
    y = dm.ones(2, 2)
    y.map_(dm.tensor([2.0, 3.0]), lambda a, b: a + b)
    assert y.tolist() == [[3.0, 4.0], [3.0, 4.0]]
    assert dm.zeros(0).apply_(lambda v: v + 1).shape == (0,)


def test_top_level_inplace_functions_call_the_method() -> None:
    x = dm.tensor([-1.0, 0.5])
    assert dm.relu_(x) is x and x.tolist() == [0.0, 0.5]
    assert dm.exp_(dm.zeros(2)).tolist() == [1.0, 1.0]
    assert dm.zero_(dm.ones(3)).tolist() == [0.0, 0.0, 0.0]
    assert dm.clamp_(dm.tensor([-3.0, 3.0]), -1.0, 1.0).tolist() == [-1.0, 1.0]
    assert "relu_" in dm.__all__
    with pytest.raises(TypeError):
        dm.relu_([1.0, 2.0])


def test_mvlgamma_method() -> None:
    x = dm.tensor([2.5, 3.0], dtype=dm.float64)
    np.testing.assert_allclose(x.mvlgamma(2).numpy(), dm.special.multigammaln(x, 2).numpy())
    assert dm.tensor([1.0, 2.0]).lgamma().tolist() == [0.0, 0.0]


def test_host_only_methods_refuse_cuda_tensors() -> None:
    if not dm.cuda.is_available():
        pytest.skip("no CUDA device")
    with pytest.raises(DeviceError):
        dm.zeros(2, device="cuda").apply_(lambda v: v)


def test_inplace_view_ops_change_the_same_object() -> None:
    x = dm.arange(6.0).reshape(2, 3)
    same = x
    assert x.unsqueeze_(0) is same and x.shape == (1, 2, 3)
    assert x.squeeze_() is same and x.shape == (2, 3)
    x.t_()
    assert x.shape == (3, 2) and x.tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    x.transpose_(0, 1)
    assert x.shape == (2, 3)
    x.swapaxes_(0, 1).swapdims_(0, 1)
    assert x.shape == (2, 3)
    x.unsqueeze_(1).squeeze_(1)
    assert x.shape == (2, 3)
    # a view: writes through the new shape reach the old data
    base = dm.zeros(2, 3)
    v = base[0]
    v.unsqueeze_(0)
    v[0, 1] = 5.0
    assert base[0, 1].item() == 5.0


def test_inplace_view_ops_and_autograd() -> None:
    leaf = dm.randn(3, requires_grad=True)
    with pytest.raises(dm.errors.AutogradError):
        leaf.unsqueeze_(0)
    with dm.no_grad():
        leaf.unsqueeze_(0)
    assert leaf.shape == (1, 3) and leaf.is_leaf and leaf.requires_grad
    a = dm.randn(3, requires_grad=True)
    b = a * 2
    b.unsqueeze_(0)
    assert b.shape == (1, 3) and not b.is_leaf
    (b * dm.tensor([[1.0, 2.0, 3.0]])).sum().backward()
    assert a.grad.tolist() == [2.0, 4.0, 6.0]


def test_resize_and_set() -> None:
    x = dm.arange(6.0)
    x.resize_(2, 3)
    assert x.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    x.resize_(4)
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0]
    x.resize_((2, 4))
    assert x.shape == (2, 4) and x[1, 2:].tolist() == [0.0, 0.0]
    x.resize_as_(dm.zeros(3))
    assert x.shape == (3,)
    with pytest.raises(dm.errors.AutogradError):
        dm.zeros(2, requires_grad=True).resize_(4)
    y, src = dm.zeros(2), dm.arange(4.0)
    assert y.set_(src) is y and y.tolist() == [0.0, 1.0, 2.0, 3.0]
    src[0] = 9.0
    assert y[0].item() == 9.0  # shares the source's data
    assert y.set_().shape == (0,)
