"""``ReduceOp``: how ``all_reduce`` combines the ranks' values."""

from __future__ import annotations

from enum import Enum
from typing import Any

from ..errors import InvalidValueError


class ReduceOp(Enum):
    """``Sum``, ``Mean`` (a sum divided by the world size: MPI has no mean), ``Max``, ``Min``.

    Upper-case aliases (``ReduceOp.SUM``) are accepted as well, as in PyTorch."""

    Sum = "sum"
    Mean = "mean"
    Max = "max"
    Min = "min"

    SUM = "sum"
    MEAN = "mean"
    AVG = "mean"
    MAX = "max"
    MIN = "min"

    def mpi_op(self, is_bool: bool = False) -> Any:
        """The mpi4py operation; booleans use logical or/and (MPI defines no sum on them)."""
        from mpi4py import MPI

        if is_bool:
            return MPI.LAND if self is ReduceOp.Min else MPI.LOR
        return {
            ReduceOp.Sum: MPI.SUM,
            ReduceOp.Mean: MPI.SUM,
            ReduceOp.Max: MPI.MAX,
            ReduceOp.Min: MPI.MIN,
        }[self]

    @classmethod
    def parse(cls, op: Any) -> ReduceOp:
        """Accepts a ``ReduceOp`` or its name (``"mean"``, ``"Sum"``, ``"avg"``)."""
        if isinstance(op, ReduceOp):
            return op
        if isinstance(op, str):
            key = op.strip().lower()
            for name, member in cls.__members__.items():
                if member.value == key or name.lower() == key:
                    return member
        raise InvalidValueError(f"unknown reduce op {op!r}; use ReduceOp.Sum, Mean, Max or Min")
