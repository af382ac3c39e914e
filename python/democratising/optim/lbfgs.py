"""``LBFGS``: limited-memory BFGS with PyTorch's signature, defaults, stopping rules and state
keys, and an optional line search satisfying the strong Wolfe conditions.

The parameters are treated as one flat vector ``x`` (all parameters of the single group,
concatenated). Each ``step(closure)`` runs up to ``max_iter`` iterations:

* the direction ``d = -H g`` comes from the two-loop recursion over the last ``history_size``
  pairs ``s = x_{k+1} - x_k``, ``y = g_{k+1} - g_k`` (a pair is kept only when the curvature
  ``yᵀs`` exceeds 1e-10), with the initial matrix ``H0 = (yᵀs / yᵀy) I`` of the newest pair
  (Nocedal & Wright, *Numerical Optimization*, algorithms 7.4 and 7.5);
* the step length is ``lr`` (on the very first iteration ``lr · min(1, 1/‖g‖₁)``), or, with
  ``line_search_fn="strong_wolfe"``, a step from that start satisfying
  ``f(x + a d) <= f(x) + c1 a gᵀd`` and ``|g(x + a d)ᵀd| <= c2 |gᵀd|`` (``c1 = 1e-4``,
  ``c2 = 0.9``; bracketing then zooming with safeguarded cubic interpolation, N&W 3.5/3.6);
* it stops on ``max_iter`` iterations, ``max_eval`` closure calls, ``max|g| <= tolerance_grad``,
  a step or a loss change below ``tolerance_change``, or a direction that does not descend.

The history lives in ``state[first parameter]`` in PyTorch's layout (``func_evals``,
``n_iter``, the two-loop scratch ``al``, ``d``, ``t``, ``old_dirs``, ``old_stps``, ``ro``,
``H_diag``, ``prev_flat_grad``, ``prev_loss``; ``ro``, ``al`` and ``H_diag`` hold 0-d tensors
of the parameters' dtype), so ``state_dict``/``load_state_dict`` and checkpoints carry it and
PyTorch's own state dicts load.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Optional

from .. import _core
from .._core import Tensor
from .._grad_mode import enable_grad, no_grad
from ..errors import ArgumentTypeError, InvalidValueError, ShapeError
from ._common import check_lr
from .optimizer import Optimizer, ParamsT

__all__ = ["LBFGS"]

#: Curvature ``yᵀs`` at or below which a pair is not added to the history.
_MIN_CURVATURE = 1e-10
#: Strong Wolfe constants: sufficient decrease and curvature.
_C1, _C2 = 1e-4, 0.9
#: Most function evaluations in one line search.
_MAX_LS = 25

#: A line-search scalar: a 0-d tensor of the parameters' dtype, or a float where PyTorch's is.
_Num = Any
_Eval = tuple[float, Tensor, _Num]


def _as_float(value: Any) -> float:
    return float(value.item()) if isinstance(value, Tensor) else float(value)


def _cubic_minimiser(
    a1: _Num, f1: float, d1: _Num, a2: _Num, f2: float, d2: _Num, lo: _Num, hi: _Num
) -> _Num:
    """The minimiser in ``[lo, hi]`` of the cubic through ``(a1, f1)``, ``(a2, f2)`` with
    slopes ``d1``, ``d2`` (N&W eq. 3.59, PyTorch's ``_cubic_interpolate``); the middle of
    ``[lo, hi]`` when the cubic has no minimiser or the points coincide. Given 0-d tensor
    slopes it computes in their dtype, expression for expression as PyTorch."""
    if a1 == a2:
        return (lo + hi) / 2
    theta = d1 + d2 - 3 * (f1 - f2) / (a1 - a2)
    disc = theta * theta - d1 * d2
    if not disc >= 0:
        return (lo + hi) / 2
    gamma = disc.sqrt() if isinstance(disc, Tensor) else math.sqrt(disc)
    if a1 <= a2:
        a = a2 - (a2 - a1) * ((d2 + gamma - theta) / (d2 - d1 + 2 * gamma))
    else:
        a = a1 - (a1 - a2) * ((d1 + gamma - theta) / (d1 - d2 + 2 * gamma))
    if not math.isfinite(a):
        return (lo + hi) / 2
    return min(max(a, lo), hi)


def _strong_wolfe(
    phi: Callable[[_Num], _Eval],
    step: _Num,
    f0: float,
    g0: Tensor,
    slope0: _Num,
    d_max: _Num,
    tolerance_change: float,
    max_ls: int = _MAX_LS,
) -> tuple[float, Tensor, _Num, int]:
    """A step ``a`` along the direction that satisfies the strong Wolfe conditions, found by
    bracketing (growing the step while the function keeps descending) and zooming (shrinking
    the bracket by cubic interpolation, kept 10% inside it), step for step as PyTorch's
    ``_strong_wolfe`` (so the same points are evaluated and counted). ``phi(a)`` returns the
    loss, flat gradient and slope at ``x + a d``. Returns ``(f, g, a, evaluations)``: at most
    ``max_ls + 1`` evaluations; when no step qualifies, the lowest bracket end (possibly 0).

    ``LBFGS`` passes ``slope0``, ``d_max`` and the slopes as 0-d tensors of the parameters'
    dtype (PyTorch's ``gtd``, ``d_norm``), so the tests and interpolations run in that dtype,
    as PyTorch's. In float32 this decides the path: near a minimum ``c1 a gᵀd`` is under half
    an ulp of ``f0``, so PyTorch's ``f0 + c1 a gᵀd`` rounds to ``f0`` and a step that keeps the
    loss is accepted; in float64 the test demands a decrease no float32 loss can show, and the
    zoom shrinks the step to 0 (no progress, evaluations spent, repeated every iteration)."""
    # A point is (a, f, g, slope).
    prev = (0.0, f0, g0, slope0)
    a = step
    f, g, slope = phi(a)
    evals = 1
    done = False
    bracket: list[tuple[float, float, Tensor, float]] = []
    it = 0
    while it < max_ls:
        cur = (a, f, g, slope)
        if f > f0 + _C1 * a * slope0 or (it > 1 and f >= prev[1]):
            bracket = [prev, cur]
            break
        if abs(slope) <= -_C2 * slope0:
            bracket, done = [cur], True
            break
        if slope >= 0:
            bracket = [prev, cur]
            break
        lower = a + 0.01 * (a - prev[0])  # extrapolate: between 1.01 and 10 times the step
        a = _cubic_minimiser(prev[0], prev[1], prev[3], a, f, slope, lower, 10 * a)
        prev = cur
        f, g, slope = phi(a)
        evals += 1
        it += 1
    if it == max_ls:
        # no bracket found: the start and the last point (PyTorch keeps the start's slope)
        bracket = [(0.0, f0, g0, slope0), (a, f, g, slope)]
    if done:
        return f, g, a, evals
    low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
    insufficient = False
    while not done and it < max_ls:
        ends = (bracket[0][0], bracket[1][0])
        left, right = min(ends), max(ends)
        if (right - left) * d_max < tolerance_change:
            break
        b0, b1 = bracket
        a = _cubic_minimiser(b0[0], b0[1], b0[3], b1[0], b1[1], b1[3], left, right)
        # A trial near an end of the bracket makes little progress: the second time in a
        # row (or when it is on the end), move it 10% of the width inside.
        eps = 0.1 * (right - left)
        if min(right - a, a - left) < eps:
            if insufficient or a >= right or a <= left:
                a = right - eps if abs(a - right) < abs(a - left) else left + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f, g, slope = phi(a)
        evals += 1
        it += 1
        cur = (a, f, g, slope)
        if f > f0 + _C1 * a * slope0 or f >= bracket[low][1]:
            bracket[high] = cur
            low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
        else:
            if abs(slope) <= -_C2 * slope0:
                done = True
            elif slope * (bracket[high][0] - bracket[low][0]) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = cur
    best = bracket[low]
    return best[1], best[2], best[0], evals


class LBFGS(Optimizer):
    """L-BFGS over all parameters as one vector; ``step(closure)`` calls ``closure`` (which
    zeroes the gradients, computes the loss, calls ``backward`` and returns the loss) as often
    as it needs and returns the loss of its first call. One parameter group only, as PyTorch.
    ``line_search_fn``: ``None`` (fixed step ``lr``) or ``"strong_wolfe"``. With ``maximize``
    it maximises the loss, as PyTorch: the flat gradient and the losses it reads are negated
    (the returned loss is the closure's own)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1,
        max_iter: int = 20,
        max_eval: Optional[int] = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: Optional[str] = None,
        *,
        maximize: bool = False,
    ) -> None:
        check_lr(lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        if max_iter < 1:
            raise InvalidValueError(f"Invalid max_iter value: {max_iter}")
        if max_eval < 1:
            raise InvalidValueError(f"Invalid max_eval value: {max_eval}")
        if history_size < 1:
            raise InvalidValueError(f"Invalid history_size value: {history_size}")
        if line_search_fn not in (None, "strong_wolfe"):
            raise InvalidValueError(
                f"Invalid line_search_fn: {line_search_fn!r}; only 'strong_wolfe' is supported"
            )
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups:
            raise InvalidValueError(
                "LBFGS doesn't support per-parameter options (parameter groups)"
            )
        super().add_param_group(param_group)

    # ---- the flat vector -----------------------------------------------------------------

    def _params(self) -> list[Tensor]:
        return list(self.param_groups[0]["params"])

    def _maximize(self) -> bool:
        # ``get``: a group loaded from a state dict saved before ``maximize`` existed lacks it.
        return bool(self.param_groups[0].get("maximize", False))

    def _loss(self, value: Any) -> float:
        """The closure's loss as the minimised objective (negated when maximising)."""
        loss = _as_float(value)
        return -loss if self._maximize() else loss

    def _numel(self) -> int:
        return sum(p.numel() for p in self._params())

    def _flat_grad(self) -> Tensor:
        parts = []
        for p in self._params():
            g = p.grad
            if g is None:
                g = _core.zeros(p.numel(), dtype=p.dtype, device=p.device)
            parts.append(g.reshape(-1))
        flat = _core.cat(parts) if len(parts) > 1 else parts[0].clone()
        return flat.neg_() if self._maximize() else flat

    def _add_to_params(self, scale: float, direction: Tensor) -> None:
        offset = 0
        for p in self._params():
            n = p.numel()
            p.add_(direction.narrow(0, offset, n).reshape(p.shape), alpha=scale)
            offset += n

    def _set_params(self, values: list[Tensor]) -> None:
        for p, v in zip(self._params(), values):
            p.copy_(v)

    def _evaluate_at(
        self, evaluate: Callable[[], Any], start: list[Tensor], d: Tensor, a: _Num
    ) -> _Eval:
        """Loss, flat gradient and slope (0-d) along ``d`` at ``start + a d`` (left there)."""
        self._set_params(start)
        self._add_to_params(a, d)
        loss = self._loss(evaluate())
        g = self._flat_grad()
        return loss, g, g.dot(d)

    # ---- the algorithm -------------------------------------------------------------------

    @staticmethod
    def _two_loop(
        g: Tensor,
        ys: list[Tensor],
        ss: list[Tensor],
        rhos: list[Tensor],
        h_diag: Any,
        al: list[Any],
    ) -> Tensor:
        """``-H g`` for the L-BFGS matrix ``H`` of the pairs ``(s, y)`` (oldest first); the
        pairs' ``alpha`` coefficients are written to ``al[i]``, as PyTorch keeps them."""
        q = -g
        for i in range(len(ys) - 1, -1, -1):
            alpha = al[i] = ss[i].dot(q) * rhos[i]
            q.sub_(ys[i] * alpha)
        r = q.mul_(h_diag)
        for i, (y, s, rho) in enumerate(zip(ys, ss, rhos)):
            beta = y.dot(r) * rho
            r.add_(s * (al[i] - beta))
        return r

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """Runs up to ``max_iter`` iterations, calling ``closure`` to re-evaluate the loss and
        gradients; returns the first loss ``closure`` gave."""
        if closure is None:
            raise ArgumentTypeError(
                "LBFGS.step() requires a closure that clears the gradients, computes the loss, "
                "calls backward() and returns the loss"
            )

        def evaluate() -> Any:
            with enable_grad():
                return closure()

        with no_grad():
            return self._iterate(evaluate)

    def _iterate(self, evaluate: Callable[[], Any]) -> Any:
        group = self.param_groups[0]
        lr = group["lr"]
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size, line_search = group["history_size"], group["line_search_fn"]
        if line_search not in (None, "strong_wolfe"):
            raise InvalidValueError(f"only 'strong_wolfe' is supported, got {line_search!r}")
        state = self.state.setdefault(self._params()[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        first_loss = evaluate()
        loss = self._loss(first_loss)
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if g.abs().max().item() <= tol_grad:
            return first_loss

        d: Optional[Tensor] = state.get("d")
        t: _Num = _as_float(state.get("t", lr))
        old_dirs: list[Tensor] = list(state.get("old_dirs", []))
        old_stps: list[Tensor] = list(state.get("old_stps", []))
        ro: list[Tensor] = list(state.get("ro", []))
        h_diag: Any = state.get("H_diag", 1)  # an int until a pair is kept, then a 0-d tensor
        prev_g: Optional[Tensor] = state.get("prev_flat_grad")
        prev_loss: Optional[float] = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1 or d is None or prev_g is None:
                d = -g
                old_dirs, old_stps, ro, h_diag = [], [], [], 1
            else:
                y = g - prev_g
                s = d * t
                ys = y.dot(s)
                if ys > _MIN_CURVATURE:
                    if len(old_dirs) == history_size:
                        old_dirs, old_stps, ro = old_dirs[1:], old_stps[1:], ro[1:]
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(ys.reciprocal())
                    h_diag = ys / y.dot(y)
                # PyTorch's scratch for the alphas: created (history_size long) on the first
                # iteration that runs the two-loop, and kept in the state.
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = list(state["al"])
                al.extend([None] * (len(old_dirs) - len(al)))  # history_size grown since
                d = self._two_loop(g, old_dirs, old_stps, ro, h_diag, al)
                state["al"] = al
            prev_g = g  # never changed in place: each iteration makes a new g
            prev_loss = loss
            # 0-d tensors where PyTorch's are (first step, slope): see ``_strong_wolfe``.
            if state["n_iter"] == 1:
                t = min(1.0, g.abs().sum().reciprocal()) * lr
            else:
                t = lr
            slope = g.dot(d)
            if slope > -tol_change:
                break

            if line_search == "strong_wolfe":
                start = [p.clone() for p in self._params()]
                phi = functools.partial(self._evaluate_at, evaluate, start, d)
                d_max = d.abs().max()
                loss, g, t, ls_evals = _strong_wolfe(
                    phi, t, loss, g, slope, d_max, tol_change, max_ls=max_eval - evals
                )
                self._set_params(start)
                self._add_to_params(t, d)
                converged = g.abs().max().item() <= tol_grad
            else:
                self._add_to_params(t, d)
                ls_evals = 0
                converged = False
                if n_iter != max_iter:
                    loss = self._loss(evaluate())
                    g = self._flat_grad()
                    converged = g.abs().max().item() <= tol_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals

            if n_iter == max_iter or evals >= max_eval or converged:
                break
            if (d * t).abs().max() <= tol_change:
                break
            if abs(loss - prev_loss) < tol_change:
                break

        state.update(
            d=d, t=_as_float(t), old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
            prev_flat_grad=prev_g, prev_loss=prev_loss,
        )  # fmt: skip
        return first_loss

    # ---- state_dict checks ---------------------------------------------------------------

    def _check_state_entry(self, index: Any, st: Any, p: Tensor) -> dict[str, Any]:
        """One saved state entry, checked and converted (``load_state_dict`` and checkpoints):
        counters are ints, ``t``/``H_diag``/``prev_loss``/``ro``/``al`` numbers (not
        necessarily finite: a diverged run saves ``prev_loss=-inf``, and PyTorch reloads it),
        ``d``/``prev_flat_grad`` and the history flat vectors of all parameters' size (moved to
        the parameter's dtype and device). ``ro``, ``al`` (``None`` where unused) and a tensor
        ``H_diag`` become 0-d tensors of the parameter's dtype, as PyTorch keeps them; older
        state dicts of ours held Python numbers there, and load the same way."""
        where = f"state of parameter {index}"
        if not isinstance(st, dict):
            raise InvalidValueError(f"{where} is not a dict")
        n = self._numel()

        def vector(name: str, v: Any) -> Tensor:
            if not isinstance(v, Tensor):
                raise InvalidValueError(f"{where}: {name!r} must be a tensor, got {v!r}")
            if tuple(v.shape) != (n,):
                raise ShapeError(f"{where}: {name!r} has shape {tuple(v.shape)}, expected ({n},)")
            return v.to(p.dtype).to(p.device)

        def scalar(name: str, v: Any) -> Tensor:
            """A number or one-element tensor as a 0-d tensor like ``p`` (PyTorch casts
            floating state tensors to the parameter's dtype and device when it loads them)."""
            if isinstance(v, Tensor) and v.numel() == 1 and v.dtype.is_floating_point:
                return v.reshape(()).to(p.dtype).to(p.device)
            return _core.full((), number(name, v), dtype=p.dtype, device=p.device)

        def number(name: str, v: Any) -> float:
            if isinstance(v, Tensor) and v.numel() == 1:
                v = v.item()
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise InvalidValueError(f"{where}: {name!r} must be a number, got {v!r}")
            try:
                return float(v)
            except OverflowError:  # an int beyond float range
                raise InvalidValueError(f"{where}: {name!r} is out of float range") from None

        out: dict[str, Any] = {}
        for name, v in st.items():
            if name in ("func_evals", "n_iter"):
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise InvalidValueError(f"{where}: {name!r} must be an int >= 0, got {v!r}")
                out[name] = v
            elif name in ("d", "prev_flat_grad"):
                out[name] = None if v is None else vector(name, v)
            elif name == "t":
                out[name] = number(name, v)
            elif name == "H_diag":
                # PyTorch's int 1 (no pair kept yet) stays a number, a ratio becomes a tensor.
                ok_int = isinstance(v, int) and not isinstance(v, bool) and v == 1
                out[name] = 1 if ok_int else scalar(name, v)
            elif name == "prev_loss":
                out[name] = None if v is None else number(name, v)
            elif name in ("old_dirs", "old_stps"):
                if not isinstance(v, (list, tuple)):
                    raise InvalidValueError(f"{where}: {name!r} must be a list of tensors")
                out[name] = [vector(f"{name}[{i}]", x) for i, x in enumerate(v)]
            elif name == "ro":
                if not isinstance(v, (list, tuple)):
                    raise InvalidValueError(f"{where}: 'ro' must be a list of numbers")
                out[name] = [scalar(f"ro[{i}]", x) for i, x in enumerate(v)]
            elif name == "al":
                if not isinstance(v, (list, tuple)):
                    raise InvalidValueError(f"{where}: 'al' must be a list of numbers or None")
                out[name] = [None if x is None else scalar(f"al[{i}]", x) for i, x in enumerate(v)]
            else:
                raise InvalidValueError(f"{where}: unexpected key {name!r} for LBFGS")
        sizes = {len(out.get(k, [])) for k in ("old_dirs", "old_stps", "ro")}
        if len(sizes) > 1:
            raise InvalidValueError(f"{where}: 'old_dirs', 'old_stps' and 'ro' differ in length")
        return out
