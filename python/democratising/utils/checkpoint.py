"""Gradient checkpointing: run a segment without storing its activations and recompute them in
the backward pass, trading compute for memory."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager as ContextManager
from typing import Any, Callable, Optional

from .._core import Tensor
from ..errors import InvalidValueError
from ._checkpoint_hooked import CheckpointError, _checkpoint_hooked
from ._checkpoint_reentrant import _checkpoint_reentrant

__all__ = [
    "CheckpointError",
    "checkpoint",
    "checkpoint_sequential",
    "noop_context_fn",
    "set_checkpoint_early_stop",
]

#: ``set_checkpoint_early_stop``'s setting while its block runs (``None``: each call's own).
_early_stop_override: Optional[bool] = None


@contextlib.contextmanager
def set_checkpoint_early_stop(enable: bool) -> Iterator[None]:
    """Within the block, non-reentrant checkpoints made there stop (``True``) or do not stop
    (``False``) their recomputation once every dropped tensor is back, whatever their own
    ``early_stop`` says (PyTorch's ``torch.utils.checkpoint.set_checkpoint_early_stop``)."""
    global _early_stop_override
    previous, _early_stop_override = _early_stop_override, bool(enable)
    try:
        yield
    finally:
        _early_stop_override = previous


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
    debug: bool = False,
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
    ``early_stop`` ends the recomputation once every dropped tensor is back; ``debug`` is
    accepted (a ``CheckpointError`` already names the tensor that differs).

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
            early_stop=early_stop if _early_stop_override is None else _early_stop_override,
        )
    if context_fn is not noop_context_fn or debug is not False:
        raise InvalidValueError(
            "Passing `context_fn` or `debug` is only supported when use_reentrant=False."
        )
    return _checkpoint_reentrant(function, args, kwargs, preserve_rng_state)


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
