"""``autograd.Function``: user-defined forward/backward pairs, as in PyTorch."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Optional, TypeVar

from . import _core
from . import autograd_forward_ad as _forward_ad
from ._core import Tensor
from ._function_ctx import FunctionCtx
from ._grad_mode import no_grad
from .autograd_graph import current_saved_tensors_hooks as _current_hooks
from .errors import ArgumentTypeError, AutogradError, ShapeError

_Fn = TypeVar("_Fn", bound=Callable[..., Any])


def once_differentiable(fn: _Fn) -> _Fn:
    """Decorates ``backward``: it runs without recording, so a backward pass with
    ``create_graph=True`` cannot differentiate through it again; differentiating its results
    a second time raises (as in PyTorch)."""

    @functools.wraps(fn)
    def wrapper(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        with no_grad():
            outputs = fn(ctx, *args, **kwargs)
        if not _core.is_grad_enabled() or not any(
            isinstance(a, Tensor) and a.requires_grad for a in args
        ):
            return outputs
        # The incoming gradients carry a graph: the results get a node that refuses to be
        # differentiated, so a double backward through them fails instead of dropping terms.
        # As in PyTorch (DelayedError), the node hangs off a fresh leaf, not the incoming
        # gradients: a grad w.r.t. the inputs or those gradients with allow_unused sees no
        # path (None), while a backward that reaches the node raises.

        def refuse(grad: Tensor) -> list[Any]:
            raise AutogradError(
                "trying to differentiate twice a function that was marked with @once_differentiable"
            )

        def tie(o: Any) -> Any:
            if isinstance(o, Tensor) and o.dtype.is_floating_point:
                return _core._record_function(o, [o.detach().requires_grad_()], refuse)
            return o

        if isinstance(outputs, tuple):
            return tuple(tie(o) for o in outputs)
        return tie(outputs)

    wrapper._once_differentiable = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _apply_forward_mode(cls: type[Function], args: tuple[Any, ...]) -> Any:
    """A forward-mode-only Function (``jvp``, no ``backward``) applied to dual tensors: the
    forward on the primals, then ``jvp`` on their tangents (zeros for inputs without one),
    each output made dual with its tangent. None when no input carries a tangent."""
    tangents = [_forward_ad.unpack_dual(a).tangent if isinstance(a, Tensor) else None for a in args]
    if all(t is None for t in tangents):
        return None
    plain = tuple(a.detach() if isinstance(a, Tensor) else a for a in args)
    ctx = FunctionCtx(plain)
    with no_grad():
        out = cls._run_forward(ctx, plain)
        tin = [
            t if t is not None or not isinstance(a, Tensor) else a.new_zeros(a.shape)
            for a, t in zip(plain, tangents)
        ]
        tout = cls.jvp(ctx, *tin)  # type: ignore[attr-defined]
    outs = out if isinstance(out, tuple) else (out,)
    touts = tout if isinstance(tout, tuple) else (tout,)
    res = tuple(
        _forward_ad.make_dual(o, t) if isinstance(o, Tensor) and t is not None else o
        for o, t in zip(outs, touts)
    )
    return res if isinstance(out, tuple) else res[0]


class Function:
    """Subclass with ``@staticmethod forward(ctx, *args)`` and ``backward(ctx, *grads)`` (or
    ``forward(*args)`` plus ``setup_context(ctx, inputs, output)``), then call
    ``MyFn.apply(*args)``. ``backward`` returns one gradient (or None) per ``forward``
    argument. With several outputs, gradients flow through each output's own node (backward is
    linear in its incoming gradients, so the results add up exactly); an output without a
    gradient receives zeros, or ``None`` after ``ctx.set_materialize_grads(False)``."""

    @staticmethod
    def forward(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple[Any, ...], output: Any) -> None:
        raise NotImplementedError("setup_context is not defined for this Function")

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD."
        )

    # PyTorch: ``vjp`` and ``backward`` are aliases; a subclass may define either.
    vjp = backward

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The pre-1.3 style (an instance called like a module), which PyTorch refuses the same way.
        raise AutogradError(
            "Legacy autograd function with non-static forward method is deprecated. Please use "
            f"new-style autograd function with static forward method: {type(self).__name__}"
            ".apply(...)"
        )

    @classmethod
    def _user_backward(cls) -> Callable[..., Any]:
        backward_overridden = cls.backward is not Function.backward
        vjp_overridden = cls.vjp is not Function.vjp
        if backward_overridden and vjp_overridden:
            raise AutogradError(
                "Implementing both 'backward' and 'vjp' for a custom Function is not allowed. "
                "You should only implement one of them."
            )
        return cls.vjp if vjp_overridden else cls.backward

    @classmethod
    def _jvp_only(cls) -> bool:
        """A Function with a ``jvp`` and neither ``backward`` nor ``vjp``: forward mode only."""
        return (
            callable(getattr(cls, "jvp", None))
            and cls.backward is Function.backward
            and cls.vjp is Function.vjp
        )

    @classmethod
    def _has_setup_context(cls) -> bool:
        return cls.setup_context is not Function.setup_context

    @classmethod
    def _run_forward(cls, ctx: FunctionCtx, args: tuple[Any, ...]) -> Any:
        """``forward`` in either style: ``forward(ctx, *args)``, or ``forward(*args)`` then
        ``setup_context(ctx, args, output)``."""
        if cls._has_setup_context():
            out = cls.forward(*args)
            cls.setup_context(ctx, args, out)
            return out
        return cls.forward(ctx, *args)

    @classmethod
    def _bind(cls, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """Keyword arguments (and defaults) bound to ``forward``'s parameters, in order, so
        each input has a position for ``needs_input_grad`` and ``backward``'s results. As in
        PyTorch, defaults are bound only with ``setup_context`` (its ``inputs`` then has an
        entry per parameter) or when keywords are passed."""
        info = cls.__dict__.get("_bind_info")
        if info is None:
            info = _bind_info(cls)
        sig, n_min = info
        if not kwargs and len(args) >= n_min:
            return args
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise ArgumentTypeError(f"{cls.__name__}.apply(): {exc}") from None
        bound.apply_defaults()
        if bound.kwargs:
            raise ArgumentTypeError(
                f"{cls.__name__}.apply(): keyword-only forward arguments are not supported"
            )
        return tuple(bound.args)

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        args = cls._bind(args, kwargs)
        if _forward_ad._current_level >= 0 and cls._jvp_only():
            dual = _apply_forward_mode(cls, args)
            if dual is not None:
                return dual
        ctx = FunctionCtx(args)
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls._run_forward(ctx, args)
        outs = out if isinstance(out, tuple) else (out,)
        if ctx._dirty_tensors:
            _check_dirty_returned(ctx, outs)
        if not any(ctx.needs_input_grad) or not _core.is_grad_enabled():
            ctx._saved_raw = ()
            if ctx._non_diff:
                inputs = [a for a in args if isinstance(a, Tensor)]
                plain = [_non_diff_output(ctx, inputs, o) for o in outs]
                return tuple(plain) if isinstance(out, tuple) else plain[0]
            return out
        if any(t.is_leaf and t.requires_grad for t in ctx._dirty_tensors):
            raise AutogradError(
                "a leaf Variable that requires grad has been used in an in-place operation."
            )
        node = _Node(cls, ctx, args, outs)
        diff = node.diff
        # With saved-tensor hooks the node keeps stand-ins for its inputs (taken before a
        # dirty input's history is rewritten), so the hooks alone decide what stays alive.
        hooks = _current_hooks() if ctx._saved_raw else None
        stand_ins = [_stand_in(t) for t in node.inputs] if hooks is not None else None
        if _packable(outs, diff, node.inputs, ctx):
            wrapped = list(
                _packed_outputs(
                    outs,
                    diff,
                    node.inputs,
                    node.run,
                    node.other_grad,
                    node.out_meta,
                    node.differentiable,
                    node.name,
                )
            )
        else:
            wrapped = list(outs)
            for k in diff:
                wrapped[k] = node.record(outs[k], k, node.differentiable)
            if ctx._dirty_tensors:
                wrapped = [_dirty_output(ctx, o, w) for o, w in zip(outs, wrapped)]
            if ctx._non_diff:
                wrapped = [_non_diff_output(ctx, node.inputs, w) for w in wrapped]
        if hooks is not None and stand_ins is not None:
            ids = {id(t): st for t, st in zip(node.inputs, stand_ins)}
            ctx._pack(hooks, {id(o): w for o, w in zip(outs, wrapped)}, ids)
            node.inputs = stand_ins
        ctx._saved_raw = ()
        if not node.saved_out:
            node.inputs = []  # (only a graph-building pass re-attaching saved outputs needs them)
        return tuple(wrapped) if isinstance(out, tuple) else wrapped[0]


class _Node:
    """The backward side of one ``Function.apply``: calls the user's ``backward`` and checks
    its results. A plain object (not nested closures), so the graph's nodes reference it and
    it references none of them: no reference cycle keeps ``ctx`` and its tensors alive. It
    keeps the shapes of the inputs and outputs, not the tensors (``inputs`` only while a
    saved output may need re-attaching), so what ``checkpoint`` or ``save_on_cpu`` drops is
    freed; when the graph drops it, ``ctx``'s saved tensors go too."""

    __slots__ = (
        "arg_meta",
        "ctx",
        "diff",
        "differentiable",
        "fn_name",
        "inputs",
        "name",
        "once",
        "out_meta",
        "saved_out",
        "tensor_pos",
        "user_backward",
    )

    def __init__(
        self, cls: type[Function], ctx: FunctionCtx, args: tuple[Any, ...], outs: tuple[Any, ...]
    ) -> None:
        self.fn_name = cls.__name__
        self.ctx = ctx
        arg_meta: list[Optional[tuple[Any, ...]]] = []
        tensor_pos: list[int] = []
        inputs: list[Tensor] = []
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                arg_meta.append((a.shape, a.dtype))
                tensor_pos.append(i)
                inputs.append(a)
            else:
                arg_meta.append(None)
        self.arg_meta, self.tensor_pos, self.inputs = arg_meta, tensor_pos, inputs
        self.out_meta = [
            (o.shape, o.dtype, o.device) if isinstance(o, Tensor) else None for o in outs
        ]
        self.user_backward = cls._user_backward()
        ctx._watch_saved()
        self.diff = [
            k
            for k, o in enumerate(outs)
            if isinstance(o, Tensor) and o.dtype.is_floating_point and id(o) not in ctx._non_diff
        ]
        # Saved outputs are re-attached to this node when a backward builds a graph; a saved
        # intermediate would be a constant there. A once-differentiable backward records
        # nothing, so it may run under create_graph.
        self.saved_out, constant = _saved_outputs(ctx, outs, self.diff)
        self.once = getattr(self.user_backward, "_once_differentiable", False)
        self.differentiable = self.once or not constant
        self.name = f"{self.fn_name}Backward"  # the node's name, as PyTorch's

    def __del__(self) -> None:
        self.ctx._release()

    def record(self, t: Tensor, k: int, differentiable: bool) -> Tensor:
        """``t`` recorded as output ``k`` of this Function (its gradient goes to ``run``)."""
        return _core._record_function(
            t, self.inputs, functools.partial(self.single, k), differentiable, self.name
        )

    def other_grad(self, meta: Optional[tuple[Any, ...]]) -> Optional[Tensor]:
        if meta is None or not self.ctx.materialize_grads:
            return None
        shape, dtype, device = meta
        return _core.zeros(shape, dtype=dtype, device=device)

    def single(self, k: int, grad: Tensor) -> list[Any]:
        return self.run(
            [grad if j == k else self.other_grad(m) for j, m in enumerate(self.out_meta)]
        )

    def call_backward(self, grads: list[Any]) -> Any:
        ctx = self.ctx
        if self.once or not _core.is_grad_enabled():
            return self.user_backward(ctx, *grads)
        # A graph-building backward: ``ctx.saved_tensors`` re-attaches each saved output to
        # this Function's node (a fresh tensor per read, so ctx holds none and stays out of a
        # reference cycle) and checks that unpacked inputs kept their history.
        ctx._node = self
        try:
            return self.user_backward(ctx, *grads)
        finally:
            ctx._node = None

    def run(self, grads: list[Any]) -> list[Any]:
        self.ctx._check_saved()
        meta, fn_name = self.arg_meta, self.fn_name
        res = self.call_backward(grads)
        res = res if isinstance(res, tuple) else (res,)
        # PyTorch accepts trailing Nones beyond the number of forward arguments.
        if len(res) > len(meta) and all(r is None for r in res[len(meta) :]):
            res = res[: len(meta)]
        if len(res) != len(meta):
            raise AutogradError(
                f"function {fn_name}Backward returned an incorrect number of "
                f"gradients (expected {len(meta)}, got {len(res)})"
            )
        for i, (m, r) in enumerate(zip(meta, res)):
            if r is not None and m is None:
                raise AutogradError(
                    f"function {fn_name}Backward returned a gradient different than "
                    f"None at position {i + 1}, but the corresponding forward input was "
                    "not a Variable"
                )
        grads_in = [_fit_grad(fn_name, k, res[i], meta[i]) for k, i in enumerate(self.tensor_pos)]
        if _anomaly_check_nan():
            for k, g in enumerate(grads_in):
                if isinstance(g, Tensor) and g.dtype.is_floating_point and bool(g.isnan().any()):
                    raise AutogradError(
                        f"Function '{fn_name}Backward' returned nan values in its {k}th output."
                    )
        return grads_in


def _identity_grad(grad: Tensor) -> list[Tensor]:
    return [grad]


def _stand_in(inp: Tensor) -> Tensor:
    """Zeros shaped like ``inp`` broadcast from one element, recorded as ``inp`` itself (its
    gradient passes through): a carrier of ``inp``'s history that keeps none of its data."""
    zero = _core.zeros(1, dtype=inp.dtype, device=inp.device).reshape(())
    if inp.dim():
        zero = zero.expand(inp.shape)
    return _core._record_function(zero, [inp], _identity_grad, True)


def _bind_info(cls: type[Function]) -> tuple[inspect.Signature, int]:
    """``forward``'s signature (without ``ctx`` in the old style) and how many positional
    arguments make binding unnecessary, cached on the class: ``apply`` is a hot path."""
    sig = inspect.signature(cls.forward)
    params = list(sig.parameters.values())
    if not cls._has_setup_context():  # skip ``ctx``; PyTorch binds no defaults here
        sig = sig.replace(parameters=params[1:])
        n_min = 0
    else:
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        n_min = sum(1 for p in params if p.kind in positional)
    info = (sig, n_min)
    type.__setattr__(cls, "_bind_info", info)
    return info


def _check_dirty_returned(ctx: FunctionCtx, outs: tuple[Any, ...]) -> None:
    """PyTorch refuses an input marked dirty that ``forward`` does not return: its history
    could not be rewritten, so a later backward through it would be wrong."""
    for t in ctx._dirty_tensors:
        if not any(o is t for o in outs):
            raise AutogradError(
                "Some elements marked as dirty during the forward method were not returned as "
                "output. The inputs that are modified inplace must all be outputs of the "
                "Function."
            )


def _non_diff_output(ctx: FunctionCtx, inputs: list[Tensor], out: Any) -> Any:
    """An input returned and marked non-differentiable comes back as a new alias without a
    graph (PyTorch), so no gradient bypasses the Function through it."""
    if (
        isinstance(out, Tensor)
        and id(out) in ctx._non_diff
        and any(out is t for t in inputs)
        and not any(out is t for t in ctx._dirty_tensors)
    ):
        return out.detach()
    return out


def _saved_outputs(
    ctx: FunctionCtx, outs: tuple[Any, ...], diff: list[int]
) -> tuple[dict[int, int], bool]:
    """Which saved tensors are differentiable outputs (position in ``saved_tensors`` ->
    output index), and whether another saved non-input (an intermediate) makes a
    graph-building backward refuse. A saved non-differentiable output is a constant."""
    raw = ctx._saved_raw
    if not ctx._saved_other:
        return {}, False
    saved_out: dict[int, int] = {}
    constant = False
    for i, t in enumerate(raw):
        if t is None or id(t) not in ctx._saved_other:
            continue
        k = next((k for k, o in enumerate(outs) if o is t), None)
        if k is not None and k in diff:
            saved_out[i] = k
        elif k is None or id(t) not in ctx._non_diff:
            constant = True
    return saved_out, constant


def _dirty_output(ctx: FunctionCtx, out: Any, wrapped: Any) -> Any:
    """The object to return for ``out``: an input marked dirty (written in place by
    ``forward``) is returned itself, with the Function's node as its history, as in PyTorch
    (``y is x``); a dirty view takes it through ``copy_`` (its base's history changes too)."""
    if wrapped is out or not any(out is t for t in ctx._dirty_tensors):
        return wrapped
    if out._is_view():
        out.copy_(wrapped)
    else:
        _core._rebase_history(out, wrapped)
    return out


def _anomaly_check_nan() -> bool:
    """Whether ``detect_anomaly`` (with ``check_nan``) is on: a custom backward's gradients
    are then checked for NaN, as PyTorch checks every node's."""
    from . import autograd

    return autograd.is_anomaly_enabled() and autograd.is_anomaly_check_nan_enabled()


def _fit_grad(name: str, index: int, grad: Any, meta: Any) -> Any:
    """PyTorch's ``validate_outputs`` for a custom backward's gradient of an input (``meta``:
    its shape and dtype): a gradient whose shape the input broadcasts to is summed back to
    the input's shape; any other shape raises. A gradient of another floating dtype is cast
    to the input's."""
    if not isinstance(grad, Tensor):
        return grad
    shape, dtype = tuple(meta[0]), meta[1]
    gshape = tuple(grad.shape)
    if gshape != shape:
        lead = len(gshape) - len(shape)
        if lead < 0 or any(s != 1 and s != g for s, g in zip(shape, gshape[lead:])):
            raise ShapeError(
                f"Function {name}Backward returned an invalid gradient at index {index} - got "
                f"{list(gshape)} but expected shape compatible with {list(shape)}"
            )
        if lead:
            grad = grad.sum(dim=tuple(range(lead)))
        dims = tuple(d for d, (s, g) in enumerate(zip(shape, gshape[lead:])) if s == 1 and g != 1)
        if dims:
            grad = grad.sum(dim=dims, keepdim=True)
    if grad.dtype != dtype and grad.dtype.is_floating_point and dtype.is_floating_point:
        grad = grad.to(dtype)
    return grad


def _packable(outs: tuple[Any, ...], diff: list[int], inputs: list[Tensor], ctx: Any) -> bool:
    """Whether a multi-output Function's differentiable outputs can share one graph node, so
    that its backward runs once for all of them (as in PyTorch): several outputs of one dtype
    and device, gradients materialised, none of them an input (``mark_dirty``)."""
    if len(diff) < 2 or not ctx.materialize_grads or ctx._dirty_tensors:
        return False
    first = outs[diff[0]]
    ids = {id(t) for t in inputs}
    return all(
        outs[k].dtype == first.dtype and outs[k].device == first.device and id(outs[k]) not in ids
        for k in diff
    )


def _packed_outputs(
    outs: tuple[Any, ...],
    diff: list[int],
    inputs: list[Tensor],
    run_backward: Callable[[list[Any]], list[Any]],
    other_grad: Callable[[Any], Optional[Tensor]],
    out_meta: list[Any],
    differentiable: bool,
    name: str,
) -> tuple[Any, ...]:
    """The outputs as views of one flat tensor recorded with a single node: its gradient (the
    outputs' gradients side by side, zeros for an unused one) is split back and handed to the
    user's backward in one call."""
    sizes = [outs[k].numel() for k in diff]
    shapes = [tuple(outs[k].shape) for k in diff]

    def backward(flat_grad: Tensor) -> list[Any]:
        grads = [other_grad(m) for m in out_meta]
        for k, piece, shape in zip(diff, flat_grad.split(sizes), shapes):
            grads[k] = piece.reshape(shape)
        return run_backward(grads)

    flat = _core.cat([outs[k].reshape(-1) for k in diff], 0)
    flat = _core._record_function(flat, inputs, backward, differentiable=differentiable, name=name)
    result = list(outs)
    for k, piece, shape in zip(diff, flat.split(sizes), shapes):
        result[k] = piece.view(shape)
    return tuple(result)
