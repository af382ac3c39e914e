"""Regression tests for PyTorch-parity defects in tensor creation functions (audit 15)."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm


@pytest.mark.parametrize(
    ("start", "end", "steps", "base"),
    [(0, 1, 0, 10.0), (0, 1, 1, 10.0), (0, 1, 5, 10.0), (1, 0, 3, 10.0), (0, 3, 4, 2.0)],
)
def test_logspace_matches_numpy(start: float, end: float, steps: int, base: float) -> None:
    out = dm.logspace(start, end, steps, base)
    assert out.dtype == dm.float32 and out.shape == (steps,)
    np.testing.assert_allclose(out.numpy(), np.logspace(start, end, steps, base=base), rtol=1e-6)


def test_logspace_dtype_requires_grad_and_bad_steps() -> None:
    out = dm.logspace(0, 3, 4, dtype=dm.float64, requires_grad=True)
    assert out.dtype == dm.float64 and out.requires_grad
    assert out.tolist() == [1.0, 10.0, 100.0, 1000.0]
    with pytest.raises(RuntimeError):
        dm.logspace(0, 1, -1)


def test_meshgrid_rejects_mixed_dtypes_matrices_and_no_inputs() -> None:
    with pytest.raises(RuntimeError, match="same dtype"):
        dm.meshgrid(dm.tensor([1, 2]), dm.tensor([1.0, 2.0]), indexing="ij")
    with pytest.raises(RuntimeError, match="0D or 1D"):
        dm.meshgrid(dm.ones(2, 2), indexing="ij")
    with pytest.raises(RuntimeError, match="non-empty"):
        dm.meshgrid(indexing="ij")


def test_meshgrid_values_still_match_numpy() -> None:
    x, y = np.array([1.0, 2.0, 3.0], np.float32), np.array([4.0, 5.0], np.float32)
    for indexing in ("ij", "xy"):
        got = dm.meshgrid(dm.tensor(x), dm.tensor(y), indexing=indexing)
        for g, want in zip(got, np.meshgrid(x, y, indexing=indexing)):
            np.testing.assert_array_equal(g.numpy(), want)


@pytest.mark.parametrize("diagonal", [-1, 0, 1])
def test_tril_triu_keep_bool_dtype(diagonal: int) -> None:
    mask = np.ones((3, 4), dtype=bool)
    upper = dm.triu(dm.tensor(mask), diagonal)
    lower = dm.tril(dm.tensor(mask), diagonal=diagonal)
    assert upper.dtype == dm.bool and lower.dtype == dm.bool
    np.testing.assert_array_equal(upper.numpy(), np.triu(mask, diagonal))
    np.testing.assert_array_equal(lower.numpy(), np.tril(mask, diagonal))


def test_tril_of_a_vector_is_a_runtime_error_like_pytorch() -> None:
    with pytest.raises(RuntimeError):
        dm.tril(dm.ones(3))


def test_arange_takes_end_by_keyword_and_refuses_bool() -> None:
    from democratising.errors import DTypeError

    np.testing.assert_array_equal(dm.arange(end=3).numpy(), [0, 1, 2])
    np.testing.assert_array_equal(dm.arange(start=1, end=3).numpy(), [1, 2])
    assert dm.arange(end=3).dtype == dm.int64
    with pytest.raises(TypeError, match="end"):
        dm.arange()
    with pytest.raises(DTypeError, match="bool"):
        dm.arange(2, dtype=dm.bool)
