"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad`` and ``state_dict``."""

from __future__ import annotations

import copy
import functools
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Optional, Union

from .._core import Tensor
from .._grad_mode import no_grad
from ..errors import ArgumentTypeError, InvalidValueError

ParamsT = Union[Iterable[Tensor], Iterable[dict[str, Any]], Iterable[tuple[str, Tensor]]]


class _RequiredParameter:
    """The default of a hyperparameter every group must give (PyTorch's ``required``, as
    custom optimizers write ``def __init__(self, params, lr=required)``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


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
    #: Per-parameter state keys (with a class's ``_scalar_keys``) that the built-in
    #: optimizers keep as Python numbers and ``state_dict()`` gives as 0-d tensors, as
    #: PyTorch's built-ins keep them. Empty for a user's own optimizer, whose state is given
    #: as it keeps it (as PyTorch does).
    _tensor_state: tuple[str, ...] = ()
    # The ``register_*_hook`` tables (hook id -> hook), created by ``_init_hooks``.
    _optimizer_step_pre_hooks: OrderedDict[int, Callable[..., Any]]
    _optimizer_step_post_hooks: OrderedDict[int, Callable[..., Any]]
    _optimizer_state_dict_pre_hooks: OrderedDict[int, Callable[..., Any]]
    _optimizer_state_dict_post_hooks: OrderedDict[int, Callable[..., Any]]
    _optimizer_load_state_dict_pre_hooks: OrderedDict[int, Callable[..., Any]]
    _optimizer_load_state_dict_post_hooks: OrderedDict[int, Callable[..., Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Every ``step`` a class defines (a user's own optimizer too) runs the step hooks.
        if "step" in cls.__dict__:
            cls.step = _with_step_hooks(cls.__dict__["step"])  # type: ignore[method-assign]

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        # A defaultdict, as PyTorch's: a custom ``step`` reads ``self.state[p]`` before the
        # first step and finds an empty dict to fill.
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        _init_hooks(self)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            # ``list(tensor)`` would split it into rows (non-leaf views): refuse it as PyTorch.
            raise ArgumentTypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {type(params).__name__}"
            )
        if isinstance(params, (set, frozenset)):
            # PyTorch's FutureWarning: a set's order, which state dicts rely on, varies by run.
            warnings.warn(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list "
                "instead. This will be an error in a future release.",
                FutureWarning,
                stacklevel=2,
            )
        if callable(params) and not hasattr(params, "__iter__"):
            # Adam(model.parameters, ...): Python's "'method' object is not iterable" does not
            # say that the call's parentheses are missing.
            name = getattr(params, "__name__", type(params).__name__)
            raise ArgumentTypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got the callable {name!r}: call it (model.parameters(), not "
                "model.parameters)"
            )
        groups: list[Any] = list(params)
        if not groups:
            raise InvalidValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Appends a group; its missing hyperparameters take the optimizer's defaults. Its
        ``params`` are tensors or, as ``model.named_parameters()`` gives them, ``(name,
        tensor)`` pairs, whose names are kept in the group's ``param_names``."""
        if not isinstance(param_group, Mapping):
            raise ArgumentTypeError(f"param_group must be a dict, but got {type(param_group)}")
        g = dict(param_group)
        ps = g["params"]
        if isinstance(ps, (set, frozenset)):
            # A set's order changes between runs, and state dicts refer to parameters by order.
            raise ArgumentTypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        names = [p[0] for p in ps if isinstance(p, tuple)]
        g["params"] = [p[1] if isinstance(p, tuple) and len(p) == 2 else p for p in ps]
        if names:
            if len(names) != len(ps):
                raise InvalidValueError(
                    "all optimizer params should be with/without names. Some param names are "
                    "missing"
                )
            g["param_names"] = names
        for p in g["params"]:
            if not isinstance(p, Tensor):
                raise ArgumentTypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__name__}"
                )
            # A frozen parameter (requires_grad False) is accepted, as in PyTorch: its .grad
            # stays None, so every step skips it until it is unfrozen.
            if not p.is_leaf:
                # Its .grad is never filled, and a step would write into an intermediate.
                raise InvalidValueError(
                    "can't optimize a non-leaf Tensor (the result of an operation); optimize "
                    "the tensors it was computed from, or .detach().requires_grad_() a copy"
                )
        if len({id(p) for p in g["params"]}) != len(g["params"]):
            # PyTorch warns and steps each copy (the update applied twice per step, from a
            # list built by hand around tied weights): here each is kept once.
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; each is "
                "optimized once",
                UserWarning,
                stacklevel=3,
            )
            unique = list({id(p): p for p in g["params"]}.values())
            if "param_names" in g:
                first = {id(p): n for n, p in reversed(list(zip(g["param_names"], g["params"])))}
                g["param_names"] = [first[id(p)] for p in unique]
            g["params"] = unique
        for k, v in self.defaults.items():
            if v is required and k not in g:
                raise InvalidValueError(
                    f"parameter group didn't specify a value of required optimization parameter {k}"
                )
            g.setdefault(k, v)
        for pg in self.param_groups:
            if ("param_names" in pg) != ("param_names" in g):
                kind = "with names" if "param_names" in g else "without names"
                raise InvalidValueError(
                    "all optimizer param groups should be with/without names. cannot add param "
                    f"group {kind} to the optimizer"
                )
        seen = {id(p) for pg in self.param_groups for p in pg["params"]}
        if any(id(p) in seen for p in g["params"]):
            raise InvalidValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(g)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                grad = p.grad
                if grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        # In place, as PyTorch: a reference to the gradient sees the zeros.
                        if grad.requires_grad:
                            p.grad = grad = grad.detach()
                        grad.zero_()

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
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``, passed
        through the ``register_state_dict_*_hook`` hooks."""
        for pre in list(_hooks(self, "_optimizer_state_dict_pre_hooks").values()):
            pre(self)
        out = self._plain_state_dict()
        for post in list(_hooks(self, "_optimizer_state_dict_post_hooks").values()):
            result = post(self, out)
            if result is not None:
                out = result
        return out

    def _plain_state_dict(self) -> dict[str, Any]:
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
        # The built-ins' step counts and other per-parameter scalars (NAdam's ``mu_product``,
        # ASGD's ``eta``/``mu``) live as Python numbers, so that a step never reads a device
        # value; the state dict holds them as PyTorch's does, as 0-d tensors (``exported_state``),
        # so that code (and PyTorch) reading ``state["step"]`` as a tensor works on it.
        for g in self.param_groups:
            for p in g["params"]:
                if p in self.state:
                    state[index[id(p)]] = exported_state(self, self.state[p])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Loads what ``state_dict`` returned. Everything is checked first (group count and
        sizes, hyperparameter kinds, each parameter's state keys, shapes and dtypes): a bad
        state dict raises ``StateDictError``, ``ShapeError`` or ``InvalidValueError`` and
        changes nothing."""
        from ._state_check import prepare

        for pre in list(_hooks(self, "_optimizer_load_state_dict_pre_hooks").values()):
            result = pre(self, state_dict)
            if result is not None:
                state_dict = result
        # ``param_names`` (groups built from ``named_parameters()``) only label the
        # parameters: as PyTorch, a saved group's names are taken, and a live group's kept
        # when the saved one has none, so named and unnamed optimizers load each other.
        names: list[Any] = []
        if isinstance(state_dict, Mapping) and isinstance(
            state_dict.get("param_groups"), (list, tuple)
        ):
            saved = state_dict["param_groups"]
            names = [g.get("param_names") if isinstance(g, Mapping) else None for g in saved]
            stripped = [
                {k: v for k, v in g.items() if k != "param_names"} if isinstance(g, Mapping) else g
                for g in saved
            ]
            state_dict = {**state_dict, "param_groups": stripped}
        live_names = [g.pop("param_names", None) for g in self.param_groups]
        try:
            groups, state = prepare(self, state_dict)
        finally:
            for g, n in zip(self.param_groups, live_names):
                if n is not None:
                    g["param_names"] = n
        for live, new, saved_names, kept in zip(self.param_groups, groups, names, live_names):
            live.clear()
            live.update(new)
            chosen = saved_names if saved_names is not None else kept
            if chosen is not None:
                live["param_names"] = list(chosen)
        self.state = defaultdict(dict, state)
        for post in list(_hooks(self, "_optimizer_load_state_dict_post_hooks").values()):
            post(self)

    # ---- hooks (PyTorch's names, arguments and order) ---------------------------------------

    def register_step_pre_hook(self, hook: Callable[..., Any]) -> Any:
        """``hook(optimizer, args, kwargs)`` runs before each ``step``; it may return a new
        ``(args, kwargs)`` pair for the step. Returns a handle whose ``remove()`` drops it."""
        return _add_hook(_hooks(self, "_optimizer_step_pre_hooks"), hook, prepend=False)

    def register_step_post_hook(self, hook: Callable[..., Any]) -> Any:
        """``hook(optimizer, args, kwargs)`` runs after each ``step``."""
        return _add_hook(_hooks(self, "_optimizer_step_post_hooks"), hook, prepend=False)

    def register_state_dict_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> Any:
        """``hook(optimizer)`` runs before ``state_dict`` builds the dict."""
        return _add_hook(_hooks(self, "_optimizer_state_dict_pre_hooks"), hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable[..., Any], prepend: bool = False) -> Any:
        """``hook(optimizer, state_dict)`` runs on the built dict; a dict it returns replaces
        it."""
        return _add_hook(_hooks(self, "_optimizer_state_dict_post_hooks"), hook, prepend)

    def register_load_state_dict_pre_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> Any:
        """``hook(optimizer, state_dict)`` runs before loading; a dict it returns is loaded
        instead."""
        return _add_hook(_hooks(self, "_optimizer_load_state_dict_pre_hooks"), hook, prepend)

    def register_load_state_dict_post_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> Any:
        """``hook(optimizer)`` runs after ``load_state_dict`` has applied the dict."""
        return _add_hook(_hooks(self, "_optimizer_load_state_dict_post_hooks"), hook, prepend)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # An optimizer pickled before the hooks existed, or with a plain ``state`` dict.
        self.__dict__.update(state)
        _init_hooks(self, keep=True)
        if not isinstance(self.__dict__.get("state"), defaultdict):
            self.state = defaultdict(dict, self.__dict__.get("state", {}))

    def __repr__(self) -> str:
        # PyTorch's layout, byte for byte: a blank line between groups.
        out = f"{type(self).__name__} ("
        for i, g in enumerate(self.param_groups):
            out += f"\nParameter Group {i}\n"
            for k in sorted(g):
                if k != "params":
                    out += f"    {k}: {g[k]}\n"
        return out + ")"


def exported_state(opt: Any, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of one parameter's state as ``opt.state_dict()`` gives it: the keys of
    ``opt._tensor_state`` and its ``_scalar_keys`` that hold Python numbers become 0-d
    tensors, ``step`` in PyTorch's scalar dtype (float32, float64 under a float64 default
    dtype; exact for any count below 2**24), the others (``mu_product``, ``eta``, ``mu``) in
    float64, so that loading them back continues the very same trajectory (PyTorch casts them
    to the parameter's dtype when it loads them). Also for wrappers that gather the state
    themselves (ZeRO)."""
    from .. import _core, get_default_dtype

    out = dict(entry)
    keys: tuple[str, ...] = getattr(opt, "_tensor_state", ())
    if not keys:
        return out
    for k in {*keys, *getattr(opt, "_scalar_keys", ())}.intersection(out):
        v = out[k]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            wide = k != "step" or get_default_dtype() == _core.float64
            dtype = _core.float64 if wide else _core.float32
            out[k] = _core.full((), float(v), dtype=dtype)
    return out


_HOOK_DICTS = (
    "_optimizer_step_pre_hooks",
    "_optimizer_step_post_hooks",
    "_optimizer_state_dict_pre_hooks",
    "_optimizer_state_dict_post_hooks",
    "_optimizer_load_state_dict_pre_hooks",
    "_optimizer_load_state_dict_post_hooks",
)


def _hooks(opt: Any, name: str) -> OrderedDict[int, Callable[..., Any]]:
    """One of ``opt``'s hook tables, created empty where it lacks it (an optimizer built
    without ``Optimizer.__init__``, such as a wrapper that forwards to an inner one)."""
    table = opt.__dict__.get(name)
    if table is None:
        table = opt.__dict__[name] = OrderedDict()
    return table  # type: ignore[no-any-return]


def _init_hooks(opt: Optimizer, keep: bool = False) -> None:
    """The optimizer's empty hook tables (``keep``: only those it lacks)."""
    for name in _HOOK_DICTS:
        if not keep or name not in opt.__dict__:
            opt.__dict__[name] = OrderedDict()


def _add_hook(
    table: OrderedDict[int, Callable[..., Any]], hook: Callable[..., Any], prepend: bool
) -> Any:
    from ..nn.module import RemovableHandle

    handle = RemovableHandle(table)
    table[handle.id] = hook
    if prepend:
        table.move_to_end(handle.id, last=False)
    return handle


#: Step hooks of every optimizer (PyTorch's ``register_optimizer_step_pre_hook`` and
#: ``..._post_hook``): the pre-hooks run before each optimizer's own, the post-hooks after.
_global_optimizer_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_global_optimizer_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()


def register_optimizer_step_pre_hook(hook: Callable[..., Any]) -> Any:
    """``hook(optimizer, args, kwargs)`` before every optimizer's ``step``; it may return
    ``(new_args, new_kwargs)``. Returns a handle whose ``remove()`` unregisters it."""
    return _add_hook(_global_optimizer_pre_hooks, hook, prepend=False)


def register_optimizer_step_post_hook(hook: Callable[..., Any]) -> Any:
    """``hook(optimizer, args, kwargs)`` after every optimizer's ``step``. Returns a handle
    whose ``remove()`` unregisters it."""
    return _add_hook(_global_optimizer_post_hooks, hook, prepend=False)


def _with_step_hooks(step: Callable[..., Any]) -> Callable[..., Any]:
    """``step`` running the optimizer's step pre- and post-hooks around it, once per call: a
    ``step`` reached through ``super().step()`` runs inside the outer one's hooks."""
    if getattr(step, "_runs_step_hooks", False):
        return step

    @functools.wraps(step)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opt = args[0]
        hooks = opt.__dict__
        hooks["_opt_called"] = True  # read by LRScheduler.step's order warning (as PyTorch)
        if hooks.get("_in_step_hooks", False) or not (
            hooks.get("_optimizer_step_pre_hooks")
            or hooks.get("_optimizer_step_post_hooks")
            or _global_optimizer_pre_hooks
            or _global_optimizer_post_hooks
        ):
            return step(*args, **kwargs)  # (no hooks: the step as it is, nothing to track)
        pres = [
            *_global_optimizer_pre_hooks.values(),
            *_hooks(opt, "_optimizer_step_pre_hooks").values(),
        ]
        for pre in pres:
            result = pre(opt, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        f"{pre} must return None or a tuple of (new_args, new_kwargs), but got "
                        f"{result}."
                    )
                args, kwargs = result
        opt.__dict__["_in_step_hooks"] = True
        try:
            out = step(*args, **kwargs)
        finally:
            opt.__dict__["_in_step_hooks"] = False
        posts = [
            *_hooks(opt, "_optimizer_step_post_hooks").values(),
            *_global_optimizer_post_hooks.values(),
        ]
        for post in posts:
            post(opt, args, kwargs)
        return out

    wrapper._runs_step_hooks = True  # type: ignore[attr-defined]
    return wrapper


Optimizer.step = _with_step_hooks(Optimizer.step)  # type: ignore[method-assign]
