"""The per-module step of ``Module.load_state_dict`` (PyTorch's base ``_load_from_state_dict``),
kept out of ``module.py``: each module copies its own parameters, persistent buffers and extra
state, and reports its missing keys, size mismatches and unexpected keys.

Within a ``load_state_dict`` call (a ``LoadRun`` is active) the copies of modules that do not
override ``_load_from_state_dict`` wait until every module has been checked, so a strict load
that fails changes nothing; an override that calls ``super()`` gets its copies at once, as in
PyTorch (it may touch the loaded tensors afterwards)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from .parameter import Parameter

if TYPE_CHECKING:
    from .module import Module

EXTRA_STATE = "_extra_state"

#: ``Module.set_extra_state``, which a module overrides to load extra state (``module.py``
#: sets it once ``Module`` exists: importing it here would be circular).
base_set_extra: Any = None


class LoadRun:
    """The state one ``load_state_dict`` call shares with the modules' loading steps."""

    __slots__ = ("defer", "expected", "extra", "judges", "mismatched", "pending", "state_dict")

    def __init__(self, state_dict: Mapping[str, Any]) -> None:
        self.state_dict = state_dict
        #: The module whose own copies wait for the end of the load (the one being visited,
        #: when it does not override ``_load_from_state_dict``), else ``None``.
        self.defer: Optional[Module] = None
        #: The waiting copies: ``(module, name, is_param, destination, source, assign)``.
        self.pending: list[tuple[Module, str, bool, Tensor, Tensor, bool]] = []
        #: The waiting ``set_extra_state`` calls.
        self.extra: list[tuple[Module, Any]] = []
        #: Each prefix whose module reports unexpected keys (its loading step ran), with the
        #: module and its local state names, in visiting order.
        self.judges: dict[str, tuple[Module, set[str]]] = {}
        #: The keys some module loads (never unexpected): lets ``unexpected`` skip them.
        self.expected: set[str] = set()
        self.mismatched = False

    def unexpected(self) -> list[str]:
        """PyTorch's unexpected keys: per reporting module (in visiting order), the keys under
        its prefix that name neither a child module nor its own state, in ``state_dict``
        order. Only keys no module loads are looked at."""
        found: list[tuple[int, int, str]] = []
        order = {p: i for i, p in enumerate(self.judges)}
        for j, key in enumerate(self.state_dict):
            if key in self.expected:
                continue
            parts = key.split(".")
            for depth in range(len(parts)):
                prefix = ".".join(parts[:depth]) + "." if depth else ""
                judge = self.judges.get(prefix)
                if judge is None:
                    continue
                module, local = judge
                head = parts[depth]
                if (head not in module._modules) if depth + 1 < len(parts) else head not in local:
                    found.append((order[prefix], j, key))
        found.sort()
        return [k for _, _, k in found]

    def finish(self) -> None:
        """Makes the waiting copies, then the waiting ``set_extra_state`` calls."""
        with no_grad():
            for module, name, is_param, dst, src, assign in self.pending:
                _place(module, name, is_param, dst, src, assign)
        for module, value in self.extra:
            module.set_extra_state(value)


class _Active(threading.local):
    """The ``LoadRun`` of the ``load_state_dict`` call in progress in this thread."""

    run: Optional[LoadRun] = None


active = _Active()


def load_own(
    module: Module,
    state_dict: dict[str, Any],
    prefix: str,
    local_metadata: dict[str, Any],
    strict: bool,
    missing_keys: list[str],
    unexpected_keys: list[str],
    error_msgs: list[str],
) -> None:
    """``Module._load_from_state_dict`` (PyTorch's per-module loading step): upgrades an older
    layout (``_upgrade_state_dict``), runs this module's load pre-hooks and completions
    (``_complete_state_dict``), copies its own parameters, persistent buffers and extra state
    from ``state_dict`` (keys under ``prefix``), and reports its missing keys, size mismatches
    (in ``error_msgs``) and, with ``strict``, unexpected keys. Copies of modules without an
    override wait for the end of the load, so a strict load that fails leaves them
    unchanged (see the module doc)."""
    module._upgrade_state_dict(state_dict, prefix, local_metadata.get("version"), error_msgs)
    d = module.__dict__
    pre = d.get("_load_state_dict_pre_hooks")
    if pre:
        for hook in list(pre.values()):
            hook(
                module,
                state_dict,
                prefix,
                local_metadata,
                strict,
                missing_keys,
                unexpected_keys,
                error_msgs,
            )
    module._complete_state_dict(state_dict, prefix)
    run = active.run
    if run is not None and run.state_dict is not state_dict:  # a call of its own
        run = None
    defer = run is not None and run.defer is module
    assign = bool(local_metadata.get("assign_to_params_buffers", False))
    skip = d.get("_non_persistent", ())
    local: set[str] = set()
    for registry, is_param in ((module._parameters, True), (module._buffers, False)):
        for name, dst in registry.items():
            if dst is None or (not is_param and name in skip):
                continue
            local.add(name)
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            if run is not None:
                run.expected.add(key)
            src = _as_tensor(state_dict[key])
            if src is None:
                error_msgs.append(
                    f'While copying the parameter named "{key}", expected torch.Tensor or '
                    f"Tensor-like object from checkpoint but received {type(state_dict[key])}"
                )
                continue
            if _is_lazy(dst):
                if _is_lazy(src):  # both still placeholders: nothing to copy
                    continue
            else:
                if dst.ndim == 0 and src.ndim == 1 and src.shape[0] == 1:
                    src = src[0]  # PyTorch's: older checkpoints' 1-element scalars
                if tuple(src.shape) != tuple(dst.shape):
                    error_msgs.append(
                        f"size mismatch for {key}: copying a param with shape "
                        f"{tuple(src.shape)} from checkpoint, the shape in current model is "
                        f"{tuple(dst.shape)}."
                    )
                    if run is not None:
                        run.mismatched = True
                    continue
            if defer:
                run.pending.append((module, name, is_param, dst, src, assign))  # type: ignore[union-attr]
            else:
                with no_grad():
                    _place(module, name, is_param, dst, src, assign)
    extra_key = prefix + EXTRA_STATE
    if type(module).set_extra_state is not base_set_extra:
        local.add(EXTRA_STATE)
        if extra_key in state_dict:
            if run is not None:
                run.expected.add(extra_key)
            if defer:
                run.extra.append((module, state_dict[extra_key]))  # type: ignore[union-attr]
            else:
                module.set_extra_state(state_dict[extra_key])
        elif strict:
            missing_keys.append(extra_key)
    if not strict:
        return
    if run is not None:  # reported once every module has run (``LoadRun.unexpected``)
        run.judges.setdefault(prefix, (module, local))
        return
    for key in state_dict:
        if key.startswith(prefix):
            head, dot, _ = key[len(prefix) :].partition(".")
            if (head not in module._modules) if dot else head not in local:
                unexpected_keys.append(key)


def _is_lazy(t: Any) -> bool:
    """Whether ``t`` is a lazy module's placeholder (no shape yet)."""
    return type(t) is not Parameter and type(t) is not Tensor and hasattr(t, "materialize")


def _as_tensor(value: Any) -> Optional[Tensor]:
    """``value`` as a tensor (NumPy arrays and nested lists are taken, as before), or
    ``None`` when it is not tensor-like."""
    if isinstance(value, Tensor) or getattr(value, "is_sparse", False) is True:
        return value  # (a sparse COO tensor too: see ``_place``)
    try:
        import numpy as np

        array = np.ascontiguousarray(np.asarray(value))
        if array.dtype.kind not in "biufc":
            return None
        return _core.from_numpy(array)
    except (TypeError, ValueError):
        return None


def _place(
    module: Module, name: str, is_param: bool, dst: Tensor, src: Tensor, assign: bool
) -> None:
    """Copies ``src`` into ``dst`` (cast to its dtype, as ``copy_``) or, with ``assign``,
    puts it in ``dst``'s slot (a parameter keeps its ``requires_grad``, as PyTorch's)."""
    sparse = getattr(dst, "is_sparse", False) or getattr(src, "is_sparse", False)
    if sparse and not is_param:
        # A sparse buffer takes the loaded entries (PyTorch's sparse ``copy_`` resizes to
        # them), in its own dtype and device unless ``assign``; into a dense one they go dense.
        if getattr(dst, "is_sparse", False):
            src = src if getattr(src, "is_sparse", False) else src.to_sparse()
            module._buffers[name] = src if assign else src.to(dst.device, dst.dtype).clone()
            return
        src = src.to_dense()
    if not assign:
        dst.copy_(src)
    elif is_param:
        if isinstance(src, Parameter):
            src.requires_grad_(dst.requires_grad)
        else:
            src = Parameter(src, requires_grad=dst.requires_grad)
        module._parameters[name] = src
    else:
        module._buffers[name] = src
