"""``Parameter``: a tensor that a ``Module`` registers as trainable when assigned."""

from __future__ import annotations

from typing import Any

from .. import _core
from .._core import Tensor
from .._shared_memory import register_for_processes


class Parameter(Tensor):
    """A leaf tensor that requires grad and is registered by ``Module.__setattr__``."""

    def __new__(cls, data: Any = None, requires_grad: bool = True) -> Parameter:
        if data is None:  # PyTorch's ``Parameter()``: an empty one, filled in later
            data = _core.empty(0)
        t = super().__new__(cls, data)
        t.requires_grad_(requires_grad)
        return t

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        """A copy of the values and ``requires_grad`` without the ``.grad``, as PyTorch's: an
        optimizer over a deep-copied model steps nothing before its first backward."""
        if id(self) in memo:
            return memo[id(self)]  # type: ignore[no-any-return]
        result = super().__deepcopy__(memo)
        result.grad = None
        memo[id(self)] = result
        return result

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


register_for_processes(Parameter)  # (Hogwild: workers step the parent's own parameters)
