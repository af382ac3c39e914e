"""``dm.autograd.forward_ad`` (``dual_level``, ``make_dual``, ``unpack_dual``): tangents against
central finite differences in float64 and against ``autograd.functional.jvp``; PyTorch's
forward-AD tutorial (plain functions, a dual input through modules, dual parameters through
``func.functional_call`` and through ``delattr``/``setattr``); PyTorch's errors."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import democratising as dm
from democratising.autograd import forward_ad as fwAD
from democratising.autograd import functional as AF
from democratising.func import functional_call
from helpers import to_numpy

RNG = np.random.default_rng(28)


def _t(a: np.ndarray, grad: bool = False) -> dm.Tensor:
    return dm.tensor(np.array(a), dtype=dm.float64, requires_grad=grad)


def _np(t: object) -> np.ndarray:
    assert isinstance(t, dm.Tensor)
    return to_numpy(t)


def _fd(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Central difference of ``fn`` at ``x`` along ``v``."""
    eps = 1e-6
    return (fn(x + eps * v) - fn(x - eps * v)) / (2 * eps)


def _fwd_tangent(fn: Callable[[dm.Tensor], dm.Tensor], x: np.ndarray, v: np.ndarray) -> np.ndarray:
    with fwAD.dual_level():
        out = fn(fwAD.make_dual(_t(x), _t(v)))
        tangent = fwAD.unpack_dual(out).tangent
    assert tangent is not None
    return to_numpy(tangent)


def test_tutorial_basic_usage() -> None:
    primal, tangent, plain = (_t(RNG.standard_normal((10, 10))) for _ in range(3))

    def fn(x: dm.Tensor, y: dm.Tensor) -> dm.Tensor:
        return x**2 + y**2

    with fwAD.dual_level():
        dual_input = fwAD.make_dual(primal, tangent)
        assert fwAD.unpack_dual(dual_input).tangent is tangent
        dual_input_alt = fwAD.make_dual(primal, tangent.T)
        assert fwAD.unpack_dual(dual_input_alt).tangent is not tangent
        dual_output = fn(dual_input, plain)
        unpacked = fwAD.unpack_dual(dual_output)
        assert isinstance(unpacked, fwAD.UnpackedDualTensor)
        assert unpacked._fields == ("primal", "tangent")
        jvp = unpacked.tangent
    assert jvp is not None
    np.testing.assert_allclose(to_numpy(jvp), 2 * to_numpy(primal) * to_numpy(tangent))
    np.testing.assert_allclose(to_numpy(unpacked.primal), to_numpy(fn(primal, plain)))
    # Exiting the level forgets the tangents; outside any level the tensor comes back as is.
    outside = fwAD.unpack_dual(dual_output)
    assert outside.tangent is None and outside.primal is dual_output


OPS: list[tuple[str, Callable[..., dm.Tensor], Callable[..., np.ndarray]]] = [
    ("sin_exp", lambda x: x.sin() * x.exp(), lambda a: np.sin(a) * np.exp(a)),
    ("matmul", lambda x: x @ x.T, lambda a: a @ a.T),
    (
        "softmax",
        lambda x: x.softmax(1),
        lambda a: np.exp(a) / np.exp(a).sum(1, keepdims=True),
    ),
    ("tanh_sum", lambda x: x.tanh().sum(0), lambda a: np.tanh(a).sum(0)),
    ("cumsum_t", lambda x: x.cumsum(1).transpose(0, 1), lambda a: a.cumsum(1).T),
    ("index_reshape", lambda x: x[1:, ::2].reshape(-1) * 3, lambda a: a[1:, ::2].reshape(-1) * 3),
    ("norm_div", lambda x: x / x.norm(), lambda a: a / np.linalg.norm(a)),
    ("where_relu", lambda x: dm.where(x > 0, x * x, -x), lambda a: np.where(a > 0, a * a, -a)),
    ("amax", lambda x: x.amax(1), lambda a: a.max(1)),
]


@pytest.mark.parametrize("name,fn,ref", OPS, ids=[o[0] for o in OPS])
def test_ops_against_finite_differences_and_functional_jvp(
    name: str, fn: Callable[[dm.Tensor], dm.Tensor], ref: Callable[[np.ndarray], np.ndarray]
) -> None:
    x = RNG.standard_normal((4, 5)) + 0.05
    v = RNG.standard_normal((4, 5))
    got = _fwd_tangent(fn, x, v)
    np.testing.assert_allclose(got, _fd(ref, x, v), rtol=1e-6, atol=1e-7)
    _, want = AF.jvp(fn, _t(x), _t(v))
    np.testing.assert_allclose(got, _np(want), rtol=1e-12, atol=1e-12)


def test_several_duals_sum_their_contributions_and_float32_tangent() -> None:
    x, y = RNG.standard_normal(6), RNG.standard_normal(6)
    vx, vy = RNG.standard_normal(6), RNG.standard_normal(6)
    with fwAD.dual_level():
        dx = fwAD.make_dual(_t(x), _t(vx))
        # A tangent of another floating dtype is accepted (PyTorch keeps it as given).
        dy = fwAD.make_dual(_t(y), dm.tensor(vy, dtype=dm.float32))
        only_x = fwAD.unpack_dual(dx.exp()).tangent
        both = fwAD.unpack_dual(dx * dy.sin()).tangent
    assert only_x is not None and both is not None
    np.testing.assert_allclose(to_numpy(only_x), np.exp(x) * vx, rtol=1e-12)
    vy32 = vy.astype(np.float32).astype(np.float64)
    want = vx * np.sin(y) + x * np.cos(y) * vy32
    np.testing.assert_allclose(to_numpy(both), want, rtol=1e-12)


def test_non_dual_tensors_have_no_tangent() -> None:
    w = _t(RNG.standard_normal(3), grad=True)
    with fwAD.dual_level():
        plain = _t(RNG.standard_normal(3))
        assert fwAD.unpack_dual(plain).tangent is None
        d = fwAD.make_dual(_t(RNG.standard_normal(3)), _t(RNG.standard_normal(3)))
        # Depends on a tensor requiring grad, but on no dual.
        assert fwAD.unpack_dual(w * 2).tangent is None
        assert fwAD.unpack_dual(d.detach() * 2).tangent is None
        unpacked = fwAD.unpack_dual(d * 2)
        assert unpacked.tangent is not None
        # PyTorch's primal is a view without the tangent.
        assert fwAD.unpack_dual(unpacked.primal).tangent is None
    assert fwAD.unpack_dual(d).tangent is None


def _mlp(seed: int) -> dm.nn.Module:
    dm.manual_seed(seed)
    return dm.nn.Sequential(dm.nn.Linear(5, 7), dm.nn.Tanh(), dm.nn.Linear(7, 3)).double()


def test_dual_input_through_modules() -> None:
    model = _mlp(0)
    x, v = RNG.standard_normal((8, 5)), RNG.standard_normal((8, 5))

    def f(a: np.ndarray) -> np.ndarray:
        with dm.no_grad():
            return to_numpy(model(_t(a)))

    got = _fwd_tangent(model, x, v)
    np.testing.assert_allclose(got, _fd(f, x, v), rtol=1e-6, atol=1e-8)
    _, want = AF.jvp(model, _t(x), _t(v))
    np.testing.assert_allclose(got, _np(want), rtol=1e-12, atol=1e-12)


def _param_fd(model: dm.nn.Module, x: dm.Tensor, tangents: dict[str, np.ndarray]) -> np.ndarray:
    """Central difference of ``model(x)`` along the parameter tangents."""
    base = {n: to_numpy(p) for n, p in model.named_parameters()}

    def at(scale: float) -> np.ndarray:
        moved = {n: _t(base[n] + scale * tangents[n]) for n in base}
        with dm.no_grad():
            return to_numpy(functional_call(model, moved, (x,)))

    eps = 1e-6
    return (at(eps) - at(-eps)) / (2 * eps)


def test_dual_parameters_through_functional_call() -> None:
    model = _mlp(1)
    x = _t(RNG.standard_normal((16, 5)))
    params = dict(model.named_parameters())
    tangents = {n: RNG.random(tuple(p.shape)) for n, p in params.items()}
    with fwAD.dual_level():
        dual_params = {n: fwAD.make_dual(p, _t(tangents[n])) for n, p in params.items()}
        out = functional_call(model, dual_params, (x,))
        jvp = fwAD.unpack_dual(out).tangent
    assert jvp is not None
    np.testing.assert_allclose(to_numpy(jvp), _param_fd(model, x, tangents), rtol=1e-6, atol=1e-8)
    # The module is restored: its own parameters are back and are no duals.
    assert all(p is params[n] for n, p in model.named_parameters())


def test_dual_parameters_set_as_attributes_keep_reverse_mode() -> None:
    model = dm.nn.Linear(5, 5).double()
    x = RNG.standard_normal((16, 5))
    params = dict(model.named_parameters())
    tangents = {n: RNG.random(tuple(p.shape)) for n, p in params.items()}
    want = to_numpy(_t(x) @ _t(tangents["weight"]).T + _t(tangents["bias"]))
    with fwAD.dual_level():
        for name, p in params.items():
            delattr(model, name)
            setattr(model, name, fwAD.make_dual(p, _t(tangents[name])))
        out = model(_t(x))
        jvp = fwAD.unpack_dual(out).tangent
        # Reverse mode through the duals still reaches the original parameters.
        out.sum().backward()
    assert jvp is not None
    np.testing.assert_allclose(to_numpy(jvp), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_np(params["weight"].grad), np.tile(x.sum(0), (5, 1)))
    np.testing.assert_allclose(_np(params["bias"].grad), np.full(5, 16.0))


def test_levels_enter_exit_and_decorator() -> None:
    assert fwAD.enter_dual_level() == 0
    fwAD.exit_dual_level()
    with fwAD.dual_level() as level:
        assert level == 0

    @fwAD.dual_level()
    def inside() -> dm.Tensor:
        d = fwAD.make_dual(_t(np.ones(2)), _t(np.array([1.0, 2.0])))
        tangent = fwAD.unpack_dual(d * 3).tangent
        assert tangent is not None
        return tangent

    np.testing.assert_allclose(to_numpy(inside()), [3.0, 6.0])
    assert fwAD.enter_dual_level() == 0
    fwAD.exit_dual_level(level=0)


def test_errors_match_pytorch() -> None:
    p, t = _t(np.ones(3)), _t(np.ones(3))
    with pytest.raises(RuntimeError, match="no level exists"):
        fwAD.make_dual(p, t)
    with pytest.raises(RuntimeError, match="Dual level must be a positive number"):
        fwAD.exit_dual_level()
    with fwAD.dual_level():
        with pytest.raises(RuntimeError, match="different size than that of the original Tensor"):
            fwAD.make_dual(p, _t(np.ones(4)))
        with pytest.raises(ValueError, match="Expected primal to be floating point"):
            fwAD.make_dual(dm.arange(3), dm.arange(3))
        with pytest.raises(ValueError, match="Expected tangent to be floating point"):
            fwAD.make_dual(p, dm.arange(3))
        with pytest.raises(RuntimeError, match="Nested forward mode AD is not supported"):
            fwAD.enter_dual_level()
        d = fwAD.make_dual(p, t)
        for again in (d, d * 2):
            with pytest.raises(RuntimeError, match="already has a forward gradient"):
                fwAD.make_dual(again, t)
        with pytest.raises(RuntimeError, match="Invalid level given"):
            fwAD.unpack_dual(d, level=3)
        with pytest.raises(RuntimeError, match="not the last one that was created"):
            fwAD.exit_dual_level(level=5)
    with pytest.raises(RuntimeError, match="invalid index"):
        fwAD.make_dual(p, t, level=0)


def test_submodule_import_paths() -> None:
    from democratising.autograd.forward_ad import make_dual

    assert make_dual is fwAD.make_dual
    assert dm.autograd.forward_ad is fwAD


def test_forward_mode_only_function_gives_its_jvp() -> None:
    """PyTorch's tutorial ``Fn``: a custom Function with ``jvp`` and no ``backward``."""

    class Exp(dm.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            result = dm.exp(x)
            ctx.result = result
            return result

        @staticmethod
        def jvp(ctx, g):  # type: ignore[no-untyped-def]
            out = g * ctx.result
            del ctx.result
            return out

    primal = dm.randn(4, 3, dtype=dm.float64)
    tangent = dm.randn(4, 3, dtype=dm.float64)
    with fwAD.dual_level():
        y = Exp.apply(fwAD.make_dual(primal, tangent))
        t = fwAD.unpack_dual(y).tangent
        t2 = fwAD.unpack_dual(y.sin()).tangent
    e = primal.exp().numpy()
    np.testing.assert_allclose(t.numpy(), tangent.numpy() * e, rtol=1e-12)
    np.testing.assert_allclose(t2.numpy(), tangent.numpy() * e * np.cos(e), rtol=1e-12)
