"""PyTorch's memory formats: ``dm.channels_last`` and its kin, accepted wherever PyTorch takes
``memory_format=`` (``contiguous``, ``clone``, ``to``, ``zeros_like``, ``Module.to``...).

A tensor asked for ``channels_last`` gets NHWC strides (the engine's own permuted copy, seen
through the inverse permutation), so ``is_contiguous(memory_format=dm.channels_last)``
answers as PyTorch's does; values and gradients never depend on the layout."""

from __future__ import annotations

from typing import Any

from ._core import Tensor

__all__ = [
    "channels_last",
    "channels_last_3d",
    "contiguous_format",
    "memory_format",
    "preserve_format",
]


class _NamedConstant:
    """A PyTorch constant known by its name (a memory format here, a ``layout`` in
    ``_tensor_compat_more``): it prints as ``democratising.<name>`` and pickles as a reference
    to the module-level instance of that name, so the one instance comes back."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"democratising.{self._name}"

    def __reduce__(self) -> str:
        return self._name


class memory_format(_NamedConstant):  # noqa: N801 (PyTorch's name)
    """One of the four layouts; the engine reads ``_memory_format``."""

    __slots__ = ()

    @property
    def _memory_format(self) -> str:
        return self._name


preserve_format = memory_format("preserve_format")
contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")


def like_layout(out: Tensor, like: Tensor, fmt: Any) -> Tensor:
    """``out`` (a fresh tensor shaped as ``like``) in ``fmt``; ``preserve_format`` (the
    default) keeps ``like``'s channels-last layout when it has one, as PyTorch's ``*_like``."""
    if fmt is None or fmt is preserve_format:
        if like.is_contiguous():
            return out
        for cl in (channels_last, channels_last_3d):
            if like.ndim == (4 if cl is channels_last else 5) and like.is_contiguous(
                memory_format=cl
            ):
                return out.contiguous(memory_format=cl)
        return out
    return out.contiguous(memory_format=fmt)
