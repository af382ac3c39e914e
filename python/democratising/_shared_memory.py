"""``Tensor.share_memory_`` / ``is_shared``, and how tensors travel between processes.

``share_memory_`` moves a CPU tensor's data into a shared mapping of a memory file
(``memfd_create``), so processes forked afterwards read and write the same parameters instead
of copy-on-write pages. As PyTorch's ``torch.multiprocessing`` reductions, a CPU tensor sent
to another process through ``multiprocessing`` (a ``Process``'s arguments under ``"spawn"``
or ``"forkserver"``, a ``Queue``, a ``Pipe``) travels as that file's descriptor: a tensor sent
that way is moved into shared memory first, and the receiver maps the same pages, so Hogwild
training (``model.share_memory()``, then workers stepping their own optimizers) updates the
parent's parameters. Ordinary ``pickle`` still copies the values."""

from __future__ import annotations

import mmap
import os
import weakref
from multiprocessing import reduction
from typing import Any, NamedTuple, Optional

import numpy as np

from . import _core
from ._core import Tensor
from ._grad_mode import no_grad
from ._tensor import _NP_OF


class _Mapping(NamedTuple):
    """One shared mapping: its NumPy view (weakly: it lives as long as the storage made over
    it) and the memory file behind it (``None`` for an anonymous mapping)."""

    array: weakref.ref[np.ndarray]
    fd: Optional[int]


# Address -> each live shared mapping.
_MAPPINGS: dict[int, _Mapping] = {}

# NumPy stand-ins of the same width for dtypes NumPy lacks (the bytes are reinterpreted).
_NUMPY_OF = {**_NP_OF, "bfloat16": np.float16}


def _mapping_of(x: Tensor) -> Optional[tuple[int, np.ndarray, Optional[int]]]:
    """The shared mapping holding ``x``'s data: its address, array and file."""
    ptr = x.data_ptr()
    for start, m in list(_MAPPINGS.items()):
        arr = m.array()
        if arr is None:
            del _MAPPINGS[start]
        elif start <= ptr < start + max(arr.nbytes, 1):
            return start, arr, m.fd
    return None


def is_shared(x: Tensor) -> bool:
    """Whether ``x``'s data lives in shared memory (always true of CUDA tensors, as PyTorch)."""
    return x.device.type != "cpu" or _mapping_of(x) is not None


def _map(fd: Optional[int], nbytes: int, dtype: Any) -> Tensor:
    """A 1-d tensor over a new shared mapping of ``nbytes`` (of memory file ``fd``, which it
    then owns and closes with the mapping; anonymous without one)."""
    size = max(nbytes, 1)
    buffer = mmap.mmap(-1, size) if fd is None else mmap.mmap(fd, size)
    arr = np.frombuffer(buffer, dtype=_NUMPY_OF[dtype.name], count=nbytes // dtype.itemsize)
    if fd is not None:
        weakref.finalize(arr, os.close, fd)
    _MAPPINGS[arr.__array_interface__["data"][0]] = _Mapping(weakref.ref(arr), fd)
    flat = _core.from_numpy(arr)
    return flat.view(_core.bfloat16) if dtype == _core.bfloat16 else flat


def _memory_file(nbytes: int) -> Optional[int]:
    """A new memory file of ``nbytes`` (Linux), or ``None`` where there is none or no file
    descriptor is left (each shared tensor holds one open: the data is then shared with
    forked processes only, and sent to others by value)."""
    if not hasattr(os, "memfd_create"):
        return None
    try:
        fd = os.memfd_create("democratising-tensor", os.MFD_CLOEXEC)
    except OSError:
        return None
    try:
        os.ftruncate(fd, max(nbytes, 1))
    except OSError:
        os.close(fd)
        raise
    return fd


def share_memory_(x: Tensor) -> Tensor:
    """Moves this CPU tensor's data into shared memory (a no-op for CUDA tensors and for data
    already there); the tensor object, its autograd flags and values stay as they were."""
    if is_shared(x):
        return x
    dtype = x.dtype
    values = x.detach().contiguous()
    nbytes = values.numel() * dtype.itemsize
    shared = _map(_memory_file(nbytes), nbytes, dtype).view(tuple(x.shape))
    shared.copy_(values)
    with no_grad():
        x._become(shared, "share_memory_")
    return x


def _reduce_for_processes(x: Tensor) -> tuple[Any, ...]:
    """How ``multiprocessing`` pickles a tensor: a contiguous CPU leaf as its shared memory
    file (moved there first), anything else (a view, a non-leaf, a CUDA tensor) by value."""
    from ._tensor_extra import _reduce

    if x.device.type != "cpu" or not x.is_contiguous() or not x.is_leaf:
        return _reduce(x)
    found = _mapping_of(x)
    if found is None and not x._is_view():
        share_memory_(x)
        found = _mapping_of(x)
    if found is None or found[2] is None:
        return _reduce(x)
    start, arr, fd = found
    offset = (x.data_ptr() - start) // x.dtype.itemsize
    state = getattr(x, "__dict__", None)
    args = (
        type(x),
        reduction.DupFd(fd),
        arr.nbytes,
        x.dtype.name,
        offset,
        tuple(x.shape),
        x.requires_grad,
        dict(state) if state else None,
    )
    return _rebuild_shared, args


def _rebuild_shared(
    cls: type,
    dup: Any,
    nbytes: int,
    dtype: str,
    offset: int,
    shape: tuple[int, ...],
    requires_grad: bool,
    state: Optional[dict[str, Any]],
) -> Tensor:
    """The receiving side of ``_reduce_for_processes``: the sender's pages, mapped again."""
    flat = _map(dup.detach(), nbytes, getattr(_core, dtype))
    numel = int(np.prod(shape, dtype=np.int64))
    t = flat.detach()[offset : offset + numel].view(shape)
    out = t if cls is Tensor else cls(t)
    out.requires_grad_(requires_grad)
    if state:
        out.__dict__.update(state)
    return out


def register_for_processes(cls: type) -> None:
    """Sends ``cls`` (``Tensor`` or a subclass: ``multiprocessing`` looks reducers up by exact
    type) between processes through shared memory."""
    reduction.ForkingPickler.register(cls, _reduce_for_processes)


register_for_processes(Tensor)
