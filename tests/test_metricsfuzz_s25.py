"""Differential fuzz of ``democratising.metrics`` against scikit-learn and torchmetrics' documented
semantics (session 25, ``metricsfuzz``): each test holds the reference's value as a constant
(computed with scikit-learn 1.9 / torch 2.x, or taken from torchmetrics' documentation) and is
marked ``xfail(strict=True)`` until the bug it names is fixed."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from democratising.metrics import Accuracy, F1Score, Perplexity, Precision, R2Score, Recall


def test_r2_targets_with_a_large_offset() -> None:
    # sklearn.metrics.r2_score([1e9, 1e9 + 2, 1e9 + 4], [1e9 + 1, 1e9 + 2, 1e9 + 3]) == 0.75
    target = np.array([1e9, 1e9 + 2, 1e9 + 4])
    preds = np.array([1e9 + 1, 1e9 + 2, 1e9 + 3])
    assert R2Score()(preds, target) == pytest.approx(0.75, rel=1e-9)


def test_r2_constant_target_imperfect_fit_is_zero() -> None:
    # The documented force_finite rule: a constant target scores 0.0 unless the fit is perfect.
    target = np.full(10, 0.1)
    assert R2Score()(target + 0.5, target) == 0.0


def test_r2_of_a_single_sample_is_nan() -> None:
    # sklearn.metrics.r2_score([2.0], [1.0]) is NaN (R^2 is not defined for fewer than 2 samples).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns; a warning is welcome, not required
        value = R2Score()(np.array([1.0]), np.array([2.0]))
    assert math.isnan(value)


def test_perplexity_of_a_huge_loss_is_inf() -> None:
    # exp(mean NLL) with mean NLL = 1000: torch.exp(torch.tensor(1000.)) is inf.
    assert Perplexity()(np.array([[1000.0, 0.0]]), np.array([1])) == math.inf


@pytest.mark.parametrize("cls", [Precision, Recall, F1Score])
def test_task_wrappers_default_to_micro(cls: type) -> None:
    # torchmetrics' documented example: Precision(task="multiclass", average="micro",
    # num_classes=3) on preds [2, 0, 2, 1], target [1, 1, 2, 0] is 0.25, and micro is the
    # wrapper's default (Precision.__new__(..., average="micro")); macro would be 1/6.
    metric = cls(task="multiclass", num_classes=3)
    assert metric(np.array([2, 0, 2, 1]), np.array([1, 1, 2, 0])) == pytest.approx(0.25)


def test_binary_logits_that_happen_to_be_integers() -> None:
    # torchmetrics' binary rule: float preds outside [0, 1] are logits and go through a sigmoid:
    # sigmoid([-2, 3, 1]) = [0.12, 0.95, 0.73] -> [0, 1, 1]; sigmoid(0) = 0.5 is not > 0.5.
    assert Accuracy(task="binary")(np.array([-2.0, 3.0, 1.0]), np.array([0, 1, 1])) == 1.0
    assert F1Score(task="binary")(np.array([-2.0, 3.0, 0.0]), np.array([0, 1, 0])) == 1.0
