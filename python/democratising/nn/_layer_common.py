"""Helpers that several layer modules share (kept private: not part of ``democratising.nn``)."""

from __future__ import annotations

from typing import Any


def _changed_options(
    module: Any, defaults: tuple[tuple[str, Any], ...], use_repr: bool = False
) -> str:
    """``", name=value"`` for each option of ``module`` that is not its default, in order: the
    tail of PyTorch's ``extra_repr`` for layers that list only changed options (``Embedding``,
    ``EmbeddingBag``, the RNNs). A ``None`` or bool default is compared by identity (PyTorch's
    ``is not None``/``is not False``), any other with ``!=``; ``use_repr`` formats values with
    ``repr`` (``EmbeddingBag``'s ``{value!r}``)."""
    s = ""
    for name, default in defaults:
        value = getattr(module, name)
        if default is None or isinstance(default, bool):
            changed = value is not default
        else:
            changed = value != default
        if changed:
            s += f", {name}={value!r}" if use_repr else f", {name}={value}"
    return s
