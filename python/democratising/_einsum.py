"""``dm.einsum``: Einstein summation as a composite of differentiable engine ops.

Every step is an op autograd already knows (``permute``, ``reshape``, ``expand``, ``sum``,
``index_select``, ``matmul``), so gradients flow without an einsum backward of its own:

1. parse the equation (letters ``a-zA-Z``, ``...`` for broadcast dimensions, an implicit
   output of the ellipsis dims then the letters seen once, in alphabetical order);
2. per operand, take diagonals of repeated letters (``ii->i``) and sum away letters no other
   operand and not the output uses;
3. contract the operands pairwise, always the pair whose result is smallest (greedy; for
   chains such as ``ab,bc,cd`` this is the cheap order), each contraction one batched GEMM:
   shared letters kept in the output are the batch, shared letters not needed later are the
   reduced dimension;
4. sum what is left over and permute into the output order."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, Union

from . import _core
from ._core import Tensor
from .errors import ArgumentTypeError, IndexOutOfRangeError, InvalidValueError, ShapeError

__all__ = ["einsum", "tensordot"]

#: Labels are ints: letters by ``ord``, ellipsis dimensions negative (-1 is the last one).
Label = int


def _parse(equation: str, operands: Sequence[Tensor]) -> tuple[list[list[Label]], list[Label]]:
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, out_spec = eq.split("->", 1)
        if "->" in out_spec:
            raise InvalidValueError(f"einsum(): more than one '->' in {equation!r}")
    else:
        lhs, out_spec = eq, None
    specs = lhs.split(",")
    if len(specs) != len(operands):
        raise InvalidValueError(
            f"einsum(): {len(specs)} operand subscripts in {equation!r} but {len(operands)} "
            "operands were given"
        )
    ell_dims = 0
    inputs: list[list[Label]] = []
    for spec, op in zip(specs, operands):
        labels = _letters(spec, equation, allow_ellipsis=True)
        n_named = sum(1 for v in labels if v is not None)
        if None in labels:
            k = op.ndim - n_named
            if k < 0:
                raise ShapeError(
                    f"einsum(): subscripts {spec!r} name more dimensions than the operand's "
                    f"{op.ndim}"
                )
            ell_dims = max(ell_dims, k)
            at = labels.index(None)
            full = [*labels[:at], *range(-k, 0), *labels[at + 1 :]]
        else:
            if n_named != op.ndim:
                raise ShapeError(
                    f"einsum(): subscripts {spec!r} name {n_named} dimensions for an operand "
                    f"with {op.ndim}"
                )
            full = list(labels)
        inputs.append([int(v) for v in full if v is not None])
    if out_spec is None:
        counts: dict[int, int] = {}
        for labels_ in inputs:
            for v in labels_:
                if v >= 0:
                    counts[v] = counts.get(v, 0) + 1
        output = [*range(-ell_dims, 0), *sorted(v for v, c in counts.items() if c == 1)]
    else:
        out_labels = _letters(out_spec, equation, allow_ellipsis=True)
        output = []
        for label in out_labels:
            output.extend(range(-ell_dims, 0) if label is None else [label])
        named = [v for v in output if v >= 0]
        if len(set(named)) != len(named):
            raise InvalidValueError(f"einsum(): output subscript repeated in {equation!r}")
        present = {v for labels_ in inputs for v in labels_}
        for v in named:
            if v not in present:
                raise InvalidValueError(
                    f"einsum(): output subscript {chr(v)!r} does not appear in the inputs"
                )
    return inputs, output


def _letters(spec: str, equation: str, allow_ellipsis: bool) -> list[Union[int, None]]:
    """The letters of one subscript as ints, with ``None`` where ``...`` stands."""
    out: list[Union[int, None]] = []
    i = 0
    while i < len(spec):
        if spec.startswith("...", i) and allow_ellipsis:
            if None in out:
                raise InvalidValueError(
                    f"einsum(): more than one '...' in a subscript of {equation!r}"
                )
            out.append(None)
            i += 3
            continue
        c = spec[i]
        if not ("a" <= c <= "z" or "A" <= c <= "Z"):
            raise InvalidValueError(
                f"einsum(): invalid subscript {c!r} in {equation!r} (use letters a-z, A-Z "
                "and '...')"
            )
        out.append(ord(c))
        i += 1
    return out


def _name(v: Label) -> str:
    return chr(v) if v >= 0 else "..."


def _diagonal(x: Tensor, labels: list[Label]) -> tuple[Tensor, list[Label]]:
    """Takes the diagonal over every repeated label (``ii`` -> ``i``)."""
    while len(set(labels)) != len(labels):
        seen: dict[Label, int] = {}
        for j, v in enumerate(labels):
            if v in seen:
                i = seen[v]
                break
            seen[v] = j
        n = x.shape[i]
        if x.shape[j] != n:
            raise ShapeError(
                f"einsum(): subscript {_name(v)!r} is repeated for dimensions of sizes {n} and "
                f"{x.shape[j]}"
            )
        rest = [d for d in range(x.ndim) if d not in (i, j)]
        moved = x.permute(*rest, i, j).reshape(*[x.shape[d] for d in rest], n * n)
        idx = _core.arange(n, dtype=_core.int64, device=x.device) * (n + 1)
        x = moved.index_select(-1, idx)
        labels = [labels[d] for d in rest] + [v]
    return x, labels


def _sum_out(x: Tensor, labels: list[Label], keep: set[Label]) -> tuple[Tensor, list[Label]]:
    dims = [d for d, v in enumerate(labels) if v not in keep]
    if dims:
        x = x.sum(dim=tuple(dims)) if len(dims) > 1 else x.sum(dim=dims[0])
        labels = [v for v in labels if v in keep]
    return x, labels


def _contract(
    a: Tensor, la: list[Label], b: Tensor, lb: list[Label], keep: set[Label], sizes: dict[int, int]
) -> tuple[Tensor, list[Label]]:
    """One pairwise contraction through a batched matmul."""
    batch = [v for v in la if v in lb and v in keep]
    summed = [v for v in la if v in lb and v not in keep]
    left = [v for v in la if v not in lb]
    right = [v for v in lb if v not in la]

    def arrange(x: Tensor, labels: list[Label], order: list[Label]) -> Tensor:
        x = x.permute([labels.index(v) for v in order]) if order != labels else x
        want = [sizes[v] for v in order]
        if list(x.shape) != want:  # a size-1 dimension broadcast against a larger one
            x = x.expand(want)
        return x

    nb = math.prod(sizes[v] for v in batch)
    nl = math.prod(sizes[v] for v in left)
    nr = math.prod(sizes[v] for v in right)
    nc = math.prod(sizes[v] for v in summed)
    am = arrange(a, la, batch + left + summed).reshape(nb, nl, nc)
    bm = arrange(b, lb, batch + summed + right).reshape(nb, nc, nr)
    out = am @ bm
    shape = [sizes[v] for v in batch + left + right]
    return out.reshape(shape), batch + left + right


def _sublist_letters(sublist: Any) -> str:
    """One operand's sublist (ints in [0, 52) and ``...``) as equation letters: 0-25 are
    ``A-Z`` and 26-51 ``a-z``, so the implicit output's alphabetical order is the ints'."""
    if not isinstance(sublist, (list, tuple)):
        raise ArgumentTypeError(
            f"einsum(): expected a sublist of ints, got {type(sublist).__name__}"
        )
    out = []
    for v in sublist:
        if v is Ellipsis:
            out.append("...")
        elif isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 52:
            out.append(chr(ord("A") + v) if v < 26 else chr(ord("a") + v - 26))
        else:
            raise InvalidValueError(
                f"einsum(): subscripts in a sublist must be ints in [0, 52) or ..., got {v!r}"
            )
    return "".join(out)


def _from_sublists(args: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
    """``(a, [0, 1], b, [1, 2], [0, 2])`` as ``("AB,BC->AC", (a, b))``."""
    pairs = len(args) // 2
    operands = tuple(args[0 : 2 * pairs : 2])
    specs = [_sublist_letters(sub) for sub in args[1 : 2 * pairs : 2]]
    equation = ",".join(specs)
    if len(args) % 2:
        equation += "->" + _sublist_letters(args[-1])
    return equation, operands


def einsum(equation: Any, *operands: Any) -> Tensor:
    """Einstein summation: ``einsum("bij,bjk->bik", a, b)``, ``einsum("ii", a)`` (trace),
    ``einsum("...ij->...ji", a)``, ``einsum("i,j", a, b)`` (implicit output: outer product);
    operands may also be given as one list, or in the sublist form
    ``einsum(a, [0, 1], b, [1, 2], [0, 2])``. Differentiable; contractions run as batched
    matmuls in the order that keeps intermediates smallest."""
    if isinstance(equation, Tensor):
        equation, operands = _from_sublists((equation, *operands))
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise ArgumentTypeError(
            f"einsum(): the equation must be a str, got {type(equation).__name__}"
        )
    if not operands:
        raise InvalidValueError("einsum(): must provide at least one operand")
    for op in operands:
        if not isinstance(op, Tensor):
            raise ArgumentTypeError(f"einsum(): operands must be tensors, got {type(op).__name__}")
    inputs, output = _parse(equation, operands)

    # Sizes per label; ellipsis dimensions are right-aligned and broadcast (size 1 stretches).
    sizes: dict[int, int] = {}
    for op, labels in zip(operands, inputs):
        for v, n in zip(labels, op.shape):
            m = sizes.get(v)
            if m is None or m == 1:
                sizes[v] = int(n)
            elif n != 1 and n != m:
                raise ShapeError(
                    f"einsum(): subscript {_name(v)!r} has size {n} for one operand and {m} for "
                    "another"
                )

    terms: list[tuple[Tensor, list[Label]]] = []
    for op, labels in zip(operands, inputs):
        terms.append(_diagonal(op, list(labels)))

    out_set = set(output)

    def needed(skip: set[int]) -> set[Label]:
        """Labels used by the output or by a term outside ``skip``."""
        keep = set(out_set)
        for k, (_, ls) in enumerate(terms):
            if k not in skip:
                keep.update(ls)
        return keep

    terms = [_sum_out(x, ls, needed({k})) for k, (x, ls) in enumerate(terms)]
    while len(terms) > 1:
        best: Any = None
        for i in range(len(terms)):
            for j in range(i + 1, len(terms)):
                keep = needed({i, j})
                li, lj = terms[i][1], terms[j][1]
                result = [v for v in dict.fromkeys(li + lj) if v in keep]
                cost = (math.prod(sizes[v] for v in result), i, j)
                if best is None or cost < best[0]:
                    best = (cost, i, j, keep)
        _, i, j, keep = best
        (a, la), (b, lb) = terms[i], terms[j]
        # Letters used by only one of the two and needed nowhere else are summed first.
        a, la = _sum_out(a, la, keep | set(lb))
        b, lb = _sum_out(b, lb, keep | set(la))
        merged = _contract(a, la, b, lb, keep, sizes)
        terms = [t for k, t in enumerate(terms) if k not in (i, j)] + [merged]

    x, labels = terms[0]
    x, labels = _sum_out(x, labels, out_set)
    if labels != output:
        x = x.permute([labels.index(v) for v in output])
    want = [sizes[v] for v in output]
    if list(x.shape) != want:
        x = x.expand(want)
    return x


def _dim_list(d: Any) -> list[int]:
    """One side of ``tensordot``'s ``dims``: an int, a sequence of ints, or a tensor of them."""
    if isinstance(d, Tensor):
        d = d.tolist()
    if isinstance(d, int):
        return [d]
    try:
        return [operator.index(v) for v in d]
    except TypeError:  # (a float dim, as PyTorch's TypeError)
        raise ArgumentTypeError(f"tensordot(): dims must be tuples of ints, got {d!r}") from None


def tensordot(a: Tensor, b: Tensor, dims: Any = 2) -> Tensor:
    """Contracts ``a``'s dims ``dims[0]`` with ``b``'s ``dims[1]`` (an int ``n``: ``a``'s
    last ``n`` with ``b``'s first ``n``), as one matmul; differentiable."""
    if isinstance(dims, Tensor):  # (PyTorch: a count when one element, else a 2-row table)
        if dims.numel() > 1:
            if dims.shape[0] != 2:
                raise ShapeError(
                    f"dims tensor must have size 2 in first dimension, got {dims.shape[0]}"
                )
            dims = (dims[0].tolist(), dims[1].tolist())
        else:
            dims = int(dims.item())
    if isinstance(dims, int):
        if dims < 0:
            raise InvalidValueError(f"tensordot expects dims >= 0, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = (_dim_list(d) for d in dims)
    for t, ds in ((a, da), (b, db)):
        nd = max(t.ndim, 1)
        bad = [d for d in ds if not -nd <= d < nd or (t.ndim == 0 and ds)]
        if bad:  # (`%` would quietly contract some other dim)
            raise IndexOutOfRangeError(
                f"tensordot: dimension {bad[0]} is out of range for a {t.ndim}-D tensor"
            )
    da = [d % a.ndim for d in da] if a.ndim else []
    db = [d % b.ndim for d in db] if b.ndim else []
    if len(da) != len(db):
        raise ShapeError(f"tensordot: both dims lists must have the same length, got {da}, {db}")
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise ShapeError(
                f"contracted dimensions need to match, but first has size {a.shape[i]} in dim "
                f"{i} and second has size {b.shape[j]} in dim {j}"
            )
    free_a = [d for d in range(a.ndim) if d not in da]
    free_b = [d for d in range(b.ndim) if d not in db]
    nc = math.prod(a.shape[d] for d in da)
    am = a.permute((*free_a, *da)).reshape(math.prod(a.shape[d] for d in free_a), nc)
    bm = b.permute((*db, *free_b)).reshape(nc, math.prod(b.shape[d] for d in free_b))
    out = am @ bm
    return out.reshape((*[a.shape[d] for d in free_a], *[b.shape[d] for d in free_b]))
