"""The regularised incomplete gamma function ``P(a, x)`` on the host, in NumPy, each element
iterated until it converges (Numerical Recipes' series and continued fraction): exact to
rounding for any ``a`` up to about ``1e8``, where the engine-op version in ``special`` stops
at a fixed number of steps. ``Gamma``'s CDF and the gamma sampler's gradient use it, and
``special.gammainc`` for large ``a``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _core
from ._core import Tensor
from ._function import Function, FunctionCtx


def host(t: Tensor) -> np.ndarray:
    """``t``'s values as a float64 NumPy array (from any device)."""
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


def to_like(a: np.ndarray, like: Tensor) -> Tensor:
    """The host array ``a`` as a tensor of ``like``'s dtype and device."""
    # ``ascontiguousarray`` turns a 0-d array into shape (1,): restore the shape.
    flat = np.ascontiguousarray(a, dtype=np.float64).reshape(np.shape(a))
    out = _core.from_numpy(flat).to(like.dtype)
    return out if like.device.type == "cpu" else out.to(like.device)


lgamma_np = np.vectorize(math.lgamma, otypes=[np.float64])


#: ``a`` above which ``log_prefactor`` takes Stirling's series (three terms: exact to rounding).
STIRLING_FROM = 1e3


def log_prefactor(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``a ln x - x - ln Gamma(a)``. For large ``a`` its three terms are each far larger than
    their sum (``1.6e8`` at ``a = 1e7``, each rounded to ``1e-8``): there it is
    ``a (log1p(t) - t) + ln(a / 2 pi) / 2 - stirling(a)`` with ``t = (x - a) / a``."""
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        out = a * np.log(x) - x - lgamma_np(a)
        big = a > STIRLING_FROM
        ab, xb = a[big], x[big]
        t = (xb - ab) / ab
        series = 1 / (12 * ab) - 1 / (360 * ab**3) + 1 / (1260 * ab**5)
        out[big] = ab * (np.log1p(t) - t) + 0.5 * np.log(ab / (2 * math.pi)) - series
    return out  # type: ignore[no-any-return]


def gammainc_signed(a: np.ndarray, x: np.ndarray, series: np.ndarray) -> np.ndarray:
    """``P(a, x)`` (regularised lower incomplete gamma) where ``series``, ``-Q(a, x)`` elsewhere:
    both branches are accurate to rounding in relative terms and share ``dP/da``. Series for
    ``x < a + 1``, Lentz's continued fraction otherwise (Numerical Recipes' ``gser``/``gcf``)."""
    out = np.zeros(a.shape)
    log_pref = log_prefactor(a, x)
    eps, tiny = 1e-16, 1e-300
    s = np.nonzero(series)[0]
    if s.size:
        aa, xx = a[s], x[s]
        ap = aa.copy()
        term = 1.0 / aa
        total = term.copy()
        live = np.ones(s.size, dtype=bool)
        for _ in range(100_000):
            ap = ap + 1
            term = np.where(live, term * xx / ap, 0.0)
            total = total + term
            live = np.abs(term) > np.abs(total) * eps
            if not live.any():
                break
        out[s] = total * np.exp(log_pref[s])
    c_idx = np.nonzero(~series)[0]
    if c_idx.size:
        aa, xx = a[c_idx], x[c_idx]
        b = xx + 1 - aa
        c = np.full(c_idx.size, 1 / tiny)
        d = 1 / b
        h = d.copy()
        live = np.ones(c_idx.size, dtype=bool)
        for i in range(1, 100_000):
            an = -i * (i - aa)
            b = b + 2
            d = an * d + b
            d = np.where(np.abs(d) < tiny, tiny, d)
            c = b + an / c
            c = np.where(np.abs(c) < tiny, tiny, c)
            d = 1 / d
            delta = np.where(live, d * c, 1.0)
            h = h * delta
            live = np.abs(delta - 1) > eps
            if not live.any():
                break
        out[c_idx] = -np.exp(log_pref[c_idx]) * h
    return out


def incomplete_gamma_np(a: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(P(a, x), Q(a, x))``, the regularised lower and upper incomplete gamma functions, on
    the host (flattened), each accurate where it is small: ``x = 0`` gives ``P = 0``,
    ``x = inf`` ``P = 1``, a negative ``x`` NaN, as ``torch.special.gammainc``."""
    a = a.reshape(-1)
    x = x.reshape(-1)
    p = np.full(a.shape, np.nan)
    q = p.copy()
    ok = (x >= 0) & np.isfinite(x) & (a > 0)
    series = x < a + 1
    signed = gammainc_signed(a[ok], x[ok], series[ok])
    p[ok] = np.where(series[ok], signed, 1.0 + signed)
    q[ok] = np.where(series[ok], 1.0 - signed, -signed)
    top = (x == np.inf) & (a > 0)
    p[top], q[top] = 1.0, 0.0
    return p, q


def gammainc_np(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``P(a, x)`` of ``incomplete_gamma_np``."""
    return incomplete_gamma_np(a, x)[0]


class GammaInc(Function):
    """``P(a, x)`` with gradients: ``dP/dx`` is the gamma density, ``dP/da`` a central
    difference of the incomplete gamma function."""

    @staticmethod
    def forward(ctx: FunctionCtx, a: Tensor, x: Tensor) -> Tensor:
        ctx.save_for_backward(a, x)
        shape = tuple(a.shape)
        return to_like(gammainc_np(host(a), host(x)).reshape(shape), a)

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        a_t, x_t = ctx.saved_tensors
        assert a_t is not None and x_t is not None  # both saved in forward
        shape = tuple(a_t.shape)
        a, x = host(a_t).reshape(-1), host(x_t).reshape(-1)
        with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
            dx = np.exp((a - 1) * np.log(x) - x - lgamma_np(a))
            series = x < a + 1
            h = 1e-5 * np.maximum(a, 1e-3)
            da = (gammainc_signed(a + h, x, series) - gammainc_signed(a - h, x, series)) / (2 * h)
        dx = np.where(np.isnan(dx), 0.0, dx).reshape(shape)  # inf density at 0 stays
        da = np.where(np.isfinite(da), da, 0.0).reshape(shape)
        return g * to_like(da, a_t), g * to_like(dx, a_t)
