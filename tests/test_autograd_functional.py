"""``dm.autograd.functional`` (jacobian, hessian, vjp, jvp, vhp, hvp) against hand-written NumPy
derivatives, with PyTorch's nesting of single tensors and tuples; ``dm.autograd.gradcheck`` /
``gradgradcheck``; and ``dm.amp.custom_fwd`` / ``custom_bwd``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import democratising as dm
from democratising.autograd import functional as AF
from democratising.errors import ArgumentTypeError, AutogradError, ShapeError
from helpers import assert_close, gradcheck, to_numpy

RNG = np.random.default_rng(0)


def _t(a: np.ndarray, grad: bool = False) -> dm.Tensor:
    t = dm.tensor(np.array(a), dtype=dm.float64)
    return t.requires_grad_(True) if grad else t


XA = RNG.standard_normal((2, 3))
YA = RNG.standard_normal(3)


def _f(x: dm.Tensor, y: dm.Tensor) -> tuple[dm.Tensor, dm.Tensor]:
    return (x * y).sin().sum(0), x.exp()


def _jac_f_np() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Hand derivatives of ``_f``: out0[j] = sum_i sin(x[i,j] y[j]); out1 = exp(x)."""
    c = np.cos(XA * YA)
    d0x = np.zeros((3, 2, 3))
    for j in range(3):
        d0x[j, :, j] = c[:, j] * YA[j]
    d0y = np.diag((c * XA).sum(0))
    d1x = np.zeros((2, 3, 2, 3))
    for i in range(2):
        for j in range(3):
            d1x[i, j, i, j] = np.exp(XA[i, j])
    return (d0x, d0y), (d1x, np.zeros((2, 3, 3)))


def _scalar(x: dm.Tensor, y: dm.Tensor) -> dm.Tensor:
    return (x.pow(2) * y).sum() + y.pow(3).sum()


def _hess_np() -> np.ndarray:
    """Hessian of ``_scalar`` over the flattened (x, y) (6 + 3 variables)."""
    h = np.zeros((9, 9))
    for i in range(2):
        for j in range(3):
            k = 3 * i + j
            h[k, k] = 2 * YA[j]
            h[k, 6 + j] = h[6 + j, k] = 2 * XA[i, j]
    for j in range(3):
        h[6 + j, 6 + j] = 6 * YA[j]
    return h


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_jacobian_tuple_structure_and_values(strategy: str) -> None:
    jac = AF.jacobian(_f, (_t(XA), _t(YA)), strategy=strategy)
    ref = _jac_f_np()
    assert isinstance(jac, tuple) and len(jac) == 2
    for row, rrow in zip(jac, ref):
        assert isinstance(row, tuple) and len(row) == 2
        for got, exp in zip(row, rrow):
            assert_close(got, exp, rtol=1e-10, atol=1e-12)
            assert not got.requires_grad


def test_jacobian_single_tensor_and_mixed_structure() -> None:
    j = AF.jacobian(lambda x: x.exp(), _t(XA))
    assert isinstance(j, dm.Tensor) and tuple(j.shape) == (2, 3, 2, 3)
    assert_close(j, _jac_f_np()[1][0], rtol=1e-12)
    # one output, tuple of inputs -> tuple; tuple of outputs, one input -> tuple
    j2 = AF.jacobian(lambda x, y: (x * y).sin().sum(0), (_t(XA), _t(YA)))
    assert isinstance(j2, tuple) and len(j2) == 2 and isinstance(j2[0], dm.Tensor)
    j3 = AF.jacobian(lambda x: (x.sum(), x * 2), _t(YA))
    assert isinstance(j3, tuple) and tuple(j3[0].shape) == (3,)
    assert_close(j3[1], 2 * np.eye(3))


def test_jacobian_unused_input_zero_or_strict_error() -> None:
    j = AF.jacobian(lambda a, b: a * 2, (_t(YA), _t(YA)))
    assert_close(j[1], np.zeros((3, 3)))
    with pytest.raises(AutogradError, match="independent of input 1"):
        AF.jacobian(lambda a, b: a * 2, (_t(YA), _t(YA)), strict=True)
    with pytest.raises(ValueError, match="forward-mode"):
        AF.jacobian(lambda a: a, _t(YA), strategy="sideways")
    with pytest.raises(AutogradError, match="not supported together"):
        AF.jacobian(lambda a: a * 2, _t(YA), strict=True, vectorize=True)


def test_jacobian_create_graph_and_noncontiguous_input() -> None:
    x = _t(RNG.standard_normal((3, 2)), grad=True).t()  # non-contiguous view
    j = AF.jacobian(lambda a: a.pow(3), x, create_graph=True)
    assert j.requires_grad
    (g,) = dm.autograd.grad(j.sum(), x)
    assert_close(g, 6 * to_numpy(x))


def test_jacobian_empty_input() -> None:
    j = AF.jacobian(lambda a: a * 2, _t(np.zeros((0, 2))))
    assert tuple(j.shape) == (0, 2, 0, 2)


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_hessian_tuple_and_single(strategy: str) -> None:
    h = AF.hessian(_scalar, (_t(XA), _t(YA)), outer_jacobian_strategy=strategy)
    ref = _hess_np()
    blocks = [[ref[:6, :6], ref[:6, 6:]], [ref[6:, :6], ref[6:, 6:]]]
    shapes = [(2, 3), (3,)]
    for a in range(2):
        for b in range(2):
            exp = blocks[a][b].reshape(shapes[a] + shapes[b])
            assert_close(h[a][b], exp, rtol=1e-10, atol=1e-12)
    hs = AF.hessian(lambda y: y.pow(3).sum(), _t(YA))
    assert isinstance(hs, dm.Tensor)
    assert_close(hs, np.diag(6 * YA), rtol=1e-12)


def test_hessian_rejects_non_scalar() -> None:
    with pytest.raises(AutogradError, match="single element"):
        AF.hessian(lambda y: y * 2, _t(YA))


def test_vjp_and_jvp_against_jacobian() -> None:
    ref = _jac_f_np()
    v0, v1 = RNG.standard_normal(3), RNG.standard_normal((2, 3))
    out, (gx, gy) = AF.vjp(_f, (_t(XA), _t(YA)), (_t(v0), _t(v1)))
    assert isinstance(out, tuple) and len(out) == 2
    assert_close(out[0], np.sin(XA * YA).sum(0))
    ex = np.einsum("j,jab->ab", v0, ref[0][0]) + np.einsum("ij,ijab->ab", v1, ref[1][0])
    ey = np.einsum("j,jb->b", v0, ref[0][1])
    assert_close(gx, ex, rtol=1e-10)
    assert_close(gy, ey, rtol=1e-10)
    tx, ty = RNG.standard_normal((2, 3)), RNG.standard_normal(3)
    out, (t0, t1) = AF.jvp(_f, (_t(XA), _t(YA)), (_t(tx), _t(ty)))
    assert_close(t0, np.einsum("jab,ab->j", ref[0][0], tx) + ref[0][1] @ ty, rtol=1e-10)
    assert_close(t1, np.exp(XA) * tx, rtol=1e-10)


def test_vjp_jvp_single_tensor_and_default_v() -> None:
    out, g = AF.vjp(lambda y: y.pow(3).sum(), _t(YA))
    assert isinstance(out, dm.Tensor) and isinstance(g, dm.Tensor)
    assert_close(g, 3 * YA**2, rtol=1e-12)
    out, t = AF.jvp(lambda s: s * float(YA[0]), _t(np.array(2.0)))
    assert_close(t, np.array(YA[0]))
    with pytest.raises(ValueError, match="v can only be None"):
        AF.vjp(lambda y: y * 2, _t(YA))
    with pytest.raises(ValueError, match="v can only be None"):
        AF.jvp(lambda y: y * 2, _t(YA))


def test_v_validation_and_type_errors() -> None:
    with pytest.raises(ShapeError, match="v has invalid size"):
        AF.vjp(lambda y: y * 2, _t(YA), _t(np.ones(4)))
    with pytest.raises(ShapeError, match="invalid length"):
        AF.jvp(lambda a, b: a * b, (_t(YA), _t(YA)), (_t(YA),))
    with pytest.raises(ArgumentTypeError, match="must be either a Tensor or a tuple"):
        AF.vjp(lambda y: y, [1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(AutogradError, match="does not require gradients"):
        AF.vjp(lambda y: dm.ones(3, dtype=dm.float64), _t(YA), _t(YA), strict=True)


def test_vhp_hvp() -> None:
    ref = _hess_np()
    vx, vy = RNG.standard_normal((2, 3)), RNG.standard_normal(3)
    vflat = np.concatenate([vx.reshape(-1), vy])
    hv = ref @ vflat  # symmetric: vhp == hvp
    for fn in (AF.vhp, AF.hvp):
        out, (gx, gy) = fn(_scalar, (_t(XA), _t(YA)), (_t(vx), _t(vy)))
        assert isinstance(out, dm.Tensor) and tuple(out.shape) == ()
        assert_close(out, np.array((XA**2 * YA).sum() + (YA**3).sum()), rtol=1e-12)
        assert_close(gx, hv[:6].reshape(2, 3), rtol=1e-10)
        assert_close(gy, hv[6:], rtol=1e-10)
    out, g = AF.hvp(lambda y: y.pow(3).sum(), _t(YA), _t(vy))
    assert isinstance(g, dm.Tensor)
    assert_close(g, 6 * YA * vy, rtol=1e-12)
    with pytest.raises(AutogradError, match="should return a single Tensor"):
        AF.vhp(lambda y: (y.sum(), y.sum()), _t(YA), _t(YA))


def test_create_graph_keeps_graph_for_higher_order() -> None:
    y = _t(YA, grad=True)
    _, g = AF.vjp(lambda a: a.pow(3).sum(), y, create_graph=True)
    assert g.requires_grad
    (gg,) = dm.autograd.grad(g.sum(), y)
    assert_close(gg, 6 * YA, rtol=1e-12)
    _, g2 = AF.vjp(lambda a: a.pow(3).sum(), y)
    assert not g2.requires_grad


def test_functional_results_pass_finite_difference_check() -> None:
    def vjp_x(x: dm.Tensor) -> dm.Tensor:
        return AF.vjp(lambda a: a.sin() * a, x, dm.ones_like(x), create_graph=True)[1]

    gradcheck(vjp_x, [_t(YA, grad=True)])


# ---- gradcheck / gradgradcheck -----------------------------------------------------------------


class _WrongBackward(dm.autograd.Function):
    @staticmethod
    def forward(ctx: object, a: dm.Tensor) -> dm.Tensor:
        return a * 2

    @staticmethod
    def backward(ctx: object, g: dm.Tensor) -> dm.Tensor:
        return g * 3


class _DetachedBackward(dm.autograd.Function):
    """``a²`` with a correct first derivative that hides ``a`` from double backward."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * a

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * 2 * a.detach()


def test_gradcheck_passes_and_fails() -> None:
    x, y = _t(XA, grad=True), _t(YA, grad=True)
    assert dm.autograd.gradcheck(_f, (x, y)) is True
    assert dm.autograd.gradcheck(_f, (x, y), check_forward_ad=True) is True
    assert dm.autograd.gradcheck(lambda a: a.exp(), x) is True
    assert dm.autograd.gradcheck(_WrongBackward.apply, (y,), raise_exception=False) is False
    with pytest.raises(dm.autograd.GradcheckError, match="Jacobian mismatch for output 0"):
        dm.autograd.gradcheck(_WrongBackward.apply, (y,))
    assert issubclass(dm.autograd.GradcheckError, RuntimeError)


def test_gradcheck_errors_and_float32_warning() -> None:
    with pytest.raises(ValueError, match="at least one input tensor to require gradient"):
        dm.autograd.gradcheck(lambda a: a * 2, (_t(YA),))
    x32 = dm.ones(3, requires_grad=True)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        assert dm.autograd.gradcheck(lambda a: a * 2, x32, eps=1e-2, atol=1e-3)
    assert any("not a double precision" in str(w.message) for w in rec)


def test_gradgradcheck() -> None:
    x, y = _t(XA, grad=True), _t(YA, grad=True)
    assert dm.autograd.gradgradcheck(_scalar, (x, y)) is True
    assert dm.autograd.gradgradcheck(lambda a: a.sin() * a, (y,), (_t(YA, grad=True),))
    assert dm.autograd.gradcheck(_DetachedBackward.apply, (y,))
    assert not dm.autograd.gradgradcheck(_DetachedBackward.apply, (y,), raise_exception=False)
    with pytest.raises(dm.autograd.GradcheckError, match="with respect to input 0"):
        dm.autograd.gradgradcheck(_DetachedBackward.apply, (y,))


# ---- amp.custom_fwd / custom_bwd ---------------------------------------------------------------


def test_custom_fwd_casts_inputs_and_disables_autocast() -> None:
    seen: dict[str, object] = {}

    class MyMM(dm.autograd.Function):
        @staticmethod
        @dm.amp.custom_fwd(device_type="cpu", cast_inputs=dm.float32)
        def forward(ctx, a, b):
            seen["fwd"] = (a.dtype, b.dtype, dm.amp.is_autocast_enabled())
            ctx.save_for_backward(a, b)
            return a.mm(b)

        @staticmethod
        @dm.amp.custom_bwd(device_type="cpu")
        def backward(ctx, g):
            seen["bwd"] = dm.amp.is_autocast_enabled()
            a, b = ctx.saved_tensors
            return g.mm(b.t()), a.t().mm(g)

    a = dm.randn(2, 3, dtype=dm.float16, requires_grad=True)
    b = dm.randn(3, 2, requires_grad=True)
    with dm.amp.autocast("cpu", dtype=dm.bfloat16):
        out = MyMM.apply(a, b)
    assert out.dtype == dm.float32
    assert seen["fwd"] == (dm.float32, dm.float32, False)
    out.sum().backward()
    assert seen["bwd"] is False and a.grad is not None and a.grad.dtype == dm.float16
    # outside autocast: no casting
    MyMM.apply(a.detach().float(), b)
    assert seen["fwd"] == (dm.float32, dm.float32, False)


def test_custom_fwd_without_cast_keeps_state_for_backward() -> None:
    seen: dict[str, object] = {}

    class Twice(dm.autograd.Function):
        @staticmethod
        @dm.amp.custom_fwd(device_type="cpu")
        def forward(ctx, a):
            seen["f"] = (dm.amp.is_autocast_enabled(), dm.amp.get_autocast_dtype())
            return a * 2

        @staticmethod
        @dm.amp.custom_bwd(device_type="cpu")
        def backward(ctx, g):
            seen["b"] = (dm.amp.is_autocast_enabled(), dm.amp.get_autocast_dtype())
            return g * 2

    x = dm.ones(2, requires_grad=True)
    with dm.amp.autocast("cpu", dtype=dm.bfloat16):
        y = Twice.apply(x)
    assert not dm.amp.is_autocast_enabled()
    y.sum().backward()
    assert seen["f"] == (True, dm.bfloat16) and seen["b"] == (True, dm.bfloat16)
    assert_close(x.grad, np.full(2, 2.0))
    with pytest.raises(ValueError, match="device_type"):
        dm.amp.custom_fwd(device_type=1)  # type: ignore[arg-type]
