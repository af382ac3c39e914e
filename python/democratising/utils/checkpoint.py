"""Gradient checkpointing: run a segment without storing its activations and recompute them in
the backward pass, trading compute for memory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional

from .. import _core
from .._core import Tensor
from .._grad_mode import enable_grad, no_grad
from ..errors import InvalidValueError

__all__ = ["checkpoint", "checkpoint_sequential"]


def checkpoint(
    function: Callable[..., Any],
    *args: Any,
    use_reentrant: Optional[bool] = None,
    preserve_rng_state: bool = True,
    **kwargs: Any,
) -> Any:
    """``function(*args, **kwargs)`` whose intermediate activations are recomputed during
    backward.

    ``function`` may return a Tensor or any nest of tuples, lists, namedtuples and dicts;
    its floating-point tensors are differentiable, other values (integer tensors, numbers,
    None) pass through. The
    global RNG state (unless ``preserve_rng_state=False``) and the autocast state of the
    forward are restored while recomputing, so dropout masks and compute dtypes match the
    forward. The tensor arguments (positional and keyword) receive gradients, and so do the
    parameters ``function`` uses, reached through the recomputed graph. ``use_reentrant`` only
    chooses PyTorch's implementation and is accepted for compatibility."""
    del use_reentrant
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

        for i, o in zip(picked, unpack(_core._record_function(packed, anchor, backward))):
            outs[i] = o

    groups: dict[tuple[str, str], list[int]] = {}
    for i, o in enumerate(outs):
        if isinstance(o, Tensor) and o.dtype.is_floating_point:
            groups.setdefault((str(o.dtype), str(o.device)), []).append(i)
    for picked in groups.values():
        attach(picked)
    return rebuild(outs)


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
