"""Gradient checkpointing: run a segment without storing its activations and recompute them in
the backward pass, trading compute for memory."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Sequence
from contextlib import AbstractContextManager as ContextManager
from functools import partial
from typing import Any, Callable, Optional

from .. import _core
from .._core import Tensor
from .._grad_mode import enable_grad, no_grad
from ..autograd_graph import saved_tensors_hooks
from ..errors import AutogradError, InvalidValueError

__all__ = ["checkpoint", "checkpoint_sequential", "noop_context_fn"]


def noop_context_fn() -> tuple[ContextManager[Any], ContextManager[Any]]:
    """The default ``context_fn``: no context around the forward nor the recomputation."""
    return contextlib.nullcontext(), contextlib.nullcontext()


def checkpoint(
    function: Callable[..., Any],
    *args: Any,
    use_reentrant: Optional[bool] = None,
    preserve_rng_state: bool = True,
    context_fn: Callable[[], tuple[ContextManager[Any], ContextManager[Any]]] = noop_context_fn,
    determinism_check: str = "default",
    early_stop: bool = True,
    **kwargs: Any,
) -> Any:
    """``function(*args, **kwargs)`` whose intermediate activations are recomputed during
    backward.

    ``use_reentrant=False`` (PyTorch's recommended variant) runs ``function`` with its graph
    but drops every tensor its ops save for backward (``saved_tensors_hooks``); the first
    backward that needs one reruns ``function`` and hands over the recomputed tensors. The
    graph is the real one, so ``backward``, ``autograd.grad`` (on inputs or on parameters
    used inside), ``create_graph`` and ``retain_graph`` behave exactly as without
    checkpointing. ``context_fn`` returns two context managers, entered around the forward
    and around the recomputation; ``determinism_check="default"`` compares the shape, dtype
    and device of each recomputed tensor with the one dropped (``"none"``: no check);
    ``early_stop`` ends the recomputation once every dropped tensor is back.

    Otherwise (``True`` or ``None``) the forward runs without a graph and one node per output
    dtype recomputes the segment and backpropagates through it: the tensor arguments receive
    gradients, and so do the parameters ``function`` uses (reached by a nested backward).

    ``function`` may return a Tensor or any nest of tuples, lists, namedtuples and dicts;
    other values (integer tensors, numbers, None) pass through. The global RNG state (unless
    ``preserve_rng_state=False``) and the autocast state of the forward are restored while
    recomputing, so dropout masks and compute dtypes match the forward."""
    if determinism_check not in ("default", "none"):
        raise InvalidValueError(
            f"determinism_check should be one of ['default', 'none'], but got {determinism_check}"
        )
    if use_reentrant is False:
        return _checkpoint_hooked(
            function,
            args,
            kwargs,
            preserve_rng_state=preserve_rng_state,
            context_fn=context_fn,
            check=determinism_check == "default",
            early_stop=early_stop,
        )
    if context_fn is not noop_context_fn:
        raise InvalidValueError("Passing `context_fn` is only supported when use_reentrant=False.")
    return _checkpoint_reentrant(function, args, kwargs, preserve_rng_state)


class _StopRecomputationError(Exception):
    """Raised by the recomputation's pack hook once every dropped tensor is back."""


def _metadata(t: Tensor) -> tuple[Any, ...]:
    """What the determinism check compares (PyTorch's: shape, dtype, device)."""
    return (tuple(t.shape), t.dtype, str(t.device))


class _Holder:
    """What the graph keeps instead of a dropped tensor: the recomputed tensor once the
    recomputation has run, until the backward takes it."""

    __slots__ = ("__weakref__", "claimed", "tensor")

    def __init__(self) -> None:
        self.tensor: Optional[Tensor] = None
        self.claimed = False


class _Frame:
    """One non-reentrant checkpointed call: what its recomputation needs and a weak
    reference to each holder (the graph owns them). The saved-tensor hooks reach the frame
    only weakly: it lives in pre-hooks on the outputs' nodes, where the cycle collector can
    see it (a function that keeps its own output, ``self.out = ...``, is then collected)."""

    def __init__(
        self,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        rng_state: Optional[list[int]],
        recompute_context: ContextManager[Any],
        check: bool,
        early_stop: bool,
    ) -> None:
        self.function, self.args, self.kwargs = function, args, kwargs
        # (PyTorch saves the inputs for backward: an in-place change before it is an error)
        self.versions = [
            (a, a._version) for a in (*args, *kwargs.values()) if isinstance(a, Tensor)
        ]
        self.rng_state = rng_state
        self.amp_dtype = _core._get_autocast()
        self.recompute_context = recompute_context
        self.check, self.early_stop = check, early_stop
        self.holders: list[weakref.ref[_Holder]] = []
        self.metadata: list[tuple[Any, ...]] = []

    def pack(self, t: Tensor) -> _Holder:
        holder = _Holder()
        self.holders.append(weakref.ref(holder))
        if self.check:
            self.metadata.append(_metadata(t))
        return holder

    def wanted(self, k: int) -> Optional[_Holder]:
        """Holder ``k`` if the graph still has it and the backward has yet to take it."""
        holder = self.holders[k]()
        return holder if holder is not None and not holder.claimed else None

    def pending(self) -> bool:
        """Whether a holder the graph still has awaits its recomputed tensor."""
        return any(
            (h := self.wanted(k)) is not None and h.tensor is None for k in range(len(self.holders))
        )

    def recompute(self) -> None:
        """Reruns the function with grad, in the forward's RNG and autocast state, filling
        every holder the backward has not emptied yet."""
        for a, version in self.versions:
            if a._version != version:
                raise AutogradError(
                    "one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: an input of shape {list(a.shape)} of the "
                    f"checkpointed function is at version {a._version}; expected version "
                    f"{version} instead"
                )
        count = len(self.holders)
        fresh: list[tuple[_Holder, Tensor]] = []
        n = [0]

        def pack(t: Tensor) -> Tensor:
            k = n[0]
            n[0] += 1
            if k >= count:
                if self.early_stop:
                    return t  # (the function swallowed the stop: the rest is not needed)
                raise AutogradError(
                    "torch.utils.checkpoint: trying to save more tensors during "
                    "recomputation than during the original forward pass."
                )
            holder = self.wanted(k)
            if holder is not None:
                if self.check and _metadata(t) != self.metadata[k]:
                    shape, dtype, device = self.metadata[k]
                    raise AutogradError(
                        "torch.utils.checkpoint: Recomputed values for the following tensors "
                        "have different metadata than during the forward pass.\n"
                        f"tensor at position {k}:\nsaved metadata: {{'shape': {list(shape)}, "
                        f"'dtype': {dtype}, 'device': {device}}}\nrecomputed metadata: "
                        f"{{'shape': {list(t.shape)}, 'dtype': {t.dtype}, 'device': {t.device}}}"
                    )
                fresh.append((holder, t))
            if self.early_stop and n[0] == count:
                raise _StopRecomputationError
            return t

        saved_rng, saved_amp = _core.get_rng_state(), _core._get_autocast()
        if self.rng_state is not None:
            _core.set_rng_state(self.rng_state)
        _core._set_autocast(self.amp_dtype)
        try:
            with saved_tensors_hooks(pack, _same), self.recompute_context, enable_grad():
                self.function(*self.args, **self.kwargs)
        except _StopRecomputationError:
            pass
        finally:
            _core.set_rng_state(saved_rng)
            _core._set_autocast(saved_amp)
        if n[0] < count:
            raise AutogradError(
                "torch.utils.checkpoint: A different number of tensors was saved during the "
                f"original forward and recomputation: {count} in the forward, {n[0]} in the "
                "recomputation."
            )
        for holder, t in fresh:
            holder.tensor = t


def _same(t: Tensor) -> Tensor:
    return t


def _pack(frame: weakref.ref[_Frame], t: Tensor) -> _Holder:
    live = frame()
    assert live is not None  # (the forward holds it)
    return live.pack(t)


def _unpack(frame: weakref.ref[_Frame], holder: _Holder) -> Tensor:
    """The recomputed tensor of ``holder``, recomputing first if needed (a backward that
    entered the segment other than through its outputs)."""
    if holder.tensor is None:
        live = frame()
        if holder.claimed or live is None:
            raise AutogradError(
                "torch.utils.checkpoint: a dropped activation is needed but cannot be "
                "recomputed: "
                + (
                    "it was already unpacked once"
                    if holder.claimed
                    else "the checkpointed call's outputs and their graph are gone"
                )
            )
        live.recompute()
    t, holder.tensor, holder.claimed = holder.tensor, None, True
    assert t is not None
    return t


def _before_output(frame: _Frame, grad_outputs: Any) -> None:
    """Pre-hook on an output's node: a backward is entering the segment, so recompute now
    (the frame may be freed with this node, before the nodes that need the tensors run)."""
    del grad_outputs
    if frame.pending():
        frame.recompute()


def _checkpoint_hooked(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    preserve_rng_state: bool,
    context_fn: Callable[[], tuple[ContextManager[Any], ContextManager[Any]]],
    check: bool,
    early_stop: bool,
) -> Any:
    """PyTorch's non-reentrant checkpoint: ``function`` runs with its graph, every tensor
    saved for backward is dropped (kept as an empty holder) and recomputed on first use."""
    forward_context, recompute_context = context_fn()
    if not _core.is_grad_enabled():
        return function(*args, **kwargs)
    rng_state = _core.get_rng_state() if preserve_rng_state else None
    frame = _Frame(function, args, kwargs, rng_state, recompute_context, check, early_stop)
    ref = weakref.ref(frame)
    with saved_tensors_hooks(partial(_pack, ref), partial(_unpack, ref)), forward_context:
        out = function(*args, **kwargs)
    if frame.holders:
        given = {id(a) for a, _ in frame.versions}
        hook = partial(_before_output, frame)
        for o in _flatten(out)[0]:
            if isinstance(o, Tensor) and o.grad_fn is not None and id(o) not in given:
                o.grad_fn.register_prehook(hook)
    return out


def _checkpoint_reentrant(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    preserve_rng_state: bool,
) -> Any:
    """The forward without a graph; one node per output dtype recomputes the segment and
    backpropagates through it (a backward with ``create_graph=True`` recomputes with a graph
    on the real inputs, ``_recompute_graph``)."""
    if not _core.is_grad_enabled():
        return function(*args, **kwargs)
    rng_state = _core.get_rng_state() if preserve_rng_state else None
    amp_dtype = _core._get_autocast()
    with no_grad():
        out = function(*args, **kwargs)
    outs, rebuild = _flatten(out)
    # Each distinct tensor once: one passed twice gets one detached copy and one gradient.
    unique = {id(a): a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)}
    inputs = list(unique.values())

    def recompute(picked: list[int], grads: list[Tensor]) -> list[Optional[Tensor]]:
        """Reruns ``function`` with gradients on and backpropagates ``grads`` into the
        outputs at positions ``picked``; returns one gradient per tensor of ``inputs``."""
        saved, saved_amp = _core.get_rng_state(), _core._get_autocast()
        if rng_state is not None:
            _core.set_rng_state(rng_state)
        _core._set_autocast(amp_dtype)
        if _core.is_grad_enabled():  # create_graph: the gradients must be differentiable
            try:
                return _recompute_graph(function, args, kwargs, inputs, picked, grads)
            finally:
                _core.set_rng_state(saved)
                _core._set_autocast(saved_amp)
        try:
            fresh = {id(a): a.detach().requires_grad_(a.requires_grad) for a in inputs}
            d_args = [fresh.get(id(a), a) if isinstance(a, Tensor) else a for a in args]
            d_kwargs = {
                k: fresh.get(id(v), v) if isinstance(v, Tensor) else v for k, v in kwargs.items()
            }
            with enable_grad():
                again = function(*d_args, **d_kwargs)
            redone = _flatten(again)[0]
            pairs = [(redone[i], g) for i, g in zip(picked, grads) if redone[i].requires_grad]
            for k, (o, g) in enumerate(pairs):
                o.backward(g, retain_graph=k < len(pairs) - 1)
        finally:
            _core.set_rng_state(saved)
            _core._set_autocast(saved_amp)
        return [fresh[id(a)].grad if a.requires_grad else None for a in inputs]

    anchor = inputs if any(t.requires_grad for t in inputs) else []
    if not anchor:
        # Parameters inside `function` still need gradients: anchor the node on a dummy input.
        anchor = [_core.zeros(0, requires_grad=True)]

    def attach(picked: list[int]) -> None:
        """One graph node (one recomputation) for the outputs at ``picked``, which share a
        dtype and device: several are packed into one flat tensor and viewed back out."""
        group = [outs[i] for i in picked]
        packed = group[0] if len(group) == 1 else _core.cat([o.reshape(-1) for o in group], 0)
        shapes = [tuple(o.shape) for o in group]  # (not the tensors: packed holds their data)
        offs = [0]
        for o in group:
            offs.append(offs[-1] + o.numel())
        del group

        def unpack(flat: Tensor) -> list[Tensor]:
            if len(shapes) == 1:
                return [flat]
            return [flat.narrow(0, a, b - a).reshape(s) for a, b, s in zip(offs, offs[1:], shapes)]

        def backward(grad: Tensor) -> list[Any]:
            got = recompute(picked, unpack(grad))
            return got if anchor is inputs else [None]

        # Differentiable: under create_graph the backward recomputes with a graph
        # (``_recompute_graph``), so gradients through the segment can be differentiated.
        node = _core._record_function(packed, anchor, backward, True, "CheckpointFunctionBackward")
        for i, o in zip(picked, unpack(node)):
            outs[i] = o

    groups: dict[tuple[str, str], list[int]] = {}
    for i, o in enumerate(outs):
        if isinstance(o, Tensor) and o.dtype.is_floating_point:
            groups.setdefault((str(o.dtype), str(o.device)), []).append(i)
    for picked in groups.values():
        attach(picked)
    return rebuild(outs)


def _recompute_graph(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    inputs: list[Tensor],
    picked: list[int],
    grads: list[Tensor],
) -> list[Optional[Tensor]]:
    """The backward under ``create_graph=True``: reruns ``function`` on aliases of the real
    inputs, backpropagates ``grads`` with ``create_graph`` (parameters used inside get their
    ``.grad`` as in the plain backward) and returns the gradients reaching the aliases.

    Each alias is a node on its input: while this backward runs it keeps the gradient it
    receives and stops there (the caller's engine carries it on, once); afterwards it is the
    identity, so differentiating the returned gradients again reaches the real inputs
    through it (and the recomputed graph), as PyTorch's non-reentrant checkpoint does."""
    capturing = [True]
    got: dict[int, Tensor] = {}

    def alias(k: int, a: Tensor) -> Tensor:
        def backward(g: Tensor) -> list[Optional[Tensor]]:
            if not capturing[0]:
                return [g]
            got[k] = g if k not in got else got[k] + g
            return [None]

        return _core._record_function(a, [a], backward, True, "CheckpointInputBackward")

    try:
        fresh = {id(a): alias(k, a) if a.requires_grad else a for k, a in enumerate(inputs)}
        d_args = [fresh.get(id(a), a) if isinstance(a, Tensor) else a for a in args]
        d_kwargs = {
            k: fresh.get(id(v), v) if isinstance(v, Tensor) else v for k, v in kwargs.items()
        }
        again = function(*d_args, **d_kwargs)
        redone = _flatten(again)[0]
        pairs = [(redone[i], g) for i, g in zip(picked, grads) if redone[i].requires_grad]
        for o, g in pairs:
            o.backward(g, retain_graph=True, create_graph=True)
    finally:
        capturing[0] = False
    result = [got.get(k) for k in range(len(inputs))]
    got.clear()  # the aliases' closures need not keep the gradients alive
    return result


def _flatten(obj: Any) -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """The leaves of a nest of tuples, lists, namedtuples and dicts (depth first, dicts in
    key order) and the function that rebuilds the nest around new leaves."""
    if not isinstance(obj, (tuple, list, dict)):
        return [obj], lambda new: new[0]
    items = list(obj.values()) if isinstance(obj, dict) else list(obj)
    parts = [_flatten(item) for item in items]

    def rebuild(new: list[Any]) -> Any:
        out, k = [], 0
        for leaves, build in parts:
            out.append(build(new[k : k + len(leaves)]))
            k += len(leaves)
        if isinstance(obj, dict):
            return type(obj)(zip(obj.keys(), out))
        return type(obj)(*out) if hasattr(obj, "_fields") else type(obj)(out)  # (namedtuple)

    return [leaf for leaves, _ in parts for leaf in leaves], rebuild


def checkpoint_sequential(
    functions: Any,
    segments: int,
    input: Tensor,
    use_reentrant: Optional[bool] = None,
    **kwargs: Any,
) -> Tensor:
    """``torch.utils.checkpoint.checkpoint_sequential``: runs ``functions`` (an
    ``nn.Sequential`` or a list of modules/callables) in order, in ``segments`` chunks of
    ``len // segments`` of them; every chunk but the last is checkpointed (the last one's
    activations are needed by the backward right away). ``kwargs`` may hold
    ``preserve_rng_state``."""
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise InvalidValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    if hasattr(functions, "children"):
        functions = list(functions.children())
    fns: Sequence[Callable[[Any], Any]] = list(functions)

    def run(start: int, end: int) -> Callable[[Any], Any]:
        def forward(x: Any) -> Any:
            for f in fns[start:end]:
                x = f(x)
            return x

        return forward

    if not 1 <= segments <= max(len(fns), 1):
        raise InvalidValueError(
            f"checkpoint_sequential: segments must be 1..{len(fns)}, got {segments}"
        )
    size = len(fns) // segments
    for k in range(segments - 1):
        input = checkpoint(
            run(k * size, (k + 1) * size),
            input,
            use_reentrant=use_reentrant,
            preserve_rng_state=preserve,
        )
    return run(size * (segments - 1), len(fns))(input)
