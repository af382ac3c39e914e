"""Fixes from differential fuzzing against PyTorch: ``erfinv``/``erfc`` precision in float64,
``ndtri``'s gradient in the tails, ``out=`` on ``dm.special``, ``multigammaln`` below its
domain, float32 variance with a large mean, ``uniform_``/``normal_`` on tensors with a
history, ``random_`` bounds, ``randint_like`` and ``Generator.manual_seed`` argument checks,
``histogram``'s checks and ``out=``, and error types PyTorch users catch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F


def test_erfinv_float64_tails_invert_erfc() -> None:
    y = 1.0 - np.array([1e-3, 1e-6, 1e-9, 1e-12, 1e-15, 2**-53], dtype=np.float64)
    q = 1.0 - y  # exact: what erfc of the answer must give
    x = dm.tensor(y, dtype=dm.float64).erfinv().numpy()
    assert np.all(np.diff(x) > 0)  # monotone into the tail
    back = np.array([math.erfc(v) for v in x])
    np.testing.assert_allclose(back, q, rtol=1e-9)
    neg = dm.tensor(-y, dtype=dm.float64).erfinv().numpy()
    np.testing.assert_array_equal(neg, -x)
    # The centre keeps its precision too.
    mid = np.linspace(-0.99, 0.99, 41)
    y = dm.tensor(mid, dtype=dm.float64).erfinv().numpy()
    np.testing.assert_allclose([math.erf(v) for v in y], mid, rtol=1e-14, atol=1e-16)


def test_normal_icdf_far_in_the_tail() -> None:
    v = dm.distributions.Normal(0.0, 1.0).icdf(dm.tensor([1e-14], dtype=dm.float64)).item()
    # icdf is sqrt(2) erfinv(2p - 1): exact for the rounded 2p - 1 (PyTorch's value too).
    assert abs(math.erfc(-v / math.sqrt(2)) / (1.0 + (2e-14 - 1.0)) - 1) < 1e-9
    assert abs(v - (-7.650628092)) < 2e-4


def test_erfc_float64_between_1_5_and_2_5() -> None:
    xs = np.linspace(1.0, 3.0, 41)
    got = dm.special.erfc(dm.tensor(xs, dtype=dm.float64)).numpy()
    np.testing.assert_allclose(got, [math.erfc(v) for v in xs], rtol=1e-14)
    got = dm.special.erfc(dm.tensor(-xs, dtype=dm.float64)).numpy()
    np.testing.assert_allclose(got, [math.erfc(-v) for v in xs], rtol=1e-15)


def test_ndtri_gradient_in_the_tails() -> None:
    p = dm.tensor([1e-9, 1e-5, 0.3, 0.5, 1 - 1e-6], requires_grad=True)
    dm.special.ndtri(p).sum().backward()
    x = dm.special.ndtri(p.detach()).double().numpy()
    expected = np.sqrt(2 * np.pi) * np.exp(x * x / 2)
    np.testing.assert_allclose(p.grad.numpy(), expected, rtol=1e-3)
    edges = dm.special.ndtri(dm.tensor([0.0, 1.0, float("nan"), -0.1]))
    assert edges[0].item() == -math.inf and edges[1].item() == math.inf
    assert math.isnan(edges[2].item()) and math.isnan(edges[3].item())


def test_special_functions_take_out() -> None:
    buf = dm.empty(0)
    r = dm.special.erf(dm.tensor([0.5, -1.0]), out=buf)
    assert r is buf and buf.shape == (2,)
    np.testing.assert_allclose(buf.numpy(), [math.erf(0.5), math.erf(-1.0)], rtol=1e-6)
    out = dm.empty(2)
    dm.special.xlogy(dm.tensor([1.0, 2.0]), dm.tensor([2.0, 3.0]), out=out)
    np.testing.assert_allclose(out.numpy(), [math.log(2.0), 2 * math.log(3.0)], rtol=1e-6)


def test_multigammaln_below_its_domain_is_the_lgamma_sum() -> None:
    got = dm.special.multigammaln(dm.tensor([0.2, 3.0, float("nan")], dtype=dm.float64), 2)
    ref = [math.log(math.pi) / 2 + math.lgamma(v) + math.lgamma(v - 0.5) for v in (0.2, 3.0)]
    np.testing.assert_allclose(got.numpy()[:2], ref, rtol=1e-12)
    assert math.isnan(got[2].item())


def test_float32_variance_with_a_large_mean() -> None:
    rng = np.random.default_rng(0)
    x = (1e4 + 0.01 * rng.standard_normal((8, 64))).astype(np.float32)
    ref = x.astype(np.float64).var(axis=1, ddof=1)
    t = dm.from_numpy(x)
    np.testing.assert_allclose(t.var(1).numpy(), ref, rtol=1e-5)
    np.testing.assert_allclose(t.std(1).numpy(), np.sqrt(ref), rtol=1e-5)
    np.testing.assert_allclose(dm.var_mean(t, 1)[0].numpy(), ref, rtol=1e-5)
    assert math.isnan(dm.tensor([1.0, float("nan")]).var().item())
    assert dm.tensor([3.0, 3.0, 3.0]).var().item() == 0.0


@pytest.mark.parametrize("fill", ["uniform_", "normal_"])
def test_random_fill_cuts_the_history_of_what_it_overwrites(fill: str) -> None:
    a = dm.ones(3, requires_grad=True)
    b = a * 2
    getattr(b, fill)()
    b.sum().backward()
    assert a.grad.tolist() == [0.0, 0.0, 0.0]
    a = dm.ones(3, 2, requires_grad=True)
    b = a * 2
    getattr(b[:, 0], fill)()
    b.sum().backward()
    assert a.grad.tolist() == [[0.0, 2.0]] * 3
    leaf = dm.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(leaf, fill)()
    with dm.no_grad():
        getattr(leaf, fill)()  # as nn.init does


def test_random_bounds_and_argument_checks() -> None:
    with pytest.raises(ValueError, match="out of bounds"):
        dm.empty(4, dtype=dm.float16).random_(0, 70000)
    assert dm.empty(64, dtype=dm.float16).random_(0, 60000).max().item() < 60000
    with pytest.raises(TypeError):
        dm.randint_like(dm.zeros(5), 1, 7.9)
    with pytest.raises(TypeError):
        dm.randint_like(dm.zeros(5), 2.5)
    with pytest.raises(ValueError):
        dm.Generator().manual_seed(2**64)
    assert dm.Generator().manual_seed(-1).initial_seed() == 2**64 - 1


def test_histogram_checks_and_out() -> None:
    x = dm.rand(10)
    with pytest.raises(TypeError):
        dm.histogram(x, dm.tensor([0.0, 2.0, 4.0]), range=(0.0, 1.0))
    with pytest.raises(TypeError):
        dm.histogram(x, 2.7)
    with pytest.raises(RuntimeError, match="bins must be > 0"):
        dm.histogram(x, dm.tensor([0.0]))
    h, e = dm.empty(0), dm.empty(0)
    r = dm.histogram(x, 2, out=(h, e))
    assert r.hist is h and r.bin_edges is e and h.sum().item() == 10
    assert dm.histogramdd(dm.rand(5, 2), [2, 2], [0.0, 1.0, 0.0, 1.0]).hist.sum().item() == 5


def test_error_types_pytorch_code_catches() -> None:
    with pytest.raises(NotImplementedError):
        F.pad(dm.zeros(2), (1, 1), mode="reflect")
    with pytest.raises(NotImplementedError):
        F.interpolate(dm.zeros(1, 1, 4), scale_factor=2, mode="bilinear")
    with pytest.raises(NotImplementedError):
        F.affine_grid(dm.zeros(1, 2, 3), [1, 1, 4], align_corners=False)
    with pytest.raises(TypeError):
        F.pad(dm.zeros(1, 2, 3), (1.0, 1))
    with pytest.raises(AssertionError):
        F.embedding(dm.tensor([0]), dm.zeros(3, 2), padding_idx=5)
    with pytest.raises(NotImplementedError):  # an op "not implemented for" a dtype
        dm.tensor([1, 2]).var()
    with pytest.raises(ValueError):  # ... and still the ValueError / TypeError it was
        F.pad(dm.zeros(2), (1, 1), mode="reflect")
    with pytest.raises(TypeError):
        dm.tensor([1, 2]).var()


def test_module_setattr_checks_names_as_register_does() -> None:
    m = dm.nn.Module()
    m.register_buffer("a", dm.ones(1))
    m.a = dm.nn.Linear(1, 1)  # a module takes the buffer's name over ...
    del m.a
    m.a = dm.ones(3)  # ... so a tensor assigned later is a plain attribute, not a buffer
    assert list(m.state_dict()) == []
    with pytest.raises(KeyError):
        setattr(dm.nn.Module(), "a.b", dm.nn.Parameter(dm.ones(1)))
    with pytest.raises(KeyError):
        dm.nn.ParameterDict({"a.b": dm.nn.Parameter(dm.ones(1))})

    class WithClassAttr(dm.nn.Module):
        w = None

    with pytest.raises(KeyError, match="already exists"):
        WithClassAttr().w = dm.nn.Parameter(dm.ones(1))
    lin = dm.nn.Linear(2, 2)
    lin.weight = dm.nn.Parameter(dm.ones(2, 2))  # replacing a parameter is fine
    assert lin.weight.sum().item() == 4.0


def test_optimizer_given_a_tied_weight_twice_steps_it_once() -> None:
    emb = dm.nn.Embedding(4, 2)
    head = dm.nn.Linear(2, 4, bias=False)
    head.weight = emb.weight
    with pytest.warns(UserWarning, match="duplicate parameters"):
        opt = dm.optim.SGD(list(emb.parameters()) + list(head.parameters()), lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 1
    before = emb.weight.detach().clone()
    head(emb(dm.tensor([1, 2]))).sum().backward()
    grad = emb.weight.grad.clone()
    opt.step()
    assert dm.allclose(emb.weight.detach(), before - 0.1 * grad)
