"""Checks that every rank holds the same model before any tensor collective touches it.

Broadcasting or reducing tensors whose shapes differ between ranks hangs or corrupts memory, so
DDP first all-gathers a short digest of the parameter and buffer names, shapes and dtypes. When
the digests differ, every rank sees it at once and raises ``DistributedError`` (the same one on
every rank: the descriptions are gathered to name the first difference)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np

from .._core import Tensor
from ..errors import DistributedError
from .world import World

Entry = tuple[str, str, tuple[int, ...], str, bool]


def describe(
    named_params: Iterable[tuple[str, Tensor]],
    named_buffers: Iterable[tuple[str, Tensor]],
) -> list[Entry]:
    """``(kind, name, shape, dtype, requires_grad)`` for every parameter and buffer."""
    out: list[Entry] = [
        ("parameter", n, tuple(p.shape), str(p.dtype), bool(p.requires_grad))
        for n, p in named_params
    ]
    out += [("buffer", n, tuple(b.shape), str(b.dtype), False) for n, b in named_buffers]
    return out


def digest(entries: list[Entry], extra: Any = None) -> np.ndarray:
    h = hashlib.sha256(repr((entries, extra)).encode())
    return np.frombuffer(h.digest(), dtype=np.uint8).copy()


def _first_difference(
    a: list[Entry], b: list[Entry], ra: int, rb: int, extra_a: Any = None, extra_b: Any = None
) -> str:
    if len(a) != len(b):
        names_a = {e[1] for e in a}
        names_b = {e[1] for e in b}
        only_a = sorted(names_a - names_b)[:3]
        only_b = sorted(names_b - names_a)[:3]
        detail = f"{len(a)} tensors on rank {ra} but {len(b)} on rank {rb}"
        if only_a:
            detail += f"; only on rank {ra}: {only_a}"
        if only_b:
            detail += f"; only on rank {rb}: {only_b}"
        return detail
    for ea, eb in zip(a, b):
        if ea != eb:
            if ea[1] != eb[1]:
                return (
                    f"{ea[0]} #{a.index(ea)} is '{ea[1]}' on rank {ra} but '{eb[1]}' on rank {rb}"
                )
            fields = [("shape", 2), ("dtype", 3), ("requires_grad", 4)]
            for label, i in fields:
                if ea[i] != eb[i]:
                    return (
                        f"{ea[0]} '{ea[1]}' has {label} {ea[i]} on rank {ra} "
                        f"but {eb[i]} on rank {rb}"
                    )
    if isinstance(extra_a, dict) and isinstance(extra_b, dict):
        differ = [
            f"{k}={extra_a.get(k)!r} on rank {ra} but {extra_b.get(k)!r} on rank {rb}"
            for k in dict.fromkeys([*extra_a, *extra_b])
            if extra_a.get(k) != extra_b.get(k)
        ]
        if differ:
            return "the settings differ: " + "; ".join(differ)
    return f"the settings differ: {extra_a!r} on rank {ra} but {extra_b!r} on rank {rb}"


#: What ``verify_same_model`` agrees on first (the same text on every rank, whatever class).
AGREE = "DistributedDataParallel construction"


def verify_same_model(world: World, entries: list[Entry], what: str, extra: Any = None) -> None:
    """Raises ``DistributedError`` on every rank unless all ranks passed equal ``entries`` and
    ``extra`` (the settings: a dict of name to value, named in the error when they differ).
    Starts with the world's agreement all-reduce, so a rank that meanwhile entered another
    collective makes every rank raise instead of mismatching the fingerprint all-gather."""
    if world.size() == 1:
        return
    world._agree(AGREE)
    mine = digest(entries, extra)
    gathered = np.empty((world.size(), mine.size), dtype=np.uint8)
    world.wait(world.comm.Iallgather(mine, gathered), f"{what} (model fingerprint all_gather)")
    bad = [r for r in range(world.size()) if not np.array_equal(gathered[r], gathered[0])]
    if not bad:
        return
    # Every rank reached this point (all saw the same digests), so this collective is safe.
    descriptions = world._gather_objects((entries, extra))
    rb = bad[0]
    (ea, xa), (eb, xb) = descriptions[0], descriptions[rb]
    detail = _first_difference(ea, eb, 0, rb, xa, xb)
    raise DistributedError(
        f"{what}: the ranks hold different models or settings (ranks {bad} differ from rank "
        f"0): {detail}. Build the same model with the same settings on every rank before "
        "wrapping it."
    )
