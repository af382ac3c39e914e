"""``democratising.autograd``: functional gradients."""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Callable, Optional, Union

from . import _core
from ._core import Tensor
from ._function import Function, FunctionCtx
from ._grad_mode import enable_grad, inference_mode, no_grad, set_grad_enabled
from .errors import InvalidValueError, ShapeError

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
    only_inputs: bool = True,
    allow_unused: Optional[bool] = None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> tuple[Optional[Tensor], ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``.

    ``materialize_grads=True`` returns zeros (not ``None``) for inputs the outputs do not
    depend on (and implies ``allow_unused``). ``is_grads_batched=True`` treats the first
    dimension of every ``grad_outputs`` tensor as a batch of vectors: the result is the stack
    of one vector-Jacobian product per vector (PyTorch vmaps; here one backward each)."""
    del only_inputs  # deprecated in PyTorch and ignored there too
    if materialize_grads and allow_unused is False:
        raise InvalidValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, "
            "but got: allow_unused=False."
        )
    unused_ok = bool(allow_unused) or materialize_grads
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    if not ins:
        raise InvalidValueError("`inputs` argument to `grad()` cannot be empty.")
    gos: Optional[list[Optional[Tensor]]] = None
    if grad_outputs is not None:
        gos = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs)
    # The engine wants distinct inputs; PyTorch returns the same gradient for a repeated one.
    first: dict[int, int] = {}
    for t in ins:
        first.setdefault(id(t), len(first))
    uniq = list({id(t): t for t in ins}.values())
    if is_grads_batched:
        res = _batched_grad(outs, uniq, gos, retain_graph, create_graph, unused_ok)
    else:
        res = list(_core.autograd_grad(outs, uniq, gos, retain_graph, create_graph, unused_ok))
    res = [res[first[id(t)]] for t in ins]
    if materialize_grads:
        from . import zeros_like

        # PyTorch: the zeros require grad under create_graph, like every other gradient then.
        res = [
            zeros_like(i, requires_grad=create_graph) if g is None else g for i, g in zip(ins, res)
        ]
    return tuple(res)


def _batched_grad(
    outs: list[Tensor],
    ins: list[Tensor],
    gos: Optional[list[Optional[Tensor]]],
    retain_graph: Optional[bool],
    create_graph: bool,
    allow_unused: bool,
) -> list[Optional[Tensor]]:
    """``grad`` with ``is_grads_batched``: one backward per row of the ``grad_outputs``."""
    if gos is None or len(gos) != len(outs):
        raise InvalidValueError(
            "grad requires one grad_outputs tensor per output when is_grads_batched=True"
        )
    sizes = {int(g.shape[0]) for g in gos if g is not None and g.dim() > 0}
    if len(sizes) != 1 or any(g is not None and g.dim() == 0 for g in gos):
        raise ShapeError(
            "is_grads_batched=True needs every grad_outputs tensor to have the same (batch) "
            f"size in dimension 0, got sizes {sorted(sizes)}"
        )
    (batch,) = sizes
    keep = retain_graph if retain_graph is not None else create_graph
    rows: list[list[Optional[Tensor]]] = []
    for b in range(batch):
        row_gos = [None if g is None else g[b] for g in gos]
        last = b == batch - 1
        rows.append(
            list(
                _core.autograd_grad(
                    outs, ins, row_gos, bool(keep) or not last, create_graph, allow_unused
                )
            )
        )
    from . import stack

    res: list[Optional[Tensor]] = []
    for k in range(len(ins)):
        col = [c for c in (row[k] for row in rows) if c is not None]
        res.append(stack(col) if len(col) == batch else None)
    return res


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
        raise InvalidValueError(f"got {len(gts)} grad_tensors for {len(outs)} tensors")
    if inputs is not None:
        ins = _as_list(inputs)
        if not ins:
            raise InvalidValueError("`inputs` argument to `backward()` cannot be empty.")
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


#: (enabled, check_nan): with both on, backward checks every node's gradients for NaN (the
#: engine's check; a custom Function's backward is checked here), as PyTorch's anomaly mode.
_ANOMALY = [False, True]


def _set_anomaly(flags: list[bool]) -> None:
    _ANOMALY[:] = flags
    _core._set_anomaly_nan_check(bool(flags[0] and flags[1]))


def is_anomaly_enabled() -> bool:
    return bool(_ANOMALY[0])


def is_anomaly_check_nan_enabled() -> bool:
    return bool(_ANOMALY[1])


class _AnomalyMode:
    """Sets the anomaly flags on ``__enter__`` and restores them on ``__exit__``; also a
    decorator (PyTorch's ``detect_anomaly`` is one)."""

    def __init__(self, mode: bool, check_nan: bool) -> None:
        self._mode = (bool(mode), bool(check_nan))
        self._prev: list[list[bool]] = []

    def __enter__(self) -> None:
        self._prev.append(list(_ANOMALY))
        _set_anomaly(list(self._mode))

    def __exit__(self, *exc: object) -> None:
        _set_anomaly(self._prev.pop())

    def __call__(self, fn: Callable[..., object]) -> Callable[..., object]:
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args: object, **kwargs: object) -> object:
            with _AnomalyMode(*mode):
                return fn(*args, **kwargs)

        return wrapper


class detect_anomaly(_AnomalyMode):  # noqa: N801 - PyTorch's name
    """``with torch.autograd.detect_anomaly():``: backward fails at the first node whose
    gradient holds NaN, naming it (``check_nan=False``: the flag only)."""

    def __init__(self, check_nan: bool = True) -> None:
        super().__init__(True, check_nan)


class set_detect_anomaly(_AnomalyMode):  # noqa: N801 - PyTorch's name
    """Sets the anomaly flag now (a function call) and, used as a context manager, restores
    the previous flags on exit, as in PyTorch."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        super().__init__(mode, check_nan)
        self._prev.append(list(_ANOMALY))
        _set_anomaly(list(self._mode))

    def __enter__(self) -> None:
        pass


def set_multithreading_enabled(mode: bool) -> None:
    """Accepted for PyTorch programs: the engine runs each backward pass on the calling
    thread, so there is no multithreaded backward to switch."""
    del mode


# ---- torch.autograd.functional, gradcheck and gradgradcheck ------------------------------------

from . import _function as function  # noqa: E402
from . import _grad_mode as grad_mode  # noqa: E402
from . import autograd_forward_ad as forward_ad  # noqa: E402
from . import autograd_functional as functional  # noqa: E402
from . import autograd_gradcheck as _gradcheck_module  # noqa: E402
from . import autograd_graph as graph  # noqa: E402
from . import autograd_profiler as profiler  # noqa: E402
from .autograd_gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402

# `import democratising.autograd.functional` and `from democratising.autograd.graph import ...`
# work as PyTorch's submodules do (this module is a file, so they are registered by name, the
# way `os.path` is).
for _name, _module in (
    ("forward_ad", forward_ad),
    ("function", function),
    ("functional", functional),
    ("grad_mode", grad_mode),
    ("gradcheck", _gradcheck_module),
    ("graph", graph),
    ("profiler", profiler),
):
    sys.modules[f"{__name__}.{_name}"] = _module

__all__ += [
    "GradcheckError",
    "forward_ad",
    "function",
    "functional",
    "grad_mode",
    "gradcheck",
    "gradgradcheck",
    "graph",
    "inference_mode",
    "is_anomaly_check_nan_enabled",
    "profiler",
    "set_multithreading_enabled",
]
