"""``democratising.autograd.forward_ad``: PyTorch's forward-mode AD API (``dual_level``,
``make_dual``, ``unpack_dual``), built on the reverse-mode engine.

The engine has no per-op JVP rules, so a dual tensor is an ordinary tensor that records
autograd history, remembered with its tangent by the active level; ``unpack_dual(y)`` gets
``J·t`` with the double-backward trick (two reverse passes over ``y``'s graph), as
``autograd.functional.jvp`` does. Every op that supports double backward therefore works, and
gradients still flow back to the tensors the duals were made from.

Differences from PyTorch, which carries tangents along with each op: the graph must be
recorded, so computations inside ``no_grad`` have no tangent; a dual made from a tensor that does
not require grad reports ``requires_grad=True``; and tensors computed from ``unpack_dual(y).primal``
still carry ``y``'s tangent (the primal itself does not)."""

from __future__ import annotations

import contextlib
import weakref
from typing import Any, NamedTuple, Optional

from . import _core
from ._core import Tensor
from ._grad_mode import enable_grad

__all__ = [
    "UnpackedDualTensor",
    "dual_level",
    "enter_dual_level",
    "exit_dual_level",
    "make_dual",
    "unpack_dual",
]

# PyTorch supports one level at a time, numbered from 0; -1 means none is active.
_current_level = -1


class _Level:
    """What one level remembers: its duals with their tangents (by identity, held strongly,
    since a dual is often a temporary whose graph outlives it, so ids stay valid until the
    level exits) and the primal views that carry no tangent (weakly: a loop inside one level
    must not keep every output's graph alive)."""

    def __init__(self) -> None:
        self.duals: dict[int, tuple[Tensor, Tensor]] = {}
        self.primals: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()


_levels: list[_Level] = []


class UnpackedDualTensor(NamedTuple):
    """The result of ``unpack_dual``: the primal and its tangent (``None`` if it has none)."""

    primal: Tensor
    tangent: Optional[Tensor]


def enter_dual_level() -> int:
    """Start a new forward-AD level and return its index (only one may be active)."""
    global _current_level
    if _levels:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    _levels.append(_Level())
    _current_level = len(_levels) - 1
    return _current_level


def exit_dual_level(*, level: Optional[int] = None) -> None:
    """End the active level: every dual made in it loses its tangent."""
    global _current_level
    if level is None:
        level = _current_level
    if level != _current_level:
        raise RuntimeError(
            "Trying to exit a forward AD level that was not the last one that was created. "
            "This is not supported."
        )
    if level < 0:
        raise RuntimeError("Dual level must be a positive number.")
    _levels.pop()
    _current_level = level - 1


def _level(level: Optional[int], invalid: str) -> Optional[_Level]:
    """The table of ``level`` (the active one by default); ``None`` when no level is active."""
    if level is None:
        level = _current_level
    if level < 0:
        return None
    if level >= len(_levels):
        raise RuntimeError(invalid)
    return _levels[level]


def _check_floating(t: Tensor, what: str) -> None:
    if not (t.is_floating_point() or t.is_complex()):
        raise ValueError(f"Expected {what} to be floating point or complex, but got: {t.dtype}")


def _depends_on_duals(t: Tensor, table: _Level) -> bool:
    """Whether ``t``'s recorded history reaches one of the level's duals."""
    if id(t) in table.duals:
        return True
    if not t.requires_grad or t.grad_fn is None or not table.duals:
        return False
    from .autograd import grad

    duals = [d for d, _ in table.duals.values()]
    with enable_grad():
        from . import zeros_like

        got = grad([t], duals, [zeros_like(t)], retain_graph=True, allow_unused=True)
    return any(g is not None for g in got)


def make_dual(tensor: Tensor, tangent: Tensor, *, level: Optional[int] = None) -> Tensor:
    """A tensor with ``tensor``'s values and history whose forward gradient is ``tangent``."""
    if level is None and _current_level < 0:
        raise RuntimeError(
            "Trying to create a dual Tensor for forward AD but no level exists, make sure to "
            "enter_dual_level() first."
        )
    table = _level(
        level,
        "Trying to access a forward AD level with an invalid index. This index was either not "
        "created or is already deleted.",
    )
    if table is None:
        raise RuntimeError("Dual level must be a positive number.")
    if not isinstance(tensor, Tensor) or not isinstance(tangent, Tensor):
        raise TypeError(
            "make_dual(): expected Tensor arguments but got "
            f"{type(tensor).__name__} and {type(tangent).__name__}"
        )
    _check_floating(tensor, "primal")
    _check_floating(tangent, "tangent")
    if tuple(tangent.shape) != tuple(tensor.shape):
        raise RuntimeError(
            "Trying to set a forward gradient that has a different size than that of the "
            "original Tensor, this is not supported. Tensor is of size "
            f"{list(tensor.shape)} while the given forward gradient is of size "
            f"{list(tangent.shape)}."
        )
    if tangent.device != tensor.device:
        raise RuntimeError(
            "Trying to set a forward gradient that has a different device than that of the "
            f"original Tensor: {tensor.device} vs {tangent.device}."
        )
    if _depends_on_duals(tensor, table):
        raise RuntimeError(
            "Making a dual Tensor based on a Tensor that already has a forward gradient at the "
            f"same level {_levels.index(table)} is not supported."
        )
    with enable_grad():
        # A view keeps the input's history (gradients reach it, as PyTorch's dual view does);
        # otherwise a fresh leaf gives the graph a node to differentiate with respect to.
        dual = tensor.view_as(tensor) if tensor.requires_grad else tensor.detach().requires_grad_()
    table.duals[id(dual)] = (dual, tangent)
    return dual


def _tangent(y: Tensor, table: _Level) -> Optional[Tensor]:
    """``J_y · t`` summed over the level's duals, or ``None`` if ``y`` depends on none.

    Double backward: ``g_i = J_iᵀ u`` is linear in a dummy ``u``, so the gradient of
    ``Σ_i <g_i, t_i>`` with respect to ``u`` is ``Σ_i J_i t_i``."""
    if id(y) in table.duals:
        return table.duals[id(y)][1]
    if id(y) in table.primals or not y.requires_grad or y.grad_fn is None or not table.duals:
        return None
    from . import zeros_like
    from .autograd import grad

    duals = [d for d, _ in table.duals.values()]
    tangents = [t for _, t in table.duals.values()]
    # The tangent stays differentiable (reverse over forward: a Hessian-vector product) when
    # the caller records and a tangent, or a primal the duals were made from, requires grad.
    keep = _core.is_grad_enabled() and (
        any(t.requires_grad for t in tangents) or any(d.grad_fn is not None for d in duals)
    )
    with enable_grad():
        u = zeros_like(y, requires_grad=True)
        gs = grad([y], duals, [u], create_graph=True, allow_unused=True)
        terms = [
            (g * t.to(g.dtype)).sum()
            for g, t in zip(gs, tangents)
            if g is not None and g.requires_grad
        ]
        if not terms:
            return None if all(g is None for g in gs) else zeros_like(y)
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        (out,) = grad([total], [u], create_graph=keep, allow_unused=True)
    return zeros_like(y) if out is None else out


def unpack_dual(tensor: Tensor, *, level: Optional[int] = None) -> UnpackedDualTensor:
    """``(primal, tangent)`` of ``tensor`` at ``level``; the tangent is ``None`` when the tensor
    does not depend on a dual of that level (or no level is active)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(
            f"unpack_dual(): argument 'tensor' must be Tensor, not {type(tensor).__name__}"
        )
    table = _level(level, "Invalid level given to _fw_primal")
    if table is None:
        return UnpackedDualTensor(tensor, None)
    tangent = _tangent(tensor, table)
    # PyTorch's primal is a view without the tangent; remember it as such.
    primal = tensor.view_as(tensor)
    table.primals[id(primal)] = primal
    return UnpackedDualTensor(primal, tangent)


class dual_level(contextlib.ContextDecorator):  # noqa: N801 - PyTorch's name
    """Context manager (or decorator) for a forward-AD level: duals made inside it carry
    their tangents until it exits."""

    def __enter__(self) -> int:
        return enter_dual_level()

    def __exit__(self, *exc: Any) -> None:
        exit_dual_level()
