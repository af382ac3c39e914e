"""The hooks and ``metadata`` of an ``AccumulateGrad`` node (the end of ``next_functions``
that writes a leaf's ``.grad``), as PyTorch's: ``register_prehook(hook)`` sees the arriving
gradient as ``hook((grad,))`` and may return a replacement tuple; ``register_hook(hook)`` is
called as ``hook((), (grad,))`` once it has been accumulated. Programs that hook the
"gradient accumulator" (``p.expand_as(p).grad_fn.next_functions[0][0]``) to learn when a
parameter's gradient is ready use the latter.

Both are built on the leaf's own tensor hooks (``register_hook`` runs before accumulation,
``register_post_accumulate_grad_hook`` after), so they fire in the same backward passes. The
gradient a ``register_hook`` hook sees is the one its registration found arriving: prehooks
registered after it change what is accumulated, not what it is shown."""

from __future__ import annotations

from typing import Any, Callable, Optional

from ._core import AccumulateGrad, Tensor

#: Each node's ``metadata`` dict, by leaf (a node object is made anew on every access).
_METADATA: dict[int, dict[Any, Any]] = {}


class _Handles:
    """One handle over the tensor hooks a node hook is made of: ``remove()`` removes them all."""

    def __init__(self, *handles: Any) -> None:
        self._handles = handles

    def remove(self) -> None:
        for h in self._handles:
            h.remove()

    def __enter__(self) -> _Handles:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def _prehook(
    self: AccumulateGrad, hook: Callable[[tuple[Tensor, ...]], Optional[tuple[Tensor, ...]]]
) -> Any:
    """Calls ``hook((grad,))`` before the gradient is accumulated into the leaf's ``.grad``;
    a tuple it returns replaces the gradient."""

    def on_grad(grad: Tensor) -> Optional[Tensor]:
        out = hook((grad,))
        return None if out is None else out[0]

    return self.variable.register_hook(on_grad)


def _posthook(self: AccumulateGrad, hook: Callable[[tuple[()], tuple[Tensor, ...]], Any]) -> Any:
    """Calls ``hook((), (grad,))`` after the gradient has been accumulated into ``.grad``."""
    arrived: list[Tensor] = []

    def remember(grad: Tensor) -> None:
        arrived[:] = [grad]

    def after(_: Tensor) -> None:
        grads = tuple(arrived)
        arrived.clear()
        hook((), grads)

    leaf = self.variable
    return _Handles(leaf.register_hook(remember), leaf.register_post_accumulate_grad_hook(after))


def _metadata(self: AccumulateGrad) -> dict[Any, Any]:
    """A dict for the caller's own notes about this node, the same on every access."""
    return _METADATA.setdefault(hash(self), {})


AccumulateGrad.register_prehook = _prehook  # type: ignore[attr-defined]
AccumulateGrad.register_hook = _posthook  # type: ignore[attr-defined]
AccumulateGrad.metadata = property(_metadata)  # type: ignore[attr-defined]
