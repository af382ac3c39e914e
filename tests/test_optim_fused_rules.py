"""The fused element-wise rules behind Adadelta, Adamax, NAdam, RAdam, ASGD and Rprop
(``_core._optim_rule_step``; test_optim_more.py checks their float64 steps against PyTorch's
rules to rounding): large parameters (split over threads) and CUDA ones agree too,
low-precision and strided parameters step through copies, each group is one engine call,
and bad calls raise typed errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import _core, optim
from democratising.errors import DTypeError, InvalidValueError, ShapeError
from test_optim_more import CASES, FUSED_RULES, _variants

FUSED = sorted(FUSED_RULES)


def _fused_variants() -> list[Any]:
    return [v for v in _variants() if v.values[0] in FUSED_RULES]


@pytest.mark.parametrize("name", FUSED)
def test_large_parameters_split_over_threads_match_the_reference(name: str) -> None:
    cls, ref, defaults, _ = CASES[name]
    rng = np.random.default_rng(3)
    start = rng.normal(size=(600, 500))  # above the engine's threading threshold
    p = dm.tensor(start, requires_grad=True)
    opt = cls([p], **{**defaults, "lr": 0.01})
    want, state = start.copy(), {}
    hyper = {**defaults, "lr": 0.01}
    for _ in range(7):
        g = rng.normal(size=start.shape)
        p.grad = dm.tensor(g)
        opt.step()
        want = ref(state, want, g, hyper)
    np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-12, atol=1e-13)


def _steps(name: str, make_param: Any, n: int = 6) -> np.ndarray:
    """The float32 parameter after ``n`` steps of optimizer ``name``; ``make_param`` builds the
    parameter from a float32 array."""
    cls, _, defaults, _ = CASES[name]
    rng = np.random.default_rng(9)
    start = rng.normal(size=(4, 6)).astype(np.float32)
    p = make_param(start)
    opt = cls([p], **{**defaults, "lr": 0.05})
    for _ in range(n):
        g = rng.normal(size=tuple(p.shape)).astype(np.float32)
        p.grad = dm.tensor(g).to(p.dtype)
        opt.step()
    return p.detach().float().numpy()


@pytest.mark.parametrize("name", FUSED)
def test_bfloat16_parameters_step_in_float32_and_keep_their_dtype(name: str) -> None:
    want = _steps(name, lambda a: dm.tensor(a).to(dm.bfloat16).float().requires_grad_())
    p_holder: list[dm.Tensor] = []

    def make(a: np.ndarray) -> dm.Tensor:
        p_holder.append(dm.tensor(a).to(dm.bfloat16).requires_grad_())
        return p_holder[0]

    got = _steps(name, make)
    p = p_holder[0]
    assert p.dtype == dm.bfloat16
    assert p.grad is not None and p.grad.dtype == dm.bfloat16
    np.testing.assert_allclose(got, want, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("name", FUSED)
def test_strided_parameters_update_in_place_exactly(name: str) -> None:
    contiguous = _steps(name, lambda a: dm.tensor(a).requires_grad_())
    holder: list[dm.Tensor] = []

    def make(a: np.ndarray) -> dm.Tensor:
        # A leaf whose memory is the transpose of a [6, 4] block: not contiguous.
        t = dm.tensor(np.ascontiguousarray(a.T)).t().requires_grad_()
        assert not t.is_contiguous()
        holder.append(t)
        return t

    strided = _steps(name, make)
    np.testing.assert_array_equal(strided, contiguous)


def test_each_group_is_one_engine_call(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []
    real = _core._optim_rule_step

    def counting(rule: str, params: list[dm.Tensor], *rest: Any) -> None:
        calls.append((rule, len(params)))
        real(rule, params, *rest)

    monkeypatch.setattr(_core, "_optim_rule_step", counting)
    ps = [dm.randn(3, 3, requires_grad=True) for _ in range(5)]
    opt = optim.NAdam([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.1}])
    for p in ps:
        p.grad = dm.ones(3, 3)
    ps[4].grad = None
    opt.step()
    assert calls == [("nadam", 2), ("nadam", 2)]


def _tensors(n: int = 3) -> list[dm.Tensor]:
    return [dm.zeros(4) for _ in range(n)]


def test_engine_call_rejects_bad_arguments() -> None:
    p, g, s0, s1 = _tensors(4)
    k = [1.0, 0.0, 1.0, 1.0, 0.9, 0.1, 1e-6]
    _core._optim_rule_step("adadelta", [p], [g], [[s0, s1]], [k])  # the valid call
    with pytest.raises(InvalidValueError, match="unknown optimizer rule"):
        _core._optim_rule_step("adamw", [p], [g], [[s0, s1]], [k])
    with pytest.raises(InvalidValueError, match="2 state tensors"):
        _core._optim_rule_step("adadelta", [p], [g], [[s0]], [k])
    with pytest.raises(InvalidValueError, match="7 constants"):
        _core._optim_rule_step("adadelta", [p], [g], [[s0, s1]], [k[:4]])
    with pytest.raises(InvalidValueError, match="differ in length"):
        _core._optim_rule_step("adadelta", [p], [g], [], [k])
    with pytest.raises(InvalidValueError, match="share memory"):
        _core._optim_rule_step("adadelta", [p], [g], [[s0, s0]], [k])
    with pytest.raises(ShapeError):
        _core._optim_rule_step("adadelta", [p], [g], [[s0, dm.zeros(5)]], [k])
    with pytest.raises(ShapeError):
        _core._optim_rule_step("adadelta", [p], [dm.zeros(3)], [[s0, s1]], [k])
    with pytest.raises(DTypeError):
        ints = dm.zeros(4, dtype=dm.int64)
        _core._optim_rule_step("adadelta", [ints], [g], [[s0, s1]], [k])


def test_a_step_invalidates_tensors_saved_for_backward() -> None:
    p = dm.randn(4, requires_grad=True)
    y = (p * p).sum()  # saves p
    opt = optim.Rprop([p])
    p.grad = dm.ones(4)
    opt.step()
    with pytest.raises(RuntimeError, match="modified"):
        y.backward()


@pytest.mark.parametrize(("name", "extra"), _fused_variants())
def test_cuda_float64_steps_match_the_reference(name: str, extra: dict[str, Any]) -> None:
    if not dm.cuda.is_available():
        pytest.skip("no CUDA device")
    cls, ref, defaults, _ = CASES[name]
    hyper = {**defaults, **extra}
    rng = np.random.default_rng(4)
    start = rng.normal(size=(37, 5))
    p = dm.tensor(start).cuda().requires_grad_()
    opt = cls([p], **hyper)
    want, state = start.copy(), {}
    for k in range(8):
        g = rng.normal(size=start.shape)
        g[k % 37] = 0.0
        p.grad = dm.tensor(g).cuda()
        opt.step()
        want = ref(state, want, g, hyper)
    assert all(t.device.type == "cuda" for t in opt.state[p].values() if isinstance(t, dm.Tensor))
    np.testing.assert_allclose(p.detach().cpu().numpy(), want, rtol=1e-12, atol=1e-13)
