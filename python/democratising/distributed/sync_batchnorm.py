"""``SyncBatchNorm``: batch normalisation whose statistics cover the global batch.

With data parallelism each rank sees only its slice of the batch, so plain BatchNorm would
normalise with per-rank statistics. Here, in training, every rank all-reduces its per-channel
``(sum, sum of squares, count)`` (float64, from a stable two-pass local computation) and
normalises with the global mean and variance; backward all-reduces the two per-channel sums
the input gradient needs (``sum(dy)``, ``sum(dy * x_hat)``). The result, running statistics
included, equals one process running BatchNorm on the concatenated batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, cast

import numpy as np

from .. import _core
from .._core import Tensor
from .._function import Function, FunctionCtx
from .._grad_mode import no_grad
from ..errors import ShapeError
from ..nn._derived_init import derived_init
from ..nn.module import Module
from ..nn.normalization import _BatchNorm, affine_of
from .reduce_op import ReduceOp
from .world import World


def _as_array(t: Tensor) -> np.ndarray:
    """A contiguous float32/float64 NumPy array of ``t`` (a view when possible)."""
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype not in (_core.float32, _core.float64):
        t = t.float()
    return np.ascontiguousarray(np.asarray(t.contiguous().numpy()))


def _to_tensor(a: np.ndarray, like: Tensor) -> Tensor:
    out = _core.from_numpy(a)
    if out.dtype != like.dtype or like.device.type != "cpu":
        out = out.to(device=like.device, dtype=like.dtype)
    return out


@dataclass
class _Saved:
    """What backward needs from forward (NumPy, computed once)."""

    xhat: np.ndarray
    invstd: np.ndarray
    count: float
    world: World
    axes: tuple[int, ...]
    bshape: tuple[int, ...]
    weight: Optional[np.ndarray]


def _stash(ctx: FunctionCtx, saved: _Saved) -> None:
    ctx.__dict__["sync_bn"] = saved


def _unstash(ctx: FunctionCtx) -> _Saved:
    return cast(_Saved, ctx.__dict__["sync_bn"])


class _SyncBatchNormFunction(Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        x: Tensor,
        weight: Optional[Tensor],
        bias: Optional[Tensor],
        running_mean: Optional[Tensor],
        running_var: Optional[Tensor],
        momentum: float,
        eps: float,
        world: World,
    ) -> Tensor:
        xa = _as_array(x)
        c = xa.shape[1]
        axes = (0, *range(2, xa.ndim))
        bshape = (1, c) + (1,) * (xa.ndim - 2)
        n_local = xa.size // c if c else 0
        local_sum = xa.sum(axis=axes, dtype=np.float64)
        local_mean = local_sum / max(n_local, 1)
        centred = xa - local_mean.astype(xa.dtype).reshape(bshape)
        m2 = np.square(centred).sum(axis=axes, dtype=np.float64)
        stats = np.concatenate([local_sum, m2 + n_local * local_mean**2, [float(n_local)]])
        world._all_reduce_array(stats, ReduceOp.Sum, f"SyncBatchNorm forward statistics ({c} ch)")
        count = stats[-1]
        if count <= 1:
            raise ShapeError(
                f"SyncBatchNorm expects more than 1 value per channel in training, got {count:g}"
            )
        mean = stats[:c] / count
        var = np.maximum(stats[c : 2 * c] / count - mean**2, 0.0)
        invstd = 1.0 / np.sqrt(var + eps)
        xhat = (xa - mean.astype(xa.dtype).reshape(bshape)) * invstd.astype(xa.dtype).reshape(
            bshape
        )
        y = xhat
        if weight is not None:
            y = y * _as_array(weight).reshape(bshape)
        if bias is not None:
            y = y + _as_array(bias).reshape(bshape)
        if running_mean is not None and running_var is not None:
            with no_grad():
                m = momentum
                unbiased = var * count / (count - 1)
                rm, rv = _as_array(running_mean), _as_array(running_var)
                running_mean.copy_(_to_tensor((1 - m) * rm + m * mean.astype(rm.dtype), x))
                running_var.copy_(_to_tensor((1 - m) * rv + m * unbiased.astype(rv.dtype), x))
        w = None if weight is None else _as_array(weight)
        _stash(ctx, _Saved(xhat, invstd, float(count), world, axes, bshape, w))
        return _to_tensor(np.ascontiguousarray(y, dtype=xa.dtype), x)

    @staticmethod
    def backward(ctx: FunctionCtx, grad: Tensor) -> Any:  # type: ignore[override]
        g = _as_array(grad)
        st = _unstash(ctx)
        xhat, axes, bshape = st.xhat, st.axes, st.bshape
        sum_dy = g.sum(axis=axes, dtype=np.float64)
        sum_dy_xhat = (g * xhat).sum(axis=axes, dtype=np.float64)
        grad_x = None
        if ctx.needs_input_grad[0]:
            c = sum_dy.size
            sums = np.concatenate([sum_dy, sum_dy_xhat])
            st.world._all_reduce_array(sums, ReduceOp.Sum, f"SyncBatchNorm backward sums ({c} ch)")
            mean_dy = (sums[:c] / st.count).astype(g.dtype).reshape(bshape)
            mean_dy_xhat = (sums[c:] / st.count).astype(g.dtype).reshape(bshape)
            scale = st.invstd if st.weight is None else st.invstd * st.weight
            gx = (g - mean_dy - xhat * mean_dy_xhat) * scale.astype(g.dtype).reshape(bshape)
            grad_x = _to_tensor(np.ascontiguousarray(gx), grad)
        grad_w = _to_tensor(sum_dy_xhat.astype(g.dtype), grad) if ctx.needs_input_grad[1] else None
        grad_b = _to_tensor(sum_dy.astype(g.dtype), grad) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None, None, None, None, None


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over N-D input ``(N, C, ...)`` with statistics reduced across the ranks of
    ``world`` (default: the initialised world) in training; in eval mode, or in a world of one,
    it is exactly ``BatchNorm``."""

    _expected_ndim = (2, 3, 4, 5)

    # ``BatchNorm``'s arguments, and ``world`` in the place of PyTorch's ``process_group``.
    @derived_init(_BatchNorm.__init__, before="device")
    def __init__(self, world: Optional[World] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.world = world

    def forward(self, input: Tensor) -> Tensor:
        world = self.world if self.world is not None else World.current()
        # As PyTorch's: statistics are synchronised in training only; eval mode is BatchNorm's
        # (the running statistics whenever they exist, else the local batch's).
        if not self.training or world is None or world.size() == 1:
            return super().forward(input)
        if input.ndim not in self._expected_ndim or input.shape[1] != self.num_features:
            raise ShapeError(
                f"SyncBatchNorm({self.num_features}) expects input (N, {self.num_features}, ...) "
                f"with 2 to 5 dimensions, got shape {tuple(input.shape)}"
            )
        momentum = self._momentum()
        track = self.training and self.track_running_stats
        return _SyncBatchNormFunction.apply(
            input,
            *affine_of(self),
            self.running_mean if track else None,
            self.running_var if track else None,
            momentum,
            self.eps,
            world,
        )

    @classmethod
    def convert_sync_batchnorm(
        cls, module: Module, process_group: Optional[World] = None
    ) -> Module:
        """PyTorch's spelling of ``convert_sync_batchnorm(module, world)``."""
        return convert_sync_batchnorm(module, process_group)


def convert_sync_batchnorm(module: Module, world: Optional[World] = None) -> Module:
    """Replaces every ``BatchNorm1d/2d`` in ``module`` by a ``SyncBatchNorm`` that keeps the
    same parameter and buffer tensors (an optimizer built earlier still sees them). Returns
    the module (a new one when ``module`` itself is a BatchNorm)."""
    if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
        sync = SyncBatchNorm.__new__(SyncBatchNorm)
        sync.__dict__.update(module.__dict__)
        object.__setattr__(sync, "world", world)
        return sync
    for name, child in list(module._modules.items()):
        if child is not None:
            module._modules[name] = convert_sync_batchnorm(child, world)
    return module
