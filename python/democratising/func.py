"""``democratising.func``: PyTorch's ``torch.func`` function transforms that plain autograd can
express: ``functional_call``, ``stack_module_state``, ``grad``, ``grad_and_value``, ``vjp``,
``jvp``, ``linearize``, ``jacrev``, ``jacfwd``, ``hessian`` and ``vmap`` (which maps by calling
the function once per batch entry and stacking the results: PyTorch's semantics and
composition with ``grad``, without its batching rules' speed). Inputs and outputs may be
tensors or (nested) tuples, lists and dicts of them, as PyTorch's pytrees."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional, Union

from . import _core
from ._core import AccumulateGrad as _AccumulateGrad
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
    "linearize",
    "replace_all_batch_norm_modules_",
    "stack_module_state",
    "vjp",
    "vmap",
]


class _TransformArgumentError(ArgumentTypeError, InvalidValueError):
    """Something other than tensors given to or returned from a transform: PyTorch raises
    ``ValueError`` or ``RuntimeError`` there, so this is both (and a ``TypeError``)."""


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


def _stacked_leaf(tensors: list[Tensor], name: str) -> Tensor:
    """One entry of ``stack_module_state``: a new leaf (requiring grad if the originals do)."""
    flags = {t.requires_grad for t in tensors}
    if len(flags) > 1:
        raise InvalidValueError(f"Expected {name} from each model to have the same .requires_grad")
    result = _core.stack(tensors, 0)
    return result.detach().requires_grad_(True) if True in flags else result


def stack_module_state(models: Sequence[Module]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """``(params, buffers)``: the parameters and buffers of ``models`` (modules of one class,
    all in the same training/eval mode) stacked along a new dim 0 by name, for ensembling with
    ``vmap(functional_call)``. The stacked parameters are new leaves an optimizer can take
    (PyTorch's ``torch.func.stack_module_state``)."""
    models = list(models)
    if not models:
        raise InvalidValueError("stack_module_state: Expected at least one model, got 0.")
    if len({bool(m.training) for m in models}) > 1:
        raise InvalidValueError(
            "stack_module_state: Expected all models to have the same training/eval mode."
        )
    if any(type(m) is not type(models[0]) for m in models):
        raise InvalidValueError("stack_module_state: Expected all models to be of the same class.")
    all_params = [dict(m.named_parameters()) for m in models]
    all_buffers = [dict(m.named_buffers()) for m in models]
    params = {k: _stacked_leaf([p[k] for p in all_params], k) for k in all_params[0]}
    buffers = {k: _stacked_leaf([b[k] for b in all_buffers], k) for k in all_buffers[0]}
    return params, buffers


def replace_all_batch_norm_modules_(root: Module) -> Module:
    """Makes every batch-norm module in ``root`` (itself included) use batch statistics only:
    its running statistics are dropped (``track_running_stats=False``), so ``vmap`` over it
    updates no shared buffers. Returns ``root``, changed in place (PyTorch's
    ``torch.func.replace_all_batch_norm_modules_``)."""
    from .nn.normalization import _BatchNorm

    for m in root.modules():
        if isinstance(m, _BatchNorm) and m.track_running_stats:
            m.running_mean = None
            m.running_var = None
            m.num_batches_tracked = None
            m.track_running_stats = False
    return root


def _leaves(x: Any, what: str = "Thing passed to transform API") -> list[Tensor]:
    """The tensors of ``x``: a tensor, or a (nested) tuple, list or dict of tensors."""
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for v in x for t in _leaves(v, what)]
    if isinstance(x, dict):
        return [t for v in x.values() for t in _leaves(v, what)]
    raise _TransformArgumentError(f"{what} must be Tensor, got {type(x)}")


def _like(x: Any, items: Any) -> Any:
    """A tuple or list of ``x``'s type holding ``items``: a named tuple (``max``'s values and
    indices, a user's own) takes them as separate arguments."""
    return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)


def _rebuild(x: Any, it: Any) -> Any:
    """``x``'s structure with its tensors replaced, in order, by the values of ``it``."""
    if isinstance(x, Tensor):
        return next(it)
    if isinstance(x, (tuple, list)):
        return _like(x, (_rebuild(v, it) for v in x))
    if isinstance(x, dict):
        return {k: _rebuild(v, it) for k, v in x.items()}
    return x


def _positions(argnums: Any, nargs: int) -> list[int]:
    """``argnums`` (an int or a tuple of distinct ints) as non-negative argument positions."""
    if type(argnums) is int and -nargs <= argnums < nargs:  # the common case, checked cheaply
        return [argnums % nargs]
    if isinstance(argnums, int) and not isinstance(argnums, bool):
        nums: tuple[Any, ...] = (argnums,)
    elif isinstance(argnums, (tuple, list)):
        nums = tuple(argnums)
        if not nums:
            raise InvalidValueError("argnums must be non-empty")
        if len(set(nums)) != len(nums):
            raise InvalidValueError(f"argnums elements must be unique, got {argnums}")
    else:
        nums = (argnums,)
    for n in nums:
        if not isinstance(n, int) or isinstance(n, bool):
            raise _TransformArgumentError(
                f"argnums must be int or Tuple[int, ...], got: {type(argnums)}"
            )
        if not -nargs <= n < nargs:
            raise InvalidValueError(f"Got argnum={n}, but only {nargs} positional inputs")
    return [n % nargs for n in nums]


def _fresh_inputs(leaves: list[Tensor]) -> list[Tensor]:
    """Inputs to differentiate at: for a tensor requiring grad, an alias of it (a view, so an
    outer transform sees through, but a node of its own: a gradient with respect to it counts
    only the uses of this input, not those of the same tensor captured by ``func`` or met at
    another level, as PyTorch's levels keep them apart), else a detached copy that does."""
    return [t.view_as(t) if t.requires_grad else t.detach().requires_grad_(True) for t in leaves]


def _reaches_other_leaf(roots: Sequence[Tensor], made: Sequence[Tensor]) -> bool:
    """Whether the graph of ``roots`` reaches a leaf requiring grad other than ``made`` (the
    detached copies a transform made of its inputs): a captured tensor, another argument, or
    an outer transform's input. Then an outer autograd sees through the transform, so the
    transform must build its graph (PyTorch's levels do this by construction)."""
    # The graph hands out a new Python object per leaf (and a made copy shares its storage
    # with the caller's tensor), so the copies are told apart by their shared requires_grad
    # flag, switched off while walking.
    for t in made:
        t.requires_grad_(False)
    try:
        # Most graphs are (nearly) trees: walk them first without naming each node (the cost
        # of remembering visited ones), and name them only if shared subgraphs exhaust a budget.
        found = _grad_leaf_in_graph(roots, 256)
        return bool(_grad_leaf_in_graph(roots, None)) if found is None else found
    finally:
        for t in made:
            t.requires_grad_(True)


def _grad_leaf_in_graph(roots: Sequence[Tensor], budget: Optional[int]) -> Optional[bool]:
    """Whether the graph of ``roots`` reaches a leaf requiring grad. Walks at most ``budget``
    nodes (None when that ran out), or remembers the visited ones (by their repr, which names
    the node: each visit gives a new Python object) when ``budget`` is None."""
    stack: list[Any] = []
    for r in roots:
        if r.requires_grad:
            node = r.grad_fn
            if node is None:
                return True
            stack.append(node)
    seen: set[str] = set()
    while stack:
        for node, _ in stack.pop().next_functions:
            if node is None:
                continue
            if type(node) is _AccumulateGrad:
                if node.variable.requires_grad:
                    return True
            elif budget is not None:
                budget -= 1
                if budget < 0:
                    return None
                stack.append(node)
            else:
                key = repr(node)
                if key not in seen:
                    seen.add(key)
                    stack.append(node)
    return False


def _made_copies(fresh: Sequence[Tensor], originals: Sequence[Tensor]) -> list[Tensor]:
    """The fresh inputs that are detached copies (not aliases of the caller's own tensors)."""
    return [f for f, t in zip(fresh, originals) if not t.requires_grad]


def _attached(ts: Sequence[Tensor], made: Sequence[Tensor], outer: bool) -> list[Tensor]:
    """A transform's results as the caller gets them: all detached unless an outer autograd
    sees through (``outer``), and then detached where they reach no leaf but the transform's
    own copies ``made`` (so they require grad exactly where PyTorch's would)."""
    if not outer:
        return [t.detach() for t in ts]
    if not made:
        return list(ts)
    return [t if not t.requires_grad or _reaches_other_leaf((t,), made) else t.detach() for t in ts]


def _attached_tree(x: Any, made: Sequence[Tensor], outer: bool) -> Any:
    """``_attached`` over ``x`` (an ``aux`` output: any nesting of anything)."""
    if isinstance(x, Tensor):
        return _attached((x,), made, outer)[0]
    if isinstance(x, (tuple, list)):
        return _like(x, (_attached_tree(v, made, outer) for v in x))
    if isinstance(x, dict):
        return {k: _attached_tree(v, made, outer) for k, v in x.items()}
    return x


def _retire(made: Sequence[Tensor]) -> None:
    """Switches off requires_grad on a finished transform's own input copies. Its results
    may keep a graph (an outer autograd sees through them) whose leaves include the copies;
    an outer transform would take them for leaves of its own level and wrongly keep a graph
    on results that PyTorch gives without one (its inner levels end with the transform)."""
    for t in made:
        t.requires_grad_(False)


def _zeros_for(grads: Sequence[Optional[Tensor]], refs: Sequence[Tensor]) -> list[Tensor]:
    """``grads`` with each ``None`` (no dependence) replaced by zeros shaped like its ref."""
    return [
        _core.zeros(t.shape, dtype=t.dtype, device=t.device) if g is None else g
        for g, t in zip(grads, refs)
    ]


def grad_and_value(
    func: Callable[..., Any], argnums: Union[int, tuple[int, ...]] = 0, has_aux: bool = False
) -> Callable[..., tuple[Any, Any]]:
    """A function returning ``(gradient, value)`` of ``func`` (which must return a one-element
    tensor, or ``(output, aux)`` with ``has_aux``; then the value is ``(output, aux)``), the
    gradient taken with respect to the arguments ``argnums`` (an int, or a tuple giving a tuple
    of gradients), each a tensor or a tuple/list/dict of tensors (PyTorch's
    ``torch.func.grad_and_value``). Under grad mode the results stay differentiable where
    they depend on a tensor requiring grad (an input, another argument, a captured tensor), so
    transforms nest and autograd sees through them."""

    def wrapper(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        pos = _positions(argnums, len(args))
        originals = {n: args[n] for n in pos}
        leaves = {n: _leaves(a) for n, a in originals.items()}
        grad_on = _core.is_grad_enabled()
        with enable_grad():
            inner = {n: _fresh_inputs(ts) for n, ts in leaves.items()}
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
                raise _TransformArgumentError(
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
            made = _made_copies(flat, [t for n in inner for t in leaves[n]])
            outer = grad_on and (
                len(made) < len(flat)
                or (output.requires_grad and _reaches_other_leaf((output,), made))
            )
            grads: Sequence[Optional[Tensor]] = [None] * len(flat)
            if output.requires_grad:  # else it does not depend on the inputs: zero gradients
                grads = _autograd_grad(output, flat, create_graph=outer, allow_unused=True)
        filled = _attached(_zeros_for(grads, flat), made, outer)
        output = output if outer else output.detach()
        if has_aux:
            aux = _attached_tree(aux, made, grad_on)
        _retire(made)
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
            f"{name}: output of function f should be a tuple: (output, aux) if has_aux is True"
        )
    return result[0], result[1]


def _output_leaves(output: Any, name: str) -> list[Tensor]:
    """The tensors of ``func``'s output, which may hold nothing else."""
    try:
        return _leaves(output)
    except _TransformArgumentError:
        bad = _first_non_tensor(output)
        raise _TransformArgumentError(
            f"{name}: expected f(*primals) to return only tensors, got unsupported type {bad}"
        ) from None


def _first_non_tensor(x: Any) -> Any:
    if isinstance(x, (tuple, list, dict)):
        for v in x.values() if isinstance(x, dict) else x:
            bad = _first_non_tensor(v)
            if bad is not None:
                return bad
        return None
    return None if isinstance(x, Tensor) else type(x)


def _same_structure(x: Any, ref: Any) -> bool:
    """Whether ``x`` nests tuples, lists and dicts exactly as ``ref`` (tensors as leaves)."""
    if isinstance(ref, (tuple, list)):
        return (
            type(x) is type(ref)
            and len(x) == len(ref)
            and all(_same_structure(a, b) for a, b in zip(x, ref))
        )
    if isinstance(ref, dict):
        return (
            isinstance(x, dict)
            and list(x) == list(ref)
            and all(_same_structure(x[k], ref[k]) for k in ref)
        )
    return isinstance(x, Tensor)


def _grads_of_pairs(
    pairs: list[tuple[Tensor, Tensor]], inputs: list[Tensor], create_graph: bool
) -> list[Optional[Tensor]]:
    """The gradients w.r.t. ``inputs`` of the ``(output, cotangent)`` pairs (None for an input
    they do not reach; all None without pairs). The graph is kept, as the products' functions
    may be called more than once."""
    if not pairs:
        return [None] * len(inputs)
    with enable_grad():
        return list(
            _autograd_grad(
                [o for o, _ in pairs],
                inputs,
                [c for _, c in pairs],
                retain_graph=True,
                create_graph=create_graph,
                allow_unused=True,
            )
        )


class _Run:
    """``func`` run under grad mode on fresh leaves ``ins`` (one per tensor of ``primals``,
    rebuilt into their structure): its ``output`` (tensors ``outs``) and ``aux`` as the
    caller gets them. ``made`` are the inputs that are detached copies; ``outer`` says whether
    an outer autograd sees through (grad mode is on and a primal requires grad or the output
    reaches another tensor that does): then results stay attached to the caller's graph."""

    def __init__(self, func: Callable[..., Any], primals: Any, has_aux: bool, name: str) -> None:
        flat_in = [t for p in primals for t in _leaves(p)]
        grad_on = _core.is_grad_enabled()
        with enable_grad():
            self.ins = _fresh_inputs(flat_in)
            it_in = iter(self.ins)
            output, aux = _split_aux(func(*[_rebuild(p, it_in) for p in primals]), has_aux, name)
            self.outs = _output_leaves(output, name)
        self.made = _made_copies(self.ins, flat_in)
        self.outer = grad_on and (
            len(self.made) < len(flat_in) or _reaches_other_leaf(self.outs, self.made)
        )
        self.output = _rebuild(output, iter(_attached(self.outs, self.made, self.outer)))
        self.aux = _attached_tree(aux, self.made, grad_on)


def vjp(func: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """PyTorch's ``torch.func.vjp``: ``(func(*primals), vjp_fn)`` (plus ``aux`` with
    ``has_aux``), where ``vjp_fn(cotangents)`` (structured like the output) returns a tuple
    with one vector-Jacobian product per primal, structured like it. Primals and outputs are
    tensors or tuples/lists/dicts of them. ``vjp_fn`` may be called more than once."""
    run = _Run(func, primals, has_aux, "vjp(f, *primals)")
    output, outs = run.output, run.outs

    def vjp_fn(cotangents: Any) -> tuple[Any, ...]:
        if not _same_structure(cotangents, output):
            raise InvalidValueError(
                "Expected pytree structure of cotangents to be the same as pytree structure "
                "of outputs to the function."
            )
        cots = _leaves(cotangents)
        for o, c in zip(outs, cots):
            if tuple(c.shape) != tuple(o.shape):
                raise ShapeError(
                    f"vjp: Expected cotangent of shape {tuple(o.shape)}, got {tuple(c.shape)}"
                )
        # Cotangents requiring grad make the products differentiable in them, as PyTorch's.
        outer = run.outer or (_core.is_grad_enabled() and any(c.requires_grad for c in cots))
        pairs = [(o, c) for o, c in zip(outs, cots) if o.requires_grad]
        for t in run.made:  # retired between calls (see `_retire`)
            t.requires_grad_(True)
        try:
            res = _zeros_for(_grads_of_pairs(pairs, run.ins, outer), run.ins)
            it = iter(_attached(res, run.made, outer))
        finally:
            _retire(run.made)
        return tuple(_rebuild(p, it) for p in primals)

    _retire(run.made)
    return (output, vjp_fn, run.aux) if has_aux else (output, vjp_fn)


class _ForwardRun(_Run):
    """A ``_Run`` set up for the double-backward trick: ``g_in`` (the inputs' gradients for
    the zero cotangents ``dummies``, built with a graph) is linear in ``dummies``, so one more
    backward through it gives Jacobian-vector products."""

    def __init__(self, func: Callable[..., Any], primals: Any, has_aux: bool, name: str) -> None:
        super().__init__(func, primals, has_aux, name)
        with enable_grad():
            live = [o for o in self.outs if o.requires_grad]
            self.dummies = [
                _core.zeros(o.shape, dtype=o.dtype, device=o.device).requires_grad_(True)
                for o in live
            ]
            self.g_in: list[Optional[Tensor]] = [None] * len(self.ins)
            if live:
                self.g_in = list(
                    _autograd_grad(
                        live, self.ins, self.dummies, create_graph=True, allow_unused=True
                    )
                )

    def product(self, tangents: list[Tensor]) -> list[Tensor]:
        """``J·tangents`` for each output tensor, one backward through ``g_in``."""
        outer = self.outer or (_core.is_grad_enabled() and any(t.requires_grad for t in tangents))
        pairs = [(g, t) for g, t in zip(self.g_in, tangents) if g is not None and g.requires_grad]
        it = iter(_grads_of_pairs(pairs, self.dummies, outer))
        out: list[Tensor] = []
        for o in self.outs:
            r = next(it) if o.requires_grad else None
            out.append(_core.zeros(o.shape, dtype=o.dtype, device=o.device) if r is None else r)
        # The dummies are this transform's own leaves too.
        return _attached(out, [*self.made, *self.dummies] if self.made else [], outer)


def _check_tangents(primals: Any, tangents: Any, name: str) -> list[Tensor]:
    """The tensors of ``tangents``, which must match ``primals`` in structure and shapes."""
    if not _same_structure(tangents, primals):
        raise InvalidValueError(
            f"{name}: Expected primals and tangents to have the same python structure"
        )
    flat_t = _leaves(tangents)
    for i, (p, t) in enumerate(zip(_leaves(primals), flat_t)):
        if tuple(p.shape) != tuple(t.shape):
            raise ShapeError(
                f"{name}: tangent:{i} with shape {tuple(t.shape)} in flattened pytree doesn't "
                f"match the shape {tuple(p.shape)} of the corresponding primal."
            )
    return flat_t


def jvp(
    func: Callable[..., Any],
    primals: Any,
    tangents: Any,
    *,
    strict: bool = False,
    has_aux: bool = False,
) -> tuple[Any, ...]:
    """PyTorch's ``torch.func.jvp``: ``(func(*primals), J·tangents)`` (plus ``aux`` with
    ``has_aux``); ``primals`` is a tuple of arguments (tensors or tuples/lists/dicts of them)
    and ``tangents`` matches it. Computed with the double-backward trick (one reverse pass
    through a reverse pass)."""
    del strict
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise _TransformArgumentError(
            "jvp(f, primals, tangents): Expected primals and tangents to be tuples"
        )
    flat_t = _check_tangents(tuple(primals), tuple(tangents), "jvp(f, primals, tangents)")
    run = _ForwardRun(func, tuple(primals), has_aux, "jvp(f, primals, tangents)")
    result = (run.output, _rebuild(run.output, iter(run.product(flat_t))))
    _retire(run.made)
    return (*result, run.aux) if has_aux else result


def linearize(func: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """PyTorch's ``torch.func.linearize``: ``(func(*primals), jvp_fn)``, where
    ``jvp_fn(*tangents)`` gives ``J·tangents`` at ``primals`` without running ``func`` again
    (each call is one backward through the kept graph)."""
    run = _ForwardRun(func, primals, False, "linearize")

    def jvp_fn(*tangents: Any) -> Any:
        flat_t = _check_tangents(primals, tangents, "linearize")
        try:
            return _rebuild(run.output, iter(run.product(flat_t)))
        finally:
            _retire(run.made)  # `product`'s graph walk switches them back on

    _retire(run.made)
    return run.output, jvp_fn


def _jac(
    name: str,
    func: Callable[..., Any],
    argnums: Union[int, tuple[int, ...]],
    has_aux: bool,
    forward: bool = False,
) -> Callable[..., Any]:
    """``jacrev``/``jacfwd``: the Jacobian of ``func`` with respect to ``argnums``: for each
    output tensor (in the output's structure) the argument's structure of blocks shaped
    ``out.shape + in.shape`` (a tuple of those, one per argnum, for tuple ``argnums``). Both
    are one reverse pass per output element here, and nest (``hessian``) because the result
    keeps a graph whenever an outer autograd sees through (as ``grad``'s)."""
    from .autograd_functional import _reverse_jacobian

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        pos = _positions(argnums, len(args))
        originals = [args[n] for n in pos]

        def selected(*ins: Any) -> Any:
            it = iter(t for a in ins for t in _leaves(a))
            new_args = list(args)
            for n, a in zip(pos, originals):
                new_args[n] = _rebuild(a, it)
            return func(*new_args, **kwargs)

        run = _Run(selected, originals, has_aux, name)
        with enable_grad():
            jac = _reverse_jacobian(run.outs, run.ins, run.outer)
        rows = iter(jac)

        def per_output(out: Tensor) -> Any:
            blocks = _attached(next(rows), run.made, run.outer)
            # (Forward mode's blocks carry the output's dtype, reverse mode's the input's.)
            it = iter([b.to(out.dtype) for b in blocks] if forward else blocks)
            per_arg = [_rebuild(a, it) for a in originals]
            return per_arg[0] if isinstance(argnums, int) else tuple(per_arg)

        result = _rebuild(run.output, (per_output(t) for t in run.outs))
        _retire(run.made)
        return (result, run.aux) if has_aux else result

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
        raise InvalidValueError("jacrev: `chunk_size` should be greater than 0.")
    return _jac("vjp(f, *primals)", func, argnums, has_aux)


def jacfwd(
    func: Callable[..., Any],
    argnums: Union[int, tuple[int, ...]] = 0,
    has_aux: bool = False,
    *,
    randomness: str = "error",
) -> Callable[..., Any]:
    """PyTorch's ``torch.func.jacfwd``: the same Jacobian as ``jacrev`` (computed here in
    reverse mode, so the values agree exactly)."""
    _check_randomness(randomness)
    jac = _jac("jvp(f, primals, tangents)", func, argnums, has_aux, forward=True)
    if randomness == "error":  # PyTorch vmaps jacfwd over the tangents
        return _no_random_ops(jac)
    return jac


def hessian(
    func: Callable[..., Any], argnums: Union[int, tuple[int, ...]] = 0
) -> Callable[..., Any]:
    """PyTorch's ``torch.func.hessian``: ``jacfwd(jacrev(func, argnums), argnums)``."""
    return jacfwd(jacrev(func, argnums), argnums)


_RANDOM_IN_ERROR_MODE = (
    "vmap: called random operation while in randomness error mode. Please either use the "
    "'same' or 'different' randomness flags on vmap or perform the randomness operation out "
    "of vmap"
)


def _check_randomness(randomness: str) -> None:
    if randomness not in ("error", "different", "same"):
        raise InvalidValueError(
            "Only allowed values for randomness are 'error', 'different', or 'same'. Got "
            f"{randomness}"
        )


def _no_random_ops(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func``, raising (as PyTorch's ``randomness="error"``) when a call drew from the
    global generator (whose state then moved)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state = _core.get_rng_state()
        result = func(*args, **kwargs)
        if _core.get_rng_state() != state:
            raise InvalidValueError(_RANDOM_IN_ERROR_MODE)
        return result

    return wrapper


def _in_dims_tree(arg: Any, dims: Any, where: str) -> Any:
    """``dims`` spread over ``arg``'s structure: an int or None applies to every tensor in it,
    a tuple/list/dict must match the structure (PyTorch's ``in_dims`` rules)."""
    if dims is None or (isinstance(dims, int) and not isinstance(dims, bool)):
        if isinstance(arg, (tuple, list)):
            return _like(arg, (_in_dims_tree(v, dims, where) for v in arg))
        if isinstance(arg, dict):
            return {k: _in_dims_tree(v, dims, where) for k, v in arg.items()}
        return dims
    if isinstance(dims, (tuple, list)) and isinstance(arg, (tuple, list)):
        if len(dims) == len(arg):
            return _like(arg, (_in_dims_tree(v, d, where) for v, d in zip(arg, dims)))
    elif isinstance(dims, dict) and isinstance(arg, dict):
        if set(dims) == set(arg):
            return {k: _in_dims_tree(v, dims[k], where) for k, v in arg.items()}
    elif not isinstance(dims, (tuple, list, dict)):
        raise InvalidValueError(
            f"{where}: Got in_dim={dims} for an input but in_dim must be either an integer "
            "dimension or None."
        )
    raise InvalidValueError(
        f"{where}: in_dims is not compatible with the structure of `inputs`. in_dims {dims!r} "
        f"does not match an input of type {type(arg).__name__}"
    )


def _batch_size(arg: Any, dims: Any, sizes: list[int], where: str) -> None:
    """Collects the mapped size of every batched tensor of ``arg`` into ``sizes``."""
    if isinstance(arg, Tensor):
        if dims is not None:
            if not -arg.ndim <= dims < arg.ndim:
                raise ShapeError(
                    f"{where}: Got in_dim={dims} for some input, but that input is a Tensor of "
                    f"dimensionality {arg.ndim} so expected in_dim to satisfy "
                    f"-{arg.ndim} <= in_dim < {arg.ndim}."
                )
            sizes.append(arg.shape[dims])
    elif isinstance(arg, (tuple, list)):
        for v, d in zip(arg, dims):
            _batch_size(v, d, sizes, where)
    elif isinstance(arg, dict):
        for k, v in arg.items():
            _batch_size(v, dims[k], sizes, where)
    elif dims is not None:
        raise _TransformArgumentError(
            f"{where}: Got in_dim={dims} for an input but the input is of type {type(arg)}. "
            "We cannot vmap over non-Tensor arguments, please use None as the respective in_dim"
        )


#: ``_entry``'s placeholders for a batch of size 0: zeros, or identity matrices (ones below
#: two dims) for a function that refuses zeros (``inv``, ``cholesky``).
_ZEROS, _IDENTITY = -1, -2


def _entry(arg: Any, dims: Any, i: int) -> Any:
    """``arg`` with entry ``i`` of each batched tensor selected along its mapped dim; with
    ``i`` one of the placeholders (a batch of size 0) a placeholder of an entry's shape."""
    if isinstance(arg, Tensor):
        if dims is None:
            return arg
        if i < 0:
            shape = [n for d, n in enumerate(arg.shape) if d != dims % arg.ndim]
            zeros = _core.zeros(shape, dtype=arg.dtype, device=arg.device)
            if i == _ZEROS:
                return zeros
            if len(shape) < 2:
                return zeros + 1
            eye = _core.eye(shape[-2], shape[-1], dtype=arg.dtype, device=arg.device)
            return zeros + eye
        return arg.select(dims, i)
    if isinstance(arg, (tuple, list)):
        return _like(arg, (_entry(v, d, i) for v, d in zip(arg, dims)))
    if isinstance(arg, dict):
        return {k: _entry(v, dims[k], i) for k, v in arg.items()}
    return arg


def _unmapped_tensors(arg: Any, dims: Any) -> list[Tensor]:
    """The tensors of ``arg`` passed whole (in_dim ``None``) to every call."""
    if isinstance(arg, Tensor):
        return [arg] if dims is None else []
    if isinstance(arg, (tuple, list)):
        return [t for v, d in zip(arg, dims) for t in _unmapped_tensors(v, d)]
    if isinstance(arg, dict):
        return [t for k, v in arg.items() for t in _unmapped_tensors(v, dims[k])]
    return []


def _versions_of(x: Any) -> list[tuple[Tensor, int]]:
    """The tensors of one entry's result with their version counters, as returned."""
    if isinstance(x, Tensor):
        return [(x, x._version)]
    if isinstance(x, (tuple, list)):
        return [p for v in x for p in _versions_of(v)]
    if isinstance(x, dict):
        return [p for v in x.values() for p in _versions_of(v)]
    return []


def _check_returned_unchanged(returned: list[list[tuple[Tensor, int]]], where: str) -> None:
    """Refuses results that alias one memory written in place by a later entry (a captured
    tensor updated with ``add_``, say): the stacked result would repeat its last value.
    PyTorch's batched in-place write into an unbatched tensor raises too."""
    changed = [t for entry in returned for t, v in entry if t._version != v]
    if not changed:
        return
    ptrs: dict[int, int] = {}
    for k, entry in enumerate(returned):
        for t, _ in entry:
            if ptrs.setdefault(t.data_ptr(), k) != k and t.numel():
                ptrs[t.data_ptr()] = -1  # returned by two entries
    if any(ptrs.get(t.data_ptr()) == -1 for t in changed):
        raise InvalidValueError(
            f"{where}: the function wrote in place into a tensor that is not batched (one "
            "captured from outside, it is returned by several entries); this vmap calls the "
            "function once per entry, so each write repeats and every entry would see the "
            "last one. Clone it inside the function, or pass it as a mapped input."
        )


def _stacked(outs: list[Any], dims: Any, where: str, empty: bool) -> Any:
    """The per-entry results stacked along ``out_dims`` (matching their structure); with
    ``empty``, ``outs`` is one placeholder result and the batch has size 0."""
    first = outs[0]
    if dims is None:  # PyTorch returns an unmapped output (of any type) as it is
        if isinstance(first, Tensor) and any(_varies(first, o) for o in outs[1:]):
            # The output depends on the mapped entry: PyTorch's output is then a batched
            # tensor, which out_dim None refuses.
            name = where.split("(", 1)[1].split(",", 1)[0]
            raise InvalidValueError(
                f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim is None"
            )
        return first
    if isinstance(first, Tensor):
        if not isinstance(dims, int) or isinstance(dims, bool):
            raise InvalidValueError(
                f"{where}: out_dims is not compatible with the structure of `outputs` "
                f"({dims!r} for a Tensor)"
            )
        stacked = _core.stack(outs, dims)
        return stacked.narrow(dims, 0, 0) if empty else stacked
    if isinstance(first, (tuple, list)):
        per = dims if isinstance(dims, (tuple, list)) else [dims] * len(first)
        if len(per) != len(first):
            raise InvalidValueError(
                f"{where}: out_dims is not compatible with the structure of `outputs`. "
                f"out_dims has {len(per)} entries but outputs has {len(first)}"
            )
        return _like(
            first, (_stacked([o[j] for o in outs], d, where, empty) for j, d in enumerate(per))
        )
    if isinstance(first, dict):
        return {
            k: _stacked(
                [o[k] for o in outs], dims[k] if isinstance(dims, dict) else dims, where, empty
            )
            for k in first
        }
    name = where.split("(", 1)[1].split(",", 1)[0]
    raise _TransformArgumentError(
        f"{where}: `{name}` must only return Tensors, got type {type(first)}. Did you mean to "
        "set out_dims= to None for output?"
    )


def _varies(first: Tensor, other: Any) -> bool:
    """Whether one entry's result ``other`` differs from the first entry's (so the result
    depends on the mapped inputs)."""
    if other is first:
        return False
    if not isinstance(other, Tensor) or tuple(other.shape) != tuple(first.shape):
        return True
    diff = other != first
    if first.dtype.is_floating_point:  # NaN in both places is the same result
        diff = diff & ~(other.isnan() & first.isnan())
    return bool(diff.any())


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
    the cost of a Python loop (``chunk_size`` changes nothing then). ``randomness`` is
    PyTorch's: ``"error"`` raises when ``func`` draws random numbers, ``"different"`` draws
    independently per entry, ``"same"`` repeats one draw for every entry. Writing in place
    into a tensor passed whole is an error, as the loop would apply it once per entry."""
    _check_randomness(randomness)
    if chunk_size is not None and chunk_size < 1:
        raise InvalidValueError(
            f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})"
        )
    fname = getattr(func, "__name__", repr(func))

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        where = f"vmap({fname}, in_dims={in_dims!r}, ...)(<inputs>)"
        if not args:
            raise InvalidValueError(
                f"vmap({fname})(<inputs>): got no inputs. Maybe you forgot to add inputs, or "
                "you are trying to vmap over a function with no inputs. The latter is "
                "unsupported."
            )
        if isinstance(in_dims, (tuple, list)):
            if len(in_dims) != len(args):
                raise InvalidValueError(
                    f"{where}: in_dims is not compatible with the structure of `inputs`. "
                    f"in_dims has {len(in_dims)} entries but the function got {len(args)} "
                    "positional arguments"
                )
            dims = [_in_dims_tree(a, d, where) for a, d in zip(args, in_dims)]
        elif isinstance(in_dims, int) and not isinstance(in_dims, bool):
            dims = [_in_dims_tree(a, in_dims, where) for a in args]
        else:
            raise InvalidValueError(
                f"{where}: expected `in_dims` to be int or a (potentially nested) tuple "
                f"matching the structure of inputs, got: {type(in_dims)}."
            )
        sizes: list[int] = []
        for a, d in zip(args, dims):
            _batch_size(a, d, sizes, where)
        if not sizes:
            raise InvalidValueError(
                f"{where}: at least one input must be a Tensor mapped over a dim (in_dim not None)"
            )
        if len(set(sizes)) != 1:
            raise ShapeError(
                f"{where}: Expected all tensors to have the same size in the mapped dimension, "
                f"got sizes {sizes} for the mapped dimension"
            )
        unmapped = [t for a, d in zip(args, dims) for t in _unmapped_tensors(a, d)]
        versions = [t._version for t in unmapped]
        state = _core.get_rng_state()
        outs = []
        returned: list[list[tuple[Tensor, int]]] = []
        for i in range(sizes[0]) if sizes[0] else [_ZEROS]:
            if randomness == "same":  # every entry replays the same draws
                _core.set_rng_state(state)
            try:
                res = func(*[_entry(a, d, i) for a, d in zip(args, dims)], **kwargs)
            except RuntimeError:
                if i != _ZEROS:
                    raise
                # (Only the placeholder result's shape is kept: zeros may be singular.)
                res = func(*[_entry(a, d, _IDENTITY) for a, d in zip(args, dims)], **kwargs)
            outs.append(res)
            returned.append(_versions_of(res))
        # Checked once after the loop (not per entry) to keep the loop lean.
        if randomness == "error" and _core.get_rng_state() != state:
            raise InvalidValueError(_RANDOM_IN_ERROR_MODE)
        if unmapped and [t._version for t in unmapped] != versions:
            raise InvalidValueError(
                f"{where}: the function wrote in place into an input passed whole (in_dim "
                "None); this vmap calls the function once per entry, so the write would "
                "repeat. Clone the input inside the function, or map over it."
            )
        if len(returned) > 1:
            _check_returned_unchanged(returned, where)
        where = f"vmap({fname}, ..., out_dims={out_dims!r})(<inputs>)"
        return _stacked(outs, out_dims, where, empty=sizes[0] == 0)

    wrapped.__name__ = getattr(func, "__name__", "vmapped")
    wrapped.__doc__ = getattr(func, "__doc__", None)
    return wrapped
