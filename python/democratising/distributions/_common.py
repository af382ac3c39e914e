"""Shared pieces of the added distributions: an ``expand``-capable base class over the package's
``Distribution``, host-side samplers (gamma by Marsaglia-Tsang, binomial as a sum of
Bernoullis) that draw their normals and uniforms from the engine (so ``dm.manual_seed`` makes
them reproducible), the gamma draw's implicit-reparameterisation gradient (through the
incomplete gamma function), and small tensor helpers (``_sum_rightmost``, ``_clamp_probs``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._core import Tensor
from .._function import Function, FunctionCtx
from .._igamma_host import GammaInc as _GammaInc
from .._igamma_host import gammainc_signed as _gammainc_signed
from .._igamma_host import host as _host
from .._igamma_host import lgamma_np as _lgamma_np
from .._igamma_host import to_like as _to_like
from . import Distribution, ShapeLike, _shape, constraints

#: Shared by the distribution modules: the constraint of a positive parameter, and the
#: Euler-Mascheroni constant of their entropies and divergences.
_POS: constraints.Constraint = constraints.positive
_EULER = 0.57721566490153286060


def _finfo(dtype: Any) -> Any:
    from .._pytorch_compat import finfo

    return finfo(dtype)


def _sum_rightmost(value: Tensor, dim: int) -> Tensor:
    """Sums the ``dim`` rightmost dimensions of ``value`` (none when ``dim <= 0``)."""
    if dim <= 0:
        return value
    return value.reshape(*tuple(value.shape)[: value.ndim - dim], -1).sum(-1)


def _clamp_probs(probs: Tensor) -> Tensor:
    eps = _finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def _uniform(shape: tuple[int, ...], like: Tensor) -> Tensor:
    return _core.rand(shape, dtype=like.dtype, device=like.device)


def _normal(shape: tuple[int, ...], like: Tensor) -> Tensor:
    return _core.randn(shape, dtype=like.dtype, device=like.device)


def _standard_gamma(alpha: Tensor) -> Tensor:
    """One Gamma(alpha, 1) draw per element of ``alpha`` (Marsaglia-Tsang; ``alpha < 1`` is
    boosted through ``Gamma(alpha + 1) * U ** (1 / alpha)``), clamped to the dtype's ``tiny``
    as in PyTorch. No gradient."""
    a = _host(alpha).reshape(-1)
    n = a.size
    out = np.zeros(n)
    boost = a < 1
    d = np.where(boost, a + 1, a) - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    todo = np.arange(n)
    while todo.size:
        m = todo.size
        x = _host(_core.randn(m, dtype=_core.float64))
        u = _host(_core.rand(m, dtype=_core.float64))
        v = (1.0 + c[todo] * x) ** 3
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = (v > 0) & (np.log(u) < 0.5 * x * x + d[todo] - d[todo] * v + d[todo] * np.log(v))
        out[todo[ok]] = d[todo[ok]] * v[ok]
        todo = todo[~ok]
    nb = int(boost.sum())
    if nb:
        u = _host(_core.rand(nb, dtype=_core.float64))
        out[boost] *= u ** (1.0 / a[boost])
    tiny = _finfo(alpha.dtype).tiny
    out = np.maximum(out, tiny)
    return _to_like(out.reshape(tuple(alpha.shape)), alpha)


def _gamma_sample_grad(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``dx/da`` of a standard-gamma draw ``x`` held at a fixed CDF level (implicit
    reparameterisation): ``-(dP/da)(a, x) / pdf(x; a)``, with ``dP/da`` a central difference
    of the incomplete gamma function."""
    a = a.reshape(-1)
    x = x.reshape(-1)
    series = x < a + 1
    h = 1e-5 * np.maximum(a, 1e-3)
    dp = (_gammainc_signed(a + h, x, series) - _gammainc_signed(a - h, x, series)) / (2 * h)
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        log_pdf = (a - 1) * np.log(x) - x - _lgamma_np(a)
        grad = -dp * np.exp(-log_pdf)
    return np.where(np.isfinite(grad), grad, 0.0)


class _StandardGamma(Function):
    """A Gamma(alpha, 1) draw per element whose gradient with respect to ``alpha`` is the
    implicit-reparameterisation one (PyTorch's ``_standard_gamma`` backward)."""

    @staticmethod
    def forward(ctx: FunctionCtx, alpha: Tensor) -> Tensor:
        x = _standard_gamma(alpha)
        ctx.save_for_backward(alpha, x)
        return x

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        alpha, x = ctx.saved_tensors
        assert alpha is not None and x is not None  # both saved in forward
        dxda = _gamma_sample_grad(_host(alpha), _host(x)).reshape(tuple(alpha.shape))
        return (g * _to_like(dxda, alpha),)


def _rsample_gamma(alpha: Tensor) -> Tensor:
    """Standard-gamma draws of ``alpha``'s shape, differentiable in ``alpha``."""
    return _StandardGamma.apply(alpha.contiguous())  # type: ignore[no-any-return]


def _binomial(count: Tensor, probs: Tensor) -> Tensor:
    """One Binomial(count, probs) draw per element (``count`` and ``probs`` of one shape): the
    number of engine uniforms below ``probs`` among the first ``count`` of each element."""
    n = _host(count).reshape(-1)
    p = _host(probs).reshape(-1)
    total = np.zeros(n.size)
    top = int(n.max()) if n.size else 0
    chunk = 256
    for start in range(0, top, chunk):
        k = min(chunk, top - start)
        u = _host(_core.rand(k, n.size, dtype=_core.float64))
        live = (np.arange(start, start + k)[:, None] < n[None, :]) & (u < p[None, :])
        total += live.sum(0)
    return _to_like(total.reshape(tuple(count.shape)), probs)


def _expand_any(d: Distribution, batch_shape: ShapeLike) -> Distribution:
    """``d.expand(batch_shape)``; for the package's original distributions (no ``expand``),
    a copy whose batch-shaped tensor attributes are expanded."""
    shape = _shape(batch_shape)
    if hasattr(d, "expand"):
        return d.expand(shape)  # type: ignore[no-any-return]
    old = tuple(d.batch_shape)
    nb = len(old)
    new = object.__new__(type(d))
    new.__dict__.update(d.__dict__)
    for name, v in d.__dict__.items():
        if isinstance(v, Tensor) and v.ndim >= nb and tuple(v.shape)[:nb] == old:
            new.__dict__[name] = v.expand((*shape, *tuple(v.shape)[nb:]))
    new._batch_shape = shape
    return new


class _Base(Distribution):
    """The package's ``Distribution`` plus ``expand`` (tensors named in ``_params`` are expanded
    to the new batch shape, keeping their trailing event dimensions), a ``support`` attribute,
    and ``cdf``/``icdf``/``enumerate_support`` defaults that raise as PyTorch's do."""

    support: Any = constraints.real

    def expand(self, batch_shape: ShapeLike, _instance: Any = None) -> Distribution:
        """A view of this distribution with batch shape ``batch_shape`` (parameters are
        expanded, not copied)."""
        return self._expand_params(batch_shape, _instance)

    def _value(self, value: Any, like: Tensor) -> Tensor:
        from . import _as_tensor

        return _as_tensor(value, like)


def _gammainc(a: Tensor, x: Tensor) -> Tensor:
    """``torch.special.gammainc(a, x)`` (broadcast), differentiable in both arguments."""
    from .. import promote_types
    from . import _broadcast

    if a.dtype != x.dtype:  # PyTorch's promotion (a float64 ``x`` keeps its precision)
        dtype = promote_types(a.dtype, x.dtype)
        a, x = a.to(dtype), x.to(dtype)
    a, x = _broadcast(a, x)
    return _GammaInc.apply(a.contiguous(), x.contiguous())  # type: ignore[no-any-return]
