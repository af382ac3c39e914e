"""Zero-copy bridges between tensors and MPI buffers.

A contiguous CPU tensor of a dtype NumPy and MPI both know is handed to MPI as a NumPy view of
its own memory, so collectives write straight into the tensor. Anything else (a strided view,
float16/bfloat16, a small integer type, a GPU tensor) goes through a contiguous CPU staging
copy (float32, or int64 for integers) that is written back afterwards."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad

_DIRECT = ("float32", "float64", "int64", "int32", "bool")


def _dtype_name(t: Tensor) -> str:
    return str(t.dtype).replace("democratising.", "")


def is_direct(t: Tensor) -> bool:
    """True when MPI can work on ``t``'s own memory."""
    return (
        t.device.type == "cpu" and t.is_contiguous() and _dtype_name(t) in _DIRECT
    )  # fmt: skip


def view(t: Tensor) -> np.ndarray:
    """A writable NumPy view of a tensor for which ``is_direct`` holds."""
    return np.asarray(t.detach().numpy())


def staged(t: Tensor) -> tuple[np.ndarray, Optional[Callable[[], None]]]:
    """``(array, write_back)``: the array MPI should use, and what copies it back into ``t``
    (``None`` when the array *is* ``t``'s memory)."""
    if is_direct(t):
        return view(t), None
    src = t.detach()
    if src.device.type != "cpu":
        src = src.cpu()
    if _dtype_name(src) not in _DIRECT:
        # Integers stay integers (bitwise reductions); other floats travel as float32.
        src = src.float() if src.dtype.is_floating_point else src.long()
    arr = np.array(src.numpy(), copy=True, order="C")

    def write_back() -> None:
        with no_grad():
            t.copy_(_core.from_numpy(arr).to(device=t.device, dtype=t.dtype))

    return arr, write_back
