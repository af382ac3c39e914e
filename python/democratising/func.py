"""``democratising.func``: PyTorch's ``torch.func`` function transforms that plain autograd can
express: ``functional_call``, ``grad``, ``grad_and_value`` and ``vmap`` (which maps by calling
the function once per batch entry and stacking the results: PyTorch's semantics and
composition with ``grad``, without its batching rules' speed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional, Union

from . import _core
from ._core import Tensor
from ._grad_mode import enable_grad
from .autograd import grad as _autograd_grad
from .errors import ArgumentTypeError, InvalidValueError, ShapeError
from .nn.module import Module
from .nn.utils_extra import _functional_call

__all__ = ["functional_call", "grad", "grad_and_value", "vmap"]


def functional_call(
    module: Module,
    parameter_and_buffer_dicts: Union[dict[str, Tensor], Sequence[dict[str, Tensor]]],
    args: Any = None,
    kwargs: Optional[dict[str, Any]] = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """``module(*args, **kwargs)`` with the given tensors (by dotted name; one dict or several
    with distinct keys) in place of its parameters and buffers for this call only; the module
    is restored afterwards, even on an error (PyTorch's ``torch.func.functional_call``)."""
    if isinstance(parameter_and_buffer_dicts, Mapping):
        tensors = dict(parameter_and_buffer_dicts)
    elif isinstance(parameter_and_buffer_dicts, Sequence):
        if not all(isinstance(d, Mapping) for d in parameter_and_buffer_dicts):
            raise InvalidValueError(
                "Expected all elements of parameter_and_buffer_dicts to be dictionaries"
            )
        counts: dict[str, int] = {}
        for d in parameter_and_buffer_dicts:
            for k in d:
                counts[k] = counts.get(k, 0) + 1
        repeated = [k for k, n in counts.items() if n > 1]
        if repeated:
            raise InvalidValueError(
                f"{repeated} appeared in multiple dictionaries; behavior of functional call is "
                "ambiguous"
            )
        tensors = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise InvalidValueError(
            "Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but got "
            f"{type(parameter_and_buffer_dicts)}"
        )
    return _functional_call(module, tensors, args, kwargs, tie_weights=tie_weights, strict=strict)


def _leaves(x: Any) -> list[Tensor]:
    """The tensors of ``x``: a tensor, or a (nested) tuple, list or dict of tensors."""
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for v in x for t in _leaves(v)]
    if isinstance(x, dict):
        return [t for v in x.values() for t in _leaves(v)]
    raise ArgumentTypeError(
        f"Expected the inputs to differentiate to be tensors (or tuples, lists or dicts of "
        f"them), got {type(x).__name__}"
    )


def _rebuild(x: Any, it: Any) -> Any:
    """``x``'s structure with its tensors replaced, in order, by the values of ``it``."""
    if isinstance(x, Tensor):
        return next(it)
    if isinstance(x, (tuple, list)):
        return type(x)(_rebuild(v, it) for v in x)
    return {k: _rebuild(v, it) for k, v in x.items()}


def grad_and_value(
    func: Callable[..., Any], argnums: Union[int, tuple[int, ...]] = 0, has_aux: bool = False
) -> Callable[..., tuple[Any, Any]]:
    """A function returning ``(gradient, value)`` of ``func`` (which must return a one-element
    tensor, or ``(output, aux)`` with ``has_aux``; then the value is ``(output, aux)``), the
    gradient taken with respect to the arguments ``argnums`` (an int, or a tuple giving a tuple
    of gradients), each a tensor or a tuple/list/dict of tensors (PyTorch's
    ``torch.func.grad_and_value``). When the inputs require grad themselves the results stay
    differentiable, so transforms nest."""

    def wrapper(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        if not nums:
            raise InvalidValueError("argnums must be non-empty")
        for n in nums:
            if not -len(args) <= n < len(args):
                raise InvalidValueError(f"Got argnums={n}, but only {len(args)} positional inputs")
        originals = {n % len(args): args[n] for n in nums}
        leaves = {n: _leaves(a) for n, a in originals.items()}
        outer = any(t.requires_grad for ts in leaves.values() for t in ts)
        with enable_grad():
            inner = {
                n: [t if t.requires_grad else t.detach().requires_grad_(True) for t in ts]
                for n, ts in leaves.items()
            }
            new_args = list(args)
            for n, ts in inner.items():
                new_args[n] = _rebuild(originals[n], iter(ts))
            result = func(*new_args, **kwargs)
            if has_aux:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise InvalidValueError(
                        "grad_and_value(f)(*args): output of function f should be a tuple: "
                        "(output, aux) if has_aux is True"
                    )
                output, aux = result
            else:
                output, aux = result, None
            if not isinstance(output, Tensor):
                raise ArgumentTypeError(
                    "grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got "
                    f"{type(output)}"
                )
            if output.numel() != 1:
                raise ShapeError(
                    "grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, "
                    f"got tensor with {output.dim()} dims. Maybe you wanted to use the vjp or "
                    "jacrev APIs instead?"
                )
            flat = [t for n in inner for t in inner[n]]
            grads: Sequence[Optional[Tensor]] = [None] * len(flat)
            if output.requires_grad:  # else it does not depend on the inputs: zero gradients
                grads = _autograd_grad(output, flat, create_graph=outer, allow_unused=True)
        filled = [
            _core.zeros(*t.shape, dtype=t.dtype, device=t.device) if g is None else g
            for g, t in zip(grads, flat)
        ]
        if not outer:
            filled = [g.detach() for g in filled]
            output = output.detach()
        it = iter(filled)
        per_arg = [_rebuild(originals[n], it) for n in inner]
        g_out = per_arg[0] if isinstance(argnums, int) else tuple(per_arg)
        return g_out, ((output, aux) if has_aux else output)

    return wrapper


def grad(
    func: Callable[..., Any], argnums: Union[int, tuple[int, ...]] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """A function returning the gradient of ``func`` with respect to the arguments
    ``argnums`` (and ``(gradient, aux)`` with ``has_aux``), PyTorch's ``torch.func.grad``;
    see ``grad_and_value``."""
    inner = grad_and_value(func, argnums, has_aux)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g, value = inner(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


def _in_dims_tree(arg: Any, dims: Any) -> Any:
    """``dims`` spread over ``arg``'s structure: an int or None applies to every tensor in it,
    a tuple/list/dict must match the structure (PyTorch's ``in_dims`` rules)."""
    if dims is None or isinstance(dims, int):
        if isinstance(arg, (tuple, list)):
            return type(arg)(_in_dims_tree(v, dims) for v in arg)
        if isinstance(arg, dict):
            return {k: _in_dims_tree(v, dims) for k, v in arg.items()}
        return dims
    if isinstance(dims, (tuple, list)) and isinstance(arg, (tuple, list)):
        if len(dims) != len(arg):
            raise InvalidValueError(
                f"vmap: in_dims is not compatible with the structure of the inputs: "
                f"{len(dims)} entries for {len(arg)}"
            )
        return type(arg)(_in_dims_tree(v, d) for v, d in zip(arg, dims))
    if isinstance(dims, dict) and isinstance(arg, dict):
        return {k: _in_dims_tree(v, dims[k]) for k, v in arg.items()}
    raise InvalidValueError(
        f"vmap: in_dims is not compatible with the structure of the inputs ({dims!r})"
    )


def _batch_size(arg: Any, dims: Any, sizes: list[int]) -> None:
    """Collects the mapped size of every batched tensor of ``arg`` into ``sizes``."""
    if isinstance(arg, Tensor):
        if dims is not None:
            if not -arg.ndim <= dims < max(arg.ndim, 1) or arg.ndim == 0:
                raise ShapeError(
                    f"vmap: in_dim={dims} is out of range for a tensor of {arg.ndim} dims"
                )
            sizes.append(arg.shape[dims])
    elif isinstance(arg, (tuple, list)):
        for v, d in zip(arg, dims):
            _batch_size(v, d, sizes)
    elif isinstance(arg, dict):
        for k, v in arg.items():
            _batch_size(v, dims[k], sizes)
    elif dims is not None:
        raise InvalidValueError(
            f"vmap: got in_dim={dims} for an input that is not a tensor ({type(arg).__name__})"
        )


def _entry(arg: Any, dims: Any, i: int) -> Any:
    """``arg`` with entry ``i`` of each batched tensor selected along its mapped dim."""
    if isinstance(arg, Tensor):
        return arg if dims is None else arg.select(dims, i)
    if isinstance(arg, (tuple, list)):
        return type(arg)(_entry(v, d, i) for v, d in zip(arg, dims))
    if isinstance(arg, dict):
        return {k: _entry(v, dims[k], i) for k, v in arg.items()}
    return arg


def _stacked(outs: list[Any], dims: Any) -> Any:
    """The per-entry results stacked along ``out_dims`` (matching their structure)."""
    first = outs[0]
    if isinstance(first, Tensor):
        if dims is None:
            return first
        return _core.stack(outs, dims)
    if isinstance(first, (tuple, list)):
        per = dims if isinstance(dims, (tuple, list)) else [dims] * len(first)
        if len(per) != len(first):
            raise InvalidValueError(
                f"vmap: out_dims has {len(per)} entries for {len(first)} outputs"
            )
        return type(first)(_stacked([o[j] for o in outs], d) for j, d in enumerate(per))
    if isinstance(first, dict):
        return {
            k: _stacked([o[k] for o in outs], dims[k] if isinstance(dims, dict) else dims)
            for k in first
        }
    raise ArgumentTypeError(
        f"vmap: the function must return tensors (or tuples, lists or dicts of them), "
        f"got {type(first).__name__}"
    )


def vmap(
    func: Callable[..., Any],
    in_dims: Any = 0,
    out_dims: Any = 0,
    randomness: str = "error",
    *,
    chunk_size: Optional[int] = None,
) -> Callable[..., Any]:
    """PyTorch's ``torch.func.vmap``: ``func`` mapped over dim ``in_dims`` of its tensor
    arguments (an int, ``None`` for an argument passed whole, or a structure matching the
    arguments), the results stacked along ``out_dims``. Keyword arguments are passed whole.

    It calls ``func`` once per batch entry, so it composes with ``grad`` (per-sample
    gradients: ``vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)``) and with itself, at
    the cost of a Python loop. Random ops draw independently per entry, as PyTorch's
    ``randomness="different"``; ``"error"`` (the default) and ``"same"`` are accepted for
    compatibility but not enforced."""
    if randomness not in ("error", "different", "same"):
        raise InvalidValueError(
            f"vmap: randomness must be 'error', 'different' or 'same', got {randomness!r}"
        )
    if chunk_size is not None and chunk_size < 1:
        raise InvalidValueError(f"vmap: chunk_size must be positive, got {chunk_size}")

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if isinstance(in_dims, (tuple, list)):
            if len(in_dims) != len(args):
                raise InvalidValueError(
                    f"vmap: in_dims has {len(in_dims)} entries but the function got "
                    f"{len(args)} positional arguments"
                )
            dims = [_in_dims_tree(a, d) for a, d in zip(args, in_dims)]
        else:
            dims = [_in_dims_tree(a, in_dims) for a in args]
        sizes: list[int] = []
        for a, d in zip(args, dims):
            _batch_size(a, d, sizes)
        if not sizes:
            raise InvalidValueError(
                "vmap: at least one positional argument must be a tensor mapped over a dim"
            )
        if len(set(sizes)) != 1:
            raise ShapeError(
                f"vmap: expected all tensors to have the same size in the mapped dimension, "
                f"got sizes {sizes}"
            )
        if sizes[0] == 0:
            raise ShapeError("vmap: cannot map over a dimension of size 0")
        outs = [
            func(*[_entry(a, d, i) for a, d in zip(args, dims)], **kwargs) for i in range(sizes[0])
        ]
        return _stacked(outs, out_dims)

    wrapped.__name__ = getattr(func, "__name__", "vmapped")
    wrapped.__doc__ = getattr(func, "__doc__", None)
    return wrapped
