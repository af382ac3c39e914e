"""``democratising.nn.functional``: the functional form of the layers and losses."""

from __future__ import annotations

import functools
import inspect
import math
import operator
import warnings
from collections.abc import Sequence
from typing import Any, Callable, Optional, TypeVar, Union

import numpy as np

from .. import _core
from .._core import Tensor
from .._function import Function, FunctionCtx
from .._grad_mode import no_grad
from .._opmath import in_float32
from .._tensor import tensor as _tensor
from .._tensor_extra import _autocast_fp32, _check_alloc, _takes_tensor, broadcast_tensors
from ..errors import (
    ArgumentTypeError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidValueError,
    ShapeError,
    UnsupportedShapeError,
    not_a_tensor,
)
from . import _interpolate
from ._fold import fold, unfold  # noqa: F401 - F.fold and F.unfold
from ._param_dtypes import check_param_dtypes

_REDUCTIONS = ("mean", "sum", "none")
_Size = TypeVar("_Size")


def _reduce(x: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    if reduction == "none":
        return x
    raise InvalidValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


# ---- PyTorch's extra keyword arguments, added by decorators that keep the signatures honest ----

_F = TypeVar("_F", bound=Callable[..., Any])


def _signed(wrapper: Any, fn: Callable[..., Any], sig: inspect.Signature) -> Any:
    """``wrapper`` named and documented as ``fn`` with the signature ``sig``, which is the real
    one: ``inspect.signature`` is not sent on to ``fn``'s (the decorators below)."""
    functools.update_wrapper(wrapper, fn)
    wrapper.__signature__ = sig
    delattr(wrapper, "__wrapped__")
    return wrapper


def _with_params(
    fn: Callable[..., Any],
    wrapper: Callable[..., Any],
    positional: bool = False,
    before: Optional[str] = None,
    **extra: Any,
) -> Any:
    """``wrapper`` named and documented as ``fn``, its signature ``fn``'s plus the parameters
    ``extra`` (name -> default), keyword-only unless ``positional``; they are added at the end,
    or just before parameter ``before``."""
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    at = len(params) if before is None else list(sig.parameters).index(before)
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD if positional else inspect.Parameter.KEYWORD_ONLY
    params[at:at] = [
        inspect.Parameter(name, kind, default=default) for name, default in extra.items()
    ]
    return _signed(wrapper, fn, sig.replace(parameters=params))


def _legacy_reduction(size_average: Optional[bool], reduce: Optional[bool], reduction: str) -> str:
    """PyTorch's mapping of the deprecated ``size_average``/``reduce`` flags to ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _call_with_reduction(
    fn: Callable[..., Any], at: int, reduction: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``fn(*args, **kwargs)`` with ``reduction`` (``fn``'s parameter ``at``) replaced where
    it was given, by position or by keyword: the legacy flags' decorators below."""
    if len(args) > at:
        args = (*args[:at], reduction, *args[at + 1 :])
    else:
        kwargs["reduction"] = reduction
    return fn(*args, **kwargs)


def _takes_legacy_reduction(fn: _F) -> _F:
    """Adds PyTorch's deprecated ``size_average=``/``reduce=`` keywords (old programs pass
    ``size_average=False`` for a summed loss)."""
    names = list(inspect.signature(fn).parameters)
    at = names.index("reduction")

    def wrapper(*args: Any, size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                **kwargs: Any) -> Any:  # fmt: skip
        if size_average is not None or reduce is not None:
            given = args[at] if len(args) > at else kwargs.get("reduction", "mean")
            reduction = _legacy_reduction(size_average, reduce, given)
            return _call_with_reduction(fn, at, reduction, args, kwargs)
        return fn(*args, **kwargs)

    return _with_params(fn, wrapper, size_average=None, reduce=None)  # type: ignore[no-any-return]


def _warn_legacy(size_average: Optional[bool], reduce: Optional[bool], stacklevel: int) -> str:
    """``reduction`` for PyTorch's deprecated flags, with PyTorch's warning (its
    ``_Reduction.legacy_get_string``); ``stacklevel`` counts from the caller of this."""
    reduction = _legacy_reduction(size_average, reduce, "mean")
    warnings.warn(
        "size_average and reduce args will be deprecated, please use "
        f"reduction='{reduction}' instead.",
        UserWarning,
        stacklevel=stacklevel + 1,
    )
    return reduction


def _is_flag(value: Any) -> bool:
    """Whether ``value`` can be one of the deprecated ``size_average``/``reduce`` flags."""
    return value is None or isinstance(value, (bool, np.bool_))


def _takes_positional_legacy_reduction(
    fn: Optional[_F] = None, *, size_average_before: str = "reduction"
) -> Any:
    """Adds PyTorch's deprecated ``size_average`` and ``reduce`` in PyTorch's positions:
    ``reduce`` just before ``reduction`` and ``size_average`` just before
    ``size_average_before`` (``cross_entropy``/``nll_loss`` have ``ignore_index`` between
    them). ``fn`` is written without them; given, they set ``reduction`` with PyTorch's
    warning. A value in ``size_average``'s place that cannot be a flag (a reduction name such
    as ``"sum"``, an ``ignore_index``) is read in ``fn``'s own order, this package's order
    before these flags took their places. Without the flags the call goes straight to
    ``fn`` (losses run every step)."""
    if fn is None:
        return functools.partial(
            _takes_positional_legacy_reduction, size_average_before=size_average_before
        )
    inner = inspect.signature(fn)
    names = list(inner.parameters)
    first = names.index(size_average_before)  # where ``size_average`` lands, by position
    at = names.index("reduction")
    # The decorated constructors of the loss modules are called straight from the caller's
    # line; the functionals through ``_takes_tensor``'s check as well.
    stacklevel = 2 if names[0] == "self" else 3
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = list(inner.parameters.values())
    params.insert(at, inspect.Parameter("reduce", kind, default=None))
    params.insert(first, inspect.Parameter("size_average", kind, default=None))
    sig = inner.replace(parameters=params)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if len(args) <= first or not _is_flag(args[first]):
            if "size_average" not in kwargs and "reduce" not in kwargs:
                return fn(*args, **kwargs)
            size_average, reduce = kwargs.pop("size_average", None), kwargs.pop("reduce", None)
        else:
            bound = sig.bind(*args, **kwargs)
            given = bound.arguments
            size_average, reduce = given.pop("size_average", None), given.pop("reduce", None)
            # (``args`` stops at the first missing parameter: the rest go by keyword)
            args, kwargs = bound.args, bound.kwargs
        if size_average is not None or reduce is not None:
            reduction = _warn_legacy(size_average, reduce, stacklevel)
            return _call_with_reduction(fn, at, reduction, args, kwargs)
        return fn(*args, **kwargs)

    return _signed(wrapper, fn, sig)


def _takes_inplace(fn: _F) -> _F:
    """Adds PyTorch's ``inplace=`` keyword: the result is written into the input, also a
    non-leaf one under autograd (``_functional_extra_activations.apply_inplace``)."""
    from ._functional_extra_activations import apply_inplace

    n_args = len(inspect.signature(fn).parameters) - 1  # after ``input``

    def wrapper(input: Tensor, *args: Any, inplace: bool = False, **kwargs: Any) -> Any:
        if len(args) > n_args:  # ``inplace`` given by position, as PyTorch allows
            args, inplace = args[:n_args], args[n_args]
        return apply_inplace(input, lambda t: fn(t, *args, **kwargs), inplace)

    return _with_params(fn, wrapper, positional=True, inplace=False)  # type: ignore[no-any-return]


def _takes_dtype(fn: _F) -> _F:
    """Adds PyTorch's ``dtype=`` keyword: the input is converted before the op."""

    def wrapper(input: Tensor, *args: Any, dtype: Any = None, **kwargs: Any) -> Any:
        return fn(input if dtype is None else input.to(dtype), *args, **kwargs)

    return _with_params(fn, wrapper, dtype=None)  # type: ignore[no-any-return]


def linear(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """``input @ weight.T + bias`` (one fused engine op). A 1-D ``weight`` ``(in_features,)``
    is a single output feature without its dim, as PyTorch documents: ``input @ weight``, plus
    a 0-d (or one-element) ``bias`` if given."""
    try:
        return _core._linear(input, weight, bias)
    except ShapeError:
        # (handled after the engine refuses it, so the usual 2-D weight pays nothing)
        if not isinstance(weight, Tensor) or weight.ndim != 1:
            raise
    out = input.matmul(weight)
    return out if bias is None else out + bias


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(x, 0)``; ``inplace=True`` is ``relu_`` (the engine's in-place op)."""
    return relu_(input) if inplace else input.relu()


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    return input.gelu(approximate=approximate)


@_takes_inplace
def silu(input: Tensor) -> Tensor:
    return input.silu()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` where positive, else ``negative_slope * x``; ``inplace=True`` is ``leaky_relu_``."""
    return leaky_relu_(input, negative_slope) if inplace else input.leaky_relu(negative_slope)


@_takes_inplace
def elu(input: Tensor, alpha: float = 1.0) -> Tensor:
    return input.elu(alpha)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return input.softplus(beta=beta, threshold=threshold)


def _written_into(input: Tensor, fn: Callable[[Tensor], Tensor], inplace: bool) -> Tensor:
    """``fn(input)``, or with ``inplace`` written into ``input``, also a non-leaf one under
    autograd (``_functional_extra_activations.apply_inplace``)."""
    if not inplace:
        return fn(input)
    from ._functional_extra_activations import apply_inplace

    return apply_inplace(input, fn, True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(0, x), 6)``."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(
    input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    """``x`` clamped into ``[min_val, max_val]``."""
    if min_val > max_val:
        raise InvalidValueError("min_val cannot be greater than max_val")
    # (No gradient at the bounds, as PyTorch's.) An integer input stays integer, its bounds
    # truncated, as PyTorch's.
    if isinstance(input, Tensor) and not input.dtype.is_floating_point:
        min_val, max_val = int(min_val), int(max_val)  # type: ignore[assignment]
    return _written_into(input, lambda x: x.clamp(min_val, max_val), inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """Piecewise-linear sigmoid ``relu6(x + 3) / 6``."""
    return _written_into(input, lambda x: x.hardsigmoid(), inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * relu6(x + 3) / 6`` (MobileNetV3)."""
    return _written_into(input, lambda x: x.hardswish(), inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))``, one engine op (rounded once, PyTorch's gradient)."""
    return _written_into(input, lambda x: x.mish(), inplace)


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)``."""
    return input / (input.abs() + 1.0)


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)``, stable for large ``|x|``. Below -20, where
    softplus's threshold would return ``x`` itself, ``x - exp(x)`` keeps the last term (and
    the slope ``1 - exp(x)``), as PyTorch's ``log1p(exp(x))``; the exponent is clamped so the
    branch not taken stays finite, gradient included."""
    tail = input - input.clamp(max=-20.0).exp()
    return _core.where(input < -20.0, tail, 0.0 - (-input).softplus())  # (0, not -0, at +inf)


#: What autocast casts to its low dtype for an op on its lower-precision list (every floating
#: dtype but float64, as PyTorch's ``is_eligible``).
_CASTABLE = (_core.float32, _core.float16, _core.bfloat16)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``max(0, x) + weight * min(0, x)``; a ``weight`` of C > 1 values applies per channel,
    dim 1, which must hold C. As in PyTorch, a 1-D input has no channel dim (its channel size
    is 1), so only a single shared weight applies to it. Under autocast it runs in the low
    dtype (prelu is on PyTorch's lower-precision list): float64 operands are left as they are."""
    low = _core._get_autocast()
    if low is not None:
        input, weight = (t.to(low) if t.dtype in _CASTABLE else t for t in (input, weight))
    if isinstance(input, Tensor) and isinstance(weight, Tensor):
        check_param_dtypes("prelu", input, weight)
    if weight.numel() > 1:
        if input.ndim == 0:
            raise ShapeError(
                f"prelu: a weight of {weight.numel()} channels needs an input with a channel "
                "dim, got a 0-d input"
            )
        channels = input.shape[1] if input.ndim >= 2 else 1
        if channels != weight.numel():
            raise ShapeError(
                "Mismatch of parameter numbers and input channel size. Found parameter numbers "
                f"= {weight.numel()} and channel size = {channels}."
            )
        shape = [1] * input.ndim
        shape[1] = weight.numel()
        weight = weight.reshape(shape)
    elif input.ndim == 0:
        weight = weight.reshape(())  # a 0-d input gives a 0-d result, as in PyTorch
    # ``where``: at 0 the gradient is ``weight`` (PyTorch's), not ``1 + weight``.
    return _core.where(input > 0, input, weight * input)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: the first half of ``dim`` times the sigmoid of the second half."""
    if input.ndim == 0:
        raise ShapeError("glu does not support scalars because halving size must be even")
    if not -input.ndim <= dim < input.ndim:
        raise IndexOutOfRangeError(
            f"dimension out of range (expected to be in range of [{-input.ndim}, "
            f"{input.ndim - 1}], but got {dim})"
        )
    if input.shape[dim] % 2:
        raise ShapeError(
            f"Halving dimension must be even, but dimension {dim % input.ndim} is size "
            f"{input.shape[dim]}"
        )
    return _gated(*input.chunk(2, dim))


@in_float32  # half types: a * sigmoid(b) rounded once, as PyTorch's
def _gated(a: Tensor, b: Tensor) -> Tensor:
    return a * b.sigmoid()


def _softmax_of(
    name: str, input: Tensor, dim: Optional[int], dtype: Any, op: Callable[[Tensor, int], Tensor]
) -> Tensor:
    """``op(input, dim)`` for ``name`` (softmin, softmax, log_softmax): ``input`` first cast to
    ``dtype`` when given; without a ``dim`` PyTorch's legacy implicit one (0 for 0-, 1- and 3-D
    inputs, else 1), with PyTorch's deprecation warning."""
    if dim is None:
        warnings.warn(
            f"Implicit dimension choice for {name} has been deprecated. "
            "Change the call to include dim=X as an argument.",
            stacklevel=4,
        )
        dim = 0 if input.ndim in (0, 1, 3) else 1
    if dtype is not None and not getattr(dtype, "is_floating_point", False):
        raise DTypeError(f'"{name}" not implemented for {dtype} (dtype= must be a float dtype)')
    return op(input if dtype is None else input.to(dtype), dim)


# ``_stacklevel`` only sits in PyTorch's signatures (third positional) so calls that pass it,
# or ``dtype`` after it, keep working; the warning's level is fixed here.
def softmin(
    input: Tensor, dim: Optional[int] = None, _stacklevel: int = 3, dtype: Any = None
) -> Tensor:
    """``softmax(-x)`` along ``dim`` (computed in ``dtype`` when given)."""
    return _softmax_of("softmin", input, dim, dtype, lambda x, d: (-x).softmax(d))


def softmax(
    input: Tensor, dim: Optional[int] = None, _stacklevel: int = 3, dtype: Any = None
) -> Tensor:
    """Softmax along ``dim`` (without one, PyTorch's deprecated implicit choice)."""
    return _softmax_of("softmax", input, dim, dtype, lambda x, d: x.softmax(d))


def log_softmax(
    input: Tensor, dim: Optional[int] = None, _stacklevel: int = 3, dtype: Any = None
) -> Tensor:
    """Log-softmax along ``dim`` (without one, PyTorch's deprecated implicit choice)."""
    return _softmax_of("log_softmax", input, dim, dtype, lambda x, d: x.log_softmax(d))


def _check_dropout_p(p: float) -> None:
    """The probability check of every dropout, functional or layer, with PyTorch's message
    (the layers make it at construction, the functions at each call)."""
    if not 0.0 <= p <= 1.0:
        raise InvalidValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep_scaled(input: Tensor, keep: Tensor, p: float) -> Tensor:
    """``input`` where the 0/1 ``keep`` mask (broadcast) is 1, scaled by ``1/(1-p)`` so the
    expected value is unchanged; all zeros for ``p == 1``."""
    return input * keep * (0.0 if p == 1.0 else 1.0 / (1.0 - p))


@_takes_inplace
def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zeroes elements with probability ``p`` and scales the rest by ``1/(1-p)``."""
    _check_dropout_p(p)
    if not training or p == 0.0:
        return input
    if not input.dtype.is_floating_point:
        # (PyTorch's error: the scaled result is a float that an integer tensor cannot hold)
        raise DTypeError(
            f"dropout: result type Float can't be cast to the desired output type {input.dtype}"
        )
    if input.is_cuda:
        return _core._dropout(input, p)
    keep = (_core.rand(input.shape) >= p).to(dtype=input.dtype)  # (keyword: no device probe)
    return _keep_scaled(input, keep, p)


def dropout2d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Tensor:
    """Zeroes whole channels (``input[n, c]``) with probability ``p`` and scales the rest by
    ``1/(1-p)``; a 3-D input is taken as ``[N, C, L]``, as PyTorch does (with a warning)."""
    _check_dropout_p(p)
    # PyTorch's two warnings, given in eval mode too: other ranks than 3/4 are deprecated,
    # and a 3-D input is read as a batch of 1-d maps, not as one unbatched [C, H, W] image.
    if input.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence "
            "this warning, please use dropout instead. Note that dropout2d exists to provide "
            "channel-wise dropout on inputs with 2 spatial dimensions, a channel dimension, and "
            "an optional batch dimension (i.e. 3D or 4D inputs).",
            stacklevel=3,
        )
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=3,
        )
    if not training or p == 0.0:
        return input
    if input.ndim < 2:
        raise ShapeError(f"dropout2d expects a 3-D or 4-D input, got shape {tuple(input.shape)}")
    from ._functional_extra_activations import apply_inplace

    def drop(x: Tensor) -> Tensor:
        keep_shape = (*x.shape[:2], *([1] * (x.ndim - 2)))
        keep = (_core.rand(keep_shape, device=x.device) >= p).to(dtype=x.dtype)
        return _keep_scaled(x, keep, p)

    return apply_inplace(input, drop, inplace)


def _check_class_dim(input: Tensor, name: str) -> None:
    """Class scores need a class dimension: ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``."""
    if input.ndim == 0:
        raise ShapeError(
            f"{name}: the input needs a class dimension, shape (C,) or (N, C, ...), "
            "got a 0-d input of shape ()"
        )


def _class_rows(
    input: Tensor, target: Tensor, name: str, columns: bool = False
) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    """Scores ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)`` as rows ``[M, C]`` and their labels as
    ``[M]``, for the engine's ``[N, C]`` kernel, with the shape of the unreduced loss: ``()`` for
    one sample (whose target is ``()`` or ``(1,)``, as PyTorch allows), ``(N, d1, ...)``. With
    ``columns`` (a kernel that reads the classes down dim 1) ``(N, C, d1, ...)`` becomes
    ``[N, C, S]`` and its labels ``[N, S]`` instead: views, no permuting copy."""
    _check_class_dim(input, name)
    try:
        floating = target.dtype.is_floating_point
    except AttributeError:
        raise not_a_tensor(name, "target", 2, target) from None
    if floating:
        raise DTypeError(
            f"expected class-index targets of an integer dtype, got {target.dtype} "
            "(float class probabilities are accepted by cross_entropy only)"
        )
    if input.ndim == 1:
        if target.ndim > 1 or (target.ndim == 1 and target.shape[0] != 1):
            raise _target_shape_error(
                name, input, target, "for a 1-D input the target must be 0-d or of size 1"
            )
        return input.unsqueeze(0), target.reshape(1), ()
    if input.ndim == 2:  # the engine checks these itself
        return input, target, (input.shape[0],)
    want = (input.shape[0], *input.shape[2:])
    if tuple(target.shape) != want:
        raise _target_shape_error(name, input, target, f"expected target of shape {want}")
    if columns:
        n, c, s = input.shape[0], input.shape[1], math.prod(input.shape[2:])
        return input.reshape(n, c, s), target.reshape(n, s), want
    return input.movedim(1, -1).reshape(-1, input.shape[1]), target.reshape(-1), want


def _target_shape_error(name: str, input: Tensor, target: Tensor, what: str) -> ShapeError:
    """A ``ShapeError`` naming the op and both shapes, as the engine's own shape errors do."""
    shapes = (tuple(input.shape), tuple(target.shape))
    e = ShapeError(f"{name}: {what} for input of shape {shapes[0]}, got {shapes[1]}")
    e.op, e.shapes, e.dtypes = name, shapes, (input.dtype, target.dtype)
    return e


def _unrows(loss: Tensor, reduction: str, shape: tuple[int, ...]) -> Tensor:
    """The engine's per-row losses back in the target's shape (``reduction="none"`` only)."""
    return loss.reshape(shape) if reduction == "none" else loss


@_takes_positional_legacy_reduction(size_average_before="ignore_index")
def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor] = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` ``(C,)``, ``(N, C)`` or
    ``(N, C, d1, ...)`` for labels of the input's shape less the class dimension."""
    if not input.dtype.is_floating_point:
        raise DTypeError(f"nll_loss expects floating point log-probabilities, got {input.dtype}")
    rows, labels, shape = _class_rows(input, target, "nll_loss")
    if weight is not None and input.ndim > 2 and isinstance(weight, Tensor):
        weight = _spatial_weight("nll_loss", input, target, weight)
    # One engine op; after log_softmax its backward reaches the logits in one pass.
    loss = _core._cross_entropy(rows, labels, weight, ignore_index, reduction, log_probs=True)
    return _unrows(loss, reduction, shape)


@_takes_positional_legacy_reduction(size_average_before="ignore_index")
def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor] = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy against class indices (integer ``target``) or class
    probabilities (float ``target`` of the input's shape), with PyTorch's ``weight``,
    ``ignore_index`` (indices only) and ``label_smoothing`` (a negative one is no smoothing,
    as in PyTorch)."""
    if label_smoothing > 1.0:
        raise InvalidValueError(
            f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}"
        )
    label_smoothing = max(float(label_smoothing), 0.0)
    if not input.dtype.is_floating_point:
        raise DTypeError(
            f"cross_entropy expects floating point logits, got {input.dtype} (use .float())"
        )
    _check_class_dim(input, "cross_entropy")
    try:
        floating = target.dtype.is_floating_point
    except AttributeError:
        raise not_a_tensor("cross_entropy", "target", 2, target) from None
    if floating:
        if ignore_index >= 0:
            raise InvalidValueError("ignore_index is not supported for floating point target")
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    rows, labels, shape = _class_rows(input, target, "cross_entropy", columns=True)
    if weight is not None and input.ndim > 2 and isinstance(weight, Tensor):
        weight = _spatial_weight("cross_entropy", input, target, weight)
    # One fused engine kernel (log-sum-exp, smoothing, weights, ignore_index, gradient).
    try:
        loss = _core._cross_entropy(rows, labels, weight, ignore_index, reduction, label_smoothing)
    except IndexOutOfRangeError as e:
        if rows.shape[1] == 1 and e.args:  # Dense(..., 1) with 0/1 labels: say what fits
            e.args = (
                f"{e.args[0]}; one output column is one class: for binary labels use "
                "BCEWithLogitsLoss with float targets (target.float()), or two outputs",
                *e.args[1:],
            )
        raise
    if weight is not None and label_smoothing > 0.0 and reduction == "mean":
        loss = _nan_without_weight(loss, labels.reshape(-1), weight, ignore_index)
    return _unrows(loss, reduction, shape)


def _spatial_weight(name: str, input: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Class weights for an ``(N, C, d1, ...)`` input as ``(C,)``: PyTorch's spatial kernel
    takes any weight of ``C`` elements (``(1, C)`` too); a wrong count names the caller's
    shapes (the engine sees the reshaped ``[N, C, S]``)."""
    c = input.shape[1]
    if weight.numel() != c:
        shapes = (tuple(input.shape), tuple(target.shape), tuple(weight.shape))
        e = ShapeError(
            f"{name}: weight of shape {shapes[2]} does not have one value per class "
            f"({c}) for input of shape {shapes[0]}"
        )
        e.op, e.shapes, e.dtypes = name, shapes, (input.dtype, target.dtype, weight.dtype)
        raise e
    return weight.reshape(c)


def _nan_without_weight(loss: Tensor, labels: Tensor, weight: Tensor, ignore_index: int) -> Tensor:
    """``loss`` (a smoothed, weighted mean) made NaN where the counted targets' weights sum to
    0, as PyTorch's: it divides the NLL and the smoothing terms by that sum separately, and the
    NLL's ``0 / 0`` is NaN, where the engine's one division gives ``inf`` (its smoothing term
    is not 0). Only this rare configuration pays for these few ops, and on the host only when
    the loss is not finite (reading a host scalar costs no device sync)."""
    if loss.device.type == "cpu" and math.isfinite(loss.item()):
        return loss
    counted = labels != ignore_index
    picked = weight.detach().index_select(0, _core.where(counted, labels, 0))
    total = _core.where(counted, picked, 0.0).sum().to(dtype=loss.dtype)
    # (A `where`, not `loss * (total / total)`: that NaN would reach the gradient too, where
    # PyTorch's is 0.)
    return _core.where(total != 0, loss, math.nan)


def _cross_entropy_probs(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor],
    reduction: str,
    label_smoothing: float,
) -> Tensor:
    """Cross-entropy against class probabilities: ``-sum_c w_c * t_c * log_softmax(x)_c`` per
    sample; ``mean`` averages over samples (and spatial positions), as PyTorch does."""
    cdim = 1 if input.ndim > 1 else 0
    index_shape = tuple(input.shape[:cdim]) + tuple(input.shape[cdim + 1 :])
    if tuple(target.shape) == index_shape and tuple(target.shape) != tuple(input.shape):
        raise DTypeError(
            f"class-index targets must be integers, got {target.dtype} (class probabilities "
            f"need a target of the input's shape {tuple(input.shape)})"
        )
    if tuple(target.shape) != tuple(input.shape):
        raise _target_shape_error(
            "cross_entropy", input, target, "class-probability targets take the input's shape"
        )
    c = input.shape[cdim]
    # PyTorch's result dtype: input, target and weight promoted (float32 logits against
    # float64 probabilities give float64).
    from .._functional_aliases import promote_types

    dt = promote_types(input.dtype, target.dtype)
    if weight is not None:
        dt = promote_types(dt, weight.dtype)
    logp = input.to(dtype=dt).log_softmax(cdim)
    t = target.to(dtype=logp.dtype)
    if label_smoothing > 0.0:
        t = t * (1.0 - label_smoothing) + label_smoothing / c
    per = logp * t
    if weight is not None:
        shape = [1] * input.ndim
        shape[cdim] = c
        per = per * weight.to(dtype=logp.dtype).reshape(shape)
    return _reduce(-per.sum(dim=cdim), reduction)


def _weighted(
    losses: Tensor,
    input: Tensor,
    weight: Optional[Tensor],
    reduction: str,
    mean_over_weights: bool = True,
) -> Tensor:
    """The regression losses' ``reduction``, with PyTorch's per-element ``weight`` (the input's
    size): the weighted losses summed, or their mean over the weights' sum (MSE, L1) or over
    the element count (Huber, ``mean_over_weights=False``)."""
    if weight is None:
        return _reduce(losses, reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise ShapeError("Weights and input must have the same size.")
    losses = losses * weight
    if reduction == "mean" and mean_over_weights:
        return losses.sum() / weight.sum()
    return _reduce(losses, reduction)


@_takes_positional_legacy_reduction
def mse_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", weight: Optional[Tensor] = None
) -> Tensor:
    return _weighted(_difference(input, target, "mse_loss").square(), input, weight, reduction)


@_takes_positional_legacy_reduction
def l1_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", weight: Optional[Tensor] = None
) -> Tensor:
    return _weighted(_difference(input, target, "l1_loss").abs(), input, weight, reduction)


@_takes_legacy_reduction
def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Optional[Tensor] = None,
) -> Tensor:
    d = _difference(input, target, "huber_loss")
    if delta <= 0:
        raise InvalidValueError("huber_loss does not support non-positive values for delta.")
    # With the clamped signed difference q: q (d - q/2) is d²/2 for |d| <= delta and
    # delta (|d| - delta/2) past it, in four elementwise passes (the sum of both branches took
    # eight), and a second derivative of 1 at d = 0 as PyTorch's (clamp(|d|) would give 0).
    q = d.clamp(-delta, delta)
    return _weighted(q * (d - 0.5 * q), input, weight, reduction, False)


_HALF = (_core.float16, _core.bfloat16)


def _autocast_f32(*tensors: Any) -> Any:
    """The losses autocast runs in float32 (PyTorch's float32 list): under autocast, their
    float16/bfloat16 inputs widened, so a scaled loss's gradient does not overflow inside the
    loss (``GradScaler`` would skip every step); outside autocast the inputs as they are."""
    if _core._get_autocast() is None:
        return tensors
    return tuple(t.float() if isinstance(t, Tensor) and t.dtype in _HALF else t for t in tensors)


@_takes_positional_legacy_reduction
def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor] = None,
    reduction: str = "mean",
    pos_weight: Optional[Tensor] = None,
) -> Tensor:
    """Stable ``-[y log sigmoid(x) + (1-y) log(1-sigmoid(x))]``."""
    _same_shape(input, target, "binary_cross_entropy_with_logits")
    input, target, weight, pos_weight = _autocast_f32(input, target, weight, pos_weight)
    # softplus(-x) = max(-x, 0) + tail and softplus(x) = max(x, 0) + tail share one
    # tail = log1p(exp(-|x|)): the costly log1p once, not in two softplus calls; each
    # gradient stays sigmoid(+-x), exact where small (no x - softplus(x) cancellation).
    # At x = 0 the min's branch (gradient 1) against the relu's (0) gives -/+0.5 there.
    low = _core.where(input > 0, 0.0, input)  # min(x, 0)
    high = input.relu()  # max(x, 0)
    tail = (low - high).exp().log1p()
    log_sig = low - tail  # log sigmoid(x)
    log_one_minus = -(high + tail)  # log(1 - sigmoid(x))
    pos = target * log_sig
    if pos_weight is not None:
        pos = pos * pos_weight
    loss = -(pos + (1 - target) * log_one_minus)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


@_takes_positional_legacy_reduction
def smooth_l1_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0
) -> Tensor:
    """``0.5 d² / beta`` for ``|d| < beta``, else ``|d| - 0.5 beta`` (``beta=0`` is L1)."""
    d = _difference(input, target, "smooth_l1_loss")
    if beta < 0:
        raise InvalidValueError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0.0:
        return _reduce(d.abs(), reduction)
    # As huber_loss: the clamped signed difference keeps the curvature 1/beta at d = 0. (Not
    # huber's q (d - q/2) / beta: its backward sends g / beta through, infinite in float16
    # for a beta below 1.5e-5.)
    q = d.clamp(-beta, beta)
    return _reduce(0.5 * q * q / beta + (d.abs() - q.abs()), reduction)


def _clamped_logs(x: Tensor) -> tuple[Tensor, Tensor]:
    """``log(x)`` and ``log(1 - x)``, each clamped to ``>= -100`` as PyTorch does."""
    return x.log().clamp(min=-100.0), (1.0 - x).log().clamp(min=-100.0)


class _BinaryCrossEntropy(Function):
    """The elementwise ``-[y log(x) + (1-y) log(1-x)]`` with PyTorch's backward ``(x - y) /
    max(x (1 - x), 1e-12)``: finite where ``x`` is exactly 0 or 1 (a saturated sigmoid), where
    differentiating the clamped logs would give ``0 * inf = NaN``."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, y)
        log_x, log_1mx = _clamped_logs(x)
        return -(y * log_x + (1.0 - y) * log_1mx)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: FunctionCtx, g: Tensor
    ) -> tuple[Optional[Tensor], Optional[Tensor]]:
        x, y = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        gx = g * (x - y) / (x * (1.0 - x)).clamp(min=1e-12) if need_x else None
        if not need_y:  # the target is data: skip recomputing both logs
            return gx, None
        # Unclamped, as PyTorch's: infinite where ``x`` is exactly 0 or 1.
        return gx, g * ((1.0 - x).log() - x.log())


@_takes_positional_legacy_reduction
def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor] = None,
    reduction: str = "mean",
) -> Tensor:
    """``-w [y log(x) + (1-y) log(1-x)]`` for probabilities ``x``; each log is clamped to
    ``>= -100`` as PyTorch does, so ``x`` of exactly 0 or 1 gives a finite loss."""
    if tuple(input.shape) != tuple(target.shape):
        raise InvalidValueError(
            f"Using a target size ({tuple(target.shape)}) that is different to the input size "
            f"({tuple(input.shape)}) is deprecated. Please ensure they have the same size."
        )
    # PyTorch's checks (NaN fails them), in one pass and one sync; which one failed is
    # worked out only on the error path.
    in_range = (input >= 0) & (input <= 1)
    if not bool((in_range & (target >= 0) & (target <= 1)).all()):
        if not bool(in_range.all()):
            raise InvalidValueError("all elements of input should be between 0 and 1")
        raise InvalidValueError("all elements of target should be between 0 and 1")
    loss = _BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(
    input: Tensor,
    target: Tensor,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """Pointwise ``target * (log(target) - input)`` for log-probabilities ``input`` (0 where
    ``target`` is 0); ``log_target`` takes ``target`` as log-probabilities too. Use
    ``reduction="batchmean"`` for the true KL divergence (``"mean"`` averages every element).

    The deprecated flags replace ``reduction`` (with PyTorch's warning), except that a
    ``"batchmean"`` still divides their result by the batch size, as PyTorch's does. A
    reduction name in ``size_average``'s place is this package's earlier positional order
    ``(input, target, reduction, log_target)``."""
    if not _is_flag(size_average):
        reduction, log_target = size_average, (log_target if reduce is None else reduce)  # type: ignore[assignment]
        size_average = reduce = None
    if size_average is not None or reduce is not None:
        applied = _warn_legacy(size_average, reduce, 3)  # (past ``_takes_tensor``)
    else:
        if reduction == "mean":  # PyTorch's warning: the usual mistake for "batchmean"
            warnings.warn(
                "reduction: 'mean' divides the total loss by both the batch size and the "
                "support size.'batchmean' divides only by the batch size, and aligns with the "
                "KL div math definition.'mean' will be changed to behave the same as "
                "'batchmean' in the next major release.",
                stacklevel=3,  # past ``_takes_tensor``'s check, at the caller
            )
        applied = "sum" if reduction == "batchmean" else reduction
    if log_target:
        loss = target.exp() * (target - input)
    else:
        loss = _xlogx(target) - target * input
    out = _reduce(loss, applied)
    if reduction == "batchmean" and input.ndim > 0:
        out = out / input.shape[0]
    return out


def _xlogx(t: Tensor) -> Tensor:
    """PyTorch's ``xlogy(t, t)``: 0 where ``t`` is 0, NaN where it is negative (a target that
    is not a distribution shows as a NaN loss, as in PyTorch, instead of being dropped)."""
    return _core.where(t == 0, 0.0, t * t.log())


def _difference(input: Tensor, target: Tensor, name: str) -> Tensor:
    """``input - target`` for the elementwise regression losses, after PyTorch's check: a
    target of another shape that broadcasts with the input warns (it is usually a mistake, such
    as ``[N]`` against ``[N, 1]``) and the loss broadcasts; shapes that do not broadcast raise
    ``ShapeError``. A bool operand beside a float one counts as 0/1 there, as PyTorch's
    kernels read it (except ``l1_loss``'s, which subtracts and refuses it). Under autocast the
    losses are on PyTorch's float32 list: half operands are widened first, so even
    ``reduction='none'`` gives float32 losses, as PyTorch's."""
    if _core._get_autocast() is not None:
        half = (_core.float16, _core.bfloat16)
        input, target = (t.float() if t.dtype in half else t for t in (input, target))
    if name != "l1_loss" and (input.dtype == _core.bool) != (target.dtype == _core.bool):
        if input.dtype == _core.bool and target.is_floating_point():
            input = input.to(target.dtype)
        elif target.dtype == _core.bool and input.is_floating_point():
            target = target.to(input.dtype)
    if tuple(input.shape) == tuple(target.shape):
        return input - target
    try:
        np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
    except ValueError:
        _same_shape(input, target, name)
    warnings.warn(
        f"Using a target size ({tuple(target.shape)}) that is different to the input size "
        f"({tuple(input.shape)}). This will likely lead to incorrect results due to "
        "broadcasting. Please ensure they have the same size.",
        UserWarning,
        stacklevel=5,  # past the loss and its two wrappers: F.mse_loss's caller
    )
    return input - target


def _same_shape(a: Tensor, b: Tensor, name: str) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ShapeError(
            f"{name}: input shape {tuple(a.shape)} and target shape {tuple(b.shape)} differ"
        )


def _ints(v: Union[int, Sequence[int]], n: int, expected: str) -> tuple[int, ...]:
    """``n`` ints from an int (repeated) or a sequence of exactly ``n``: how every size, stride
    and padding argument is spelled; ``expected`` describes the sequence in the error."""
    if isinstance(v, int):
        return (v,) * n
    if not isinstance(v, (str, bytes, Sequence, Tensor)) and hasattr(v, "__index__"):
        return (operator.index(v),) * n  # a NumPy integer, as PyTorch takes it
    # Each entry must be an integer (``operator.index``): a string such as ``"33"`` or a float
    # is PyTorch's ``TypeError``, not a size read digit by digit or truncated.
    try:
        if isinstance(v, str):
            raise TypeError
        t = tuple(operator.index(x) for x in v)
    except TypeError:
        raise ArgumentTypeError(f"expected an int or {expected}, got {v!r}") from None
    if len(t) != n:
        raise InvalidValueError(f"expected an int or {expected}, got {v!r}")
    return t


def _pair(v: Union[int, Sequence[int]]) -> tuple[int, int]:
    return _ints(v, 2, "a pair of ints")  # type: ignore[return-value]


def _single(v: Union[int, Sequence[int]]) -> int:
    return _ints(v, 1, "a 1-tuple of ints")[0]


def _with_batch(input: Tensor, unbatched_ndim: int) -> tuple[Tensor, bool]:
    """``input`` with a batch of one added when it has ``unbatched_ndim`` dims (PyTorch's
    unbatched form), so each op handles one layout; also says whether it was added."""
    unbatched = input.ndim == unbatched_ndim
    return (input.unsqueeze(0) if unbatched else input), unbatched


def _without_batch(y: Tensor, unbatched: bool) -> Tensor:
    """Undoes ``_with_batch`` on an op's result."""
    return y.squeeze(0) if unbatched else y


def _kernel_and_stride(
    kernel_size: Union[int, Sequence[int]],
    stride: Optional[Union[int, Sequence[int]]],
    size: Callable[[Union[int, Sequence[int]]], _Size],
) -> tuple[_Size, _Size]:
    """A pool's window and step, each read by ``size`` (``_pair``, ``_single``); the step
    defaults to the window, also for an empty sequence (``stride=[]``), as in PyTorch."""
    k = size(kernel_size)
    empty = isinstance(stride, (list, tuple)) and len(stride) == 0
    return k, size(stride) if stride is not None and not empty else k


def _check_buffer(shape: Sequence[int], dtype: Any, name: str) -> None:
    """Raises ``OutOfMemoryError`` when a buffer of ``shape`` cannot be allocated, before NumPy
    builds index tables that large (NumPy's own error is an untyped ``MemoryError``)."""
    _check_alloc(math.prod(int(d) for d in shape), dtype, name)


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Optional[Tensor] = None,
    stride: Union[int, Sequence[int]] = 1,
    padding: Union[int, Sequence[int], str] = 0,
    dilation: Union[int, Sequence[int]] = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution (im2col + GEMM in the engine) over ``[N, C, H, W]`` or ``[C, H, W]``."""
    x, unbatched = _with_batch(input, 3)
    if isinstance(padding, str):
        if padding == "valid":
            sym = (0, 0)
        elif padding == "same":
            if _pair(stride) != (1, 1):
                raise InvalidValueError("padding='same' is not supported for strided convolutions")
            if weight.ndim != 4:
                raise ShapeError(
                    f"conv2d expects a 4-D weight [C_out, C_in/groups, kH, kW], got shape "
                    f"{tuple(weight.shape)}"
                )
            d = _pair(dilation)
            th, tw = d[0] * (weight.shape[2] - 1), d[1] * (weight.shape[3] - 1)
            if th % 2 or tw % 2:
                # An even effective kernel takes the odd extra zero on the bottom/right, as
                # PyTorch's; the engine's padding is symmetric, so pad explicitly first.
                x = pad(x, (tw // 2, tw - tw // 2, th // 2, th - th // 2))
                th, tw = 0, 0
            sym = (th // 2, tw // 2)
        else:
            raise InvalidValueError(f"padding must be 'valid', 'same' or ints, got {padding!r}")
    else:
        sym = _pair(padding)
    y = _core._conv2d(x, weight, bias, _pair(stride), sym, _pair(dilation), groups)
    return _without_batch(y, unbatched)


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Optional[Tensor] = None,
    stride: Union[int, Sequence[int]] = 1,
    padding: Union[int, Sequence[int]] = 0,
    output_padding: Union[int, Sequence[int]] = 0,
    groups: int = 1,
    dilation: Union[int, Sequence[int]] = 1,
) -> Tensor:
    """2-D transposed convolution ("deconvolution") over ``[N, C_in, H, W]`` or ``[C_in, H,
    W]`` with ``weight [C_in, C_out/groups, kH, kW]``: the gradient of a convolution with
    respect to its input, as one engine op (PyTorch's argument order)."""
    x, unbatched = _with_batch(input, 3)
    s, p, op, d = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    y = _core._conv_transpose2d(x, weight, bias, s, p, op, groups, d)
    return _without_batch(y, unbatched)


def conv_tbc(input: Tensor, weight: Tensor, bias: Tensor, pad: int = 0) -> Tensor:
    """fairseq's time-batch-channel convolution: ``input [T, B, C_in]``, ``weight [k, C_in,
    C_out]``, ``bias [C_out]``, ``pad`` zeros at both ends of time; ``conv1d`` on the
    permuted views, the result ``[T', B, C_out]``."""
    if input.ndim != 3 or weight.ndim != 3 or bias.ndim != 1:
        raise ShapeError(
            "conv_tbc: expected a 3-D input [T, B, C_in], a 3-D weight [k, C_in, C_out] and a "
            f"1-D bias, got {list(input.shape)}, {list(weight.shape)} and {list(bias.shape)}"
        )
    if input.shape[2] != weight.shape[1] or bias.shape[0] != weight.shape[2]:
        raise ShapeError(
            f"conv_tbc: input channels {input.shape[2]} / bias {bias.shape[0]} do not match "
            f"weight {list(weight.shape)}"
        )
    y = conv1d(input.permute(1, 2, 0), weight.permute(2, 1, 0), bias, padding=pad)
    return y.permute(2, 0, 1)


def conv_transpose1d(
    input: Tensor,
    weight: Tensor,
    bias: Optional[Tensor] = None,
    stride: Union[int, Sequence[int]] = 1,
    padding: Union[int, Sequence[int]] = 0,
    output_padding: Union[int, Sequence[int]] = 0,
    groups: int = 1,
    dilation: Union[int, Sequence[int]] = 1,
) -> Tensor:
    """1-D transposed convolution over ``[N, C_in, L]`` or ``[C_in, L]`` with ``weight
    [C_in, C_out/groups, k]``: the 2-D op on a height-1 image."""
    if weight.ndim != 3:
        raise ShapeError(
            f"conv_transpose1d: expected a 3-D weight, got shape {tuple(weight.shape)}"
        )
    if isinstance(input, Tensor) and input.ndim in (2, 3) and input.shape[-2] != weight.shape[0]:
        # (said here, in 1-D shapes: the engine would name the height-1 image it runs)
        raise ShapeError(
            f"conv_transpose1d: input has {input.shape[-2]} channels but weight "
            f"{list(weight.shape)} expects {weight.shape[0]} (weight is [C_in, C_out/groups, k])"
        )
    _same_dtype_1d("conv_transpose1d", input, weight)
    x, unbatched = _as_height_one(input, "conv_transpose1d")
    y = conv_transpose2d(
        x,
        weight.unsqueeze(2),
        bias,
        (1, _single(stride)),
        (0, _single(padding)),
        (0, _single(output_padding)),
        groups,
        (1, _single(dilation)),
    )
    return _from_height_one(y, unbatched)


def max_pool2d(
    input: Tensor,
    kernel_size: Union[int, Sequence[int]],
    stride: Optional[Union[int, Sequence[int]]] = None,
    padding: Union[int, Sequence[int]] = 0,
    dilation: Union[int, Sequence[int]] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Max pooling over ``[N, C, H, W]`` or ``[C, H, W]``; with ``return_indices`` also the
    position of each maximum in its input plane (``h * W + w``, int64), as PyTorch returns
    them for ``max_unpool2d``."""
    k, s = _kernel_and_stride(kernel_size, stride, _pair)
    p, d = _pair(padding), _pair(dilation)
    out = _core._max_pool2d(input, k, s, p, d, ceil_mode)
    if not return_indices:
        return out
    return out, _max_pool2d_indices(input, tuple(out.shape[-2:]), k, s, p, d)


def _max_pool2d_indices(
    input: Tensor,
    out_hw: tuple[int, ...],
    k: tuple[int, int],
    s: tuple[int, int],
    p: tuple[int, int],
    d: tuple[int, int],
) -> Tensor:
    """``_window_argmax`` over a fixed pool's windows: each window's rows and columns as
    ``[output position, kernel offset]`` grids, the padding cells among them out of range."""
    rows = np.arange(out_hw[0])[:, None] * s[0] - p[0] + np.arange(k[0])[None, :] * d[0]
    cols = np.arange(out_hw[1])[:, None] * s[1] - p[1] + np.arange(k[1])[None, :] * d[1]
    return _window_argmax(input, rows, cols)


def _window_argmax(input: Tensor, rows: np.ndarray, cols: np.ndarray) -> Tensor:
    """The flat in-plane index (``h * W + w``, int64) of each window's maximum, chosen as
    PyTorch's kernels do: the first greatest value in row-major window order, the last NaN if
    the window holds any, the first in-plane cell if all are ``-inf``; cells out of the plane
    (padding) are never chosen. Window ``(i, j)`` covers rows ``rows[i]`` and columns
    ``cols[j]``; computed on the host with NumPy, from one gathered ``[planes, oh, ow, kh * kw]``
    array of window values."""
    x = input.detach()
    a = (x.float() if x.dtype == _core.bfloat16 else x).cpu().numpy()  # exact
    h, w = a.shape[-2:]
    out_hw = (len(rows), len(cols))
    r, c = rows[:, None, :, None], cols[None, :, None, :]  # -> [oh, ow, kh, kw]
    valid = ((r >= 0) & (r < h) & (c >= 0) & (c < w)).reshape(*out_hw, -1)
    flat = (r * w + c).reshape(*out_hw, -1)
    planes = a.reshape(-1, h, w)
    vals = planes[:, np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)].reshape(len(planes), *valid.shape)
    vals = np.where(valid, vals, -np.inf)
    best = np.argmax(vals, axis=-1)  # the first of the greatest (padding when all are -inf)
    all_low = np.take_along_axis(vals, best[..., None], axis=-1)[..., 0] == -np.inf
    best = np.where(all_low, np.argmax(valid, axis=-1), best)
    nan = np.isnan(vals)
    last_nan = nan.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
    best = np.where(nan.any(axis=-1), last_nan, best)
    idx = np.take_along_axis(np.broadcast_to(flat, vals.shape), best[..., None], axis=-1)
    idx = idx.reshape((*a.shape[:-2], *out_hw)).astype(np.int64)
    return _core.from_numpy(np.ascontiguousarray(idx)).to(input.device)


def avg_pool2d(
    input: Tensor,
    kernel_size: Union[int, Sequence[int]],
    stride: Optional[Union[int, Sequence[int]]] = None,
    padding: Union[int, Sequence[int]] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Optional[int] = None,
) -> Tensor:
    """Average pooling over ``[N, C, H, W]`` or ``[C, H, W]``; ``divisor_override`` divides
    each window's sum by that number instead of the window's size (PyTorch)."""
    k, s = _kernel_and_stride(kernel_size, stride, _pair)
    p = _pair(padding)
    if divisor_override is None:
        return _core._avg_pool2d(input, k, s, p, ceil_mode, count_include_pad)
    if divisor_override == 0:
        raise InvalidValueError("avg_pool2d: divisor must be not zero")
    from ._functional_volumetric import _pool_size  # (it imports this module)

    # The window sums: zero-pad far enough for every window, pool without padding, and keep
    # the pooled shape.
    h, w = input.shape[-2:]
    oh, ow = (
        _pool_size(n, k[i], s[i], p[i], 1, ceil_mode, "avg_pool2d") for i, n in enumerate((h, w))
    )
    extra_h = max((oh - 1) * s[0] + k[0] - h - p[0], 0)
    extra_w = max((ow - 1) * s[1] + k[1] - w - p[1], 0)
    padded = pad(input, [p[1], extra_w, p[0], extra_h])
    sums = _core._avg_pool2d(padded, k, s, (0, 0), False, True) * float(k[0] * k[1])
    return sums.narrow(-2, 0, oh).narrow(-1, 0, ow) / float(divisor_override)


def adaptive_avg_pool2d(input: Tensor, output_size: Union[int, Sequence[Optional[int]]]) -> Tensor:
    """Average pooling to ``output_size``; a ``None`` there keeps that input size and a 0 gives
    an empty result (PyTorch)."""
    if not isinstance(output_size, int):
        sizes = list(output_size)
        if len(sizes) == 2 and input.ndim >= 2:
            output_size = [n if o is None else o for o, n in zip(sizes, input.shape[-2:])]
    pair = _pair(output_size)  # type: ignore[arg-type]
    if 0 in pair and input.ndim in (3, 4):
        return _empty_adaptive(input, pair, "adaptive_avg_pool2d")
    return _core._adaptive_avg_pool2d(input, pair)


def adaptive_max_pool2d(
    input: Tensor,
    output_size: Union[int, Sequence[Optional[int]]],
    return_indices: bool = False,
) -> Any:
    """Max pooling of ``[N, C, H, W]`` or ``[C, H, W]`` to ``output_size`` (a ``None`` there
    keeps that input size), output cell ``i`` of an axis taking the input's ``[floor(i * In /
    Out), ceil((i + 1) * In / Out))`` as in PyTorch; with ``return_indices`` also each maximum's
    in-plane position ``h * W + w`` (int64)."""
    if input.ndim not in (3, 4):
        raise ShapeError(
            f"adaptive_max_pool2d: expected a 3-D or 4-D input, got shape {tuple(input.shape)}"
        )
    hw = (input.shape[-2], input.shape[-1])
    oh, ow = _adaptive_size(output_size, hw, "adaptive_max_pool2d", empty_ok=True)
    return _adaptive_max_pool(input, (oh, ow), return_indices)


def adaptive_max_pool1d(
    input: Tensor, output_size: Union[int, Sequence[Optional[int]]], return_indices: bool = False
) -> Any:
    """Adaptive max pooling over ``[N, C, L]`` or ``[C, L]`` as the 2-D op on a height-1 image;
    the indices are then positions along ``L``."""
    x, unbatched = _as_height_one(input, "adaptive_max_pool1d")
    (size,) = _adaptive_size(output_size, (x.shape[-1],), "adaptive_max_pool1d", empty_ok=True)
    return _pool_from_height_one(_adaptive_max_pool(x, (1, size), return_indices), unbatched)


def _adaptive_size(
    output_size: Union[int, Sequence[Optional[int]]],
    in_sizes: tuple[int, ...],
    name: str,
    empty_ok: bool = False,
) -> tuple[int, ...]:
    """``output_size`` as one positive int per pooled axis (non-negative with ``empty_ok``:
    PyTorch's pools return an empty result for a 0): an int is repeated and a ``None`` keeps
    that axis's input size, as PyTorch reads it."""
    n = len(in_sizes)
    sizes = (output_size,) * n if isinstance(output_size, int) else tuple(output_size)
    if len(sizes) != n:
        raise InvalidValueError(
            f"{name}: expected output_size as an int or a sequence of {n}, got {output_size!r}"
        )
    out = tuple(size if o is None else int(o) for o, size in zip(sizes, in_sizes))
    if min(out) < (0 if empty_ok else 1):
        raise InvalidValueError(f"{name}: output_size must be >= {0 if empty_ok else 1}, got {out}")
    return out


def _empty_adaptive(x: Tensor, out_sizes: Sequence[int], name: str) -> Tensor:
    """An adaptive pool's result for an output size of 0: empty, as PyTorch's (whose pooled
    input dims must still be non-empty). Taken by ``index_select`` so that it stays in the
    graph when ``x`` needs a gradient."""
    first = x.ndim - len(out_sizes)
    if 0 in tuple(x.shape[first:]):
        raise ShapeError(
            f"{name}(): Expected input to have non-zero size for non-batch dimensions, but "
            f"input has sizes {list(x.shape)}"
        )
    out = x
    for i, size in enumerate(out_sizes):
        pick = _core.zeros(size, dtype=_core.int64, device=x.device)
        out = out.index_select(first + i, pick)
    return out


def _adaptive_max_pool(x: Tensor, out_hw: tuple[int, int], return_indices: bool) -> Any:
    """``adaptive_max_pool2d`` on a checked input and size. When the sizes divide evenly the
    windows are a plain pool's (kernel = stride = In // Out), so the fused engine kernel runs;
    otherwise the windows overlap or differ in width and are reduced axis by axis."""
    if 0 in out_hw:
        out = _empty_adaptive(x, out_hw, "adaptive_max_pool2d")
        return (out, out.detach().to(_core.int64)) if return_indices else out
    h, w = x.shape[-2], x.shape[-1]
    # The output (and the window tables, as large along each axis) before NumPy builds them.
    _check_buffer([*x.shape[:-2], *out_hw], x.dtype, "adaptive_max_pool2d")
    rows, cols = _adaptive_windows(h, out_hw[0]), _adaptive_windows(w, out_hw[1])
    if h % out_hw[0] == 0 and w % out_hw[1] == 0:
        k = (h // out_hw[0], w // out_hw[1])
        out = _core._max_pool2d(x, k, k, (0, 0), (1, 1), False)
    elif return_indices:
        # The values read at the indices returned, so the gradient goes where they say (a
        # window of NaNs: the one PyTorch names, not the first).
        idx = _window_argmax(x, rows, cols)
        return x.flatten(-2).gather(-1, idx.flatten(-2)).view_as(idx), idx
    else:
        out = _max_over_windows(_max_over_windows(x, -1, cols), -2, rows)
    return (out, _window_argmax(x, rows, cols)) if return_indices else out


def _adaptive_windows(n_in: int, n_out: int) -> np.ndarray:
    """The input positions of each output cell's window along one axis, ``[floor(i * n_in /
    n_out), ceil((i + 1) * n_in / n_out))``, as an ``[n_out, widest]`` array: a narrower
    window repeats its last position, which changes neither its maximum nor where that
    first occurs."""
    i = np.arange(n_out)
    start, end = i * n_in // n_out, -(-(i + 1) * n_in // n_out)
    widest = int((end - start).max())
    return np.minimum(start[:, None] + np.arange(widest)[None, :], end[:, None] - 1)


def _max_over_windows(x: Tensor, dim: int, windows: np.ndarray) -> Tensor:
    """The maximum over each window of ``windows`` along ``dim`` (-1 or -2), through
    differentiable engine ops: the windows gathered side by side, then ``max(dim)``, whose
    gradient goes to the element it picks (the first greatest), as PyTorch's pool's does.
    Reducing the columns before the rows makes that the first in row-major order."""
    idx = _core.from_numpy(np.ascontiguousarray(windows.reshape(-1), np.int64)).to(x.device)
    return x.index_select(dim, idx).unflatten(dim, windows.shape).max(dim).values


def _as_height_one(input: Tensor, name: str) -> tuple[Tensor, bool]:
    """``[N, C, L]`` (or unbatched ``[C, L]``) as the image ``[N, C, 1, L]``, so the 1-D ops
    reuse the fused 2-D kernels; also says whether the input was unbatched."""
    if input.ndim not in (2, 3):
        raise ShapeError(f"{name}: expected a 2-D or 3-D input, got shape {tuple(input.shape)}")
    x, unbatched = _with_batch(input, 2)
    return x.unsqueeze(2), unbatched


def _from_height_one(y: Tensor, unbatched: bool) -> Tensor:
    return _without_batch(y.squeeze(2), unbatched)


def _pool_from_height_one(out: Any, unbatched: bool) -> Any:
    """``_from_height_one`` on a pool's result, on each of ``(values, indices)`` when the pool
    returned both."""
    if isinstance(out, tuple):
        return tuple(_from_height_one(t, unbatched) for t in out)
    return _from_height_one(out, unbatched)


def _same_dtype_1d(op: str, input: Any, weight: Tensor) -> None:
    """The engine's dtype check in the 1-D op's name (outside autocast, which casts both)."""
    if (
        isinstance(input, Tensor)
        and input.dtype != weight.dtype
        and _core._get_autocast() is None
        and input.is_floating_point()
    ):
        have, want = (str(t.dtype).rsplit(".", 1)[-1] for t in (input, weight))
        raise DTypeError(
            f"{op}: input dtype {have} does not match the weight's {want} "
            f"(convert the input with .to({want}) or the layer with .to({have}))"
        )


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Optional[Tensor] = None,
    stride: Union[int, Sequence[int]] = 1,
    padding: Union[int, Sequence[int], str] = 0,
    dilation: Union[int, Sequence[int]] = 1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution over ``[N, C, L]`` or ``[C, L]`` with ``weight [O, C/groups, k]``: the
    fused 2-D convolution on a height-1 image. ``padding="same"`` with an even effective kernel
    pads the extra element on the right, like PyTorch."""
    if weight.ndim != 3:
        raise ShapeError(f"conv1d: expected a 3-D weight, got shape {tuple(weight.shape)}")
    want = weight.shape[1] * groups
    if isinstance(input, Tensor) and input.ndim in (2, 3) and input.shape[-2] != want:
        # (said here, in 1-D shapes: the engine would name the height-1 image it runs)
        raise ShapeError(
            f"conv1d: given groups={groups}, weight of size {list(weight.shape)}, expected "
            f"input{list(input.shape)} to have {want} channels, but got {input.shape[-2]} "
            "channels instead"
        )
    _same_dtype_1d("conv1d", input, weight)
    x, unbatched = _as_height_one(input, "conv1d")
    s, d = _single(stride), _single(dilation)
    if isinstance(padding, str):
        if padding == "valid":
            p = 0
        elif padding == "same":
            if s != 1:
                raise InvalidValueError("padding='same' is not supported for strided convolutions")
            total = d * (weight.shape[2] - 1)
            p = total // 2
            if total % 2:
                x = _pad_constant(x, [0, 1], 0.0)
        else:
            raise InvalidValueError(f"padding must be 'valid', 'same' or ints, got {padding!r}")
    else:
        p = _single(padding)
    y = _core._conv2d(x, weight.unsqueeze(2), bias, (1, s), (0, p), (1, d), groups)
    return _from_height_one(y, unbatched)


def max_pool1d(
    input: Tensor,
    kernel_size: Union[int, Sequence[int]],
    stride: Optional[Union[int, Sequence[int]]] = None,
    padding: Union[int, Sequence[int]] = 0,
    dilation: Union[int, Sequence[int]] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Max pooling over ``[N, C, L]`` or ``[C, L]`` through the 2-D pool on a height-1 image;
    with ``return_indices`` also each maximum's position along ``L`` (int64), as PyTorch."""
    k, s = _kernel_and_stride(kernel_size, stride, _single)
    x, unbatched = _as_height_one(input, "max_pool1d")
    p, d = _single(padding), _single(dilation)
    out = max_pool2d(x, (1, k), (1, s), (0, p), (1, d), ceil_mode, return_indices)
    return _pool_from_height_one(out, unbatched)


def avg_pool1d(
    input: Tensor,
    kernel_size: Union[int, Sequence[int]],
    stride: Optional[Union[int, Sequence[int]]] = None,
    padding: Union[int, Sequence[int]] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """Average pooling over ``[N, C, L]`` or ``[C, L]`` through the 2-D pool."""
    k, s = _kernel_and_stride(kernel_size, stride, _single)
    x, unbatched = _as_height_one(input, "avg_pool1d")
    y = _core._avg_pool2d(x, (1, k), (1, s), (0, _single(padding)), ceil_mode, count_include_pad)
    return _from_height_one(y, unbatched)


def adaptive_avg_pool1d(input: Tensor, output_size: Union[int, Sequence[int]]) -> Tensor:
    """Adaptive average pooling over ``[N, C, L]`` or ``[C, L]`` through the 2-D pool (an
    output size of 0 gives an empty result, as PyTorch's)."""
    x, unbatched = _as_height_one(input, "adaptive_avg_pool1d")
    size = _single(output_size)
    if size == 0:
        y = _empty_adaptive(x, (1, 0), "adaptive_avg_pool1d")
    else:
        y = _core._adaptive_avg_pool2d(x, (1, size))
    return _from_height_one(y, unbatched)


def layer_norm(
    input: Tensor,
    normalized_shape: Union[int, Sequence[int]],
    weight: Optional[Tensor] = None,
    bias: Optional[Tensor] = None,
    eps: float = 1e-5,
) -> Tensor:
    shape = [normalized_shape] if isinstance(normalized_shape, int) else list(normalized_shape)
    if isinstance(input, Tensor):
        check_param_dtypes("layer_norm", input, weight, bias)
    try:
        return _core._layer_norm(input, shape, weight, bias, eps)
    except OverflowError:
        # A negative size fails the engine's unsigned conversion (a bare OverflowError).
        if any(isinstance(s, int) and s < 0 for s in shape):
            raise ShapeError(
                f"layer_norm: normalized_shape {shape} does not match the trailing dims of "
                f"input {list(input.shape)}"
            ) from None
        raise


# ``torch.finfo(dtype).eps`` of the floating-point dtypes
_FINFO_EPS = {
    _core.float32: 1.1920928955078125e-07,
    _core.float64: 2.220446049250313e-16,
    _core.float16: 0.0009765625,
    _core.bfloat16: 0.0078125,
}


def rms_norm(
    input: Tensor,
    normalized_shape: Union[int, Sequence[int]],
    weight: Optional[Tensor] = None,
    eps: Optional[float] = None,
) -> Tensor:
    """Root-mean-square normalisation over the trailing ``normalized_shape`` dims (PyTorch's
    ``F.rms_norm``): ``x / sqrt(mean(x**2) + eps) * weight``; ``eps=None`` is the machine epsilon
    of the input's dtype. float16/bfloat16 inputs are normalised in float32."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    n = len(shape)
    if n == 0 or input.ndim < n or tuple(input.shape[input.ndim - n :]) != shape:
        raise ShapeError(
            f"rms_norm: normalized_shape {list(shape)} does not match the trailing dims of an "
            f"input of shape {tuple(input.shape)}"
        )
    if weight is not None and tuple(weight.shape) != shape:
        raise ShapeError(f"rms_norm: weight has shape {tuple(weight.shape)}, expected {shape}")
    if not input.dtype.is_floating_point:
        raise DTypeError(f"rms_norm expects a floating-point input, got {input.dtype}")
    if eps is None:
        eps = _FINFO_EPS[input.dtype]
    low = input.dtype in (_core.float16, _core.bfloat16)
    x = input.float() if low else input
    dims = list(range(input.ndim - n, input.ndim))
    y = x * ((x * x).mean(dim=dims, keepdim=True) + eps).rsqrt()
    if weight is not None:  # (in float32 for a half input, then back: PyTorch's result dtype)
        y = y * weight.to(x.dtype)
    return y.to(input.dtype) if low else y


def batch_norm(
    input: Tensor,
    running_mean: Optional[Tensor],
    running_var: Optional[Tensor],
    weight: Optional[Tensor] = None,
    bias: Optional[Tensor] = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    if isinstance(input, Tensor):
        check_param_dtypes("batch_norm", input, running_mean, running_var, weight, bias)
    return _core._batch_norm(
        input, running_mean, running_var, weight, bias, training, momentum, eps
    )


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: Optional[int] = None,
    max_norm: Optional[float] = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of ``weight`` selected by integer ``input`` (any shape); gradients scatter-add back
    (none to row ``padding_idx``, each divided by its index's count in ``input`` with
    ``scale_grad_by_freq``). ``max_norm`` first rescales, in place and without gradient, every
    referenced row whose ``norm_type`` norm exceeds it (PyTorch's ``embedding_renorm_``).
    ``sparse`` is accepted and gives dense gradients (there are no sparse tensors here)."""
    del sparse
    if input.dtype.is_floating_point:
        raise DTypeError(f"embedding indices must be integers, got {input.dtype}")
    if weight.ndim != 2:
        raise ShapeError(f"'weight' must be 2-D, got shape {tuple(weight.shape)}")
    n = weight.shape[0]
    flat = input.reshape(-1)
    if max_norm is None and not (weight.is_cuda or input.is_cuda):
        # The common case: the engine's CPU ``index_select`` checks the range itself, so the
        # host copy of the indices is made only to word its error (or for the scaling below).
        idx = None
        try:
            out = weight.index_select(0, flat)
        except IndexOutOfRangeError:
            _embedding_range(input.cpu().numpy().reshape(-1), n)
            raise
        padding_idx = _padding_row(padding_idx, n)
    else:
        idx = _embedding_range(input.cpu().numpy().reshape(-1), n)
        padding_idx = _padding_row(padding_idx, n)
        if max_norm is not None:
            _embedding_renorm(weight, idx, max_norm, norm_type)
        out = weight.index_select(0, flat)
    if out.requires_grad and (padding_idx is not None or scale_grad_by_freq):
        if idx is None:
            idx = input.cpu().numpy().reshape(-1)
        out.register_hook(_embedding_grad_hook(idx, n, weight, padding_idx, scale_grad_by_freq))
    return out.reshape(*input.shape, weight.shape[1])


def _embedding_grad_hook(
    idx: np.ndarray,
    n: int,
    weight: Tensor,
    padding_idx: Optional[int],
    scale_grad_by_freq: bool,
) -> Callable[[Tensor], Tensor]:
    """The hook on the selected rows that divides each one's gradient by its index's count
    and zeroes the padding row's. A hook, not arithmetic on the output, so that the rows come
    out exactly as stored (``inf`` stays ``inf``), and the zeroing is a ``masked_fill`` so an
    ``inf`` gradient cannot leak NaN into the padding row."""
    inv: Optional[Tensor] = None
    pad: Optional[Tensor] = None
    if scale_grad_by_freq:
        counts = (1.0 / np.bincount(idx, minlength=n)[idx]).reshape(-1, 1)
        inv = _core.from_numpy(counts).to(device=weight.device, dtype=weight.dtype)
    if padding_idx is not None:
        pad = _core.from_numpy((idx == padding_idx).reshape(-1, 1)).to(weight.device)

    def hook(grad: Tensor) -> Tensor:
        if inv is not None:
            grad = grad * inv
        return grad if pad is None else grad.masked_fill(pad, 0.0)

    return hook


def _embedding_range(idx: np.ndarray, n: int) -> np.ndarray:
    """``idx`` (the flat host indices) checked to lie in ``[0, n)``: PyTorch's error names the
    first bad one."""
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)][0]
        raise IndexOutOfRangeError(f"embedding index {int(bad)} is out of range for {n} rows")
    return idx


class _PaddingIdxError(IndexOutOfRangeError, AssertionError):
    """PyTorch asserts ``padding_idx`` (``AssertionError``); an index out of range too."""


def _padding_row(padding_idx: Optional[int], n: int) -> Optional[int]:
    """``padding_idx`` as a row in ``[0, n)`` (a negative one counts from the end)."""
    if padding_idx is None:
        return None
    if not -n <= padding_idx < n:
        raise _PaddingIdxError("Padding_idx must be within num_embeddings")
    return padding_idx % n


def _embedding_renorm(weight: Tensor, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
    """Rescales, in place and without gradient, each row of ``weight`` that ``idx`` refers to
    and whose ``norm_type`` norm exceeds ``max_norm`` to that norm (``max_norm / (norm +
    1e-7)``, PyTorch's ``embedding_renorm_``)."""
    rows = _core.from_numpy(np.unique(idx).astype(np.int64)).to(weight.device)
    if rows.numel() == 0:
        return
    with no_grad():
        picked = weight.index_select(0, rows)
        norms = picked.norm(p=norm_type, dim=1, keepdim=True)
        scale = max_norm / (norms + 1e-7)
        scale = scale.where(norms > max_norm, scale.new_ones(scale.shape))
        weight.index_copy_(0, rows, picked * scale)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 ``[..., num_classes]`` with a 1 at each index of integer ``tensor`` (PyTorch's
    ``F.one_hot``); ``num_classes=-1`` takes the largest index + 1."""
    if tensor.dtype.is_floating_point or tensor.dtype == _core.bool:
        raise DTypeError(f"one_hot expects an integer tensor of class indices, got {tensor.dtype}")
    # On the tensor's device: only the smallest and largest index come to the host.
    lo, hi = (int(tensor.min()), int(tensor.max())) if tensor.numel() else (0, -1)
    if num_classes == -1:
        if not tensor.numel():
            raise InvalidValueError("Can not infer total number of classes from empty tensor.")
        num_classes = hi + 1
    if num_classes < 0:
        raise InvalidValueError(f"num_classes must be -1 or non-negative, got {num_classes}")
    if lo < 0 or hi >= num_classes:
        raise IndexOutOfRangeError(
            f"class index {lo if lo < 0 else hi} is out of range for {num_classes} classes"
        )
    _check_buffer([*tensor.shape, num_classes], _core.int64, "one_hot")
    # Zeros with a 1 written at each (row, class): no comparison of every row with every
    # class, no bool buffer cast to int64 (a third of the time at 4096 x 1000).
    flat = tensor.reshape(-1)
    if flat.dtype not in (_core.int64, _core.int32):  # (a uint8 index would be a byte mask)
        flat = flat.long()
    rows = flat.shape[0]
    out = _core.zeros((rows, num_classes), dtype=_core.int64, device=tensor.device)
    if rows:
        out[_core.arange(rows, device=tensor.device), flat] = 1
    return out.reshape(*tensor.shape, num_classes)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Optional[Tensor] = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: Optional[float] = None,
    enable_gqa: bool = False,
) -> Tensor:
    """``softmax(q @ k^T * scale + mask) @ v`` over ``[..., L, E]`` queries and ``[..., S, E]``
    keys (PyTorch's ``F.scaled_dot_product_attention``). A boolean ``attn_mask`` marks the
    positions that may be attended to, a float one is added to the scores; ``is_causal`` keeps
    the lower triangle; ``scale`` defaults to ``1/sqrt(E)``; with ``enable_gqa`` the query may
    have a multiple of the key/value heads (dim -3), each key head serving a group.

    Runs as one fused engine op (flash attention: the ``[L, S]`` scores are never stored, a
    fully masked row gives zeros) unless the batch dims need broadcasting or the mask needs a
    gradient, which the composite path handles."""
    if attn_mask is not None and is_causal:
        raise InvalidValueError(
            "scaled_dot_product_attention: pass attn_mask or is_causal, not both"
        )
    if not 0.0 <= dropout_p <= 1.0:
        raise InvalidValueError(f"dropout_p must be in [0, 1], got {dropout_p}")
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise ShapeError("scaled_dot_product_attention expects inputs of at least 2 dims")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ShapeError(
            f"scaled_dot_product_attention: query {tuple(query.shape)}, key {tuple(key.shape)} "
            f"and value {tuple(value.shape)} do not match (query/key feature sizes and "
            f"key/value lengths must agree)"
        )
    if enable_gqa and min(query.ndim, key.ndim, value.ndim) >= 3:
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hk != hv:
            # PyTorch repeats keys and values to the query heads each on its own; the fused
            # op's grouping needs one head count for both, so they are repeated here.
            if hk == 0 or hv == 0:
                raise ShapeError("Number of heads in key and value must be greater than 0")
            if hq % hk or hq % hv:
                raise ShapeError(
                    f"enable_gqa: the key and value head counts ({hk}, {hv}) must divide the "
                    f"{hq} query heads"
                )
            key, value = key.repeat_interleave(hq // hk, -3), value.repeat_interleave(hq // hv, -3)
            enable_gqa = False
    if dropout_p < 1.0 and _fused_attention_applies(query, key, value, attn_mask, enable_gqa):
        return _core._scaled_dot_product_attention(
            query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa
        )
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        hq, hk = query.shape[-3], key.shape[-3]
        if hk == 0 or hq % hk or value.shape[-3] != hk:
            raise ShapeError(
                f"enable_gqa: {hq} query heads are not a multiple of {hk} key/value heads"
            )
        key = key.repeat_interleave(hq // hk, dim=-3)
        value = value.repeat_interleave(hq // hk, dim=-3)
    factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    scores = (query @ key.transpose(-2, -1)) * factor
    if is_causal:
        lq, lk = query.shape[-2], key.shape[-2]
        allowed = _tensor(np.tril(np.ones((lq, lk), dtype=bool))).to(query.device)
        scores = scores.masked_fill(allowed.logical_not(), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == _core.bool:
            scores = scores.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            scores = scores + attn_mask.to(scores.dtype)
    # A row with every key masked out gives zeros (PyTorch's safe softmax), not NaN.
    dead = (scores == float("-inf")).all(-1, keepdim=True)
    attn = scores.masked_fill(dead, 0.0).softmax(-1).masked_fill(dead, 0.0)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p, True)
    return attn @ value


def _fused_attention_applies(
    q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor], enable_gqa: bool
) -> bool:
    """Whether the fused engine op covers the call: one rank, the same batch dims (the
    composite broadcasts them) and no gradient wanted for the mask. The fused op reads dim -3
    as heads, but without ``enable_gqa`` PyTorch broadcasts a size-1 dim -3 like any batch
    dim, which only the composite does (head counts that cannot broadcast stay here, for the
    fused op's error that suggests ``enable_gqa``)."""
    n = q.ndim
    if n >= 3 and not enable_gqa:
        heads = {q.shape[-3], k.shape[-3], v.shape[-3]}
        if len(heads) > 1 and len(heads - {1}) <= 1:
            return False
    return (
        k.ndim == n
        and v.ndim == n
        and tuple(q.shape[:-3]) == tuple(k.shape[:-3]) == tuple(v.shape[:-3])
        and (mask is None or not mask.requires_grad)
    )


# ---- padding, resampling, similarity, group norm --------------------------------------------

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(
    input: Tensor,
    pad: Sequence[int],
    mode: str = "constant",
    value: Optional[float] = None,
) -> Tensor:
    """Pads the trailing dims: ``pad = (left, right)`` for the last dim, then ``(top, bottom)``
    for the one before, and so on; negative amounts crop. ``"constant"`` fills with ``value``
    (default 0) on any number of dims; ``"reflect"``, ``"replicate"`` and ``"circular"`` pad
    the last 1-3 dims of a batched or unbatched input by gathering existing elements."""
    bad = [v for v in pad if not hasattr(v, "__index__")]  # (1.0 is refused, as PyTorch)
    if bad:
        raise ArgumentTypeError(
            "pad(): argument 'pad' must be a tuple of ints, but found element of type "
            f"{type(bad[0]).__name__}"
        )
    pads = [int(v) for v in pad]
    if len(pads) % 2:
        raise InvalidValueError("Padding length must be divisible by 2")
    if len(pads) // 2 > input.ndim:
        raise InvalidValueError(
            "Padding length should be less than or equal to two times the input dim"
        )
    if mode not in _PAD_MODES:
        raise InvalidValueError(f"mode must be one of {_PAD_MODES}, got {mode!r}")
    if mode == "constant":
        return _pad_constant(input, pads, 0.0 if value is None else float(value))
    if value is not None and value != 0:
        raise InvalidValueError(f'Padding mode "{mode}" doesn\'t take in value argument')
    n_dims = len(pads) // 2
    # PyTorch's autocast float32 list: reflection_pad1d/2d, replication_pad1d/2d/3d (not
    # reflection_pad3d, circular or constant): a low input padded and returned in float32.
    autocast = _core._get_autocast() is not None
    if autocast and (mode == "replicate" or (mode == "reflect" and n_dims < 3)):
        out_fp32: Tensor = _autocast_fp32(_pad_function, input, pads, mode, value)
        return out_fp32
    if n_dims not in (1, 2, 3) or input.ndim not in (n_dims + 1, n_dims + 2):
        raise UnsupportedShapeError(
            f"{mode} padding of {n_dims} dims needs a {n_dims + 1}-D or {n_dims + 2}-D input, "
            f"got shape {tuple(input.shape)}"
        )
    out = input
    for i in range(n_dims):
        out = _pad_gather(out, input.ndim - 1 - i, pads[2 * i], pads[2 * i + 1], mode)
    return out


# ``pad`` itself (inside it, the name is the pad-widths argument).
_pad_function = pad


def _pad_constant(input: Tensor, pads: list[int], value: float) -> Tensor:
    """Crops negative amounts with ``narrow``, then pads what is left in one engine op (one
    tensor filled with ``value``, the input written into its middle; the backward takes the
    middle of the gradient)."""
    out = input
    amounts = []
    for d, lo, hi, start, kept in _padded_dims(input, pads):
        out = out.narrow(d, start, kept)
        amounts.append((max(lo, 0), max(hi, 0)))
    if all(p <= 0 for p in pads):  # nothing added: a copy of the (cropped) input, as PyTorch's
        return out.clone()
    return out._constant_pad(amounts, value)


def _padded_dims(input: Tensor, pads: list[int]) -> list[tuple[int, int, int, int, int]]:
    """``(dim, lo, hi, start, kept)`` for each padded dim, last dim first: a negative amount
    crops, leaving ``kept`` elements from ``start``; cropping below 0 raises."""
    dims = []
    for i in range(len(pads) // 2):
        d = input.ndim - 1 - i
        lo, hi = pads[2 * i], pads[2 * i + 1]
        start, stop = max(-lo, 0), input.shape[d] - max(-hi, 0)
        if stop < start:
            raise ShapeError(f"padding {(lo, hi)} crops dim {d} of size {input.shape[d]} below 0")
        dims.append((d, lo, hi, start, stop - start))
    return dims


def _records_grad(x: Tensor) -> bool:
    """Whether an op on ``x`` is recorded for backward."""
    return x.requires_grad and _core.is_grad_enabled()


def _pad_border(x: Tensor, d: int, lo: int, hi: int, mode: str) -> Tensor:
    """``_pad_gather`` for non-negative amounts (checked there): one new tensor that takes
    ``x`` and its two border strips (``narrow``, flipped for ``reflect``) by slice assignment.
    ``index_select`` along the last dim is slow in the engine; under autograd it stays, as
    the engine's slice-assignment backward costs more still."""
    n = x.shape[d]
    shape = list(x.shape)
    shape[d] = n + lo + hi
    out = _core.empty(tuple(shape), dtype=x.dtype, device=x.device)
    pre = (slice(None),) * d
    out[(*pre, slice(lo, lo + n))] = x
    for start, amount, left in ((0, lo, True), (lo + n, hi, False)):
        if amount == 0:
            continue
        if mode == "replicate":
            strip = x.narrow(d, 0 if left else n - 1, 1)  # (broadcast over the strip)
        elif mode == "circular":
            strip = x.narrow(d, n - amount if left else 0, amount)
        else:  # reflect: the edge itself is not repeated
            strip = x.narrow(d, 1 if left else n - 1 - amount, amount)
            if amount > 1:
                strip = strip.flip(d)
        out[(*pre, slice(start, start + amount))] = strip
    return out


def _pad_gather(x: Tensor, d: int, lo: int, hi: int, mode: str) -> Tensor:
    """Pads dim ``d`` by selecting source indices (``index_select`` carries the gradient):
    mirrored (``reflect``, edge not repeated), clamped to the edge (``replicate``) or wrapped
    around (``circular``)."""
    n = x.shape[d]
    if mode == "reflect" and (lo >= n or hi >= n):
        raise ShapeError(
            f"Argument #4: Padding size should be less than the corresponding input dimension, "
            f"but got: padding ({lo}, {hi}) at dimension {d} of input {tuple(x.shape)}"
        )
    if mode == "circular" and (lo > n or hi > n):
        raise ShapeError("Padding value causes wrapping around more than once.")
    if n + lo + hi < 0:
        raise ShapeError(f"padding {(lo, hi)} crops dim {d} of size {n} below 0")
    if mode != "circular" and 0 in (n, n + lo + hi):  # (PyTorch's kernels need elements)
        raise ShapeError(
            f"{mode} padding {(lo, hi)}: input (size {n} at dimension {d}) is too small. "
            f"Calculated output size: {n + lo + hi}; both must be >= 1"
        )
    if mode == "circular" and min(lo, hi) < 0:
        # PyTorch crops first, then wraps around what is left: something must be left to
        # wrap around (PyTorch reads uninitialised memory or fails there).
        kept = n - max(-lo, 0) - max(-hi, 0)
        if kept <= 0 < n + lo + hi:
            raise ShapeError(
                f"circular padding {(lo, hi)} crops dim {d} of size {n} to {kept} elements: "
                f"nothing is left to wrap around"
            )
    # The padded tensor before NumPy builds an index per output position.
    _check_buffer([*x.shape[:d], n + lo + hi, *x.shape[d + 1 :]], x.dtype, f"{mode} pad")
    if lo >= 0 and hi >= 0 and n > 0 and not _records_grad(x):
        return _pad_border(x, d, lo, hi, mode)
    if mode == "circular":  # PyTorch crops first, then wraps around what is left
        start, kept = max(-lo, 0), n - max(-lo, 0) - max(-hi, 0)
        idx = start + np.arange(-max(lo, 0), kept + max(hi, 0)) % kept
    else:
        idx = np.arange(-lo, n + hi)
        if mode == "reflect":
            idx = np.abs(idx)
            idx = np.where(idx > n - 1, 2 * (n - 1) - idx, idx)
        else:
            idx = np.clip(idx, 0, n - 1)
    return x.index_select(d, _tensor(idx.astype(np.int64)).to(x.device))


def interpolate(
    input: Tensor,
    size: Optional[Union[int, Sequence[int]]] = None,
    scale_factor: Optional[Union[float, Sequence[float]]] = None,
    mode: str = "nearest",
    align_corners: Optional[bool] = None,
    recompute_scale_factor: Optional[bool] = None,
    antialias: bool = False,
) -> Tensor:
    """Resizes the spatial dims (all after ``[N, C]``) of a 3-, 4- or 5-D input. ``"nearest"``
    and ``"nearest-exact"`` pick source elements by PyTorch's float32 index arithmetic (results
    match it exactly); ``"linear"``, ``"bilinear"``, ``"bicubic"`` and ``"trilinear"`` (3-, 4-,
    4- and 5-D inputs) weigh neighbours by PyTorch's source-coordinate rule, honouring
    ``align_corners``."""
    interpolating = mode in _interpolate.SPATIAL_DIMS
    if mode not in ("nearest", "nearest-exact", "area") and not interpolating:
        raise InvalidValueError(
            f"interpolate: unsupported mode {mode!r} (nearest, nearest-exact, area, linear, "
            "bilinear, bicubic or trilinear)"
        )
    if align_corners is not None and not interpolating:
        raise InvalidValueError(
            "align_corners option can only be set with the interpolating modes: "
            "linear | bilinear | bicubic | trilinear"
        )
    if antialias and mode not in ("bilinear", "bicubic"):
        raise InvalidValueError(
            "Anti-alias option is only supported for bilinear and bicubic modes"
        )
    spatial = input.ndim - 2
    if spatial not in (1, 2, 3):
        raise ShapeError(f"interpolate expects a 3-, 4- or 5-D input, got {input.ndim}-D")
    if interpolating and spatial != _interpolate.SPATIAL_DIMS[mode]:
        raise UnsupportedShapeError(
            f"interpolate: got {input.ndim}D input, but {mode} mode needs "
            f"{_interpolate.SPATIAL_DIMS[mode] + 2}D input"
        )
    in_sizes = list(input.shape[2:])
    if (size is None) == (scale_factor is None):
        raise InvalidValueError("only one of size or scale_factor should be defined")
    scales: list[Optional[float]]
    if size is not None:
        if recompute_scale_factor:
            raise InvalidValueError(
                "recompute_scale_factor is not meaningful with an explicit size."
            )
        out_sizes = [int(size)] * spatial if isinstance(size, int) else [int(s) for s in size]
        if len(out_sizes) != spatial:
            raise InvalidValueError(f"size {size!r} does not match the {spatial} spatial dims")
        scales = [None] * spatial
    else:
        assert scale_factor is not None
        factors = (
            [float(scale_factor)] * spatial
            if isinstance(scale_factor, (int, float))
            else [float(f) for f in scale_factor]
        )
        if len(factors) != spatial:
            raise InvalidValueError(f"scale_factor {scale_factor!r} does not match {spatial} dims")
        if not all(f > 0 and math.isfinite(f) for f in factors):
            raise InvalidValueError(
                f"interpolate: scale_factor must be positive and finite, got {scale_factor!r}"
            )
        out_sizes = [math.floor(n * f) for n, f in zip(in_sizes, factors)]
        scales = [None] * spatial if recompute_scale_factor else list(factors)
    # "area" is PyTorch's adaptive average pool, which gives an empty result for a size of 0.
    if min(in_sizes) <= 0 or min(out_sizes) < (0 if mode == "area" else 1):
        raise InvalidValueError(
            f"interpolate: input and output sizes should be greater than 0, but got input "
            f"{tuple(in_sizes)} and output {tuple(out_sizes)}"
        )
    if 0 in out_sizes:
        return _empty_adaptive(input, out_sizes, "interpolate")
    # The resize builds index and weight tables per output position in NumPy: an output that
    # cannot be allocated fails here with the engine's typed error instead of NumPy's.
    _check_buffer([*input.shape[:2], *out_sizes], input.dtype, "interpolate")
    if interpolating or mode == "area":
        if input.dtype.is_floating_point:
            return _interpolate.resize(
                input, mode, out_sizes, scales, bool(align_corners), antialias=antialias
            )
        if input.dtype != _core.uint8 or mode not in ("bilinear", "bicubic"):
            raise DTypeError(
                f"interpolate: mode {mode!r} needs a floating-point input (uint8 images too "
                f"with 'bilinear' and 'bicubic'), got {input.dtype}"
            )
        # A uint8 image, as PyTorch resizes one: weighted in float, rounded, clamped.
        out = _interpolate.resize(
            input.float(), mode, out_sizes, scales, bool(align_corners), antialias=antialias
        )
        return out.add(0.5).floor().clamp(0, 255).to(_core.uint8)
    out = input
    # Only PyTorch's 2-D "nearest" kernel goes through its nearest_idx shortcuts.
    shortcut = spatial == 2 and mode == "nearest"
    for i, (n_in, n_out, s) in enumerate(zip(in_sizes, out_sizes, scales)):
        idx = _nearest_indices(n_in, n_out, s, mode == "nearest-exact", shortcut)
        out = out.index_select(2 + i, _tensor(idx).to(input.device))
    return out


def _nearest_indices(
    n_in: int, n_out: int, scale: Optional[float], exact: bool, shortcut: bool = False
) -> np.ndarray:
    """Source index of each output position: ``floor(i * s)`` (``floor((i + 0.5) * s)`` for
    nearest-exact) with ``s = 1/scale_factor`` or ``n_in/n_out``, in float32 like PyTorch.
    With ``shortcut`` (PyTorch's 2-D nearest forward and every nearest backward use
    ``nearest_idx``) a kept size is copied and a doubled one reads ``i >> 1``, whatever the
    scale factor."""
    if shortcut and n_out == n_in:
        return np.arange(n_out, dtype=np.int64)
    if shortcut and n_out == 2 * n_in:
        return np.arange(n_out, dtype=np.int64) >> 1
    s = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(n_in / n_out)
    pos = np.arange(n_out, dtype=np.float32) + np.float32(0.5 if exact else 0.0)
    src = np.floor(pos * s).astype(np.int64)
    return np.minimum(src, n_in - 1)


def _norm_clamped(x: Tensor, p: float, dim: int, eps: float) -> Tensor:
    """``max(||x||_p, eps)`` over ``dim`` (kept); for p=2 the clamp goes under the square root
    so an all-zero slice gets a zero gradient instead of NaN. Half inputs are normed in float32
    and rounded once, as PyTorch accumulates them (float16 squares overflow past 256)."""
    if x.dtype in _HALF and p != 0 and not math.isinf(p):
        return _norm_clamped(x.float(), p, dim, eps).to(x.dtype)
    if p == 2.0:
        return x.square().sum(dim, keepdim=True).clamp(min=eps * eps).sqrt()
    if math.isinf(p):
        a = x.abs()
        n = a.amax(dim, keepdim=True) if p > 0 else a.amin(dim, keepdim=True)
        return n.clamp(min=eps)
    if p == 0:
        # The "0-norm" counts the nonzero entries (1/p would divide by zero).
        return (x != 0).to(x.dtype).sum(dim, keepdim=True).clamp(min=eps)
    return x.abs().pow(p).sum(dim, keepdim=True).pow(1.0 / p).clamp(min=eps)


def normalize(
    input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Optional[Tensor] = None
) -> Tensor:
    """``x / max(||x||_p, eps)`` along ``dim``; ``out=`` as PyTorch's (written into, resized,
    and refused where the result needs a gradient)."""
    if not input.dtype.is_floating_point:
        raise DTypeError(f"normalize expects a floating-point input, got {input.dtype}")
    result = input / _norm_clamped(input, float(p), dim, eps)
    if out is None:
        return result
    from .._out_param import write

    return write("div", result, out)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``sum(x1/max(||x1||, eps) * x2/max(||x2||, eps))`` along ``dim`` (broadcasting), the
    normalise-first form PyTorch uses, which keeps the result within [-1, 1]."""
    a, b = broadcast_tensors(x1, x2)
    if a.dtype != b.dtype:  # mixed operands meet at their common dtype, as in PyTorch
        from .._functional_aliases import promote_types

        common = promote_types(a.dtype, b.dtype)
        if not common.is_floating_point:
            raise DTypeError(
                f"expected common dtype to be floating point, yet common dtype is {common}"
            )
        a, b = a.to(common), b.to(common)

    def clamped_norm(x: Tensor) -> Tensor:
        # PyTorch clamps the norms in place under no_grad, so the gradient still flows through
        # the unclamped norm (a straight-through clamp), not the zero slope of max(., eps).
        # (The lift is (eps - n)+, not clamp(n) - n, which is inf - inf = nan for an infinite
        # norm: x / inf is 0, as in PyTorch.)
        n = x.norm(dim=dim, keepdim=True)
        return n + (eps - n).clamp(min=0.0).detach()

    return ((a / clamped_norm(a)) * (b / clamped_norm(b))).sum(dim)


def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    """``||x1 - x2 + eps||_p`` over the last dim (PyTorch adds ``eps`` to the difference)."""
    diff = x1 - x2 + eps
    a = diff.abs()
    if math.isinf(p):
        return a.amax(-1, keepdim=keepdim) if p > 0 else a.amin(-1, keepdim=keepdim)
    if p == 0:
        # The count has zero gradient in PyTorch, but still takes part in autograd.
        count = (diff != 0).to(diff.dtype) + a * 0.0
        return count.sum(-1, keepdim=keepdim)
    if a.dtype in _HALF:  # powers summed in float32 and rounded once, as PyTorch's norm
        return a.float().pow(p).sum(-1, keepdim=keepdim).pow(1.0 / p).to(a.dtype)
    return a.pow(p).sum(-1, keepdim=keepdim).pow(1.0 / p)


class _InfDistance(Function):
    """The largest ``|diff|`` along the last dim, with PyTorch's pdist backward
    ``g * sign(diff) * (|diff| == dist)``: every tied coordinate gets the whole gradient
    (``amax`` shares it between them)."""

    @staticmethod
    def forward(ctx: FunctionCtx, diff: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(diff)  # (only the input: the backward stays differentiable)
        return diff.abs().amax(-1)

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> Tensor:  # type: ignore[override]
        (diff,) = ctx.saved_tensors
        a = diff.abs()
        tie = a == a.amax(-1, keepdim=True)
        return _core.where(tie, g.unsqueeze(-1) * diff.sign(), 0.0)


def pdist(input: Tensor, p: float = 2.0) -> Tensor:
    """The ``p``-norm distances between rows ``i < j`` of a 2-D ``input``, pairs in row-major
    order: ``N * (N - 1) / 2`` values (PyTorch's ``pdist``, the upper triangle of
    ``cdist(input, input)`` without its diagonal)."""
    if input.ndim != 2:
        raise ShapeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if p < 0:
        raise InvalidValueError("pdist only supports non-negative p values")
    rows, cols = np.triu_indices(input.shape[0], 1)

    def pick(index: np.ndarray) -> Tensor:
        return input.index_select(0, _core.from_numpy(index.astype(np.int64)).to(input.device))

    raw = pick(rows) - pick(cols)
    if math.isinf(p):
        # (Rows without columns are at distance 0, as in PyTorch: amax has no identity.)
        return _InfDistance.apply(raw) if input.shape[1] else raw.sum(-1)
    diff = raw.abs()
    if p == 0:
        return diff.sign().sum(-1)  # the nonzero count, differentiable with zero gradient
    if diff.dtype in _HALF:  # powers summed in float32 and rounded once, as a norm's
        return pdist(input.float(), p).to(input.dtype)
    total = diff.pow(p).sum(-1)
    # Equal rows have distance 0 and, as in PyTorch, a zero gradient (not 0 * inf).
    nonzero = total > 0
    return total.where(nonzero, total.new_ones(total.shape)).pow(1.0 / p) * nonzero.to(total.dtype)


def _deprecated_upsample(name: str) -> None:
    """PyTorch's warning for its ``upsample*`` names of ``interpolate``."""
    warnings.warn(
        f"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate` instead.",
        stacklevel=3,
    )


def upsample(
    input: Tensor,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: Optional[bool] = None,
) -> Tensor:
    """Deprecated name of ``interpolate``."""
    _deprecated_upsample("upsample")
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    """Deprecated: ``interpolate(..., mode="nearest")``."""
    _deprecated_upsample("upsample_nearest")
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    """Deprecated: ``interpolate(..., mode="bilinear", align_corners=True)``."""
    _deprecated_upsample("upsample_bilinear")
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Optional[Tensor] = None,
    bias: Optional[Tensor] = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalises each of ``num_groups`` channel groups of ``[N, C, *]`` by its own mean and
    biased variance, then applies the per-channel affine ``weight``/``bias`` (shape ``[C]``)."""
    if input.ndim < 2:
        raise ShapeError(f"group_norm expects an input of at least 2 dims, got {input.ndim}")
    check_param_dtypes("group_norm", input, weight, bias)
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0:
        raise InvalidValueError(f"Expected num groups to be greater than 0, got {num_groups}")
    if c % num_groups:
        raise ShapeError(
            f"Expected number of channels in input to be divisible by num_groups, but got input "
            f"of shape {tuple(input.shape)} and num_groups={num_groups}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ShapeError(
                f"Expected {name} to be a vector of size equal to the number of channels in "
                f"input, but got {name} of shape {list(t.shape)} and input of shape "
                f"{list(input.shape)}"
            )
    size = [n * c // num_groups, num_groups, *input.shape[2:]]
    if math.prod(size[:1] + size[2:]) == 1:  # PyTorch's _verify_batch_size
        raise InvalidValueError(
            f"Expected more than 1 value per channel when training, got input size {size}"
        )
    # One fused kernel each way: every group a layer-norm row (a bfloat16 input normalised
    # without a float32 copy), the per-channel affine applied in the same pass.
    return _core._group_norm(input, num_groups, weight, bias, eps)


# ---- more of PyTorch's functional losses and gumbel_softmax (issue 18) ---------------------------


@_takes_positional_legacy_reduction
def margin_ranking_loss(
    input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, reduction: str = "mean"
) -> Tensor:
    """``max(0, -target * (input1 - input2) + margin)``."""
    if not input1.ndim == input2.ndim == target.ndim:
        # PyTorch's check: broadcasting a [N] score against [1, N] would be a silent outer loss.
        raise ShapeError(
            "margin_ranking_loss: all input tensors should have the same number of dims, got "
            f"input1 {tuple(input1.shape)}, input2 {tuple(input2.shape)}, target "
            f"{tuple(target.shape)}"
        )
    input1, input2, target = _autocast_f32(input1, input2, target)
    # ``relu``: no gradient exactly at the hinge (PyTorch's ``clamp_min``).
    return _reduce((-target * (input1 - input2) + margin).relu(), reduction)


@_takes_positional_legacy_reduction
def cosine_embedding_loss(
    input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, reduction: str = "mean"
) -> Tensor:
    """``1 - cos(x1, x2)`` where ``target`` is 1, ``max(0, cos(x1, x2) - margin)`` where it
    is -1 (cosine along the last dimension, PyTorch's ``eps`` of 1e-12 in the norms)."""
    # PyTorch's checks: one target per row, rows of the same rank (no broadcasting across).
    want = {0: 1, 1: 2}.get(target.ndim)
    if want is None or input1.ndim != want or input2.ndim != want:
        raise ShapeError(
            "cosine_embedding_loss: a 0-d or 1-d target expects 1-d or 2-d inputs; got input1 "
            f"{tuple(input1.shape)}, input2 {tuple(input2.shape)}, target {tuple(target.shape)}"
        )
    input1, input2 = _autocast_f32(input1, input2)
    eps = 1e-12
    dot = (input1 * input2).sum(-1)
    norms = ((input1 * input1).sum(-1) + eps) * ((input2 * input2).sum(-1) + eps)
    cos = dot / norms.sqrt()
    zeros = cos * 0.0
    pos = _core.where(target == 1, 1.0 - cos, zeros)
    neg = _core.where(target == -1, (cos - margin).relu(), zeros)
    return _reduce(pos + neg, reduction)


def _check_triplet(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float) -> None:
    """The argument checks of ``triplet_margin_loss`` and ``triplet_margin_with_distance_loss``,
    with PyTorch's messages (the same for both)."""
    if margin <= 0:
        raise InvalidValueError(f"margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise ShapeError(
            "The anchor, positive, and negative tensors are expected to have the same number "
            f"of dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and "
            f"negative {negative.ndim}D inputs"
        )


def _triplet_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    distance: Callable[[Tensor, Tensor], Tensor],
    margin: float,
    swap: bool,
    reduction: str,
) -> Tensor:
    """The loss of ``triplet_margin_loss`` and ``triplet_margin_with_distance_loss`` once their
    checks are made: ``max(margin + d(a, p) - d(a, n), 0)`` in PyTorch's order of operations
    (so it rounds as PyTorch's), ``min(d(a, n), d(p, n))`` as the negative distance with
    ``swap``; ``relu`` gives no gradient at the kink, as PyTorch's ``clamp_min``."""
    d_pos = distance(anchor, positive)
    d_neg = distance(anchor, negative)
    if swap:
        d_neg = d_neg.minimum(distance(positive, negative))
    return _reduce((margin + d_pos - d_neg).relu(), reduction)


@_takes_positional_legacy_reduction
def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """``max(d(a, p) - d(a, n) + margin, 0)`` with ``d`` the ``p``-norm distance
    (``pairwise_distance``); ``swap`` uses ``min(d(a, n), d(p, n))`` as the negative distance."""
    _check_triplet(anchor, positive, negative, margin)
    anchor, positive, negative = _autocast_f32(anchor, positive, negative)
    return _triplet_loss(
        anchor,
        positive,
        negative,
        lambda x1, x2: pairwise_distance(x1, x2, p, eps),
        margin,
        swap,
        reduction,
    )


def gumbel_softmax(
    logits: Tensor, tau: float = 1.0, hard: bool = False, eps: float = 1e-10, dim: int = -1
) -> Tensor:
    """Samples from the Gumbel-softmax distribution: ``softmax((logits + g) / tau)`` with
    Gumbel noise ``g`` (from the global generator); ``hard`` returns one-hot samples whose
    gradient is the soft sample's (straight-through)."""
    del eps
    u = _core.rand(logits.shape, dtype=logits.dtype, device=logits.device)
    tiny = 1e-20 if logits.dtype == _core.float64 else 1e-10
    gumbels = -((u.clamp(min=tiny)).log().neg().clamp(min=tiny)).log()
    y_soft = ((logits + gumbels) / tau).softmax(dim)
    if not hard:
        return y_soft
    index = y_soft.argmax(dim, keepdim=True)
    n, axis = y_soft.shape[dim], dim % y_soft.ndim
    positions = _core.arange(n, device=logits.device).reshape(
        [n if d == axis else 1 for d in range(y_soft.ndim)]
    )
    y_hard = (positions == index).to(y_soft.dtype)
    return y_hard - y_soft.detach() + y_soft


def _check_tensor_arguments() -> None:
    """Every public function here whose first parameter is a tensor raises PyTorch's
    ``TypeError`` for anything else (``F.relu(5)``: "relu(): argument 'input' (position 1) must
    be Tensor, not int") instead of an ``AttributeError`` from inside it."""
    names = globals()
    for name, fn in list(names.items()):
        if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != __name__:
            continue
        params = list(inspect.signature(fn).parameters.values())
        if params and params[0].annotation in ("Tensor", Tensor):
            names[name] = _takes_tensor(fn)


_check_tensor_arguments()

# isort: split
# More activations, shuffles, dropouts and the bilinear map (see their modules).
from . import _functional_extra_activations as _extra_act  # noqa: E402
from ._functional_extra_activations import (  # noqa: E402, F401
    celu,
    celu_,
    elu_,
    hardshrink,
    hardtanh_,
    leaky_relu_,
    relu_,
    rrelu,
    rrelu_,
    selu,
    selu_,
    softshrink,
    tanhshrink,
    threshold_,
)
from .bilinear import bilinear  # noqa: E402, F401
from .dropout_extra import (  # noqa: E402, F401
    alpha_dropout,
    dropout1d,
    dropout3d,
    feature_alpha_dropout,
)
from .pixel_shuffle import (  # noqa: E402, F401
    channel_shuffle,
    native_channel_shuffle,
    pixel_shuffle,
    pixel_unshuffle,
)

threshold = _extra_act.threshold  # (not imported by name: ``softplus`` has a parameter so named)

# isort: split
# More losses: Gaussian/Poisson NLL, hinge and margin losses, triplet with distance, CTC.
from ._functional_losses_extra import (  # noqa: E402, F401
    ctc_loss,
    gaussian_nll_loss,
    hinge_embedding_loss,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_with_distance_loss,
)

# isort: split
# Instance and local response norms, unpooling, power-average pooling, the max pools'
# ``*_with_indices`` spellings, ``embedding_bag``, ``affine_grid`` and ``grid_sample``.
from .embedding_bag import embedding_bag  # noqa: E402, F401
from .grid_sample import affine_grid, grid_sample  # noqa: E402, F401
from .instance_norm import instance_norm  # noqa: E402, F401
from .local_response_norm import local_response_norm  # noqa: E402, F401
from .pooling_extra import (  # noqa: E402, F401
    adaptive_max_pool1d_with_indices,
    adaptive_max_pool2d_with_indices,
    adaptive_max_pool3d_with_indices,
    lp_pool1d,
    lp_pool2d,
    lp_pool3d,
    max_pool1d_with_indices,
    max_pool2d_with_indices,
    max_pool3d_with_indices,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
)

# isort: split
# Volumetric (3-D) convolutions and pools, composites over the 2-D ops.
from ._functional_volumetric import (  # noqa: E402, F401
    adaptive_avg_pool3d,
    adaptive_max_pool3d,
    avg_pool3d,
    conv3d,
    conv_transpose3d,
    max_pool3d,
)

# isort: split
# Fractional max pooling (pseudo-random windows, PyTorch's formula).
from .fractional_pool import (  # noqa: E402, F401
    fractional_max_pool2d,
    fractional_max_pool2d_with_indices,
    fractional_max_pool3d,
    fractional_max_pool3d_with_indices,
)


def multi_head_attention_forward(*args: Any, **kwargs: Any) -> tuple[Tensor, Optional[Tensor]]:
    """PyTorch's ``F.multi_head_attention_forward`` (the functional form of
    ``nn.MultiheadAttention``, with its full signature); defined in ``nn/attention.py``."""
    from .attention import multi_head_attention_forward as impl

    return impl(*args, **kwargs)  # type: ignore[no-any-return]
