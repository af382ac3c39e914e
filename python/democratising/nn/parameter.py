"""``Parameter``: a tensor that a ``Module`` registers as trainable when assigned."""

from __future__ import annotations

from typing import Any

from .._core import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad and is registered by ``Module.__setattr__``."""

    def __new__(cls, data: Any = None, requires_grad: bool = True) -> Parameter:
        t = super().__new__(cls, data)
        t.requires_grad_(requires_grad)
        return t

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
