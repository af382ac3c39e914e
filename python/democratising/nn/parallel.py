"""``democratising.nn.parallel``: PyTorch's ``DistributedDataParallel`` and ``DataParallel``
names over ``democratising.distributed`` (MPI). ``DistributedDataParallel(module,
device_ids=[local_rank])`` wraps with the world that ``dist.init_process_group`` started.

``nn`` sits below ``distributed`` and never imports it: these names are stand-ins that
``democratising.distributed`` fills in when it is imported (on first use of a stand-in, by a
loader the package's ``__init__`` sets), so ``from torch.nn.parallel import
DistributedDataParallel as DDP`` at the top of a script, then ``DDP(model)`` after
``init_process_group``, builds the real wrapper, and ``isinstance(m, DDP)`` is true of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional

from ..errors import DistributedError

__all__ = ["DataParallel", "DistributedDataParallel", "SyncBatchNorm", "data_parallel"]

#: name -> implementation class, set by ``democratising.distributed`` on import.
_installed: dict[str, type] = {}
#: Imports the distributed layer on first use of a stand-in; set by the package's
#: ``__init__`` (which sits above both), so ``nn`` itself never names it.
_loader: Optional[Callable[[], object]] = None


class _Deferred(type):
    """Metaclass of the stand-ins: calls and ``isinstance`` go to the implementation."""

    def _impl(cls) -> type:
        impl = _installed.get(cls.__name__)
        if impl is None and _loader is not None:
            _loader()
            impl = _installed.get(cls.__name__)
        if impl is None:
            raise DistributedError(
                f"{cls.__name__} needs the distributed layer: call "
                "democratising.distributed.init_process_group() (or import "
                "democratising.distributed) first"
            )
        return impl

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._impl()(*args, **kwargs)

    def __instancecheck__(cls, obj: Any) -> bool:
        impl = _installed.get(cls.__name__)
        return impl is not None and isinstance(obj, impl)

    def __subclasscheck__(cls, sub: type) -> bool:
        impl = _installed.get(cls.__name__)
        return impl is not None and issubclass(sub, impl)

    def __getattr__(cls, name: str) -> Any:
        """Class attributes (``SyncBatchNorm.convert_sync_batchnorm``) come from the
        implementation."""
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(cls._impl(), name)


class DistributedDataParallel(metaclass=_Deferred):
    """``torch.nn.parallel.DistributedDataParallel(module, device_ids=None, ...)``."""


class DataParallel(metaclass=_Deferred):
    """``torch.nn.DataParallel(module, device_ids=None, output_device=None, dim=0)``."""


class SyncBatchNorm(metaclass=_Deferred):
    """``torch.nn.SyncBatchNorm(num_features, eps=1e-5, momentum=0.1, affine=True, ...)`` and
    its ``convert_sync_batchnorm(module, process_group=None)``."""


def data_parallel(
    module: Any,
    inputs: Any,
    device_ids: Optional[Sequence[Any]] = None,
    output_device: Any = None,
    dim: int = 0,
    module_kwargs: Optional[dict[str, Any]] = None,
) -> Any:
    """``torch.nn.parallel.data_parallel``: ``module(*inputs, **module_kwargs)`` run as
    ``DataParallel(module, device_ids, output_device, dim)`` would run it, for one call
    (``inputs``: a tuple of arguments, or one)."""
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    devices = list(device_ids) if device_ids is not None else None
    wrapper = DataParallel(module, device_ids=devices, output_device=output_device, dim=dim)
    return wrapper(*args, **(module_kwargs or {}))
