"""``democratising.utils``: training utilities (gradient checkpointing), the micro-benchmark
``Timer`` and, as in PyTorch, ``utils.data`` (the same module as ``democratising.data``)."""

import sys

from .. import data
from . import benchmark, checkpoint


def _alias_data() -> None:
    """``democratising.utils.data`` *is* ``democratising.data``; PyTorch's submodule paths
    (``utils.data.dataloader``, ``.dataset``, ``.sampler``, ``.distributed``) name it too, so
    ``from torch.utils.data.distributed import DistributedSampler`` resolves."""
    for sub in ("dataloader", "dataset", "sampler", "distributed"):
        sys.modules[f"{data.__name__}.{sub}"] = data
        sys.modules[f"{__name__}.data.{sub}"] = data
        setattr(data, sub, data)
    sys.modules[f"{__name__}.data"] = data


_alias_data()

__all__ = ["benchmark", "checkpoint", "data"]
