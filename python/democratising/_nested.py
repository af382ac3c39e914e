"""One walk over the tensors nested in tuples, lists and dicts (a batch, a call's arguments):
the data loader pins batches with it, the trainer moves them to its device, and the ONNX
tracer swaps tensors for traced values."""

from __future__ import annotations

from typing import Any, Callable

from ._core import Tensor

__all__ = ["map_tensors"]


def map_tensors(obj: Any, fn: Callable[[Any], Any], kind: type = Tensor) -> Any:
    """``obj`` with every tensor (every instance of ``kind``) in (nested tuples, named tuples,
    lists, dicts) replaced by ``fn(tensor)``; anything else as it is."""
    if isinstance(obj, kind):
        return fn(obj)
    if isinstance(obj, (list, tuple)):
        items = [map_tensors(o, fn, kind) for o in obj]
        if isinstance(obj, tuple) and hasattr(obj, "_fields"):
            return type(obj)(*items)
        return type(obj)(items)
    if isinstance(obj, dict):
        return {k: map_tensors(v, fn, kind) for k, v in obj.items()}
    return obj
