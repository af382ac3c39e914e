"""``dm.testing`` (``assert_close``, ``make_tensor``, ``assert_allclose``) and the tensor repr,
against PyTorch 2.15: the expected messages and strings were printed by ``torch.testing`` and
``repr(torch.tensor(...))`` (with ``torch.`` written ``democratising.``)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
import democratising.testing as dm_testing

nan, inf = math.nan, math.inf


@pytest.fixture(autouse=True)
def _restore_printoptions() -> Iterator[None]:
    yield
    dm.set_printoptions(profile="default")


def _raised(fn: Callable[[], Any]) -> tuple[type[BaseException], str]:
    """The built-in exception type PyTorch would raise (ours are typed subclasses of it, e.g.
    ``InvalidValueError`` of ``ValueError``) and the message."""
    with pytest.raises(Exception) as info:
        fn()
    builtin = next(t for t in info.type.__mro__ if t.__module__ == "builtins")
    return builtin, str(info.value)


# ---- assert_close ------------------------------------------------------------------------


def test_module_import_forms() -> None:
    assert dm.testing is dm_testing
    assert callable(dm.testing.assert_close) and callable(dm.testing.make_tensor)


def test_float32_mismatch_message() -> None:
    kind, msg = _raised(
        lambda: dm.testing.assert_close(dm.tensor([1.0, 2.0, 3.0]), dm.tensor([1.0, 2.1, 3.5]))
    )
    assert kind is AssertionError
    assert msg == (
        "Tensor-likes are not close!\n\nMismatched elements: 2 / 3 (66.7%)\n"
        "Greatest absolute difference: 0.5 at index (2,) (up to 1e-05 allowed)\n"
        "Greatest relative difference: 0.1428571492433548 at index (2,) (up to 1.3e-06 allowed)"
    )


def test_default_tolerances_per_dtype() -> None:
    # float32: 1.3e-6 relative / 1e-5 absolute; 1e6 vs 1e6 + 2 is outside, + 1e-6 inside
    dm.testing.assert_close(dm.tensor([1.0, 2.0, 3.0]), dm.tensor([1.0, 2.0, 3.0 + 1e-6]))
    _, msg = _raised(lambda: dm.testing.assert_close(dm.tensor([1e6]), dm.tensor([1e6 + 2])))
    assert msg.endswith(
        "Greatest absolute difference: 2.0 at index (0,) (up to 1e-05 allowed)\n"
        "Greatest relative difference: 1.9999959022243274e-06 at index (0,) (up to 1.3e-06 allowed)"
    )
    # float16 (1e-3 relative) and bfloat16 (1.6e-2), the differences computed in the dtype
    f16 = dm.float16
    dm.testing.assert_close(
        dm.tensor([1.0, 2.0, 3.0], dtype=f16), dm.tensor([1.0, 2.001, 3.0], dtype=f16)
    )
    _, msg = _raised(
        lambda: dm.testing.assert_close(
            dm.tensor([1.0, 2.0, 3.0], dtype=f16), dm.tensor([1.0, 2.01, 3.0], dtype=f16)
        )
    )
    assert msg == (
        "Tensor-likes are not close!\n\nMismatched elements: 1 / 3 (33.3%)\n"
        "Greatest absolute difference: 0.009765625 at index (1,) (up to 1e-05 allowed)\n"
        "Greatest relative difference: 0.00485992431640625 at index (1,) (up to 0.001 allowed)"
    )
    bf = dm.bfloat16
    dm.testing.assert_close(
        dm.tensor([1.0, 2.0, 3.0], dtype=bf), dm.tensor([1.0, 2.02, 3.0], dtype=bf)
    )
    _, msg = _raised(
        lambda: dm.testing.assert_close(
            dm.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=bf),
            dm.tensor([[1.0, 2.0], [3.5, 4.0]], dtype=bf),
        )
    )
    assert msg == (
        "Tensor-likes are not close!\n\nMismatched elements: 1 / 4 (25.0%)\n"
        "Greatest absolute difference: 0.5 at index (1, 0) (up to 1e-05 allowed)\n"
        "Greatest relative difference: 0.142578125 at index (1, 0) (up to 0.016 allowed)"
    )


def test_integers_and_bools_compare_exactly() -> None:
    _, msg = _raised(lambda: dm.testing.assert_close(dm.tensor([1, 0]), dm.tensor([3, 0])))
    assert msg == (
        "Tensor-likes are not equal!\n\nMismatched elements: 1 / 2 (50.0%)\n"
        "Greatest absolute difference: 2 at index (0,)\n"
        "Greatest relative difference: 0.6666666865348816 at index (0,)"
    )
    _, msg = _raised(
        lambda: dm.testing.assert_close(dm.tensor([True, False]), dm.tensor([True, True]))
    )
    assert msg == (
        "Tensor-likes are not equal!\n\nMismatched elements: 1 / 2 (50.0%)\n"
        "Greatest absolute difference: 1 at index (1,)\n"
        "Greatest relative difference: 1.0 at index (1,)"
    )


def test_zero_dim_tensors_and_python_numbers_use_the_scalar_message() -> None:
    _, msg = _raised(lambda: dm.testing.assert_close(dm.tensor(1.0), dm.tensor(1.5)))
    assert msg == (
        "Scalars are not close!\n\nExpected 1.5 but got 1.0.\n"
        "Absolute difference: 0.5 (up to 1e-05 allowed)\n"
        "Relative difference: 0.3333333333333333 (up to 1.3e-06 allowed)"
    )
    _, msg = _raised(lambda: dm.testing.assert_close(1.0, 1.1))
    assert msg == (
        "Scalars are not close!\n\nExpected 1.1 but got 1.0.\n"
        "Absolute difference: 0.10000000000000009 (up to 1e-07 allowed)\n"
        "Relative difference: 0.09090909090909098 (up to 1e-07 allowed)"
    )
    dm.testing.assert_close(1.0, 1.0 + 1e-8)
    assert _raised(lambda: dm.testing.assert_close(1, 1.0)) == (
        AssertionError,
        "The (d)types do not match: <class 'int'> != <class 'float'>.",
    )
    assert _raised(lambda: dm.testing.assert_close(True, False)) == (
        AssertionError,
        "Booleans mismatch: True is not False",
    )
    assert _raised(lambda: dm.testing.assert_close(None, 1)) == (
        AssertionError,
        "None mismatch: None is not 1",
    )
    dm.testing.assert_close(None, None)


def test_nested_sequences_and_mappings() -> None:
    actual = {"a": [1.0, {"b": dm.tensor([1.0, 2.0])}]}
    expected = {"a": [1.0, {"b": dm.tensor([1.0, 2.5])}]}
    _, msg = _raised(lambda: dm.testing.assert_close(actual, expected))
    assert msg == (
        "Tensor-likes are not close!\n\nMismatched elements: 1 / 2 (50.0%)\n"
        "Greatest absolute difference: 0.5 at index (1,) (up to 1e-05 allowed)\n"
        "Greatest relative difference: 0.20000000298023224 at index (1,) (up to 1.3e-06 allowed)"
        "\n\nThe failure occurred for item ['a'][1]['b']"
    )
    assert _raised(lambda: dm.testing.assert_close({"a": 1, "b": 2}, {"a": 1, "c": 2})) == (
        AssertionError,
        "The keys of the mappings do not match:\nMissing keys in the actual mapping: ['c']\n"
        "Additional keys in the actual mapping: ['b']",
    )
    assert _raised(lambda: dm.testing.assert_close([1, 2], [1, 2, 3])) == (
        AssertionError,
        "The length of the sequences mismatch: 2 != 3",
    )
    dm.testing.assert_close((1.0, 2.0), [1.0, 2.0])  # (any two sequences)


def test_type_and_argument_errors() -> None:
    kind, msg = _raised(lambda: dm.testing.assert_close(dm.tensor(1.0), 1.0))
    assert kind is TypeError
    assert re.fullmatch(
        r"No comparison pair was able to handle inputs of type <class '.*Tensor'> and "
        r"<class 'float'>\.",
        msg,
    )
    kind, _ = _raised(lambda: dm.testing.assert_close(np.array([1.0]), dm.tensor([1.0])))
    assert kind is TypeError
    assert _raised(
        lambda: dm.testing.assert_close(dm.tensor([1.0]), dm.tensor([1.0]), rtol=1e-3)
    ) == (
        ValueError,
        "Both 'rtol' and 'atol' must be either specified or omitted, but got no atol.",
    )


def test_attribute_checks() -> None:
    _, msg = _raised(
        lambda: dm.testing.assert_close(dm.tensor([1.0, 2.0]), dm.tensor([1.0, 2.0, 3.0]))
    )
    assert msg.startswith("The values for attribute 'shape' do not match: ")
    _, msg = _raised(
        lambda: dm.testing.assert_close(dm.tensor([1.0]), dm.tensor([1.0], dtype=dm.float64))
    )
    assert msg == (
        f"The values for attribute 'dtype' do not match: {dm.float32!r} != {dm.float64!r}."
    )
    # check_dtype=False promotes both, and the message is that of the common dtype
    _, msg = _raised(
        lambda: dm.testing.assert_close(dm.tensor([1, 2]), dm.tensor([1.0, 2.5]), check_dtype=False)
    )
    assert msg.endswith(
        "Greatest relative difference: 0.20000000298023224 at index (1,) (up to 1.3e-06 allowed)"
    )
    assert _raised(
        lambda: dm.testing.assert_close(dm.zeros(2, 3).t(), dm.zeros(3, 2), check_stride=True)
    ) == (AssertionError, "The values for attribute 'stride()' do not match: (1, 3) != (2, 1).")
    dm.testing.assert_close(dm.zeros(2, 3).t(), dm.zeros(3, 2))


def test_nan_inf_tolerances_and_msg() -> None:
    x = dm.tensor([nan, 1.0, inf])
    dm.testing.assert_close(x, dm.tensor([nan, 1.0, inf]), equal_nan=True)
    with pytest.raises(AssertionError):
        dm.testing.assert_close(x, dm.tensor([nan, 1.0, inf]))
    _, msg = _raised(lambda: dm.testing.assert_close(dm.tensor([1.0, 2.0]), dm.tensor([nan, 1.0])))
    assert (
        "Mismatched elements: 2 / 2 (100.0%)\nGreatest absolute difference: nan at index (0,)"
        in msg
    )
    with pytest.raises(AssertionError):
        dm.testing.assert_close(dm.tensor([inf]), dm.tensor([-inf]))
    dm.testing.assert_close(dm.tensor([1.0, 2.0]), dm.tensor([1.0, 2.1]), rtol=0.05, atol=0.01)
    _, msg = _raised(
        lambda: dm.testing.assert_close(
            dm.tensor([1.0, 2.0]), dm.tensor([1.0, 2.1]), rtol=0, atol=0
        )
    )
    assert msg == (
        "Tensor-likes are not equal!\n\nMismatched elements: 1 / 2 (50.0%)\n"
        "Greatest absolute difference: 0.09999990463256836 at index (1,)\n"
        "Greatest relative difference: 0.04761900380253792 at index (1,)"
    )
    assert _raised(
        lambda: dm.testing.assert_close(dm.tensor([1.0]), dm.tensor([2.0]), msg="boom")
    ) == (AssertionError, "boom")
    _, msg = _raised(
        lambda: dm.testing.assert_close(
            [dm.tensor([1.0])], [dm.tensor([2.0])], msg=lambda m: f"H\n{m}\nF"
        )
    )
    assert msg.startswith("H\nTensor-likes are not close!") and msg.endswith(
        "The failure occurred for item [0]\nF"
    )


def test_numpy_arrays_and_subclasses() -> None:
    dm.testing.assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    _, msg = _raised(lambda: dm.testing.assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.5])))
    assert "(up to 1e-07 allowed)" in msg  # (float64: NumPy's default dtype)
    p = dm.nn.Parameter(dm.tensor([1.0, 2.0]))
    dm.testing.assert_close(p, dm.tensor([1.0, 2.0]))
    with pytest.raises(TypeError):
        dm.testing.assert_close(p, dm.tensor([1.0, 2.0]), allow_subclasses=False)
    # tensors that require grad compare by value
    dm.testing.assert_close(dm.tensor([1.0], requires_grad=True), dm.tensor([1.0]))


def test_assert_allclose_is_deprecated_and_looser() -> None:
    with pytest.warns(FutureWarning):
        dm.testing.assert_allclose(dm.tensor([1.0, 2.0]), [1.0, 2.00001])
    with pytest.warns(FutureWarning):
        dm.testing.assert_allclose(dm.tensor([nan]), dm.tensor([nan]))  # (NaNs equal)
    with pytest.warns(FutureWarning):
        _, msg = _raised(lambda: dm.testing.assert_allclose(dm.tensor([1.0, 2.0]), [1.0, 2.1]))
    assert msg.endswith(
        "Greatest relative difference: 0.04761900380253792 at index (1,) (up to 0.0001 allowed)"
    )


# ---- make_tensor -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "low", "high"),
    [
        (dm.float32, -9, 9),
        (dm.float64, -9, 9),
        (dm.float16, -9, 9),
        (dm.bfloat16, -9, 9),
        (dm.int32, -9, 9),
        (dm.int64, -9, 9),
        (dm.bool, 0, 1),
    ],
)
def test_make_tensor_default_ranges(dtype: Any, low: float, high: float) -> None:
    t = dm.testing.make_tensor(20, 30, dtype=dtype, device="cpu")
    assert tuple(t.shape) == (20, 30) and t.dtype == dtype and not t.requires_grad
    values = np.asarray(t.float())
    assert values.min() >= low and values.max() <= high
    assert len(np.unique(values)) > 1


def test_make_tensor_options() -> None:
    t = dm.testing.make_tensor((3, 4), dtype=dm.float16, device="cpu", noncontiguous=True)
    assert tuple(t.shape) == (3, 4) and not t.is_contiguous()
    assert dm.testing.make_tensor(
        1, dtype=dm.float32, device="cpu", noncontiguous=True
    ).is_contiguous()
    assert dm.testing.make_tensor([2, 5], dtype=dm.float32, device="cpu").shape == (2, 5)
    assert dm.testing.make_tensor((), dtype=dm.float32, device="cpu").shape == ()
    g = dm.testing.make_tensor(5, dtype=dm.bfloat16, device="cpu", requires_grad=True)
    assert g.requires_grad and g.is_leaf
    z = dm.testing.make_tensor(500, dtype=dm.int32, device="cpu", exclude_zero=True)
    assert bool((z != 0).all())
    ints = dm.testing.make_tensor(400, dtype=dm.int64, device="cpu", low=-2.5, high=1.5)
    assert sorted(set(ints.tolist())) == [-2, -1, 0, 1]  # (bounds rounded up, as PyTorch)
    assert set(dm.testing.make_tensor(100, dtype=dm.bool, device="cpu", low=1).tolist()) == {True}
    huge = dm.testing.make_tensor(50, dtype=dm.float32, device="cpu", low=-1e39, high=1e39)
    assert bool(huge.isfinite().all())  # (clamped to the dtype's range)


def test_make_tensor_errors() -> None:
    mk = dm.testing.make_tensor
    assert _raised(lambda: mk(5, dtype=dm.int64, device="cpu", requires_grad=True)) == (
        ValueError,
        "`requires_grad=True` is not supported for boolean and integral dtypes, "
        f"but got dtype={dm.int64}",
    )
    assert _raised(lambda: mk(5, dtype=dm.float32, device="cpu", low=3, high=1)) == (
        ValueError,
        "`low` must be less than `high`, but got 3 >= 1",
    )
    assert _raised(lambda: mk(5, dtype=dm.float32, device="cpu", low=nan)) == (
        ValueError,
        "`low` and `high` cannot be NaN, but got low=nan and high=9",
    )
    assert _raised(lambda: mk(5, dtype=dm.int32, device="cpu", low=2**40, high=2**41)) == (
        ValueError,
        "The value interval specified by `low` and `high` is [1099511627776, 2199023255552), "
        f"but {dm.int32} only supports [-2147483648, 2147483648)",
    )
    with pytest.raises(TypeError):
        mk(3, dtype=dm.float32)  # type: ignore[call-arg]  (device is required, as in PyTorch)


# ---- tensor printing ---------------------------------------------------------------------

D = "democratising"


@pytest.mark.parametrize(
    ("make", "want"),
    [
        (lambda: dm.tensor([-0.0, 1.0]), "tensor([-0., 1.])"),
        (lambda: dm.tensor([-0.0, 1.5]), "tensor([-0.0000, 1.5000])"),
        (lambda: dm.tensor([nan, inf, -inf, 1.0]), "tensor([nan, inf, -inf, 1.])"),
        (lambda: dm.tensor([1e10, 1.0]), "tensor([1.0000e+10, 1.0000e+00])"),
        (lambda: dm.tensor([1.0, 1001.0]), "tensor([1.0000e+00, 1.0010e+03])"),
        (
            lambda: dm.arange(2000.0),
            "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n"
            "        1.9990e+03])",
        ),
        (lambda: dm.arange(1001), "tensor([   0,    1,    2,  ...,  998,  999, 1000])"),
        (lambda: dm.tensor([], dtype=dm.int64), f"tensor([], dtype={D}.int64)"),
        (lambda: dm.zeros(2, 0, dtype=dm.int64), f"tensor([], size=(2, 0), dtype={D}.int64)"),
        (lambda: dm.zeros(0, 3), "tensor([], size=(0, 3))"),
        (
            lambda: dm.tensor([60000.0, 1.0], dtype=dm.float16),
            f"tensor([6.0000e+04, 1.0000e+00], dtype={D}.float16)",
        ),
        (
            lambda: dm.tensor([1.5, 2.1], dtype=dm.bfloat16),
            f"tensor([1.5000, 2.0938], dtype={D}.bfloat16)",
        ),
        (lambda: dm.tensor(1e-10), "tensor(1.0000e-10)"),
        (
            lambda: dm.tensor([1.0, 2.0], dtype=dm.float64, requires_grad=True),
            f"tensor([1., 2.], dtype={D}.float64, requires_grad=True)",
        ),
        (
            lambda: dm.arange(12.0).reshape(2, 2, 3),
            "tensor([[[ 0.,  1.,  2.],\n         [ 3.,  4.,  5.]],\n\n"
            "        [[ 6.,  7.,  8.],\n         [ 9., 10., 11.]]])",
        ),
        (lambda: dm.tensor([nan]), "tensor([nan])"),
        (lambda: dm.zeros(3), "tensor([0., 0., 0.])"),
        (lambda: dm.tensor([True, False]), "tensor([ True, False])"),
        (lambda: dm.tensor([1, 2, 3], dtype=dm.int32), f"tensor([1, 2, 3], dtype={D}.int32)"),
    ],
)
def test_repr_matches_pytorch(make: Callable[[], Any], want: str) -> None:
    assert repr(make()) == want
    assert str(make()) == want


def test_printoptions_match_pytorch() -> None:
    dm.set_printoptions(threshold=5, edgeitems=0)
    assert repr(dm.arange(10.0)) == "tensor([...], size=(10,))"
    assert repr(dm.arange(12.0).reshape(3, 4)) == "tensor([...], size=(3, 4))"
    dm.set_printoptions(profile="default", linewidth=20)
    assert repr(dm.arange(3.0) / 3) == "tensor([0.0000,\n        0.3333,\n        0.6667])"
    dm.set_printoptions(profile="short")
    assert repr(dm.arange(4.0) / 3) == "tensor([0.00, 0.33, 0.67, 1.00])"
    dm.set_printoptions(profile="default", threshold=5)
    assert repr(dm.arange(6.0).reshape(2, 3)) == "tensor([[0., 1., 2.],\n        [3., 4., 5.]])"
    dm.set_printoptions(threshold=5, edgeitems=2)
    assert repr(dm.arange(10.0)) == "tensor([0., 1.,  ..., 8., 9.])"
    # sci_mode is set by every call: a later call without it goes back to automatic
    dm.set_printoptions(sci_mode=True)
    dm.set_printoptions(precision=3)
    assert repr(dm.tensor([1.5, 2.0])) == "tensor([1.500, 2.000])"


def test_get_printoptions_and_printoptions_context() -> None:
    from democratising import _format

    assert _format.get_printoptions() == {
        "precision": 4,
        "threshold": 1000,
        "edgeitems": 3,
        "linewidth": 80,
        "sci_mode": None,
    }
    with _format.printoptions(precision=2):
        assert repr(dm.tensor([1 / 3])) == "tensor([0.33])"
    assert repr(dm.tensor([1 / 3])) == "tensor([0.3333])"


# ---- out= on the random creation functions (PyTorch's torch.rand(2, 3, out=buf)) ----------


def test_random_creation_out() -> None:
    buf = dm.empty(5)
    assert dm.rand(2, 3, out=buf) is buf and buf.shape == (2, 3)  # (resized, as PyTorch)
    dm.manual_seed(0)
    want = dm.rand(2, dtype=dm.float64).tolist()
    dm.manual_seed(0)
    buf = dm.empty(2, dtype=dm.float64)
    dm.rand(2, out=buf)
    assert buf.tolist() == want  # (drawn in out's dtype)
    g = dm.randn(2, generator=dm.Generator().manual_seed(3), out=dm.empty(2))
    assert g.tolist() == dm.randn(2, generator=dm.Generator().manual_seed(3)).tolist()
    ints = dm.empty(3, dtype=dm.int32)
    assert dm.randint(0, 5, (3,), out=ints) is ints and ints.dtype == dm.int32
    assert 0 <= int(ints.min()) and int(ints.max()) < 5
    perm = dm.empty(1, dtype=dm.int32)
    assert dm.randperm(4, out=perm) is perm and sorted(perm.tolist()) == [0, 1, 2, 3]
    with pytest.raises(dm.DTypeError, match="does not match dtype of out parameter"):
        dm.rand(2, out=dm.empty(2, dtype=dm.float64), dtype=dm.float32)
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        dm.rand(2, out=dm.empty(2, requires_grad=True))


def test_devices_pickle_and_deepcopy() -> None:
    """``copy.deepcopy`` of anything holding a device (a module keeping ``self.device``, a
    Generator) raised "cannot pickle 'democratising.Device' object"."""
    import copy
    import pickle

    assert copy.deepcopy(dm.device("cpu")) == dm.device("cpu")
    assert pickle.loads(pickle.dumps(dm.Device("cuda:1"))) == dm.Device("cuda:1")
    copy.deepcopy(dm.Generator())
