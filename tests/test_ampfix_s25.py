"""Regression tests for the session-25 fixes to mixed precision, serialization and the losses
(the divergences from PyTorch encoded in ``test_ampfuzz_s25.py``), and the neighbouring cases
the fixes had to keep right. Expected values are PyTorch 2.x's, as NumPy formulas or
constants."""

from __future__ import annotations

import io
import json
import struct
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import _core
from democratising._safetensors import CHECKSUM_KEY, RawTensor, bf16_to_f32, write_safetensors
from democratising.errors import CheckpointError, InvalidValueError

_RAMP = np.array([1.0 + i / 1000 for i in range(1000)], dtype=np.float32)
#: The float32 2-norm of _RAMP (float64 reference: 48.28906...; float32 rounding of it).
_NORM = float(np.sqrt(np.sum(np.square(_RAMP.astype(np.float64)))))


# ---- norms under autocast ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [dm.float32, dm.float64], ids=str)
def test_norm_fast_path_under_autocast_keeps_the_input_dtype(dtype: dm.dtype) -> None:
    x = dm.tensor(_RAMP).to(dtype)
    with dm.autocast("cpu", dtype=dm.bfloat16):
        outs = [dm.norm(x), x.norm(), x.norm(2), dm.dist(x, dm.zeros(1000, dtype=dtype))]
        assert dm.amp.is_autocast_enabled()  # the region itself is untouched
    for t in outs:
        assert t.dtype == dtype
        assert t.item() == pytest.approx(_NORM, rel=1e-6)
    # Outside autocast the dot-product fast path gives the same number.
    assert x.norm().item() == pytest.approx(_NORM, rel=1e-6)


def test_get_total_norm_under_autocast_is_float32_and_restores_the_region() -> None:
    grads = [dm.tensor(_RAMP[:600]), dm.tensor(_RAMP[600:])]
    with dm.autocast("cpu", dtype=dm.float16):
        total = dm.nn.utils.get_total_norm(grads)
        assert dm.amp.get_autocast_dtype() == dm.float16  # still on after the norm
        inf_grad = [dm.tensor([1.0, float("inf")])]
        with pytest.raises(RuntimeError, match="non-finite"):
            dm.nn.utils.get_total_norm(inf_grad, error_if_nonfinite=True)
        assert dm.amp.get_autocast_dtype() == dm.float16
    assert total.dtype == dm.float32
    assert total.item() == pytest.approx(_NORM, rel=1e-6)


def test_clip_grad_norm_under_autocast_clips_by_the_float32_norm() -> None:
    p = dm.nn.Parameter(dm.ones(1000))
    p.grad = dm.tensor(_RAMP)
    with dm.autocast("cpu", dtype=dm.bfloat16):
        total = dm.nn.utils.clip_grad_norm_([p], 1.0)
    assert total.item() == pytest.approx(_NORM, rel=1e-6)
    np.testing.assert_allclose(p.grad.numpy(), _RAMP / (_NORM + 1e-6), rtol=1e-5)


# ---- serialization ---------------------------------------------------------------------------


def test_bf16_to_f32_keeps_zero_dim_arrays_arrays() -> None:
    out = bf16_to_f32(np.array(0x3FC0, dtype="<u2").reshape(()))  # bfloat16 1.5
    assert isinstance(out, np.ndarray) and out.shape == () and float(out) == 1.5


def test_save_load_zero_dim_bfloat16_with_other_tensors(tmp_path: Path) -> None:
    obj = {"s": dm.tensor(-2.5, dtype=dm.bfloat16), "v": dm.tensor([0.5, 3.0], dtype=dm.bfloat16)}
    path = tmp_path / "t.pt"
    dm.save(obj, path)
    back = dm.load(path)
    assert back["s"].dtype == dm.bfloat16 and back["s"].shape == () and back["s"].item() == -2.5
    assert back["v"].float().tolist() == [0.5, 3.0]


def test_plain_safetensors_zero_dim_bfloat16_loads(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    with open(path, "wb") as f:
        write_safetensors(f, {"t": RawTensor("BF16", np.array(0x4040, dtype="<u2"))})  # 3.0
    t = dm.load(path)["t"]
    assert t.dtype == dm.bfloat16 and t.shape == () and t.item() == 3.0


def _rewrite_without_checksum(blob: bytes) -> bytes:
    """``blob`` (a ``dm.save`` file) rewritten as a valid safetensors file whose metadata
    keeps the format keys but not the checksum: what a damaged checksum entry amounts to."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    meta = {k: v for k, v in header.pop("__metadata__").items() if k != CHECKSUM_KEY}
    data = blob[8 + n :]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype="<f4").reshape(entry["shape"])
        tensors[name] = RawTensor(entry["dtype"], arr)
    out = io.BytesIO()
    write_safetensors(out, tensors, meta, checksum=False)
    return out.getvalue()


def test_save_file_without_its_checksum_is_corrupt(tmp_path: Path) -> None:
    buf = io.BytesIO()
    dm.save({"a": dm.arange(4.0), "n": 3}, buf)
    stripped = _rewrite_without_checksum(buf.getvalue())
    with pytest.raises(CheckpointError, match="checksum is missing"):
        dm.load(io.BytesIO(stripped))
    path = tmp_path / "s.pt"
    path.write_bytes(stripped)
    with pytest.raises(CheckpointError, match="checksum is missing"):
        dm.load(path)
    # The intact file still loads; so does a plain safetensors file without a checksum.
    buf.seek(0)
    assert dm.load(buf)["a"].tolist() == [0.0, 1.0, 2.0, 3.0]
    plain = io.BytesIO()
    write_safetensors(plain, {"w": RawTensor("F32", np.ones(2, np.float32))}, checksum=False)
    plain.seek(0)
    assert dm.load(plain)["w"].tolist() == [1.0, 1.0]


# ---- GradScaler with the built-in (fused) optimizers --------------------------------------------


def _scaled_step(name: str, grad_mult: list[float], **kw: Any) -> tuple[Any, Any, Any]:
    p = dm.nn.Parameter(dm.tensor([1.0, 2.0]))
    opt = getattr(dm.optim, name)([p], lr=0.1, **kw)
    scaler = dm.amp.GradScaler(init_scale=8.0)
    scaler.scale((p * dm.tensor(grad_mult)).sum()).backward()
    scaler.step(opt)
    scaler.update()
    return p, opt, scaler


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_scaler_step_leaves_unscaled_grads_and_the_unscaled_update(name: str) -> None:
    p, opt, scaler = _scaled_step(name, [3.0, 4.0])
    assert p.grad.tolist() == [3.0, 4.0]
    assert opt._grad_scale == 1.0 and scaler.get_scale() == 8.0
    # The update is the one an unscaled step makes.
    q = dm.nn.Parameter(dm.tensor([1.0, 2.0]))
    ref = getattr(dm.optim, name)([q], lr=0.1)
    (q * dm.tensor([3.0, 4.0])).sum().backward()
    ref.step()
    assert p.detach().tolist() == q.detach().tolist()


def test_scaler_skipped_step_leaves_unscaled_grads_as_torch() -> None:
    # torch (default SGD): grads [3.0, inf] after a skipped step, parameters untouched.
    p, _, scaler = _scaled_step("SGD", [3.0, float("inf")], momentum=0.9)
    assert p.grad.tolist() == [3.0, float("inf")]
    assert p.detach().tolist() == [1.0, 2.0]
    assert scaler.get_scale() == 4.0


def test_scaler_unscale_then_step_unscales_once() -> None:
    p = dm.nn.Parameter(dm.tensor([1.0, 2.0]))
    opt = dm.optim.Adam([p], lr=0.1)
    scaler = dm.amp.GradScaler(init_scale=16.0)
    scaler.scale((p * dm.tensor([3.0, 4.0])).sum()).backward()
    scaler.unscale_(opt)
    dm.nn.utils.clip_grad_norm_([p], 100.0)
    scaler.step(opt)
    scaler.update()
    assert p.grad.tolist() == [3.0, 4.0]


# ---- interpolate and prelu under autocast ----------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "shape", "size"),
    [
        ("linear", (1, 2, 5), (7,)),
        ("bilinear", (1, 1, 3, 4), (5, 2)),
        ("bicubic", (1, 1, 3, 4), (5, 6)),
        ("area", (1, 1, 6, 4), (3, 2)),
        ("trilinear", (1, 1, 2, 3, 2), (3, 4, 3)),
    ],
)
def test_interpolate_under_autocast_matches_float32(
    mode: str, shape: tuple[int, ...], size: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(0)
    x = dm.tensor(rng.standard_normal(shape).astype(np.float32) * 3.0 + 1.0001)
    kw: dict[str, Any] = {} if mode == "area" else {"align_corners": False}
    ref = F.interpolate(x, size=size, mode=mode, **kw)
    with dm.autocast("cpu", dtype=dm.bfloat16):
        got = F.interpolate(x, size=size, mode=mode, **kw)
        assert dm.amp.get_autocast_dtype() == dm.bfloat16  # region restored
        low = F.interpolate(x.to(dm.bfloat16), size=size, mode=mode, **kw)
    assert got.dtype == dm.float32 and low.dtype == dm.bfloat16
    np.testing.assert_array_equal(got.numpy(), ref.numpy())


def test_interpolate_under_autocast_is_differentiable() -> None:
    x = dm.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], requires_grad=True)
    with dm.autocast("cpu", dtype=dm.float16):
        y = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    y.sum().backward()
    assert x.grad is not None and x.grad.dtype == dm.float32
    np.testing.assert_allclose(x.grad.numpy(), np.full((1, 1, 2, 2), 4.0))


def test_prelu_under_autocast_runs_low_and_leaves_float64() -> None:
    x = dm.tensor([[-1.0, 2.0, -3.0]])
    with dm.autocast("cpu", dtype=dm.bfloat16):
        y = F.prelu(x, dm.tensor([0.25]))
        m = dm.nn.PReLU()(x)
        d = F.prelu(x.double(), dm.tensor([0.25], dtype=dm.float64))
    assert y.dtype == dm.bfloat16 and y.float().tolist() == [[-0.25, 2.0, -0.75]]
    assert m.dtype == dm.bfloat16 and m.float().tolist() == [[-0.25, 2.0, -0.75]]
    assert d.dtype == dm.float64
    assert F.prelu(x, dm.tensor([0.25])).dtype == dm.float32


def test_prelu_under_autocast_backward_reaches_float32_leaves() -> None:
    x = dm.tensor([[-1.0, 2.0]], requires_grad=True)
    w = dm.nn.Parameter(dm.tensor([0.25]))
    with dm.autocast("cpu", dtype=dm.float16):
        F.prelu(x, w).float().sum().backward()
    assert x.grad.dtype == dm.float32 and x.grad.tolist() == [[0.25, 1.0]]
    assert w.grad.dtype == dm.float32 and w.grad.tolist() == [-1.0]


# ---- get_autocast_dtype ----------------------------------------------------------------------


def test_autocast_dtype_of_nested_and_disabled_regions_follows_torch() -> None:
    g = dm.amp.get_autocast_dtype
    x = dm.ones(2, 2)
    with dm.autocast("cpu", dtype=dm.float16):
        with dm.autocast("cpu", enabled=False):
            assert g("cpu") == dm.float16 and (x @ x).dtype == dm.float32
            with dm.autocast("cpu"):  # a default region inherits the device's current dtype
                assert g("cpu") == dm.float16 and (x @ x).dtype == dm.float16
        with dm.autocast("cpu", dtype=dm.bfloat16, enabled=False):
            assert g("cpu") == dm.bfloat16
        assert g("cpu") == dm.float16 and g("cuda") == dm.float16
    assert g("cpu") == dm.bfloat16 and g() is None
    # A region built outside takes the dtype current when it was built, as torch's.
    outer = dm.autocast("cpu", enabled=False)
    with dm.autocast("cpu", dtype=dm.float16), outer:
        assert g("cpu") == dm.bfloat16


def test_autocast_float32_region_reports_float32_and_runs_float32() -> None:
    x = dm.ones(2, 2)
    with pytest.warns(UserWarning, match="not supported"):
        region = dm.autocast("cpu", dtype=dm.float32)
    with dm.autocast("cpu", dtype=dm.float16):
        with region:
            assert dm.amp.get_autocast_dtype("cpu") == dm.float32
            assert not dm.amp.is_autocast_enabled("cpu") and (x @ x).dtype == dm.float32
        assert dm.amp.get_autocast_dtype("cpu") == dm.float16 and (x @ x).dtype == dm.float16
    assert dm.amp.get_autocast_dtype("cpu") == dm.bfloat16


def test_autocast_dtype_is_per_thread() -> None:
    seen: list[Any] = []
    with dm.autocast("cpu", dtype=dm.float16), dm.autocast("cpu", enabled=False):
        t = threading.Thread(target=lambda: seen.append(dm.amp.get_autocast_dtype("cpu")))
        t.start()
        t.join()
        assert dm.amp.get_autocast_dtype("cpu") == dm.float16
    assert seen == [dm.bfloat16]


def test_autocast_decorator_and_exceptions_restore_the_dtype() -> None:
    @dm.autocast("cpu", dtype=dm.float16, enabled=False)
    def inner() -> Any:
        return dm.amp.get_autocast_dtype("cpu")

    assert inner() == dm.float16
    with pytest.raises(KeyError), dm.autocast("cpu", dtype=dm.float16):
        raise KeyError
    assert dm.amp.get_autocast_dtype("cpu") == dm.bfloat16


@pytest.mark.skipif(dm.cuda.is_available(), reason="checks the no-CUDA fallback")
def test_cuda_region_without_cuda_leaves_the_cpu_region_running() -> None:
    x = dm.ones(2, 2)
    with dm.autocast("cpu", dtype=dm.bfloat16):
        with pytest.warns(UserWarning, match="CUDA is not available"):
            region = dm.autocast("cuda")
        with region:
            assert (x @ x).dtype == dm.bfloat16  # torch: the CUDA region leaves CPU ops alone
            assert dm.amp.get_autocast_dtype("cuda") == dm.float16
        assert (x @ x).dtype == dm.bfloat16
    assert _core._get_autocast() is None


# ---- binary_cross_entropy and cross_entropy --------------------------------------------------


@pytest.mark.parametrize("bad", [[2.0, 0.5], [0.5, -1e-3], [float("nan"), 0.5]])
def test_bce_target_out_of_range_is_torchs_error(bad: list[float]) -> None:
    with pytest.raises(InvalidValueError, match="all elements of target should be between 0"):
        F.binary_cross_entropy(dm.tensor([0.3, 0.5]), dm.tensor(bad))
    with pytest.raises(RuntimeError):
        dm.nn.BCELoss()(dm.tensor([0.3, 0.5]), dm.tensor(bad))
    # A bad input is reported as the input's, as before.
    with pytest.raises(InvalidValueError, match="all elements of input"):
        F.binary_cross_entropy(dm.tensor([1.5, 0.5]), dm.tensor(bad))


def test_bce_accepts_the_target_bounds() -> None:
    p, t = np.array([0.25, 0.5, 0.75]), np.array([0.0, 1.0, 0.5])
    want = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean()
    got = F.binary_cross_entropy(dm.tensor(p), dm.tensor(t))
    assert got.item() == pytest.approx(want, rel=1e-12)


def _ce_probs(x: np.ndarray, t: np.ndarray, w: Any = None) -> float:
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    per = logp * t * (1.0 if w is None else w)
    return float(-per.sum(1).mean())


_X = np.array([[0.5, -1.0, 2.0, 0.0], [1.5, 0.25, -0.5, 1.0], [-2.0, 0.0, 1.0, 3.0]])


@pytest.mark.parametrize(
    ("x_dt", "t_dt", "w_dt", "out"),
    [
        (dm.float32, dm.float64, None, dm.float64),
        (dm.float64, dm.float32, None, dm.float64),
        (dm.float32, dm.float32, dm.float64, dm.float64),
        (dm.float32, dm.float32, dm.float32, dm.float32),
        (dm.bfloat16, dm.float32, None, dm.float32),
    ],
)
def test_cross_entropy_probability_targets_promote_like_torch(
    x_dt: dm.dtype, t_dt: dm.dtype, w_dt: Any, out: dm.dtype
) -> None:
    t = np.full((3, 4), 0.25)
    w = None if w_dt is None else np.array([1.0, 2.0, 0.5, 1.0])
    got = F.cross_entropy(
        dm.tensor(_X, dtype=x_dt),
        dm.tensor(t, dtype=t_dt),
        None if w is None else dm.tensor(w, dtype=w_dt),
    )
    assert got.dtype == out
    if out == dm.float64 and x_dt == dm.float64:
        assert got.item() == pytest.approx(_ce_probs(_X, t, w), rel=1e-12)
    assert got.item() == pytest.approx(
        _ce_probs(_X, t, w), rel=1e-2 if x_dt == dm.bfloat16 else 1e-6
    )


def test_cross_entropy_probability_targets_promote_under_autocast() -> None:
    with dm.autocast("cpu", dtype=dm.bfloat16):
        got = F.cross_entropy(
            dm.tensor(_X, dtype=dm.float32), dm.full((3, 4), 0.25, dtype=dm.float64)
        )
    assert got.dtype == dm.float64


def test_cross_entropy_smoothing_without_target_weight_is_nan() -> None:
    x, y = dm.tensor(_X, dtype=dm.float32), dm.tensor([0, 1, 2])
    w = dm.tensor([0.0, 0.0, 0.0, 1.0])
    assert np.isnan(F.cross_entropy(x, y, w, label_smoothing=0.1).item())
    assert np.isnan(dm.nn.CrossEntropyLoss(w, label_smoothing=0.1)(x, y).item())
    # Where the targets' weights do not sum to 0 the smoothed mean is PyTorch's formula:
    # (1 - ls) * nll_mean + ls / C * smooth_sum / sum(w[y]).
    w2 = np.array([0.5, 0.0, 2.0, 1.0])
    logp = _X - np.log(np.exp(_X).sum(1, keepdims=True))
    yy = np.array([0, 1, 2])
    den = w2[yy].sum()
    nll = -(logp[np.arange(3), yy] * w2[yy]).sum() / den
    smooth = -(logp * w2).sum() / den
    got = F.cross_entropy(x, y, dm.tensor(w2, dtype=dm.float32), label_smoothing=0.1)
    assert got.item() == pytest.approx(0.9 * nll + 0.1 / 4 * smooth, rel=1e-5)
    # Ignored rows do not count towards the weights' sum.
    ignored = F.cross_entropy(x, dm.tensor([3, 1, 1]), w, ignore_index=1, label_smoothing=0.1)
    assert np.isfinite(ignored.item())
    all_ignored = F.cross_entropy(x, dm.tensor([3, 3, 3]), w, ignore_index=3, label_smoothing=0.1)
    assert np.isnan(all_ignored.item())


def test_multilabel_margin_loss_of_an_empty_batch() -> None:
    x, y = dm.zeros(0, 4), dm.zeros(0, 4, dtype=dm.int64)
    assert F.multilabel_margin_loss(x, y).item() == 0.0
    assert F.multilabel_margin_loss(x, y, reduction="sum").item() == 0.0
    assert F.multilabel_margin_loss(x, y, reduction="none").shape == (0,)
    assert dm.nn.MultiLabelMarginLoss()(x, y).item() == 0.0


# ---- the deprecated size_average / reduce in PyTorch's positions ------------------------------

_P = np.array([[0.2, 0.7, 0.5], [0.9, 0.1, 0.4]])
_Q = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.25]])
_LEGACY = [((None, False), "none"), ((False, None), "sum"), ((True, True), "mean")]


def _legacy_calls(
    sa: Any, rd: Any
) -> dict[str, tuple[Any, Any]]:  # name -> (torch-order call, reduction= call)
    x, q = dm.tensor(_P), dm.tensor(_Q)
    idx, ii = dm.tensor([1, 0]), dm.tensor([2, 2])
    s = dm.tensor([1.0, -1.0])
    return {
        "mse_loss": (lambda: F.mse_loss(x, q, sa, rd), lambda r: F.mse_loss(x, q, reduction=r)),
        "l1_loss": (lambda: F.l1_loss(x, q, sa, rd), lambda r: F.l1_loss(x, q, reduction=r)),
        "smooth_l1_loss": (
            lambda: F.smooth_l1_loss(x, q, sa, rd, "mean", 0.5),
            lambda r: F.smooth_l1_loss(x, q, reduction=r, beta=0.5),
        ),
        "binary_cross_entropy": (
            lambda: F.binary_cross_entropy(x, q, None, sa, rd),
            lambda r: F.binary_cross_entropy(x, q, reduction=r),
        ),
        "bce_with_logits": (
            lambda: F.binary_cross_entropy_with_logits(x, q, None, sa, rd, "mean", x),
            lambda r: F.binary_cross_entropy_with_logits(x, q, reduction=r, pos_weight=x),
        ),
        "cross_entropy": (
            lambda: F.cross_entropy(x, ii, None, sa, 2, rd, "mean", 0.0),
            lambda r: F.cross_entropy(x, ii, ignore_index=2, reduction=r),
        ),
        "nll_loss": (
            lambda: F.nll_loss(x, idx, None, sa, -100, rd),
            lambda r: F.nll_loss(x, idx, reduction=r),
        ),
        "margin_ranking_loss": (
            lambda: F.margin_ranking_loss(x[0, :2], x[1, :2], s, 0.1, sa, rd),
            lambda r: F.margin_ranking_loss(x[0, :2], x[1, :2], s, 0.1, reduction=r),
        ),
        "cosine_embedding_loss": (
            lambda: F.cosine_embedding_loss(x, q, s, 0.0, sa, rd),
            lambda r: F.cosine_embedding_loss(x, q, s, reduction=r),
        ),
        "triplet_margin_loss": (
            lambda: F.triplet_margin_loss(x, q, q * 2, 1.0, 2, 1e-6, False, sa, rd),
            lambda r: F.triplet_margin_loss(x, q, q * 2, reduction=r),
        ),
        "soft_margin_loss": (
            lambda: F.soft_margin_loss(x, q, sa, rd),
            lambda r: F.soft_margin_loss(x, q, reduction=r),
        ),
        "poisson_nll_loss": (
            lambda: F.poisson_nll_loss(x, q, True, False, sa, 1e-8, rd),
            lambda r: F.poisson_nll_loss(x, q, reduction=r),
        ),
    }


@pytest.mark.parametrize(("flags", "reduction"), _LEGACY)
def test_functional_losses_take_torchs_positional_legacy_flags(
    flags: tuple[Any, Any], reduction: str
) -> None:
    for name, (legacy, modern) in _legacy_calls(*flags).items():
        with pytest.warns(UserWarning, match=f"reduction='{reduction}'") as rec:
            got = legacy()
        assert rec[0].filename == __file__, name  # the warning points at the caller
        np.testing.assert_allclose(got.numpy(), modern(reduction).numpy(), err_msg=name)


def test_functional_losses_without_flags_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _, (legacy, _) in _legacy_calls(None, None).items():
            legacy()


def test_cross_entropy_fifth_positional_is_ignore_index() -> None:
    x, y = dm.tensor(_X, dtype=dm.float32), dm.tensor([0, 1, 2])
    logp = _X - np.log(np.exp(_X).sum(1, keepdims=True))
    want = -(logp[0, 0] + logp[2, 2]) / 2  # row 1 (label 1) ignored
    assert F.cross_entropy(x, y, None, None, 1).item() == pytest.approx(want, rel=1e-6)
    assert F.nll_loss(dm.tensor(_X), y, None, None, 1).item() == pytest.approx(-0.75)


def test_kl_div_legacy_flags_keep_batchmean_division_as_torch() -> None:
    logp, t = dm.tensor(np.log(_P)), dm.tensor(_Q + 0.1)
    tt = _Q + 0.1
    elem = tt * (np.log(tt) - np.log(_P))
    with pytest.warns(UserWarning, match="reduction='none'"):
        got = F.kl_div(logp, t, None, False, "batchmean")
    np.testing.assert_allclose(got.numpy(), elem / 2)  # torch divides by the batch anyway
    with pytest.warns(UserWarning, match="reduction='sum'"):
        got = F.kl_div(logp, t, False, None, "batchmean")
    assert got.item() == pytest.approx(elem.sum() / 2)
    with pytest.warns(UserWarning, match="reduction='mean'"):
        assert F.kl_div(logp, t, True, None).item() == pytest.approx(elem.mean())


def test_losses_keep_this_packages_earlier_positional_order() -> None:
    """A reduction name where PyTorch has ``size_average`` cannot be a flag: it is read in
    the order these losses had before (``reduction`` right after the tensors/options)."""
    x, q = dm.tensor(_P), dm.tensor(_Q)
    tt = _Q + 0.1
    elem = tt * (np.log(tt) - np.log(_P))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert F.mse_loss(x, q, "sum").item() == pytest.approx(((_P - _Q) ** 2).sum())
        assert F.smooth_l1_loss(x, q, "none", 0.5).shape == (2, 3)
        assert F.binary_cross_entropy(x, q, None, "sum").item() == pytest.approx(
            F.binary_cross_entropy(x, q, reduction="sum").item()
        )
        kl = F.kl_div(dm.tensor(np.log(_P)), dm.tensor(tt), "batchmean", False)
        assert kl.item() == pytest.approx(elem.sum() / 2)
        ce = F.cross_entropy(x, dm.tensor([2, 0]), None, 2, "sum")  # ignore_index, reduction
        logp = _P - np.log(np.exp(_P).sum(1, keepdims=True))
        assert ce.item() == pytest.approx(-logp[1, 0])


def test_loss_signatures_are_torchs() -> None:
    import inspect

    def names(fn: Any) -> list[str]:
        return list(inspect.signature(fn).parameters)

    assert names(F.cross_entropy) == [
        "input",
        "target",
        "weight",
        "size_average",
        "ignore_index",
        "reduce",
        "reduction",
        "label_smoothing",
    ]
    assert names(F.nll_loss)[2:] == [
        "weight",
        "size_average",
        "ignore_index",
        "reduce",
        "reduction",
    ]
    assert names(F.mse_loss)[2:] == ["size_average", "reduce", "reduction", "weight"]
    assert names(F.kl_div)[2:] == ["size_average", "reduce", "reduction", "log_target"]
    assert names(F.binary_cross_entropy_with_logits)[2:] == [
        "weight",
        "size_average",
        "reduce",
        "reduction",
        "pos_weight",
    ]
    assert names(F.triplet_margin_loss)[3:] == [
        "margin",
        "p",
        "eps",
        "swap",
        "size_average",
        "reduce",
        "reduction",
    ]
