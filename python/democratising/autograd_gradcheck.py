"""``democratising.autograd.gradcheck`` and ``gradgradcheck``: compare the gradients autograd
computes with central finite differences (PyTorch's slow-mode check), and ``GradcheckError``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Callable, Optional, Union

import numpy as np

from ._core import Tensor
from ._grad_mode import enable_grad
from .errors import AutogradError, InvalidValueError

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]

_Func = Callable[..., Union[Tensor, Sequence[Tensor]]]


class GradcheckError(AutogradError):
    """A gradient check that failed: the analytical and numerical Jacobians differ (a
    ``RuntimeError``, as PyTorch's ``torch.autograd.gradcheck.GradcheckError``)."""


class _ValueAssertionError(InvalidValueError, AssertionError):
    """A refused combination of flags: PyTorch asserts, so ``except AssertionError`` works
    as there, and it is the project's typed ``InvalidValueError`` too."""


def _as_tuple(x: object) -> tuple[object, ...]:
    if isinstance(x, tuple):
        return x
    if isinstance(x, list):
        return tuple(x)
    return (x,)


def _np(t: Tensor) -> np.ndarray:
    return np.array(t.detach().numpy(), dtype=np.float64, copy=True)


def _to_tensor(a: np.ndarray) -> Tensor:
    from . import tensor

    return tensor(a)


def _is_float(t: object) -> bool:
    return isinstance(t, Tensor) and t.is_floating_point()


def _tensors(inputs: tuple[object, ...], idx: list[int]) -> list[Tensor]:
    out: list[Tensor] = []
    for i in idx:
        x = inputs[i]
        assert isinstance(x, Tensor)
        out.append(x)
    return out


def _eval_outputs(func: _Func, inputs: tuple[object, ...]) -> tuple[Tensor, ...]:
    return tuple(o for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor))


def _numerical(
    func: _Func, inputs: tuple[object, ...], i: int, n_out: int, eps: float
) -> list[np.ndarray]:
    """Per output, the (numel(input i), numel(output)) central-difference Jacobian."""
    from . import tensor

    x = inputs[i]
    assert isinstance(x, Tensor)
    base = _np(x)
    cols: list[list[np.ndarray]] = [[] for _ in range(n_out)]
    for k in range(base.size):
        vals = []
        for sign in (1.0, -1.0):
            a = base.copy()
            a.reshape(-1)[k] += sign * eps
            xp = tensor(a, dtype=x.dtype).requires_grad_(x.requires_grad)
            args = (*inputs[:i], xp, *inputs[i + 1 :])
            vals.append([_np(o).reshape(-1) for o in _eval_outputs(func, args)])
        for j in range(n_out):
            cols[j].append((vals[0][j] - vals[1][j]) / (2.0 * eps))
    return [np.stack(c, 0) if c else np.zeros((0, 0)) for c in cols]  # each (numel_in, numel_out)


def _analytical(
    outputs: tuple[Tensor, ...], diff: list[int], inputs: tuple[object, ...]
) -> list[list[np.ndarray]]:
    """``[output][diff input]`` reverse-mode Jacobians, each (numel_in, numel_out)."""
    from . import zeros_like
    from .autograd import grad

    ins = _tensors(inputs, diff)
    res: list[list[np.ndarray]] = []
    for out in outputs:
        per_in = [np.zeros((int(t.nelement()), int(out.nelement()))) for t in ins]
        if out.requires_grad:
            for m in range(out.nelement()):
                e = zeros_like(out).reshape(-1)
                e[m] = 1.0
                gs = grad(
                    out, ins, e.reshape(tuple(out.shape)), retain_graph=True, allow_unused=True
                )
                for n, g in enumerate(gs):
                    if g is not None:
                        shp = tuple(ins[n].shape)
                        if tuple(g.shape) != shp:
                            raise GradcheckError("Analytical gradient has incorrect size")
                        per_in[n][:, m] = _np(g).reshape(-1)
        res.append(per_in)
    return res


def _forward(func: _Func, inputs: tuple[object, ...], diff: list[int]) -> list[list[np.ndarray]]:
    """``[output][diff input]`` Jacobians from Jacobian-vector products (the double-backward
    trick), each (numel_in, numel_out)."""
    from . import zeros_like
    from .autograd import grad

    ins = _tensors(inputs, diff)
    outs = _eval_outputs(func, inputs)
    res = [[np.zeros((int(t.nelement()), int(o.nelement()))) for t in ins] for o in outs]
    live = [j for j, o in enumerate(outs) if o.requires_grad]
    if not live:
        return res
    gouts = [zeros_like(outs[j], requires_grad=True) for j in live]
    gins = grad([outs[j] for j in live], ins, gouts, create_graph=True, allow_unused=True)
    pairs = [(n, g) for n, g in enumerate(gins) if g is not None and g.requires_grad]
    for n, g in pairs:
        for k in range(ins[n].nelement()):
            e = zeros_like(g).reshape(-1)
            e[k] = 1.0
            tans = grad(g, gouts, e.reshape(tuple(g.shape)), retain_graph=True, allow_unused=True)
            for jj, t in zip(live, tans):
                if t is not None:
                    res[jj][n][k, :] = _np(t).reshape(-1)
    return res


def _fmt(a: np.ndarray) -> str:
    return str(_to_tensor(a))


def _fail(msg: str, raise_exception: bool) -> bool:
    if raise_exception:
        raise GradcheckError(msg)
    return False


def gradcheck(
    func: _Func,
    inputs: Union[Tensor, Sequence[Tensor]],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked: Optional[bool] = None,
) -> bool:
    """Checks the gradients of ``func`` at ``inputs`` (tensors requiring grad, best float64)
    against central finite differences: ``|analytical - numerical| <= atol + rtol·|numerical|``.
    Returns ``True``; on a mismatch raises ``GradcheckError`` (or returns ``False`` when
    ``raise_exception=False``)."""
    if not (check_forward_ad or check_backward_ad):  # else nothing would be checked
        raise _ValueAssertionError(
            "Expected at least one of check_forward_ad or check_backward_ad to be True"
        )
    if check_batched_grad and not check_backward_ad:
        raise _ValueAssertionError(
            "Setting check_batched_grad=True requires check_backward_ad to be True"
        )
    if check_batched_forward_grad and not check_forward_ad:
        raise _ValueAssertionError(
            "Setting check_batched_forward_grad=True requires check_forward_ad to be True"
        )
    del check_undefined_grad, check_batched_grad, check_batched_forward_grad, fast_mode, masked
    tupled = _as_tuple(inputs)
    diff = [i for i, x in enumerate(tupled) if isinstance(x, Tensor) and x.requires_grad]
    if not diff:
        raise InvalidValueError(
            "gradcheck expects at least one input tensor to require gradient, but none of them "
            "have requires_grad=True."
        )
    for i in diff:
        x = tupled[i]
        assert isinstance(x, Tensor)
        if not x.is_floating_point():
            raise InvalidValueError(f"Input #{i} requires gradient but is not floating point.")
        if str(x.dtype) != str(_float64()):
            warnings.warn(
                f"Input #{i} requires gradient and is not a double precision floating point or "
                "complex. This check will likely fail if all the inputs are not of double "
                "precision floating point or complex. ",
                UserWarning,
                stacklevel=2,
            )
    with enable_grad():
        all_outputs = _eval_outputs(func, tupled)
        numerical = [_numerical(func, tupled, i, len(all_outputs), eps) for i in diff]
        # As PyTorch, only the outputs that require grad are checked; the others are checked
        # for a zero numerical gradient only when none requires grad.
        live = [j for j, o in enumerate(all_outputs) if o.requires_grad]
        if not live:
            for j in range(len(all_outputs)):
                for n, i in enumerate(diff):
                    if not np.allclose(numerical[n][j], 0.0, rtol=0.0, atol=nondet_tol):
                        return _fail(
                            "Numerical gradient for function expected to be zero for output "
                            f"{j} with respect to input {i}",
                            raise_exception,
                        )
            return True
        outputs = tuple(all_outputs[j] for j in live)
        numerical = [[per_out[j] for j in live] for per_out in numerical]
        if check_backward_ad:
            first = _analytical(outputs, diff, tupled)
            rerun = _eval_outputs(func, tupled)
            again = _analytical(tuple(rerun[j] for j in live), diff, tupled)
            if check_grad_dtypes and not _dtypes_match(outputs, diff, tupled):
                return _fail("Gradient has dtype mismatch", raise_exception)
            for j in range(len(outputs)):
                for n, i in enumerate(diff):
                    a, nu = first[j][n], numerical[n][j]
                    if not np.allclose(a, nu, rtol=rtol, atol=atol):
                        return _fail(
                            f"Jacobian mismatch for output {j:d} with respect to input {i:d},\n"
                            f"numerical:{_fmt(nu)}\nanalytical:{_fmt(a)}\n",
                            raise_exception,
                        )
                    if not np.allclose(a, again[j][n], rtol=0.0, atol=nondet_tol):
                        return _fail(
                            "Backward is not reentrant, i.e., running backward with same input "
                            "and grad_output multiple times gives different values, although "
                            "analytical gradient matches numerical gradient. The tolerance for "
                            f"nondeterminism was {nondet_tol}.",
                            raise_exception,
                        )
        if check_forward_ad:
            fwd = _forward(func, tupled, diff)
            for j in range(len(outputs)):
                for n, i in enumerate(diff):
                    a, nu = fwd[live[j]][n], numerical[n][j]
                    if not np.allclose(a, nu, rtol=rtol, atol=atol):
                        return _fail(
                            "Jacobian computed with forward mode mismatch for output "
                            f"{j:d} with respect to input {i:d},\n"
                            f"numerical:{_fmt(nu)}\nanalytical:{_fmt(a)}\n",
                            raise_exception,
                        )
    return True


def _float64() -> object:
    from . import float64

    return float64


def _dtypes_match(outputs: tuple[Tensor, ...], diff: list[int], inputs: tuple[object, ...]) -> bool:
    from .autograd import grad

    ins = _tensors(inputs, diff)
    for out in outputs:
        if not out.requires_grad:
            continue
        from . import ones_like

        gs = grad(out, ins, ones_like(out), retain_graph=True, allow_unused=True)
        for g, x in zip(gs, ins):
            if g is not None and g.dtype != x.dtype:
                return False
    return True


def gradgradcheck(
    func: _Func,
    inputs: Union[Tensor, Sequence[Tensor]],
    grad_outputs: Optional[Union[Tensor, Sequence[Optional[Tensor]]]] = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
) -> bool:
    """Checks second-order gradients: runs ``gradcheck`` on the function that maps
    ``(inputs, grad_outputs)`` to the gradients of ``func`` (random ``grad_outputs`` in
    ``[-1, 1)`` when not given)."""
    from . import rand
    from .autograd import grad

    del gen_non_contig_grad_outputs
    if not (check_fwd_over_rev or check_rev_over_rev):  # else nothing would be checked
        raise _ValueAssertionError(
            "Expected at least one of check_fwd_over_rev or check_rev_over_rev to be True"
        )
    tupled = _as_tuple(inputs)
    if grad_outputs is None:
        with enable_grad():
            outs = [o for o in _eval_outputs(func, tupled) if o.requires_grad]
        gouts: tuple[object, ...] = tuple(
            (rand(tuple(o.shape), dtype=o.dtype) * 2 - 1).requires_grad_(True) for o in outs
        )
    else:
        gouts = _as_tuple(grad_outputs)
    n_out = len(gouts)
    diff_in = {i for i, x in enumerate(tupled) if isinstance(x, Tensor) and x.requires_grad}
    diff_go = {i for i, x in enumerate(gouts) if isinstance(x, Tensor) and x.requires_grad}

    def new_func(*args: Tensor) -> tuple[Tensor, ...]:
        in_args = tuple(
            x.requires_grad_() if i in diff_in else x for i, x in enumerate(args[:-n_out])
        )
        outs = [o for o in _eval_outputs(func, in_args) if o.requires_grad]
        gos = [x.requires_grad_() if i in diff_go else x for i, x in enumerate(args[-n_out:])]
        d_in = [x for i, x in enumerate(in_args) if i in diff_in]
        g_in = grad(outs, d_in, gos, create_graph=True, allow_unused=True)
        return tuple(g for g in g_in if g is not None)

    return gradcheck(
        new_func,
        tupled + gouts,  # type: ignore[arg-type]
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
        nondet_tol=nondet_tol,
        check_undefined_grad=check_undefined_grad,
        check_grad_dtypes=check_grad_dtypes,
        check_batched_grad=check_batched_grad,
        check_forward_ad=check_fwd_over_rev,
        check_backward_ad=check_rev_over_rev,
        fast_mode=fast_mode,
        masked=masked,
    )
