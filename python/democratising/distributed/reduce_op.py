"""``ReduceOp``: how ``all_reduce`` combines the ranks' values."""

from __future__ import annotations

from enum import Enum
from typing import Any

from ..errors import InvalidValueError


class ReduceOp(Enum):
    """``Sum``, ``Mean`` (a sum divided by the world size: MPI has no mean), ``Max``, ``Min``,
    ``Product`` and the bitwise ``BAnd``, ``BOr``, ``BXor`` (integer and bool tensors only).

    Upper-case aliases (``ReduceOp.SUM``, ``ReduceOp.PRODUCT``, ``ReduceOp.BAND``) are accepted
    as well, as in PyTorch. (PyTorch's ``PREMUL_SUM`` exists only for NCCL: use ``Sum`` on a
    tensor multiplied first.)"""

    Sum = "sum"
    Mean = "mean"
    Max = "max"
    Min = "min"
    Product = "product"
    BAnd = "band"
    BOr = "bor"
    BXor = "bxor"

    SUM = "sum"
    MEAN = "mean"
    AVG = "mean"
    MAX = "max"
    MIN = "min"
    PRODUCT = "product"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"

    @property
    def bitwise(self) -> bool:
        """True for ``BAnd``/``BOr``/``BXor`` (defined on integers and bools only)."""
        return self in (ReduceOp.BAnd, ReduceOp.BOr, ReduceOp.BXor)

    def mpi_op(self, is_bool: bool = False) -> Any:
        """The mpi4py operation; booleans use logical and/or/xor (MPI defines no arithmetic on
        them): ``Min``, ``Product`` and ``BAnd`` are an and, ``BXor`` an xor, the rest an or."""
        from mpi4py import MPI

        if is_bool:
            if self in (ReduceOp.Min, ReduceOp.Product, ReduceOp.BAnd):
                return MPI.LAND
            return MPI.LXOR if self is ReduceOp.BXor else MPI.LOR
        return {
            ReduceOp.Sum: MPI.SUM,
            ReduceOp.Mean: MPI.SUM,
            ReduceOp.Max: MPI.MAX,
            ReduceOp.Min: MPI.MIN,
            ReduceOp.Product: MPI.PROD,
            ReduceOp.BAnd: MPI.BAND,
            ReduceOp.BOr: MPI.BOR,
            ReduceOp.BXor: MPI.BXOR,
        }[self]

    @classmethod
    def parse(cls, op: Any) -> ReduceOp:
        """Accepts a ``ReduceOp`` or its name (``"mean"``, ``"Sum"``, ``"avg"``, ``"product"``)."""
        if isinstance(op, ReduceOp):
            return op
        if isinstance(op, str):
            key = op.strip().lower()
            for name, member in cls.__members__.items():
                if member.value == key or name.lower() == key:
                    return member
        raise InvalidValueError(
            f"unknown reduce op {op!r}; use ReduceOp.Sum, Mean, Max, Min, Product, BAnd, BOr "
            "or BXor"
        )
