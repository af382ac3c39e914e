"""``dm.einsum`` / ``dm.tensordot`` against NumPy, gradients by finite differences, the
greedy contraction order, and typed errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import _einsum
from helpers import gradcheck, to_numpy


def _f64(a: np.ndarray) -> dm.Tensor:
    return dm.tensor(a, dtype=dm.float64, requires_grad=True)


CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("ii", [(4, 4)]),
    ("ii->i", [(4, 4)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("...ij,...jk", [(2, 1, 3, 4), (5, 4, 2)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,i->", [(3,), (3,)]),
    ("i,i", [(3,), (3,)]),
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 5)]),
    ("iij->j", [(3, 3, 2)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("...i->...", [(2, 3, 4)]),
    ("i...->...", [(2, 3, 4)]),
    ("kji", [(2, 3, 4)]),
    ("ab,cd->", [(2, 3), (4, 5)]),
    ("a,b,c->abc", [(2,), (3,), (4,)]),
    ("...,...->...", [(2, 1), (1, 3)]),
    ("ijj,jk->ik", [(2, 3, 3), (3, 4)]),
    ("Ab,bC->CA", [(2, 3), (3, 2)]),
    (" i j , j k -> i k ", [(2, 3), (3, 2)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
]


@pytest.mark.parametrize("equation,shapes", CASES, ids=[c[0] for c in CASES])
def test_matches_numpy(equation: str, shapes: list[tuple[int, ...]]) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    got = dm.einsum(equation, *[dm.tensor(a, dtype=dm.float64) for a in arrays])
    want = np.einsum(equation.replace(" ", ""), *arrays)
    assert got.shape == want.shape
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-10, atol=1e-12)


def test_operands_as_a_list_and_float32() -> None:
    a, b = dm.randn(3, 4), dm.randn(4, 2)
    got = dm.einsum("ij,jk->ik", [a, b])
    assert got.dtype == dm.float32
    np.testing.assert_allclose(to_numpy(got), to_numpy(a @ b), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "equation,shapes",
    [
        ("ij,jk->ik", [(2, 3), (3, 2)]),
        ("ii->i", [(3, 3)]),
        ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
        ("...i,...i->...", [(2, 3), (3,)]),
        ("ab,bc,cd->ad", [(2, 3), (3, 2), (2, 2)]),
        ("iij->j", [(2, 2, 3)]),
    ],
)
def test_gradients_match_finite_differences(equation: str, shapes: list[tuple[int, ...]]) -> None:
    rng = np.random.default_rng(1)
    inputs = [
        dm.tensor(rng.standard_normal(s), dtype=dm.float64, requires_grad=True) for s in shapes
    ]
    gradcheck(lambda *xs: dm.einsum(equation, *xs), inputs)


def test_greedy_order_contracts_the_small_pair_first(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[tuple[int, ...]] = []
    real = _einsum._contract

    def spy(*args: Any) -> Any:
        out = real(*args)
        sizes.append(tuple(out[0].shape))
        return out

    monkeypatch.setattr(_einsum, "_contract", spy)
    a, b, c = dm.randn(300, 2), dm.randn(2, 300), dm.randn(300, 3)
    got = dm.einsum("ab,bc,cd->ad", a, b, c)
    assert sizes[0] == (2, 3)  # b @ c first: never the 300 x 300 intermediate
    np.testing.assert_allclose(to_numpy(got), to_numpy(a @ (b @ c)), rtol=1e-4, atol=1e-4)


def test_errors_are_typed_and_name_the_problem() -> None:
    a = dm.randn(2, 3)
    with pytest.raises(dm.ShapeError, match="size"):
        dm.einsum("ij,jk->ik", a, dm.randn(4, 2))
    with pytest.raises(dm.ShapeError, match="dimensions"):
        dm.einsum("ijk->i", a)
    with pytest.raises(dm.InvalidValueError, match="operand"):
        dm.einsum("ij,jk->ik", a)
    with pytest.raises(dm.InvalidValueError, match="'z'"):
        dm.einsum("ij->z", a)
    with pytest.raises(dm.InvalidValueError, match="invalid subscript"):
        dm.einsum("i1->i", a)
    with pytest.raises(dm.ShapeError, match="size"):
        dm.einsum("ii->i", a)
    with pytest.raises(TypeError):
        dm.einsum("ij", np.ones((2, 3)))


def test_tensordot_matches_numpy() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 3, 5))
    ta, tb = dm.tensor(a, dtype=dm.float64), dm.tensor(b, dtype=dm.float64)
    np.testing.assert_allclose(
        to_numpy(dm.tensordot(ta, tb, dims=([1, 2], [1, 0]))),
        np.tensordot(a, b, axes=([1, 2], [1, 0])),
    )
    c = rng.standard_normal((4, 6))
    np.testing.assert_allclose(
        to_numpy(dm.tensordot(ta, dm.tensor(c, dtype=dm.float64), dims=1)),
        np.tensordot(a, c, axes=1),
    )
    with pytest.raises(dm.ShapeError, match="match"):
        dm.tensordot(ta, tb, dims=2)
