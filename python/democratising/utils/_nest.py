"""Nests of tuples, lists, namedtuples and dicts as flat lists of leaves (what a checkpointed
function returns)."""

from __future__ import annotations

from typing import Any, Callable


def flatten(obj: Any) -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """The leaves of a nest of tuples, lists, namedtuples and dicts (depth first, dicts in
    key order) and the function that rebuilds the nest around new leaves."""
    if not isinstance(obj, (tuple, list, dict)):
        return [obj], lambda new: new[0]
    items = list(obj.values()) if isinstance(obj, dict) else list(obj)
    parts = [flatten(item) for item in items]

    def rebuild(new: list[Any]) -> Any:
        out, k = [], 0
        for leaves, build in parts:
            out.append(build(new[k : k + len(leaves)]))
            k += len(leaves)
        if isinstance(obj, dict):
            return type(obj)(zip(obj.keys(), out))
        return type(obj)(*out) if hasattr(obj, "_fields") else type(obj)(out)  # (namedtuple)

    return [leaf for leaves, _ in parts for leaf in leaves], rebuild
