"""PyTorch's deprecated spellings (``nn.init.uniform``, ``nn.utils.clip_grad_norm``): one
wrapper that warns PyTorch's ``FutureWarning``, shared by every namespace that keeps them."""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, Optional, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])


def deprecated_alias(
    fn: _F, namespace: str, name: Optional[str] = None, doc: Optional[str] = None
) -> _F:
    """``fn`` under PyTorch's old name (by default ``fn``'s without the trailing underscore),
    warning PyTorch's ``FutureWarning`` first: a wrapper, so the signature
    (``inspect.signature`` follows ``__wrapped__``) stays ``fn``'s. Any ``nn`` namespace's
    deprecated spellings can share it (``namespace``: ``"nn.utils"``, ``"nn.init"``)."""
    new_name = fn.__name__
    old_name = name or new_name[:-1]

    @functools.wraps(fn)
    def alias(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(
            f"`{namespace}.{old_name}` is now deprecated in favor of `{namespace}.{new_name}`.",
            FutureWarning,
            stacklevel=2,
        )
        return fn(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old_name
    alias.__doc__ = doc or f"Deprecated alias of ``{new_name}`` (warns ``FutureWarning``)."
    return alias  # type: ignore[return-value]
