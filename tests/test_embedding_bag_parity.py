"""``F.embedding_bag`` / ``nn.EmbeddingBag`` with ``max_norm`` and ``scale_grad_by_freq``
against values recorded from PyTorch 2.15 (CPU, float64): outputs, the weight after the in-place
renormalisation, and the gradients of weight and ``per_sample_weights``."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn
from democratising.autograd import GradcheckError
from democratising.autograd import gradcheck as dm_gradcheck
from democratising.errors import InvalidValueError
from helpers import assert_close, gradcheck

# the table and the output gradient of every recorded case (G's first rows, one per bag)
W = np.array(
    [
        [0.5, -1.25, 2.0],
        [1.5, 0.25, -0.75],
        [-2.0, 1.0, 0.5],
        [0.125, 0.375, -0.25],
        [3.0, -1.0, 1.0],
    ]
)
G = np.array([[1.0, -2.0, 0.5], [0.25, 1.5, -1.0], [2.0, 0.5, 1.0]])

# (mode, input, offsets, keyword arguments, output, weight after, weight.grad, psw.grad)
_TORCH_CASES = [
    (
        "mean",
        [1, 4, 4, 0, 2, 4, 1],
        [0, 3, 5],
        {"max_norm": 1.5},
        [
            [1.34685985, -0.22779036, 0.08034841],
            [-0.49911089, -0.06153005, 0.7858344],
            [1.34188927, -0.11555204, -0.10561088],
        ],
        [
            [0.3110855, -0.77771374, 1.24434198],
            [1.32697753, 0.22116292, -0.66348876],
            [-1.30930728, 0.65465364, 0.32732682],
            [0.125, 0.375, -0.25],
            [1.35680101, -0.452267, 0.452267],
        ],
        [
            [0.125, 0.75, -0.5],
            [1.33333333, -0.41666667, 0.66666667],
            [0.125, 0.75, -0.5],
            [0.0, 0.0, 0.0],
            [1.66666667, -1.08333333, 0.83333333],
        ],
        None,
    ),
    (
        "sum",
        [1, 4, 4, 0, 2, 4, 1],
        [0, 3, 5],
        {
            "max_norm": 1.0,
            "norm_type": 1.0,
            "padding_idx": 2,
            "per_sample_weights": [0.5, -1.0, 2.0, 1.0, 3.0, 0.25, -0.5],
            "scale_grad_by_freq": True,
        },
        [
            [0.89999998, -0.15, 0.05],
            [0.13333333, -0.33333332, 0.53333332],
            [-0.14999999, -0.1, 0.19999999],
        ],
        [
            [0.13333333, -0.33333332, 0.53333332],
            [0.59999998, 0.1, -0.29999999],
            [-0.57142856, 0.28571428, 0.14285714],
            [0.125, 0.375, -0.25],
            [0.59999999, -0.2, 0.2],
        ],
        [
            [0.25, 1.5, -1.0],
            [-0.25, -0.625, -0.125],
            [0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
            [0.5, -0.625, 0.25],
        ],
        [0.24999999, 1.09999998, 1.09999998, -0.99999997, 0.0, 1.29999997, 0.94999996],
    ),
    (
        "max",
        [1, 4, 4, 0, 2, 4, 1],
        [0, 3, 5, 7],
        {"include_last_offset": True, "max_norm": 2.0, "norm_type": 3.0},
        [
            [1.95292352, 0.25, 0.65097451],
            [0.46295637, 0.95708906, 1.85182549],
            [1.95292352, 0.25, 0.65097451],
        ],
        [
            [0.46295637, -1.15739093, 1.85182549],
            [1.5, 0.25, -0.75],
            [-1.91417811, 0.95708906, 0.47854453],
            [0.125, 0.375, -0.25],
            [1.95292352, -0.65097451, 0.65097451],
        ],
        [[0.25, 0.0, -1.0], [0.0, -1.5, 0.0], [0.0, 1.5, 0.0], [0.0, 0.0, 0.0], [3.0, 0.0, 1.5]],
        None,
    ),
    (
        "mean",
        [[4, 4, 1], [0, 4, 2], [3, 3, 3]],
        None,
        {"max_norm": 2.5, "padding_idx": 0, "scale_grad_by_freq": True},
        [
            [2.00755668, -0.41918556, 0.25251889],
            [0.13066751, 0.12311083, 0.62688917],
            [0.125, 0.375, -0.25],
        ],
        [
            [0.5, -1.25, 2.0],
            [1.5, 0.25, -0.75],
            [-2.0, 1.0, 0.5],
            [0.125, 0.375, -0.25],
            [2.26133502, -0.75377834, 0.75377834],
        ],
        [
            [0.0, 0.0, 0.0],
            [0.33333333, -0.66666667, 0.16666667],
            [0.125, 0.75, -0.5],
            [0.66666667, 0.16666667, 0.33333333],
            [0.26388889, -0.19444444, -0.05555556],
        ],
        None,
    ),
    (
        "sum",
        [[4, 4, 1], [0, 4, 2], [3, 3, 3]],
        None,
        {
            "per_sample_weights": [[1.0, 2.0, -1.0], [0.5, 0.5, 0.5], [1.0, -3.0, 2.0]],
            "scale_grad_by_freq": True,
        },
        [[7.5, -3.25, 3.75], [0.75, -0.625, 1.75], [0.0, 0.0, 0.0]],
        [
            [0.5, -1.25, 2.0],
            [1.5, 0.25, -0.75],
            [-2.0, 1.0, 0.5],
            [0.125, 0.375, -0.25],
            [3.0, -1.0, 1.0],
        ],
        [
            [0.125, 0.75, -0.5],
            [-1.0, 2.0, -0.5],
            [0.125, 0.75, -0.5],
            [-0.0, -0.0, -0.0],
            [1.04166667, -1.75, 0.33333333],
        ],
        [[5.5, 5.5, 0.625], [-3.75, -1.75, 0.5], [0.1875, 0.1875, 0.1875]],
    ),
]


# the layer case below, from PyTorch
_LAYER_OUT = [[0.92631835, 0.27244195, -0.52565918], [0.73344463, 0.12972398, -0.17780544]]
_LAYER_WEIGHT = [
    [0.3110855, -0.77771374, 1.24434198],
    [1.32697753, 0.22116292, -0.66348876],
    [-2.0, 1.0, 0.5],
    [0.125, 0.375, -0.25],
    [1.35680101, -0.452267, 0.452267],
]
_LAYER_GRAD = [
    [0.0, 0.0, 0.0],
    [0.53393782, 0.14270597, -0.26326054],
    [0.0, 0.0, 0.0],
    [0.45033007, 0.10378398, -0.17608163],
    [0.36672232, 0.06486199, -0.08890272],
]


@pytest.mark.parametrize("case", range(len(_TORCH_CASES)))
def test_embedding_bag_renorm_and_freq_match_torch(case: int) -> None:
    mode, idx, off, kw, want_out, want_w, want_grad, want_psw = _TORCH_CASES[case]
    kw = dict(kw)
    psw: Optional[dm.Tensor] = None
    if "per_sample_weights" in kw:
        psw = dm.tensor(kw["per_sample_weights"], dtype=dm.float64, requires_grad=True)
        kw["per_sample_weights"] = psw
    w = dm.tensor(W, dtype=dm.float64, requires_grad=True)
    offsets = None if off is None else dm.tensor(off)
    out = F.embedding_bag(dm.tensor(idx), w, offsets, mode=mode, **kw)
    assert_close(out, want_out, rtol=1e-7, atol=1e-7)
    assert_close(w, want_w, rtol=1e-7, atol=1e-7)  # renormalised in place
    (out * dm.tensor(G[: out.shape[0]])).sum().backward()
    assert_close(w.grad, want_grad, rtol=1e-7, atol=1e-7)
    if psw is not None:
        assert_close(psw.grad, want_psw, rtol=1e-7, atol=1e-7)


def _freq_grad(idx: Any, offsets: Optional[list[int]], mode: str, **kw: Any) -> np.ndarray:
    """weight.grad of ``out.sum()`` over a 6-row table of ones, one column."""
    w = dm.ones(6, 1, dtype=dm.float64, requires_grad=True)
    off = None if offsets is None else dm.tensor(offsets)
    F.embedding_bag(
        dm.tensor(idx), w, off, mode=mode, scale_grad_by_freq=True, **kw
    ).sum().backward()
    return w.grad.numpy()[:, 0]


# PyTorch's per-row gradient scales (input [1, 1, 2, 3, 1, 4, 4] unless given)
@pytest.mark.parametrize(
    ("offsets", "mode", "kw", "want"),
    [
        ([0, 3, 5], "mean", {}, [0, 7 / 18, 1 / 3, 1 / 2, 1 / 2, 0]),
        ([0, 3, 5], "sum", {}, [0, 1, 1, 1, 1, 0]),
        ([0, 3, 3, 5], "mean", {}, [0, 7 / 18, 1 / 3, 1 / 2, 1 / 2, 0]),  # an empty bag
        ([0, 3, 5], "mean", {"padding_idx": 4}, [0, 7 / 18, 1 / 3, 1 / 2, 0, 0]),
        ([0, 3, 5], "mean", {"padding_idx": 1}, [0, 0, 1, 1, 1 / 2, 0]),
        ([0, 3, 5, 7], "mean", {"include_last_offset": True}, [0, 7 / 18, 1 / 3, 1 / 2, 1 / 2, 0]),
        (
            [0, 3, 5],
            "sum",
            {"per_sample_weights": dm.tensor([1.0, 2, 3, 4, 5, 6, 7], dtype=dm.float64)},
            [0, 8 / 3, 3, 4, 13 / 2, 0],
        ),
    ],
)
def test_scale_grad_by_freq_scales_match_torch(
    offsets: list[int], mode: str, kw: dict[str, Any], want: list[float]
) -> None:
    assert_close(dm.tensor(_freq_grad([1, 1, 2, 3, 1, 4, 4], offsets, mode, **kw)), want)


def test_scale_grad_by_freq_2d_input_counts_the_whole_batch() -> None:
    got = _freq_grad([[1, 1, 2], [3, 1, 4]], None, "mean")
    assert_close(dm.tensor(got), [0, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 0])


def test_scale_grad_by_freq_leaves_values_and_no_grad_calls_alone() -> None:
    w = dm.tensor(W, dtype=dm.float64, requires_grad=True)
    idx, off = dm.tensor([4, 4, 1, 4]), dm.tensor([0, 2])
    plain = F.embedding_bag(idx, w, off, mode="sum")
    scaled = F.embedding_bag(idx, w, off, mode="sum", scale_grad_by_freq=True)
    assert_close(scaled, plain.detach().numpy(), rtol=0, atol=0)
    with dm.no_grad():
        assert_close(
            F.embedding_bag(idx, w, off, scale_grad_by_freq=True),
            [[3.0, -1, 1], [2.25, -0.375, 0.125]],
        )
    frozen = dm.tensor(W, dtype=dm.float64)  # no gradient wanted: nothing to scale
    assert_close(
        F.embedding_bag(idx, frozen, off, mode="sum", scale_grad_by_freq=True),
        plain.detach().numpy(),
    )


def test_max_mode_refuses_scale_grad_by_freq() -> None:
    w = dm.tensor(W)
    with pytest.raises(ValueError, match="max mode does not support scaling the gradient"):
        F.embedding_bag(dm.tensor([0, 1]), w, dm.tensor([0]), mode="max", scale_grad_by_freq=True)
    bag = nn.EmbeddingBag(5, 3, scale_grad_by_freq=True, mode="max")  # built; refused when run
    with pytest.raises(ValueError, match="max mode does not support scaling the gradient"):
        bag(dm.tensor([[0, 1]]))


def test_max_norm_leaves_weight_alone_on_bad_input() -> None:
    w = dm.tensor(W)
    with pytest.raises(IndexError):
        F.embedding_bag(dm.tensor([4, 5]), w, dm.tensor([0]), max_norm=1.0)
    with pytest.raises(InvalidValueError):
        F.embedding_bag(dm.tensor([4, 1]), w, dm.tensor([1]), max_norm=1.0)
    assert_close(w, W)


def test_embedding_bag_layer_max_norm_and_freq_match_torch() -> None:
    # PyTorch: from_pretrained(W, freeze=False, max_norm=1.5, scale_grad_by_freq=True,
    # padding_idx=0), input [[1, 1, 0, 3], [4, 1, 3, 3]], loss out.pow(2).sum()
    bag = nn.EmbeddingBag.from_pretrained(
        dm.tensor(W), freeze=False, max_norm=1.5, scale_grad_by_freq=True, padding_idx=0
    )
    out = bag(dm.tensor([[1, 1, 0, 3], [4, 1, 3, 3]]))
    assert_close(out, _LAYER_OUT, rtol=1e-6, atol=1e-7)
    assert_close(bag.weight, _LAYER_WEIGHT, rtol=1e-6, atol=1e-7)
    out.pow(2).sum().backward()
    assert_close(bag.weight.grad, _LAYER_GRAD, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("kw", "want"),
    [
        ({"max_norm": 1.0}, "EmbeddingBag(5, 3, max_norm=1.0, mode='mean')"),
        ({"max_norm": 1}, "EmbeddingBag(5, 3, max_norm=1, mode='mean')"),
        (
            {"max_norm": 2.5, "norm_type": 3, "scale_grad_by_freq": True, "mode": "sum"},
            "EmbeddingBag(5, 3, max_norm=2.5, norm_type=3, scale_grad_by_freq=True, mode='sum')",
        ),
        (
            {"scale_grad_by_freq": True, "mode": "max", "padding_idx": -1},
            "EmbeddingBag(5, 3, scale_grad_by_freq=True, mode='max', padding_idx=4)",
        ),
        ({"sparse": True, "include_last_offset": True}, "EmbeddingBag(5, 3, mode='mean')"),
    ],
)
def test_embedding_bag_repr_matches_torch(kw: dict[str, Any], want: str) -> None:
    assert repr(nn.EmbeddingBag(5, 3, **kw)) == want


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_gradcheck(mode: str) -> None:
    rng = np.random.default_rng(3)
    w = dm.tensor(rng.standard_normal((6, 3)), dtype=dm.float64, requires_grad=True)
    idx, off = dm.tensor([1, 1, 2, 3, 1, 4, 4, 0]), dm.tensor([0, 3, 3, 5, 8])
    gradcheck(lambda t: F.embedding_bag(idx, t, off, mode=mode, padding_idx=4), [w])
    gradcheck(lambda t: F.embedding_bag(idx, t, off, mode=mode, include_last_offset=True), [w])
    gradcheck(lambda t: F.embedding_bag(dm.tensor([[5, 2], [2, 2]]), t, mode=mode), [w])
    psw = dm.tensor(rng.standard_normal(8), dtype=dm.float64, requires_grad=True)
    if mode == "sum":
        gradcheck(
            lambda t, p: F.embedding_bag(idx, t, off, mode="sum", per_sample_weights=p), [w, psw]
        )


def test_scale_grad_by_freq_gradient_is_scaled_not_exact() -> None:
    """As in PyTorch: per_sample_weights' gradient stays exact, weight's is divided by the
    counts (so a finite-difference check on weight fails where an index repeats)."""
    rng = np.random.default_rng(4)
    w = dm.tensor(rng.standard_normal((6, 3)), dtype=dm.float64, requires_grad=True)
    psw = dm.tensor(rng.standard_normal(7), dtype=dm.float64, requires_grad=True)
    idx, off = dm.tensor([1, 1, 2, 3, 1, 4, 4]), dm.tensor([0, 3, 5])
    kw: dict[str, Any] = {"mode": "sum", "scale_grad_by_freq": True}
    gradcheck(lambda p: F.embedding_bag(idx, w.detach(), off, per_sample_weights=p, **kw), [psw])
    gradcheck(lambda t: F.embedding_bag(dm.tensor([0, 2, 5]), t, dm.tensor([0, 1]), **kw), [w])
    with pytest.raises(GradcheckError):
        dm_gradcheck(lambda t: F.embedding_bag(idx, t, off, **kw), (w,), raise_exception=True)


def test_embedding_bag_all_padding_max_bag_keeps_the_graph() -> None:
    w = dm.tensor(W, requires_grad=True)
    out = F.embedding_bag(dm.tensor([3]), w, dm.tensor([0, 0, 1, 1]), mode="max", padding_idx=3)
    assert_close(out, np.zeros((4, 3)))
    out.sum().backward()  # PyTorch's zeros lead back to weight too
    assert_close(w.grad, np.zeros((5, 3)))


def test_embedding_bag_empty_offsets() -> None:
    w = dm.tensor(W)
    assert tuple(F.embedding_bag(dm.tensor([1, 2]), w, dm.tensor([], dtype=dm.int64)).shape) == (
        0,
        3,
    )
    with pytest.raises(InvalidValueError, match="number of offset should be at least 1"):
        F.embedding_bag(
            dm.tensor([1, 2]), w, dm.tensor([], dtype=dm.int64), include_last_offset=True
        )
