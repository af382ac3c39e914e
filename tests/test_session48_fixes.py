"""Regressions for what session 48's differential passes against PyTorch found: NumPy integers
as dims, function transforms over named tuples and empty batches, forward mode through the
decompositions, Cholesky's triangles, index tensors changed before a backward, and the
layouts of a few results. PyTorch's values are written out as constants or rebuilt with NumPy."""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest

import democratising as dm
import democratising.func as df


def _f64(rows: list[list[float]]) -> dm.Tensor:
    return dm.tensor(rows, dtype=dm.float64)


# ---- dims given as NumPy integers or 0-d tensors -------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda x, d: x.flip(d),
        lambda x, d: x.roll(1, d),
        lambda x, d: dm.movedim(x, d, 0),
        lambda x, d: x.quantile(0.5, dim=d),
        lambda x, d: x.mode(d).values,
        lambda x, d: x.nanmedian(d).values,
        lambda x, d: dm.linalg.vector_norm(x, dim=d),
        lambda x, d: x.tile(d),
    ],
    ids=["flip", "roll", "movedim", "quantile", "mode", "nanmedian", "vector_norm", "tile"],
)
def test_numpy_integer_dims_read_as_ints(call) -> None:  # type: ignore[no-untyped-def]
    x = dm.tensor([[1.0, 2.0], [3.0, 4.0]])
    expected = call(x, 1).tolist()
    assert call(x, np.int64(1)).tolist() == expected
    assert call(x, dm.tensor(1)).tolist() == expected


# ---- reductions ----------------------------------------------------------------------------


def test_float32_std_of_a_large_row_ignores_a_nan_row() -> None:
    out = dm.tensor([[math.nan, 1.0], [1e20, -1e20]]).std(1)
    assert math.isnan(out[0].item())
    assert out[1].item() == pytest.approx(math.sqrt(2) * 1e20, rel=1e-6)


def test_zero_norm_keeps_the_graph() -> None:
    x = dm.tensor([1.0, 2.0, 0.0], requires_grad=True)
    d = dm.dist(x, dm.zeros(3), 0)
    assert d.item() == 2.0 and d.requires_grad
    d.backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    x.norm(p=0).backward()


def test_topk_and_kthvalue_results_are_contiguous() -> None:
    x = dm.randn(2, 3, 4)
    v, i = x.topk(2)
    assert v.is_contiguous() and i.is_contiguous()
    assert i.view(-1).shape == (12,)
    kv, ki = x.kthvalue(2, dim=1, keepdim=True)
    assert kv.is_contiguous() and ki.is_contiguous()


def test_nonzero_as_tuple_gives_contiguous_rows() -> None:
    m = dm.tensor([[True, False], [True, True]])
    rows, cols = m.nonzero(as_tuple=True)
    assert rows.stride() == (1,) and cols.stride() == (1,)
    assert rows.tolist() == [0, 1, 1] and cols.tolist() == [0, 0, 1]
    assert dm.where(m)[1].view(-1).tolist() == [0, 0, 1]


# ---- function transforms -------------------------------------------------------------------


def test_transforms_rebuild_named_tuples() -> None:
    out = df.vmap(lambda a: a.max(0))(dm.tensor([[1.0, 3.0], [4.0, 2.0]]))
    assert out.values.tolist() == [3.0, 4.0] and out.indices.tolist() == [1, 0]
    assert df.vmap(dm.linalg.qr)(dm.randn(4, 3, 3)).R.shape == (4, 3, 3)
    jac = df.jacrev(dm.linalg.svdvals)(dm.eye(2) * 2)
    assert jac.shape == (2, 2, 2)
    assert type(df.jacrev(dm.linalg.svd)(dm.randn(3, 3))).__name__ == "SVDResult"
    pair = collections.namedtuple("pair", "a b")
    x = dm.ones(3, 2)
    assert df.vmap(lambda p: p.a + p.b)(pair(x, x)).tolist() == [[2.0, 2.0]] * 3
    _, aux = df.grad(lambda a: (a.sum(), pair(a, a)), has_aux=True)(dm.ones(2))
    assert isinstance(aux, pair)


def test_vmap_over_an_empty_batch_of_invertible_only_functions() -> None:
    assert df.vmap(dm.linalg.inv)(dm.zeros(0, 3, 3)).shape == (0, 3, 3)
    assert df.vmap(dm.linalg.cholesky)(dm.zeros(0, 2, 2)).shape == (0, 2, 2)


def _central_difference(f, a: dm.Tensor, v: dm.Tensor, h: float = 1e-6) -> np.ndarray:  # type: ignore[no-untyped-def]
    return (f(a + h * v).numpy() - f(a - h * v).numpy()) / (2 * h)


@pytest.mark.parametrize(
    "f",
    [
        lambda a: dm.linalg.slogdet(a).logabsdet,
        lambda a: dm.linalg.eigh(a).eigenvalues,
        lambda a: dm.linalg.svd(a).S,
    ],
    ids=["slogdet", "eigh", "svd"],
)
def test_forward_mode_through_decompositions_matches_finite_differences(f) -> None:  # type: ignore[no-untyped-def]
    a_mat = _f64([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]])
    v_mat = _f64([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [2.0, 0.0, 1.0]])
    tangent = df.jvp(f, (a_mat,), (v_mat,))[1]
    np.testing.assert_allclose(tangent.numpy(), _central_difference(f, a_mat, v_mat), atol=1e-6)


def test_forward_mode_through_eigenvectors_is_not_zero() -> None:
    a_mat = _f64([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]])
    v_mat = _f64([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [2.0, 0.0, 1.0]])
    for f in (lambda a: dm.linalg.eigh(a).eigenvectors, lambda a: dm.linalg.svd(a).U):
        assert df.jvp(f, (a_mat,), (v_mat,))[1].abs().sum().item() == pytest.approx(
            2.1031, abs=1e-4
        )
    assert df.jvp(lambda a: dm.linalg.slogdet(a).logabsdet, (a_mat,), (v_mat,))[1].item() == (
        pytest.approx(1.5556, abs=1e-4)
    )


def test_jacfwd_blocks_take_the_output_dtype() -> None:
    x = dm.ones(2, dtype=dm.float64)
    assert df.jacfwd(lambda a: a.float().sin())(x).dtype == dm.float32
    assert df.jacrev(lambda a: a.float().sin())(x).dtype == dm.float64


# ---- Cholesky, eigh and the triangular solves ----------------------------------------------


def test_cholesky_upper_reads_the_upper_triangle() -> None:
    g = [[4.0, 1.0, 0.0], [-7.0, 3.0, 1.0], [99.0, 1.0, 2.0]]
    sym = np.triu(g) + np.triu(g, 1).T
    expected = np.linalg.cholesky(sym).T
    np.testing.assert_allclose(dm.linalg.cholesky(_f64(g), upper=True).numpy(), expected)
    u = dm.linalg.cholesky_ex(_f64(g), upper=True).L
    np.testing.assert_allclose(u.numpy(), expected)


def test_cholesky_of_a_nan_matrix_fails_at_the_nan_pivot() -> None:
    a = dm.tensor([[4.0, 0.0], [0.0, math.nan]])
    with pytest.raises(dm.linalg.LinAlgError, match="order 2"):
        dm.linalg.cholesky(a)
    assert dm.linalg.cholesky_ex(a).info.item() == 2


def test_eigh_of_a_nan_matrix_is_a_linalg_error() -> None:
    bad = dm.tensor([[4.0, 1.0, 0.0], [1.0, math.nan, 1.0], [0.0, 1.0, 2.0]])
    for fn in (dm.linalg.eigh, dm.linalg.eigvalsh):
        with pytest.raises(RuntimeError):
            fn(bad)
    # A NaN in the triangle not read is ignored, as LAPACK ignores it.
    upper_nan = dm.tensor([[4.0, math.nan], [1.0, 3.0]])
    assert np.isfinite(dm.linalg.eigvalsh(upper_nan).numpy()).all()


@pytest.mark.parametrize("upper", [True, False])
@pytest.mark.parametrize("transpose", [True, False])
@pytest.mark.parametrize("unitriangular", [True, False])
def test_triangular_solve_matches_numpy(upper: bool, transpose: bool, unitriangular: bool) -> None:
    rng = np.random.default_rng(0)
    tri = np.triu if upper else np.tril
    a = tri(rng.random((2, 3, 3))) + np.eye(3)
    b = rng.random((2, 3, 2))
    used = a.copy()
    if unitriangular:
        used[:, range(3), range(3)] = 1.0
    if transpose:
        used = used.transpose(0, 2, 1)
    x, cloned = dm.triangular_solve(dm.tensor(b), dm.tensor(a), upper, transpose, unitriangular)
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(used, b), rtol=1e-10)
    np.testing.assert_array_equal(cloned.numpy(), a)
    assert dm.tensor(b).triangular_solve(dm.tensor(a), upper).solution.shape == (2, 3, 2)


def test_cholesky_solve_refuses_mixed_dtypes() -> None:
    with pytest.raises(dm.DTypeError):
        dm.cholesky_solve(dm.ones(2, 1, dtype=dm.float64), dm.eye(2))


# ---- index tensors changed in place before the backward ------------------------------------


@pytest.mark.parametrize(
    "forward",
    [
        lambda w, i: w.gather(0, i),
        lambda w, i: w[i],
        lambda w, i: w.index_select(0, i),
        lambda w, i: dm.nn.functional.embedding(i, w.unsqueeze(1)),
        lambda w, i: dm.zeros(3).scatter_add(0, i, w[:2]),
    ],
    ids=["gather", "getitem", "index_select", "embedding", "scatter_add"],
)
def test_an_index_changed_in_place_fails_the_backward(forward) -> None:  # type: ignore[no-untyped-def]
    w = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    idx = dm.tensor([0, 2])
    out = forward(w, idx)
    idx.fill_(1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        out.sum().backward()


def test_index_put_keeps_the_index_it_was_given() -> None:
    # (It copies the index: a later write into it changes nothing, and the gradient is right.)
    v = dm.tensor([1.0, 2.0], requires_grad=True)
    j = dm.tensor([0, 2])
    out = dm.zeros(3).index_put((j,), v)
    j.fill_(1)
    (out * dm.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert v.grad.tolist() == [1.0, 100.0]


def test_an_unchanged_index_keeps_its_gradient() -> None:
    w = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (w[dm.tensor([0, 2, 2])] * dm.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert w.grad.tolist() == [1.0, 0.0, 110.0]


# ---- in-place writes -----------------------------------------------------------------------


def test_a_gradient_carrying_float_copied_into_an_integer_tensor_carries_none() -> None:
    x = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    r = dm.zeros(3, dtype=dm.int64)
    r.copy_(x * 2)
    assert not r.requires_grad and r.tolist() == [2, 4, 6]
    (r.float() * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0, 6.0]


def test_index_put_with_a_float_index_is_an_index_error() -> None:
    with pytest.raises(IndexError):
        dm.zeros(3, 4).index_put_((dm.tensor([0.0, 1.0]),), dm.tensor(1.0))


def test_device_repr_is_pytorchs() -> None:
    assert repr(dm.device("cpu")) == "device(type='cpu')"


# ---- views and in-place writes under autograd -----------------------------------------------


def test_a_view_taken_before_its_base_took_a_history_follows_it() -> None:
    x = dm.ones(4, requires_grad=True)
    buf = dm.zeros(3, 4)
    top = buf[:2]
    buf[1] = x * 2
    assert top.requires_grad and not top.is_leaf
    ((top * top).sum() + x.sum()).backward()
    assert x.grad.tolist() == [9.0] * 4  # PyTorch's: d/dx (2x)^2 + 1


def test_views_of_a_base_written_through_another_view_follow_it() -> None:
    x = dm.ones(3, 4, requires_grad=True)
    y = dm.zeros(3, 4)
    flat = y.view(12)
    y.copy_(x)
    (flat * flat).sum().backward()
    assert x.grad.tolist() == [[2.0] * 4] * 3
    x = dm.ones(3, requires_grad=True)
    t = dm.zeros(3, 2).t()
    t[0].copy_(x * 2)
    assert t.requires_grad
    (t * t).sum().backward()
    assert x.grad.tolist() == [8.0] * 3


def test_views_made_without_grad_or_before_requires_grad_stay_out() -> None:
    a = dm.zeros(3)
    v = a[:2]
    a.requires_grad_()
    # (PyTorch reports True for both views below, reading the base's flag, yet sends no
    # gradient through either: here they stay out of the graph, saying so.)
    assert not v.requires_grad
    w = dm.ones(3, requires_grad=True)
    with dm.no_grad():
        nv = w[:2]
    assert not nv.requires_grad


def _transposed(x: dm.Tensor) -> tuple[dm.Tensor, dm.Tensor]:
    y = x.t() * 2
    y[0].mul_(3)
    scale = dm.ones(4, 3, dtype=dm.float64)
    scale[0] = 3
    return y, x.t() * 2 * scale


def _diagonal(x: dm.Tensor) -> tuple[dm.Tensor, dm.Tensor]:
    y = x.t() * 2
    y.diagonal().zero_()
    keep = 1 - dm.eye(4, 3, dtype=dm.float64)
    return y, x.t() * 2 * keep


def _channels_last(x: dm.Tensor) -> tuple[dm.Tensor, dm.Tensor]:
    x4 = x.reshape(1, 3, 2, 2)
    y = x4.contiguous(memory_format=dm.channels_last) * 2
    assert not y.is_contiguous()
    y[:, 0].mul_(0.5)
    scale = dm.tensor([0.5, 1.0, 1.0], dtype=dm.float64).reshape(1, 3, 1, 1)
    return y, x4 * 2 * scale


@pytest.mark.parametrize("program", [_transposed, _diagonal, _channels_last])
def test_in_place_on_a_view_of_a_non_contiguous_result(program) -> None:  # type: ignore[no-untyped-def]
    weights = dm.arange(12, dtype=dm.float64)
    x = dm.arange(12, dtype=dm.float64).reshape(3, 4).requires_grad_()
    y, expected = program(x)
    np.testing.assert_allclose(y.detach().numpy(), expected.detach().numpy())
    (y.reshape(-1) * weights).sum().backward()
    got = x.grad.numpy().copy()
    x.grad = None
    (expected.reshape(-1) * weights).sum().backward()
    np.testing.assert_allclose(got, x.grad.numpy())


def test_double_backward_through_an_in_place_op_on_a_view() -> None:
    w = dm.randn(4, 6, dtype=dm.float64)
    x = dm.randn(3, 4, dtype=dm.float64, requires_grad=True)
    h = (x @ w).view(3, 2, 3)
    dm.nn.functional.relu(h, inplace=True)
    (g,) = dm.autograd.grad((h * h).sum(), x, create_graph=True)
    g.sum().backward()
    x2 = x.detach().clone().requires_grad_()
    h2 = dm.relu((x2 @ w).view(3, 2, 3))
    (g2,) = dm.autograd.grad((h2 * h2).sum(), x2, create_graph=True)
    g2.sum().backward()
    np.testing.assert_allclose(g.detach().numpy(), g2.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy())


# ---- layers in half precision and other dtypes ---------------------------------------------


def test_bfloat16_layers_that_read_values_on_the_host() -> None:
    layer = dm.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    enc = dm.nn.TransformerEncoder(layer, 2).to(dm.bfloat16)
    mask = dm.nn.Transformer.generate_square_subsequent_mask(5, dtype=dm.bfloat16)
    assert enc(dm.randn(2, 5, 8, dtype=dm.bfloat16), mask=mask).dtype == dm.bfloat16
    x = dm.randn(1, 1, 4, 4, 4, dtype=dm.bfloat16)
    values, indices = dm.nn.MaxPool3d(2, return_indices=True)(x)
    assert values.dtype == dm.bfloat16 and indices.dtype == dm.int64
    pruned = dm.nn.utils.prune.l1_unstructured(
        dm.nn.Linear(4, 3).to(dm.bfloat16), "weight", amount=0.5
    )
    assert pruned.weight.dtype == dm.bfloat16 and int((pruned.weight == 0).sum()) == 6


def test_lazy_norms_converted_before_their_first_forward() -> None:
    out = dm.nn.LazyBatchNorm1d().double()(dm.randn(4, 3, dtype=dm.float64))
    assert out.dtype == dm.float64
    assert dm.nn.LazyInstanceNorm1d().half()(dm.randn(4, 3, 5).half()).dtype == dm.float16


def test_affine_norms_keep_the_input_dtype() -> None:
    for dt in (dm.float16, dm.bfloat16):
        norm = dm.nn.InstanceNorm1d(3, affine=True)
        assert norm(dm.randn(2, 3, 4).to(dt)).dtype == dt
    assert dm.nn.RMSNorm(3).double()(dm.randn(2, 3)).dtype == dm.float32


# ---- from the review of this session's changes ---------------------------------------------


def test_pow_of_a_list_base_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        dm.pow([2.0, 3.0], dm.tensor([1.0, 2.0]))
    assert dm.pow(2.0, dm.tensor([1.0, 2.0])).tolist() == [2.0, 4.0]


@pytest.mark.parametrize("op", ["index_add", "index_copy"])
def test_index_add_and_copy_keep_the_index_they_were_given(op: str) -> None:
    x = dm.arange(12.0).reshape(3, 4).requires_grad_()
    i = dm.tensor([0, 2])
    y = getattr(dm.zeros(3, 4), op)(0, i, x[:2] * 1)
    i.fill_(1)
    (y * dm.arange(12.0).reshape(3, 4)).sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 2.0, 3.0], [8.0, 9.0, 10.0, 11.0], [0.0] * 4]


def test_index_ops_pack_nothing_when_nothing_is_recorded() -> None:
    packed: list[int] = []

    def pack(t: dm.Tensor) -> dm.Tensor:
        packed.append(1)
        return t

    x, idx = dm.randn(4, 3), dm.tensor([0, 2])
    with dm.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        x[idx], x.gather(0, idx.unsqueeze(1).expand(2, 3)), x.index_select(0, idx)
    assert packed == []


def test_retaining_a_grad_that_is_a_view_of_its_own_tensor_does_not_hang() -> None:
    # (The engine summed a retained grad with its lock held; a view's `requires_grad` reads
    # its base's, here that very tensor: a deadlock. Run apart, so a hang fails, not stalls.)
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import democratising as dm
        x = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
        buf = dm.zeros(3)
        v = buf[:]
        buf.mul_(x)
        buf.retain_grad()
        buf.grad = v
        buf.sum().backward(retain_graph=True)
        buf.sum().backward()
        print("ok")
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "ok", run.stderr


def test_soft_margin_loss_takes_a_bool_target() -> None:
    x = dm.tensor([0.5, -1.0, 2.0])
    as_bool = dm.nn.functional.soft_margin_loss(x, dm.tensor([True, False, True]))
    # PyTorch's: log(1 + exp(-input * target)), the False entry contributing log(2).
    expected = (np.log1p(np.exp(-0.5)) + np.log(2.0) + np.log1p(np.exp(-2.0))) / 3
    assert as_bool.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (lambda: dm.nn.LayerNorm(3), (2, 3)),
        (lambda: dm.nn.BatchNorm1d(3), (2, 3)),
        (lambda: dm.nn.GroupNorm(1, 3), (2, 3, 4)),
        (lambda: dm.nn.InstanceNorm1d(3, affine=True), (2, 3, 4)),
        (lambda: dm.nn.PReLU(), (2, 3)),
    ],
    ids=["layer_norm", "batch_norm", "group_norm", "instance_norm", "prelu"],
)
def test_norm_layers_refuse_a_wider_input_and_take_half_ones(layer, shape) -> None:  # type: ignore[no-untyped-def]
    # PyTorch's rule: a float64 input into a float32 layer is a RuntimeError (it promoted
    # everything after it here); float16/bfloat16 inputs with float32 parameters are mixed
    # precision and run (PReLU's under autocast).
    with pytest.raises(RuntimeError):
        layer()(dm.randn(*shape, dtype=dm.float64))
    if "PReLU" not in type(layer()).__name__:
        assert layer()(dm.randn(*shape).bfloat16()).dtype == dm.bfloat16
    assert layer().double()(dm.randn(*shape, dtype=dm.float64)).dtype == dm.float64
