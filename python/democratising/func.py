"""``democratising.func``: PyTorch's ``torch.func`` function transforms that plain autograd can
express: ``functional_call``, ``grad``, ``grad_and_value``, ``vjp``, ``jvp``, ``jacrev``,
``jacfwd``, ``hessian`` and ``vmap`` (which maps by calling
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

__all__ = [
    "functional_call",
    "grad",
    "grad_and_value",
    "hessian",
    "jacfwd",
    "jacrev",
    "jvp",
    "vjp",
    "vmap",
]


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


def _split_aux(result: Any, has_aux: bool, name: str) -> tuple[Any, Any]:
    if not has_aux:
        return result, None
    if not (isinstance(result, tuple) and len(result) == 2):
        raise InvalidValueError(
            f"{name}(f, ...): output of function f should be a tuple: (output, aux) if "
            "has_aux is True"
        )
    return result[0], result[1]


def _check_tensors(x: Any, what: str, name: str) -> tuple[Tensor, ...]:
    items = x if isinstance(x, tuple) else (x,)
    for t in items:
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(
                f"{name}: Expected {what} to be a Tensor or a tuple of Tensors, got {type(t)}"
            )
    return items


def vjp(func: Callable[..., Any], *primals: Tensor, has_aux: bool = False) -> tuple[Any, ...]:
    """PyTorch's ``torch.func.vjp``: ``(func(*primals), vjp_fn)`` (plus ``aux`` with
    ``has_aux``), where ``vjp_fn(cotangents)`` (shaped like the output) returns a tuple with
    one vector-Jacobian product per primal. ``vjp_fn`` may be called more than once."""
    _check_tensors(primals, "primals", "vjp")
    outer = any(p.requires_grad for p in primals)
    with enable_grad():
        ins = [p if p.requires_grad else p.detach().requires_grad_(True) for p in primals]
        output, aux = _split_aux(func(*ins), has_aux, "vjp")
    outs = _check_tensors(output, "the output of f", "vjp")

    def vjp_fn(cotangents: Any) -> tuple[Tensor, ...]:
        cots = _check_tensors(cotangents, "cotangents", "vjp")
        if len(cots) != len(outs):
            raise ShapeError(f"vjp: expected {len(outs)} cotangents, got {len(cots)}")
        for o, c in zip(outs, cots):
            if tuple(c.shape) != tuple(o.shape):
                raise ShapeError(
                    f"vjp: Expected cotangent of shape {tuple(o.shape)}, got {tuple(c.shape)}"
                )
        pairs = [(o, c) for o, c in zip(outs, cots) if o.requires_grad]
        grads: Sequence[Optional[Tensor]] = [None] * len(ins)
        if pairs:
            with enable_grad():
                grads = _autograd_grad(
                    [o for o, _ in pairs],
                    ins,
                    [c for _, c in pairs],
                    retain_graph=True,
                    create_graph=outer,
                    allow_unused=True,
                )
        res = [
            _core.zeros(*t.shape, dtype=t.dtype, device=t.device) if g is None else g
            for g, t in zip(grads, ins)
        ]
        return tuple(res if outer else [g.detach() for g in res])

    if not outer:
        output = tuple(o.detach() for o in outs) if isinstance(output, tuple) else outs[0].detach()
    return (output, vjp_fn, aux) if has_aux else (output, vjp_fn)


def jvp(
    func: Callable[..., Any],
    primals: tuple[Tensor, ...],
    tangents: tuple[Tensor, ...],
    *,
    strict: bool = False,
    has_aux: bool = False,
) -> tuple[Any, ...]:
    """PyTorch's ``torch.func.jvp``: ``(func(*primals), J·tangents)`` (plus ``aux`` with
    ``has_aux``); ``primals`` and ``tangents`` are tuples of tensors of matching shapes.
    Computed with the double-backward trick (one reverse pass through a reverse pass)."""
    del strict
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise ArgumentTypeError("jvp: Expected primals and tangents to be tuples")
    if len(primals) != len(tangents):
        raise ShapeError(
            f"jvp: Expected primals and tangents to have the same length, got {len(primals)} "
            f"and {len(tangents)}"
        )
    _check_tensors(tuple(primals), "primals", "jvp")
    _check_tensors(tuple(tangents), "tangents", "jvp")
    for p, t in zip(primals, tangents):
        if tuple(p.shape) != tuple(t.shape):
            raise ShapeError(
                f"jvp: Expected primal and tangent shapes to match, got {tuple(p.shape)} and "
                f"{tuple(t.shape)}"
            )
    outer = any(p.requires_grad for p in primals) or any(t.requires_grad for t in tangents)
    with enable_grad():
        ins = [p if p.requires_grad else p.detach().requires_grad_(True) for p in primals]
        output, aux = _split_aux(func(*ins), has_aux, "jvp")
        outs = _check_tensors(output, "the output of f", "jvp")
        live = [o for o in outs if o.requires_grad]
        # The backward is linear in these dummies: their value never reaches the result.
        dummies = [_core.zeros(*o.shape, dtype=o.dtype, device=o.device) for o in live]
        dummies = [d.requires_grad_(True) for d in dummies]
        res: list[Optional[Tensor]] = [None] * len(live)
        if live:
            g_in = _autograd_grad(live, ins, dummies, create_graph=True, allow_unused=True)
            pairs = [(g, t) for g, t in zip(g_in, tangents) if g is not None and g.requires_grad]
            if pairs:
                res = list(
                    _autograd_grad(
                        [g for g, _ in pairs],
                        dummies,
                        [t for _, t in pairs],
                        create_graph=outer,
                        allow_unused=True,
                    )
                )
    it = iter(res)
    tangent_out = []
    for o in outs:
        r = next(it) if o.requires_grad else None
        r = _core.zeros(*o.shape, dtype=o.dtype, device=o.device) if r is None else r
        tangent_out.append(r if outer else r.detach())
    primal_out = [o if outer else o.detach() for o in outs]
    if isinstance(output, tuple):
        result: tuple[Any, ...] = (tuple(primal_out), tuple(tangent_out))
    else:
        result = (primal_out[0], tangent_out[0])
    return (*result, aux) if has_aux else result


def _jac(
    name: str, func: Callable[..., Any], argnums: Union[int, tuple[int, ...]], has_aux: bool
) -> Callable[..., Any]:
    """``jacrev``/``jacfwd``: the Jacobian of ``func`` with respect to ``argnums`` (shapes
    ``out.shape + in.shape``; a tuple per output for tuple outputs, then per argnum for tuple
    ``argnums``). Both are one reverse pass per output element here, and nest (``hessian``)
    because the result keeps a graph whenever the inputs require grad."""
    from .autograd_functional import jacobian

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        if not nums:
            raise InvalidValueError(f"{name}: argnums must be non-empty")
        for n in nums:
            if not -len(args) <= n < len(args):
                raise InvalidValueError(f"Got argnums={n}, but only {len(args)} positional inputs")
        pos = [n % len(args) for n in nums]
        primals = tuple(args[n] for n in pos)
        _check_tensors(primals, "the differentiated arguments", name)
        outer = any(p.requires_grad for p in primals)
        aux_box: list[Any] = []

        def selected(*ins: Tensor) -> Any:
            new_args = list(args)
            for n, t in zip(pos, ins):
                new_args[n] = t
            out, aux = _split_aux(func(*new_args, **kwargs), has_aux, name)
            aux_box.append(aux)
            return out

        jac = jacobian(selected, primals, create_graph=outer)
        if isinstance(argnums, int):  # jacobian returned one entry per input: unpack it
            jac = tuple(j[0] for j in jac) if isinstance(jac[0], tuple) else jac[0]
        return (jac, aux_box[-1]) if has_aux else jac

    return wrapper


def jacrev(
    func: Callable[..., Any],
    argnums: Union[int, tuple[int, ...]] = 0,
    *,
    has_aux: bool = False,
    chunk_size: Optional[int] = None,
) -> Callable[..., Any]:
    """PyTorch's ``torch.func.jacrev``: a function computing the Jacobian of ``func`` with
    respect to the arguments ``argnums`` (``(jacobian, aux)`` with ``has_aux``)."""
    if chunk_size is not None and chunk_size < 1:
        raise InvalidValueError(f"jacrev: chunk_size must be positive, got {chunk_size}")
    return _jac("jacrev", func, argnums, has_aux)


def jacfwd(
    func: Callable[..., Any],
    argnums: Union[int, tuple[int, ...]] = 0,
    has_aux: bool = False,
    *,
    randomness: str = "error",
) -> Callable[..., Any]:
    """PyTorch's ``torch.func.jacfwd``: the same Jacobian as ``jacrev`` (computed here in
    reverse mode, so the values agree exactly)."""
    if randomness not in ("error", "different", "same"):
        raise InvalidValueError(
            f"jacfwd: randomness must be 'error', 'different' or 'same', got {randomness!r}"
        )
    return _jac("jacfwd", func, argnums, has_aux)


def hessian(
    func: Callable[..., Any], argnums: Union[int, tuple[int, ...]] = 0
) -> Callable[..., Any]:
    """PyTorch's ``torch.func.hessian``: ``jacfwd(jacrev(func, argnums), argnums)``."""
    return jacfwd(jacrev(func, argnums), argnums)


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
