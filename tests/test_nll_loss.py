"""`nll_loss` over `[N, C]` log-probabilities: NumPy reference values, and the backward that
goes straight to the logits after `log_softmax` (fused) checked against finite differences and
against the unfused path, which hooks, retained gradients and `autograd.grad` must still
get."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from helpers import _numeric_grad, assert_close, gradcheck

rng = np.random.default_rng(7)
LABELS = np.array([3, 0, 4, -100, 1, 3])


def _reference(
    x: np.ndarray, t: np.ndarray, w: Optional[np.ndarray], ignore: int, reduction: str
) -> tuple[np.ndarray, np.ndarray]:
    """The loss of `nll_loss(log_softmax(x))` and its gradient in the logits (mean: of the
    loss; none: of the losses' sum)."""
    lp = x - x.max(1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(1, keepdims=True))
    valid = t != ignore
    safe = np.where(valid, t, 0)
    rw = valid * (np.ones(x.shape[1]) if w is None else w)[safe]
    losses = -lp[np.arange(len(t)), safe] * rw
    onehot = np.eye(x.shape[1])[safe]
    grad = rw[:, None] * (np.exp(lp) - onehot)
    if reduction == "mean":
        return losses.sum() / rw.sum(), grad / rw.sum()
    if reduction == "sum":
        return losses.sum(), grad
    return losses, grad


def _leaf(a: np.ndarray) -> dm.Tensor:
    return dm.tensor(a, requires_grad=True)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_after_log_softmax_matches_numpy(reduction: str, weighted: bool, dtype: type) -> None:
    x = rng.standard_normal((6, 5)).astype(dtype)
    w = rng.uniform(0.5, 2.0, 5).astype(dtype) if weighted else None
    want, want_grad = _reference(x.astype(np.float64), LABELS, w, -100, reduction)
    xt = _leaf(x)
    loss = F.nll_loss(
        F.log_softmax(xt, dim=1),
        dm.tensor(LABELS),
        weight=None if w is None else dm.tensor(w),
        reduction=reduction,
    )
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert_close(loss, want, atol=tol, rtol=tol)
    loss.sum().backward()
    assert xt.grad is not None
    assert_close(xt.grad, want_grad, atol=tol, rtol=tol)


def test_fused_backward_matches_finite_differences() -> None:
    x = rng.standard_normal((5, 7))
    t, w = np.array([6, 0, 2, 2, 5]), rng.uniform(0.5, 2.0, 7)

    def loss_of(a: dm.Tensor) -> dm.Tensor:
        lp = F.log_softmax(a, dim=-1)
        return F.nll_loss(lp, dm.tensor(t), weight=dm.tensor(w), ignore_index=2)

    xt = _leaf(x)
    loss_of(xt).backward()  # .backward(): the fused path
    assert xt.grad is not None
    numeric = _numeric_grad(loss_of, [x], 0, np.ones(()), 1e-6)
    np.testing.assert_allclose(xt.grad.numpy(), numeric, rtol=1e-6, atol=1e-8)
    gradcheck(loss_of, [_leaf(x)])  # autograd.grad: the unfused path


def test_gradcheck_of_log_probability_input() -> None:
    lp = _leaf(rng.standard_normal((4, 6)))
    t = dm.tensor([5, 0, 1, 5])
    for reduction in ("mean", "sum", "none"):
        gradcheck(lambda a, r=reduction: F.nll_loss(a, t, reduction=r), [lp])


def _fused_and_unfused(x: np.ndarray) -> tuple[dm.Tensor, dm.Tensor, dm.Tensor]:
    """x's gradient through the fused backward, and through the unfused one (a hook on the
    log-probabilities observes their gradient), plus that observed gradient."""
    a, b = _leaf(x), _leaf(x)
    F.nll_loss(F.log_softmax(a, 1), dm.tensor(LABELS)).backward()
    seen: list[dm.Tensor] = []
    lp = F.log_softmax(b, 1)
    lp.register_hook(lambda g: seen.append(g))
    F.nll_loss(lp, dm.tensor(LABELS)).backward()
    assert a.grad is not None and b.grad is not None and len(seen) == 1
    return a.grad, b.grad, seen[0]


def test_a_hook_on_the_log_probabilities_still_sees_their_gradient() -> None:
    x = rng.standard_normal((6, 5))
    fused, unfused, seen = _fused_and_unfused(x)
    assert_close(fused, unfused.numpy(), atol=1e-12, rtol=1e-12)
    onehot = np.zeros((6, 5))
    rows = [i for i, label in enumerate(LABELS) if label != -100]
    onehot[rows, LABELS[rows]] = -1.0 / len(rows)
    assert_close(seen, onehot)


def test_retained_grad_and_autograd_grad_of_the_log_probabilities() -> None:
    x = rng.standard_normal((6, 5))
    _, want, lp_grad = _fused_and_unfused(x)
    a = _leaf(x)
    lp = F.log_softmax(a, 1)
    lp.retain_grad()
    F.nll_loss(lp, dm.tensor(LABELS)).backward()
    assert lp.grad is not None and a.grad is not None
    assert_close(lp.grad, lp_grad.numpy())
    assert_close(a.grad, want.numpy())
    a = _leaf(x)
    lp = F.log_softmax(a, 1)
    g_lp, g_a = dm.autograd.grad(F.nll_loss(lp, dm.tensor(LABELS)), [lp, a])
    assert g_lp is not None and g_a is not None
    assert_close(g_lp, lp_grad.numpy())
    assert_close(g_a, want.numpy())


def test_log_probabilities_used_twice_get_both_gradients() -> None:
    x = rng.standard_normal((6, 5))
    a, b = _leaf(x), _leaf(x)
    lp = F.log_softmax(a, 1)
    (F.nll_loss(lp, dm.tensor(LABELS)) + 0.3 * (lp * lp).sum()).backward()
    ref = F.log_softmax(b, 1)
    ref.register_hook(lambda g: g)  # forces the unfused path
    (F.nll_loss(ref, dm.tensor(LABELS)) + 0.3 * (ref * ref).sum()).backward()
    assert a.grad is not None and b.grad is not None
    assert_close(a.grad, b.grad.numpy(), atol=1e-12, rtol=1e-12)


def test_in_place_change_of_the_log_probabilities_is_reported() -> None:
    a = _leaf(rng.standard_normal((3, 4)))
    lp = F.log_softmax(a, 1)
    loss = F.nll_loss(lp, dm.tensor([0, 1, 2]))
    with dm.no_grad():
        lp.mul_(2.0)
    with pytest.raises(dm.DemocratisingError, match="in-place"):
        loss.backward()


def test_log_softmax_over_the_batch_dimension_is_not_fused() -> None:
    x = rng.standard_normal((4, 3))
    t = np.array([0, 2, 1, 1])
    a = _leaf(x)
    F.nll_loss(F.log_softmax(a, 0), dm.tensor(t)).backward()
    lp = x - np.log(np.exp(x).sum(0, keepdims=True))
    sm = np.exp(lp)
    g_lp = np.zeros_like(x)
    g_lp[np.arange(4), t] = -0.25
    want = g_lp - sm * g_lp.sum(0, keepdims=True)
    assert a.grad is not None
    assert_close(a.grad, want)


def test_bad_targets_and_weights_raise_typed_errors() -> None:
    lp = F.log_softmax(dm.randn(3, 4, requires_grad=True), 1)
    with pytest.raises(IndexError, match="7"):
        F.nll_loss(lp, dm.tensor([0, 7, 1]))
    with pytest.raises(IndexError, match="-3"):
        F.nll_loss(lp, dm.tensor([0, -3, 1]))
    with pytest.raises(dm.ShapeError):
        F.nll_loss(lp, dm.tensor([0, 1]))
    with pytest.raises(dm.ShapeError):
        F.nll_loss(lp, dm.tensor([0, 1, 2]), weight=dm.ones(3))
    with pytest.raises(TypeError):
        F.nll_loss(lp, dm.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="reduction"):
        F.nll_loss(lp, dm.tensor([0, 1, 2]), reduction="avg")


def test_empty_batch_and_all_ignored_follow_pytorch() -> None:
    a = _leaf(np.zeros((0, 4)))
    loss = F.nll_loss(F.log_softmax(a, 1), dm.tensor(np.zeros(0, dtype=np.int64)))
    assert np.isnan(loss.item())
    assert F.nll_loss(a, dm.tensor(np.zeros(0, dtype=np.int64)), reduction="sum").item() == 0.0
    loss.backward()
    assert a.grad is not None and tuple(a.grad.shape) == (0, 4)
    b = _leaf(rng.standard_normal((2, 3)))
    loss = F.nll_loss(F.log_softmax(b, 1), dm.tensor([-100, -100]))
    assert np.isnan(loss.item())
    per_row = F.nll_loss(b, dm.tensor([-100, 1]), reduction="none")
    assert_close(per_row, np.array([0.0, -b.detach().numpy()[1, 1]]))


def test_nll_loss_module_and_other_shapes_keep_working() -> None:
    x = rng.standard_normal((2, 3, 4))  # [N, C, d]: the composite
    t = np.array([[0, 1, 2, 2], [1, 1, 0, 2]])
    lp = x - np.log(np.exp(x).sum(1, keepdims=True))
    want = -np.take_along_axis(lp, t[:, None], 1).mean()
    got = dm.nn.NLLLoss()(F.log_softmax(dm.tensor(x), 1), dm.tensor(t))
    assert_close(got, want)
    one = F.nll_loss(dm.tensor(lp[0, :, 0]), dm.tensor(np.int64(0)))  # [C] with a 0-d label
    assert_close(one, -lp[0, 0, 0])
