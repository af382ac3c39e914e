"""``distributions.Wishart``, ``transforms.CatTransform``/``StackTransform`` and their
``biject_to``/``transform_to`` registrations for ``constraints.cat``/``constraints.stack``.
Expected numbers were computed with PyTorch 2.15 (``torch.distributions``) and pasted here."""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import pytest

import democratising as dm
from democratising import distributions as D
from democratising.distributions import Wishart, constraints, transforms

F64 = dm.float64
S = [[2.0, 0.3, -0.2], [0.3, 1.5, 0.4], [-0.2, 0.4, 1.2]]
S2 = [[1.0, -0.5, 0.1], [-0.5, 2.0, 0.0], [0.1, 0.0, 0.7]]
X = [[3.0, 0.5, 0.2], [0.5, 2.5, -0.3], [0.2, -0.3, 1.8]]
L = [
    [1.4142135623731, 0.0, 0.0],
    [0.212132034356, 1.2062338081815, 0.0],
    [-0.1414213562373, 0.3564814690846, 1.026119370346],
]
L2 = [[1.0, 0.0, 0.0], [-0.5, 1.3228756555323, 0.0], [0.1, 0.0377964473009, 0.8298020417976]]
P2 = [
    [1.1618257261411, 0.2904564315353, -0.1659751037344],
    [0.2904564315353, 0.5726141078838, -0.0414937759336],
    [-0.1659751037344, -0.0414937759336, 1.4522821576763],
]


def t(a: Any, grad: bool = False) -> dm.Tensor:
    return dm.tensor(a, dtype=F64, requires_grad=grad)


def close(a: Any, b: Any, tol: float = 1e-9) -> None:
    got = a.tolist() if isinstance(a, dm.Tensor) else a
    want = b.tolist() if isinstance(b, dm.Tensor) else b

    def walk(g: Any, w: Any) -> None:
        if isinstance(w, list):
            assert isinstance(g, list) and len(g) == len(w), (g, w)
            for gi, wi in zip(g, w):
                walk(gi, wi)
        elif math.isnan(w):
            assert math.isnan(g), (g, w)
        else:
            assert abs(g - w) <= tol * (1 + abs(w)), (g, w)

    walk(got, want)


# --------------------------------------------------------------------------- Wishart values


def test_wishart_values_from_covariance() -> None:
    w = Wishart(t(4.5), covariance_matrix=t(S))
    assert w.batch_shape == () and w.event_shape == (3, 3)
    assert w.has_rsample and w.support is constraints.positive_definite
    close(w.log_prob(t(X)), -10.8838371992273)
    close(w.log_prob(t(S2)), -10.2665667423965)
    close(w.entropy(), 14.659477826642)
    close(w.mean, [[4.5 * v for v in row] for row in S])
    close(w.mode, [[1.0, 0.15, -0.1], [0.15, 0.75, 0.2], [-0.1, 0.2, 0.6]])
    close(w.variance, [[36.0, 13.905, 10.98], [13.905, 20.25, 8.82], [10.98, 8.82, 12.96]])
    close(w.scale_tril, L)
    close(
        w.precision_matrix,
        [
            [0.5352480417755, -0.1436031331593, 0.1370757180157],
            [-0.1436031331593, 0.7702349869452, -0.2806788511749],
            [0.1370757180157, -0.2806788511749, 0.9497389033943],
        ],
    )


def test_wishart_values_from_precision_and_scale_tril() -> None:
    wp = Wishart(t(3.0), precision_matrix=t(P2))
    close(wp.log_prob(t(X)), -10.7252421193297)
    close(wp.entropy(), 9.9484018928363)
    close(wp.scale_tril, L2)
    close(wp.covariance_matrix, S2)
    # df <= p + 1: no mode, as PyTorch (NaN everywhere).
    assert all(math.isnan(v) for row in wp.mode.tolist() for v in row)
    wt = Wishart(t(4.5), scale_tril=t(L))
    close(wt.log_prob(t(X)), -10.8838371992273)
    close(wt.covariance_matrix, S)
    # A Python number df takes the matrix's dtype.
    wi = Wishart(4.5, covariance_matrix=t(S))
    assert wi.df.dtype == F64
    close(wi.log_prob(t(X)), -10.8838371992273)


def test_wishart_batch_shapes_and_values() -> None:
    tril = dm.stack([t(L), dm.eye(3, dtype=F64), t(L2)])
    w = Wishart(t([[3.5], [8.0]]), scale_tril=tril)
    assert w.batch_shape == (2, 3) and w.event_shape == (3, 3)
    assert w.df.shape == (2, 3)
    close(
        w.log_prob(t(X)),
        [
            [-10.6303064675436, -9.6605462349811, -10.2269269709066],
            [-15.7893085826912, -12.3001755334024, -13.2861352949488],
        ],
    )
    close(
        w.entropy(),
        [
            [13.1195679199755, 10.8801254162188, 11.253084550104],
            [17.2371833796745, 14.9977408759178, 15.3707000098031],
        ],
    )
    assert w.mean.shape == (2, 3, 3, 3) and w.variance.shape == (2, 3, 3, 3)
    assert w.covariance_matrix.shape == (2, 3, 3, 3)
    assert w.sample().shape == (2, 3, 3, 3)
    assert w.rsample((4, 5)).shape == (4, 5, 2, 3, 3, 3)
    # A value batch broadcasts against the distribution's batch.
    values = dm.stack([t(X), t(S), t(S2)])
    assert w.log_prob(values).shape == (2, 3)
    # ``df`` broadcast against a batch of matrices.
    wb = Wishart(t([3.5, 4.0, 6.0]), covariance_matrix=t(S))
    assert wb.batch_shape == (3,)


def test_wishart_expand() -> None:
    w = Wishart(t([3.5, 8.0]), covariance_matrix=t(S))
    e = w.expand((4, 2))
    assert e.batch_shape == (4, 2) and e.df.shape == (4, 2)
    assert e.covariance_matrix.shape == (4, 2, 3, 3)
    close(e.log_prob(t(X))[3], w.log_prob(t(X)))
    close(e.entropy()[1], w.entropy())
    assert e.sample((6,)).shape == (6, 4, 2, 3, 3)
    with pytest.raises(RuntimeError):  # as PyTorch: a size-2 batch cannot expand to 3
        w.expand((3,))


def test_wishart_arg_constraints_and_repr() -> None:
    w = Wishart(t(4.0), covariance_matrix=t(S))
    ac = w.arg_constraints
    assert set(ac) == {"covariance_matrix", "precision_matrix", "scale_tril", "df"}
    assert ac["covariance_matrix"] is constraints.positive_definite
    assert ac["scale_tril"] is constraints.lower_cholesky
    assert str(ac["df"]) == "GreaterThan(lower_bound=2)"
    assert repr(w) == "Wishart(covariance_matrix: (3, 3), df: 4.0)"
    assert "Wishart" in D.__all__ and D.Wishart is Wishart


# --------------------------------------------------------------------------- Wishart errors


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"df": 1.0, "covariance_matrix": S}, ValueError),  # df <= p - 1
        ({"df": [4.0, 2.0], "covariance_matrix": S}, ValueError),
        ({"df": 4.0, "covariance_matrix": S, "scale_tril": L}, AssertionError),
        ({"df": 4.0}, AssertionError),
        ({"df": 4.0, "covariance_matrix": [1.0, 2.0, 3.0]}, ValueError),  # not a matrix
        ({"df": 4.0, "covariance_matrix": [[-1.0, 0.0], [0.0, -1.0]]}, ValueError),
        ({"df": 4.0, "covariance_matrix": [[1.0, 0.5], [0.0, 1.0]]}, ValueError),  # asymmetric
        ({"df": 4.0, "scale_tril": [[1.0, 1.0], [1.0, 1.0]]}, ValueError),
        ({"df": 4.0, "scale_tril": [[-1.0, 0.0], [0.0, 1.0]]}, ValueError),
        ({"df": 4.0, "precision_matrix": [[1.0, 2.0], [0.0, 1.0]]}, ValueError),
        ({"df": float("nan"), "covariance_matrix": S}, ValueError),
    ],
)
def test_wishart_bad_arguments(kwargs: dict[str, Any], exc: type) -> None:
    args = {k: (t(v) if isinstance(v, list) or k == "df" else v) for k, v in kwargs.items()}
    with pytest.raises(exc):
        Wishart(**args)


def test_wishart_errors_are_typed() -> None:
    with pytest.raises(dm.errors.InvalidValueError):  # also AssertionError, as PyTorch
        Wishart(t(4.0), covariance_matrix=t(S), precision_matrix=t(S))
    with pytest.raises(RuntimeError):  # batch shapes that do not broadcast
        Wishart(t([4.0, 5.0]), covariance_matrix=t(S).expand(3, 3, 3))
    with pytest.raises(RuntimeError):  # not positive definite, unvalidated: Cholesky fails
        Wishart(t(4.0), covariance_matrix=-dm.eye(3, dtype=F64), validate_args=False)
    w = Wishart(t(4.0), covariance_matrix=t(S))
    with pytest.raises(ValueError):
        w.log_prob(dm.ones(3, 3, dtype=F64))  # outside the support
    lp = Wishart(t(4.0), covariance_matrix=t(S), validate_args=False).log_prob(t(X))
    close(lp, w.log_prob(t(X)))


def test_wishart_low_df_warns() -> None:
    with pytest.warns(UserWarning, match="Low df values detected"):
        Wishart(t(2.5), covariance_matrix=t(S))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = Wishart(t(4.0), covariance_matrix=t(S))
        w.rsample((10,))  # regular draws: no singular-sample warning


# --------------------------------------------------------------------------- Wishart sampling


def test_wishart_rsample_moments() -> None:
    dm.manual_seed(0)
    df = 5.0
    n = 20000
    w = Wishart(t(df), covariance_matrix=t(S))
    s = w.rsample((n,))
    assert s.shape == (n, 3, 3)
    assert bool(constraints.positive_definite.check(s).all().item())
    mean = s.mean(0)
    var = ((s - mean) ** 2).mean(0)
    want_var = w.variance.tolist()
    for i in range(3):
        for j in range(3):
            se = math.sqrt(want_var[i][j] / n)
            assert abs(mean[i, j].item() - df * S[i][j]) < 5 * se
            assert abs(var[i, j].item() / want_var[i][j] - 1) < 0.08
    # E log|W| = sum_i digamma((df - i) / 2) + p log 2 + log|S|
    want = sum(dm.tensor((df - i) / 2, dtype=F64).digamma().item() for i in range(3))
    want += 3 * math.log(2) + dm.linalg.slogdet(t(S)).logabsdet.item()
    got = dm.linalg.slogdet(s).logabsdet.mean().item()
    assert abs(got - want) < 0.03


def test_wishart_singular_draws_are_corrected() -> None:
    with pytest.warns(UserWarning, match="Low df"):
        # About one float64 draw in nine is singular at this df (chi-square(0.1) underflows).
        w = Wishart(t(2.1), covariance_matrix=dm.eye(3, dtype=F64))
    dm.manual_seed(1)
    with pytest.warns(UserWarning, match="Singular sample detected"):
        raw = w.rsample((400,), max_try_correction=0)
    assert not bool(w.support.check(raw).all().item())  # some draws left singular
    dm.manual_seed(1)
    with pytest.warns(UserWarning, match="Singular sample detected"):
        fixed = w.rsample((400,))  # default: up to 10 redraws of the singular ones
    assert bool(w.support.check(fixed).all().item())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # this df may or may not give a singular draw here
        assert w.sample((3,)).requires_grad is False


# --------------------------------------------------------------------------- Wishart gradients


def _fd(f: Callable[[list[Any]], float], base: list[Any], h: float = 1e-6) -> list[Any]:
    """Central differences of ``f`` at the (nested-list) ``base``, entry by entry."""
    out: list[Any] = []
    for i, row in enumerate(base):
        if isinstance(row, list):
            out.append(_fd(lambda r, i=i: f([*base[:i], r, *base[i + 1 :]]), row, h))
        else:
            up = [*base[:i], row + h, *base[i + 1 :]]
            down = [*base[:i], row - h, *base[i + 1 :]]
            out.append((f(up) - f(down)) / (2 * h))
    return out


def test_wishart_log_prob_gradients_match_finite_differences() -> None:
    df, tril, x = t(4.5, True), t(L, True), t(X, True)
    Wishart(df, scale_tril=tril).log_prob(x).backward()

    def lp(d: float, m: Any, v: Any) -> float:
        w = Wishart(t(d), scale_tril=t(m), validate_args=False)
        return float(w.log_prob(t(v)).item())

    close(df.grad, _fd(lambda a: lp(a[0], L, X), [4.5])[0], 1e-6)
    # Only the lower triangle is a parameter of ``scale_tril``.
    fd_l = _fd(lambda m: lp(4.5, m, X), L)
    close(tril.grad, [[fd_l[i][j] if j <= i else 0.0 for j in range(3)] for i in range(3)], 1e-6)
    close(x.grad, _fd(lambda v: lp(4.5, L, v), X), 1e-6)
    # Entropy through ``df`` (digamma, lgamma) and the factor.
    df, tril = t(4.5, True), t(L, True)
    Wishart(df, scale_tril=tril).entropy().backward()

    def ent(d: float, m: Any) -> float:
        return float(Wishart(t(d), scale_tril=t(m), validate_args=False).entropy().item())

    close(df.grad, _fd(lambda a: ent(a[0], L), [4.5])[0], 1e-6)
    fd_l = _fd(lambda m: ent(4.5, m), L)
    close(tril.grad, [[fd_l[i][j] if j <= i else 0.0 for j in range(3)] for i in range(3)], 1e-6)


def test_wishart_covariance_gradient_along_symmetric_direction() -> None:
    cov = t(S, True)
    Wishart(t(4.5), covariance_matrix=cov).log_prob(t(X)).backward()
    assert cov.grad is not None
    direction = [[1.0, 0.5, -0.2], [0.5, -1.0, 0.3], [-0.2, 0.3, 0.7]]
    h = 1e-6

    def lp(sign: float) -> float:
        m = [[S[i][j] + sign * h * direction[i][j] for j in range(3)] for i in range(3)]
        return float(Wishart(t(4.5), covariance_matrix=t(m)).log_prob(t(X)).item())

    fd = (lp(1.0) - lp(-1.0)) / (2 * h)
    got = (cov.grad * t(direction)).sum().item()
    assert abs(got - fd) < 1e-6


def test_wishart_rsample_gradients() -> None:
    weights = t(
        [[[(k * 9 + i * 3 + j) / 100 for j in range(3)] for i in range(3)] for k in range(4)]
    )

    def draw(m: Any, grad: bool = False) -> tuple[dm.Tensor, dm.Tensor]:
        dm.manual_seed(3)
        tril = t(m, grad)
        return Wishart(t(5.0), scale_tril=tril, validate_args=False).rsample((4,)), tril

    s, tril = draw(L, True)
    (s * weights).sum().backward()
    fd = _fd(lambda m: float((draw(m)[0] * weights).sum().item()), L)
    close(tril.grad, fd, 1e-6)
    # Through ``df``: d/d(df) E[tr W] = tr(S) (the reparameterised chi-square draws).
    dm.manual_seed(4)
    df = t(5.0, True)
    n = 20000
    w = Wishart(df, covariance_matrix=t(S))
    (w.rsample((n,)).diagonal(dim1=-2, dim2=-1).sum() / n).backward()
    assert abs(df.grad.item() - (S[0][0] + S[1][1] + S[2][2])) < 0.1


# --------------------------------------------------------------------------- Wishart KL


def test_wishart_kl() -> None:
    p = Wishart(t(4.0), covariance_matrix=t(S))
    q = Wishart(t(5.5), precision_matrix=t(P2))
    close(D.kl_divergence(p, q), 2.4240690476923, 1e-8)
    close(D.kl_divergence(q, p), 2.2159780235204, 1e-8)
    close(D.kl_divergence(p, p), 0.0, 1e-8)
    # Per batch element (PyTorch's generic exponential-family route sums the df term over
    # the batch instead).
    pb = Wishart(t([4.0, 6.0]), covariance_matrix=t(S))
    close(D.kl_divergence(pb, q), [2.4240690476923, 3.8819621528539], 1e-8)
    df = t(4.0, True)
    D.kl_divergence(Wishart(df, covariance_matrix=t(S)), q).backward()
    assert df.grad is not None
    with pytest.raises(ValueError):
        D.kl_divergence(p, Wishart(t(5.0), covariance_matrix=dm.eye(2, dtype=F64)))


# --------------------------------------------------------------------------- Cat / Stack

XC = [[0.3, -1.2, 0.5, 2.0], [-0.7, 0.1, 1.5, -0.4], [1.1, 0.6, -0.9, 0.2]]


def test_cat_transform_via_biject_to() -> None:
    con = constraints.cat(
        [constraints.positive, constraints.real, constraints.interval(-1.0, 2.0)],
        dim=-1,
        lengths=[1, 2, 1],
    )
    for registry in (D.biject_to, D.transform_to):
        c = registry(con)
        assert isinstance(c, transforms.CatTransform) and isinstance(c, D.CatTransform)
        assert c.bijective and c.event_dim == 0 and c.length == 4 and c.dim == -1
        x = t(XC)
        y = c(x)
        close(
            y,
            [
                [1.349858807576, -1.2, 0.5, 1.6423912339336],
                [0.4965853037914, 0.1, 1.5, 0.2039370196626],
                [3.0041660239464, 0.6, -0.9, 0.6495019919374],
            ],
        )
        close(
            c.log_abs_det_jacobian(x, y),
            [
                [0.3, 0.0, 0.0, -1.1552437334178],
                [-0.7, 0.0, 0.0, -0.3274182161318],
                [1.1, 0.0, 0.0, -0.2976654500951],
            ],
        )
        close(c.inv(y), XC)
        assert bool(c.codomain.check(y).all().item())
        assert type(c.domain) is type(con) and c.codomain.lengths == [1, 2, 1]


def test_cat_transform_event_dims() -> None:
    x = t(XC)
    # Parts of different event dims: summed to the largest, concatenated along batch ``dim``.
    mixed = transforms.CatTransform(
        [
            transforms.ExpTransform(),
            transforms.IndependentTransform(transforms.SigmoidTransform(), 1),
        ],
        dim=-1,
        lengths=[1, 3],
    )
    assert mixed.event_dim == 1 and mixed.domain.event_dim == 1
    close(
        mixed.log_abs_det_jacobian(x, mixed(x)),
        [-5.1285749251222, -5.4176503809126, -3.3535613891991],
    )
    along0 = transforms.CatTransform(
        [
            transforms.IndependentTransform(transforms.ExpTransform(), 1),
            transforms.IndependentTransform(transforms.SigmoidTransform(), 1),
        ],
        dim=0,
        lengths=[1, 2],
    )
    close(along0.log_abs_det_jacobian(x, along0(x)), [1.6, -6.2240224786835, -6.12823203943])
    soft = transforms.CatTransform([transforms.SoftmaxTransform()], dim=-1, lengths=[4])
    assert soft.bijective is False


def test_stack_transform() -> None:
    con = constraints.stack(
        [constraints.positive, constraints.real, constraints.unit_interval], dim=0
    )
    s = D.biject_to(con)
    assert isinstance(s, D.StackTransform) and s.bijective and s.event_dim == 0
    x = t(XC)[:, :2]
    y = s(x)
    close(y, [[1.349858807576, 0.3011942119122], [-0.7, 0.1], [0.7502601055951, 0.6456563062258]])
    close(
        s.log_abs_det_jacobian(x, y),
        [[0.3, -1.2], [0.0, 0.0], [-1.6746706502309, -1.4749759009718]],
    )
    close(s.inv(y), x)
    assert bool(s.codomain.check(y).all().item())
    assert D.transform_to(constraints.stack([constraints.simplex], dim=0)).bijective is False
    ev = transforms.StackTransform(
        [
            transforms.IndependentTransform(transforms.ExpTransform(), 1),
            transforms.SoftmaxTransform(),
        ],
        dim=0,
    )
    assert ev.event_dim == 1 and ev.codomain.event_dim == 1
    close(
        ev(t(XC)[:2]),
        [
            [1.349858807576, 0.3011942119122, 1.6487212707001, 7.3890560989306],
            [0.0735271776441, 0.1636377432035, 0.6635837708133, 0.0992513083391],
        ],
    )
    # A negative ``dim`` beyond the parts' event dims makes it an event dimension.
    neg = transforms.StackTransform(
        [transforms.ExpTransform(), transforms.SigmoidTransform()], dim=-1
    )
    assert neg.event_dim == 1


def test_cat_stack_cache_and_equality() -> None:
    exp = transforms.ExpTransform()
    c = transforms.CatTransform([exp], dim=0)
    assert c.with_cache(0) is c
    c1 = c.with_cache(1)
    assert c1 is not c and c1._cache_size == 1 and [p._cache_size for p in c1.transforms] == [1]
    x = dm.ones(1, 2, dtype=F64)
    y = c1(x)
    assert c1(x) is y and c1.inv(y) is x
    # Equality is identity, as PyTorch's (no parameter comparison for these functors).
    assert c == c and c != transforms.CatTransform([exp], dim=0) and c != c1
    s = transforms.StackTransform([exp], dim=0, cache_size=1)
    assert [p._cache_size for p in s.transforms] == [1]
    assert s.with_cache(0)._cache_size == 0
    assert repr(s) == "StackTransform()" and repr(c) == "CatTransform()"
    assert {"CatTransform", "StackTransform"} <= set(transforms.__all__)
    assert {"CatTransform", "StackTransform"} <= set(D.__all__)


def test_cat_stack_errors() -> None:
    exp = transforms.ExpTransform()
    with pytest.raises(AssertionError):
        transforms.CatTransform([1.0])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        transforms.StackTransform(["a"])  # type: ignore[list-item]
    with pytest.raises(AssertionError):
        transforms.CatTransform([exp], lengths=[1, 2])
    with pytest.raises(ValueError):
        transforms.CatTransform([exp], cache_size=2)
    c = transforms.CatTransform([exp, exp], dim=-1, lengths=[2, 3])
    with pytest.raises(AssertionError, match="must equal length 5"):
        c(dm.ones(2, 6))
    with pytest.raises(ValueError, match="out of range"):
        c(dm.tensor(1.0))
    s = transforms.StackTransform([exp, exp], dim=1)
    with pytest.raises(AssertionError, match="must equal len"):
        s(dm.ones(2, 3))
    with pytest.raises(AssertionError):
        s.log_abs_det_jacobian(dm.ones(2, 2), dm.ones(2, 3))
    with pytest.raises(AssertionError):
        constraints.cat([constraints.real], lengths=[1, 1])
    with pytest.raises(AssertionError):
        constraints.stack(["real"])  # type: ignore[list-item]
    with pytest.raises(AssertionError):
        constraints.stack([constraints.real], dim=2).check(dm.ones(2))


def test_cat_transform_gradients() -> None:
    c = D.biject_to(
        constraints.cat([constraints.positive, constraints.real], dim=-1, lengths=[2, 2])
    )
    x = t(XC, True)
    y = c(x)
    (y.sum() + c.log_abs_det_jacobian(x, y).sum()).backward()
    # d/dx (exp(x) + x) = exp(x) + 1 on the positive slice, 1 on the real one.
    want = [[math.exp(v) + 1 if j < 2 else 1.0 for j, v in enumerate(row)] for row in XC]
    close(x.grad, want)
