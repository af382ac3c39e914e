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
    "Variable",
    "backward",
    "detect_anomaly",
    "enable_grad",
    "grad",
    "is_anomaly_enabled",
    "no_grad",
    "queue_callback",
    "set_detect_anomaly",
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


# ---- PyTorch's older and convenience spellings (issue 18) --------------------------------------


def backward(
    tensors: Union[Tensor, Sequence[Tensor]],
    grad_tensors: Optional[Union[Tensor, Sequence[Optional[Tensor]]]] = None,
    retain_graph: Optional[bool] = None,
    create_graph: bool = False,
    inputs: Optional[Sequence[Tensor]] = None,
) -> None:
    """``torch.autograd.backward``: ``t.backward(g)`` for each tensor, accumulating into the
    leaves' ``.grad``; with ``inputs``, only into those tensors' ``.grad`` (leaves or not)."""
    outs = _as_list(tensors)
    if grad_tensors is None:
        gts: list[Optional[Tensor]] = [None] * len(outs)
    else:
        gts = [grad_tensors] if isinstance(grad_tensors, Tensor) else list(grad_tensors)
    if len(gts) != len(outs):
        raise ValueError(f"got {len(gts)} grad_tensors for {len(outs)} tensors")
    if inputs is not None:
        ins = _as_list(inputs)
        got = grad(outs, ins, gts, retain_graph, create_graph, allow_unused=True)
        for t, g in zip(ins, got):
            if g is not None:
                t.grad = g if t.grad is None else t.grad + g
        return
    for k, (t, g) in enumerate(zip(outs, gts)):
        last = k == len(outs) - 1
        keep = retain_graph if retain_graph is not None else create_graph
        t.backward(g, retain_graph=bool(keep) or not last, create_graph=create_graph)


def Variable(  # noqa: N802 - PyTorch's (deprecated) class name
    data: Tensor, requires_grad: bool = False, volatile: bool = False
) -> Tensor:
    """``torch.autograd.Variable(t)``: since PyTorch 0.4 a tensor is a variable, so this
    returns ``t`` (with ``requires_grad`` set when asked), as PyTorch does."""
    del volatile
    if requires_grad and not data.requires_grad:
        data.requires_grad_(True)
    return data


_ANOMALY = [False]


def set_detect_anomaly(mode: bool, check_nan: bool = True) -> None:
    """Recorded for PyTorch programs; the engine's errors already name the failing op."""
    del check_nan
    _ANOMALY[0] = bool(mode)


def is_anomaly_enabled() -> bool:
    return _ANOMALY[0]


class detect_anomaly:  # noqa: N801 - PyTorch's name
    """``with torch.autograd.detect_anomaly():``: sets the (recorded-only) anomaly flag."""

    def __init__(self, check_nan: bool = True) -> None:
        self._prev = _ANOMALY[0]

    def __enter__(self) -> None:
        self._prev = _ANOMALY[0]
        _ANOMALY[0] = True

    def __exit__(self, *exc: object) -> None:
        _ANOMALY[0] = self._prev


# ---- torch.autograd.functional, gradcheck and gradgradcheck ------------------------------------

from . import autograd_functional as functional  # noqa: E402
from .autograd_gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402

__all__ += ["GradcheckError", "functional", "gradcheck", "gradgradcheck"]
