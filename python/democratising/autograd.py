"""``democratising.autograd``: functional gradients."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable, Optional, Union

from . import _core
from ._core import Tensor
from ._function import Function, FunctionCtx
from ._grad_mode import enable_grad, no_grad, set_grad_enabled

__all__ = [
    "Function",
    "FunctionCtx",
    "enable_grad",
    "grad",
    "no_grad",
    "queue_callback",
    "set_grad_enabled",
]


def _as_list(x: Union[Tensor, Sequence[Tensor]]) -> list[Tensor]:
    return [x] if isinstance(x, Tensor) else list(x)


def grad(
    outputs: Union[Tensor, Sequence[Tensor]],
    inputs: Union[Tensor, Sequence[Tensor]],
    grad_outputs: Optional[Union[Tensor, Sequence[Optional[Tensor]]]] = None,
    retain_graph: Optional[bool] = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Optional[Tensor], ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``."""
    outs = _as_list(outputs)
    gos = None
    if grad_outputs is not None:
        gos = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs)
    res = _core.autograd_grad(outs, _as_list(inputs), gos, retain_graph, create_graph, allow_unused)
    return tuple(res)


def queue_callback(callback: Callable[[], object]) -> None:
    """Runs ``callback()`` once, when the backward pass in progress ends: after the last
    gradient is accumulated into ``.grad`` and every hook has run (PyTorch's
    ``Variable._execution_engine.queue_callback``). Call it from a hook; outside a backward
    pass it raises ``AutogradError``. Data parallelism uses it to finish its gradient
    reductions at the end of ``backward()``. An exception in ``callback`` propagates out of
    ``backward()`` unchanged."""
    _core._queue_callback(callback)
