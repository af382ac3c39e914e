"""Parity of the rarer ``nn.functional`` functions with PyTorch (session 23 sweep).

Every expected value below was produced by torch 2.15 (CPU) from the same inputs, which are
built from ``np.sin`` so the file needs no torch. The affine_grid cases are bit-exact float32
(PyTorch's linspace rounding and its unfused base @ theta^T); cosine_similarity covers the
straight-through eps clamp and ctc_loss PyTorch's exp(log_probs) - posterior gradient."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F


def sines(*shape: int, k: float = 0.7, off: float = 0.0) -> np.ndarray:
    """Deterministic inputs shared with the torch script that made the expectations."""
    n = int(np.prod(shape))
    return np.sin(np.arange(n) * k + off).reshape(shape)


def tensor(a: np.ndarray, grad: bool = False, dtype=None) -> dm.Tensor:
    t = dm.from_numpy(np.ascontiguousarray(a if dtype is None else a.astype(dtype)))
    return t.requires_grad_() if grad else t


def close(actual: dm.Tensor, expected: list, tol: float = 1e-12) -> None:
    a = actual.detach().numpy() if hasattr(actual, "detach") else np.asarray(actual)
    np.testing.assert_allclose(a, np.asarray(expected), rtol=tol, atol=tol)


# Expected values from torch, keyed by name (see the module docstring).
_EXPECTED = json.loads((Path(__file__).parent / "functional_rare_parity_s23.json").read_text())


@pytest.mark.parametrize(
    ("n", "align", "expected"),
    [
        (7, True, _EXPECTED["AG_X_7_TRUE"]),
        (12, False, _EXPECTED["AG_X_12_FALSE"]),
        (66, True, _EXPECTED["AG_X_66_TRUE"]),
        (66, False, _EXPECTED["AG_X_66_FALSE"]),
    ],
)
def test_affine_grid_base_coords_bit_exact(n: int, align: bool, expected: list) -> None:
    theta = tensor(np.eye(2, 3)[None], dtype=np.float32)
    g = F.affine_grid(theta, (1, 1, 2, n), align_corners=align).numpy()
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g[0, 0, :, 0], np.asarray(expected, dtype=np.float32))


def test_affine_grid_theta_bit_exact_2d_3d() -> None:
    g = F.affine_grid(tensor(sines(1, 2, 3), dtype=np.float32), (1, 1, 2, 34), align_corners=False)
    np.testing.assert_array_equal(
        g.numpy()[0], np.asarray(_EXPECTED["AG_THETA_F32"], dtype=np.float32)
    )
    g3 = F.affine_grid(
        tensor(sines(1, 3, 4, k=0.3), dtype=np.float32), (1, 1, 3, 4, 5), align_corners=True
    )
    np.testing.assert_array_equal(
        g3.numpy()[0], np.asarray(_EXPECTED["AG3_THETA_F32"], dtype=np.float32)
    )


def test_affine_grid_float64_matches_numpy_grad() -> None:
    theta = tensor(sines(2, 2, 3), grad=True)
    g = F.affine_grid(theta, (2, 1, 3, 4), align_corners=False)
    w = sines(2, 3, 4, 2, k=0.2)
    (g * tensor(w)).sum().backward()
    xs = (np.arange(4) * 2 + 1) / 4 - 1
    ys = (np.arange(3) * 2 + 1) / 3 - 1
    base = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], 1.0), -1)  # [3, 4, 3]
    np.testing.assert_allclose(
        g.detach().numpy(), np.einsum("hwk,njk->nhwj", base, sines(2, 2, 3)), atol=1e-15
    )
    np.testing.assert_allclose(theta.grad.numpy(), np.einsum("nhwj,hwk->njk", w, base), atol=1e-13)


def test_cosine_similarity_eps_gradient_is_straight_through() -> None:
    a, b = tensor(sines(2, 3) * 1e-5, grad=True), tensor(sines(2, 3, off=1.0) * 1e-5, grad=True)
    o = F.cosine_similarity(a, b, eps=1e-3)
    (o * tensor(np.array([1.0, -2.0]))).sum().backward()
    close(o, _EXPECTED["COS_VAL"])
    close(a.grad, _EXPECTED["COS_GA"], 1e-9)
    close(b.grad, _EXPECTED["COS_GB"], 1e-9)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_ctc_loss_gradient_is_true_gradient_not_torchs(reduction: str) -> None:
    """PyTorch's CTC backward returns exp(log_probs) - posterior (the logits' gradient under a
    log_softmax), which fails gradcheck; ours is the true -posterior. The difference is exactly
    exp(log_probs) times each sample's output gradient on its input frames."""
    x = sines(6, 2, 4, k=1.3)
    lp = tensor(x - np.log(np.exp(x).sum(-1, keepdims=True)), grad=True)
    o = F.ctc_loss(
        lp,
        tensor(np.array([[1, 2], [3, 0]])),
        tensor(np.array([6, 5])),
        tensor(np.array([2, 1])),
        reduction=reduction,
    )
    (o * tensor(np.array([1.0, 0.5])) if reduction == "none" else o).sum().backward()
    close(o, _EXPECTED["CTC_MEAN_VAL"] if reduction == "mean" else _EXPECTED["CTC_NONE_VAL"])
    torch_grad = np.asarray(
        _EXPECTED["CTC_MEAN_GRAD"] if reduction == "mean" else _EXPECTED["CTC_NONE_GRAD"]
    )
    per_sample = np.array([1 / (2 * 2), 1 / (2 * 1)]) if reduction == "mean" else [1.0, 0.5]
    frames = (np.arange(6)[:, None] < np.array([6, 5])[None, :])[..., None]
    exp_part = np.exp(lp.detach().numpy()) * frames * np.asarray(per_sample)[None, :, None]
    close(lp.grad, torch_grad - exp_part, 1e-10)


def test_ctc_loss_gradient_through_log_softmax_unchanged() -> None:
    x = tensor(sines(6, 2, 4, k=1.3), grad=True)
    o = F.ctc_loss(
        F.log_softmax(x, -1),
        tensor(np.array([[1, 2], [3, 0]])),
        tensor(np.array([6, 5])),
        tensor(np.array([2, 1])),
        reduction="mean",
    )
    o.backward()
    # Through log_softmax PyTorch's gradient equals the true one: softmax - posterior/len/N.
    close(o, _EXPECTED["CTC_MEAN_VAL"])
    g = x.grad.numpy()
    np.testing.assert_allclose(g.sum(-1)[:5], 0.0, atol=1e-12)  # per-frame sums vanish
    np.testing.assert_allclose(g[5, 1], 0.0, atol=0)  # frame past input length 5


def test_interpolate_bicubic_antialias() -> None:
    x = tensor(sines(1, 1, 5, 6), grad=True)
    o = F.interpolate(x, size=(2, 3), mode="bicubic", antialias=True, align_corners=False)
    (o * tensor(sines(1, 1, 2, 3, k=0.4))).sum().backward()
    close(o, _EXPECTED["AA_VAL"])
    close(x.grad, _EXPECTED["AA_GRAD"])


def test_grid_sample_bicubic_reflection_grads() -> None:
    x, g = tensor(sines(1, 1, 3, 4), grad=True), tensor(sines(1, 2, 2, 2, k=1.1) * 1.4, grad=True)
    o = F.grid_sample(x, g, mode="bicubic", padding_mode="reflection", align_corners=False)
    (o * tensor(sines(1, 1, 2, 2, k=0.4))).sum().backward()
    close(o, _EXPECTED["GS_VAL"])
    close(x.grad, _EXPECTED["GS_GX"])
    close(g.grad, _EXPECTED["GS_GG"], 1e-11)


def test_pad_circular_negative() -> None:
    close(F.pad(tensor(sines(1, 2, 3, 4)), (-1, 2, 1, -1), mode="circular"), _EXPECTED["PAD_CIRC"])


def test_embedding_max_norm_renormalises_weight_in_place() -> None:
    w = tensor(sines(5, 3, k=0.9) * 2)
    F.embedding(tensor(np.array([[0, 2], [2, 4]])), w, max_norm=1.0)
    close(w, _EXPECTED["EMB_W"])


def test_embedding_bag_per_sample_weights_padding_idx() -> None:
    w, psw = tensor(sines(5, 3, k=0.9), grad=True), tensor(sines(6, k=0.5), grad=True)
    o = F.embedding_bag(
        tensor(np.array([1, 2, 4, 0, 4, 3])),
        w,
        tensor(np.array([0, 2, 2])),
        mode="sum",
        per_sample_weights=psw,
        padding_idx=4,
    )
    (o * tensor(sines(3, 3, k=0.2))).sum().backward()
    close(o, _EXPECTED["BAG_VAL"])
    close(w.grad, _EXPECTED["BAG_GW"])
    close(psw.grad, _EXPECTED["BAG_GP"])


def test_gaussian_nll_full_eps_var_broadcast() -> None:
    i, v = tensor(sines(3, 4), grad=True), tensor(np.abs(sines(3, 1, off=0.3)) + 0.1, grad=True)
    o = F.gaussian_nll_loss(
        i, tensor(sines(3, 4, off=2.0)), v, full=True, eps=0.05, reduction="none"
    )
    o.sum().backward()
    close(o, _EXPECTED["GNLL_VAL"])
    close(i.grad, _EXPECTED["GNLL_GI"])
    close(v.grad, _EXPECTED["GNLL_GV"])


def test_rare_losses_and_distances() -> None:
    close(
        F.poisson_nll_loss(
            tensor(sines(3, 4)),
            tensor(np.abs(sines(3, 4, off=1.0)) * 3),
            log_input=True,
            full=True,
            reduction="none",
        ),
        _EXPECTED["PNLL"],
    )
    close(
        F.multilabel_margin_loss(
            tensor(sines(2, 4)), tensor(np.array([[3, 0, -1, 1], [1, -1, 0, 0]])), reduction="none"
        ),
        _EXPECTED["MLM"],
    )
    close(
        F.multi_margin_loss(
            tensor(sines(3, 4)),
            tensor(np.array([1, 0, 3])),
            p=2,
            margin=0.7,
            weight=tensor(np.array([0.5, 1.0, 2.0, 1.5])),
            reduction="none",
        ),
        _EXPECTED["MM"],
    )
    close(
        F.triplet_margin_loss(
            tensor(sines(3, 4)),
            tensor(sines(3, 4, off=1)),
            tensor(sines(3, 4, off=2)),
            p=1,
            swap=True,
            eps=1e-3,
            reduction="none",
        ),
        _EXPECTED["TRIP"],
    )
    close(
        F.local_response_norm(tensor(sines(1, 5, 2)), 3, alpha=0.5, beta=0.75, k=1.5),
        _EXPECTED["LRN"],
    )
    close(
        dm.cdist(tensor(sines(3, 2)), tensor(sines(2, 2, off=1.0)), p=float("inf")),
        _EXPECTED["CDIST_INF"],
    )
    close(F.pdist(tensor(sines(4, 3)), p=1), _EXPECTED["PDIST_P1"])
    close(
        F.smooth_l1_loss(
            tensor(sines(2, 3)), tensor(sines(2, 3, off=1)), beta=0.0, reduction="none"
        ),
        _EXPECTED["SL1_B0"],
    )
