"""Shared pieces of the optimizers written over tensor ops (Adadelta, Adamax, NAdam, RAdam,
ASGD, Rprop, SparseAdam, Muon): PyTorch's hyperparameter checks and messages, the per-parameter
step loop, the fused engine rules' driver (``FusedRule``), the in-place helpers the engine
lacks (``lerp_``), and ``hyperparameters``, which reads every optimizer's group defaults (the
fused ones of ``algorithms`` too) from its ``__init__`` signature.

Each step runs under ``no_grad`` on the parameters' own device, so CUDA parameters update on
the device; scalars (step counts, bias corrections) stay Python floats, so no step reads a
value back from the device."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

from .. import _core
from .._core import Tensor
from ..errors import ArgumentTypeError, InvalidValueError
from .optimizer import Optimizer

__all__ = [
    "FusedRule",
    "PerParam",
    "check_adam",
    "check_betas",
    "check_flags",
    "check_lr",
    "check_non_negative",
    "full_like",
    "hyperparameters",
    "in_order",
    "lerp_",
    "stepped_state",
]

#: PyTorch's wording for each hyperparameter in "Invalid ... value: x".
_LABEL = {"eps": "epsilon", "weight_decay": "weight_decay"}


def check_lr(lr: float) -> None:
    """``ValueError("Invalid learning rate: -1")`` as PyTorch (and its "Tensor lr must be
    1-element" for a tensor ``lr`` with more than one value)."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise InvalidValueError("Tensor lr must be 1-element")
    _check_number("lr", lr)
    if not 0.0 <= lr:
        raise InvalidValueError(f"Invalid learning rate: {lr}")


def check_non_negative(**values: float) -> None:
    """``ValueError("Invalid epsilon value: -1")`` (PyTorch's wording) for a negative value."""
    for name, v in values.items():
        _check_number(name, v)
        if not 0.0 <= v:
            raise InvalidValueError(f"Invalid {_LABEL.get(name, name)} value: {v}")


def _check_number(name: str, value: Any) -> None:
    """``TypeError`` naming the hyperparameter for a non-number (``lr="1e-3"`` read from a
    config file): Python's own "'<=' not supported between 'float' and 'str'" names none."""
    if isinstance(value, (str, bytes)) or value is None:
        raise ArgumentTypeError(
            f"{name} must be a number, got {type(value).__name__} {value!r}"
            + (f" (use float({value!r}))" if isinstance(value, str) else "")
        )


def check_betas(betas: Sequence[float]) -> tuple[float, float]:
    """Both betas in ``[0, 1)``; returns them as a tuple."""
    if not hasattr(betas, "__len__") or isinstance(betas, (str, bytes)):
        raise ArgumentTypeError(
            f"betas must be a pair of floats such as (0.9, 0.999), got {betas!r}"
        )
    if len(betas) != 2:
        raise InvalidValueError(f"betas must be a pair, got {tuple(betas)!r}")
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            raise InvalidValueError(f"Invalid beta parameter at index {i}: {b}")
    return (float(betas[0]), float(betas[1]))


def check_flags(differentiable: bool, capturable: bool = False) -> None:
    """PyTorch's implementation-selection keywords. ``foreach`` and ``fused`` only choose
    PyTorch's kernels (every step here is already one fused call or loop), so they are
    accepted, kept in the param groups and ignored. ``differentiable=True`` (autograd through
    the step) and ``capturable=True`` (device-resident step counts for CUDA-graph capture)
    change what a step is and are not supported: ``ValueError`` naming them."""
    if differentiable:
        raise InvalidValueError(
            "differentiable=True is not supported: optimizer steps run under no_grad; "
            "write the update with tensor ops yourself to differentiate through it"
        )
    if capturable:
        raise InvalidValueError(
            "capturable=True is not supported: step counts stay Python numbers on the host "
            "(there is no CUDA-graph capture to make the step safe for)"
        )


def check_adam(
    lr: float,
    eps: float,
    betas: Sequence[float],
    differentiable: bool = False,
    capturable: bool = False,
    **non_negative: float,
) -> tuple[float, float]:
    """The Adam family's checks in PyTorch's order: ``lr``, ``eps``, ``betas``, then the other
    ``non_negative`` values (``weight_decay``...) and the ``check_flags``; returns the betas."""
    check_lr(lr)
    check_non_negative(eps=eps)
    pair = check_betas(betas)
    check_non_negative(**non_negative)
    check_flags(differentiable, capturable)
    return pair


def hyperparameters(
    init: Callable[..., None], scope: Mapping[str, Any], order: Optional[str] = None
) -> dict[str, Any]:
    """The hyperparameters ``init`` was called with (its parameters after ``self, params``),
    read from its ``locals()``: the group defaults, so that each one is declared once, in the
    signature. They come in signature order, or in ``order`` (the names, space-separated; see
    ``in_order``) where PyTorch's ``defaults`` dict lists them otherwise."""
    hyper = {name: scope[name] for name in list(inspect.signature(init).parameters)[2:]}
    return hyper if order is None else in_order(hyper, order)


def in_order(hyper: dict[str, Any], order: str) -> dict[str, Any]:
    """``hyper`` with its keys in PyTorch's order (its ``defaults`` dict, which is not always
    its signature's), so that groups and ``state_dict()`` list them as PyTorch's."""
    keys = order.split()
    if sorted(keys) != sorted(hyper):
        raise AssertionError(f"the order must name every hyperparameter: {keys} vs {list(hyper)}")
    return {k: hyper[k] for k in keys}


def lerp_(t: Tensor, end: Tensor, weight: float) -> Tensor:
    """``t += weight * (end - t)`` in place (``Tensor.lerp_``)."""
    return t.copy_(t.lerp(end, weight))


def full_like(p: Tensor, value: float) -> Tensor:
    """A tensor like ``p`` (shape, dtype, device) filled with ``value``."""
    return _core.full(tuple(p.shape), value, dtype=p.dtype, device=p.device)


def stepped_state(
    states: dict[Tensor, dict[str, Any]], p: Tensor, start: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """``p``'s entry of ``states`` for this step: ``start()`` on its first step, then its
    ``step`` (where it keeps one) advanced; the one place every optimizer counts steps."""
    state = states.setdefault(p, {})
    if not state:
        state.update(start())
    if "step" in state:
        state["step"] += 1
    return state


class PerParam(Optimizer):
    """An optimizer stepping each parameter that has a gradient with ``_step_param``; the
    gradient arrives negated when the group sets ``maximize``. Subclasses list their state
    keys in ``_state_keys`` (checked by ``load_state_dict``) and the ones holding Python
    numbers rather than parameter-shaped tensors in ``_scalar_keys``. A parameter's state
    starts as ``_initial_state`` gives it, and its ``step`` (where it keeps one) is advanced
    before each ``_step_param``."""

    _state_keys: tuple[str, ...] = ()
    _scalar_keys: tuple[str, ...] = ()
    _tensor_state: tuple[str, ...] = ("step",)

    def _update(self, group: dict[str, Any]) -> None:
        for p in group["params"]:
            grad: Optional[Tensor] = p.grad
            if grad is None:
                continue
            if group.get("maximize", False):
                grad = -grad
            saved = _saved_state(self.state, p)
            try:
                self._step_param(group, p, grad, self._advance(group, p))
            except Exception:
                # A step refused for this parameter (a state that no longer fits it) leaves
                # its step count and scalar state as they were.
                _restore_state(self.state, p, saved)
                raise

    def _advance(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        """``p``'s state for this step: created by ``_initial_state`` on its first step, with
        its ``step`` (where it keeps one) advanced."""
        return stepped_state(self.state, p, lambda: self._initial_state(group, p))

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


class FusedRule(PerParam):
    """A per-parameter optimizer whose update is one of the engine's element-wise rules
    (``_core._optim_rule_step``): one fused call per group, on the CPU or the parameters'
    CUDA device. A subclass names the rule (``_rule``), lists the state tensors it updates in
    the engine's order (``_rule_states``), and computes a parameter's per-step constants in
    ``_constants`` (advancing any scalar state, such as NAdam's ``mu_product``, there). Its
    ``_state_keys`` follow from those: ``step``, the ``_scalar_keys``, then the
    ``_rule_states``, which is PyTorch's order for every rule.

    Tensors the engine cannot update in place (float16/bfloat16, non-contiguous parameters or
    states) step through float32 (or their own dtype's) contiguous copies that are written
    back, so the update is computed at least as precisely as PyTorch's."""

    _rule: str = ""
    _rule_states: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._state_keys = ("step", *cls._scalar_keys, *cls._rule_states)

    def _update(self, group: dict[str, Any]) -> None:
        params: list[Tensor] = []
        grads: list[Tensor] = []
        states: list[list[Tensor]] = []
        consts: list[list[float]] = []
        write_back: list[tuple[Tensor, Tensor]] = []
        # Each advanced parameter, its state and (where the rule keeps scalars in it) a copy
        # of that state before ``_constants``: what ``_unadvance`` needs, so that a step the
        # engine refuses (a state that no longer fits its parameter) changes nothing.
        advanced: list[tuple[Tensor, dict[str, Any], Optional[dict[str, Any]]]] = []
        try:
            self._gather(group, params, grads, states, consts, write_back, advanced)
            if params:
                _core._optim_rule_step(self._rule, params, grads, states, consts)
        except Exception:
            self._unadvance(advanced)
            raise
        for original, copy in write_back:
            original.copy_(copy)

    def _gather(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[list[Tensor]],
        consts: list[list[float]],
        write_back: list[tuple[Tensor, Tensor]],
        advanced: list[tuple[Tensor, dict[str, Any], Optional[dict[str, Any]]]],
    ) -> None:
        """Advances each parameter with a gradient and fills the engine call's lists (and
        ``advanced``)."""
        scalars = bool(self._scalar_keys)
        for p in group["params"]:
            grad: Optional[Tensor] = p.grad
            if grad is None:
                continue
            state = self._advance(group, p)
            advanced.append((p, state, dict(state) if scalars else None))
            consts.append(self._prefix(group, state) + self._constants(group, state))
            tensors = [state[key] for key in self._rule_states]
            stepped = []
            for t in [p, *tensors]:
                if _needs_copy(t):
                    copy = _stepping_copy(t)
                    write_back.append((t, copy))
                    t = copy
                stepped.append(t)
            p, tensors = stepped[0], stepped[1:]
            params.append(p)
            grads.append(grad)
            states.append(tensors)

    def _unadvance(
        self, advanced: list[tuple[Tensor, dict[str, Any], Optional[dict[str, Any]]]]
    ) -> None:
        """Takes back ``_gather``'s advances after a failed step: the scalars ``_constants``
        moved return, each step count goes down by one, and a state created by this step
        (its count back at 0) is dropped."""
        for p, state, scalars in advanced:
            if scalars is not None:
                state.update(scalars)
            state["step"] -= 1
            if state["step"] == 0:
                self.state.pop(p, None)

    def _prefix(self, group: dict[str, Any], state: dict[str, Any]) -> list[float]:
        """The constants every rule starts with, ``scale, l2, decay``: ``-1`` under
        ``maximize``, and the group's ``weight_decay`` as L2 on the gradient or (with
        ``decoupled_weight_decay``) as a ``1 - lr · weight_decay`` shrink of the parameter.
        Only the optimizer's own hyperparameters count: a group's other keys (``weight_decay``
        given to ``Rprop``) are ignored, as PyTorch ignores them."""

        def option(key: str, default: Any) -> Any:
            return group.get(key, default) if key in self.defaults else default

        scale = -1.0 if option("maximize", False) else 1.0
        wd = float(option("weight_decay", 0.0))
        if option("decoupled_weight_decay", False):
            return [scale, 0.0, 1.0 - group["lr"] * wd]
        return [scale, wd, 1.0]

    def _constants(self, group: dict[str, Any], state: dict[str, Any]) -> list[float]:
        raise NotImplementedError


def _saved_state(states: dict[Tensor, dict[str, Any]], p: Tensor) -> Optional[dict[str, Any]]:
    """A shallow copy of ``p``'s state (``None`` when it has none yet), for ``_restore_state``."""
    state = states.get(p)
    return dict(state) if state else None


def _restore_state(
    states: dict[Tensor, dict[str, Any]], p: Tensor, before: Optional[dict[str, Any]]
) -> None:
    """Puts back the state ``_saved_state`` copied: its step count and scalars return, and a
    state created since is dropped (its tensors are the same objects, left as they are)."""
    if before is None:
        states.pop(p, None)
    else:
        state = states.setdefault(p, {})
        state.clear()
        state.update(before)


_ENGINE_DTYPES = (_core.float32, _core.float64)


def _needs_copy(t: Tensor) -> bool:
    return t.dtype not in _ENGINE_DTYPES or not t.is_contiguous()


def _stepping_copy(t: Tensor) -> Tensor:
    """A contiguous copy of ``t`` (one that ``_needs_copy``) the engine can update: float32
    unless ``t`` is float64. A cast or a strided read always makes new memory."""
    dtype = t.dtype if t.dtype in _ENGINE_DTYPES else _core.float32
    return t.to(dtype).contiguous()
