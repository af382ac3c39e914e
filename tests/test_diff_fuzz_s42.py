"""Divergences from PyTorch 2.15 found by session 42's differential fuzzing, each with
PyTorch's values (worked out by hand and checked against it)."""

from __future__ import annotations

import timeit

import numpy as np
import pytest

import democratising as dm
from democratising import func
from test_distributed import needs_mpi, run_mpi


def close(t, expected):
    np.testing.assert_allclose(np.asarray(t.detach().tolist()), np.asarray(expected), rtol=1e-12)


# ---- torch.func: an input apart from the same tensor captured by the function ----------------


def test_grad_separates_an_input_from_the_same_tensor_captured():
    x = dm.tensor([1.0, 2.0], dtype=dm.float64).requires_grad_()
    close(func.grad(lambda y: (x * y).sum())(x), [1.0, 2.0])
    close(func.grad(lambda a, b: (a * b).sum())(x, x), [1.0, 2.0])
    close(func.vjp(lambda y: (x * y).sum(), x)[1](dm.tensor(1.0, dtype=dm.float64))[0], [1, 2])
    close(func.jvp(lambda y: x * y, (x,), (dm.ones(2, dtype=dm.float64),))[1], [1.0, 2.0])
    close(func.jacrev(lambda y: x * y)(x), [[1.0, 0.0], [0.0, 2.0]])
    close(func.jacfwd(lambda y: x * y)(x), [[1.0, 0.0], [0.0, 2.0]])
    close(func.hessian(lambda y: (x * y * y).sum())(x), [[2.0, 0.0], [0.0, 4.0]])


def test_grad_of_a_module_parameter_passed_in_and_used_by_the_module():
    lin = dm.nn.Linear(2, 1, bias=False).double()
    with dm.no_grad():
        lin.weight.copy_(dm.tensor([[1.0, 2.0]]))
    x = dm.tensor([[1.0, 1.0]], dtype=dm.float64)
    # The module's own use of its weight is a constant to the transform: d/dw of w.w only.
    close(func.grad(lambda w: lin(x).sum() + (w**2).sum())(lin.weight), [[2.0, 4.0]])


def test_nested_transforms_keep_their_levels_apart():
    x = dm.tensor([1.0, 2.0], dtype=dm.float64)
    inner = func.grad(lambda x: func.grad(lambda y: (x * y).sum())(x).sum())
    close(inner(x), [1.0, 1.0])
    close(func.hessian(lambda y: (y**3).sum())(x), [[6.0, 0.0], [0.0, 12.0]])


def test_grad_of_a_tensor_requiring_grad_stays_differentiable():
    x = dm.tensor([1.0, 2.0], dtype=dm.float64).requires_grad_()
    g = func.grad(lambda y: (y**3).sum())(x)
    assert g.requires_grad
    close(g, [3.0, 12.0])
    close(dm.autograd.grad(g.sum(), x)[0], [6.0, 12.0])


# ---- AccumulateGrad node hooks ------------------------------------------------------------


def test_accumulate_grad_node_hooks_and_metadata():
    p = dm.ones(2, requires_grad=True)
    acc = p.view_as(p).grad_fn.next_functions[0][0]
    acc.metadata["k"] = 1
    assert p.expand_as(p).grad_fn.next_functions[0][0].metadata == {"k": 1}
    seen = []
    h = acc.register_hook(lambda gi, go: seen.append((gi, go[0].tolist(), p.grad.tolist())))
    pre = acc.register_prehook(lambda go: seen.append(("pre", p.grad)))
    (p * 3).sum().backward()
    assert seen == [("pre", None), ((), [3.0, 3.0], [3.0, 3.0])]
    double = acc.register_prehook(lambda go: (go[0] * 10,))
    (p * 3).sum().backward()
    assert p.grad.tolist() == [33.0, 33.0]
    h.remove(), pre.remove(), double.remove()
    seen.clear()
    (p * 3).sum().backward()
    assert seen == [] and p.grad.tolist() == [36.0, 36.0]


# ---- set_num_threads(1): ops stay on the calling thread ------------------------------------


def test_one_thread_runs_ops_without_a_pool_handoff():
    before = dm.get_num_threads()
    x = dm.ones(10)
    try:
        dm.set_num_threads(1)
        assert dm.get_num_threads() == 1
        (x + x).sum()
        per_op = min(timeit.repeat(lambda: x + x, number=2000, repeat=3)) / 2000
        # Handing each op to a one-thread pool cost 7-40 µs; on the caller it is about 1 µs.
        assert per_op < 5e-6, per_op
        y = dm.randn(300, 300)
        np.testing.assert_allclose((y @ y).numpy(), y.numpy() @ y.numpy(), rtol=1e-4, atol=1e-3)
    finally:
        dm.set_num_threads(before)
    assert dm.get_num_threads() == before


# ---- Trainer under MPI with a plain model: the ranks train one model --------------------


@needs_mpi
def test_trainer_keeps_a_plain_models_ranks_equal_as_ddp_would(tmp_path):
    job = run_mpi(2, "plain_trainer.py", str(tmp_path), timeout=120)
    assert job.returncode == 0, job
    ranks = [np.load(tmp_path / f"plain_rank{r}.npz") for r in range(2)]
    keys = [k for k in ranks[0].files if k.startswith("plain/")]
    assert any("running_mean" in k for k in keys)
    for k in keys:
        # The ranks agree with each other, and with a DistributedDataParallel run.
        np.testing.assert_array_equal(ranks[0][k], ranks[1][k], err_msg=k)
        ddp = ranks[0]["ddp/" + k.split("/", 1)[1]]
        np.testing.assert_allclose(ranks[0][k], ddp, rtol=1e-5, atol=1e-6, err_msg=k)


def test_early_stopping_patience_zero_stops_at_the_first_step_without_improvement():
    from democratising.train import EarlyStopping

    es = EarlyStopping(patience=0, verbose=False)
    m = dm.nn.Linear(1, 1)
    assert [es.step(m, v) for v in (3.0, 2.0, 2.5)] == [False, False, True]


# ---- tutorial ports ------------------------------------------------------------------------


def test_inplace_dropout_that_does_nothing_leaves_an_inplace_activation_differentiable():
    lin = dm.nn.Linear(3, 3)
    h = dm.nn.functional.relu(lin(dm.ones(2, 3)), inplace=True)
    h = dm.nn.functional.dropout(h, 0.5, training=False, inplace=True)
    h = dm.nn.functional.dropout(h, 0.0, inplace=True)
    h.sum().backward()
    assert lin.weight.grad is not None
    x = dm.ones(2, requires_grad=True)
    y = dm.nn.functional.dropout1d(x.view(1, 1, 2), 0.5, training=False, inplace=True)
    assert y.tolist() == [[[1.0, 1.0]]]


def test_regression_losses_read_a_bool_target_as_zero_one():
    x, t = dm.tensor([0.2, 0.7]), dm.tensor([False, True])
    assert dm.nn.functional.mse_loss(x, t).item() == pytest.approx(0.065)
    assert dm.nn.functional.smooth_l1_loss(x, t).item() == pytest.approx(0.0325)
    assert dm.nn.functional.huber_loss(x, t).item() == pytest.approx(0.0325)
    assert dm.nn.functional.mse_loss(~t, dm.tensor([0.3, 0.1])).item() == pytest.approx(0.25)
    with pytest.raises(TypeError):  # PyTorch's l1_loss subtracts, and refuses a bool
        dm.nn.functional.l1_loss(x, t)


def test_a_short_list_holding_sequences_or_slices_indexes_as_a_tuple():
    x = dm.arange(12).view(3, 4)
    with pytest.warns(UserWarning, match="non-tuple sequence"):
        assert x[[[0, 1], [2, 0]]].tolist() == [2, 4]
    with pytest.warns(UserWarning):
        assert x[[slice(None), [1, 2]]].tolist() == [[1, 2], [5, 6], [9, 10]]
    with pytest.warns(UserWarning):
        assert x[[dm.tensor([0, 1]), dm.tensor([1, 2])]].tolist() == [1, 6]
    with pytest.warns(UserWarning):
        assert tuple(x[[None]].shape) == (1, 3, 4)
    y = x.clone()
    with pytest.warns(UserWarning):
        y[[[0, 1], [2, 0]]] = -1
    assert y.tolist() == [[0, 1, -1, 3], [-1, 5, 6, 7], [8, 9, 10, 11]]
    assert tuple(x[[0, 1]].shape) == (2, 4)  # ints only: one index tensor, no warning


def test_a_nested_list_of_bools_stays_a_mask():
    x = np.arange(24).reshape(2, 3, 4)
    m = x % 5 == 0
    np.testing.assert_array_equal(dm.tensor(x)[m.tolist()].numpy(), x[m])
    np.testing.assert_array_equal(dm.tensor(x)[m[:, :, 0].tolist()].numpy(), x[m[:, :, 0]])


def test_a_view_made_under_no_grad_is_not_written_with_grad_on():
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    with dm.no_grad():
        v, w = x[:1], h[1:]
        v.mul_(2)  # still under no_grad: allowed, as in PyTorch
    assert x.tolist() == [2.0, 2.0]
    for view in (v, w):
        with pytest.raises(RuntimeError, match="created in no_grad mode"):
            view.add_(1)
    assert x.tolist() == [2.0, 2.0] and h.tolist() == [1.0, 2.0]
    d = x.detach()[:1]  # a view of a detached tensor is the caller's to write
    d.add_(1)
    assert x.tolist() == [3.0, 2.0]


def test_calling_a_function_instance_is_pytorchs_runtime_error():
    class Double(dm.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    with pytest.raises(RuntimeError, match=r"Double\.apply"):
        Double()(dm.ones(2))
    assert Double.apply(dm.ones(2)).tolist() == [2.0, 2.0]


@pytest.mark.parametrize(
    "make",
    [
        lambda: dm.nn.MultiheadAttention(5, 2),
        lambda: dm.nn.Embedding(5, 2, padding_idx=7),
        lambda: dm.nn.Embedding(5, 2, padding_idx=-9),
        lambda: dm.nn.EmbeddingBag(5, 2, padding_idx=7),
    ],
)
def test_arguments_pytorch_asserts_raise_assertion_and_value_errors(make):
    with pytest.raises(AssertionError) as info:
        make()
    assert isinstance(info.value, ValueError)


def test_environment_reports_read_version_and_backend_queries():
    assert dm.version.__version__ == dm.__version__
    assert dm.version.hip is None
    assert dm.version.cuda is None or dm.version.cuda.count(".") == 1
    assert dm.backends.openmp.is_available() is False
    assert dm.backends.mkldnn.is_available() is False


# ---- performance sweep: cdist by matrix product ------------------------------------------


@pytest.mark.parametrize("mode", ["use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist"])
def test_cdist_by_matrix_product_matches_the_direct_distances(mode):
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 30, 4)), rng.standard_normal((27, 4))
    b[0] = a[1, 2]  # an exact zero distance: value 0 and no gradient through it
    want = np.sqrt(((a[:, :, None, :] - b[None, None, :, :]) ** 2).sum(-1))
    x = dm.tensor(a, dtype=dm.float64, requires_grad=True)
    y = dm.tensor(b, dtype=dm.float64, requires_grad=True)
    d = dm.cdist(x, y, compute_mode=mode)
    np.testing.assert_allclose(d.detach().numpy(), want, rtol=1e-9, atol=1e-7)
    assert d[1, 2, 0].item() == 0.0
    w = rng.standard_normal(want.shape)
    (d * dm.tensor(w)).sum().backward()
    diff = a[:, :, None, :] - b[None, None, :, :]
    unit = np.divide(diff, want[..., None], out=np.zeros_like(diff), where=want[..., None] > 0)
    np.testing.assert_allclose(x.grad.numpy(), (w[..., None] * unit).sum(2), atol=1e-7)
    np.testing.assert_allclose(y.grad.numpy(), -(w[..., None] * unit).sum((0, 1)), atol=1e-7)


# ---- reductions of permuted (transposed, channels-last) tensors --------------------------


@pytest.mark.parametrize("kind", ["sum", "mean", "var", "std", "amax", "amin", "logsumexp"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions_of_permuted_tensors_match_numpy(kind, keepdim):
    rng = np.random.default_rng(7)
    base = rng.standard_normal((3, 4, 5, 6))
    ref = {
        "sum": np.sum,
        "mean": np.mean,
        "var": lambda a, axis, keepdims: np.var(a, axis=axis, ddof=1, keepdims=keepdims),
        "std": lambda a, axis, keepdims: np.std(a, axis=axis, ddof=1, keepdims=keepdims),
        "amax": np.amax,
        "amin": np.amin,
        "logsumexp": lambda a, axis, keepdims: np.log(np.exp(a).sum(axis, keepdims=keepdims)),
    }[kind]
    t = dm.tensor(base, dtype=dm.float64)
    views = [
        (t.permute(0, 2, 3, 1), base.transpose(0, 2, 3, 1)),  # channels-last
        (t.permute(3, 2, 1, 0), base.transpose(3, 2, 1, 0)),
        (t[1].transpose(0, 1), base[1].transpose(1, 0, 2)),  # an offset into the storage
        (t[:, :1].permute(1, 0, 3, 2), base[:, :1].transpose(1, 0, 3, 2)),  # a size-1 dim
    ]
    for view, arr in views:
        assert not view.is_contiguous()
        for dims in [(1,), (0, 2), (-1,), tuple(range(view.ndim))]:
            got = getattr(view, kind)(dim=dims, keepdim=keepdim)
            want = ref(arr, axis=dims, keepdims=keepdim)
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


def test_a_permuted_reduction_keeps_its_gradient():
    x = dm.tensor(np.arange(12.0).reshape(3, 4), dtype=dm.float64, requires_grad=True)
    (x.t().sum(1) * dm.tensor([1.0, 2.0, 3.0, 4.0], dtype=dm.float64)).sum().backward()
    assert x.grad.tolist() == [[1.0, 2.0, 3.0, 4.0]] * 3


def test_setting_a_full_mask_to_a_number_is_a_masked_fill():
    a = np.array([[1.0, -2.0, np.nan], [-0.5, 3.0, -np.inf]])
    x = dm.tensor(a)
    x[x < 0] = 0
    want = a.copy()
    want[want < 0] = 0
    np.testing.assert_array_equal(x.numpy(), want)
    i = dm.tensor([[1, -2], [3, -4]])
    i[i < 0] = 7
    assert i.tolist() == [[1, 7], [3, 7]]
    with pytest.raises(OverflowError):  # an int tensor refuses a number it cannot hold
        dm.tensor([1, 2], dtype=dm.int8)[dm.tensor([True, False])] = 300
    w = dm.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = w * 2
    y[y < 0] = 0.0
    y.sum().backward()
    assert y.tolist() == [2.0, 0.0, 6.0] and w.grad.tolist() == [2.0, 0.0, 2.0]
    with pytest.raises(RuntimeError):  # a leaf that requires grad, as before
        w[w < 0] = 0.0


def test_nonzero_and_full_mask_indexing_match_numpy():
    rng = np.random.default_rng(11)
    a = rng.standard_normal((4, 5, 6))
    for m in [a > 0, (a > 0).transpose(2, 0, 1), np.zeros((2, 0, 3), bool), np.array(True)]:
        np.testing.assert_array_equal(dm.tensor(m).nonzero().numpy(), np.argwhere(m))
    x = dm.tensor(a, dtype=dm.float64, requires_grad=True)
    mask = dm.tensor(a > 0.3)
    got = x.transpose(0, 2)[mask.transpose(0, 2)]
    np.testing.assert_array_equal(
        got.detach().numpy(), a.transpose(2, 1, 0)[a.transpose(2, 1, 0) > 0.3]
    )
    got.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (a > 0.3).astype(float))


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_inplace_arithmetic_on_permuted_views_matches_numpy(dtype):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((6, 40, 24)).astype(np.float32)
    b = rng.standard_normal((24, 40, 6)).astype(np.float32)
    dt = getattr(dm, dtype)
    x, y = dm.tensor(a).to(dt), dm.tensor(b).to(dt)
    ref = x.float().numpy().copy()
    v = x.permute(2, 1, 0)
    v.mul_(2.0)
    v.add_(y.permute(0, 1, 2), alpha=0.5)  # another layout: pairs by position
    v.sub_(y.transpose(0, 2).contiguous().transpose(0, 2))  # permuted like v
    v.div_(4.0)
    want = (ref.transpose(2, 1, 0) * 2 + 0.5 * b - b) / 4
    tol = 1e-2 if dtype == "bfloat16" else 1e-6
    np.testing.assert_allclose(v.float().numpy(), want, rtol=tol, atol=tol)
    np.testing.assert_allclose(x.float().numpy(), want.transpose(2, 1, 0), rtol=tol, atol=tol)
