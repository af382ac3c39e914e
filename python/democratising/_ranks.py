"""Which rank of how many this process is: the one question the layers below
``democratising.distributed`` ask about a data-parallel job.

Why a module of its own: the data layer (``DistributedSampler``'s default replicas), AMP
(``GradScaler`` must skip the same steps on every rank) and the trainer (rank 0 logs and writes
checkpoints) need the answer, but must not import ``democratising.distributed``: it needs
mpi4py, and a lower layer reaching up to a higher one makes every layer depend on all the
others. So the dependency points the other way: ``World.init()`` registers the world here, and
everything else only reads. This module imports nothing (mpi4py least of all); until a world
is registered the answer is "one process, rank 0"."""

from __future__ import annotations

from typing import Optional, Protocol

__all__ = ["Group", "any_rank", "current", "is_distributed", "rank", "register", "world_size"]


class Group(Protocol):
    """What a registered world offers (``democratising.distributed.World`` is one)."""

    def rank(self) -> int: ...

    def size(self) -> int: ...

    def any_rank(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any rank (collective)."""
        ...


_group: Optional[Group] = None


def register(group: Optional[Group]) -> None:
    """Makes ``group`` this process's world (``None`` forgets it); called by ``World.init()``."""
    global _group
    _group = group


def current() -> Optional[Group]:
    """The registered world, or ``None`` when this process runs alone."""
    return _group


def rank() -> int:
    """This process's rank (0 when no world is registered)."""
    return 0 if _group is None else int(_group.rank())


def world_size() -> int:
    """How many ranks take part (1 when no world is registered)."""
    return 1 if _group is None else int(_group.size())


def is_distributed() -> bool:
    """True when a world of more than one rank is registered."""
    return world_size() > 1


def any_rank(flag: bool) -> bool:
    """``flag`` ORed over every rank (collective when distributed; ``flag`` itself otherwise)."""
    if _group is None or _group.size() == 1:
        return bool(flag)
    return bool(_group.any_rank(bool(flag)))
