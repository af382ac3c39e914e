"""Validation of an optimizer ``state_dict`` before ``load_state_dict`` applies it.

Why: a state dict may come from a file. Applying it blindly lets problems surface later, far
from their cause (a missing ``step`` as ``KeyError: 'step'`` inside ``step()``, a string
learning rate as a ``TypeError``, a moment of the wrong shape as a shape error mid-training).
``prepare`` checks everything first and returns the new groups and state, so that
``load_state_dict`` either changes nothing (and raises a typed error naming the problem) or
applies all of it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Optional

from .._core import Tensor
from ..errors import ArgumentTypeError, InvalidValueError, ShapeError, StateDictError

__all__ = ["prepare"]


class _NotADictError(ArgumentTypeError, ValueError):
    """A state dict that is no dict (a path, a list): PyTorch's ``TypeError``, and the
    ``ValueError`` every other bad state dict raises here."""


#: Group hyperparameters that no algorithm accepts below zero.
_NON_NEGATIVE = frozenset(
    {"lr", "eps", "weight_decay", "momentum", "alpha", "lr_decay", "initial_accumulator_value",
     "dampening", "initial_lr", "rho", "lambd", "momentum_decay", "tolerance_grad",
     "tolerance_change", "max_iter", "max_eval", "history_size", "ns_steps"}
)  # fmt: skip
#: The learning rates among them, and how far below 0 rounding may leave one.
_LRS = frozenset({"lr", "initial_lr"})
_ROUNDING = 1e-12
#: Group keys a state dict may lack (one saved before they existed) for an optimizer of our
#: own that the table below does not know (a user's subclass of ``Optimizer``): the live
#: optimizer's values are kept.
_OPTIONAL_KEYS = frozenset(
    {"foreach", "fused", "capturable", "differentiable", "maximize", "decoupled_weight_decay"}
)
_FLAGS = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}
_ADAM = {"amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
         "differentiable": False, "decoupled_weight_decay": False, "fused": None}  # fmt: skip
#: Per built-in optimizer, the group keys a saved group may lack and the value they then take:
#: those PyTorch's ``__setstate__`` of the class fills in (``group.setdefault``, run by its
#: ``load_state_dict``), with its values, not the live optimizer's (the constructor defaults,
#: except SGD's ``fused``, which it sets to False). PyTorch's ``SparseAdam`` and ``LBFGS``
#: have no ``__setstate__`` but read ``group.get("maximize", False)``: the same result. A
#: subclass (a user's ``class MyAdam(Adam)``) takes its built-in base's entry.
_FILLED_KEYS: dict[str, dict[str, Any]] = {
    "SGD": {"nesterov": False, "maximize": False, "foreach": None, "differentiable": False,
            "fused": False},
    "Adam": _ADAM,
    "AdamW": _ADAM,
    "RMSprop": {"momentum": 0, "centered": False, **_FLAGS},
    "Adagrad": {"foreach": None, "maximize": False, "differentiable": False, "fused": None},
    "Adadelta": _FLAGS,
    "Adamax": _FLAGS,
    "ASGD": _FLAGS,
    "Rprop": _FLAGS,
    "NAdam": {**_FLAGS, "decoupled_weight_decay": False},
    "RAdam": {**_FLAGS, "decoupled_weight_decay": False},
    "Adafactor": {"foreach": None},
    "SparseAdam": {"maximize": False},
    "LBFGS": {"maximize": False},
    "Muon": {},
}  # fmt: skip
#: Group keys PyTorch's ``__setstate__`` overwrites whatever was saved: an AdamW is always
#: decoupled (an Adam state dict loaded into it too).
_FORCED_KEYS: dict[str, dict[str, Any]] = {"AdamW": {"decoupled_weight_decay": True}}
#: ``(required, allowed, scalar)`` state keys of an algorithm (see ``_state_rule``).
_Rule = tuple[set[str], set[str], set[str]]
#: Most steps a state may record; keeps the counter an exact int64 in the engine.
_MAX_STEP = 2**62


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _state_rule(opt: Any, group: Mapping[str, Any]) -> Optional[_Rule]:
    """``(required, allowed, scalar)`` per-parameter state keys of a built-in algorithm, given
    the group's settings (``scalar``: keys holding a number, not a parameter-shaped tensor), or
    ``None`` for an optimizer we do not know (generic checks only). An empty per-parameter
    state is always allowed: the algorithms create it on the first step."""
    from ._common import PerParam

    if isinstance(opt, PerParam):
        return opt._state_rule(dict(group))
    for cls in type(opt).__mro__:
        if cls.__module__ != "democratising.optim.algorithms":
            continue
        name = cls.__name__
        if name == "SGD":
            return set(), {"momentum_buffer"}, set()
        if name in ("Adam", "AdamW"):
            keys = {"step", "exp_avg", "exp_avg_sq"}
            if group.get("amsgrad"):
                keys.add("max_exp_avg_sq")
            return keys, keys, set()
        if name == "RMSprop":
            keys = {"step", "square_avg"}
            if _is_num(group.get("momentum")) and group["momentum"] > 0:
                keys.add("momentum_buffer")
            if group.get("centered"):
                keys.add("grad_avg")
            return keys, keys, set()
        if name == "Adagrad":
            return {"step", "sum"}, {"step", "sum"}, set()
    return None


def _load_rules(opt: Any) -> tuple[Optional[dict[str, Any]], dict[str, Any]]:
    """``(filled, forced)`` group keys of ``opt``'s built-in class (``_FILLED_KEYS``,
    ``_FORCED_KEYS``), found along its MRO; ``filled`` is ``None`` for a class of the user's."""
    for cls in type(opt).__mro__:
        name = cls.__name__
        if name in _FILLED_KEYS and cls.__module__.startswith("democratising.optim."):
            return _FILLED_KEYS[name], _FORCED_KEYS.get(name, {})
    return None, {}


_TRI_STATE = frozenset({"foreach", "fused"})


def _check_value(key: str, value: Any, live: Any, where: str) -> Any:
    """A saved hyperparameter of the same kind as the live one; returns it as stored."""
    what = f"{where} {key!r}"
    if isinstance(live, bool):
        # ``foreach``/``fused`` are tri-state in PyTorch: None (let it choose) loads too.
        # An int flag loads too (``amsgrad=0``: the constructor takes it, so its checkpoints
        # hold it).
        plain = isinstance(value, bool) or (_is_num(value) and isinstance(value, int))
        if not plain and not (value is None and key in _TRI_STATE):
            raise InvalidValueError(f"{what} must be a bool like the optimizer's, got {value!r}")
        return value
    if _is_num(live) or (isinstance(live, Tensor) and live.numel() == 1):
        # A one-value tensor (``lr=torch.tensor(0.01)``) is a number too, kept as saved.
        num = value.item() if isinstance(value, Tensor) and value.numel() == 1 else value
        if not _is_num(num) or not math.isfinite(num):
            raise InvalidValueError(f"{what} must be a finite number, got {value!r}")
        # (A scheduler's arithmetic can leave an lr of -4e-19 where it reaches 0, as PyTorch's
        # does: within rounding of 0, that loads.)
        if key in _NON_NEGATIVE and num < 0 and not (key in _LRS and num > -_ROUNDING):
            raise InvalidValueError(f"{what} must be >= 0, got {value!r}")
        return value
    if isinstance(live, (tuple, list)):
        if not isinstance(value, (tuple, list)) or len(value) != len(live):
            raise InvalidValueError(f"{what} must be a sequence of {len(live)}, got {value!r}")
        out = [
            _check_value(f"{key}[{i}]", v, lv, where) for i, (v, lv) in enumerate(zip(value, live))
        ]
        if key == "betas" and not all(0.0 <= b < 1.0 for b in out):
            raise InvalidValueError(f"{what} must lie in [0, 1), got {value!r}")
        return tuple(out) if isinstance(live, tuple) else out
    if isinstance(live, str):  # an option that is a name or None (line_search_fn, ...)
        if not isinstance(value, str) and value is not None:
            raise InvalidValueError(f"{what} must be a string or None, got {value!r}")
        return value
    if live is None:
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise InvalidValueError(f"{what} must be None or a plain value, got {value!r}")
        return value
    return value  # a kind we do not know (a callable...): as PyTorch, taken as saved


def _check_groups(opt: Any, groups: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    """The new parameter groups (live params, saved settings) and the saved ids in order."""
    live_groups = opt.param_groups
    if not isinstance(groups, (list, tuple)):
        raise InvalidValueError("optimizer state dict 'param_groups' must be a list")
    if len(groups) != len(live_groups):
        raise InvalidValueError(  # PyTorch's text first, then the counts
            "loaded state dict has a different number of parameter groups (it has "
            f"{len(groups)} parameter groups, the optimizer {len(live_groups)})"
        )
    new_groups: list[dict[str, Any]] = []
    ids: list[Any] = []
    filled, forced = _load_rules(opt)
    for i, (live, saved) in enumerate(zip(live_groups, groups)):
        where = f"parameter group {i}"
        if not isinstance(saved, Mapping):
            raise InvalidValueError(f"{where} of the loaded state dict is not a dict")
        params = saved.get("params")
        if not isinstance(params, (list, tuple)):
            raise StateDictError(f"{where} of the loaded state dict has no 'params' list")
        if len(params) != len(live["params"]):
            raise InvalidValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                f"optimizer's group: {where} has {len(params)} parameters in the loaded state "
                f"dict and {len(live['params'])} in the optimizer"
            )
        optional = _OPTIONAL_KEYS if filled is None else filled
        missing = sorted(k for k in live if k != "params" and k not in saved and k not in optional)
        if missing:
            raise StateDictError(f"{where} of the loaded state dict lacks {missing}")
        group: dict[str, Any] = {"params": live["params"]}
        for key, value in saved.items():
            if key == "params":
                continue
            if not isinstance(key, str):
                raise InvalidValueError(f"{where} has a non-string key {key!r}")
            group[key] = _check_value(key, value, live.get(key), where)
        if filled is None:
            for key in live:
                if key in _OPTIONAL_KEYS and key not in group:
                    group[key] = live[key]
        else:
            for key, value in filled.items():
                group.setdefault(key, value)
        group.update(forced)
        for flag in ("capturable", "differentiable"):
            if group.get(flag) is True:  # as the constructors refuse them
                raise InvalidValueError(f"{where}: {flag}=True is not supported")
        new_groups.append(group)
        ids.extend(_norm_id(k) for k in params)
    if not all(isinstance(k, int) and not isinstance(k, bool) for k in ids):
        raise InvalidValueError("parameter ids in 'param_groups' must be ints")
    if len(set(ids)) != len(ids):
        raise InvalidValueError("a parameter id appears twice in 'param_groups'")
    return new_groups, ids


def _check_entry(i: Any, st: Any, p: Tensor, rule: Optional[_Rule]) -> dict[str, Any]:
    """One parameter's state, checked against the algorithm's rule and the parameter."""
    where = f"state of parameter {i}"
    if not isinstance(st, Mapping):
        raise InvalidValueError(f"{where} is not a dict")
    if st and rule is not None:
        required, allowed, _ = rule
        missing, unknown = sorted(required - set(st)), sorted(set(st) - allowed)
        if missing or unknown:
            raise StateDictError(
                f"{where}: missing keys {missing}, unexpected keys {unknown} (expected "
                f"{sorted(required)})"
            )
    out: dict[str, Any] = {}
    for name, v in st.items():
        if not isinstance(name, str):
            raise InvalidValueError(f"{where} has a non-string key {name!r}")
        if name == "step":
            if isinstance(v, Tensor) and v.dim() == 0 and not v.requires_grad:
                v = v.item()  # PyTorch keeps the count as a 0-d tensor
            ok = _is_num(v) and (isinstance(v, int) or float(v).is_integer())
            if not ok or not 0 <= v <= _MAX_STEP:
                raise InvalidValueError(f"{where}: 'step' must be an int >= 0, got {v!r}")
            out[name] = int(v)
        elif rule is not None and name in rule[2]:
            if isinstance(v, Tensor) and v.numel() == 1:
                v = v.item()  # PyTorch keeps these as 0-d tensors
            if not _is_num(v) or not math.isfinite(v):
                raise InvalidValueError(f"{where}: {name!r} must be a finite number, got {v!r}")
            out[name] = float(v)
        elif isinstance(v, Tensor):
            shapes_ok = tuple(v.shape) == tuple(p.shape) or (rule is None and v.dim() == 0)
            if not shapes_ok:
                raise ShapeError(
                    f"{where}: {name!r} has shape {tuple(v.shape)}, the parameter {tuple(p.shape)}"
                )
            if not v.dtype.is_floating_point and p.dtype.is_floating_point:
                raise InvalidValueError(f"{where}: {name!r} has dtype {v.dtype}, not a float")
            if v.dtype.is_floating_point and v.dtype != p.dtype:
                v = v.to(p.dtype)
            if v.device != p.device:
                v = v.to(p.device)
            out[name] = v
        elif v is None and rule is not None and name in rule[1] - rule[0]:
            out[name] = v  # an optional buffer not created yet (SGD's momentum_buffer)
        elif rule is None and (v is None or isinstance(v, (bool, int, float, str))):
            out[name] = v
        else:
            raise InvalidValueError(f"{where}: {name!r} must be a tensor, got {v!r}")
    return out


def prepare(opt: Any, state_dict: Any) -> tuple[list[dict[str, Any]], dict[Tensor, dict[str, Any]]]:
    """Checks ``state_dict`` against ``opt`` and returns ``(param_groups, state)`` ready to
    assign; ``StateDictError`` (missing/unexpected keys), ``ShapeError`` or
    ``InvalidValueError`` (both ``ValueError``) otherwise."""
    if not isinstance(state_dict, Mapping):
        # A path or a list where the dict belongs: a TypeError, as PyTorch's.
        hint = " (load the file first)" if isinstance(state_dict, (str, bytes)) else ""
        raise _NotADictError(
            f"an optimizer state dict must be a dict, got {type(state_dict).__name__}{hint}"
        )
    missing = [k for k in ("state", "param_groups") if k not in state_dict]
    if missing:
        raise StateDictError(f"optimizer state dict lacks {missing}")
    groups, ids = _check_groups(opt, state_dict["param_groups"])
    saved_state = state_dict["state"]
    if not isinstance(saved_state, Mapping):
        raise InvalidValueError("optimizer state dict 'state' must be a dict")
    params: list[Tensor] = [p for g in opt.param_groups for p in g["params"]]
    owner = [g for g in groups for _ in g["params"]]
    position = {k: n for n, k in enumerate(ids)}
    state: dict[Tensor, dict[str, Any]] = {}
    custom = getattr(opt, "_check_state_entry", None)  # an algorithm with its own layout
    for k, st in saved_state.items():
        n = position.get(_norm_id(k)) if isinstance(k, (int, str)) else None
        if n is None or isinstance(k, bool):
            raise StateDictError(
                f"loaded state dict has state for parameter {k!r}, which no parameter group "
                f"lists (the optimizer has {len(params)} parameters)"
            )
        if custom is not None:
            state[params[n]] = custom(k, st, params[n])
        else:
            state[params[n]] = _check_entry(k, st, params[n], _state_rule(opt, owner[n]))
    return groups, state


def _norm_id(k: Any) -> Any:
    """Ids as ints where they are spelled as digits (JSON object keys are strings)."""
    if isinstance(k, str) and k.isdigit():
        return int(k)
    return k
