"""The bilinear map ``y = x1^T A x2 + b``: ``F.bilinear`` (a matmul-and-sum composite) and
its layer ``Bilinear`` with PyTorch's parameters and initialisation."""

from __future__ import annotations

import math
from typing import Any, Optional

from .. import _core
from .._core import Tensor
from .._tensor_extra import _takes_tensor
from ..errors import DTypeError, InvalidValueError, ShapeError
from ._factory import to_factory
from .layers import _init_weight_and_bias, _reset_weight_and_bias
from .module import Module

__all__ = ["Bilinear", "bilinear"]


def _check_bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Optional[Tensor]) -> None:
    if weight.ndim != 3:
        raise ShapeError(f"bilinear(): weight must be three-dimensional, but got {weight.ndim}")
    if input1.ndim != input2.ndim:
        raise ShapeError(
            f"bilinear(): input dimensions do not match: got {input1.ndim} and {input2.ndim}"
        )
    if input1.ndim == 0:
        raise ShapeError("bilinear(): inputs need at least one dimension, got 0-d tensors")
    for d in range(input1.ndim - 1):
        if input1.shape[d] != input2.shape[d]:
            raise ShapeError(
                f"bilinear(): input batch dimensions do not match at dim {d}: got "
                f"{input1.shape[d]} and {input2.shape[d]}"
            )
    for i, x in ((1, input1), (2, input2)):
        if x.shape[-1] != weight.shape[i]:
            raise ShapeError(
                f"bilinear(): input{i} size does not match weight size: got {x.shape[-1]} but "
                f"expected {weight.shape[i]}"
            )
    operands = [input1, input2, weight] + ([] if bias is None else [bias])
    if len({t.dtype for t in operands}) > 1 and _core._get_autocast() is None:
        # As PyTorch's: a float64 input to a float32 layer is refused, not promoted.
        raise DTypeError(
            "bilinear(): all tensors must have the same dtype, got "
            + ", ".join(str(t.dtype) for t in operands)
        )
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != weight.shape[0]):
        got = bias.shape[0] if bias.ndim == 1 else tuple(bias.shape)
        raise ShapeError(
            f"bilinear(): bias size does not match weight size: got {got} but expected "
            f"{weight.shape[0]}"
        )


@_takes_tensor
def bilinear(
    input1: Tensor, input2: Tensor, weight: Tensor, bias: Optional[Tensor] = None
) -> Tensor:
    """``y[..., o] = sum_ij input1[..., i] * weight[o, i, j] * input2[..., j] + bias[o]`` for
    inputs ``(*, in1)`` and ``(*, in2)`` with the same leading dims and ``weight`` of shape
    ``(out, in1, in2)``."""
    _check_bilinear(input1, input2, weight, bias)
    out, in1, in2 = weight.shape
    lead = tuple(input1.shape[:-1])
    b = math.prod(lead)
    # (B, in1) @ (in1, out * in2) -> (B, out, in2), then contracted with input2 over in2.
    w = weight.permute(1, 0, 2).reshape(in1, out * in2)
    t = (input1.reshape(b, in1) @ w).reshape(b, out, in2)
    y = (t * input2.reshape(b, 1, in2)).sum(-1)
    if bias is not None:
        y = y + bias
    if y.dtype != input1.dtype and _core._get_autocast() is not None:
        # On no CPU autocast list: PyTorch's result keeps the operands' dtype, where the sum
        # here would widen a low one to float32.
        y = y.to(input1.dtype)
    return y.reshape(*lead, out)


class Bilinear(Module):
    """``y = x1^T A x2 + b`` with ``weight`` ``(out_features, in1_features, in2_features)``
    and ``bias`` ``(out_features,)``, both drawn from U(±1/√in1_features) as PyTorch's."""

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if in1_features <= 0:  # (PyTorch's check, in its reset_parameters)
            raise InvalidValueError(
                f"in1_features must be > 0, but got (in1_features={in1_features})"
            )
        self.in1_features, self.in2_features = in1_features, in2_features
        self.out_features = out_features
        shape = (out_features, in1_features, in2_features)
        _init_weight_and_bias(self, shape, bias, fan_in=in1_features)
        to_factory(self, device, dtype)

    def reset_parameters(self) -> None:
        """Re-draws ``weight`` and ``bias`` from U(±1/√in1_features), in place."""
        _reset_weight_and_bias(self, fan_in=self.in1_features)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return bilinear(input1, input2, self.weight, self._param("bias"))

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={getattr(self, 'bias', None) is not None}"
        )
