"""Gradient checkpointing: run a segment without storing its activations and recompute them in
the backward pass, trading compute for memory."""

from __future__ import annotations

from typing import Any, Callable

from .. import _core
from .._core import Tensor
from .._grad_mode import enable_grad, no_grad


def checkpoint(function: Callable[..., Any], *args: Any, use_reentrant: bool = False) -> Any:
    """``function(*args)`` whose intermediate activations are recomputed during backward.

    The global RNG state and the autocast state of the forward are restored while recomputing,
    so dropout masks and compute dtypes match the forward.
    Only the tensor arguments receive gradients (and the parameters ``function`` uses, which
    are reached through the recomputed graph)."""
    del use_reentrant
    if not _core.is_grad_enabled():
        return function(*args)
    rng_state = _core.get_rng_state()
    amp_dtype = _core._get_autocast()
    with no_grad():
        out = function(*args)
    if not isinstance(out, Tensor):
        raise TypeError("checkpoint() supports functions returning a single Tensor")
    tensor_args = [a for a in args if isinstance(a, Tensor)]

    def backward(grad: Tensor) -> list[Any]:
        saved, saved_amp = _core.get_rng_state(), _core._get_autocast()
        _core.set_rng_state(rng_state)
        _core._set_autocast(amp_dtype)
        try:
            detached = [
                a.detach().requires_grad_(a.requires_grad) if isinstance(a, Tensor) else a
                for a in args
            ]
            with enable_grad():
                recomputed = function(*detached)
            recomputed.backward(grad)
        finally:
            _core.set_rng_state(saved)
            _core._set_autocast(saved_amp)
        return [
            d.grad if isinstance(d, Tensor) and d.requires_grad else None
            for d in detached
            if isinstance(d, Tensor)
        ]

    anchor = [t for t in tensor_args]
    if not any(t.requires_grad for t in anchor):
        # Parameters inside `function` still need gradients: anchor the node on a dummy input.
        anchor = [_core.zeros(0, requires_grad=True)]

        def backward_params(grad: Tensor) -> list[Any]:
            backward(grad)
            return [None]

        return _core._record_function(out, anchor, backward_params)
    return _core._record_function(out, anchor, backward)
