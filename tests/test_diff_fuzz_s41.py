"""Differences from PyTorch 2.15 found by the session-41 differential fuzz (optimizers,
schedulers, layers), each checked against values PyTorch computed for the same inputs."""

from __future__ import annotations

from typing import Any

import pytest

import democratising as dm
from democratising import nn


@pytest.mark.parametrize(
    ("cls", "kwargs", "expected"),
    [
        # (PyTorch 2.15's parameters after two steps from [1, 2] with gradient [1, -1], lr 0.1)
        ("SGD", dict(momentum=0.9, nesterov=1, maximize=0), [0.539, 2.461]),
        ("Adam", dict(amsgrad=1, maximize=1), [1.2, 1.8]),
        ("AdamW", dict(amsgrad=1), [0.798101, 2.195902]),
        ("Adagrad", dict(maximize=1), [1.170711, 1.829289]),
        ("RMSprop", dict(centered=1, maximize=0), [-0.721079, 3.721079]),
        ("Adam", dict(decoupled_weight_decay=1, weight_decay=0.1), [0.7811, 2.1592]),
    ],
)
def test_optimizer_flags_given_as_integers_count_as_bools(
    cls: str, kwargs: dict[str, Any], expected: list[float]
) -> None:
    # A flag read from argparse (type=int) or YAML arrives as 0/1: PyTorch takes its truth.
    p = dm.tensor([1.0, 2.0], requires_grad=True)
    opt = getattr(dm.optim, cls)([p], lr=0.1, **kwargs)
    for _ in range(2):
        p.grad = dm.tensor([1.0, -1.0])
        opt.step()
    assert p.tolist() == pytest.approx(expected, rel=1e-5)


def test_the_is_causal_hint_without_a_mask_is_refused_as_in_pytorch() -> None:
    x = dm.randn(5, 2, 4)
    mha = nn.MultiheadAttention(4, 2)
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        mha(x, x, x, is_causal=True)
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0)
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        layer(x, is_causal=True)
    encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        encoder(x, is_causal=True)
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    hinted = encoder(x, mask=mask, is_causal=True)
    assert dm.allclose(hinted, encoder(x, mask=mask), atol=1e-6)


def test_meshgrid_returns_a_tuple_and_broadcast_to_takes_sizes() -> None:
    grids = dm.meshgrid(dm.arange(2), dm.arange(3), indexing="ij")
    assert isinstance(grids, tuple) and grids[0].shape == (2, 3)
    assert dm.ones(4).broadcast_to(2, 4).shape == (2, 4)
    assert dm.broadcast_to(dm.ones(4), (3, 4)).shape == (3, 4)


def test_checkpoint_takes_debug_and_raises_its_own_error_class() -> None:
    from democratising.utils.checkpoint import CheckpointError, checkpoint

    x = dm.randn(3, requires_grad=True)
    y = checkpoint(lambda v: v.exp(), x, use_reentrant=False, debug=False)
    y.sum().backward()
    assert dm.allclose(x.grad, x.detach().exp())
    with pytest.raises(ValueError, match="debug"):
        checkpoint(lambda v: v.exp(), x, use_reentrant=True, debug=True)
    calls = [0]

    def changing(v: dm.Tensor) -> dm.Tensor:  # recomputes with another shape: not deterministic
        calls[0] += 1
        return (v[: 4 - calls[0]] if calls[0] > 1 else v).exp().sum()

    out = checkpoint(changing, dm.randn(3, requires_grad=True), use_reentrant=False)
    with pytest.raises(CheckpointError, match="metadata") as info:
        out.backward()
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, dm.AutogradError)


def test_set_checkpoint_early_stop_overrides_each_checkpoints_own_setting() -> None:
    from democratising.utils.checkpoint import checkpoint, set_checkpoint_early_stop

    ran: list[str] = []

    def segment(v: dm.Tensor) -> dm.Tensor:
        a = v.exp()  # (saved for backward)
        ran.append("exp")
        b = (a * 2).sum()  # (nothing of this step is needed once `a` is back)
        ran.append("tail")
        return b

    for enable, tails in ((True, 1), (False, 2)):
        ran.clear()
        x = dm.randn(3, requires_grad=True)
        with set_checkpoint_early_stop(enable):
            out = checkpoint(segment, x, use_reentrant=False, early_stop=not enable)
        out.backward()
        assert dm.allclose(x.grad, 2 * x.detach().exp())
        # The forward runs the whole segment; an early-stopped recomputation ends after `exp`.
        assert ran.count("tail") == tails, (enable, ran)
