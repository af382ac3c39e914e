"""Loss and activation behaviour checked against values and signatures taken from PyTorch 2.15:
the loss modules' constructors (legacy ``size_average``/``reduce`` in PyTorch's positions, with
its warning), class weights as buffers, and CELU's gradient at its kink."""

import inspect
import warnings

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.nn import functional as F


def _params(cls: type) -> list[str]:
    return list(inspect.signature(cls.__init__).parameters)[1:]


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (nn.L1Loss, ["size_average", "reduce", "reduction"]),
        (nn.MSELoss, ["size_average", "reduce", "reduction"]),
        (nn.SmoothL1Loss, ["size_average", "reduce", "reduction", "beta"]),
        (nn.KLDivLoss, ["size_average", "reduce", "reduction", "log_target"]),
        (nn.BCELoss, ["weight", "size_average", "reduce", "reduction"]),
        (nn.BCEWithLogitsLoss, ["weight", "size_average", "reduce", "reduction", "pos_weight"]),
        (
            nn.CrossEntropyLoss,
            ["weight", "size_average", "ignore_index", "reduce", "reduction", "label_smoothing"],
        ),
        (nn.NLLLoss, ["weight", "size_average", "ignore_index", "reduce", "reduction"]),
        (nn.MarginRankingLoss, ["margin", "size_average", "reduce", "reduction"]),
        (nn.CosineEmbeddingLoss, ["margin", "size_average", "reduce", "reduction"]),
        (
            nn.TripletMarginLoss,
            ["margin", "p", "eps", "swap", "size_average", "reduce", "reduction"],
        ),
    ],
)
def test_loss_constructor_signature_is_pytorchs(cls: type, expected: list[str]) -> None:
    assert _params(cls) == expected


def test_positional_arguments_land_where_pytorch_puts_them() -> None:
    x = dm.tensor(np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]], dtype=np.float32))
    t = dm.tensor(np.array([2, 0]))
    # PyTorch: CrossEntropyLoss(weight, size_average, ignore_index) -> ignore_index=2.
    ce = nn.CrossEntropyLoss(None, None, 2)
    assert ce.ignore_index == 2 and ce.reduction == "mean"
    # Only row 1 counts: -log_softmax([1, 0, -0.5])[0] = 0.46436879 (torch).
    np.testing.assert_allclose(ce(x, t).item(), 0.46436879, rtol=1e-5)
    assert nn.NLLLoss(None, None, 2).ignore_index == 2
    assert nn.L1Loss(None, None, "sum").reduction == "sum"
    assert nn.KLDivLoss(None, None, "batchmean", True).log_target is True
    assert nn.SmoothL1Loss(None, None, "none", 0.5).beta == 0.5
    assert nn.MarginRankingLoss(0.1, None, None, "sum").reduction == "sum"
    assert nn.TripletMarginLoss(1.0, 2.0, 1e-6, True, None, None, "none").reduction == "none"


@pytest.mark.parametrize(
    ("size_average", "reduce", "expected"),
    [(False, None, "sum"), (True, None, "mean"), (None, False, "none"), (False, True, "sum")],
)
def test_legacy_flags_by_position_warn_like_pytorch(
    size_average: bool, reduce: bool, expected: str
) -> None:
    with pytest.warns(UserWarning, match=f"reduction='{expected}'"):
        module = nn.MSELoss(size_average, reduce)
    assert module.reduction == expected
    with pytest.warns(UserWarning):
        assert nn.CrossEntropyLoss(size_average=size_average, reduce=reduce).reduction == expected


def test_no_warning_without_legacy_flags() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.MSELoss(reduction="sum")
        nn.CrossEntropyLoss(label_smoothing=0.1)


def test_nllloss2d_takes_pytorchs_positions() -> None:
    with pytest.warns(FutureWarning):
        module = nn.NLLLoss2d(None, None, 3)
    assert module.ignore_index == 3 and module.reduction == "mean"


def test_class_weights_are_buffers() -> None:
    w = dm.tensor(np.array([0.5, 1.0, 2.0], dtype=np.float32))
    for module in (nn.CrossEntropyLoss(weight=w), nn.NLLLoss(weight=w), nn.BCELoss(weight=w)):
        assert [n for n, _ in module.named_buffers()] == ["weight"]
        assert list(module.state_dict()) == ["weight"]
    both = nn.BCEWithLogitsLoss(weight=w, pos_weight=w)
    assert list(both.state_dict()) == ["weight", "pos_weight"]
    assert list(nn.BCEWithLogitsLoss(pos_weight=w).state_dict()) == ["pos_weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []


def test_weighted_cross_entropy_still_matches_pytorch() -> None:
    x = dm.tensor(np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]], dtype=np.float32))
    t = dm.tensor(np.array([2, 0]))
    w = dm.tensor(np.array([0.5, 1.0, 2.0], dtype=np.float32))
    # torch.nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)(x, t) = 0.39359564
    out = nn.CrossEntropyLoss(w, label_smoothing=0.1)(x, t)
    np.testing.assert_allclose(out.item(), 0.39359564, rtol=1e-5)


@pytest.mark.parametrize("alpha", [1.0, 1.5])
def test_celu_gradient_at_zero_is_one(alpha: float) -> None:
    values = np.array([-3.0, -1.0, 0.0, 1.0, 3.0], dtype=np.float32)
    x = dm.tensor(values, requires_grad=True)
    out = F.celu(x, alpha)
    out.sum().backward()
    negative = np.minimum(values, 0.0)
    expected = np.where(values > 0, values, alpha * np.expm1(negative / alpha))
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-6, atol=1e-7)
    # torch.nn.functional.celu's gradient: exp(x / alpha) at and below 0, 1 above (1 at 0).
    grad = np.where(values > 0, 1.0, np.exp(negative / alpha))
    np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-6)
    x.grad = None
    nn.CELU(alpha)(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-6)


def test_celu_negative_alpha_matches_pytorch() -> None:
    x = dm.tensor(np.array([-3.0, 0.0, 3.0], dtype=np.float64))
    # torch.nn.functional.celu(x, -1.5) = [-9.5836, 0, 3]
    np.testing.assert_allclose(F.celu(x, -1.5).numpy(), [-9.58358415, 0.0, 3.0], rtol=1e-7)


def _leaf(values: list) -> dm.Tensor:
    return dm.tensor(np.array(values, dtype=np.float32), requires_grad=True)


def test_hinge_embedding_no_gradient_at_the_kink() -> None:
    x = _leaf([1.0, 2.0, 0.5])
    F.hinge_embedding_loss(x, dm.tensor(np.array([-1.0, -1.0, -1.0], dtype=np.float32))).backward()
    # torch: [0, 0, -1/3] (margin - x is exactly 0 for the first element).
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, -1.0 / 3.0], rtol=1e-6)


def test_multi_margin_no_gradient_at_the_kink() -> None:
    x = _leaf([[1.0, 0.0, 2.0]])
    F.multi_margin_loss(x, dm.tensor(np.array([0])), reduction="sum").backward()
    # Class 1 sits exactly on the margin: torch gives it no gradient.
    np.testing.assert_allclose(x.grad.numpy(), [[-1.0 / 3.0, 0.0, 1.0 / 3.0]], rtol=1e-6)


def test_multilabel_margin_no_gradient_at_the_kink() -> None:
    x = _leaf([[1.0, 0.0, 2.0, 0.5]])
    F.multilabel_margin_loss(x, dm.tensor(np.array([[0, -1, 1, 2]])), reduction="sum").backward()
    # torch: [-0.5, 0, 0.25, 0.25]
    np.testing.assert_allclose(x.grad.numpy(), [[-0.5, 0.0, 0.25, 0.25]], rtol=1e-6)


def test_triplet_with_distance_no_gradient_at_the_kink() -> None:
    anchor, positive = _leaf([[0.0, 0.0]]), _leaf([[1.0, 0.0]])
    negative = _leaf([[2.0, 0.0]])
    loss = F.triplet_margin_with_distance_loss(
        anchor, positive, negative, distance_function=lambda a, b: (a - b).abs().sum(-1)
    )
    loss.backward()
    assert loss.item() == 0.0
    for t in (anchor, positive, negative):
        np.testing.assert_array_equal(t.grad.numpy(), [[0.0, 0.0]])


def test_label_out_of_range_is_also_pytorchs_runtime_error() -> None:
    x = dm.tensor(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(RuntimeError, match="out of range"):
        F.multi_margin_loss(x, dm.tensor(np.array([0, 3])))
    with pytest.raises(dm.IndexOutOfRangeError):
        F.multilabel_margin_loss(x, dm.tensor(np.array([[0, 5, -1], [1, -1, 0]])))
    log_probs = dm.tensor(np.full((4, 1, 3), -np.log(3.0), dtype=np.float32))
    with pytest.raises(RuntimeError, match="blank"):
        F.ctc_loss(log_probs, dm.tensor(np.array([[1]])), [4], [1], blank=3)


@pytest.mark.parametrize("margin", [0.0, -1.0])
def test_triplet_margin_loss_module_refuses_non_positive_margin(margin: float) -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        nn.TripletMarginLoss(margin=margin)


def test_program_subclasses_of_loss_base_work_as_in_pytorch() -> None:
    from democratising.nn.loss import _Loss

    class NoReductionArg(_Loss):  # an ``__init__`` without ``reduction`` (failed at class time)
        def __init__(self) -> None:
            super().__init__(reduction="sum")

    class LegacyPositional(_Loss):  # PyTorch's own subclasses' style
        def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
            super().__init__(size_average, reduce, reduction)

    class Bare(_Loss):
        pass

    assert NoReductionArg().reduction == "sum"
    assert LegacyPositional(reduction="none").reduction == "none"
    with pytest.warns(UserWarning, match="reduction='sum'"):
        assert LegacyPositional(False).reduction == "sum"
    assert Bare().reduction == "mean" and Bare(reduction="none").reduction == "none"


def test_weighted_loss_base_for_a_focal_loss() -> None:
    from democratising.nn.loss import _WeightedLoss

    class Focal(_WeightedLoss):
        def __init__(self, weight=None, gamma: float = 2.0, reduction: str = "mean") -> None:
            super().__init__(weight, reduction=reduction)
            self.gamma = gamma

        def forward(self, x: dm.Tensor, t: dm.Tensor) -> dm.Tensor:
            return F.cross_entropy(x, t, weight=self.weight, reduction=self.reduction)

    w = dm.tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    module = Focal(w, reduction="sum")
    assert module.reduction == "sum" and [n for n, _ in module.named_buffers()] == ["weight"]
    assert repr(module) == "Focal()"
    x = dm.tensor(np.array([[1.0, 2.0, 3.0]], dtype=np.float32))
    # torch: 2 * (logsumexp([1, 2, 3]) - 2) = 2.81521177
    np.testing.assert_allclose(module(x, dm.tensor(np.array([1]))).item(), 2.81521177, rtol=1e-6)
    assert isinstance(nn.CrossEntropyLoss(), _WeightedLoss)
    assert _WeightedLoss().weight is None
