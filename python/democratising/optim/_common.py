"""Shared pieces of the optimizers written over tensor ops (Adadelta, Adamax, NAdam, RAdam,
ASGD, Rprop, SparseAdam, Muon): PyTorch's hyperparameter checks and messages, the per-parameter
step loop, and the in-place helpers the engine lacks (``addcmul_``/``addcdiv_``/``lerp_``).

Each step runs under ``no_grad`` on the parameters' own device, so CUDA parameters update on
the device; scalars (step counts, bias corrections) stay Python floats, so no step reads a
value back from the device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from .. import _core
from .._core import Tensor
from .optimizer import Optimizer

__all__ = [
    "PerParam",
    "adam_moments",
    "addcdiv_",
    "addcmul_",
    "apply_weight_decay",
    "check_adam",
    "check_betas",
    "check_flags",
    "check_lr",
    "check_non_negative",
    "full_like",
    "lerp_",
]

#: PyTorch's wording for each hyperparameter in "Invalid ... value: x".
_LABEL = {"eps": "epsilon", "weight_decay": "weight_decay"}


def check_lr(lr: float) -> None:
    """``ValueError("Invalid learning rate: -1")`` as PyTorch."""
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


def check_non_negative(**values: float) -> None:
    """``ValueError("Invalid epsilon value: -1")`` (PyTorch's wording) for a negative value."""
    for name, v in values.items():
        if not 0.0 <= v:
            raise ValueError(f"Invalid {_LABEL.get(name, name)} value: {v}")


def check_betas(betas: Sequence[float]) -> tuple[float, float]:
    """Both betas in ``[0, 1)``; returns them as a tuple."""
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair, got {tuple(betas)!r}")
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {b}")
    return (float(betas[0]), float(betas[1]))


def check_flags(differentiable: bool) -> None:
    """``differentiable=True`` (autograd through the step) is not supported: steps run under
    ``no_grad``. ``foreach`` and ``capturable`` are accepted and change nothing here."""
    if differentiable:
        raise ValueError(
            "differentiable=True is not supported: optimizer steps run under no_grad; "
            "write the update with tensor ops yourself to differentiate through it"
        )


def check_adam(
    lr: float,
    eps: float,
    betas: Sequence[float],
    differentiable: bool = False,
    **non_negative: float,
) -> tuple[float, float]:
    """The Adam family's checks in PyTorch's order: ``lr``, ``eps``, ``betas``, then the other
    ``non_negative`` values (``weight_decay``...) and ``differentiable``; returns the betas."""
    check_lr(lr)
    check_non_negative(eps=eps)
    pair = check_betas(betas)
    check_non_negative(**non_negative)
    check_flags(differentiable)
    return pair


def addcmul_(t: Tensor, a: Tensor, b: Tensor, value: float = 1.0) -> Tensor:
    """``t += value * a * b`` in place."""
    return t.add_(a * b, alpha=value)


def addcdiv_(t: Tensor, a: Tensor, b: Tensor, value: float = 1.0) -> Tensor:
    """``t += value * a / b`` in place."""
    return t.add_(a / b, alpha=value)


def lerp_(t: Tensor, end: Tensor, weight: float) -> Tensor:
    """``t += weight * (end - t)`` in place (``Tensor.lerp_``)."""
    return t.copy_(t.lerp(end, weight))


def full_like(p: Tensor, value: float) -> Tensor:
    """A tensor like ``p`` (shape, dtype, device) filled with ``value``."""
    return _core.full(tuple(p.shape), value, dtype=p.dtype, device=p.device)


def apply_weight_decay(
    group: dict[str, Any], p: Tensor, grad: Tensor, decoupled: bool = False
) -> Tensor:
    """The group's ``weight_decay`` applied: ``decoupled`` (AdamW's) shrinks ``p`` by
    ``1 - lr · weight_decay`` in place, otherwise (L2) ``weight_decay · p`` is added to the
    gradient. Returns the gradient to step with."""
    wd = group["weight_decay"]
    if wd == 0:
        return grad
    if decoupled:
        p.mul_(1 - group["lr"] * wd)
        return grad
    return grad.add(p, alpha=wd)


def adam_moments(
    state: dict[str, Any], grad: Tensor, betas: Sequence[float]
) -> tuple[Tensor, Tensor]:
    """Adam's moments updated in place, ``exp_avg += (1-b1)(g - exp_avg)`` and
    ``exp_avg_sq = b2 exp_avg_sq + (1-b2) g²``; returns them."""
    b1, b2 = betas
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    lerp_(exp_avg, grad, 1 - b1)
    addcmul_(exp_avg_sq.mul_(b2), grad, grad, 1 - b2)
    return exp_avg, exp_avg_sq


class PerParam(Optimizer):
    """An optimizer stepping each parameter that has a gradient with ``_step_param``; the
    gradient arrives negated when the group sets ``maximize``. Subclasses list their state
    keys in ``_state_keys`` (checked by ``load_state_dict``) and the ones holding Python
    numbers rather than parameter-shaped tensors in ``_scalar_keys``. A parameter's state
    starts as ``_initial_state`` gives it, and its ``step`` (where it keeps one) is advanced
    before each ``_step_param``."""

    _state_keys: tuple[str, ...] = ()
    _scalar_keys: tuple[str, ...] = ()

    def _update(self, group: dict[str, Any]) -> None:
        for p in group["params"]:
            grad: Optional[Tensor] = p.grad
            if grad is None:
                continue
            if group.get("maximize", False):
                grad = -grad
            state = self.state.setdefault(p, {})
            if not state:
                state.update(self._initial_state(group, p))
            if "step" in state:
                state["step"] += 1
            self._step_param(group, p, grad, state)

    def _initial_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        """A parameter's state before its first step, in ``_state_keys`` order: ``step`` 0 and
        the other keys zero tensors like ``p``. Subclasses with other starting values
        override it."""
        return {k: 0 if k == "step" else full_like(p, 0.0) for k in self._state_keys}

    def _step_param(
        self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    @classmethod
    def _state_rule(cls, group: dict[str, Any]) -> tuple[set[str], set[str], set[str]]:
        """``(required, allowed, scalar)`` per-parameter state keys for ``load_state_dict``."""
        keys = set(cls._state_keys)
        return keys, keys, set(cls._scalar_keys)
