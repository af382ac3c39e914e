"""Reentrant activation checkpointing (PyTorch's ``use_reentrant=True``): the segment runs
without a graph, and one node per output dtype reruns it and backpropagates through it."""

from __future__ import annotations

from typing import Any, Callable, Optional

from .. import _core
from .._core import Tensor
from .._grad_mode import enable_grad, no_grad
from ._nest import flatten as _flatten


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
