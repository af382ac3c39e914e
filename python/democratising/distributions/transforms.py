"""PyTorch's ``torch.distributions.transforms``: the ``Transform`` base (``__call__``, ``inv``,
``log_abs_det_jacobian``, ``sign``, event dimensions, ``cache_size``) and ``ExpTransform``,
``AffineTransform``, ``SigmoidTransform``, ``TanhTransform``, ``SoftmaxTransform``,
``ComposeTransform``, ``PowerTransform``, ``AbsTransform``, the matrix transforms
(``LowerCholeskyTransform``, ``PositiveDefiniteTransform``, ``CorrCholeskyTransform``),
``ReshapeTransform``, ``CumulativeDistributionTransform`` and the functors ``CatTransform``
and ``StackTransform`` (one transform per slice of a dimension), written over differentiable
engine ops. Domains and codomains are ``constraints`` objects, as PyTorch's."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

from .. import _core
from .._core import Tensor
from ..errors import ArgumentTypeError, InvalidValueError
from . import constraints
from ._common import _finfo, _sum_rightmost
from .constraints import _AssertionShapeError, _AssertionTypeError, _AssertionValueError, _check_dim

__all__ = [
    "AbsTransform",
    "AffineTransform",
    "CatTransform",
    "ComposeTransform",
    "CorrCholeskyTransform",
    "CumulativeDistributionTransform",
    "ExpTransform",
    "IndependentTransform",
    "LowerCholeskyTransform",
    "PositiveDefiniteTransform",
    "PowerTransform",
    "ReshapeTransform",
    "SigmoidTransform",
    "SoftmaxTransform",
    "SoftplusTransform",
    "StackTransform",
    "StickBreakingTransform",
    "TanhTransform",
    "Transform",
    "identity_transform",
]


def _independent(constraint: constraints.Constraint, event_dim: int) -> constraints.Constraint:
    """``constraint`` reinterpreted over ``event_dim`` dimensions (``constraints.independent``
    when that adds dimensions), as PyTorch's transforms build their domains."""
    extra = event_dim - constraint.event_dim
    return constraints.independent(constraint, extra) if extra > 0 else constraint


class Transform:
    """An invertible (or at least forward-computable) map ``y = t(x)`` with
    ``log_abs_det_jacobian(x, y)``. ``inv`` is the inverse transform; with ``cache_size=1``
    the last ``(x, y)`` pair is remembered so ``t.inv(t(x))`` returns ``x`` itself."""

    bijective = False
    domain: constraints.Constraint = constraints.real
    codomain: constraints.Constraint = constraints.real
    domain_event_dim = 0
    codomain_event_dim = 0

    def __init__(self, cache_size: int = 0) -> None:
        if cache_size not in (0, 1):
            raise InvalidValueError("cache_size must be 0 or 1")
        self._cache_size = cache_size
        self._cached: Optional[tuple[Tensor, Tensor]] = None
        self._inv: Optional[Transform] = None

    @property
    def event_dim(self) -> int:
        """The number of rightmost dimensions that make one event (``domain`` side)."""
        if self.domain_event_dim != self.codomain_event_dim:
            raise InvalidValueError("Please use either .domain.event_dim or .codomain.event_dim")
        return self.domain_event_dim

    @property
    def inv(self) -> Transform:
        """The inverse transform (``inv.inv`` is this transform)."""
        if self._inv is None:
            self._inv = _InverseTransform(self)
        return self._inv

    @property
    def sign(self) -> Union[int, Tensor]:
        """The sign of the Jacobian determinant, for bijective monotone transforms."""
        raise NotImplementedError

    def with_cache(self, cache_size: int = 1) -> Transform:
        """This transform with the given ``cache_size``."""
        if self._cache_size == cache_size:
            return self
        return self._with_cache_size(cache_size)

    def _with_cache_size(self, cache_size: int) -> Transform:
        """A new copy of this transform with ``cache_size`` (the transforms with parameters
        rebuild themselves from them)."""
        if type(self).__init__ is Transform.__init__:
            return type(self)(cache_size=cache_size)
        raise NotImplementedError(f"{type(self)}.with_cache is not implemented")

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return id(self)

    def _through_cache(self, arg: Tensor, side: int, fn: Callable[[Tensor], Tensor]) -> Tensor:
        """``fn(arg)``, or the cached answer when ``arg`` is side ``side`` (0: x, 1: y) of the
        cached ``(x, y)`` pair: both directions share one cache, so an inverse call on a value
        this transform produced gives back the very input."""
        if self._cache_size == 0:
            return fn(arg)
        if self._cached is not None and self._cached[side] is arg:
            return self._cached[1 - side]
        out = fn(arg)
        self._cached = (arg, out) if side == 0 else (out, arg)
        return out

    def __call__(self, x: Tensor) -> Tensor:
        return self._through_cache(x, 0, self._call)

    def _inv_call(self, y: Tensor) -> Tensor:
        return self._through_cache(y, 1, self._inverse)

    def _call(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _inverse(self, y: Tensor) -> Tensor:
        raise NotImplementedError

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """``log |dy/dx|`` at ``x`` (``y = t(x)``), summed over the event dimensions."""
        raise NotImplementedError

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """The output shape for an input of ``shape``."""
        return tuple(shape)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """The input shape for an output of ``shape``."""
        return tuple(shape)

    def __repr__(self) -> str:
        return type(self).__name__ + "()"


class _InverseTransform(Transform):
    """The inverse of a transform: calls swap, the log-Jacobian changes sign."""

    def __init__(self, transform: Transform) -> None:
        super().__init__(cache_size=transform._cache_size)
        self._inv = transform
        self.bijective = transform.bijective
        self.domain = transform.codomain
        self.codomain = transform.domain
        self.domain_event_dim = transform.codomain_event_dim
        self.codomain_event_dim = transform.domain_event_dim

    @property
    def inv(self) -> Transform:
        assert self._inv is not None
        return self._inv

    @property
    def sign(self) -> Union[int, Tensor]:
        return self.inv.sign

    def __call__(self, x: Tensor) -> Tensor:
        return self.inv._inv_call(x)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return -self.inv.log_abs_det_jacobian(y, x)

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return self.inv.inverse_shape(shape)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return self.inv.forward_shape(shape)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _InverseTransform) and self.inv == other.inv

    def __hash__(self) -> int:
        return hash(("inv", self.inv))

    def __repr__(self) -> str:
        return f"{type(self.inv).__name__}().inv"


class _ParameterFree(Transform):
    """Base of the transforms without parameters, which PyTorch makes equal (and hash alike)
    whenever they are of one class: ``isinstance`` against the class directly below this one."""

    _family: type

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if _ParameterFree in cls.__bases__:
            cls._family = cls

    def __eq__(self, other: object) -> bool:
        return isinstance(other, self._family)

    def __hash__(self) -> int:
        return hash(self._family)


class _Increasing:
    """Mixin of the parameter-free transforms that are increasing bijections (``sign`` +1)."""

    bijective = True
    sign = 1


class ExpTransform(_Increasing, _ParameterFree):
    """``y = exp(x)``."""

    codomain = constraints.positive

    def _call(self, x: Tensor) -> Tensor:
        return x.exp()

    def _inverse(self, y: Tensor) -> Tensor:
        return y.log()

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return x


def _sign(param: Union[Tensor, float]) -> Union[int, Tensor]:
    """The sign of a number or, elementwise, of a tensor: the ``sign`` of the transforms whose
    monotonicity one parameter decides."""
    if isinstance(param, Tensor):
        return param.sign()
    return 1 if param > 0 else -1 if param < 0 else 0


def _same_param(a: Any, b: Any) -> bool:
    """Whether two transform parameters (numbers or tensors) are equal everywhere: the
    parameter comparison of the transforms' ``__eq__``."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        ta, tb = (a, b) if isinstance(a, Tensor) else (b, a)
        return bool((ta == tb).all().item())
    return bool(a == b)


class PowerTransform(Transform):
    """``y = x ** exponent`` on the positive reals."""

    bijective = True
    domain = constraints.positive
    codomain = constraints.positive

    def __init__(self, exponent: Union[Tensor, float], cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.exponent = exponent

    @property
    def sign(self) -> Union[int, Tensor]:  # type: ignore[override]
        return _sign(self.exponent)

    def _with_cache_size(self, cache_size: int) -> Transform:
        return PowerTransform(self.exponent, cache_size=cache_size)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PowerTransform) and _same_param(self.exponent, other.exponent)

    def __hash__(self) -> int:
        return hash(("pow", id(self.exponent)))

    def _call(self, x: Tensor) -> Tensor:
        return x.pow(self.exponent)

    def _inverse(self, y: Tensor) -> Tensor:
        return y.pow(1 / self.exponent)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return (self.exponent * y / x).abs().log()


def _clipped_sigmoid(x: Tensor) -> Tensor:
    fi = _finfo(x.dtype)
    return x.sigmoid().clamp(min=fi.tiny, max=1.0 - fi.eps)


class SigmoidTransform(_Increasing, _ParameterFree):
    """``y = sigmoid(x)``, clipped to ``[tiny, 1 - eps]`` as in PyTorch; inverse ``logit``."""

    codomain = constraints.unit_interval

    def _call(self, x: Tensor) -> Tensor:
        return _clipped_sigmoid(x)

    def _inverse(self, y: Tensor) -> Tensor:
        fi = _finfo(y.dtype)
        y = y.clamp(min=fi.tiny, max=1.0 - fi.eps)
        return y.log() - (-y).log1p()

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return -(-x).softplus() - x.softplus()


class TanhTransform(_Increasing, _ParameterFree):
    """``y = tanh(x)`` with PyTorch's stable ``log|dy/dx| = 2 (log 2 - x - softplus(-2x))``
    (the squashing used by SAC policies)."""

    codomain = constraints.interval(-1.0, 1.0)

    def _call(self, x: Tensor) -> Tensor:
        return x.tanh()

    def _inverse(self, y: Tensor) -> Tensor:
        return 0.5 * (y.log1p() - (-y).log1p())

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return 2.0 * (math.log(2.0) - x - (-2.0 * x).softplus())


class AbsTransform(_ParameterFree):
    """``y = |x|`` (not bijective: the inverse is ``y`` itself)."""

    codomain = constraints.positive  # PyTorch's ``constraints.positive``

    def _call(self, x: Tensor) -> Tensor:
        return x.abs()

    def _inverse(self, y: Tensor) -> Tensor:
        return y


class AffineTransform(Transform):
    """``y = loc + scale * x``; ``event_dim`` rightmost dimensions form one event (their
    log-Jacobians are summed)."""

    bijective = True

    def __init__(
        self,
        loc: Union[Tensor, float],
        scale: Union[Tensor, float],
        event_dim: int = 0,
        cache_size: int = 0,
    ) -> None:
        super().__init__(cache_size=cache_size)
        self.loc = loc
        self.scale = scale
        self._event_dim = int(event_dim)
        self.domain_event_dim = self._event_dim
        self.codomain_event_dim = self._event_dim
        self.domain = self.codomain = _independent(constraints.real, self._event_dim)

    @property
    def event_dim(self) -> int:
        return self._event_dim

    @property
    def sign(self) -> Union[int, Tensor]:  # type: ignore[override]
        return _sign(self.scale)

    def _with_cache_size(self, cache_size: int) -> Transform:
        return AffineTransform(self.loc, self.scale, self._event_dim, cache_size=cache_size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AffineTransform):
            return False
        return _same_param(self.loc, other.loc) and _same_param(self.scale, other.scale)

    def __hash__(self) -> int:
        return hash(("affine", id(self.loc), id(self.scale)))

    def _call(self, x: Tensor) -> Tensor:
        return self.loc + self.scale * x

    def _inverse(self, y: Tensor) -> Tensor:
        return (y - self.loc) / self.scale

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        shape = tuple(x.shape)
        scale = self.scale
        if isinstance(scale, Tensor):
            result = scale.abs().log()
        else:
            result = _core.full(shape, math.log(abs(scale)), dtype=x.dtype, device=x.device)
        if self._event_dim:
            result = _sum_rightmost(result, self._event_dim)
            shape = shape[: len(shape) - self._event_dim]
        return result.expand(shape)

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        from . import _core_broadcast_shape

        for p in (self.loc, self.scale):
            if isinstance(p, Tensor):
                shape = _core_broadcast_shape(tuple(shape), tuple(p.shape))
        return tuple(shape)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return self.forward_shape(shape)


class SoftmaxTransform(_ParameterFree):
    """``y = softmax(x)`` over the last dimension (not bijective; the inverse is ``log y``,
    one of the preimages)."""

    domain = constraints.real_vector
    codomain = constraints.simplex
    domain_event_dim = 1
    codomain_event_dim = 1

    def _call(self, x: Tensor) -> Tensor:
        logprobs = x
        probs = (logprobs - logprobs.max(-1, keepdim=True)[0]).exp()
        return probs / probs.sum(-1, keepdim=True)

    def _inverse(self, y: Tensor) -> Tensor:
        return y.log()


class ComposeTransform(Transform):
    """``parts`` applied in order; its inverse applies the parts' inverses in reverse, and its
    log-Jacobian sums the parts' (each summed over the composed event dimensions)."""

    def __init__(self, parts: Sequence[Transform], cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.parts = list(parts)
        for p in self.parts:
            if not isinstance(p, Transform):
                raise ArgumentTypeError(f"ComposeTransform: expected Transform parts, got {p!r}")
        self.bijective = all(p.bijective for p in self.parts)
        if not self.parts:
            return
        event_dim = self.parts[-1].codomain_event_dim
        for part in reversed(self.parts):
            event_dim += part.domain_event_dim - part.codomain_event_dim
            event_dim = max(event_dim, part.domain_event_dim)
        self.domain_event_dim = event_dim
        event_dim = self.parts[0].domain_event_dim
        for part in self.parts:
            event_dim += part.codomain_event_dim - part.domain_event_dim
            event_dim = max(event_dim, part.codomain_event_dim)
        self.codomain_event_dim = event_dim
        self.domain = _independent(self.parts[0].domain, self.domain_event_dim)
        self.codomain = _independent(self.parts[-1].codomain, self.codomain_event_dim)

    def _with_cache_size(self, cache_size: int) -> Transform:
        return ComposeTransform(self.parts, cache_size=cache_size)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ComposeTransform) and self.parts == other.parts

    def __hash__(self) -> int:
        return hash(tuple(self.parts))

    @property
    def inv(self) -> Transform:
        if self._inv is None:
            inv = ComposeTransform([p.inv for p in reversed(self.parts)])
            inv._inv = self
            self._inv = inv
        return self._inv

    @property
    def sign(self) -> Union[int, Tensor]:  # type: ignore[override]
        sign: Union[int, Tensor] = 1
        for p in self.parts:
            sign = sign * p.sign
        return sign

    def _call(self, x: Tensor) -> Tensor:
        for part in self.parts:
            x = part(x)
        return x

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        if not self.parts:
            return x * 0
        xs = [x]
        for part in self.parts[:-1]:
            xs.append(part(xs[-1]))
        xs.append(y)
        total: Optional[Tensor] = None
        event_dim = self.domain_event_dim
        for part, a, b in zip(self.parts, xs[:-1], xs[1:]):
            term = _sum_rightmost(
                part.log_abs_det_jacobian(a, b), event_dim - part.domain_event_dim
            )
            total = term if total is None else total + term
            event_dim += part.codomain_event_dim - part.domain_event_dim
        assert total is not None
        return total

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        out = tuple(shape)
        for part in self.parts:
            out = part.forward_shape(out)
        return out

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        out = tuple(shape)
        for part in reversed(self.parts):
            out = part.inverse_shape(out)
        return out

    def __repr__(self) -> str:
        inner = ",\n    ".join(repr(p) for p in self.parts)
        return f"{type(self).__name__}(\n    {inner}\n)"


class SoftplusTransform(_Increasing, _ParameterFree):
    """``y = softplus(x) = log(1 + exp(x))``; inverse ``log(expm1(y))`` computed stably."""

    codomain = constraints.positive

    def _call(self, x: Tensor) -> Tensor:
        return x.softplus()

    def _inverse(self, y: Tensor) -> Tensor:
        return (-(-y).expm1()).log() + y

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return -((-x).softplus())


class StickBreakingTransform(_ParameterFree):
    """Unconstrained ``(..., K - 1)`` vectors to the ``K``-simplex by stick breaking (the
    transform behind ``LogisticNormal``); bijective, unlike ``SoftmaxTransform``."""

    bijective = True
    domain = constraints.real_vector
    codomain = constraints.simplex
    domain_event_dim = 1
    codomain_event_dim = 1

    @staticmethod
    def _log_offset(n: int, like: Tensor) -> Tensor:
        """``log(n + 1 - k)`` for ``k = 1..n``."""
        k = _core.arange(1, n + 1, dtype=like.dtype, device=like.device)
        return (n + 1 - k).log()

    def _call(self, x: Tensor) -> Tensor:
        from ..nn.functional import pad

        z = _clipped_sigmoid(x - self._log_offset(int(x.shape[-1]), x))
        z_cumprod = (1 - z).cumprod(-1)
        return pad(z, (0, 1), value=1.0) * pad(z_cumprod, (1, 0), value=1.0)

    def _inverse(self, y: Tensor) -> Tensor:
        y_crop = y[..., :-1]
        n = int(y_crop.shape[-1])
        k = _core.arange(1, n + 1, dtype=y.dtype, device=y.device)
        offset = (n + 1) - k
        sf = (1 - y_crop.cumsum(-1)).clamp(min=_finfo(y.dtype).tiny)
        return y_crop.log() - sf.log() + offset.log()

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        from ..nn.functional import logsigmoid

        x = x - self._log_offset(int(x.shape[-1]), x)
        return (-x + logsigmoid(x) + y[..., :-1].log()).sum(-1)

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        if len(shape) < 1:
            raise InvalidValueError("Too few dimensions on input")
        return (*tuple(shape)[:-1], int(shape[-1]) + 1)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        if len(shape) < 1:
            raise InvalidValueError("Too few dimensions on input")
        return (*tuple(shape)[:-1], int(shape[-1]) - 1)


class IndependentTransform(Transform):
    """``base_transform`` with its rightmost ``reinterpreted_batch_ndims`` batch dimensions
    made event dimensions: the log-Jacobian is summed over them."""

    def __init__(
        self, base_transform: Transform, reinterpreted_batch_ndims: int, cache_size: int = 0
    ) -> None:
        super().__init__(cache_size=cache_size)
        self.base_transform = base_transform.with_cache(cache_size)
        self.reinterpreted_batch_ndims = int(reinterpreted_batch_ndims)
        self.bijective = base_transform.bijective
        self.domain_event_dim = base_transform.domain_event_dim + self.reinterpreted_batch_ndims
        self.codomain_event_dim = base_transform.codomain_event_dim + self.reinterpreted_batch_ndims
        self.domain = _independent(base_transform.domain, self.domain_event_dim)
        self.codomain = _independent(base_transform.codomain, self.codomain_event_dim)

    def _with_cache_size(self, cache_size: int) -> Transform:
        return IndependentTransform(
            self.base_transform, self.reinterpreted_batch_ndims, cache_size=cache_size
        )

    @property
    def sign(self) -> Union[int, Tensor]:
        return self.base_transform.sign

    def _call(self, x: Tensor) -> Tensor:
        return self.base_transform(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return self.base_transform.inv(y)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        result = self.base_transform.log_abs_det_jacobian(x, y)
        return _sum_rightmost(result, self.reinterpreted_batch_ndims)

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return self.base_transform.forward_shape(shape)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return self.base_transform.inverse_shape(shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_transform!r}, {self.reinterpreted_batch_ndims})"


identity_transform = ComposeTransform([])
"""The identity (an empty ``ComposeTransform``), as ``torch.distributions.transforms``."""


def _tril_placement(n: int, diag: int, like: Tensor) -> Tensor:
    """The ``(N, n * n)`` 0/1 matrix that places a row-order vector of the entries on or below
    diagonal ``diag`` into a flattened ``n x n`` matrix: a matmul keeps both directions
    differentiable without scatter."""
    cells = [i * n + j for i in range(n) for j in range(n) if j <= i + diag]
    place = _core.zeros(len(cells), n * n, dtype=like.dtype, device=like.device)
    for k, c in enumerate(cells):
        place[k, c] = 1.0
    return place


def _tril_size(m: int, diag: int) -> int:
    """The ``n`` whose triangle below diagonal ``diag`` (``diag <= 0``) has ``m`` entries."""
    n = 1
    while (n * (n + 1)) // 2 + diag * n - ((-diag) * (-diag - 1)) // 2 < m:
        n += 1
    if (n * (n + 1)) // 2 + diag * n - ((-diag) * (-diag - 1)) // 2 != m:
        raise InvalidValueError(
            f"The size of last dimension is {m} which cannot be expressed as the lower "
            "triangular part of a square D x D matrix."
        )
    return n


def _vec_to_tril(vec: Tensor, diag: int) -> Tensor:
    n = _tril_size(int(vec.shape[-1]), diag)
    flat = vec @ _tril_placement(n, diag, vec)
    return flat.reshape(*tuple(vec.shape)[:-1], n, n)


def _tril_to_vec(mat: Tensor, diag: int) -> Tensor:
    n = int(mat.shape[-1])
    if diag < -n or diag >= n:
        raise InvalidValueError(f"diag ({diag}) provided is outside [{-n}, {n - 1}].")
    flat = mat.reshape(*tuple(mat.shape)[:-2], n * n)
    return flat @ _tril_placement(n, diag, mat).mT


class LowerCholeskyTransform(_ParameterFree):
    """Unconstrained square matrices to lower-triangular ones with a positive diagonal: the
    strict lower triangle is kept and the diagonal exponentiated (not bijective: the upper
    triangle is dropped)."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.lower_cholesky
    domain_event_dim = 2
    codomain_event_dim = 2

    def _call(self, x: Tensor) -> Tensor:
        return x.tril(-1) + x.diagonal(dim1=-2, dim2=-1).exp().diag_embed()

    def _inverse(self, y: Tensor) -> Tensor:
        return y.tril(-1) + y.diagonal(dim1=-2, dim2=-1).log().diag_embed()


class PositiveDefiniteTransform(_ParameterFree):
    """Unconstrained square matrices to positive-definite ones, ``L L^T`` of the
    ``LowerCholeskyTransform`` of the input; the inverse goes through the Cholesky factor."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.positive_definite
    domain_event_dim = 2
    codomain_event_dim = 2

    def _call(self, x: Tensor) -> Tensor:
        low = LowerCholeskyTransform()(x)
        return low @ low.mT

    def _inverse(self, y: Tensor) -> Tensor:
        from .. import linalg

        return LowerCholeskyTransform().inv(linalg.cholesky(y))


class CorrCholeskyTransform(Transform):
    """Unconstrained vectors of length ``D (D - 1) / 2`` to Cholesky factors of ``D x D``
    correlation matrices (rows of unit norm, positive diagonal): ``tanh`` then a signed stick
    breaking per row, as PyTorch's (and Stan's). Equal only to itself, as PyTorch's."""

    bijective = True
    domain = constraints.real_vector
    codomain = constraints.corr_cholesky
    domain_event_dim = 1
    codomain_event_dim = 2

    def _call(self, x: Tensor) -> Tensor:
        from ..nn.functional import pad

        eps = _finfo(x.dtype).eps
        r = _vec_to_tril(x.tanh().clamp(min=-1 + eps, max=1 - eps), -1)
        z1m_cumprod_sqrt = (1 - r * r).sqrt().cumprod(-1)
        n = int(r.shape[-1])
        r = r + _core.eye(n, dtype=r.dtype, device=r.device)
        return r * pad(z1m_cumprod_sqrt[..., :-1], (1, 0), value=1.0)

    def _inverse(self, y: Tensor) -> Tensor:
        from ..nn.functional import pad

        y_cumsum = 1 - (y * y).cumsum(-1)
        shifted = pad(y_cumsum[..., :-1], (1, 0), value=1.0)
        t = _tril_to_vec(y, -1) / _tril_to_vec(shifted, -1).sqrt()
        return (t.log1p() - (-t).log1p()) / 2

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        # The log-determinant of ``x`` against the flattened strict lower triangle of ``y``.
        y1m_cumsum = 1 - (y * y).cumsum(-1)
        stick_breaking = 0.5 * _tril_to_vec(y1m_cumsum, -2).log().sum(-1)
        tanh = -2 * (x + (-2 * x).softplus() - math.log(2.0)).sum(-1)
        return stick_breaking + tanh

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        if len(shape) < 1:
            raise InvalidValueError("Too few dimensions on input")
        m = int(shape[-1])
        d = round((0.25 + 2 * m) ** 0.5 + 0.5)
        if d * (d - 1) // 2 != m:
            raise InvalidValueError("Input is not a flattened lower-diagonal number")
        return (*tuple(shape)[:-1], d, d)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        if len(shape) < 2:
            raise InvalidValueError("Too few dimensions on input")
        if shape[-2] != shape[-1]:
            raise InvalidValueError("Input is not square")
        d = int(shape[-1])
        return (*tuple(shape)[:-2], d * (d - 1) // 2)


class ReshapeTransform(Transform):
    """Reshapes the rightmost ``in_shape`` dimensions to ``out_shape`` (same number of
    elements); bijective with a zero log-Jacobian."""

    bijective = True

    def __init__(
        self, in_shape: Sequence[int], out_shape: Sequence[int], cache_size: int = 0
    ) -> None:
        self.in_shape = tuple(int(s) for s in in_shape)
        self.out_shape = tuple(int(s) for s in out_shape)
        if math.prod(self.in_shape) != math.prod(self.out_shape):
            raise InvalidValueError("in_shape, out_shape have different numbers of elements")
        super().__init__(cache_size=cache_size)
        self.domain_event_dim = len(self.in_shape)
        self.codomain_event_dim = len(self.out_shape)
        self.domain = constraints.independent(constraints.real, len(self.in_shape))
        self.codomain = constraints.independent(constraints.real, len(self.out_shape))

    def _with_cache_size(self, cache_size: int) -> Transform:
        return ReshapeTransform(self.in_shape, self.out_shape, cache_size=cache_size)

    def _call(self, x: Tensor) -> Tensor:
        batch = tuple(x.shape)[: x.ndim - len(self.in_shape)]
        return x.reshape((*batch, *self.out_shape))

    def _inverse(self, y: Tensor) -> Tensor:
        batch = tuple(y.shape)[: y.ndim - len(self.out_shape)]
        return y.reshape((*batch, *self.in_shape))

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        batch = tuple(x.shape)[: x.ndim - len(self.in_shape)]
        return _core.zeros(batch, dtype=x.dtype, device=x.device)

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return self._swap(shape, self.in_shape, self.out_shape)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return self._swap(shape, self.out_shape, self.in_shape)

    @staticmethod
    def _swap(shape: Sequence[int], old: tuple[int, ...], new: tuple[int, ...]) -> tuple[int, ...]:
        shape = tuple(int(s) for s in shape)
        if len(shape) < len(old):
            raise InvalidValueError("Too few dimensions on input")
        cut = len(shape) - len(old)
        if shape[cut:] != old:
            raise InvalidValueError(f"Shape mismatch: expected {shape[cut:]} but got {old}")
        return shape[:cut] + new

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_shape}, {self.out_shape})"


class CumulativeDistributionTransform(Transform):
    """``y = distribution.cdf(x)`` onto the unit interval (inverse ``icdf``); the
    log-Jacobian is the density, ``distribution.log_prob(x)``."""

    bijective = True
    # As PyTorch's: the codomain is the elementwise unit interval whatever the event size.
    codomain = constraints.unit_interval

    def __init__(self, distribution: Any, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.distribution = distribution
        self.domain_event_dim = distribution.support.event_dim

    @property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return self.distribution.support

    @property
    def sign(self) -> Union[int, Tensor]:
        return 1

    def _with_cache_size(self, cache_size: int) -> Transform:
        return CumulativeDistributionTransform(self.distribution, cache_size=cache_size)

    def _call(self, x: Tensor) -> Tensor:
        return self.distribution.cdf(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return self.distribution.icdf(y)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return self.distribution.log_prob(x)


def _transform_seq(tseq: Sequence[Transform], cache_size: int) -> list[Transform]:
    """The parts of ``CatTransform``/``StackTransform``, each given the functor's
    ``cache_size`` (as PyTorch: a cached functor caches every part)."""
    if not all(isinstance(t, Transform) for t in tseq):
        raise _AssertionTypeError("All elements of tseq must be Transform instances")
    return [t.with_cache(cache_size) for t in tseq] if cache_size else list(tseq)


def _check_size(z: Tensor, dim: int, size: int, name: str, what: str, subject: str) -> None:
    """PyTorch's assertions of ``CatTransform``/``StackTransform``: ``dim`` must index ``z``
    (``subject``, as the message names it) and ``z.size(dim)`` must be ``size`` (the total
    length, or the number of transforms)."""
    _check_dim(dim, z, subject)
    if int(z.shape[dim]) != size:
        raise _AssertionShapeError(f"{name}.size({dim}) = {int(z.shape[dim])} must equal {what}")


class _JoinedTransform(Transform):
    """What ``CatTransform`` and ``StackTransform`` share: their event dims are those of the
    joined constraints they map between."""

    @property
    def domain_event_dim(self) -> int:  # type: ignore[override]
        return self.domain.event_dim

    @property
    def codomain_event_dim(self) -> int:  # type: ignore[override]
        return self.codomain.event_dim


class CatTransform(_JoinedTransform):
    """Applies ``tseq[i]`` to the ``i``-th slice (of length ``lengths[i]``, default 1) of
    dimension ``dim``, as ``torch.cat`` lays the slices out: the functor behind
    ``biject_to(constraints.cat(...))``. Equality is identity, as PyTorch's."""

    def __init__(
        self,
        tseq: Sequence[Transform],
        dim: int = 0,
        lengths: Optional[Sequence[int]] = None,
        cache_size: int = 0,
    ) -> None:
        tseq = _transform_seq(tseq, cache_size)
        super().__init__(cache_size=cache_size)
        self.transforms = tseq
        self.lengths = [1] * len(tseq) if lengths is None else list(lengths)
        if len(self.lengths) != len(self.transforms):
            raise _AssertionValueError(
                f"lengths ({len(self.lengths)}) must match transforms ({len(self.transforms)})"
            )
        self.dim = dim

    @property
    def event_dim(self) -> int:
        return max(t.event_dim for t in self.transforms)

    @property
    def length(self) -> int:
        """The size of dimension ``dim`` that the slices cover (``sum(lengths)``)."""
        return sum(self.lengths)

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        return all(t.bijective for t in self.transforms)

    @constraints.dependent_property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.cat([t.domain for t in self.transforms], self.dim, self.lengths)

    @constraints.dependent_property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.cat([t.codomain for t in self.transforms], self.dim, self.lengths)

    def _with_cache_size(self, cache_size: int) -> Transform:
        return CatTransform(self.transforms, self.dim, self.lengths, cache_size)

    def _map(self, z: Tensor, name: str, fn: Callable[[Transform, Tensor], Tensor]) -> Tensor:
        """``fn(tseq[i], slice i of z)`` concatenated back along ``dim``."""
        from .. import cat

        _check_size(z, self.dim, self.length, name, f"length {self.length}", "tensor")
        out, start = [], 0
        for trans, length in zip(self.transforms, self.lengths):
            out.append(fn(trans, z.narrow(self.dim, start, length)))
            start += length
        return cat(out, dim=self.dim)  # type: ignore[no-any-return]

    def _call(self, x: Tensor) -> Tensor:
        return self._map(x, "x", lambda t, xs: t(xs))

    def _inverse(self, y: Tensor) -> Tensor:
        return self._map(y, "y", lambda t, ys: t.inv(ys))

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        from .. import cat

        _check_size(x, self.dim, self.length, "x", f"length {self.length}", "x")
        _check_size(y, self.dim, self.length, "y", f"length {self.length}", "y")
        event_dim = self.event_dim
        parts, start = [], 0
        for trans, length in zip(self.transforms, self.lengths):
            xs, ys = x.narrow(self.dim, start, length), y.narrow(self.dim, start, length)
            ladj = trans.log_abs_det_jacobian(xs, ys)
            if trans.event_dim < event_dim:
                ladj = _sum_rightmost(ladj, event_dim - trans.event_dim)
            parts.append(ladj)
            start += length
        # A ``dim`` among the batch dimensions keeps one entry per slice (concatenated); one
        # inside the event was summed over with it.
        dim = self.dim - x.ndim if self.dim >= 0 else self.dim
        dim += event_dim
        if dim < 0:
            return cat(parts, dim=dim)  # type: ignore[no-any-return]
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return total


class StackTransform(_JoinedTransform):
    """Applies ``tseq[i]`` to index ``i`` of dimension ``dim``, as ``torch.stack`` lays the
    parts out: the functor behind ``biject_to(constraints.stack(...))``. Equality is
    identity, as PyTorch's."""

    def __init__(self, tseq: Sequence[Transform], dim: int = 0, cache_size: int = 0) -> None:
        tseq = _transform_seq(tseq, cache_size)
        super().__init__(cache_size=cache_size)
        self.transforms = tseq
        self.dim = dim

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        return all(t.bijective for t in self.transforms)

    @constraints.dependent_property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.stack([t.domain for t in self.transforms], self.dim)

    @constraints.dependent_property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.stack([t.codomain for t in self.transforms], self.dim)

    def _with_cache_size(self, cache_size: int) -> Transform:
        return StackTransform(self.transforms, self.dim, cache_size)

    def _slice(self, z: Tensor, name: str, subject: str = "tensor") -> tuple[Tensor, ...]:
        n = len(self.transforms)
        _check_size(z, self.dim, n, name, f"len(transforms) {n}", subject)
        return tuple(z.unbind(self.dim))

    def _call(self, x: Tensor) -> Tensor:
        from .. import stack

        parts = [t(xs) for xs, t in zip(self._slice(x, "x"), self.transforms)]
        return stack(parts, dim=self.dim)  # type: ignore[no-any-return]

    def _inverse(self, y: Tensor) -> Tensor:
        from .. import stack

        parts = [t.inv(ys) for ys, t in zip(self._slice(y, "y"), self.transforms)]
        return stack(parts, dim=self.dim)  # type: ignore[no-any-return]

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        from .. import stack

        xs, ys = self._slice(x, "x", "x"), self._slice(y, "y", "y")
        parts = [t.log_abs_det_jacobian(a, b) for a, b, t in zip(xs, ys, self.transforms)]
        return stack(parts, dim=self.dim)  # type: ignore[no-any-return]
