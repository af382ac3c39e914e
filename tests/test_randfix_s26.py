"""Session-26 fixes of the random-number API (randfuzz items): bounds checks of ``uniform_``,
PyTorch's ``out=`` for ``normal``/``multinomial``/``bernoulli`` (resizing an empty ``out``,
sampling in its dtype, refusing autograd), ``random_``'s bounds, ``randperm``'s dtype limits
and the generator state as a tensor. Expected values are PyTorch 2.x's behaviour."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
from democratising.errors import (
    ArgumentTypeError,
    AutogradError,
    DTypeError,
    InvalidValueError,
)

# ---- uniform_ bounds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "low", "high"),
    [
        ("float32", 0.0, float("nan")),
        ("float32", float("-inf"), 0.0),
        ("float32", 0.0, 1e39),
        ("float16", 0.0, 1e6),
        ("float32", -3e38, 3e38),  # (to - from overflows)
    ],
)
def test_uniform_bounds_outside_the_dtype_raise(dtype: str, low: float, high: float) -> None:
    x = dm.zeros(3, dtype=getattr(dm, dtype))
    with pytest.raises(InvalidValueError):
        x.uniform_(low, high)
    assert x.tolist() == [0.0, 0.0, 0.0]


def test_uniform_largest_finite_bounds_are_accepted() -> None:
    x = dm.empty(1000, dtype=dm.float16).uniform_(-30000.0, 30000.0)
    assert -30000.0 <= x.min().item() and x.max().item() < 30000.0


def test_init_uniform_checks_bounds_and_stays_half_open() -> None:
    w = dm.empty(20_000, dtype=dm.bfloat16, requires_grad=True)
    dm.manual_seed(1)
    assert dm.nn.init.uniform_(w, 2.0, 5.0) is w
    assert w.requires_grad and w.grad_fn is None  # (filled without autograd history)
    assert 2.0 <= w.min().item() and w.max().item() < 5.0
    with pytest.raises(InvalidValueError):
        dm.nn.init.uniform_(w, 5.0, 2.0)
    with pytest.raises(InvalidValueError):
        dm.nn.init.uniform_(dm.empty(3), 0.0, float("inf"))


def test_init_uniform_generator_gives_reproducible_draws() -> None:
    a = dm.nn.init.uniform_(dm.empty(5), -1.0, 1.0, generator=dm.Generator().manual_seed(3))
    b = dm.nn.init.uniform_(dm.empty(5), -1.0, 1.0, generator=dm.Generator().manual_seed(3))
    assert a.tolist() == b.tolist()


# ---- random_ bounds ------------------------------------------------------------------------------


def test_random_accepts_integer_like_bounds() -> None:
    x = dm.zeros(500).random_(np.int64(2), dm.tensor(5))
    assert set(x.tolist()) <= {2.0, 3.0, 4.0}
    y = dm.zeros(500, dtype=dm.int64).random_(**{"from": -2, "to": None})
    assert min(y.tolist()) >= -2


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((2,), {"to": 5.5}),
        ((5.0,), {}),
        ((True, 3), {}),
        ((), {"from": 2}),  # (PyTorch's `from` goes with `to`)
        ((1,), {"from": 2, "to": 5}),
        ((), {"frm": 2, "to": 5}),
    ],
)
def test_random_bad_bounds_raise_type_error(args: tuple, kwargs: dict) -> None:
    with pytest.raises(ArgumentTypeError):
        dm.zeros(3).random_(*args, **kwargs)


# ---- normal(out=) -------------------------------------------------------------------------------


def test_normal_out_samples_in_outs_dtype() -> None:
    out = dm.empty(0, dtype=dm.float64)
    dm.manual_seed(4)
    assert dm.normal(1.0, 2.0, (2, 3), out=out) is out
    dm.manual_seed(4)
    expected = dm.randn(2, 3, dtype=dm.float64) * 2.0 + 1.0
    assert out.dtype == dm.float64 and out.shape == (2, 3)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    half = dm.empty(4, dtype=dm.float16)
    dm.normal(dm.zeros(4), dm.ones(4), out=half)
    assert half.dtype == dm.float16


def test_normal_out_refusals() -> None:
    with pytest.warns(UserWarning, match="resized"):  # (resized, with PyTorch's warning)
        dm.normal(0.0, 1.0, (3,), out=dm.empty(5))
    with pytest.raises(DTypeError):
        dm.normal(0.0, 1.0, (3,), out=dm.empty(3), dtype=dm.float64)
    with pytest.raises(DTypeError):
        dm.normal(dm.zeros(3), dm.ones(3), out=dm.empty(3, dtype=dm.int64))
    with pytest.raises(AutogradError):
        dm.normal(dm.zeros(3, requires_grad=True), 1.0, out=dm.empty(3))
    with pytest.raises(AutogradError):
        dm.normal(0.0, 1.0, (3,), out=dm.empty(3, requires_grad=True))
    with dm.no_grad():
        assert dm.normal(dm.zeros(3, requires_grad=True), 1.0, out=dm.empty(3)).shape == (3,)


# ---- multinomial ---------------------------------------------------------------------------------


def test_multinomial_empty_batches_and_categories() -> None:
    none = dm.multinomial(dm.zeros(0, 3), 2)
    assert none.shape == (0, 2) and none.dtype == dm.int64
    with pytest.raises(InvalidValueError):  # (nothing to draw from, even with replacement)
        dm.multinomial(dm.ones(2, 0), 1, True)


def test_multinomial_out_dtype_and_num_samples_types() -> None:
    with pytest.raises(DTypeError):
        dm.multinomial(dm.ones(3), 2, out=dm.empty(0, dtype=dm.int32))
    with pytest.raises(ArgumentTypeError):
        dm.multinomial(dm.ones(3), True)
    assert dm.multinomial(dm.ones(3), np.int64(2)).shape == (2,)
    out = dm.empty(0, dtype=dm.int64)
    g1, g2 = dm.Generator().manual_seed(5), dm.Generator().manual_seed(5)
    dm.multinomial(dm.ones(2, 6), 3, out=out, generator=g1)
    assert out.tolist() == dm.multinomial(dm.ones(2, 6), 3, generator=g2).tolist()


# ---- bernoulli -----------------------------------------------------------------------------------


def test_bernoulli_out_and_gradients() -> None:
    out = dm.empty(0, dtype=dm.int64)
    assert dm.bernoulli(dm.tensor([0.0, 1.0]), out=out) is out
    assert out.tolist() == [0, 1] and out.dtype == dm.int64
    with pytest.raises(AutogradError):
        dm.bernoulli(dm.full((2,), 0.5, requires_grad=True), out=dm.empty(2))
    x = dm.zeros(3, requires_grad=True)
    y = dm.bernoulli(x, 0.5)  # (p given: x supplies shape and dtype, and still its graph)
    assert y.requires_grad
    y.sum().backward()
    assert x.grad is not None and x.grad.tolist() == [0.0, 0.0, 0.0]


def test_bernoulli_integer_input_with_p_is_allowed() -> None:
    y = dm.bernoulli(dm.zeros(4, dtype=dm.int64), 1.0)
    assert y.dtype == dm.int64 and y.tolist() == [1, 1, 1, 1]


# ---- randperm ------------------------------------------------------------------------------------


def test_randperm_float16_limit() -> None:
    perm = dm.randperm(2049, dtype=dm.float16)
    assert sorted(perm.tolist()) == list(range(2049))
    with pytest.raises(InvalidValueError):
        dm.randperm(3000, out=dm.empty(0, dtype=dm.float16))
    with pytest.raises(DTypeError):
        dm.randperm(2, out=dm.empty(0, dtype=dm.bool))


# ---- generator state -----------------------------------------------------------------------------


def test_generator_state_round_trips_as_a_tensor_or_a_list() -> None:
    g = dm.Generator().manual_seed(12)
    state = g.get_state()
    assert isinstance(state, dm.Tensor) and state.dtype == dm.uint8 and state.shape == (32,)
    first = dm.rand(4, generator=g).tolist()
    assert dm.rand(4, generator=g.set_state(state)).tolist() == first
    assert dm.rand(4, generator=g.set_state(state.tolist())).tolist() == first
    with pytest.raises(DTypeError):
        g.set_state(state.to(dm.float64))


def test_default_generator_state_is_the_global_one() -> None:
    dm.manual_seed(21)
    state = dm.default_generator.get_state()
    first = dm.rand(3).tolist()
    dm.default_generator.set_state(state)
    assert dm.rand(3).tolist() == first
    assert dm.random.get_rng_state().tolist() == dm.default_generator.get_state().tolist()


def test_generator_seed_wraps_to_unsigned_and_draws_as_the_wrapped_seed() -> None:
    g = dm.Generator().manual_seed(-2)
    assert g.initial_seed() == 2**64 - 2
    h = dm.Generator().manual_seed(2**64 - 2)
    assert dm.rand(3, generator=g).tolist() == dm.rand(3, generator=h).tolist()
