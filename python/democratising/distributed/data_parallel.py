"""``DataParallel(module, devices)``: the seed's single-process multi-device wrapper.

Over several CUDA devices each forward scatters the inputs along ``dim``, runs a replica of
the module per device and gathers the outputs on ``output_device``, as PyTorch's does. A
replica's parameters are differentiable copies (``p.to(device)``) of the module's, so the
backward pass moves every replica's gradient back and sums it into the original parameters:
one optimizer on the module, nothing to synchronise. On CPU devices (or one device) the module
runs as is."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Optional, Union

from .. import _core, cuda
from .._core import Tensor
from ..errors import ArgumentTypeError, DeviceError, InvalidValueError
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
        *,
        device_ids: Optional[Sequence[DeviceLike]] = None,
    ) -> None:
        super().__init__()
        if device_ids is not None:  # PyTorch's name for ``devices``
            if devices is not None:
                raise ArgumentTypeError("DataParallel: pass devices or device_ids, not both")
            devices = device_ids
        if isinstance(devices, (str, int, _core.Device)):
            devices = [devices]  # one device, not a sequence of them ("cpu" is not 'c', 'p', 'u')
        if not devices:  # None or empty: every GPU, else the CPU (PyTorch's CPU fallback)
            devices = (
                [_core.Device.cuda(i) for i in range(cuda.device_count())]
                if cuda.is_available()
                else [_core.Device.cpu()]
            )
        devs = [_device(d) for d in devices]
        gpus = [d for d in devs if d.type == "cuda"]
        missing = [d for d in gpus if (d.index or 0) >= cuda.device_count()]
        if missing:
            reason = cuda.unavailable_reason() or f"this machine has {cuda.device_count()} GPU(s)"
            raise DeviceError(f"DataParallel over {[str(d) for d in missing]}: {reason}")
        if gpus and len(gpus) != len(devs):
            raise DeviceError("DataParallel devices must be all CUDA or all CPU")
        if gpus:
            module.to(devs[0])
        self.module = module
        self.devices = devs
        self.output_device = _device(output_device) if output_device is not None else devs[0]
        self.dim = dim

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if len(self.devices) == 1 or self.devices[0].type != "cuda":
            return self.module(*inputs, **kwargs)
        batch = _batch_size(inputs, self.dim)
        if batch is None:
            raise InvalidValueError("DataParallel needs at least one tensor input to scatter")
        devs = self.devices[: max(1, min(len(self.devices), batch))]
        parts = [_scatter(inputs, self.dim, len(devs), i, d) for i, d in enumerate(devs)]
        kw = [_scatter(kwargs, self.dim, len(devs), i, d) for i, d in enumerate(devs)]
        outs = [_replicate(self.module, d)(*p, **k) for d, p, k in zip(devs, parts, kw)]
        return _gather(outs, self.dim, self.output_device)

    def convert_sync_batchnorm(self) -> DataParallel:
        """The seed's ``model.convert_sync_batchnorm()``: BatchNorm layers become SyncBatchNorm
        (which reduce over MPI ranks when a world is initialised)."""
        self.module = convert_sync_batchnorm(self.module)
        return self

    def extra_repr(self) -> str:
        return f"devices={[str(d) for d in self.devices]}"


def _batch_size(obj: Any, dim: int) -> Optional[int]:
    if isinstance(obj, Tensor):
        return int(obj.shape[dim])
    if isinstance(obj, (list, tuple)):
        for x in obj:
            n = _batch_size(x, dim)
            if n is not None:
                return n
    if isinstance(obj, dict):
        return _batch_size(list(obj.values()), dim)
    return None


def _scatter(obj: Any, dim: int, parts: int, i: int, device: _core.Device) -> Any:
    """Part ``i`` of ``parts`` of every tensor in ``obj`` (split along ``dim``), on ``device``;
    other values are passed to every replica unchanged."""
    if isinstance(obj, Tensor):
        chunks = obj.chunk(parts, dim)
        return chunks[min(i, len(chunks) - 1)].to(device)
    if isinstance(obj, tuple):
        return tuple(_scatter(x, dim, parts, i, device) for x in obj)
    if isinstance(obj, list):
        return [_scatter(x, dim, parts, i, device) for x in obj]
    if isinstance(obj, dict):
        return {k: _scatter(v, dim, parts, i, device) for k, v in obj.items()}
    return obj


def _gather(outs: list[Any], dim: int, device: _core.Device) -> Any:
    first = outs[0]
    if isinstance(first, Tensor):
        moved = [o.to(device) for o in outs]
        return moved[0] if len(moved) == 1 else _core.cat(moved, dim if first.ndim else 0)
    if isinstance(first, (list, tuple)):
        items = [_gather([o[k] for o in outs], dim, device) for k in range(len(first))]
        return type(first)(items) if isinstance(first, list) else tuple(items)
    if isinstance(first, dict):
        return {k: _gather([o[k] for o in outs], dim, device) for k in first}
    return first


def _replicate(module: Module, device: _core.Device) -> Module:
    """A shallow copy of ``module`` whose parameters and buffers are ``t.to(device)``: the
    original tensors on their own device, differentiable copies elsewhere."""

    def clone(m: Module) -> Module:
        r = object.__new__(type(m))
        r.__dict__.update(m.__dict__)
        params = OrderedDict(
            (n, None if p is None else p.to(device)) for n, p in m._parameters.items()
        )
        bufs = OrderedDict((n, None if b is None else b.to(device)) for n, b in m._buffers.items())
        subs = OrderedDict((n, None if c is None else clone(c)) for n, c in m._modules.items())
        object.__setattr__(r, "_parameters", params)
        object.__setattr__(r, "_buffers", bufs)
        object.__setattr__(r, "_modules", subs)
        return r

    return clone(module)
