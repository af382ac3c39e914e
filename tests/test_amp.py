"""Mixed precision: autocast dtypes per op, GradScaler dynamics, half-precision training."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import _ranks, nn
from democratising.amp import GradScaler, autocast
from democratising.optim import SGD, Adam
from helpers import FakeWorld


@pytest.mark.parametrize("low", [dm.float16, dm.bfloat16])
def test_autocast_output_dtypes_per_op(low: dm.dtype) -> None:
    x = dm.randn(4, 8)
    lin = nn.Dense(8, 3)
    conv = nn.Conv2d(1, 2, 3)
    with autocast(dtype=low):
        y = lin(x)
        assert y.dtype == low
        assert (x @ x.T).dtype == low
        assert conv(dm.randn(1, 1, 5, 5)).dtype == low
        assert y.softmax(-1).dtype == dm.float32
        assert y.log_softmax(-1).dtype == dm.float32
        assert y.sum().dtype == dm.float32 and y.mean().dtype == dm.float32
        loss = nn.CrossEntropyLoss()(y, dm.tensor([0, 1, 2, 0]))
        assert loss.dtype == dm.float32
        assert nn.LayerNorm(3)(y).dtype == dm.float32
    assert (x @ x.T).dtype == dm.float32  # off again outside the block
    loss.backward()
    assert lin.weight.grad.dtype == dm.float32  # master weights keep float32 gradients


def test_autocast_is_restored_and_usable_as_decorator() -> None:
    @autocast(dtype=dm.bfloat16)
    def f(a: dm.Tensor) -> dm.Tensor:
        return a @ a

    assert f(dm.eye(2)).dtype == dm.bfloat16
    assert not dm.amp.is_autocast_enabled()
    with autocast(enabled=False):
        assert (dm.eye(2) @ dm.eye(2)).dtype == dm.float32


def test_grad_scaler_scale_sequence_and_skipped_steps() -> None:
    p = dm.tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([p], lr=0.1)
    scaler = GradScaler(init_scale=8.0, growth_factor=2.0, backoff_factor=0.5, growth_interval=2)
    scales = []
    for step in range(6):
        opt.zero_grad()
        loss = (p * p).sum()
        scaler.scale(loss).backward()
        if step == 2:
            p.grad = dm.tensor([float("inf"), 1.0])  # injected overflow
        if step == 4:
            p.grad = dm.tensor([float("nan"), 1.0])
        before = p.detach().numpy().copy()
        scaler.step(opt)
        after = p.detach().numpy()
        if step in (2, 4):
            np.testing.assert_array_equal(before, after)  # skipped
        else:
            assert not np.array_equal(before, after)
        scaler.update()
        scales.append(scaler.get_scale())
    assert scales == [8.0, 16.0, 8.0, 8.0, 4.0, 4.0]
    sd = scaler.state_dict()
    assert sd["scale"] == 4.0 and sd["_growth_tracker"] == 1
    other = GradScaler()
    other.load_state_dict(sd)
    assert other.get_scale() == 4.0


def test_unscale_then_clip_and_step_matches_unscaled_training() -> None:
    def run(use_scaler: bool) -> np.ndarray:
        dm.manual_seed(0)
        model = nn.Dense(4, 2)
        opt = Adam(model.parameters(), 0.01)
        scaler = GradScaler(init_scale=1024.0, enabled=use_scaler)
        x, y = dm.randn(8, 4), dm.randn(8, 2)
        for _ in range(3):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            scaler.step(opt)
            scaler.update()
        return model.weight.detach().numpy()

    np.testing.assert_allclose(run(True), run(False), rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError):
        p = dm.ones(1, requires_grad=True)
        p.grad = dm.ones(1)
        o = SGD([p], lr=0.1)
        s = GradScaler()
        s.unscale_(o)
        s.unscale_(o)


def test_seed_chained_setters() -> None:
    s = GradScaler().init_scale(2.0**10).growth_factor(3.0).backoff_factor(0.25).growth_interval(5)
    assert s.get_scale() == 1024.0 and s.get_growth_factor() == 3.0
    assert s.get_backoff_factor() == 0.25 and s.get_growth_interval() == 5


def test_fp16_adam_with_zero_gradients_stays_finite() -> None:
    model = nn.Dense(4, 4)
    opt = Adam(model.parameters(), 1e-3)
    scaler = GradScaler()
    for _ in range(50):
        opt.zero_grad()
        with autocast(dtype=dm.float16):
            loss = model(dm.zeros(2, 4)).sum() * 0.0
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    assert np.isfinite(model.weight.detach().numpy()).all()


@pytest.mark.parametrize("low", [dm.float16, dm.bfloat16])
def test_half_precision_training_converges_like_float32(low: dm.dtype) -> None:
    pytest.importorskip("sklearn")
    x, y = dm.datasets.digits()
    order = dm.tensor(np.random.default_rng(0).permutation(1797))
    x, y = x[order], y[order]

    def train(amp: bool) -> float:
        dm.manual_seed(0)
        model = nn.Sequential(nn.Dense(64, 128), nn.ReLU(), nn.Dense(128, 10))
        opt = Adam(model.parameters(), 1e-3)
        scaler = GradScaler(enabled=amp)
        loss_fn = nn.CrossEntropyLoss()
        for _ in range(12):
            for s in range(0, 1400, 32):
                xb, yb = x[s : s + 32], y[s : s + 32]
                opt.zero_grad()
                with autocast(dtype=low, enabled=amp):
                    loss = loss_fn(model(xb), yb)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
        with dm.no_grad():
            return (model(x[1400:]).argmax(1) == y[1400:]).float().mean().item()

    full, half = train(False), train(True)
    assert half >= full - 0.01, (full, half)


def test_seed_forward_amp_flow() -> None:
    model = nn.Sequential(nn.Dense(6, 4), nn.ReLU(), nn.Dense(4, 3))
    opt = Adam(model.parameters(), 1e-3)
    scaler = GradScaler().init_scale(2.0**16).growth_factor(2.0)
    loss_fn = nn.CrossEntropyLoss()
    out = model.forward_amp(dm.randn(5, 6))
    assert out.dtype == dm.float16
    loss = loss_fn.forward_amp(out, dm.tensor([0, 1, 2, 0, 1]))
    assert loss.dtype == dm.float32
    model.zero_grad()
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    assert all(p.grad.dtype == dm.float32 for p in model.parameters())


class _RecordingSGD(dm.optim.Optimizer):
    """A custom optimizer: plain SGD that records the ``_grad_scale`` each step saw."""

    def __init__(self, params: list[dm.Tensor], fused: bool) -> None:
        super().__init__(params, {"lr": 0.5})
        self._step_supports_amp_scaling = fused
        self.seen: list[float] = []

    def _update(self, group: dict[str, object]) -> None:
        self.seen.append(self._grad_scale)
        for p in group["params"]:  # type: ignore[attr-defined]
            p.sub_(p.grad * self._grad_scale, alpha=0.5)


@pytest.mark.parametrize("fused", [True, False])
def test_grad_scaler_asks_the_optimizer_whether_its_step_unscales(fused: bool) -> None:
    p = dm.tensor([1.0, -2.0], requires_grad=True)
    opt = _RecordingSGD([p], fused)
    scaler = GradScaler(init_scale=4.0)
    scaler.scale((p * p).sum()).backward()
    scaler.step(opt)
    # Fused: the scaler left the gradient scaled and handed 1/scale to the step; otherwise it
    # unscaled the gradient itself and the step saw 1.0. Either way the update is the same.
    assert opt.seen == ([0.25] if fused else [1.0])
    np.testing.assert_allclose(p.grad.numpy(), [8.0, -16.0] if fused else [2.0, -4.0])
    np.testing.assert_allclose(p.detach().numpy(), [0.0, 0.0])
    assert opt._grad_scale == 1.0  # restored after the step
    scaler.update()


def test_builtin_optimizers_declare_their_amp_capability() -> None:
    p = [dm.zeros(2, requires_grad=True)]
    assert SGD(p, 0.1)._step_supports_amp_scaling and Adam(p)._step_supports_amp_scaling
    assert dm.optim.AdamW(p)._step_supports_amp_scaling
    assert dm.optim.Optimizer._step_supports_amp_scaling is False


@pytest.mark.parametrize("others_found_inf", [False, True])
def test_grad_scaler_skips_when_any_rank_found_inf(
    others_found_inf: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The registered world (World.init() registers the real one) ORs the flag over ranks.
    world = FakeWorld(2, 0, others_found_inf=others_found_inf)
    monkeypatch.setattr(_ranks, "_group", world)
    for opt_cls in (SGD, _RecordingSGD):
        p = dm.tensor([1.0, 2.0], requires_grad=True)
        opt = SGD([p], lr=0.1) if opt_cls is SGD else _RecordingSGD([p], fused=False)
        scaler = GradScaler(init_scale=4.0)
        scaler.scale((p * p).sum()).backward()
        scaler.step(opt)  # fused (SGD) and unscale_-then-step (_RecordingSGD) paths
        scaler.update()
        moved = not np.array_equal(p.detach().numpy(), [1.0, 2.0])
        assert moved is not others_found_inf
        assert scaler.get_scale() == (2.0 if others_found_inf else 4.0)
    assert world.any_rank_calls == 2


@pytest.mark.parametrize(
    "loss",
    [
        lambda h, t: F.binary_cross_entropy_with_logits(h, t),
        lambda h, t: F.poisson_nll_loss(h, t) * 0.0 + F.binary_cross_entropy_with_logits(h, t),
        lambda h, t: (
            F.cosine_embedding_loss(h.reshape(2, 4) + 1, t.reshape(2, 4), dm.ones(2)) * 0.0
            + F.binary_cross_entropy_with_logits(h, t)
        ),
    ],
    ids=["bce_with_logits", "poisson_nll", "cosine_embedding"],
)
def test_losses_run_in_float32_under_autocast_so_a_scaled_gradient_fits(loss) -> None:
    # PyTorch's float32 list: the loss's own gradient is computed in float32 and only then
    # cast to the float16 input (-0.5 / 8 * 2**19 = -32768 fits; in float16 inside, -inf).
    h = dm.zeros(8, 1, dtype=dm.float16, requires_grad=True)
    with dm.autocast("cpu", dtype=dm.float16):
        out = loss(h, dm.ones(8, 1))
    assert out.dtype == dm.float32
    (out * 2.0**19).backward()
    assert h.grad is not None and h.grad.dtype == dm.float16
    assert h.grad.float().tolist() == [[-32768.0]] * 8
