"""Behaviour kept by the session-24 de-duplication of the tensor, data, func and distributions
modules: the samplers' shared argument checks, ``new_zeros``/``new_ones``/``new_empty`` built
from one definition, ``bernoulli``'s generator check, ``NegativeBinomial``'s shared
``probs``/``logits`` start, the folded distributions' shared declarations, and the pair
backward of ``func.vjp``/``func.jvp``. Expected values are constants (PyTorch's)."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
import democratising.func as F
from democratising import data
from democratising.distributions import HalfCauchy, HalfNormal, NegativeBinomial
from democratising.errors import ArgumentTypeError, InvalidValueError

# ---- samplers --------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -3, True, 2.0, "4"])
def test_weighted_sampler_rejects_non_positive_int_num_samples(bad: object) -> None:
    with pytest.raises(InvalidValueError) as e:
        data.WeightedRandomSampler([1.0, 2.0], bad)  # type: ignore[arg-type]
    assert str(e.value) == (
        f"num_samples should be a positive integer value, but got num_samples={bad}"
    )
    assert isinstance(e.value, ValueError)


def test_weighted_sampler_rejects_non_bool_replacement() -> None:
    with pytest.raises(ValueError, match=r"^replacement should be a boolean value, but got "):
        data.WeightedRandomSampler([1.0, 2.0], 3, replacement=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -1, False, 1.5])
def test_batch_sampler_rejects_bad_batch_size(bad: object) -> None:
    with pytest.raises(InvalidValueError) as e:
        data.BatchSampler(range(5), bad, False)  # type: ignore[arg-type]
    assert str(e.value) == (
        f"batch_size should be a positive integer value, but got batch_size={bad}"
    )


def test_batch_sampler_rejects_non_bool_drop_last() -> None:
    with pytest.raises(InvalidValueError) as e:
        data.BatchSampler(range(5), 2, 0)  # type: ignore[arg-type]
    assert str(e.value) == "drop_last should be a boolean value, but got drop_last=0"
    assert list(data.BatchSampler(range(5), 2, True)) == [[0, 1], [2, 3]]


def test_random_sampler_replacement_is_a_type_error() -> None:
    with pytest.raises(ArgumentTypeError) as e:
        data.RandomSampler(range(5), replacement="yes")  # type: ignore[arg-type]
    assert str(e.value) == "replacement should be a boolean value, but got replacement=yes"
    assert isinstance(e.value, TypeError) and not isinstance(e.value, ValueError)


# ---- new_zeros / new_ones / new_empty -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fill"), [("new_zeros", 0.0), ("new_ones", 1.0), ("new_empty", 0.0)]
)
def test_new_factories(name: str, fill: float) -> None:
    x = dm.ones(3, dtype=dm.float64)
    make = getattr(x, name)
    a = make(2, 3)
    assert a.shape == (2, 3) and a.dtype == dm.float64 and not a.requires_grad
    if name != "new_empty":  # (new_empty's values are unspecified, as PyTorch's)
        np.testing.assert_array_equal(a.numpy(), np.full((2, 3), fill))
    assert make((4,)).shape == (4,) and make([1, 2]).shape == (1, 2)
    b = make(size=(2,), dtype=dm.int64)
    assert b.shape == (2,) and b.dtype == dm.int64
    assert make(1, requires_grad=True).requires_grad
    assert getattr(dm.Tensor, name).__name__ == name


@pytest.mark.parametrize("name", ["new_zeros", "new_ones", "new_empty"])
def test_new_factories_name_themselves_for_a_non_tensor(name: str) -> None:
    from democratising import _tensor_extra

    with pytest.raises(ArgumentTypeError) as e:
        getattr(_tensor_extra, name)(5, 2)
    assert str(e.value) == f"{name}(): argument 'input' (position 1) must be Tensor, not int"


# ---- bernoulli's generator -------------------------------------------------------------------


def test_bernoulli_rejects_a_non_generator() -> None:
    with pytest.raises(ArgumentTypeError) as e:
        dm.bernoulli(dm.full((3,), 0.5), generator=5)
    assert str(e.value) == "bernoulli(): generator must be a dm.Generator, not 5"
    a = dm.bernoulli(dm.full((64,), 0.5), generator=dm.Generator().manual_seed(3))
    b = dm.bernoulli(dm.full((64,), 0.5), generator=dm.Generator().manual_seed(3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


# ---- NegativeBinomial ------------------------------------------------------------------------


@pytest.mark.parametrize("kw", ["probs", "logits"])
def test_negative_binomial_parameter_follows_a_tensor_total_count(kw: str) -> None:
    # PyTorch: a number parameter takes the dtype of the tensor given beside it.
    d = NegativeBinomial(dm.tensor([5.0, 2.0], dtype=dm.float64), **{kw: 0.3})
    assert getattr(d, kw).dtype == dm.float64 and d.total_count.dtype == dm.float64
    assert tuple(getattr(d, kw).shape) == (2,)
    d32 = NegativeBinomial(4.0, **{kw: 0.3})
    assert getattr(d32, kw).dtype == dm.float32 and tuple(d32.total_count.shape) == ()


def test_negative_binomial_wants_exactly_one_of_probs_and_logits() -> None:
    for kw in ({}, {"probs": 0.3, "logits": 0.1}):
        with pytest.raises(InvalidValueError, match="Either `probs` or `logits`"):
            NegativeBinomial(3.0, **kw)
    d = NegativeBinomial(dm.tensor([3.0, 1.0]), probs=dm.tensor([0.25, 0.5]))
    np.testing.assert_allclose(d.mean.numpy(), [1.0, 1.0], rtol=1e-6)


# ---- HalfNormal / HalfCauchy -----------------------------------------------------------------


@pytest.mark.parametrize("cls", [HalfNormal, HalfCauchy])
def test_folded_distributions_share_their_declarations(cls: type) -> None:
    d = cls(dm.tensor([1.0, 2.0]))
    np.testing.assert_array_equal(d.scale.numpy(), [1.0, 2.0])
    assert d.arg_constraints == {"scale": "GreaterThan(lower_bound=0.0)"}
    assert str(d.support) == "GreaterThanEq(lower_bound=0.0)"
    lp = cls(dm.tensor([1.0, 2.0]), validate_args=False).log_prob(dm.tensor([0.5, -1.0]))
    assert np.isfinite(lp.numpy()[0]) and lp.numpy()[1] == -np.inf


@pytest.mark.parametrize(("cls", "expected"), [(HalfNormal, -1.2001885), (HalfCauchy, -1.5910170)])
def test_folded_log_prob_values(cls: type, expected: float) -> None:
    # PyTorch's values: log(2) plus the base's log-density at 1.5 for scale 2.
    np.testing.assert_allclose(float(cls(2.0).log_prob(dm.tensor(1.5))), expected, rtol=1e-6)


# ---- func.vjp / func.jvp ---------------------------------------------------------------------


def test_vjp_fn_can_be_called_twice_and_fills_unused_inputs() -> None:
    a, b = dm.tensor([1.0, 2.0]), dm.tensor([3.0])
    _, fn = F.vjp(lambda x, y: x**2, a, b)
    for _ in range(2):
        ga, gb = fn(dm.ones(2))
        np.testing.assert_allclose(ga.numpy(), [2.0, 4.0])
        np.testing.assert_array_equal(gb.numpy(), [0.0])
    _, fn_const = F.vjp(lambda x: x.detach() * 2, a)
    np.testing.assert_array_equal(fn_const(dm.ones(2))[0].numpy(), [0.0, 0.0])


def test_jvp_of_an_output_independent_of_the_input_is_zero() -> None:
    a = dm.tensor([1.0, 2.0])
    _, tangent = F.jvp(lambda x: (x * 3, dm.ones(2)), (a,), (dm.tensor([1.0, -1.0]),))
    np.testing.assert_allclose(tangent[0].numpy(), [3.0, -3.0])
    np.testing.assert_array_equal(tangent[1].numpy(), [0.0, 0.0])
