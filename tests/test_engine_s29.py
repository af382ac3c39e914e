"""Session 29 engine changes: float32 ``sin``/``cos``/``tan`` in plain arithmetic (an exact
range reduction for every float32, checked against NumPy's float64 functions), calls
without their required sizes (``zeros()``, ``x.permute()``) raising PyTorch's ``TypeError``,
and ``Size`` slices, joins and repeats that stay ``Size`` as ``torch.Size``'s do."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm

# ---- sin, cos, tan ------------------------------------------------------------------------


def _wide_float32s() -> np.ndarray:
    """Small, ordinary, large and huge float32s of both signs, denormals included, and the
    float32s nearest to multiples of pi/2 (the reduction's hard cases)."""
    rng = np.random.default_rng(0)
    parts = [
        rng.uniform(-10, 10, 20_000),
        rng.uniform(-1e-3, 1e-3, 2_000),
        np.exp(rng.uniform(np.log(1e4), np.log(3e38), 20_000)) * rng.choice([-1, 1], 20_000),
        np.float32(np.pi / 2) * np.arange(-2000, 2000),
        [1e-45, -1e-40, 1.2e-38, 1e22, 3.4e38, -3.4e38, 16777216.0],
    ]
    return np.concatenate([np.asarray(p, dtype=np.float32) for p in parts])


@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_float32_trig_within_one_ulp_of_float64(name: str) -> None:
    x = _wide_float32s()
    got = getattr(dm, name)(dm.from_numpy(x)).numpy().astype(np.float64)
    want = getattr(np, name)(x.astype(np.float64))
    # One float32 ulp at |want| (2^-149 for denormal results).
    ulp = np.spacing(np.maximum(np.abs(want), np.finfo(np.float32).tiny).astype(np.float32))
    bad = np.abs(got - want) > ulp.astype(np.float64)
    assert not bad.any(), (x[bad][:5], got[bad][:5], want[bad][:5])


@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_float32_trig_special_values(name: str) -> None:
    x = dm.tensor([float("inf"), float("-inf"), float("nan"), 0.0, -0.0])
    y = getattr(dm, name)(x).numpy()
    assert np.isnan(y[:3]).all()
    want = {"sin": [0.0, -0.0], "cos": [1.0, 1.0], "tan": [0.0, -0.0]}[name]
    assert y[3:].tolist() == want
    assert np.signbit(y[4]) == np.signbit(want[1])


def test_trig_gradients_float32_and_float64() -> None:
    for dtype in (dm.float32, dm.float64):
        x = dm.tensor([0.3, -1.2, 2.5, 100.0], dtype=dtype, requires_grad=True)
        (x.sin() + x.cos() + x.tan()).sum().backward()
        v = x.detach().numpy().astype(np.float64)
        want = np.cos(v) - np.sin(v) + 1.0 / np.cos(v) ** 2
        assert x.grad is not None
        np.testing.assert_allclose(
            x.grad.numpy(), want, rtol=1e-5 if dtype == dm.float32 else 1e-12
        )
    assert dm.autograd.gradcheck(
        dm.tan, (dm.tensor([0.4, -0.9], dtype=dm.float64, requires_grad=True),)
    )


def test_trig_half_types_and_non_contiguous() -> None:
    x = dm.linspace(-6, 6, 24).reshape(4, 6)
    for dt in (dm.bfloat16, dm.float16):
        got = x.to(dt).sin().float().numpy()
        np.testing.assert_allclose(got, np.sin(x.to(dt).float().numpy()), atol=1e-2)
    t = x.t()
    np.testing.assert_allclose(t.cos().numpy(), np.cos(t.numpy()), rtol=1e-6, atol=1e-7)


# ---- calls without their sizes -------------------------------------------------------------


_NO_SIZE: list[tuple[str, Callable[[], Any]]] = [
    ("zeros", lambda: dm.zeros()),
    ("ones", lambda: dm.ones()),
    ("empty", lambda: dm.empty()),
    ("rand", lambda: dm.rand()),
    ("randn", lambda: dm.randn()),
    ("zeros(dtype=)", lambda: dm.zeros(dtype=dm.float64)),
    ("permute", lambda: dm.tensor(1.0).permute()),
    ("expand", lambda: dm.tensor(1.0).expand()),
    ("reshape", lambda: dm.tensor(1.0).reshape()),
    ("view", lambda: dm.tensor(1.0).view()),
    ("new_zeros", lambda: dm.ones(2).new_zeros()),
    ("new_ones", lambda: dm.ones(2).new_ones()),
    ("new_empty", lambda: dm.ones(2).new_empty()),
]


@pytest.mark.parametrize("call", [c for _, c in _NO_SIZE], ids=[n for n, _ in _NO_SIZE])
def test_missing_sizes_raise_type_error(call: Callable[[], Any]) -> None:
    with pytest.raises(TypeError, match="missing 1 required positional argument"):
        call()


def test_empty_sizes_given_explicitly_make_zero_dim_tensors() -> None:
    for t in (dm.zeros(()), dm.ones([]), dm.rand(()), dm.randn(size=()), dm.empty(())):
        assert t.shape == () and t.numel() == 1
    x = dm.tensor([5.0])
    assert x.reshape(()).shape == () and x.view([]).shape == ()
    assert dm.tensor(2.0).permute(()).item() == 2.0
    assert dm.tensor(2.0).expand(()).shape == ()
    assert dm.ones(3).new_zeros(()).shape == ()
    assert dm.zeros(size=(2, 3)).shape == (2, 3)
    assert dm.tensor(1.0).permute(dims=()).shape == ()


# ---- Size ---------------------------------------------------------------------------------


def test_size_slices_joins_and_repeats_stay_sizes() -> None:
    s = dm.ones(2, 3, 4).shape
    for got, want in [
        (s[1:], (3, 4)),
        (s[::-1], (4, 3, 2)),
        (s[5:], ()),
        (s + (5,), (2, 3, 4, 5)),  # noqa: RUF005 - the join is what is tested
        ((1,) + s, (1, 2, 3, 4)),  # noqa: RUF005
        (s + s, (2, 3, 4, 2, 3, 4)),
        (s * 2, (2, 3, 4, 2, 3, 4)),
        (2 * s, (2, 3, 4, 2, 3, 4)),
        (s * 0, ()),
    ]:
        assert isinstance(got, dm.Size) and got == want
    assert s[1:].numel() == 12 and s[-1] == 4 and type(s[0]) is int
    assert hash(s[1:]) == hash((3, 4))


def test_size_errors_match_tuple_and_pytorch() -> None:
    s = dm.Size([2, 3])
    with pytest.raises(IndexError, match="out of range"):
        s[2]
    with pytest.raises(TypeError, match="indices must be integers or slices"):
        s["a"]  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="iterable of 'int'"):
        s + (1.5,)  # type: ignore[operator]  # noqa: RUF005
    with pytest.raises(TypeError):
        s + [1]  # type: ignore[operator]  # noqa: RUF005
    with pytest.raises(TypeError):
        s * 2.0  # type: ignore[operator]


def test_size_repeat_too_large_for_memory_raises_like_a_tuple() -> None:
    # (It aborted the interpreter: the repeat's allocation failed inside a C slot.)
    s = dm.Size([2, 3])
    for n in (2**40, 2**62):
        with pytest.raises(MemoryError):
            s * n  # type: ignore[operator]
    with pytest.raises(IndexError, match="out of range"):
        s[-3]
    assert s[::-1] == dm.Size([3, 2]) and isinstance(s[::-1], dm.Size)


# ---- a second backward through nodes that saved nothing ----------------------------------


@pytest.mark.parametrize(
    "view",
    [
        lambda x: x.expand(3, 2),
        lambda x: x.reshape(2, 1),
        lambda x: x.permute(0),
        lambda x: x.t(),
        lambda x: x[1:],
        lambda x: x.unsqueeze(0),
        lambda x: x.split(1)[0],
        lambda x: x + 1,
        lambda x: x - x.detach(),
        lambda x: x.sum(0, keepdim=True),
        lambda x: x.mean(),
        lambda x: -x,
        lambda x: x.clone(),
        lambda x: x.double(),
        lambda x: x.unsqueeze(1).t().contiguous(),
        lambda x: dm.cat([x, x]),
        lambda x: x.repeat(2),
        lambda x: x.flip(0),
        lambda x: x.roll(1),
        lambda x: x.cumsum(0),
        lambda x: dm.stack([x, x]).tril(),
        lambda x: x.add(x.detach(), alpha=0.5),
        lambda x: x * 2.0,
    ],
    ids=[
        "expand",
        "reshape",
        "permute",
        "t",
        "slice",
        "unsqueeze",
        "split",
        "add",
        "sub",
        "sum",
        "mean",
        "neg",
        "clone",
        "double",
        "contiguous",
        "cat",
        "repeat",
        "flip",
        "roll",
        "cumsum",
        "tril",
        "add_alpha",
        "mul_scalar",
    ],
)
def test_second_backward_through_a_node_that_saved_nothing_works(
    view: Callable[[Any], Any],
) -> None:
    # PyTorch keeps nodes with nothing saved through a backward without retain_graph.
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    y = view(x)
    (y * 2).sum().backward()
    first = x.grad.clone()
    (y * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), first.numpy() * 2.5)


def test_second_backward_through_saved_tensors_still_raises() -> None:
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.sum().backward()


def test_distribution_with_expanded_parameters_backward_twice() -> None:
    mu = dm.tensor([0.5, 1.0], requires_grad=True)
    sigma = dm.tensor([1.0, 2.0], requires_grad=True)
    d = dm.distributions.Normal(mu.expand(3, 2), sigma.expand(3, 2))
    d.log_prob(dm.zeros(3, 2)).sum().backward()
    d.entropy().sum().backward()
    assert sigma.grad is not None and mu.grad is not None
    # d/dsigma of sum(log_prob at 0) = 3 * (mu^2 / sigma^3 - 1 / sigma); entropy adds 3 / sigma.
    s, m = np.array([1.0, 2.0]), np.array([0.5, 1.0])
    np.testing.assert_allclose(sigma.grad.numpy(), 3 * (m**2 / s**3 - 1 / s) + 3 / s, rtol=1e-6)
