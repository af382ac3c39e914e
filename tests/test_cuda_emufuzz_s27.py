"""CUDA-vs-CPU parity fuzz (session 27) over what test_cuda_parity.py leaves out: dtypes,
promotion with Python scalars, non-contiguous / empty / 0-d inputs, reductions over every dim,
indexing, nn functional, recurrent layers, attention, optimizers, AMP, conversions and typed
errors. Runs only where a CUDA device (or the emulated one, see test_cuda_emulated_device.py)
is available; the normal test run skips the whole module."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import optim

pytestmark = pytest.mark.skipif(not dm.cuda.is_available(), reason="no CUDA device")

FLOATS = ["float32", "float64", "float16", "bfloat16"]
TOL = {"float64": 1e-9, "float32": 1e-5, "float16": 1e-2, "bfloat16": 5e-2}


def rnd(*shape: int, dtype: str = "float32", seed: int = 0, grad: bool = False) -> dm.Tensor:
    """Seeded standard-normal data of `dtype`; float32/float64 may require grad."""
    a = np.random.default_rng(seed).standard_normal(shape)
    t = dm.tensor(a).to(getattr(dm, dtype))
    return t.requires_grad_() if grad and dtype in ("float32", "float64") else t


def ints(*shape: int, dtype: str = "int64", lo: int = -5, hi: int = 6, seed: int = 1) -> dm.Tensor:
    return dm.tensor(np.random.default_rng(seed).integers(lo, hi, shape)).to(getattr(dm, dtype))


def bools(*shape: int, seed: int = 2) -> dm.Tensor:
    return dm.tensor(np.random.default_rng(seed).random(shape) > 0.5)


def idx(*v: int) -> dm.Tensor:
    return dm.tensor(list(v)).long()


def _flat(o: Any) -> list[Any]:
    if isinstance(o, (tuple, list)):
        return [y for x in o for y in _flat(x)]
    if hasattr(o, "_fields"):  # named tuples (values, indices)
        return _flat(tuple(o))
    return [o]


def _copy(x: Any, dev: str) -> Any:
    """A fresh copy of `x` on `dev` (a leaf that requires grad when `x` does)."""
    if isinstance(x, dm.Tensor):
        t = x.detach().clone().to(dev)
        return t.requires_grad_() if x.requires_grad else t
    return x


def _np(t: dm.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return (t.float() if t.dtype in (dm.float16, dm.bfloat16) else t).numpy()


def _assert_same(want: Any, got: Any, tol: float | None) -> None:
    if not isinstance(want, dm.Tensor):
        assert want == pytest.approx(got, rel=tol or 1e-5, abs=tol or 1e-5, nan_ok=True)
        return
    assert got.device.type == "cuda", got.device
    assert got.dtype == want.dtype and tuple(got.shape) == tuple(want.shape)
    t = TOL.get(str(want.dtype).split(".")[-1], 1e-5) if tol is None else tol
    a, b = _np(want), _np(got)
    if a.dtype.kind in "fc":
        np.testing.assert_allclose(b, a, rtol=t, atol=t, equal_nan=True)
    else:
        np.testing.assert_array_equal(b, a)


def parity(
    op: Callable[..., Any], *inputs: Any, tol: float | None = None, grad: bool = True
) -> None:
    """Runs `op` on CPU and CUDA copies of `inputs`: the same outputs (values, dtypes, shapes),
    the same error type when the CPU raises, and the same gradients of the inputs."""
    results = []
    for dev in ("cpu", "cuda"):
        args = [_copy(x, dev) for x in inputs]
        dm.manual_seed(0)
        try:
            outs = _flat(op(*args))
        except Exception as e:  # the error's type is what is compared
            results.append((type(e), None, None))
            continue
        grads = None
        leaves = [a for a in args if isinstance(a, dm.Tensor) and a.requires_grad]
        diff = [o for o in outs if isinstance(o, dm.Tensor) and o.requires_grad]
        if grad and leaves and diff:
            total = sum(
                (o.float() * dm.linspace(-1, 1, o.numel()).reshape(o.shape).to(o.device)).sum()
                for o in diff
            )
            total.backward()
            grads = [a.grad for a in leaves]
        results.append((None, outs, grads))
    (cerr, want, wgrads), (gerr, got, ggrads) = results
    assert gerr == cerr, f"cpu raised {cerr}, cuda raised {gerr}"
    if cerr is not None:
        return
    assert len(got) == len(want)
    for w, g in zip(want, got):
        _assert_same(w, g, tol)
    assert (wgrads is None) == (ggrads is None)
    for w, g in zip(wgrads or [], ggrads or []):
        assert (w is None) == (g is None)
        if w is not None:
            _assert_same(w, g, None if tol is None else tol * 10)


# ---- elementwise ----------------------------------------------------------------------------

UNARY: dict[str, Callable[[dm.Tensor], dm.Tensor]] = {
    "abs": lambda a: a.abs(),
    "exp": lambda a: a.exp(),
    "log": lambda a: a.abs().log(),
    "rsqrt": lambda a: (a.abs() + 0.1).rsqrt(),
    "sin": lambda a: a.sin(),
    "round": lambda a: (a * 3).round(),
    "sign": lambda a: a.sign(),
    "reciprocal": lambda a: a.reciprocal(),
    "expm1": lambda a: a.expm1(),
    "frac": lambda a: a.frac(),
    "elu": F.elu,
    "hardswish": F.hardswish,
    "mish": F.mish,
    "logsigmoid": F.logsigmoid,
    "gelu_tanh": lambda a: F.gelu(a, approximate="tanh"),
    "atanh": lambda a: (a.tanh() * 0.9).atanh(),
    "logit": lambda a: a.sigmoid().logit(),
    "sinc": lambda a: a.sinc(),
    "nan_to_num": lambda a: (a / 0).nan_to_num(),
    "isinf": lambda a: (a / 0).isinf(),
    "pow_neg": lambda a: a**-2,
    "clamp_tensor": lambda a: a.clamp(dm.zeros_like(a) - 0.2, dm.zeros_like(a) + 0.3),
}
LAYOUTS: dict[str, tuple[tuple[int, ...], Callable[[dm.Tensor], dm.Tensor]]] = {
    "contiguous": ((5, 7), lambda a: a),
    "transposed_step": ((6, 8), lambda a: a.t()[::2, 1:]),
    "expanded": ((1, 5), lambda a: a.expand(3, 5)),
    "empty": ((0, 3), lambda a: a),
    "0d": ((), lambda a: a),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_in_every_float_dtype(name: str, dtype: str) -> None:
    parity(UNARY[name], rnd(5, 7, dtype=dtype, grad=True))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_on_strided_empty_and_0d_inputs(name: str, layout: str) -> None:
    shape, view = LAYOUTS[layout]
    parity(lambda a: UNARY[name](view(a)), rnd(*shape, grad=True))


INT_UNARY: dict[str, Callable[[dm.Tensor], dm.Tensor]] = {
    "neg": lambda a: -a,
    "abs": lambda a: a.abs(),
    "square": lambda a: a.square(),
    "bitwise_not": lambda a: ~a,
    "exp": lambda a: a.exp(),
    "sigmoid": lambda a: a.sigmoid(),
    "pow2": lambda a: a**2,
    "half": lambda a: a.half(),
    "bool": lambda a: a.bool(),
}


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
@pytest.mark.parametrize("name", sorted(INT_UNARY))
def test_integer_and_bool_unary(name: str, dtype: str) -> None:
    x = bools(4, 5) if dtype == "bool" else ints(4, 5, dtype=dtype)
    parity(INT_UNARY[name], x)


BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "floordiv": lambda a, b: a // b,
    "rem": lambda a, b: a % b,
    "pow": lambda a, b: a.abs() ** b,
    "maximum": dm.maximum,
    "atan2": dm.atan2,
    "lt": lambda a, b: a < b,
    "eq": lambda a, b: a == b,
    "hypot": dm.hypot,
    "copysign": dm.copysign,
    "fmax": dm.fmax,
    "div_trunc": lambda a, b: dm.div(a, b, rounding_mode="trunc"),
    "logaddexp": dm.logaddexp,
    "where": lambda a, b: dm.where(a > b, a, b),
}
SHAPES = [((5, 1, 7), (3, 1)), ((), (3, 2)), ((0, 3), (1, 3)), ((2, 3), ())]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcasting(name: str, shapes: Any, dtype: str) -> None:
    sa, sb = shapes
    parity(BINARY[name], rnd(*sa, dtype=dtype, grad=True), rnd(*sb, dtype=dtype, seed=5, grad=True))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_on_views(name: str) -> None:
    parity(
        lambda a, b: BINARY[name](a[::2], b.t()[:, ::2]),
        rnd(10, 6, grad=True),
        rnd(12, 5, grad=True),
    )


PAIRS = [
    ("int64", "int64"),
    ("int32", "int64"),
    ("int64", "float32"),
    ("bool", "int32"),
    ("float16", "float32"),
    ("bfloat16", "float16"),
    ("float64", "float32"),
    ("int32", "float16"),
]


def _of(dtype: str, seed: int) -> dm.Tensor:
    if dtype == "bool":
        return bools(4, 5, seed=seed)
    if dtype.startswith("int"):
        return ints(4, 5, dtype=dtype, lo=1, hi=6, seed=seed)
    return rnd(4, 5, dtype=dtype, seed=seed)


@pytest.mark.parametrize("pair", PAIRS, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_type_promotion(name: str, pair: tuple[str, str]) -> None:
    parity(BINARY[name], _of(pair[0], 3), _of(pair[1], 4))


@pytest.mark.parametrize("scalar", [2, 2.5, True, -3], ids=repr)
@pytest.mark.parametrize("dtype", ["float32", "float16", "int64", "int32", "bool"])
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "floordiv", "rem", "lt", "maximum"])
def test_binary_with_python_scalars_on_either_side(name: str, dtype: str, scalar: Any) -> None:
    f = BINARY[name]
    if dtype == "bool" and name in ("floordiv", "rem"):  # `2 // False` divides by zero
        parity(lambda a: f(a, scalar), _of(dtype, 6))
    else:
        parity(lambda a: (f(a, scalar), f(dm.tensor(scalar).to(a.device), a)), _of(dtype, 6))


@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_integer_pow_by_a_non_negative_scalar(dtype: str) -> None:
    parity(lambda a: (a**3, a**0, 2 ** a.abs()), ints(4, 5, dtype=dtype))


INPLACE: dict[str, Callable[[dm.Tensor, dm.Tensor], Any]] = {
    "add_": lambda a, b: a.add_(b, alpha=2),
    "mul_": lambda a, b: a.mul_(b),
    "div_": lambda a, b: a.div_(b),
    "clamp_": lambda a, b: a.clamp_(-0.1, 0.1),
    "copy_": lambda a, b: a.copy_(b),
    "addcmul_": lambda a, b: a.addcmul_(b, b, value=0.5),
    "masked_fill_": lambda a, b: a.masked_fill_(b > 0, 1.5),
}


@pytest.mark.parametrize("how", ["transposed", "broadcast", "half_from_float"])
@pytest.mark.parametrize("name", sorted(INPLACE))
def test_in_place_ops_through_views_and_dtypes(name: str, how: str) -> None:
    f = INPLACE[name]
    if how == "transposed":
        parity(lambda a, b: (f(a.t(), b), a)[1], rnd(5, 4), rnd(4, 5, seed=7))
    elif how == "broadcast":
        parity(lambda a, b: f(a, b), rnd(4, 5), rnd(5, seed=7))
    else:
        parity(lambda a, b: f(a, b), rnd(4, 5, dtype="float16"), rnd(4, 5, seed=7))


# ---- reductions ----------------------------------------------------------------------------

REDUCE: dict[str, Callable[[dm.Tensor, int, bool], Any]] = {
    "sum": lambda a, d, k: a.sum(d, keepdim=k),
    "mean": lambda a, d, k: a.mean(d, keepdim=k),
    "prod": lambda a, d, k: a.prod(d, keepdim=k),
    "amax": lambda a, d, k: a.amax(d, keepdim=k),
    "amin": lambda a, d, k: a.amin(d, keepdim=k),
    "argmax": lambda a, d, k: a.argmax(d, keepdim=k),
    "max": lambda a, d, k: a.max(d, keepdim=k),
    "var": lambda a, d, k: a.var(d, keepdim=k),
    "std_unbiased0": lambda a, d, k: a.std(d, keepdim=k, correction=0),
    "norm": lambda a, d, k: a.norm(dim=d, keepdim=k),
    "norm_inf": lambda a, d, k: a.norm(p=float("inf"), dim=d, keepdim=k),
    "logsumexp": lambda a, d, k: a.logsumexp(d, keepdim=k),
    "cumsum": lambda a, d, k: a.cumsum(d),
    "cumprod": lambda a, d, k: a.cumprod(d),
    "all": lambda a, d, k: (a > 0).all(d, keepdim=k),
    "any": lambda a, d, k: (a > 0).any(d, keepdim=k),
    "median": lambda a, d, k: a.median(d, keepdim=k),
    "sort": lambda a, d, k: a.sort(d, descending=k),
    "cummax": lambda a, d, k: a.cummax(d),
    "softmax": lambda a, d, k: a.softmax(d),
    "std_mean": lambda a, d, k: dm.std_mean(a, d, keepdim=k),
}


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", sorted(REDUCE))
def test_reductions_over_every_dim(name: str, dim: int, keepdim: bool) -> None:
    parity(lambda a: REDUCE[name](a, dim, keepdim), rnd(3, 5, 4, grad=True))


@pytest.mark.parametrize(
    "case", ["strided", "empty_dim", "0d", "long_row", "float16", "int32", "bool"]
)
@pytest.mark.parametrize("name", sorted(REDUCE))
def test_reductions_on_odd_inputs(name: str, case: str) -> None:
    f = REDUCE[name]
    if case == "strided":
        parity(lambda a: f(a.permute(2, 0, 1)[:, ::2], 1, False), rnd(4, 5, 6, grad=True))
    elif case == "empty_dim":
        parity(lambda a: f(a, 1, False), rnd(3, 0, 4, grad=True))
    elif case == "0d":
        parity(lambda a: f(a, 0, False), rnd(grad=True))
    elif case == "long_row":
        parity(lambda a: f(a, 1, False), rnd(2, 1500, grad=True))
    elif case == "float16":
        parity(lambda a: f(a, 1, False), rnd(3, 40, dtype="float16"))
    elif case == "int32":
        parity(lambda a: f(a, 1, False), ints(3, 7, dtype="int32"))
    else:
        parity(lambda a: f(a, 1, False), bools(3, 7))


def test_reductions_with_nan_and_inf() -> None:
    parity(
        lambda a: (a.max(), a.amax(0), a.argmax(), a.min(0), a.sort(), a.cummax(0)),
        dm.tensor([1.0, float("nan"), 3.0]),
    )
    inf = float("inf")
    parity(
        lambda a: (a.logsumexp(1), a.softmax(1), a.log_softmax(1)),
        dm.tensor([[-inf, -inf], [1.0, inf]]),
    )


def test_small_integer_reductions_and_accumulation_dtypes() -> None:
    parity(
        lambda a: (a.sum(), a.sum(0), a.cumsum(0), a.prod(1), a.amax(1)), ints(3, 4, dtype="int32")
    )
    parity(lambda a: (a.sum(), a.sum(0), a.cumsum(0), a.prod(1)), bools(3, 4))
    parity(
        lambda a: (a.sum(dtype=dm.float32), a.mean(0, dtype=dm.float64)), rnd(3, 4, dtype="float16")
    )


# ---- indexing ------------------------------------------------------------------------------

INDEXING: dict[str, tuple[Callable[[Callable[..., dm.Tensor]], list[Any]], Callable[..., Any]]] = {
    "index_select_t": (lambda m: [m(6, 4), idx(3, 0, 0)], lambda x, i: x.t().index_select(1, i)),
    "gather_t": (
        lambda m: [m(5, 3), idx(0, 4, 4, 1, 2, 3).reshape(3, 2)],
        lambda x, i: x.t().gather(1, i),
    ),
    "scatter": (
        lambda m: [m(3, 5), idx(0, 4, 1, 1, 2, 3).reshape(3, 2), m(3, 2)],
        lambda x, i, s: x.scatter(1, i, s),
    ),
    "scatter_value": (
        lambda m: [m(3, 5), idx(0, 4, 1, 1, 2, 3).reshape(3, 2)],
        lambda x, i: x.scatter(1, i, 1),
    ),
    "index_copy": (
        lambda m: [m(5, 3), idx(0, 4, 2), m(3, 3)],
        lambda x, i, s: x.index_copy(0, i, s),
    ),
    "index_fill": (lambda m: [m(5, 3), idx(0, 4, 4)], lambda x, i: x.index_fill(0, i, 1)),
    "masked_fill": (lambda m: [m(4, 5), bools(5)], lambda x, k: x.masked_fill(k, 1)),
    "masked_select": (lambda m: [m(4, 5), bools(4, 5)], lambda x, k: x.masked_select(k)),
    "masked_scatter": (
        lambda m: [m(4, 5), bools(4, 5), m(20)],
        lambda x, k, s: x.masked_scatter(k, s),
    ),
    "where": (lambda m: [bools(4, 1), m(4, 5), m(5)], lambda c, a, b: dm.where(c, a, b)),
    "nonzero": (lambda m: [m(3, 4, 2)], lambda x: (x.nonzero(), x.nonzero(as_tuple=True))),
    "advanced": (lambda m: [m(4, 5, 6)], lambda x: x[idx(1, 3), :, idx(0, 5)]),
    "negative_index": (lambda m: [m(4, 5)], lambda x: x[idx(-1, -4, 2)]),
    "take": (lambda m: [m(4, 5), idx(0, 19, 7)], lambda x, i: x.take(i)),
    "flip_roll": (lambda m: [m(4, 5)], lambda x: (x.flip(0, 1), x.roll((1, -2), (0, 1)))),
    "triu_t": (lambda m: [m(5, 4)], lambda x: x.t().triu(1)),
    "cat_stack": (
        lambda m: [m(5, 2), m(3, 5)],
        lambda a, b: (dm.cat([a.t(), b], 0), dm.stack([a.t(), b[:2]], 1)),
    ),
    "repeat": (
        lambda m: [m(2, 3)],
        lambda a: (a.t().repeat(2, 1, 3), a.repeat_interleave(2, dim=1)),
    ),
    "unfold": (lambda m: [m(2, 7)], lambda a: a.unfold(1, 3, 2)),
    "sort_stable": (lambda m: [m(3, 6)], lambda a: a.sort(1, stable=True)),
    "scatter_reduce_amax": (
        lambda m: [m(3, 4), idx(0, 0, 3, 3).reshape(1, 4).expand(3, 4).contiguous(), m(3, 4)],
        lambda x, i, v: x.scatter_reduce(1, i, v, "amax", include_self=False),
    ),
    "scatter_reduce_sum": (
        lambda m: [m(3, 4), idx(0, 0, 3, 3).reshape(1, 4).expand(3, 4).contiguous(), m(3, 4)],
        lambda x, i, v: x.scatter_reduce(1, i, v, "sum"),
    ),
    "index_put": (
        lambda m: [m(3, 4), m(3)],
        lambda x, v: x.index_put((idx(0, 1, 2), idx(1, 1, 3)), v),
    ),
    "setitem_mask": (lambda m: [m(3, 4)], lambda x: (x.__setitem__(x != x[0, 0], x[1, 1]), x)[1]),
    "to_int32_t": (lambda m: [m(3, 4)], lambda a: a.t().to(dm.int32)),
    "to_bfloat16": (lambda m: [m(3, 4)], lambda a: a.to(dm.bfloat16)),
}
ALL = [*FLOATS, "int64", "int32", "bool"]


def _maker(dtype: str) -> Callable[..., dm.Tensor]:
    def make(*shape: int) -> dm.Tensor:
        if dtype == "bool":
            return bools(*shape)
        if dtype.startswith("int"):
            return ints(*shape, dtype=dtype)
        return rnd(*shape, dtype=dtype, grad=True)

    return make


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("name", sorted(INDEXING))
def test_indexing_ops_in_every_dtype(name: str, dtype: str) -> None:
    make, op = INDEXING[name]
    parity(op, *make(_maker(dtype)))


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce_in_place_with_and_without_self(reduce: str) -> None:
    i = idx(0, 0, 3, 3).reshape(1, 4).expand(3, 4).contiguous()
    for include_self in (True, False):
        parity(
            lambda x, v, inc=include_self: x.clone().scatter_reduce_(
                1, i.to(x.device), v, reduce, include_self=inc
            ),
            rnd(3, 4),
            rnd(3, 4, seed=8),
        )


def test_accumulating_index_put_and_index_add_on_floats() -> None:
    parity(
        lambda x, v: x.index_put((idx(0, 0, 2), idx(1, 1, 3)), v, accumulate=True),
        rnd(3, 4, grad=True),
        rnd(3, grad=True),
    )
    parity(
        lambda x, v: x.clone().index_add_(1, idx(3, 3, 0, 1).to(x.device), v, alpha=2),
        rnd(3, 4),
        rnd(3, 4, seed=9),
    )
    parity(
        lambda x, v: x.t().clone().index_put_((idx(0, 3, 0),), v, accumulate=True),
        rnd(3, 4),
        rnd(3, seed=9),
    )


@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_accumulating_scatter_on_integer_tensors(dtype: str) -> None:
    x, v = ints(3, 4, dtype=dtype), ints(3, 4, dtype=dtype, seed=4)
    parity(
        lambda x, v: x.scatter_add(
            1, idx(0, 3, 3, 3, 0, 1, 1, 1, 2, 2, 2, 2).reshape(3, 4).to(x.device), v
        ),
        x,
        v,
    )
    parity(lambda x, v: x.index_add(0, idx(2, 2, 0).to(x.device), v), x, v)
    parity(lambda x, v: x.index_put((idx(1, 1, 2).to(x.device),), v[0], accumulate=True), x, v)


# ---- integer arithmetic beyond float64's exact range ---------------------------------------


@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_integer_pow_by_a_negative_scalar_raises(dtype: str) -> None:
    x = ints(4, dtype=dtype, lo=1).cuda()
    with pytest.raises(dm.InvalidValueError):
        _ = x**-3


@pytest.mark.parametrize("op", ["floordiv", "rem", "pow"])
def test_int64_division_and_pow_are_exact(op: str) -> None:
    a, b = dm.tensor([2**62 + 1, -(2**60) - 3, 3]), dm.tensor([1, 7, 40])
    f = {"floordiv": lambda a, b: a // b, "rem": lambda a, b: a % b, "pow": lambda a, b: a**b}[op]
    parity(f, a, b)


@pytest.mark.parametrize("name", ["sum", "sum_dim", "amax", "overflow"])
def test_int64_reductions_are_exact(name: str) -> None:
    x = dm.tensor([2**53 + 1, 2, 2**55 + 3])
    f = {
        "sum": lambda a: a.sum(),
        "sum_dim": lambda a: a.reshape(1, 3).sum(1),
        "amax": lambda a: a.amax(0),
        "overflow": lambda a: (a * 0 + 2**62).sum(),
    }[name]
    parity(f, x)


@pytest.mark.parametrize("op", ["abs", "neg", "square"])
def test_int64_unary_ops_are_exact(op: str) -> None:
    x = dm.tensor([2**53 + 1, -(2**62) - 1, 2**62 + 3])
    parity({"abs": lambda a: a.abs(), "neg": lambda a: -a, "square": lambda a: a.square()}[op], x)


def test_int64_ops_that_are_exact_on_the_device() -> None:
    big = dm.tensor([2**53 + 1, 2, 2**55 + 3])
    parity(lambda a: (a + 1, a * 3, a.cumsum(0), a.prod(), a.argmax(), a.sort().values), big)


# ---- nn functional -------------------------------------------------------------------------


def _bn(x: dm.Tensor, w: Any, b: Any, train: bool) -> tuple[dm.Tensor, ...]:
    c = x.shape[1]
    rm = dm.linspace(-0.5, 0.5, c).to(x.dtype).to(x.device)
    rv = dm.linspace(0.5, 1.5, c).to(x.dtype).to(x.device)
    return F.batch_norm(x, rm, rv, w, b, training=train, momentum=0.3), rm, rv


def _padding_modes(x: dm.Tensor) -> list[dm.Tensor]:
    outs = []
    for mode in ("reflect", "replicate", "circular"):
        dm.manual_seed(5)
        conv = dm.nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode).to(x.dtype).to(x.device)
        outs.append(conv(x))
    return outs


def _mha(x: dm.Tensor, mask: dm.Tensor) -> tuple[dm.Tensor, ...]:
    dm.manual_seed(9)
    mha = dm.nn.MultiheadAttention(8, 2, batch_first=True).to(x.dtype).to(x.device)
    mask = mask.clone()
    mask[:, 0] = False
    y, w = mha(x, x, x, key_padding_mask=mask, average_attn_weights=False)
    causal = dm.ones(5, 5, dtype=dm.bool).triu(1).to(x.device)
    return y, w, mha(x, x, x, attn_mask=causal, need_weights=False)[0]


NN: dict[str, tuple[Callable[[str], list[Any]], Callable[..., Any]]] = {
    "matmul_batch_broadcast": (
        lambda d: [rnd(2, 1, 3, 4, dtype=d, grad=True), rnd(5, 4, 2, dtype=d, grad=True)],
        lambda a, b: a @ b,
    ),
    "matmul_vectors": (
        lambda d: [rnd(3, 4, dtype=d, grad=True), rnd(4, dtype=d, grad=True)],
        lambda a, b: (a @ b, b @ a.t(), b @ b),
    ),
    "matmul_strided": (
        lambda d: [rnd(6, 8, dtype=d, grad=True), rnd(8, 10, dtype=d, grad=True)],
        lambda a, b: a[::2, ::2] @ b[::2, 1::2],
    ),
    "matmul_empty_k": (
        lambda d: [rnd(3, 0, dtype=d, grad=True), rnd(0, 2, dtype=d, grad=True)],
        lambda a, b: a @ b,
    ),
    "bmm_transposed": (
        lambda d: [rnd(4, 3, 2, dtype=d, grad=True), rnd(3, 2, 5, dtype=d, grad=True)],
        lambda a, b: dm.bmm(a.transpose(0, 1), b),
    ),
    "einsum_broadcast": (
        lambda d: [rnd(2, 1, 3, 4, dtype=d, grad=True), rnd(5, 4, 3, dtype=d, grad=True)],
        lambda a, b: dm.einsum("...ij,...ji->...", a, b),
    ),
    "baddbmm": (
        lambda d: [
            rnd(3, 2, 5, dtype=d, grad=True),
            rnd(3, 2, 4, dtype=d, grad=True),
            rnd(3, 4, 5, dtype=d, grad=True),
        ],
        lambda c, a, b: dm.baddbmm(c, a, b, beta=0.5, alpha=2),
    ),
    "softmax_transposed": (
        lambda d: [rnd(5, 6, dtype=d, grad=True)],
        lambda a: (a.t().softmax(0), a.t().log_softmax(-1)),
    ),
    "cross_entropy_weight_smoothing": (
        lambda d: [
            rnd(5, 4, dtype=d, grad=True),
            idx(0, 3, -100, 1, 1),
            rnd(4, dtype=d).abs() + 0.1,
        ],
        lambda x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.3),
    ),
    "cross_entropy_ignore_smoothing": (
        lambda d: [rnd(5, 4, dtype=d, grad=True), idx(0, 3, 2, 1, 2), rnd(4, dtype=d).abs() + 0.1],
        lambda x, t, w: F.cross_entropy(x, t, weight=w, ignore_index=2, label_smoothing=0.1),
    ),
    "cross_entropy_all_ignored": (
        lambda d: [rnd(3, 4, dtype=d, grad=True), idx(-100, -100, -100)],
        F.cross_entropy,
    ),
    "cross_entropy_probabilities": (
        lambda d: [rnd(3, 4, dtype=d, grad=True), rnd(3, 4, dtype=d).softmax(-1)],
        lambda x, p: F.cross_entropy(x, p, label_smoothing=0.1),
    ),
    "cross_entropy_spatial_none": (
        lambda d: [
            rnd(2, 4, 3, dtype=d, grad=True),
            idx(0, 3, 1, 2, 0, 1).reshape(2, 3),
            rnd(4, dtype=d).abs() + 0.1,
        ],
        lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction="none", label_smoothing=0.2),
    ),
    "cross_entropy_spatial_4d_mean": (
        lambda d: [
            rnd(2, 4, 3, 2, dtype=d, grad=True),
            idx(0, 3, 1, 2, 0, 1, -100, 3, 2, 2, 1, 0).reshape(2, 3, 2),
            rnd(4, dtype=d).abs() + 0.1,
        ],
        lambda x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.1),
    ),
    "nll_loss_spatial_weighted": (
        lambda d: [
            rnd(2, 4, 3, dtype=d, grad=True),
            idx(0, 3, 1, 2, 0, 1).reshape(2, 3),
            rnd(4, dtype=d).abs() + 0.1,
        ],
        lambda x, t, w: F.nll_loss(x, t, weight=w),
    ),
    "layer_norm_2d_shape": (
        lambda d: [
            rnd(3, 4, 5, dtype=d, grad=True),
            rnd(4, 5, dtype=d, grad=True),
            rnd(4, 5, dtype=d, grad=True),
        ],
        lambda x, w, b: F.layer_norm(x, (4, 5), w, b, eps=1e-3),
    ),
    "group_norm": (
        lambda d: [
            rnd(2, 6, 3, 2, dtype=d, grad=True),
            rnd(6, dtype=d, grad=True),
            rnd(6, dtype=d, grad=True),
        ],
        lambda x, w, b: F.group_norm(x, 3, w, b),
    ),
    "batch_norm_train": (
        lambda d: [
            rnd(4, 3, 5, dtype=d, grad=True),
            rnd(3, dtype=d, grad=True),
            rnd(3, dtype=d, grad=True),
        ],
        lambda x, w, b: _bn(x, w, b, True),
    ),
    "batch_norm_eval": (
        lambda d: [
            rnd(4, 3, 5, dtype=d, grad=True),
            rnd(3, dtype=d, grad=True),
            rnd(3, dtype=d, grad=True),
        ],
        lambda x, w, b: _bn(x, w, b, False),
    ),
    "batch_norm_strided": (
        lambda d: [rnd(3, 2, 4, 4, dtype=d, grad=True)],
        lambda x: _bn(x.transpose(0, 1), None, None, True),
    ),
    "conv1d_groups_dilation": (
        lambda d: [
            rnd(2, 4, 9, dtype=d, grad=True),
            rnd(6, 2, 3, dtype=d, grad=True),
            rnd(6, dtype=d, grad=True),
        ],
        lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=2, dilation=2, groups=2),
    ),
    "conv1d_same": (
        lambda d: [rnd(2, 3, 8, dtype=d, grad=True), rnd(4, 3, 4, dtype=d, grad=True)],
        lambda x, w: F.conv1d(x, w, padding="same", dilation=2),
    ),
    "conv2d_depthwise": (
        lambda d: [rnd(2, 4, 7, 6, dtype=d, grad=True), rnd(8, 1, 3, 3, dtype=d, grad=True)],
        lambda x, w: F.conv2d(x, w, padding=1, groups=4),
    ),
    "conv2d_transposed_input": (
        lambda d: [rnd(2, 3, 6, 7, dtype=d, grad=True), rnd(4, 3, 2, 2, dtype=d, grad=True)],
        lambda x, w: F.conv2d(x.transpose(2, 3), w, stride=(2, 1)),
    ),
    "conv2d_padding_modes": (lambda d: [rnd(1, 2, 5, 5, dtype=d, grad=True)], _padding_modes),
    "conv_transpose1d": (
        lambda d: [rnd(2, 4, 5, dtype=d, grad=True), rnd(4, 3, 3, dtype=d, grad=True)],
        lambda x, w: F.conv_transpose1d(x, w, stride=3, padding=1, output_padding=2),
    ),
    "max_pool1d_dilation": (
        lambda d: [rnd(2, 3, 11, dtype=d, grad=True)],
        lambda x: F.max_pool1d(x, 3, 2, 1, dilation=2),
    ),
    "max_pool2d_ceil_indices": (
        lambda d: [rnd(2, 3, 7, 8, dtype=d, grad=True)],
        lambda x: F.max_pool2d(x, 3, 2, ceil_mode=True, return_indices=True),
    ),
    "avg_pool2d_no_pad_count": (
        lambda d: [rnd(2, 3, 7, 8, dtype=d, grad=True)],
        lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
    ),
    "adaptive_pools": (
        lambda d: [rnd(2, 3, 7, 5, dtype=d, grad=True)],
        lambda x: (F.adaptive_avg_pool2d(x, (3, 2)), F.adaptive_max_pool2d(x, (3, 2))),
    ),
    "interpolate_bilinear": (
        lambda d: [rnd(1, 2, 3, 4, dtype=d, grad=True)],
        lambda x: (
            F.interpolate(x, size=(5, 7), mode="bilinear"),
            F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=True),
        ),
    ),
    "interpolate_nearest_bicubic": (
        lambda d: [rnd(1, 2, 3, 4, dtype=d, grad=True)],
        lambda x: (F.interpolate(x, scale_factor=2), F.interpolate(x, size=(5, 7), mode="bicubic")),
    ),
    "pad_modes": (
        lambda d: [rnd(1, 2, 4, 5, dtype=d, grad=True)],
        lambda x: [F.pad(x, (1, 2, 2, 1), mode=m) for m in ("reflect", "replicate", "circular")],
    ),
    "embedding_padding_idx": (
        lambda d: [idx(0, 2, 2, 4, 0), rnd(5, 3, dtype=d, grad=True)],
        lambda i, w: F.embedding(i, w, padding_idx=2),
    ),
    "embedding_bag_max": (
        lambda d: [idx(0, 2, 2, 4, 0, 1), rnd(5, 3, dtype=d, grad=True), idx(0, 2, 5)],
        lambda i, w, o: F.embedding_bag(i, w, o, mode="max"),
    ),
    "losses": (
        lambda d: [rnd(3, 4, dtype=d, grad=True), rnd(3, 4, dtype=d, seed=3, grad=True)],
        lambda a, b: (
            F.mse_loss(a, b),
            F.smooth_l1_loss(a, b, beta=0.5),
            F.binary_cross_entropy_with_logits(a, b.detach().sigmoid()),
        ),
    ),
    "sdpa_bool_mask": (
        lambda d: [
            rnd(2, 2, 5, 4, dtype=d, grad=True),
            rnd(2, 2, 6, 4, dtype=d, grad=True),
            rnd(2, 2, 6, 3, dtype=d, grad=True),
            bools(5, 6),
        ],
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
    ),
    "sdpa_float_mask_broadcast": (
        lambda d: [
            rnd(2, 2, 5, 4, dtype=d, grad=True),
            rnd(2, 2, 6, 4, dtype=d, grad=True),
            rnd(2, 2, 6, 3, dtype=d, grad=True),
            rnd(2, 1, 1, 6, dtype=d),
        ],
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.3),
    ),
    "sdpa_causal_rectangular": (
        lambda d: [
            rnd(1, 2, 6, 4, dtype=d, grad=True),
            rnd(1, 2, 3, 4, dtype=d, grad=True),
            rnd(1, 2, 3, 4, dtype=d, grad=True),
        ],
        lambda q, k, v: (
            F.scaled_dot_product_attention(q, k, v, is_causal=True),
            F.scaled_dot_product_attention(k, q, q, is_causal=True),
        ),
    ),
    "sdpa_transposed_inputs": (
        lambda d: [rnd(2, 5, 2, 4, dtype=d, grad=True), rnd(2, 6, 2, 4, dtype=d, grad=True)],
        lambda q, k: F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), k.transpose(1, 2)
        ),
    ),
    "multihead_attention": (lambda d: [rnd(2, 5, 8, dtype=d, grad=True), bools(2, 5)], _mha),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(NN))
def test_nn_functional_in_every_float_dtype(name: str, dtype: str) -> None:
    make, op = NN[name]
    parity(op, *make(dtype))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("setup", ["batch_first", "two_layers_bidirectional", "variant", "packed"])
def test_recurrent_layers(kind: str, setup: str) -> None:
    variant = {"LSTM": {"proj_size": 2}, "GRU": {"bias": False}, "RNN": {"nonlinearity": "relu"}}[
        kind
    ]
    kwargs = {
        "batch_first": {"batch_first": True},
        "two_layers_bidirectional": {"num_layers": 2, "bidirectional": True},
        "variant": variant,
        "packed": {"batch_first": True},
    }[setup]

    def run(x: dm.Tensor) -> Any:
        dm.manual_seed(11)
        m = getattr(dm.nn, kind)(4, 5, **kwargs).to(x.device)
        if setup != "packed":
            return m(x)
        packed = dm.nn.utils.rnn.pack_padded_sequence(x, [4, 2, 1], batch_first=True)
        out, h = m(packed)
        return dm.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)[0], h

    parity(run, rnd(3, 4, 4, grad=True))


def test_dropout_on_the_device_is_deterministic_under_manual_seed() -> None:
    x = dm.ones(2, 1000, device="cuda")
    dm.manual_seed(3)
    a = F.dropout(x, 0.5).cpu()
    dm.manual_seed(3)
    b = F.dropout(x, 0.5).cpu()
    assert a.tolist() == b.tolist()
    assert a[0].tolist() != a[1].tolist()  # rows draw different masks
    assert 0.4 < (a != 0).float().mean().item() < 0.6


# ---- optimizers, AMP, conversions ---------------------------------------------------------

OPTIMIZERS: dict[str, Callable[[list[dm.Tensor]], optim.Optimizer]] = {
    "sgd_momentum_wd": lambda p: optim.SGD(
        p, lr=0.1, momentum=0.9, weight_decay=0.1, dampening=0.1
    ),
    "sgd_nesterov_maximize": lambda p: optim.SGD(
        p, lr=0.1, momentum=0.5, nesterov=True, maximize=True, weight_decay=0.01
    ),
    "adam_wd": lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1),
    "adam_amsgrad_maximize": lambda p: optim.Adam(p, lr=0.01, amsgrad=True, maximize=True),
    "adam_tensor_lr": lambda p: optim.Adam(p, lr=dm.tensor(0.01), weight_decay=0.1),
    "adamw": lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
    "adamw_amsgrad": lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1, amsgrad=True),
    "rmsprop_wd": lambda p: optim.RMSprop(p, lr=0.01, alpha=0.9, weight_decay=0.1),
    "rmsprop_centered_momentum": lambda p: optim.RMSprop(p, lr=0.01, centered=True, momentum=0.3),
    "adagrad_wd_decay": lambda p: optim.Adagrad(p, lr=0.1, weight_decay=0.1, lr_decay=0.1),
}


@pytest.mark.parametrize("how", [*FLOATS, "transposed", "empty"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_steps_match_in_every_dtype(name: str, how: str) -> None:
    dtype = how if how in FLOATS else "float32"
    tol = {"float32": 1e-5, "float64": 1e-9, "float16": 2e-2, "bfloat16": 6e-2}[dtype]
    shape = (0, 3) if how == "empty" else (5, 7)

    def steps(w: dm.Tensor, g1: dm.Tensor, g2: dm.Tensor) -> list[dm.Tensor]:
        w = (w.t().contiguous().t() if how == "transposed" else w.clone()).requires_grad_()
        b = (
            w.detach()[:1].clone().requires_grad_()
            if w.shape[0]
            else w.detach().clone().requires_grad_()
        )
        opt = OPTIMIZERS[name]([w, b])
        for g in (g1, g2, g1 * 2, -g2):
            w.grad, b.grad = g, g[:1].clone() if g.shape[0] else g.clone()
            opt.step()
        return [w.detach(), b.detach()]

    data = [rnd(*shape, dtype=dtype, seed=s) for s in (1, 2, 3)]
    parity(steps, *data, tol=tol, grad=False)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_autocast_on_the_device_matches_the_cpu(dtype: str) -> None:
    from democratising.amp import autocast

    def run(x: dm.Tensor, w: dm.Tensor, b: dm.Tensor) -> list[dm.Tensor]:
        with autocast(x.device.type, dtype=getattr(dm, dtype)):
            y = F.linear(x, w, b)
            return [
                y,
                y.softmax(-1),
                F.cross_entropy(y, dm.tensor([0, 1, 2, 3]).to(x.device)),
                x @ w.t(),
                F.layer_norm(y, (5,)),
            ]

    parity(run, rnd(4, 6, grad=True), rnd(5, 6, grad=True), rnd(5, grad=True), tol=6e-2)


CONVERT = [
    "float32",
    "float64",
    "float16",
    "bfloat16",
    "int64",
    "int32",
    "bool",
    "uint8",
    "int8",
    "int16",
]


@pytest.mark.parametrize("dst", CONVERT)
@pytest.mark.parametrize(
    "src", ["float32", "float64", "float16", "bfloat16", "int64", "int32", "bool"]
)
def test_dtype_conversions_on_the_device(src: str, dst: str) -> None:
    if src == "bool":
        x = bools(3, 4)
    elif src.startswith("int"):
        x = ints(3, 4, dtype=src, lo=-300, hi=300)
    else:  # in range of every integer target (out-of-range float -> int is undefined)
        x = dm.tensor([[1e5, -1e5, float("nan"), float("inf")], [70.0, -0.5, 2.7, -3.9]]).to(
            getattr(dm, src)
        )
        if dst not in FLOATS:
            x = x[1:]
    parity(lambda a: (a.to(getattr(dm, dst)), a.t().to(getattr(dm, dst))), x)


def test_moves_between_devices_keep_values_and_gradients() -> None:
    x = rnd(3, 4)
    h = x.cuda().t().to("cuda:1")
    assert h.device == dm.Device.cuda(1)
    assert (h * 2).cpu().tolist() == (x.t() * 2).tolist()
    w = rnd(3, 4, grad=True)
    y = (w.to("cuda", dm.float16) * 3).cpu().float()
    y.sum().backward()
    assert w.grad.device.type == "cpu" and w.grad.tolist() == [[3.0] * 4] * 3
    with pytest.raises(dm.DeviceError):
        _ = x.cuda() + x.to("cuda:1")


# ---- typed errors --------------------------------------------------------------------------

OTHER = {"cpu": "cuda", "cuda": "cpu"}
ERRORS: dict[str, Callable[[str], Any]] = {
    "index": lambda d: dm.ones(3, 4, device=d)[idx(0, 3).to(d)],
    "negative_index": lambda d: dm.ones(3, 4, device=d)[idx(-4).to(d)],
    "gather": lambda d: dm.ones(3, 4, device=d).gather(1, idx(4, 0, 0).reshape(3, 1).to(d)),
    "gather_negative": lambda d: dm.ones(3, 4, device=d).gather(
        1, idx(-1, 0, 0).reshape(3, 1).to(d)
    ),
    "gather_float_index": lambda d: dm.ones(3, 4, device=d).gather(1, dm.zeros(3, 1, device=d)),
    "scatter": lambda d: dm.ones(3, 4, device=d).scatter(1, idx(4, 0, 0).reshape(3, 1).to(d), 1.0),
    "scatter_add": lambda d: dm.ones(3, 4, device=d).scatter_add(
        1, idx(9, 0, 0).reshape(3, 1).to(d), dm.ones(3, 1, device=d)
    ),
    "scatter_reduce": lambda d: dm.ones(3, 4, device=d).scatter_reduce(
        1, idx(4, 0, 0).reshape(3, 1).to(d), dm.ones(3, 1, device=d), "amax"
    ),
    "index_select": lambda d: dm.ones(3, 4, device=d).index_select(0, idx(3).to(d)),
    "index_add": lambda d: dm.ones(3, 4, device=d).index_add(
        0, idx(5).to(d), dm.ones(1, 4, device=d)
    ),
    "index_copy": lambda d: dm.ones(3, 4, device=d).index_copy(
        0, idx(3).to(d), dm.ones(1, 4, device=d)
    ),
    "index_fill": lambda d: dm.ones(3, 4, device=d).index_fill(1, idx(4).to(d), 0.0),
    "index_put": lambda d: dm.ones(3, 4, device=d).index_put(
        (idx(7).to(d),), dm.tensor(1.0, device=d), accumulate=True
    ),
    "take": lambda d: dm.ones(3, 4, device=d).take(idx(12).to(d)),
    "embedding": lambda d: F.embedding(idx(3).to(d), dm.ones(3, 4, device=d)),
    "embedding_negative": lambda d: F.embedding(idx(-1).to(d), dm.ones(3, 4, device=d)),
    "nll_loss": lambda d: F.nll_loss(dm.ones(3, 4, device=d), idx(0, 4, 1).to(d)),
    "nll_loss_negative": lambda d: F.nll_loss(dm.ones(3, 4, device=d), idx(0, -2, 1).to(d)),
    "cross_entropy_smoothing": lambda d: F.cross_entropy(
        dm.ones(3, 4, device=d), idx(0, 5, 1).to(d), label_smoothing=0.2
    ),
    "one_hot": lambda d: F.one_hot(idx(0, 5).to(d), 3),
    "bincount_negative": lambda d: idx(1, -1).to(d).bincount(),
    "mask_shape": lambda d: dm.ones(3, 4, device=d)[dm.ones(3, 3, dtype=dm.bool, device=d)],
    "masked_scatter_short": lambda d: dm.ones(3, 4, device=d).masked_scatter(
        dm.ones(3, 4, dtype=dm.bool, device=d), dm.ones(2, device=d)
    ),
    "cat_shapes": lambda d: dm.cat([dm.ones(3, 4, device=d), dm.ones(3, 5, device=d)]),
    "empty_max": lambda d: dm.ones(3, 0, device=d).amax(1),
    "empty_argmax": lambda d: dm.ones(3, 0, device=d).argmax(1),
    "mixed_add": lambda d: dm.ones(3, device=d) + dm.ones(3, device=OTHER[d]),
    "mixed_matmul": lambda d: dm.ones(3, 3, device=d) @ dm.ones(3, 3, device=OTHER[d]),
    "mixed_cat": lambda d: dm.cat([dm.ones(3, device=d), dm.ones(3, device=OTHER[d])]),
    "mixed_where": lambda d: dm.where(
        dm.ones(3, device=d) > 0, dm.ones(3, device=d), dm.ones(3, device=OTHER[d])
    ),
    "mixed_linear": lambda d: F.linear(dm.ones(2, 3, device=d), dm.ones(4, 3, device=OTHER[d])),
    "mixed_conv": lambda d: F.conv2d(
        dm.ones(1, 1, 4, 4, device=d), dm.ones(1, 1, 2, 2, device=OTHER[d])
    ),
    "mixed_cross_entropy_weight": lambda d: F.cross_entropy(
        dm.ones(3, 4, device=d), idx(0, 1, 2).to(d), weight=dm.ones(4, device=OTHER[d])
    ),
    "mixed_layer_norm": lambda d: F.layer_norm(
        dm.ones(3, 4, device=d), (4,), dm.ones(4, device=OTHER[d])
    ),
    "mixed_sdpa": lambda d: F.scaled_dot_product_attention(
        dm.ones(1, 2, 4, device=d), dm.ones(1, 2, 4, device=d), dm.ones(1, 2, 4, device=OTHER[d])
    ),
    "mixed_bmm": lambda d: dm.bmm(dm.ones(2, 3, 3, device=d), dm.ones(2, 3, 3, device=OTHER[d])),
    "mixed_gather": lambda d: dm.ones(3, 3, device=d).gather(
        1, idx(0, 1, 2).reshape(3, 1).to(OTHER[d])
    ),
    "mixed_masked_fill": lambda d: dm.ones(3, device=d).masked_fill(
        dm.tensor([True, False, True], device=OTHER[d]), 0.0
    ),
    "mixed_devices": lambda d: dm.ones(3, device="cuda:0") * dm.ones(3, device="cuda:1"),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_types_match_the_cpu(name: str) -> None:
    """Each case raises on the CPU; the device raises the same class (never crashes). Mixed
    cases run with the first operand on each device in turn."""
    raised = []
    for dev in ("cpu", "cuda"):
        with pytest.raises(Exception) as info:  # the class is compared below
            ERRORS[name](dev)
        raised.append(type(info.value))
    assert raised[1] is raised[0]
    assert issubclass(
        raised[0], (dm.DemocratisingError, IndexError, TypeError, ValueError, RuntimeError)
    )


def test_scatter_add_refuses_an_index_on_another_device() -> None:
    x = dm.ones(3, 3, device="cuda")
    with pytest.raises(dm.DeviceError):
        x.scatter_add(1, idx(0, 1, 2).reshape(3, 1), dm.ones(3, 1, device="cuda"))


def test_integer_division_by_zero_and_minus_one_does_not_trap() -> None:
    """A kernel cannot raise: a zero divisor gives -1 (PyTorch's CUDA does not raise either), and
    INT64_MIN // -1 wraps instead of trapping (the emulator would die of SIGFPE)."""
    a = dm.tensor([7, -7, -(2**63), 5], device="cuda")
    b = dm.tensor([0, 0, -1, -1], device="cuda")
    assert (a // b).tolist() == [-1, -1, -(2**63), -5]
    assert (a % b).tolist() == [-1, -1, 0, 0]
    assert (a ** dm.tensor([-1, -2, 0, 3], device="cuda")).tolist() == [0, 0, 1, 125]


# ---- the narrow integer dtypes (uint8, int8, int16): through int32 kernels, wrapped back -----

SMALL_INTS = ["uint8", "int8", "int16"]


def _small(dtype: str, seed: int) -> dm.Tensor:
    lo, hi = (0, 256) if dtype == "uint8" else (-128, 128) if dtype == "int8" else (-3000, 3000)
    return ints(4, 5, dtype=dtype, lo=lo, hi=hi, seed=seed)


@pytest.mark.parametrize("dtype", SMALL_INTS)
@pytest.mark.parametrize(
    "name", ["add", "sub", "mul", "floordiv", "rem", "maximum", "lt", "eq", "where"]
)
def test_small_integer_binary_ops_wrap_as_on_the_cpu(name: str, dtype: str) -> None:
    a, b = _small(dtype, 3), _small(dtype, 4)
    if name in ("floordiv", "rem"):
        b = dm.where(b == 0, dm.ones_like(b), b)
    parity(BINARY[name], a, b)
    parity(lambda x: BINARY[name](x, 3), a)


@pytest.mark.parametrize("dtype", SMALL_INTS)
def test_small_integer_unary_reductions_and_scans(dtype: str) -> None:
    x = _small(dtype, 5)
    parity(lambda a: (-a, a.abs(), a.clamp(-3, 100), a.float(), a.long()), x)
    parity(lambda a: (a.sum(), a.sum(0), a.amax(1), a.amin(), a.argmax(1)), x)
    parity(lambda a: (a.cumsum(1), a.t().contiguous(), a.to(dm.uint8)), x)


@pytest.mark.parametrize("dtype", SMALL_INTS)
def test_small_integer_indexing_and_accumulation(dtype: str) -> None:
    x, v = _small(dtype, 6), _small(dtype, 7)
    i = idx(0, 3, 3, 3, 0, 1, 1, 1, 2, 2, 2, 2).reshape(3, 4)
    parity(lambda x, v: x[:3, :4].scatter_add(1, i.to(x.device), v[:3, :4]), x, v)
    parity(lambda x, v: x.index_add(0, idx(2, 2, 0).to(x.device), v[:3]), x, v)
    parity(lambda x, v: x.index_put((idx(1, 1, 2).to(x.device),), v[0], accumulate=True), x, v)
    parity(lambda x: (x[idx(3, 0)], x[:, 1:4:2], x.index_select(1, idx(4, 0).to(x.device))), x)
    parity(lambda x, v: dm.where(x > v, x, v), x, v)
    parity(lambda x: dm.zeros_like(x) + dm.full_like(x, 7), x)
