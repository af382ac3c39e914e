"""Row and column reduction kernels (session 32): the vectorised sums, extrema, log-sum-exp and
arg-extrema agree with NumPy on ties, NaN, signed zeros, infinities, long rows, short rows and
non-contiguous inputs; and the fused optimizer steps' keyword checking."""

import numpy as np
import pytest

import democratising as dm
from democratising import _core
from democratising.errors import ArgumentTypeError, IndexOutOfRangeError

RNG = np.random.default_rng(32)
SHAPES = [
    (5, 7),
    (3, 40),
    (2, 100),
    (4, 1),
    (1, 5),
    (3, 4, 5),
    (2, 3, 17, 2),
    (6,),
    (3, 1500),
    (2, 33),
]


def _with_specials(shape, dtype):
    a = RNG.integers(-3, 3, size=shape).astype(dtype)
    if a.size > 4:
        a.flat[RNG.integers(0, a.size)] = np.nan
        a.flat[RNG.integers(0, a.size)] = np.inf
        a.flat[RNG.integers(0, a.size)] = -0.0
    return a


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_arg_extrema_match_numpy(shape, dtype):
    a = _with_specials(shape, dtype)
    x = dm.tensor(a)
    for d in range(len(shape)):
        for name in ("argmax", "argmin"):
            expect = getattr(np, name)(a, axis=d)
            np.testing.assert_array_equal(getattr(x, name)(d).numpy(), expect)
        values, idx = x.max(d)
        np.testing.assert_array_equal(idx.numpy(), np.argmax(a, axis=d))
        np.testing.assert_array_equal(values.numpy(), np.max(a, axis=d))
        values, idx = x.min(d)
        np.testing.assert_array_equal(idx.numpy(), np.argmin(a, axis=d))
        np.testing.assert_array_equal(values.numpy(), np.min(a, axis=d))


def test_arg_extrema_of_views_and_edge_values():
    a = RNG.standard_normal((40, 30)).astype(np.float32)
    xt = dm.tensor(np.ascontiguousarray(a.T)).t()  # a non-contiguous view with a's values
    for d in (0, 1):
        np.testing.assert_array_equal(xt.argmax(d).numpy(), np.argmax(a, axis=d))
        np.testing.assert_array_equal(xt.argmin(d).numpy(), np.argmin(a, axis=d))
    z = np.array([[-0.0, 0.0, -0.0], [np.inf, 1, np.inf], [-np.inf] * 3], dtype=np.float32)
    for d in (0, 1):
        np.testing.assert_array_equal(dm.tensor(z).argmax(d).numpy(), np.argmax(z, axis=d))
        np.testing.assert_array_equal(dm.tensor(z).argmin(d).numpy(), np.argmin(z, axis=d))
    with pytest.raises(IndexOutOfRangeError):
        dm.zeros(0, 3).argmax(0)
    assert dm.zeros(3, 0).argmax(0).shape == (0,)


def test_max_dim_gradient_goes_to_the_first_extremum():
    x = dm.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], requires_grad=True)
    v, _ = x.max(1)
    v.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [1, 0, 0]])
    x.grad = None
    v, _ = x.max(0)
    v.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 1], [1, 0, 0]])


@pytest.mark.parametrize("shape", [(256, 1024), (3, 5000), (1, 300_000), (1000, 3)])
def test_float32_row_sums_stay_accurate(shape):
    a = RNG.standard_normal(shape).astype(np.float32) + 1.0
    x = dm.tensor(a)
    ref = a.astype(np.float64)
    np.testing.assert_allclose(x.sum(-1).numpy(), ref.sum(-1), rtol=2e-6, atol=1e-3)
    np.testing.assert_allclose(x.mean(-1).numpy(), ref.mean(-1), rtol=2e-6, atol=1e-5)
    np.testing.assert_allclose(x.var(-1).numpy(), ref.var(-1, ddof=1), rtol=1e-5)
    np.testing.assert_array_equal(x.amax(-1).numpy(), a.max(-1))
    np.testing.assert_array_equal(x.amin(-1).numpy(), a.min(-1))
    lse = np.log(np.exp(ref - ref.max(-1, keepdims=True)).sum(-1)) + ref.max(-1)
    np.testing.assert_allclose(x.logsumexp(-1).numpy(), lse, rtol=2e-6)


@pytest.mark.parametrize(
    "shape,dims",
    [
        ((4, 3, 5, 6), (0, 2, 3)),
        ((4, 3, 5, 6), (1, 3)),
        ((2, 3, 4), (0, 2)),
        ((3, 0, 4), (0, 2)),
        ((3, 2, 0), (0, 2)),
        ((2, 3, 1500), (0, 2)),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_reductions_over_a_trailing_run_and_earlier_dims_match_numpy(shape, dims, dtype):
    """Sums, means and extrema over trailing dims plus earlier ones (a conv bias's gradient,
    dims 0, 2, 3) reduce the trailing run first: the values NumPy gives, NaN and infinities
    kept, empty dims as PyTorch treats them."""
    a = _with_specials(shape, "float64") if dtype != "bfloat16" else RNG.integers(-3, 3, shape)
    x = dm.tensor(a.astype(np.float32)).to(getattr(dm, dtype))
    ref = x.double().numpy()
    tol = 2e-2 if dtype == "bfloat16" else 1e-6
    for keep in (False, True):
        got = x.sum(dims, keepdim=keep).double().numpy()
        np.testing.assert_allclose(got, ref.sum(dims, keepdims=keep), rtol=tol, atol=tol)
        with np.errstate(invalid="ignore"):
            want = ref.mean(dims, keepdims=keep) if ref.size else np.full(got.shape, np.nan)
        np.testing.assert_allclose(x.mean(dims, keepdim=keep).double().numpy(), want, rtol=tol)
        if np.prod([shape[d] for d in dims]):
            for name in ("amax", "amin"):
                got = getattr(x, name)(dims, keepdim=keep).double().numpy()
                np.testing.assert_array_equal(got, getattr(np, name)(ref, dims, keepdims=keep))
        else:
            with pytest.raises(IndexOutOfRangeError):
                x.amax(dims)
    g = dm.tensor(a.astype(np.float64), requires_grad=True)
    g.mean(dims).sum().backward()
    np.testing.assert_allclose(
        g.grad.numpy(), np.full(shape, 1 / max(1, np.prod([shape[d] for d in dims])))
    )


def test_row_extrema_and_logsumexp_with_nan_and_inf():
    a = RNG.standard_normal((6, 100)).astype(np.float32)
    a[1, 77] = np.nan
    a[2, 3] = np.inf
    a[3, :] = -np.inf
    a[4, 99] = np.nan
    x = dm.tensor(a)
    np.testing.assert_array_equal(x.amax(1).numpy(), a.max(1))
    np.testing.assert_array_equal(x.amin(1).numpy(), a.min(1))
    got = x.logsumexp(1).numpy()
    assert np.isnan(got[1]) and np.isnan(got[4])
    assert got[2] == np.inf and got[3] == -np.inf
    ref = a[[0, 5]].astype(np.float64)
    np.testing.assert_allclose(got[[0, 5]], np.log(np.exp(ref).sum(1)), rtol=2e-6)


def test_one_thread_equals_two_on_long_rows():
    a = RNG.standard_normal((1, 400_000)).astype(np.float32)
    x = dm.tensor(a)
    before = dm.get_num_threads()
    try:
        dm.set_num_threads(1)
        one = [x.sum().item(), x.amax().item(), x.argmax().item(), x.mean(1).item()]
        dm.set_num_threads(2)
        two = [x.sum().item(), x.amax().item(), x.argmax().item(), x.mean(1).item()]
    finally:
        dm.set_num_threads(before)
    assert one[1:3] == two[1:3]
    np.testing.assert_allclose(one, two, rtol=1e-6)
    assert one[2] == int(np.argmax(a))


def test_fused_optimizer_steps_check_their_keywords():
    p = dm.randn(3, requires_grad=True)
    (p * p).sum().backward()
    with pytest.raises(ArgumentTypeError, match="missing required keyword argument 'momentum'"):
        _core._sgd_step([p], [p.grad], [p], [False], lr=1.0)
    full = dict(
        lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False
    )
    with pytest.raises(ArgumentTypeError, match="unexpected keyword argument 'foo'"):
        _core._sgd_step([p], [p.grad], [p], [False], foo=1, **full)
    before = p.detach().numpy().copy()
    _core._sgd_step([p], [p.grad], [p.grad.clone()], [False], **full)
    np.testing.assert_allclose(p.detach().numpy(), before - 0.1 * p.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_gather_and_scatter_add_rows_match_numpy(dim):
    base = RNG.standard_normal((5, 6, 7))
    t = dm.tensor(base).permute(1, 0, 2).contiguous().permute(1, 0, 2)  # strided view of base
    ishape = [4, 5, 6]
    ishape[dim] = 9
    idx = RNG.integers(0, base.shape[dim], ishape)
    got = t.gather(dim, dm.tensor(idx)).numpy()
    # NumPy's take_along_axis over the index's own extent in the other dims
    cut = tuple(slice(0, n) if a != dim else slice(None) for a, n in enumerate(ishape))
    np.testing.assert_array_equal(got, np.take_along_axis(base[cut], idx, dim))
    src = RNG.standard_normal([n + 1 for n in ishape])  # larger than the index, as PyTorch allows
    out = dm.tensor(base).scatter_add(dim, dm.tensor(idx), dm.tensor(src)).numpy()
    ref = base.copy()
    for pos in np.ndindex(*ishape):
        tgt = list(pos)
        tgt[dim] = idx[pos]
        ref[tuple(tgt)] += src[pos]
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    ints = dm.tensor(np.arange(6).reshape(2, 3))
    assert ints.gather(1, dm.tensor([[2, 0], [1, 1]])).tolist() == [[2, 0], [4, 4]]
    with pytest.raises(IndexOutOfRangeError):
        t.gather(dim, dm.tensor(-np.ones(ishape, dtype=np.int64)))
    scalar = dm.tensor(3.0)
    assert scalar.gather(0, dm.tensor(0)).item() == 3.0
    assert scalar.scatter_add(0, dm.tensor(0), dm.tensor(2.0)).item() == 5.0


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_max_pool1d_windows_match_numpy(k):
    a = RNG.integers(-3, 3, size=(2, 3, 17)).astype(np.float32)
    a[0, 1, 4] = np.nan
    a[1, 2, 7] = np.nan
    a[1, 2, 8] = np.nan
    x = dm.tensor(a, requires_grad=True)
    y, idx = dm.nn.functional.max_pool1d(x, k, return_indices=True)
    n = 17 // k
    win = a[..., : n * k].reshape(2, 3, n, k)
    # the first maximum of each window; the last NaN where there is one (PyTorch)
    first = win.argmax(-1)
    last_nan = k - 1 - np.isnan(win[..., ::-1]).argmax(-1)
    expect = np.where(np.isnan(win).any(-1), last_nan, first) + np.arange(n) * k
    np.testing.assert_array_equal(idx.numpy(), expect)
    np.testing.assert_array_equal(y.detach().numpy(), np.take_along_axis(a, expect, -1))
    y.sum().backward()
    grad = np.zeros_like(a)
    np.put_along_axis(grad, expect, 1.0, -1)
    np.testing.assert_array_equal(x.grad.numpy(), grad)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("shape", [(2048, 96), (1000, 3, 37), (300, 700)])
def test_column_sums_over_many_rows_do_not_depend_on_the_thread_count(dtype, shape):
    """A bias gradient's ``sum(0)`` over blocks of rows shared out to the threads adds in the
    same order as one thread: the same bits, close to NumPy's float64 sum."""
    a = RNG.standard_normal(shape).astype(np.float32)
    x = dm.tensor(a).to(getattr(dm, dtype))
    before = dm.get_num_threads()
    try:
        dm.set_num_threads(1)
        one = x.sum(0).float().numpy()
        dm.set_num_threads(2)
        two = x.sum(0).float().numpy()
    finally:
        dm.set_num_threads(before)
    np.testing.assert_array_equal(one, two)
    want = x.float().numpy().astype(np.float64).sum(0)
    np.testing.assert_allclose(two, want, rtol=1e-2 if dtype == "bfloat16" else 1e-5, atol=1e-3)
