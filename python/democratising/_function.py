"""``autograd.Function``: user-defined forward/backward pairs, as in PyTorch."""

from __future__ import annotations

from typing import Any

from . import _core
from ._core import Tensor
from ._grad_mode import no_grad


class FunctionCtx:
    """The ``ctx`` object passed to ``forward``/``backward``: stash tensors and values on it."""

    def __init__(self, inputs: tuple[Any, ...] = ()) -> None:
        self.saved_tensors: tuple[Tensor, ...] = ()
        self.needs_input_grad: tuple[bool, ...] = ()
        self._input_ids = {id(a) for a in inputs if isinstance(a, Tensor)}
        self._saved_other: set[int] = set()

    def save_for_backward(self, *tensors: Tensor) -> None:
        """Saved inputs keep their graph, so a backward run with ``create_graph=True``
        differentiates through them (as in PyTorch). A saved floating-point tensor that is not
        an input (an output or an intermediate) would be a constant in that graph and make the
        higher-order gradient silently wrong, so such a Function refuses ``create_graph``."""
        self._saved_other = {
            id(t)
            for t in tensors
            if isinstance(t, Tensor) and id(t) not in self._input_ids and t.dtype.is_floating_point
        }
        self.saved_tensors = tuple(
            t.detach() if isinstance(t, Tensor) and id(t) in self._saved_other else t
            for t in tensors
        )

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        self._non_diff = {id(t) for t in tensors}


class Function:
    """Subclass with ``@staticmethod forward(ctx, *args)`` and ``backward(ctx, *grads)``, then
    call ``MyFn.apply(*args)``. ``backward`` returns one gradient (or None) per ``forward``
    argument. With several outputs, gradients flow through each output's own node (backward is
    linear in its incoming gradients, so the results add up exactly)."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Any:
        raise NotImplementedError("subclasses of Function must implement forward")

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Tensor) -> Any:
        raise NotImplementedError("subclasses of Function must implement backward")

    @classmethod
    def apply(cls, *args: Any) -> Any:
        ctx = FunctionCtx(args)
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args)
        tensor_pos = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        inputs = [args[i] for i in tensor_pos]
        if not any(ctx.needs_input_grad) or not _core.is_grad_enabled():
            return out
        outs = out if isinstance(out, tuple) else (out,)
        non_diff = getattr(ctx, "_non_diff", set())

        def make_backward(k: int) -> Any:
            def backward(grad: Tensor) -> list[Any]:
                grads = [
                    grad if j == k else _core.zeros(*o.shape, dtype=o.dtype, device=o.device)
                    for j, o in enumerate(outs)
                ]
                res = cls.backward(ctx, *grads)
                res = res if isinstance(res, tuple) else (res,)
                if len(res) != len(args):
                    raise RuntimeError(
                        f"{cls.__name__}.backward returned {len(res)} gradients, "
                        f"expected {len(args)} (one per forward argument)"
                    )
                return [res[i] for i in tensor_pos]

            return backward

        # Saved non-inputs were made under no_grad: constants in a graph the backward builds.
        differentiable = not ctx._saved_other
        wrapped = tuple(
            _core._record_function(o, inputs, make_backward(k), differentiable=differentiable)
            if isinstance(o, Tensor) and o.dtype.is_floating_point and id(o) not in non_diff
            else o
            for k, o in enumerate(outs)
        )
        return wrapped if isinstance(out, tuple) else wrapped[0]
