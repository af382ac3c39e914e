"""``repr(tensor)`` in PyTorch's style: ``tensor([[1., 2.]], requires_grad=True)``."""

from __future__ import annotations

import numpy as np

from . import _core


def format_tensor(t: _core.Tensor) -> str:
    d = t.detach().cpu()
    if d.dtype in (_core.bfloat16, _core.float16):
        d = d.float()
    arr = np.asarray(d)
    prefix = "tensor("
    body = np.array2string(
        arr, separator=", ", prefix=prefix, threshold=1000, edgeitems=3, precision=4
    )
    extras = []
    if arr.size == 0 and arr.ndim != 1:
        extras.append(f"size={tuple(arr.shape)}")  # `[]` alone hides the shape
    if t.device.type == "cuda":
        extras.append(f"device='{t.device}'")
    if t.dtype not in (_core.float32, _core.int64, _core.bool):
        extras.append(f"dtype={t.dtype!r}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + body + "".join(", " + e for e in extras) + ")"
