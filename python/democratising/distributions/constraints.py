"""PyTorch's ``torch.distributions.constraints``: the objects that distributions use for their
``support`` and ``arg_constraints`` and transforms for their ``domain``/``codomain``. Each has
``check(value)`` (a bool tensor, reduced over the constraint's ``event_dim`` rightmost
dimensions), ``event_dim`` and ``is_discrete``; the names printed are PyTorch's.

A constraint also compares equal to its printed name (``constraints.real == "Real()"``), so code
written when the package used those names as plain strings keeps working."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any, Callable, Optional

from .._core import Tensor
from ..errors import ArgumentTypeError, InvalidValueError, ShapeError

__all__ = [
    "Constraint",
    "MixtureSameFamilyConstraint",
    "boolean",
    "cat",
    "corr_cholesky",
    "dependent",
    "dependent_property",
    "greater_than",
    "greater_than_eq",
    "half_open_interval",
    "independent",
    "integer_interval",
    "interval",
    "is_dependent",
    "less_than",
    "lower_cholesky",
    "lower_triangular",
    "multinomial",
    "nonnegative",
    "nonnegative_integer",
    "one_hot",
    "positive",
    "positive_definite",
    "positive_integer",
    "positive_semidefinite",
    "real",
    "real_vector",
    "simplex",
    "square",
    "stack",
    "symmetric",
    "unit_interval",
]


class _AssertionTypeError(ArgumentTypeError, AssertionError):
    """A wrong argument type where PyTorch's distributions ``assert`` (``cat``/``stack`` and
    their transforms given non-constraints or non-transforms): catchable as either."""


class _AssertionValueError(InvalidValueError, AssertionError):
    """A bad argument value where PyTorch's distributions ``assert`` (e.g. ``Wishart`` given
    other than one matrix, ``lengths`` not matching ``cseq``): catchable as either."""


class _AssertionShapeError(ShapeError, AssertionError):
    """A dimension out of range or a size mismatch where PyTorch's ``cat``/``stack``
    constraints and transforms ``assert``: catchable as either."""


def _check_dim(dim: int, value: Tensor, what: str = "value") -> None:
    """PyTorch's ``-value.dim() <= dim < value.dim()`` assertion of ``cat``/``stack``."""
    if not -value.ndim <= dim < value.ndim:
        raise _AssertionShapeError(
            f"dim {dim} out of range for {what} with {value.ndim} dimensions"
        )


def _bound(b: Any) -> str:
    """A bound as PyTorch's f-string prints it: a one-element tensor as its number."""
    if isinstance(b, Tensor):
        return str(b.item()) if b.ndim == 0 else str(b)
    return str(b)


def _is_integer(value: Tensor) -> Tensor:
    """Whole numbers, as PyTorch's ``value % 1 == 0`` (so infinities and NaN are not)."""
    if value.dtype.is_floating_point:
        return value % 1 == 0
    return value == value


class Constraint:
    """The region a variable lives in: ``check(value)`` says, per event, whether ``value`` is
    inside. ``event_dim`` rightmost dimensions make one event; ``is_discrete`` marks integer
    and one-hot supports."""

    is_discrete = False
    event_dim = 0

    def check(self, value: Tensor) -> Tensor:
        """A bool tensor of ``value``'s shape less ``event_dim`` rightmost dimensions."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return type(self).__name__[1:] + "()"

    def __eq__(self, other: object) -> bool:
        # Equal to a constraint or a string of the same printed form (the package's old names).
        if isinstance(other, (Constraint, str)):
            return repr(self) == str(other) and (
                not isinstance(other, Constraint) or type(self) is type(other)
            )
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash(repr(self))


class _Dependent(Constraint):
    """A placeholder for a support or parameter constraint that depends on other parameters
    (``check`` is not defined on it, as in PyTorch)."""

    def __init__(
        self, *, is_discrete: Any = NotImplemented, event_dim: Any = NotImplemented
    ) -> None:
        self._is_discrete = is_discrete
        self._event_dim = event_dim

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        if self._is_discrete is NotImplemented:
            raise NotImplementedError(".is_discrete cannot be determined statically")
        return bool(self._is_discrete)

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        if self._event_dim is NotImplemented:
            raise NotImplementedError(".event_dim cannot be determined statically")
        return int(self._event_dim)

    def __call__(
        self, *, is_discrete: Any = NotImplemented, event_dim: Any = NotImplemented
    ) -> _Dependent:
        if is_discrete is NotImplemented:
            is_discrete = self._is_discrete
        if event_dim is NotImplemented:
            event_dim = self._event_dim
        return _Dependent(is_discrete=is_discrete, event_dim=event_dim)

    def check(self, value: Tensor) -> Tensor:
        raise ValueError("Cannot determine validity of dependent constraint")


def is_dependent(constraint: Any) -> bool:
    """Whether ``constraint`` is a ``dependent`` placeholder (``constraints.is_dependent``)."""
    return isinstance(constraint, _Dependent)


class _DependentProperty(property, _Dependent):
    """A property that is also a ``dependent`` constraint on the class, as PyTorch's
    ``dependent_property`` (a ``support`` that needs the instance's parameters)."""

    def __init__(
        self,
        fn: Optional[Callable[..., Any]] = None,
        *,
        is_discrete: Any = NotImplemented,
        event_dim: Any = NotImplemented,
    ) -> None:
        property.__init__(self, fn)
        _Dependent.__init__(self, is_discrete=is_discrete, event_dim=event_dim)

    def __call__(self, fn: Callable[..., Any]) -> _DependentProperty:  # type: ignore[override]
        return _DependentProperty(fn, is_discrete=self._is_discrete, event_dim=self._event_dim)

    __hash__ = Constraint.__hash__


class _OverConstraint(Constraint):
    """A constraint built on one ``base_constraint`` (``independent``,
    ``MixtureSameFamilyConstraint``): discrete exactly when its base is."""

    base_constraint: Constraint

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return self.base_constraint.is_discrete


class _IndependentConstraint(_OverConstraint):
    """``base_constraint`` with ``reinterpreted_batch_ndims`` more rightmost dimensions in
    each event: ``check`` is all-true over them."""

    def __init__(self, base_constraint: Constraint, reinterpreted_batch_ndims: int) -> None:
        if not isinstance(base_constraint, Constraint):
            raise TypeError(f"expected a Constraint, got {base_constraint!r}")
        n = int(reinterpreted_batch_ndims)
        if n < 0:
            raise InvalidValueError("reinterpreted_batch_ndims must be non-negative")
        self.base_constraint = base_constraint
        self.reinterpreted_batch_ndims = n

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return self.base_constraint.event_dim + self.reinterpreted_batch_ndims

    def check(self, value: Tensor) -> Tensor:
        result = self.base_constraint.check(value)
        n = self.reinterpreted_batch_ndims
        if result.ndim < n:
            expected = self.base_constraint.event_dim + n
            raise InvalidValueError(f"Expected value.dim() >= {expected} but got {value.ndim}")
        if n == 0:
            return result
        return result.reshape(*tuple(result.shape)[: result.ndim - n], -1).all(-1)

    def __repr__(self) -> str:
        return f"IndependentConstraint({self.base_constraint!r}, {self.reinterpreted_batch_ndims})"


class MixtureSameFamilyConstraint(_OverConstraint):
    """A ``MixtureSameFamily``'s support: the component support checked on the value with the
    component dimension put back, all-true over the components."""

    def __init__(self, base_constraint: Constraint) -> None:
        self.base_constraint = base_constraint

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return self.base_constraint.event_dim

    def check(self, value: Tensor) -> Tensor:
        result = self.base_constraint.check(value.unsqueeze(-1 - self.event_dim))
        if value.ndim < self.event_dim:
            raise InvalidValueError(
                f"Expected value.dim() >= {self.event_dim} but got {value.ndim}"
            )
        keep = value.ndim - self.event_dim
        return result.reshape(*tuple(result.shape)[:keep], -1).all(-1)

    def __repr__(self) -> str:
        return f"MixtureSameFamilyConstraint({self.base_constraint!r})"


class _Boolean(Constraint):
    is_discrete = True

    def check(self, value: Tensor) -> Tensor:
        return (value == 0) | (value == 1)


class _OneHot(Constraint):
    is_discrete = True
    event_dim = 1

    def check(self, value: Tensor) -> Tensor:
        is_boolean = ((value == 0) | (value == 1)).all(-1)
        is_normalized = value.sum(-1) == 1
        return is_boolean & is_normalized


class _Bounded(Constraint):
    """A region set by a lower and/or an upper bound: ``_lower`` and ``_upper`` are the
    comparisons ``value`` must pass against each (``None``: that side is open); ``_integer``
    also asks for whole numbers. PyTorch's class name and bound names are the repr."""

    _lower: Any = None  # (an ``operator`` comparison, or None)
    _upper: Any = None
    _integer = False
    lower_bound: Any
    upper_bound: Any

    def _sides(self) -> list[tuple[str, Callable[[Any, Any], Any]]]:
        sides = (("lower_bound", self._lower), ("upper_bound", self._upper))
        return [(name, op) for name, op in sides if op is not None]

    def check(self, value: Tensor) -> Tensor:
        ok: Any = _is_integer(value) if self._integer else None
        for name, op in self._sides():
            inside = op(value, getattr(self, name))
            ok = inside if ok is None else ok & inside
        return ok

    def __repr__(self) -> str:
        bounds = ", ".join(f"{name}={_bound(getattr(self, name))}" for name, _ in self._sides())
        return f"{type(self).__name__[1:]}({bounds})"


class _LowerBounded(_Bounded):
    def __init__(self, lower_bound: Any) -> None:
        self.lower_bound = lower_bound


class _UpperBounded(_Bounded):
    def __init__(self, upper_bound: Any) -> None:
        self.upper_bound = upper_bound


class _TwoBounded(_Bounded):
    def __init__(self, lower_bound: Any, upper_bound: Any) -> None:
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound


class _IntegerInterval(_TwoBounded):
    is_discrete, _integer, _lower, _upper = True, True, operator.ge, operator.le


class _IntegerLessThan(_UpperBounded):
    is_discrete, _integer, _upper = True, True, operator.le


class _IntegerGreaterThan(_LowerBounded):
    is_discrete, _integer, _lower = True, True, operator.ge


class _GreaterThan(_LowerBounded):
    _lower = operator.gt


class _GreaterThanEq(_LowerBounded):
    _lower = operator.ge


class _LessThan(_UpperBounded):
    _upper = operator.lt


class _Interval(_TwoBounded):
    _lower, _upper = operator.ge, operator.le


class _HalfOpenInterval(_TwoBounded):
    _lower, _upper = operator.ge, operator.lt


class _Real(Constraint):
    def check(self, value: Tensor) -> Tensor:
        return value == value  # NaN is the one real-typed value outside


class _Simplex(Constraint):
    """Non-negative vectors summing to one (to 1e-6, as PyTorch) over the last dimension."""

    event_dim = 1

    def check(self, value: Tensor) -> Tensor:
        return (value >= 0).all(-1) & ((value.sum(-1) - 1).abs() < 1e-6)


class _Multinomial(Constraint):
    """Non-negative integer counts summing to at most ``upper_bound`` (PyTorch checks only the
    sum and the sign, not integrality)."""

    is_discrete = True
    event_dim = 1

    def __init__(self, upper_bound: Any) -> None:
        self.upper_bound = upper_bound

    def check(self, value: Tensor) -> Tensor:
        return (value >= 0).all(-1) & (value.sum(-1) <= self.upper_bound)


class _LowerTriangular(Constraint):
    event_dim = 2

    def check(self, value: Tensor) -> Tensor:
        return (value.tril() == value).reshape(*tuple(value.shape)[:-2], -1).all(-1)


class _LowerCholesky(Constraint):
    event_dim = 2

    def check(self, value: Tensor) -> Tensor:
        lower = (value.tril() == value).reshape(*tuple(value.shape)[:-2], -1).all(-1)
        positive_diagonal = (value.diagonal(dim1=-2, dim2=-1) > 0).all(-1)
        return lower & positive_diagonal


class _CorrCholesky(Constraint):
    """Lower Cholesky factors whose rows have unit norm (Cholesky factors of correlation
    matrices), to ``10 * eps * n`` as PyTorch."""

    event_dim = 2

    def check(self, value: Tensor) -> Tensor:
        from .._pytorch_compat import finfo

        tol = finfo(value.dtype).eps * int(value.shape[-1]) * 10
        row_norm = value.detach().pow(2).sum(-1).sqrt()
        unit_row_norm = ((row_norm - 1.0).abs() <= tol).all(-1)
        return _LowerCholesky().check(value) & unit_row_norm


class _Square(Constraint):
    event_dim = 2

    def check(self, value: Tensor) -> Tensor:
        from .. import _core

        shape = tuple(value.shape)
        return _core.full(shape[:-2], shape[-2] == shape[-1], dtype=_core.bool, device=value.device)


class _Symmetric(_Square):
    def check(self, value: Tensor) -> Tensor:
        square = super().check(value)
        if not bool(square.all().item()):
            return square
        from .. import isclose

        return isclose(value, value.mT, atol=1e-6).all(-2).all(-1)  # type: ignore[no-any-return]


class _PositiveSemidefinite(_Symmetric):
    def check(self, value: Tensor) -> Tensor:
        sym = super().check(value)
        if not bool(sym.all().item()):
            return sym
        from ..linalg import eigvalsh

        return (eigvalsh(value) >= 0).all(-1)  # type: ignore[no-any-return]


class _PositiveDefinite(_Symmetric):
    def check(self, value: Tensor) -> Tensor:
        sym = super().check(value)
        if not bool(sym.all().item()):
            return sym
        from ..linalg import cholesky_ex

        return cholesky_ex(value).info == 0  # type: ignore[no-any-return]


class _OverSeq(Constraint):
    """A constraint applying each of ``cseq`` to its part of dimension ``dim`` (``cat``,
    ``stack``): discrete when any of them is."""

    def __init__(self, cseq: Sequence[Constraint], dim: int = 0) -> None:
        if not all(isinstance(c, Constraint) for c in cseq):
            raise _AssertionTypeError("All elements of cseq must be Constraint instances")
        self.cseq = list(cseq)
        self.dim = dim

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return any(c.is_discrete for c in self.cseq)


class _Cat(_OverSeq):
    """Each of ``cseq`` on its slice (of ``lengths``, default 1 each) of dimension ``dim``."""

    def __init__(
        self, cseq: Sequence[Constraint], dim: int = 0, lengths: Optional[Sequence[int]] = None
    ) -> None:
        super().__init__(cseq, dim)
        self.lengths = [1] * len(self.cseq) if lengths is None else list(lengths)
        if len(self.lengths) != len(self.cseq):
            raise _AssertionValueError(
                f"lengths ({len(self.lengths)}) must match cseq ({len(self.cseq)})"
            )

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return max(c.event_dim for c in self.cseq)

    def check(self, value: Tensor) -> Tensor:
        from .. import cat as _cat

        _check_dim(self.dim, value)
        checks, start = [], 0
        for c, length in zip(self.cseq, self.lengths):
            checks.append(c.check(value.narrow(self.dim, start, length)))
            start += length
        return _cat(checks, self.dim)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Cat({self.cseq!r}, dim={self.dim}, lengths={self.lengths})"


class _Stack(_OverSeq):
    """Each of ``cseq`` on its index of dimension ``dim``."""

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        dim = max(c.event_dim for c in self.cseq)
        return dim + 1 if self.dim + dim < 0 else dim

    def check(self, value: Tensor) -> Tensor:
        from .. import stack as _stack

        _check_dim(self.dim, value)
        parts = value.unbind(self.dim)
        return _stack([c.check(v) for c, v in zip(self.cseq, parts)], self.dim)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Stack({self.cseq!r}, dim={self.dim})"


# PyTorch's public names: instances for the fixed constraints, classes for parameterised ones.
dependent = _Dependent()
dependent_property = _DependentProperty
independent = _IndependentConstraint
boolean = _Boolean()
one_hot = _OneHot()
nonnegative_integer = _IntegerGreaterThan(0)
positive_integer = _IntegerGreaterThan(1)
integer_interval = _IntegerInterval
real = _Real()
real_vector = independent(real, 1)
positive = _GreaterThan(0.0)
nonnegative = _GreaterThanEq(0.0)
greater_than = _GreaterThan
greater_than_eq = _GreaterThanEq
less_than = _LessThan
multinomial = _Multinomial
unit_interval = _Interval(0.0, 1.0)
interval = _Interval
half_open_interval = _HalfOpenInterval
simplex = _Simplex()
lower_triangular = _LowerTriangular()
lower_cholesky = _LowerCholesky()
corr_cholesky = _CorrCholesky()
square = _Square()
symmetric = _Symmetric()
positive_semidefinite = _PositiveSemidefinite()
positive_definite = _PositiveDefinite()
cat = _Cat
stack = _Stack
