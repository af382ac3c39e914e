"""PyTorch's ``torch.distributions.constraint_registry``: ``biject_to(constraint)`` (a bijection
from unconstrained space onto the constraint's region, for reparameterising a variable that
must stay inside it) and ``transform_to(constraint)`` (any map onto it, e.g. ``softmax`` for the
simplex), looked up by the constraint's class. Registered as PyTorch's for ``real``,
``independent``, ``positive``/``nonnegative``/``greater_than(_eq)``, ``less_than``,
``interval``/``half_open_interval``, ``simplex``, the matrix constraints, and ``cat``/``stack``
(a ``CatTransform``/``StackTransform`` of the parts' transforms)."""

from __future__ import annotations

from numbers import Number
from typing import Any, Callable, Optional, Union

from . import constraints, transforms

__all__ = ["ConstraintRegistry", "biject_to", "transform_to"]

_Factory = Callable[[Any], transforms.Transform]


class ConstraintRegistry:
    """Links ``Constraint`` subclasses to factories of ``Transform``s."""

    def __init__(self) -> None:
        self._registry: dict[type, _Factory] = {}

    def register(
        self,
        constraint: Union[type, constraints.Constraint],
        factory: Optional[_Factory] = None,
    ) -> Any:
        """Registers ``factory`` for ``constraint`` (a ``Constraint`` subclass, or an instance,
        which stands for its class); without ``factory``, a decorator."""
        if factory is None:
            return lambda f: self.register(constraint, f)
        if isinstance(constraint, constraints.Constraint):
            constraint = type(constraint)
        if not isinstance(constraint, type) or not issubclass(constraint, constraints.Constraint):
            raise TypeError(
                "Expected constraint to be either a Constraint subclass or instance, "
                f"but got {constraint}"
            )
        self._registry[constraint] = factory
        return factory

    def __call__(self, constraint: constraints.Constraint) -> transforms.Transform:
        """The transform registered for ``type(constraint)``, built for this ``constraint``;
        ``NotImplementedError`` when none is (as PyTorch)."""
        try:
            factory = self._registry[type(constraint)]
        except KeyError:
            raise NotImplementedError(
                f"Cannot transform {type(constraint).__name__} constraints"
            ) from None
        return factory(constraint)


biject_to = ConstraintRegistry()
transform_to = ConstraintRegistry()


@biject_to.register(constraints.real)
@transform_to.register(constraints.real)
def _transform_to_real(constraint: Any) -> transforms.Transform:
    return transforms.identity_transform


def _independent_in(registry: ConstraintRegistry) -> _Factory:
    """``independent``'s factory in ``registry``: the base constraint's transform from the same
    registry, its rightmost dimensions reinterpreted as the constraint's."""

    def factory(constraint: Any) -> transforms.Transform:
        base = registry(constraint.base_constraint)
        return transforms.IndependentTransform(base, constraint.reinterpreted_batch_ndims)

    return factory


biject_to.register(constraints.independent, _independent_in(biject_to))
transform_to.register(constraints.independent, _independent_in(transform_to))


# ``positive``/``nonnegative`` are instances of the ``greater_than(_eq)`` classes, so (as in
# PyTorch) they get ``exp`` followed by a shift by the bound.
@biject_to.register(constraints.greater_than)
@biject_to.register(constraints.greater_than_eq)
@transform_to.register(constraints.greater_than)
@transform_to.register(constraints.greater_than_eq)
def _transform_to_greater_than(constraint: Any) -> transforms.Transform:
    return transforms.ComposeTransform(
        [transforms.ExpTransform(), transforms.AffineTransform(constraint.lower_bound, 1)]
    )


@biject_to.register(constraints.less_than)
@transform_to.register(constraints.less_than)
def _transform_to_less_than(constraint: Any) -> transforms.Transform:
    return transforms.ComposeTransform(
        [transforms.ExpTransform(), transforms.AffineTransform(constraint.upper_bound, -1)]
    )


@biject_to.register(constraints.interval)
@biject_to.register(constraints.half_open_interval)
@transform_to.register(constraints.interval)
@transform_to.register(constraints.half_open_interval)
def _transform_to_interval(constraint: Any) -> transforms.Transform:
    lo, hi = constraint.lower_bound, constraint.upper_bound
    if isinstance(lo, Number) and lo == 0 and isinstance(hi, Number) and hi == 1:
        return transforms.SigmoidTransform()
    return transforms.ComposeTransform(
        [transforms.SigmoidTransform(), transforms.AffineTransform(lo, hi - lo)]
    )


def _fixed(transform: Callable[[], transforms.Transform]) -> _Factory:
    """A factory that ignores the constraint: its transform has no parameters to take from it."""
    return lambda constraint: transform()


# The constraints whose transform has no parameters, as PyTorch registers them.
for _registry, _constraint, _transform in (
    (biject_to, constraints.simplex, transforms.StickBreakingTransform),
    (transform_to, constraints.simplex, transforms.SoftmaxTransform),
    (biject_to, constraints.corr_cholesky, transforms.CorrCholeskyTransform),
    (transform_to, constraints.corr_cholesky, transforms.CorrCholeskyTransform),
    (transform_to, constraints.lower_cholesky, transforms.LowerCholeskyTransform),
    (transform_to, constraints.positive_definite, transforms.PositiveDefiniteTransform),
    (transform_to, constraints.positive_semidefinite, transforms.PositiveDefiniteTransform),
):
    _registry.register(_constraint, _fixed(_transform))
del _registry, _constraint, _transform


def _cat_in(registry: ConstraintRegistry) -> _Factory:
    """``cat``'s factory in ``registry``: each part's transform from the same registry, laid out
    along the constraint's ``dim`` by a ``CatTransform``."""

    def factory(constraint: Any) -> transforms.Transform:
        parts = [registry(c) for c in constraint.cseq]
        return transforms.CatTransform(parts, constraint.dim, constraint.lengths)

    return factory


def _stack_in(registry: ConstraintRegistry) -> _Factory:
    """``stack``'s factory in ``registry``, as ``_cat_in`` with a ``StackTransform``."""

    def factory(constraint: Any) -> transforms.Transform:
        return transforms.StackTransform([registry(c) for c in constraint.cseq], constraint.dim)

    return factory


for _registry in (biject_to, transform_to):
    _registry.register(constraints.cat, _cat_in(_registry))
    _registry.register(constraints.stack, _stack_in(_registry))
del _registry
