"""The helpers shared after the session-24 clean-up of the functional/loss/metric modules:
``fold``/``unfold``'s one input check, the triplet losses' one loss body (PyTorch's order of
operations, so both agree bit for bit) and the metrics' one target-label filter
(``ignore_index``)."""

from __future__ import annotations

import re
from typing import Callable

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising.errors import ArgumentTypeError, InvalidValueError, ShapeError
from democratising.metrics import Accuracy, ConfusionMatrix, F1Score, Perplexity

# ---- fold / unfold input check -------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: F.unfold([[1.0]], 2), "unfold(): argument 'input' (position 1) must be Tensor"),
        (
            lambda: F.fold([[1.0]], (3, 3), 2),
            "fold(): argument 'input' (position 1) must be Tensor",
        ),
    ],
)
def test_fold_unfold_refuse_a_non_tensor_with_pytorchs_type_error(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(ArgumentTypeError, match=re.escape(message)):
        call()
    with pytest.raises(TypeError):
        call()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: F.unfold(dm.ones(4, 4), 2), "unfold expects a 3-D or 4-D input, got 2-D"),
        (lambda: F.unfold(dm.ones(1, 1, 1, 4, 4), 2), "unfold expects a 3-D or 4-D input, got 5-D"),
        (lambda: F.fold(dm.ones(9), (4, 4), 2), "fold expects a 2-D or 3-D input, got 1-D"),
        (
            lambda: F.fold(dm.ones(1, 2, 8, 9), (4, 4), 2),
            "fold expects a 2-D or 3-D input, got 4-D",
        ),
    ],
)
def test_fold_unfold_refuse_other_ranks(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        call()


def test_fold_unfold_take_the_unbatched_form() -> None:
    x = dm.tensor(np.arange(32, dtype=np.float32).reshape(2, 4, 4))
    cols = F.unfold(x, 2)
    assert tuple(cols.shape) == (8, 9)
    np.testing.assert_array_equal(cols.numpy(), F.unfold(x.unsqueeze(0), 2).squeeze(0).numpy())
    image = F.fold(dm.ones(8, 9), (4, 4), 2)
    assert tuple(image.shape) == (2, 4, 4)
    # How many 2x2 windows (stride 1) cover each cell of a 4x4 image.
    cover = np.array([[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]], dtype=np.float32)
    np.testing.assert_array_equal(image.numpy(), np.stack([cover, cover]))


# ---- triplet losses ------------------------------------------------------------------------


def _triplets(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, p, n = (rng.standard_normal((64, 7)).astype(np.float32) for _ in range(3))
    return a, p, n


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("margin", [0.3, 1.0, 1.7])
def test_triplet_losses_agree_bit_for_bit(swap: bool, margin: float) -> None:
    a, p, n = (dm.tensor(v) for v in _triplets(0))
    plain = F.triplet_margin_loss(a, p, n, margin=margin, swap=swap, reduction="none")
    custom = F.triplet_margin_with_distance_loss(
        a, p, n, margin=margin, swap=swap, reduction="none"
    )
    np.testing.assert_array_equal(plain.numpy(), custom.numpy())
    # PyTorch's order: ``margin + d(a, p) - d(a, n)``, then ``max(., 0)``.
    d_pos, d_neg = F.pairwise_distance(a, p), F.pairwise_distance(a, n)
    if swap:
        d_neg = d_neg.minimum(F.pairwise_distance(p, n))
    np.testing.assert_array_equal(plain.numpy(), (margin + d_pos - d_neg).relu().numpy())


def test_triplet_loss_values_and_gradients() -> None:
    a, p, n = _triplets(1)
    d = lambda x, y: np.sqrt(((x.astype(np.float64) - y + 1e-6) ** 2).sum(-1))  # noqa: E731
    want = np.maximum(1.0 + d(a, p) - np.minimum(d(a, n), d(p, n)), 0).mean()
    ta = dm.tensor(a, requires_grad=True)
    got = F.triplet_margin_loss(ta, dm.tensor(p), dm.tensor(n), p=2.0, swap=True)
    assert got.item() == pytest.approx(want, rel=1e-5)
    got.backward()
    assert ta.grad is not None and bool(ta.grad.abs().sum() > 0)
    custom = F.triplet_margin_with_distance_loss(
        dm.tensor(a),
        dm.tensor(p),
        dm.tensor(n),
        distance_function=lambda x, y: (x - y).abs().sum(-1),
    )
    l1 = lambda x, y: np.abs(x.astype(np.float64) - y).sum(-1)  # noqa: E731
    assert custom.item() == pytest.approx(np.maximum(1.0 + l1(a, p) - l1(a, n), 0).mean(), rel=1e-5)


@pytest.mark.parametrize("loss", [F.triplet_margin_loss, F.triplet_margin_with_distance_loss])
def test_triplet_losses_check_as_pytorch(loss: Callable[..., dm.Tensor]) -> None:
    a = dm.ones(2, 3)
    with pytest.raises(ShapeError) as err:
        loss(a, dm.ones(3), a)
    # PyTorch's message, the same for both losses.
    assert str(err.value) == (
        "The anchor, positive, and negative tensors are expected to have the same number of "
        "dimensions, but got: anchor 2D, positive 1D, and negative 2D inputs"
    )
    for margin in (0.0, -1.0):
        with pytest.raises(InvalidValueError, match=f"margin must be greater than 0, got {margin}"):
            loss(a, a, a, margin=margin)


# ---- metrics: target labels with ignore_index ----------------------------------------------


def test_accuracy_drops_ignored_targets_with_their_predictions() -> None:
    preds = np.array([0, 1, 2, 2, 1])
    target = np.array([0, -100, 2, 1, -100])  # -100 is outside the classes: dropped first
    m = Accuracy(num_classes=3, ignore_index=-100)
    m.update(preds, target)
    assert m.compute() == pytest.approx(2 / 3)
    with pytest.raises(InvalidValueError, match="target holds the label 3"):
        Accuracy(num_classes=3, ignore_index=-100)(np.array([0, 1]), np.array([3, -100]))


def test_top_k_accuracy_drops_ignored_targets_with_their_scores() -> None:
    scores = np.array(
        [[0.1, 0.5, 0.4], [0.7, 0.2, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]], dtype=np.float32
    )
    target = np.array([2, 2, -1, 2])  # top-2: hit, miss, (ignored), miss
    m = Accuracy(top_k=2, ignore_index=-1)
    m.update(scores, target)
    assert m.compute() == pytest.approx(1 / 3)
    with pytest.raises(InvalidValueError, match="target holds the label 3"):
        Accuracy(top_k=2, ignore_index=-1)(scores, np.array([3, 0, 1, 2]))


def test_confusion_metrics_drop_ignored_targets() -> None:
    preds = np.array([0, 1, 1, 0, 1])
    target = np.array([0, 1, 255, 1, 255])
    cm = ConfusionMatrix(num_classes=2, ignore_index=255)
    cm.update(preds, target)
    np.testing.assert_array_equal(cm.compute().numpy(), np.array([[1, 0], [1, 1]]))
    f1 = F1Score(num_classes=2, average="micro", ignore_index=255)
    f1.update(preds, target)
    assert f1.compute() == pytest.approx(2 / 3)


def test_perplexity_drops_ignored_tokens() -> None:
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.2, 0.6, 0.2], [0.1, 0.1, 0.8]]))
    m = Perplexity(ignore_index=-100)
    m.update(logits, np.array([0, -100, 2]))
    assert m.compute() == pytest.approx(float(np.exp(-(np.log(0.5) + np.log(0.8)) / 2)))
    with pytest.raises(InvalidValueError, match="target holds the label 3"):
        Perplexity(ignore_index=-100)(logits, np.array([0, 3, -100]))
