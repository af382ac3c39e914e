"""``Distribution._validate_sample``'s shape checks (PyTorch's two ``ValueError``s, raised here
as ``ShapeError``) and ``ExponentialFamily`` (Bregman entropy and same-family KL, the families
that derive from it, and the KL registry's precedence). Expected numbers were computed with
PyTorch 2.x (``torch.distributions``) and pasted here."""

from __future__ import annotations

import math
from typing import Any, Callable

import pytest

import democratising as dm
from democratising import distributions as D
from democratising.distributions import ExponentialFamily, kl
from democratising.errors import InvalidValueError, ShapeError

F64 = dm.float64
EVENT_MSG = "The right-most size of value must match event_shape"
BATCH_MSG = "Value is not broadcastable with batch_shape\\+event_shape"


def t(x: Any) -> dm.Tensor:
    return dm.tensor(x, dtype=F64)


def zeros(*shape: int) -> dm.Tensor:
    return dm.zeros(*shape, dtype=F64)


def ones(*shape: int) -> dm.Tensor:
    return dm.ones(*shape, dtype=F64)


P23 = [[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]
COV = [[[2.0, 0.3], [0.3, 1.0]], [[1.0, -0.2], [-0.2, 0.5]]]

# (distribution, value shape, expected): "ok", "event" or "batch"; each outcome as PyTorch's.
SHAPE_CASES: list[tuple[str, Callable[[], D.Distribution], tuple[int, ...], str]] = [
    ("normal-exact", lambda: D.Normal(zeros(2), ones(2)), (2,), "ok"),
    ("normal-lead", lambda: D.Normal(zeros(2), ones(2)), (4, 2), "ok"),
    ("normal-batch1", lambda: D.Normal(zeros(2), ones(2)), (4, 1), "ok"),
    ("normal-scalar", lambda: D.Normal(zeros(2), ones(2)), (), "ok"),
    ("normal-batch3", lambda: D.Normal(zeros(2), ones(2)), (3,), "batch"),
    ("normal-inner", lambda: D.Normal(zeros(2, 3), ones(2, 3)), (3, 3), "batch"),
    ("normal-param1", lambda: D.Normal(zeros(1, 3), ones(1, 3)), (5, 3), "ok"),
    ("categorical-exact", lambda: D.Categorical(t(P23)), (2,), "ok"),
    ("categorical-trail1", lambda: D.Categorical(t(P23)), (3, 2, 1), "ok"),
    ("categorical-batch3", lambda: D.Categorical(t(P23)), (3,), "batch"),
    ("onehot-event", lambda: D.OneHotCategorical(t(P23)), (2, 2), "event"),
    ("onehot-event-only", lambda: D.OneHotCategorical(t(P23)), (3,), "ok"),
    ("onehot-event+dim", lambda: D.OneHotCategorical(t(P23)), (2, 3, 1), "event"),
    ("onehot-batch", lambda: D.OneHotCategorical(t(P23)), (4, 3, 3), "batch"),
    ("dirichlet-scalar", lambda: D.Dirichlet(ones(2, 3)), (), "event"),
    ("dirichlet-short", lambda: D.Dirichlet(ones(2, 3)), (1,), "event"),
    ("mvn-event", lambda: D.MultivariateNormal(zeros(2, 2), t(COV)), (2, 3), "event"),
    ("mvn-batch", lambda: D.MultivariateNormal(zeros(2, 2), t(COV)), (3, 2), "batch"),
    ("wishart-matrix", lambda: D.Wishart(t([4.0, 5.0]), t(COV)), (2, 2), "ok"),
    ("wishart-event", lambda: D.Wishart(t([4.0, 5.0]), t(COV)), (2, 2, 1), "event"),
    ("wishart-batch", lambda: D.Wishart(t([4.0, 5.0]), t(COV)), (3, 2, 2), "batch"),
    (
        "independent-batch",
        lambda: D.Independent(D.Normal(zeros(2, 3), ones(2, 3)), 1),
        (4, 3),
        "batch",
    ),
    (
        "mixture-batch",
        lambda: D.MixtureSameFamily(D.Categorical(t(P23)), D.Normal(zeros(2, 3), ones(2, 3))),
        (3,),
        "batch",
    ),
    ("lognormal-batch", lambda: D.LogNormal(zeros(2), ones(2)), (3,), "batch"),
]


def _value(shape: tuple[int, ...], name: str) -> dm.Tensor:
    """A value inside every support used above (one-hot/simplex rows, 0 for the counts,
    identity matrices for Wishart, 0.5 elsewhere), of the given shape."""
    if name.startswith(("onehot", "dirichlet")) and shape and shape[-1] == 3:
        return t([1.0, 0.0, 0.0]).expand(*shape)
    if name.startswith("wishart") and shape[-2:] == (2, 2):
        return dm.eye(2, dtype=F64).expand(*shape)
    if name.startswith("categorical"):
        return dm.zeros(*shape, dtype=dm.int64)
    return dm.full(shape, 0.5, dtype=F64)


@pytest.mark.parametrize(("name", "make", "shape", "expected"), SHAPE_CASES, ids=lambda c: c)
def test_validate_sample_shapes_as_pytorch(
    name: str, make: Callable[[], D.Distribution], shape: tuple[int, ...], expected: str
) -> None:
    d = make()
    value = _value(shape, name)
    if expected == "ok":
        lp = d.log_prob(value)
        assert all(math.isfinite(v) for v in lp.reshape(-1).tolist())
        return
    msg = EVENT_MSG if expected == "event" else BATCH_MSG
    with pytest.raises(ShapeError, match=msg) as info:
        d.log_prob(value)
    assert isinstance(info.value, ValueError)  # PyTorch raises ValueError


def test_shape_error_message_names_both_shapes() -> None:
    d = D.Normal(zeros(2), ones(2))
    with pytest.raises(ShapeError) as info:
        d.log_prob(zeros(3))
    assert str(info.value) == (
        "Value is not broadcastable with batch_shape+event_shape: "
        "democratising.Size([3]) vs democratising.Size([2])."
    )
    m = D.MultivariateNormal(zeros(2), dm.eye(2, dtype=F64))
    with pytest.raises(ShapeError) as info:
        m.log_prob(zeros(4, 3))
    assert str(info.value) == (
        "The right-most size of value must match event_shape: "
        "democratising.Size([4, 3]) vs democratising.Size([2])."
    )


def test_shape_checked_before_support_and_cdf_checked_too() -> None:
    # PyTorch checks the shape first: a value both misshapen and outside the support is a
    # shape error; a well-shaped one outside the support is still rejected.
    d = D.Exponential(t([0.5, 2.0]))
    with pytest.raises(ShapeError, match=BATCH_MSG):
        d.log_prob(t([-1.0, -1.0, -1.0]))
    with pytest.raises(InvalidValueError, match="support"):
        d.log_prob(t([-1.0, 1.0]))
    with pytest.raises(ShapeError, match=BATCH_MSG):
        d.cdf(t([1.0, 1.0, 1.0]))


def test_no_shape_check_without_validate_args() -> None:
    # A value PyTorch's check rejects (event size 1 against 3) still broadcasts in the
    # computation; with ``validate_args=False`` nothing is checked, as in PyTorch.
    d = D.Dirichlet(ones(2, 3), validate_args=False)
    lp = d.log_prob(t([0.5]))
    assert tuple(lp.shape) == (2,)
    # Both Dirichlet(1, 1, 1) rows: log Gamma(3) = log 2 (the value's terms vanish).
    assert lp.tolist() == pytest.approx([math.log(2.0)] * 2)
    with pytest.raises(ShapeError, match=EVENT_MSG):
        D.Dirichlet(ones(2, 3)).log_prob(t([0.5]))
    # A size-1 batch dimension broadcasts either way (PyTorch accepts it too).
    n = D.Normal(zeros(2, 1), ones(2, 1))
    assert tuple(n.log_prob(zeros(3)).shape) == (2, 3)


def test_set_default_validate_args_off_skips_shape_checks() -> None:
    D.Distribution.set_default_validate_args(False)
    try:
        d = D.Dirichlet(ones(2, 3))
        assert tuple(d.log_prob(t([0.5])).shape) == (2,)
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ShapeError, match=EVENT_MSG):
        D.Dirichlet(ones(2, 3)).log_prob(t([0.5]))


# ---- ExponentialFamily -------------------------------------------------------------------


def _pair(name: str) -> tuple[D.Distribution, D.Distribution]:
    return {
        "Normal": lambda: (
            D.Normal(t([0.3, -1.0]), t([0.7, 2.0])),
            D.Normal(t([1.0, 0.0]), t([1.5, 1.0])),
        ),
        "Bernoulli": lambda: (D.Bernoulli(t([0.2, 0.9])), D.Bernoulli(t([0.6, 0.5]))),
        "Beta": lambda: (
            D.Beta(t([0.5, 2.0]), t([1.5, 3.0])),
            D.Beta(t([1.0, 1.0]), t([2.5, 0.5])),
        ),
        "ContinuousBernoulli": lambda: (
            D.ContinuousBernoulli(t([0.2, 0.4995, 0.8])),
            D.ContinuousBernoulli(t([0.7, 0.3, 0.5])),
        ),
        "Dirichlet": lambda: (
            D.Dirichlet(t([[0.5, 2.0, 1.0], [3.0, 1.0, 0.2]])),
            D.Dirichlet(t([[1.0, 1.0, 1.0], [0.5, 2.0, 2.0]])),
        ),
        "Exponential": lambda: (D.Exponential(t([0.5, 3.0])), D.Exponential(t([2.0, 1.0]))),
        "Gamma": lambda: (
            D.Gamma(t([0.5, 3.0]), t([2.0, 0.7])),
            D.Gamma(t([1.5, 1.0]), t([1.0, 2.0])),
        ),
        "Chi2": lambda: (D.Chi2(t([1.5, 4.0])), D.Chi2(t([2.5, 1.0]))),
        "Poisson": lambda: (D.Poisson(t([0.5, 3.0])), D.Poisson(t([1.5, 0.5]))),
        "Wishart": lambda: (
            D.Wishart(t(4.0), t([[2.0, 0.3], [0.3, 1.0]])),
            D.Wishart(t(3.0), dm.eye(2, dtype=F64)),
        ),
    }[name]()


# PyTorch's ``ExponentialFamily.entropy(p)`` (None: NotImplementedError, no carrier measure),
# ``_kl_expfamily_expfamily(p, q)`` and ``kl_divergence(p, q)``.
TORCH_EF: dict[str, tuple[Any, Any, Any]] = {
    "Normal": (
        [1.0622635892659402, 2.112085713764618],
        [0.47991782982467457, 1.3068528194400546],
        [0.47991782982467457, 1.3068528194400546],
    ),
    "Bernoulli": (
        [0.5004024235381879, 0.3250829733914482],
        [0.33479528671433423, 0.3680642071684972],
        [0.3347952867143343, 0.36806420716849714],
    ),
    "Beta": (
        None,
        [0.2115681045162257, 0.6363871636812792],
        [0.2115681045162257, 0.6363871636812792],
    ),
    "ContinuousBernoulli": (
        [-0.07641445280335868, -1.66666761529247e-07, -0.07641445280335879],
        [0.20103591570967982, 0.029595073570928165, 0.07641445280335879],
        [0.20103591570967994, 0.029595073570914343, 0.07641445280335879],
    ),
    "Dirichlet": (
        None,
        [0.7884225066489858, 10.747822989951736],
        [0.7884225066489858, 10.747822989951736],
    ),
    "Exponential": (
        [1.6931471805599454, -0.09861228866810978],
        [1.6137056388801094, 0.43194562200144315],
        [1.6137056388801092, 0.43194562200144304],
    ),
    "Gamma": (
        [-0.6025372506459565, 2.204253454301743],
        [2.0600836163013954, 5.674027936566882],
        [2.0600836163013954, 5.6740279365668815],
    ),
    "Chi2": (
        [1.3749629120446225, 2.270362845461478],
        [0.24137765204012757, 1.2065414455724004],
        [0.24137765204012746, 1.2065414455724006],
    ),
    "Poisson": (
        None,
        [0.4506938556659452, 2.875278407684165],
        [0.4506938556659452, 2.8752784076841653],
    ),
    "Wishart": (7.272041955518575, 1.258982291450715, 1.258982291450715),
}


def _flat(x: dm.Tensor) -> list[float]:
    return [float(v) for v in x.detach().reshape(-1).tolist()]


def _approx(x: Any) -> Any:
    return pytest.approx(x if isinstance(x, list) else [x], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", sorted(TORCH_EF))
def test_exponential_family_entropy_and_kl_as_pytorch(name: str) -> None:
    p, q = _pair(name)
    entropy, kl_ef, kl_any = TORCH_EF[name]
    assert isinstance(p, ExponentialFamily) and isinstance(p, D.Distribution)
    if entropy is None:
        with pytest.raises(NotImplementedError):
            ExponentialFamily.entropy(p)
    else:
        assert _flat(ExponentialFamily.entropy(p)) == _approx(entropy)
        # The family's own closed form agrees with the Bregman one.
        assert _flat(p.entropy()) == _approx(entropy)
    assert _flat(kl._kl_expfamily_expfamily(p, q)) == _approx(kl_ef)
    assert _flat(D.kl_divergence(p, q)) == _approx(kl_any)


def test_which_families_are_exponential() -> None:
    # As in PyTorch: exactly these (and Chi2 through Gamma) derive from ExponentialFamily.
    families = {"Bernoulli", "Beta", "Chi2", "ContinuousBernoulli", "Dirichlet", "Exponential"}
    families |= {"Gamma", "Normal", "Poisson", "Wishart"}
    found = {
        n
        for n in D.__all__
        if isinstance(getattr(D, n), type)
        and issubclass(getattr(D, n), ExponentialFamily)
        and getattr(D, n) is not ExponentialFamily
    }
    assert found == families
    assert "ExponentialFamily" in D.__all__
    for other in (D.Categorical, D.Uniform, D.Laplace, D.Binomial, D.Geometric):
        assert not issubclass(other, ExponentialFamily)


def test_poisson_entropy_has_no_closed_form() -> None:
    # PyTorch's Poisson has no entropy and no carrier measure: NotImplementedError.
    with pytest.raises(NotImplementedError):
        D.Poisson(t([1.0])).entropy()


def test_kl_registry_precedence() -> None:
    # The closed forms PyTorch registers are more specific than the generic Bregman one.
    assert kl._lookup(D.Normal, D.Normal) is kl._kl_normal_normal
    assert kl._lookup(D.Bernoulli, D.Bernoulli) is kl._kl_bernoulli_bernoulli
    assert kl._lookup(D.Poisson, D.Poisson) is kl._kl_poisson_poisson
    assert kl._lookup(D.Chi2, D.Gamma) is kl._kl_gamma_gamma
    assert kl._lookup(D.Gamma, D.Normal) is kl._kl_gamma_normal
    assert kl._lookup(D.Poisson, D.Gamma) is kl._kl_expfamily_expfamily
    # Two different families with no closed form: PyTorch's NotImplementedError.
    with pytest.raises(NotImplementedError, match="different exponential families"):
        D.kl_divergence(D.Poisson(t([1.0])), D.Gamma(t([1.0]), t([1.0])))
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.Bernoulli(t([0.3])), D.Beta(t([1.0]), t([1.0])))
    # Non-exponential families keep the built-in closed forms.
    c = D.kl_divergence(D.Categorical(t([0.5, 0.5])), D.Categorical(t([0.25, 0.75])))
    assert float(c) == pytest.approx(0.5 * math.log(2.0) + 0.5 * math.log(2.0 / 3.0))


class _MyPoisson(ExponentialFamily):
    """A family defined only by its natural parameter and log normalizer."""

    arg_constraints = {}
    _mean_carrier_measure = 0.0

    def __init__(self, rate: dm.Tensor) -> None:
        self.rate = rate
        super().__init__(tuple(rate.shape), ())

    @property
    def _natural_params(self) -> tuple[dm.Tensor]:
        return (self.rate.log(),)

    def _log_normalizer(self, x: dm.Tensor) -> dm.Tensor:  # type: ignore[override]
        return x.exp()


def test_user_family_gets_bregman_kl_and_entropy() -> None:
    a, b = t([0.5, 3.0]), t([1.5, 0.5])
    got = _flat(D.kl_divergence(_MyPoisson(a), _MyPoisson(b)))
    assert got == _approx(TORCH_EF["Poisson"][2])
    # Bregman entropy with E[k] = 0: rate - rate * log(rate).
    assert _flat(_MyPoisson(a).entropy()) == _approx([r - r * math.log(r) for r in (0.5, 3.0)])


def test_bregman_kl_sums_each_parameter_over_its_own_dimensions() -> None:
    # Batched Wishart: per batch element, the registered closed form (PyTorch's generic KL
    # sums the batch-shaped ``df`` term across the batch and gives 0.7587, 3.2418 here).
    p = D.Wishart(t([4.0, 5.5]), t(COV))
    q = D.Wishart(t([3.0, 6.0]), t([[[1.0, 0.0], [0.0, 1.0]], [[2.0, 0.5], [0.5, 1.0]]]))
    got = _flat(kl._kl_expfamily_expfamily(p, q))
    assert got == _approx([1.258982291450715, 1.9954583857718529])
    assert got == _approx(_flat(D.kl_divergence(p, q)))
    # Broadcast batch shapes (a single p against a batch of q).
    p0 = D.Wishart(t(4.0), t(COV[0]))
    assert _flat(kl._kl_expfamily_expfamily(p0, q)) == _approx(_flat(D.kl_divergence(p0, q)))


def test_bregman_entropy_under_no_grad() -> None:
    d = D.Gamma(t([0.5, 3.0]), t([2.0, 0.7]))
    with dm.no_grad():
        got = _flat(ExponentialFamily.entropy(d))
    assert got == _approx(TORCH_EF["Gamma"][0])
