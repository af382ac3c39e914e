"""``DataParallel(module, devices)``: the seed's single-process multi-device wrapper.

On CPU devices (or a single device) the wrapped module runs as is, like PyTorch's
``DataParallel`` without GPUs. Several CUDA devices need the CUDA tensor backend; until tensor
ops run on CUDA (see README, "Running on GPUs"), asking for them raises ``DeviceError`` at
construction instead of failing later inside a forward pass."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

from .. import _core, cuda
from ..errors import DeviceError
from ..nn.module import Module
from .sync_batchnorm import convert_sync_batchnorm

DeviceLike = Union[str, int, _core.Device]


def _device(d: DeviceLike) -> _core.Device:
    if isinstance(d, _core.Device):
        return d
    if isinstance(d, int):
        return _core.Device.cuda(d)
    return _core.Device(d)


class DataParallel(Module):
    """Runs ``module`` over ``devices``; its state_dict keys are prefixed ``module.`` as in
    PyTorch."""

    def __init__(
        self,
        module: Module,
        devices: Optional[Sequence[DeviceLike]] = None,
        output_device: Optional[DeviceLike] = None,
        dim: int = 0,
    ) -> None:
        super().__init__()
        if devices is None:
            devices = (
                [_core.Device.cuda(i) for i in range(cuda.device_count())]
                if cuda.is_available()
                else [_core.Device.cpu()]
            )
        devs = [_device(d) for d in devices]
        if not devs:
            raise ValueError("DataParallel needs at least one device")
        gpus = [d for d in devs if d.type == "cuda"]
        if gpus:
            reason = (
                cuda.unavailable_reason()
                if not cuda.is_available()
                else "tensor operations do not run on CUDA in this build yet"
            )
            raise DeviceError(f"DataParallel over {[str(d) for d in gpus]}: {reason}")
        self.module = module
        self.devices = devs
        self.output_device = _device(output_device) if output_device is not None else devs[0]
        self.dim = dim

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)

    def convert_sync_batchnorm(self) -> DataParallel:
        """The seed's ``model.convert_sync_batchnorm()``: BatchNorm layers become SyncBatchNorm
        (which reduce over MPI ranks when a world is initialised)."""
        self.module = convert_sync_batchnorm(self.module)
        return self

    def extra_repr(self) -> str:
        return f"devices={[str(d) for d in self.devices]}"
