"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad`` and ``state_dict``."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Callable, Optional, Union

from .._core import Tensor
from .._grad_mode import no_grad

ParamsT = Union[Iterable[Tensor], Iterable[dict[str, Any]]]


class Optimizer:
    """Base class: subclasses implement ``_update(group)`` for one parameter group."""

    #: Whether ``step()`` multiplies every gradient by ``_grad_scale`` itself (a fused step),
    #: as PyTorch's attribute of the same name: ``GradScaler`` then only checks the gradients
    #: for inf/NaN and hands the inverse scale over, instead of unscaling them in a separate
    #: pass. Each optimizer class declares it; a custom one may set it to ``True`` when its
    #: ``_update`` honours ``_grad_scale``.
    _step_supports_amp_scaling: bool = False
    #: Gradients are multiplied by this inside fused steps (AMP's unscale); 1.0 otherwise.
    _grad_scale: float = 1.0

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict[str, Any]) -> None:
        g = dict(group)
        ps = g["params"]
        g["params"] = [ps] if isinstance(ps, Tensor) else list(ps)
        for p in g["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
            # A frozen parameter (requires_grad False) is accepted, as in PyTorch: its .grad
            # stays None, so every step skips it until it is unfrozen.
            if not p.is_leaf:
                # Its .grad is never filled, and a step would write into an intermediate.
                raise ValueError(
                    "can't optimize a non-leaf Tensor (the result of an operation); optimize "
                    "the tensors it was computed from, or .detach().requires_grad_() a copy"
                )
        if len({id(p) for p in g["params"]}) != len(g["params"]):
            # Each copy would be stepped: the update applied twice per step.
            raise ValueError("optimizer parameter group contains the same parameter twice")
        for k, v in self.defaults.items():
            g.setdefault(k, v)
        seen = {id(p) for pg in self.param_groups for p in pg["params"]}
        if any(id(p) in seen for p in g["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(g)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad = p.grad * 0

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        loss = None
        if closure is not None:
            from .._grad_mode import enable_grad

            with enable_grad():
                loss = closure()
        with no_grad():
            for g in self.param_groups:
                self._update(g)
        return loss

    def _update(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``."""
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if p in self.state:
                    state[index[id(p)]] = dict(self.state[p])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Loads what ``state_dict`` returned. Everything is checked first (group count and
        sizes, hyperparameter kinds, each parameter's state keys, shapes and dtypes): a bad
        state dict raises ``StateDictError``, ``ShapeError`` or ``InvalidValueError`` and
        changes nothing."""
        from ._state_check import prepare

        groups, state = prepare(self, state_dict)
        for live, new in zip(self.param_groups, groups):
            live.clear()
            live.update(new)
        self.state = state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join([*lines, ")"])
