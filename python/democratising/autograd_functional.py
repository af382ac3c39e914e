"""``democratising.autograd.functional``: PyTorch's higher-level autograd functions
(``jacobian``, ``hessian``, ``vjp``, ``jvp``, ``vhp``, ``hvp``), built on
``democratising.autograd.grad``. Forward-mode products use the double-backward trick, so every
function works wherever the engine's reverse mode (with ``create_graph=True``) does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

from ._core import Tensor
from ._grad_mode import enable_grad, set_grad_enabled
from .errors import ArgumentTypeError, AutogradError, InvalidValueError, ShapeError

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]

Tensors = Union[Tensor, tuple[Tensor, ...]]


def _grad(*args: Any, **kwargs: Any) -> tuple[Optional[Tensor], ...]:
    from .autograd import grad

    return grad(*args, **kwargs)


def _is_grad_enabled() -> bool:
    from . import is_grad_enabled

    return bool(is_grad_enabled())


def _zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    from . import zeros_like

    return zeros_like(t, requires_grad=requires_grad)


def _as_tuple(inp: Any, arg_name: str, fn_name: str) -> tuple[bool, tuple[Tensor, ...]]:
    is_tuple = isinstance(inp, tuple)
    items = inp if is_tuple else (inp,)
    for i, el in enumerate(items):
        if not isinstance(el, Tensor):
            where = f"the value at index {i}" if is_tuple else f"the given {arg_name}"
            raise ArgumentTypeError(
                f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple of "
                f"Tensors but {where} has type {type(el)}."
            )
    return is_tuple, items


def _tuple_postprocess(res: Any, to_unpack: Union[bool, tuple[bool, bool]]) -> Any:
    if isinstance(to_unpack, tuple):
        if not to_unpack[1]:
            res = tuple(el[0] for el in res)
        if not to_unpack[0]:
            res = res[0]
    elif not to_unpack:
        res = res[0]
    return res


def _grad_preprocess(
    inputs: tuple[Tensor, ...], create_graph: bool, need_graph: bool
) -> tuple[Tensor, ...]:
    res = []
    for inp in inputs:
        if create_graph and inp.requires_grad:
            res.append(inp.view_as(inp))
        else:
            res.append(inp.detach().requires_grad_(need_graph))
    return tuple(res)


def _grad_postprocess(inputs: tuple[Any, ...], create_graph: bool) -> tuple[Any, ...]:
    if len(inputs) == 0 or isinstance(inputs[0], Tensor):
        return inputs if create_graph else tuple(inp.detach() for inp in inputs)
    return tuple(_grad_postprocess(inp, create_graph) for inp in inputs)


def _validate_v(v: tuple[Tensor, ...], other: tuple[Tensor, ...], is_other_tuple: bool) -> None:
    if len(other) != len(v):
        if is_other_tuple:
            raise ShapeError(
                f"v is a tuple of invalid length: should be {len(other)} but got {len(v)}."
            )
        raise ShapeError("The given v should contain a single Tensor.")
    for idx, (el_v, el_other) in enumerate(zip(v, other)):
        if tuple(el_v.shape) != tuple(el_other.shape):
            prepend = f"Entry {idx} in " if is_other_tuple else ""
            raise ShapeError(
                f"{prepend}v has invalid size: should be {tuple(el_other.shape)} but got "
                f"{tuple(el_v.shape)}."
            )


def _check_requires_grad(inputs: tuple[Optional[Tensor], ...], kind: str, strict: bool) -> None:
    if not strict:
        return
    for i, inp in enumerate(inputs):
        if inp is None:
            raise AutogradError(
                f"The output of the user-provided function is independent of input {i}. This "
                "is not allowed in strict mode."
            )
        if inp.requires_grad:
            continue
        if kind == "hessian":
            raise AutogradError(
                f"The hessian of the user-provided function with respect to input {i} is "
                "independent of the input. This is not allowed in strict mode. You should "
                "ensure that your function is thrice differentiable and that the hessian "
                "depends on the inputs."
            )
        if kind == "jacobian":
            raise AutogradError(
                "While computing the hessian, found that the jacobian of the user-provided "
                f"function with respect to input {i} is independent of the input. This is not "
                "allowed in strict mode. You should ensure that your function is twice "
                "differentiable and that the jacobian depends on the inputs (this would be "
                "violated by a linear function for example)."
            )
        if kind == "grad_inputs":
            raise AutogradError(
                f"The gradient with respect to input {i} is independent of the inputs of the "
                "user-provided function. This is not allowed in strict mode."
            )
        raise AutogradError(
            f"Output {i} of the user-provided function does not require gradients. The outputs "
            "must be computed in a differentiable manner from the input when running in "
            "strict mode."
        )


def _autograd_grad(
    outputs: tuple[Optional[Tensor], ...],
    inputs: tuple[Tensor, ...],
    grad_outputs: Optional[tuple[Optional[Tensor], ...]] = None,
    create_graph: bool = False,
    retain_graph: Optional[bool] = None,
) -> tuple[Optional[Tensor], ...]:
    gos: tuple[Optional[Tensor], ...] = (
        grad_outputs if grad_outputs is not None else (None,) * len(outputs)
    )
    new_outs: list[Tensor] = []
    new_gos: list[Optional[Tensor]] = []
    for out, go in zip(outputs, gos):
        if out is not None and out.requires_grad:
            new_outs.append(out)
            new_gos.append(go)
    if not new_outs:
        return (None,) * len(inputs)
    return _grad(
        new_outs,
        list(inputs),
        new_gos,
        retain_graph=retain_graph,
        create_graph=create_graph,
        allow_unused=True,
    )


_FILL_MESSAGES = {
    "back": "The output of the user-provided function is independent of input {i}. This is "
    "not allowed in strict mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the "
    "grad_outputs when using the double backward trick to compute forward mode gradients. "
    "This is not allowed in strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. "
    "This is not allowed in strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry "
    "{i} in the grad_jacobian. This is not allowed in strict mode as it prevents from using "
    "the double backward trick to replace forward mode AD.",
}


def _fill_in_zeros(
    grads: tuple[Optional[Tensor], ...],
    refs: tuple[Tensor, ...],
    strict: bool,
    create_graph: bool,
    stage: str,
) -> tuple[Tensor, ...]:
    res = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise AutogradError(_FILL_MESSAGES[stage].format(i=i))
            g = _zeros_like(refs[i])
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if "double" in stage else "jacobian"
            raise AutogradError(
                f"The {what} of the user-provided function is independent of input {i}. This "
                "is not allowed in strict mode when create_graph=True."
            )
        res.append(g)
    return tuple(res)


_V_NONE_FOR_OUTPUT = (
    "The vector v can only be None if the user-provided function returns a single Tensor with "
    "a single element."
)
_V_NONE_FOR_INPUT = (
    "The vector v can only be None if the input to the user-provided function is a single "
    "Tensor with a single element."
)


def _prepare_inputs(
    inputs: Tensors, create_graph: bool, fn_name: str
) -> tuple[bool, tuple[Tensor, ...]]:
    """Check ``inputs`` and re-root them for ``func``'s graph, the first step of every function."""
    is_inputs_tuple, ins = _as_tuple(inputs, "inputs", fn_name)
    return is_inputs_tuple, _grad_preprocess(ins, create_graph=create_graph, need_graph=True)


def _call_func(
    func: Callable[..., Tensors], ins: tuple[Tensor, ...], strict: bool, fn_name: str
) -> tuple[bool, tuple[Tensor, ...]]:
    """Run the user's ``func`` on the prepared inputs and check its outputs, as all functions do."""
    is_outputs_tuple, outs = _as_tuple(func(*ins), "outputs of the user-provided function", fn_name)
    _check_requires_grad(outs, "outputs", strict=strict)
    return is_outputs_tuple, outs


def _call_scalar_func(
    func: Callable[..., Tensors], ins: tuple[Tensor, ...], strict: bool, fn_name: str
) -> tuple[bool, tuple[Tensor, ...]]:
    """``_call_func`` for the second-order functions, whose ``func`` must return one element."""
    is_outputs_tuple, outs = _call_func(func, ins, strict, fn_name)
    if is_outputs_tuple:
        raise AutogradError(f"The function given to {fn_name} should return a single Tensor")
    if outs[0].nelement() != 1:
        raise AutogradError(
            f"The Tensor returned by the function given to {fn_name} should contain a single "
            "element"
        )
    return is_outputs_tuple, outs


def _prepare_v(
    v: Optional[Tensors],
    refs: tuple[Tensor, ...],
    is_refs_tuple: bool,
    create_graph: bool,
    fn_name: str,
    none_message: str,
) -> Optional[tuple[Tensor, ...]]:
    """Check and detach the product's ``v`` against ``refs``; ``None`` only for one scalar ref."""
    if v is None:
        if len(refs) != 1 or refs[0].nelement() != 1:
            raise InvalidValueError(none_message)
        return None
    _, vs = _as_tuple(v, "v", fn_name)
    vs = _grad_preprocess(vs, create_graph=create_graph, need_graph=False)
    _validate_v(vs, refs, is_refs_tuple)
    return vs


def _last_grad(
    outputs: tuple[Optional[Tensor], ...],
    inputs: tuple[Tensor, ...],
    grad_outputs: Optional[tuple[Tensor, ...]],
    refs: tuple[Tensor, ...],
    create_graph: bool,
    strict: bool,
    stage: str,
) -> tuple[Tensor, ...]:
    """The products' final backward: it keeps a graph only if asked, and fills in zeros."""
    with set_grad_enabled(True if create_graph else _is_grad_enabled()):
        grad_res = _autograd_grad(outputs, inputs, grad_outputs, create_graph=create_graph)
        return _fill_in_zeros(grad_res, refs, strict, create_graph, stage)


def _product_result(
    outs: tuple[Tensor, ...],
    is_outputs_tuple: bool,
    res: tuple[Tensor, ...],
    is_res_tuple: bool,
    create_graph: bool,
) -> tuple[Tensors, Tensors]:
    """The ``(func(inputs), product)`` pair that all four products return, detached and unpacked."""
    outs = _grad_postprocess(outs, create_graph)
    res = _grad_postprocess(res, create_graph)
    return _tuple_postprocess(outs, is_outputs_tuple), _tuple_postprocess(res, is_res_tuple)


def vjp(
    func: Callable[..., Tensors],
    inputs: Tensors,
    v: Optional[Tensors] = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Tensors, Tensors]:
    """``(func(inputs), vᵀ·J)``: the vector-Jacobian product of ``func`` at ``inputs``."""
    with enable_grad():
        is_inputs_tuple, ins = _prepare_inputs(inputs, create_graph, "vjp")
        is_outputs_tuple, outs = _call_func(func, ins, strict, "vjp")
        vs = _prepare_v(v, outs, is_outputs_tuple, create_graph, "vjp", _V_NONE_FOR_OUTPUT)
    res = _last_grad(outs, ins, vs, ins, create_graph, strict, "back")
    return _product_result(outs, is_outputs_tuple, res, is_inputs_tuple, create_graph)


def jvp(
    func: Callable[..., Tensors],
    inputs: Tensors,
    v: Optional[Tensors] = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Tensors, Tensors]:
    """``(func(inputs), J·v)``: the Jacobian-vector product of ``func`` at ``inputs``,
    computed with the double-backward trick (as PyTorch does)."""
    with enable_grad():
        is_inputs_tuple, ins = _prepare_inputs(inputs, create_graph, "jvp")
        vs = _prepare_v(v, ins, is_inputs_tuple, create_graph, "jvp", _V_NONE_FOR_INPUT)
        is_outputs_tuple, outs = _call_func(func, ins, strict, "jvp")
        # The backward is linear in grad_outputs: its value never reaches the result.
        grad_outs = tuple(_zeros_like(out, requires_grad=True) for out in outs)
        grad_ins = _autograd_grad(outs, ins, grad_outs, create_graph=True)
        _check_requires_grad(grad_ins, "grad_inputs", strict=strict)
    res = _last_grad(grad_ins, grad_outs, vs, outs, create_graph, strict, "back_trick")
    return _product_result(outs, is_outputs_tuple, res, is_outputs_tuple, create_graph)


def _check_strategy(strategy: str, vectorize: bool, strict: bool) -> None:
    if strategy not in ("forward-mode", "reverse-mode"):
        raise InvalidValueError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
            'function has more outputs than inputs, "forward-mode" tends to be more '
            'performant. Otherwise, prefer to use "reverse-mode".'
        )
    if strict and strategy == "forward-mode":
        raise AutogradError(
            "torch.autograd.functional.jacobian: `strict=True` and "
            '`strategy="forward-mode"` are not supported together (yet). Please either set '
            '`strict=False` or `strategy="reverse-mode"`.'
        )
    if strict and vectorize:
        raise AutogradError(
            "torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are not "
            "supported together. Please either set `strict=False` or `vectorize=False`."
        )


def _basis(ref: Tensor, j: int) -> Tensor:
    e = _zeros_like(ref).reshape(-1)
    e[j] = 1.0
    return e.reshape(tuple(ref.shape))


def _jacobian_block(pieces: list[Tensor], out: Tensor, inp: Tensor, dim: int, dtype: Any) -> Tensor:
    """One ``out.shape + in.shape`` block of a Jacobian from its per-element ``pieces``
    stacked along ``dim`` (zeros of ``dtype`` when there are none), for either mode."""
    from . import stack, zeros

    shape = tuple(out.shape) + tuple(inp.shape)
    if not pieces:
        return zeros(shape, dtype=dtype)
    return stack(pieces, dim=dim).reshape(shape)


def _jacobian_forward(
    func: Callable[..., Tensors],
    ins: tuple[Tensor, ...],
    outs: tuple[Tensor, ...],
    create_graph: bool,
) -> tuple[tuple[Tensor, ...], ...]:
    """Column by column: ``J[:, j] = jvp(func, e_j)`` for every element ``j`` of every input."""
    per_input: list[list[list[Tensor]]] = []
    for k, inp in enumerate(ins):
        per_out: list[list[Tensor]] = [[] for _ in outs]
        for j in range(inp.nelement()):
            vs = tuple(_basis(x, j) if i == k else _zeros_like(x) for i, x in enumerate(ins))
            _, tangent = jvp(func, ins, vs, create_graph=create_graph)
            t_tuple = tangent if isinstance(tangent, tuple) else (tangent,)
            for o, t in enumerate(t_tuple):
                per_out[o].append(t)
        per_input.append(per_out)
    return tuple(
        tuple(
            _jacobian_block(per_input[k][o], out, inp, -1, out.dtype) for k, inp in enumerate(ins)
        )
        for o, out in enumerate(outs)
    )


def jacobian(
    func: Callable[..., Tensors],
    inputs: Tensors,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
) -> Any:
    """The Jacobian of ``func`` at ``inputs``: a tensor of shape ``out.shape + in.shape`` for a
    single input and output, nested tuples (outputs, then inputs) otherwise."""
    _check_strategy(strategy, vectorize, strict)
    with enable_grad():
        is_inputs_tuple, ins = _prepare_inputs(inputs, create_graph, "jacobian")
        is_outputs_tuple, outs = _call_func(func, ins, strict, "jacobian")
        if strategy == "forward-mode":
            jac = _jacobian_forward(func, ins, outs, create_graph)
            jac = _grad_postprocess(jac, create_graph)
            return _tuple_postprocess(jac, (is_outputs_tuple, is_inputs_tuple))
        jac = _grad_postprocess(_reverse_jacobian(outs, ins, create_graph, strict), create_graph)
        return _tuple_postprocess(jac, (is_outputs_tuple, is_inputs_tuple))


def _reverse_jacobian(
    outs: Sequence[Tensor], ins: Sequence[Tensor], create_graph: bool, strict: bool = False
) -> tuple[tuple[Tensor, ...], ...]:
    """Per output, its blocks ``out.shape + in.shape`` per input: one reverse pass per output
    element (``func.jacrev`` calls this on outputs it already has, having chosen
    ``create_graph`` from their graph)."""
    result: list[tuple[Tensor, ...]] = []
    for i, out in enumerate(outs):
        rows: list[list[Tensor]] = [[] for _ in ins]
        flat = out.reshape(-1)
        for j in range(out.nelement()):
            vj = _autograd_grad(
                (flat[j],), tuple(ins), retain_graph=True, create_graph=create_graph
            )
            for el_idx, (row, vj_el, inp_el) in enumerate(zip(rows, vj, ins)):
                if vj_el is not None:
                    if strict and create_graph and not vj_el.requires_grad:
                        raise AutogradError(
                            "The jacobian of the user-provided function is independent "
                            f"of input {i}. This is not allowed in strict mode when "
                            "create_graph=True."
                        )
                    row.append(vj_el)
                else:
                    if strict:
                        raise AutogradError(
                            f"Output {i} of the user-provided function is independent of "
                            f"input {el_idx}. This is not allowed in strict mode."
                        )
                    row.append(_zeros_like(inp_el))
        result.append(
            tuple(_jacobian_block(row, out, inp, 0, inp.dtype) for row, inp in zip(rows, ins))
        )
    return tuple(result)


def hessian(
    func: Callable[..., Tensor],
    inputs: Tensors,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
) -> Any:
    """The Hessian of a scalar ``func`` at ``inputs``: a tensor of shape
    ``in.shape + in.shape`` for a single input, a tuple of tuples for several."""
    is_inputs_tuple, ins = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise InvalidValueError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def ensure_single_output_function(*inp: Tensor) -> Tensor:
        _, outs = _call_scalar_func(func, inp, strict, "hessian")
        return outs[0].reshape(())

    def jac_func(*inp: Tensor) -> Any:
        jac = jacobian(ensure_single_output_function, inp, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict=strict)
        return jac

    res = jacobian(
        jac_func,
        ins,
        create_graph=create_graph,
        strict=strict,
        vectorize=vectorize,
        strategy=outer_jacobian_strategy,
    )
    return _tuple_postprocess(res, (is_inputs_tuple, is_inputs_tuple))


def _scalar_func_setup(
    func: Callable[..., Tensor],
    inputs: Tensors,
    v: Optional[Tensors],
    create_graph: bool,
    strict: bool,
    name: str,
) -> tuple[
    bool,
    tuple[Tensor, ...],
    Optional[tuple[Tensor, ...]],
    bool,
    tuple[Tensor, ...],
    tuple[Optional[Tensor], ...],
]:
    """The common start of ``vhp`` and ``hvp``: inputs, ``v``, the scalar output, then its
    gradient (the Jacobian, kept differentiable for the second backward)."""
    is_inputs_tuple, ins = _prepare_inputs(inputs, create_graph, name)
    vs = _prepare_v(v, ins, is_inputs_tuple, create_graph, name, _V_NONE_FOR_INPUT)
    is_outputs_tuple, outs = _call_scalar_func(func, ins, strict, name)
    jac = _autograd_grad(outs, ins, create_graph=True)
    _check_requires_grad(jac, "jacobian", strict=strict)
    return is_inputs_tuple, ins, vs, is_outputs_tuple, outs, jac


def vhp(
    func: Callable[..., Tensor],
    inputs: Tensors,
    v: Optional[Tensors] = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Tensor, Tensors]:
    """``(func(inputs), vᵀ·H)``: the vector-Hessian product of a scalar ``func``."""
    with enable_grad():
        is_inputs_tuple, ins, vs, is_outputs_tuple, outs, jac = _scalar_func_setup(
            func, inputs, v, create_graph, strict, "vhp"
        )
    res = _last_grad(jac, ins, vs, ins, create_graph, strict, "double_back")
    return _product_result(outs, is_outputs_tuple, res, is_inputs_tuple, create_graph)


def hvp(
    func: Callable[..., Tensor],
    inputs: Tensors,
    v: Optional[Tensors] = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Tensor, Tensors]:
    """``(func(inputs), H·v)``: the Hessian-vector product of a scalar ``func``, computed with
    the double-backward trick."""
    with enable_grad():
        is_inputs_tuple, ins, vs, is_outputs_tuple, outs, jac = _scalar_func_setup(
            func, inputs, v, create_graph, strict, "hvp"
        )
        grad_jac = tuple(_zeros_like(inp, requires_grad=True) for inp in ins)
        double_back = _autograd_grad(jac, ins, grad_jac, create_graph=True)
        _check_requires_grad(jac, "hessian", strict=strict)
    res = _last_grad(double_back, grad_jac, vs, ins, create_graph, strict, "double_back_trick")
    return _product_result(outs, is_outputs_tuple, res, is_inputs_tuple, create_graph)
