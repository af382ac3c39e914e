"""Tensor construction from Python data and NumPy, DLPack, and helpers used by the extension."""

from __future__ import annotations

import builtins
from typing import Any, NamedTuple, Optional

import numpy as np

from . import _core
from ._core import Tensor


class MaxResult(NamedTuple):
    """``(values, indices)`` returned by ``max(dim)`` / ``min(dim)``."""

    values: Tensor
    indices: Tensor


_NP_OF = {
    "float32": np.float32,
    "float64": np.float64,
    "float16": np.float16,
    "int64": np.int64,
    "int32": np.int32,
    "bool": np.bool_,
}


def _to_array(data: Any) -> np.ndarray:
    if isinstance(data, Tensor):
        t = data.detach().cpu()
        if t.dtype == _core.bfloat16:
            t = t.float()
        return np.array(t.numpy(), copy=True)
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in data):
        return np.array([_to_array(x) for x in data])
    arr = np.array(data)
    is_numpy = isinstance(data, (np.ndarray, np.generic))
    if not is_numpy and arr.dtype == np.float64:
        # Python floats default to float32, like PyTorch's default dtype.
        arr = arr.astype(np.float32)
    if arr.dtype.kind in "iu" and arr.dtype != np.int32 and not is_numpy:
        arr = arr.astype(np.int64)
    if arr.dtype.kind == "u" or arr.dtype == np.int8 or arr.dtype == np.int16:
        arr = arr.astype(np.int64)
    if arr.dtype.kind == "O":
        raise TypeError(f"could not infer a tensor from data of type {type(data).__name__}")
    return arr


def tensor(
    data: Any,
    dtype: Optional[_core.dtype] = None,
    device: Any = None,
    requires_grad: builtins.bool = False,
) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, scalars, NumPy arrays, tensors)."""
    # A private C-ordered copy (np.ascontiguousarray would turn 0-d data into 1-d).
    t = _core.from_numpy(np.array(_to_array(data), copy=True, order="C"))
    if dtype is None and isinstance(data, Tensor):
        dtype = data.dtype
    if dtype is not None:
        t = t.to(dtype)
    if device is not None:
        t = t.to(device)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _as_operand(obj: Any) -> Tensor:
    """Converts a non-tensor operand (NumPy scalar/array, list) for a binary op."""
    if isinstance(obj, np.generic):
        return tensor(obj.item()) if obj.dtype.kind != "f" else _core.from_numpy(np.array(obj))
    return tensor(obj)


def from_dlpack(ext: Any) -> Tensor:
    """A tensor sharing memory with any object that implements the DLPack protocol (CPU)."""
    if isinstance(ext, Tensor):
        return ext
    return _core.from_numpy(np.from_dlpack(ext))


def _like(
    fn: Any,
    t: Tensor,
    dtype: Optional[_core.dtype],
    requires_grad: builtins.bool,
    device: Any = None,
) -> Tensor:
    return fn(
        *t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad
    )


def zeros_like(
    t: Tensor,
    dtype: Optional[_core.dtype] = None,
    requires_grad: builtins.bool = False,
    device: Any = None,
) -> Tensor:
    return _like(_core.zeros, t, dtype, requires_grad, device)


def ones_like(
    t: Tensor,
    dtype: Optional[_core.dtype] = None,
    requires_grad: builtins.bool = False,
    device: Any = None,
) -> Tensor:
    return _like(_core.ones, t, dtype, requires_grad, device)


def empty_like(
    t: Tensor,
    dtype: Optional[_core.dtype] = None,
    requires_grad: builtins.bool = False,
    device: Any = None,
) -> Tensor:
    return _like(_core.empty, t, dtype, requires_grad, device)


def rand_like(
    t: Tensor,
    dtype: Optional[_core.dtype] = None,
    requires_grad: builtins.bool = False,
    device: Any = None,
) -> Tensor:
    return _like(_core.rand, t, dtype, requires_grad, device)


def randn_like(
    t: Tensor,
    dtype: Optional[_core.dtype] = None,
    requires_grad: builtins.bool = False,
    device: Any = None,
) -> Tensor:
    return _like(_core.randn, t, dtype, requires_grad, device)


def full_like(
    t: Tensor,
    fill_value: Any,
    dtype: Optional[_core.dtype] = None,
    requires_grad: builtins.bool = False,
    device: Any = None,
) -> Tensor:
    return _core.full(
        t.shape,
        fill_value,
        dtype=dtype or t.dtype,
        device=device or t.device,
        requires_grad=requires_grad,
    )
