"""PyTorch names found missing by the API-surface comparison with torch 2.15: the ``Tensor``
methods (``mH``, ``hardshrink``, ``ger``, ``matrix_exp``, ``igamma``/``igammac``, ``to_dense``,
``nonzero_static``, the in-place ``arctan2_``/``i0_``/``igamma_``/``igammac_``, the keywords
``copy_(non_blocking=)`` and ``numpy(force=)``) and the top-level functions (``dm.selu``,
``dm.max_pool2d``, ``dm.cholesky_solve``, ``dm.range``, ...). Expected values come from NumPy
or were printed by torch 2.15."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising.errors import ArgumentTypeError
from helpers import gradcheck


def _f64(a: object, requires_grad: bool = False) -> dm.Tensor:
    return dm.tensor(np.asarray(a, dtype=np.float64), dtype=dm.float64, requires_grad=requires_grad)


RNG = np.random.default_rng(7)
A = RNG.standard_normal((2, 3, 4))


# ---- Tensor methods ----------------------------------------------------------------------------


def test_mh_is_the_transpose_of_the_last_two_dims() -> None:
    x = _f64(A)
    np.testing.assert_array_equal(x.mH.numpy(), np.swapaxes(A, -1, -2))
    with pytest.raises(IndexError):
        _ = _f64([1.0, 2.0]).mH  # PyTorch's mH needs at least 2 dims


def test_hardshrink_method_matches_numpy_and_gradcheck() -> None:
    x = _f64(A)
    expected = np.where(np.abs(A) > 0.5, A, 0.0)
    np.testing.assert_array_equal(x.hardshrink(0.5).numpy(), expected)
    np.testing.assert_array_equal(dm.hardshrink(x, lambd=0.5).numpy(), expected)
    # Away from the kinks at +-lambd.
    gradcheck(lambda t: t.hardshrink(0.05), [_f64([0.3, -0.8, 0.01, 1.2], True)])


def test_ger_is_outer() -> None:
    u, v = RNG.standard_normal(3), RNG.standard_normal(4)
    np.testing.assert_allclose(_f64(u).ger(_f64(v)).numpy(), np.outer(u, v))
    np.testing.assert_allclose(dm.ger(_f64(u), _f64(v)).numpy(), np.outer(u, v))
    gradcheck(lambda a, b: a.ger(b), [_f64(u, True), _f64(v, True)])


def test_matrix_exp_matches_torch() -> None:
    m = _f64([[0.1, 0.4], [-0.3, 0.2]])
    expected = [[1.037281478293, 0.455685981429], [-0.341764486072, 1.151202973650]]
    np.testing.assert_allclose(m.matrix_exp().numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(dm.matrix_exp(m).numpy(), expected, rtol=1e-10)
    gradcheck(lambda t: t.matrix_exp(), [_f64([[0.1, 0.4], [-0.3, 0.2]], True)])


def test_igamma_igammac_match_torch_in_and_out_of_place() -> None:
    a, b = _f64([0.5, 1.0, 2.5]), _f64([0.3, 1.7, 2.0])
    lower = [0.561421973919, 0.817316475947, 0.450584048647]
    upper = [0.438578026081, 0.182683524053, 0.549415951353]
    np.testing.assert_allclose(a.igamma(b).numpy(), lower, rtol=1e-10)
    np.testing.assert_allclose(a.igammac(b).numpy(), upper, rtol=1e-10)
    np.testing.assert_allclose(dm.igamma(a, b).numpy(), lower, rtol=1e-10)
    np.testing.assert_allclose(dm.igammac(a, b).numpy(), upper, rtol=1e-10)
    y = a.clone()
    assert y.igamma_(b) is y
    np.testing.assert_allclose(y.numpy(), lower, rtol=1e-10)
    y = a.clone()
    y.igammac_(b)
    np.testing.assert_allclose(y.numpy(), upper, rtol=1e-10)


def test_arctan2_and_i0_in_place() -> None:
    x, y = RNG.standard_normal(5), RNG.standard_normal(5)
    t = _f64(x)
    assert t.arctan2_(_f64(y)) is t
    np.testing.assert_allclose(t.numpy(), np.arctan2(x, y))
    t = _f64([0.5, -1.5])
    t.i0_()
    np.testing.assert_allclose(t.numpy(), [1.063483370741, 1.646723189773], rtol=1e-10)
    t = _f64([0.5, -1.5])
    assert dm.i0_(t) is t
    np.testing.assert_allclose(t.numpy(), np.i0([0.5, -1.5]), rtol=1e-10)


def test_to_dense_returns_the_tensor() -> None:
    x = _f64(A)
    assert x.to_dense() is x
    assert x.to_dense(dm.float32).dtype == dm.float32


def test_nonzero_static_pads_and_cuts() -> None:
    m = dm.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(
        m.nonzero_static(size=5).numpy(), [[0, 1], [1, 0], [1, 2], [-1, -1], [-1, -1]]
    )
    np.testing.assert_array_equal(m.nonzero_static(size=2, fill_value=9).numpy(), [[0, 1], [1, 0]])
    out = dm.nonzero_static(m, size=4, fill_value=7)
    assert out.dtype == dm.int64
    np.testing.assert_array_equal(out.numpy(), [[0, 1], [1, 0], [1, 2], [7, 7]])
    assert tuple(m.nonzero_static(size=0).shape) == (0, 2)
    with pytest.raises(dm.InvalidValueError):
        m.nonzero_static(size=-1)


def test_copy_accepts_non_blocking() -> None:
    x = dm.zeros(2, 3)
    src = dm.tensor([1.0, 2.0, 3.0])
    assert x.copy_(src, non_blocking=True) is x
    np.testing.assert_array_equal(x.numpy(), np.tile([1.0, 2.0, 3.0], (2, 1)))


def test_numpy_force_detaches() -> None:
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(dm.AutogradError):
        x.numpy()
    np.testing.assert_array_equal(x.numpy(force=True), [1.0, 2.0])
    np.testing.assert_array_equal(dm.tensor([3.0]).numpy(force=False), [3.0])


# ---- top-level functions -----------------------------------------------------------------------


def test_top_level_method_spellings() -> None:
    x = _f64(A)
    assert dm.get_device(x) == -1
    np.testing.assert_array_equal(dm.resolve_neg(x).numpy(), A)
    np.testing.assert_array_equal(dm.adjoint(x).numpy(), np.swapaxes(A, -1, -2))
    parts = dm.split_with_sizes(x, [1, 3], 2)
    np.testing.assert_array_equal(parts[1].numpy(), A[..., 1:])


def test_activation_aliases_match_torch() -> None:
    x = _f64([-1.0, 0.5])
    np.testing.assert_allclose(dm.selu(x).numpy(), [-1.111330737813, 0.525350493678], rtol=1e-10)
    np.testing.assert_allclose(dm.celu(x, 0.7).numpy(), [-0.532244274491, 0.5], rtol=1e-10)
    y = x.clone()
    assert dm.selu_(y) is y
    np.testing.assert_allclose(y.numpy(), [-1.111330737813, 0.525350493678], rtol=1e-10)
    y = x.clone()
    dm.celu_(y, alpha=0.7)
    np.testing.assert_allclose(y.numpy(), [-0.532244274491, 0.5], rtol=1e-10)
    np.testing.assert_array_equal(dm.threshold(x, 0.1, -2.0).numpy(), [-2.0, 0.5])
    y = x.clone()
    dm.threshold_(y, 0.1, -2.0)
    np.testing.assert_array_equal(y.numpy(), [-2.0, 0.5])
    # Not training: the fixed slope (lower + upper) / 2.
    np.testing.assert_allclose(dm.rrelu(x, 0.1, 0.3).numpy(), [-0.2, 0.5])
    with pytest.raises(ArgumentTypeError):
        dm.rrelu(x, generator=object())
    gradcheck(lambda t: dm.celu(t, 0.7), [_f64([-1.0, 0.5, 2.0], True)])


def test_pooling_aliases_match_functional() -> None:
    x3 = _f64(RNG.standard_normal((2, 3, 8)))
    x4 = _f64(RNG.standard_normal((1, 2, 6, 6)))
    np.testing.assert_array_equal(
        dm.max_pool1d(x3, 3, 2, 1).numpy(), F.max_pool1d(x3, 3, 2, 1).numpy()
    )
    vals, idx = dm.max_pool1d_with_indices(x3, 2)
    ref = x3.numpy().reshape(2, 3, 4, 2)
    np.testing.assert_array_equal(vals.numpy(), ref.max(-1))
    np.testing.assert_array_equal(idx.numpy(), ref.argmax(-1) + 2 * np.arange(4))
    np.testing.assert_array_equal(
        dm.max_pool2d(x4, 2).numpy(), x4.numpy().reshape(1, 2, 3, 2, 3, 2).max((3, 5))
    )
    np.testing.assert_allclose(
        dm.avg_pool1d(x3, 2).numpy(), x3.numpy().reshape(2, 3, 4, 2).mean(-1)
    )
    np.testing.assert_allclose(
        dm.adaptive_avg_pool1d(x3, 4).numpy(), x3.numpy().reshape(2, 3, 4, 2).mean(-1)
    )
    vals, idx = dm.adaptive_max_pool1d(x3, 4)  # always values and indices, as torch's
    np.testing.assert_array_equal(vals.numpy(), ref.max(-1))


def test_constant_pad_nd_and_layers_aliases() -> None:
    x = _f64(np.ones((1, 2, 3)))
    out = dm.constant_pad_nd(x, [1, 2], 3.5)
    assert tuple(out.shape) == (1, 2, 6)
    np.testing.assert_array_equal(out.numpy()[0, 0], [3.5, 1, 1, 1, 3.5, 3.5])
    x4 = _f64(np.arange(16.0).reshape(1, 4, 2, 2))
    np.testing.assert_array_equal(
        dm.pixel_unshuffle(dm.pixel_shuffle(x4, 2), 2).numpy(), x4.numpy()
    )
    np.testing.assert_array_equal(dm.channel_shuffle(x4, 2).numpy(), x4.numpy()[:, [0, 2, 1, 3]])
    pts = RNG.standard_normal((4, 3))
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)[np.triu_indices(4, 1)]
    np.testing.assert_allclose(dm.pdist(_f64(pts)).numpy(), d)


def test_instance_norm_aten_order() -> None:
    x = RNG.standard_normal((2, 3, 5))
    w, b = RNG.standard_normal(3), RNG.standard_normal(3)
    out = dm.instance_norm(_f64(x), _f64(w), _f64(b), None, None, True, 0.1, 1e-5, False)
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    expected = (x - mu) / np.sqrt(var + 1e-5) * w[:, None] + b[:, None]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize("reduction", [0, 1, 2])
def test_integer_reduction_losses(reduction: int) -> None:
    x = RNG.standard_normal((3, 4))
    y = np.where(RNG.random((3, 4)) > 0.5, 1.0, -1.0)
    hinge = np.where(y == 1, x, np.maximum(0.0, 0.7 - x))
    reduce = [lambda v: v, np.mean, np.sum][reduction]
    out = dm.hinge_embedding_loss(_f64(x), _f64(y), 0.7, reduction)
    np.testing.assert_allclose(out.numpy(), reduce(hinge))
    target = np.abs(x)
    pois = np.exp(x) - target * x
    out = dm.poisson_nll_loss(_f64(x), _f64(target), True, False, 1e-8, reduction)
    np.testing.assert_allclose(out.numpy(), reduce(pois))
    with pytest.raises(dm.InvalidValueError):
        dm.hinge_embedding_loss(_f64(x), _f64(y), 0.7, 3)


def _spd_factor(batch: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    m = RNG.standard_normal((*batch, 3, 3))
    a = m @ np.swapaxes(m, -1, -2) + 3 * np.eye(3)
    return a, np.linalg.cholesky(a)


def test_cholesky_solve_matches_numpy_and_gradcheck() -> None:
    a, low = _spd_factor((2,))
    b = RNG.standard_normal((2, 3, 2))
    expected = np.linalg.solve(a, b)
    np.testing.assert_allclose(dm.cholesky_solve(_f64(b), _f64(low)).numpy(), expected)
    up = np.swapaxes(low, -1, -2).copy()
    np.testing.assert_allclose(dm.cholesky_solve(_f64(b), _f64(up), upper=True).numpy(), expected)
    gradcheck(
        lambda bb, ll: dm.cholesky_solve(bb, ll.tril()),
        [_f64(b, True), _f64(low, True)],
    )


def test_cholesky_inverse_matches_numpy_and_gradcheck() -> None:
    a, low = _spd_factor()
    np.testing.assert_allclose(dm.cholesky_inverse(_f64(low)).numpy(), np.linalg.inv(a))
    np.testing.assert_allclose(
        dm.cholesky_inverse(_f64(low.T.copy()), True).numpy(), np.linalg.inv(a)
    )
    ab, lowb = _spd_factor((2,))
    np.testing.assert_allclose(dm.cholesky_inverse(_f64(lowb)).numpy(), np.linalg.inv(ab))
    gradcheck(lambda ll: dm.cholesky_inverse(ll.tril()), [_f64(low, True)])
    with pytest.raises(dm.ShapeError):
        dm.cholesky_inverse(_f64(np.ones((2, 3))))


def test_range_is_end_inclusive_with_the_default_float_dtype() -> None:
    out = dm.range(0, 1, 0.3)
    assert out.dtype == dm.float32
    np.testing.assert_allclose(out.numpy(), [0.0, 0.3, 0.6, 0.9], rtol=1e-6)
    np.testing.assert_array_equal(dm.range(0, 3).numpy(), [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(dm.range(3, 0, -1).numpy(), [3.0, 2.0, 1.0, 0.0])
    np.testing.assert_array_equal(dm.range(0, 0).numpy(), [0.0])
    ints = dm.range(0, 3, dtype=dm.int64)
    assert ints.dtype == dm.int64
    np.testing.assert_array_equal(ints.numpy(), [0, 1, 2, 3])
    with pytest.raises(dm.InvalidValueError):
        dm.range(0, -1)
    with pytest.raises(dm.InvalidValueError):
        dm.range(0, 1, 0)
    # The builtin is untouched inside the package's own modules.
    assert list(range(2)) == [0, 1]


def test_angle_of_real_tensors_matches_torch() -> None:
    v = [float("nan"), -1.0, 0.0, -0.0, 2.0, float("inf"), -float("inf")]
    x = dm.tensor(v, requires_grad=True)
    out = x.angle()
    # torch: nan, pi, 0, 0 (also for -0.0), 0, 0, pi.
    np.testing.assert_allclose(
        out.detach().numpy(), [np.nan, np.pi, 0, 0, 0, 0, np.pi], rtol=1e-6, equal_nan=True
    )
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(7))
    ints = dm.angle(dm.tensor([1, -2]))
    assert ints.dtype == dm.float32
    np.testing.assert_allclose(ints.numpy(), [0.0, np.pi], rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("permute_copy", ((1, 0),)),
        ("transpose_copy", (0, 1)),
        ("t_copy", ()),
        ("view_copy", ((3, 2),)),
        ("expand_copy", ((2, 2, 3),)),
        ("diagonal_copy", ()),
        ("select_copy", (1, 2)),
        ("unsqueeze_copy", (0,)),
        ("unfold_copy", (1, 2, 1)),
        ("detach_copy", ()),
    ],
)
def test_copy_variants_are_contiguous_copies(name: str, args: tuple) -> None:
    base = np.arange(6.0).reshape(2, 3)
    x = dm.tensor(base)
    out = getattr(dm, name)(x, *args)
    view = getattr(x, name.removesuffix("_copy"))(*args)
    assert out.is_contiguous()
    np.testing.assert_array_equal(out.numpy(), view.numpy())
    out.fill_(-1.0)
    np.testing.assert_array_equal(x.numpy(), base)  # no memory shared with the input


def test_tuple_copy_variants() -> None:
    x = dm.tensor(np.arange(6.0).reshape(2, 3))
    parts = dm.unbind_copy(x)
    assert isinstance(parts, tuple) and len(parts) == 2
    np.testing.assert_array_equal(parts[1].numpy(), [3.0, 4.0, 5.0])
    parts = dm.split_with_sizes_copy(x, [1, 2], 1)
    assert all(p.is_contiguous() for p in parts)
    np.testing.assert_array_equal(parts[1].numpy(), [[1.0, 2.0], [4.0, 5.0]])
    gradcheck(lambda t: dm.permute_copy(t, (1, 0)) * 2, [_f64(np.ones((2, 3)), True)])


def test_gradient_matches_numpy() -> None:
    a = RNG.standard_normal((4, 5))
    x = _f64(a)
    for got, want in zip(dm.gradient(x), np.gradient(a)):
        np.testing.assert_allclose(got.numpy(), want)
    for got, want in zip(dm.gradient(x, spacing=[0.5, 2.0]), np.gradient(a, 0.5, 2.0)):
        np.testing.assert_allclose(got.numpy(), want)
    (got,) = dm.gradient(x, dim=-1, spacing=0.3, edge_order=2)
    np.testing.assert_allclose(got.numpy(), np.gradient(a, 0.3, axis=-1, edge_order=2))
    c0, c1 = np.array([0.0, 1, 3, 4.5]), np.array([0.0, 0.5, 2, 2.5, 4])
    for order in (1, 2):
        out = dm.gradient(x, spacing=[_f64(c0), _f64(c1)], edge_order=order)
        for got, want in zip(out, np.gradient(a, c0, c1, edge_order=order)):
            np.testing.assert_allclose(got.numpy(), want)
    # Integer input: the default float dtype (torch's values for [1, 4, 9, 16]).
    (ints,) = dm.gradient(dm.tensor([1, 4, 9, 16]))
    assert ints.dtype == dm.float32
    np.testing.assert_array_equal(ints.numpy(), [3.0, 4.0, 6.0, 7.0])


def test_gradient_errors_and_gradcheck() -> None:
    x = _f64(np.ones((2, 3)))
    with pytest.raises(dm.InvalidValueError):
        dm.gradient(x, edge_order=3)
    with pytest.raises(dm.ShapeError):
        dm.gradient(x, edge_order=2)  # dim 0 has 2 < edge_order + 1 points
    with pytest.raises(IndexError):  # PyTorch's "Dimension out of range"
        dm.gradient(x, dim=2)
    with pytest.raises(dm.ShapeError):
        dm.gradient(x, spacing=[1.0, 2.0, 3.0])
    c = _f64([0.0, 0.4, 1.5, 2.0])
    gradcheck(
        lambda t: dm.gradient(t, spacing=[c], dim=1, edge_order=2)[0],
        [_f64(RNG.standard_normal((2, 4)), True)],
    )


@pytest.mark.parametrize("shape", [(3, 3), (4, 3), (3, 4), (2, 4, 3)])
def test_lu_unpack_reconstructs_and_matches_torch_shapes(shape: tuple[int, ...]) -> None:
    a = RNG.standard_normal(shape)
    lu_data, piv = dm.lu(_f64(a))
    p, low, up = dm.lu_unpack(lu_data, piv)
    m, n = shape[-2:]
    k = min(m, n)
    assert tuple(p.shape[-2:]) == (m, m)
    assert tuple(low.shape[-2:]) == (m, k)
    assert tuple(up.shape[-2:]) == (k, n)
    np.testing.assert_allclose((p @ low @ up).numpy(), a, atol=1e-12)
    np.testing.assert_array_equal(np.triu(low.numpy(), 1), 0)
    np.testing.assert_array_equal(np.diagonal(low.numpy(), axis1=-2, axis2=-1), 1)
    np.testing.assert_array_equal(np.tril(up.numpy(), -1), 0)
    # Each P is a permutation matrix.
    np.testing.assert_array_equal(p.numpy().sum(-1), 1)
    np.testing.assert_array_equal(p.numpy().sum(-2), 1)


def test_lu_unpack_torch_values_and_parts() -> None:
    a = _f64([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 10.0]])
    lu_data, piv = dm.linalg.lu_factor(a)
    p, _, _ = dm.lu_unpack(lu_data, piv)
    # torch 2.15: pivots [3, 3, 3] and this P.
    np.testing.assert_array_equal(piv.numpy(), [3, 3, 3])
    np.testing.assert_array_equal(p.numpy(), [[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    p2, low2, up2 = dm.lu_unpack(lu_data, piv, unpack_data=False)
    assert tuple(low2.shape) == (0,) and tuple(up2.shape) == (0,)
    np.testing.assert_array_equal(p2.numpy(), p.numpy())
    p3, _, _ = dm.lu_unpack(lu_data, piv, unpack_pivots=False)
    assert tuple(p3.shape) == (0,)
    gradcheck(
        lambda t: dm.lu_unpack(t, piv)[1] + dm.lu_unpack(t, piv)[2],
        [lu_data.detach().requires_grad_()],
    )


def test_lu_and_lu_solve_match_numpy() -> None:
    a, b = RNG.standard_normal((2, 3, 3)), RNG.standard_normal((2, 3, 2))
    expected = np.linalg.solve(a, b)
    np.testing.assert_allclose(dm.lu_solve(_f64(b), *dm.lu(_f64(a))).numpy(), expected)
    np.testing.assert_allclose(_f64(b).lu_solve(*_f64(a).lu()).numpy(), expected)
    _, _, info = dm.lu(_f64(a), get_infos=True)
    np.testing.assert_array_equal(info.numpy(), [0, 0])


def test_cholesky_methods() -> None:
    a, low = _spd_factor()
    np.testing.assert_allclose(_f64(np.eye(3)).cholesky_solve(_f64(low)).numpy(), np.linalg.inv(a))
    np.testing.assert_allclose(_f64(low).cholesky_inverse().numpy(), np.linalg.inv(a))


def test_slice_alias_copy_and_real_identities() -> None:
    x = np.arange(12.0).reshape(3, 4)
    t = dm.tensor(x)
    np.testing.assert_array_equal(dm.slice_copy(t, 1, 1, None, 2).numpy(), x[:, 1::2])
    np.testing.assert_array_equal(dm.slice_copy(t, -1, -3, -1).numpy(), x[:, -3:-1])
    np.testing.assert_array_equal(dm.slice_copy(t).numpy(), x)
    with pytest.raises(dm.InvalidValueError):
        dm.slice_copy(t, 0, None, None, 0)
    c = dm.alias_copy(t)
    c.fill_(0.0)
    np.testing.assert_array_equal(t.numpy(), x)
    assert dm.real(t) is t and t.conj_physical() is t and dm.conj_physical_(t) is t
    parts = t.unsafe_split_with_sizes([1, 3], 1)
    assert isinstance(parts, tuple)
    np.testing.assert_array_equal(dm.unsafe_split_with_sizes(t, [2, 1])[1].numpy(), x[2:])


def test_in_place_dropouts() -> None:
    dm.manual_seed(0)
    y = dm.ones(8, 8)
    assert dm.dropout_(y, 0.5, True) is y
    assert set(np.unique(y.numpy())) <= {0.0, 2.0} and (y.numpy() == 0).any()
    y = dm.ones(4, 4)
    assert dm.alpha_dropout_(y, 0.5, False) is y
    assert dm.feature_alpha_dropout_(y, 0.5, False) is y
    np.testing.assert_array_equal(y.numpy(), np.ones((4, 4)))
