"""``Tensor.share_memory_`` / ``is_shared``: a CPU tensor's data moved into an anonymous shared
mapping, so processes forked afterwards (``multiprocessing`` on Linux, Hogwild training) read
and write the same parameters instead of copy-on-write pages."""

from __future__ import annotations

import mmap
import weakref

import numpy as np

from . import _core
from ._core import Tensor
from ._grad_mode import no_grad
from ._tensor import _NP_OF

# Address -> the live NumPy view of each shared mapping (weakly: a mapping lives as long as
# the storage made over it).
_MAPPINGS: dict[int, weakref.ref[np.ndarray]] = {}

# NumPy stand-ins of the same width for dtypes NumPy lacks (the bytes are reinterpreted).
_NUMPY_OF = {**_NP_OF, "bfloat16": np.float16}


def is_shared(x: Tensor) -> bool:
    """Whether ``x``'s data lives in shared memory (always true of CUDA tensors, as PyTorch)."""
    if x.device.type != "cpu":
        return True
    ptr = x.data_ptr()
    for start, ref in list(_MAPPINGS.items()):
        arr = ref()
        if arr is None:
            del _MAPPINGS[start]
        elif start <= ptr < start + max(arr.nbytes, 1):
            return True
    return False


def share_memory_(x: Tensor) -> Tensor:
    """Moves this CPU tensor's data into shared memory (a no-op for CUDA tensors and for data
    already there); the tensor object, its autograd flags and values stay as they were."""
    if is_shared(x):
        return x
    dtype = x.dtype
    values = x.detach().contiguous()
    buffer = mmap.mmap(-1, max(values.numel() * dtype.itemsize, 1))
    arr = np.frombuffer(buffer, dtype=_NUMPY_OF[dtype.name], count=values.numel())
    shared = _core.from_numpy(arr.reshape(tuple(x.shape)))
    if dtype == _core.bfloat16:
        shared = shared.view(_core.bfloat16)
    shared.copy_(values)
    _MAPPINGS[arr.__array_interface__["data"][0]] = weakref.ref(arr)
    with no_grad():
        x._become(shared, "share_memory_")
    return x
