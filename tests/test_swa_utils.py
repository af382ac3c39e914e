"""``dm.optim.swa_utils`` (``AveragedModel``, the averaging functions, ``SWALR``, ``update_bn``)
against hand-computed NumPy averages and learning-rate formulas, and
``dm.utils.data.StackDataset``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from democratising.utils.data import DataLoader, StackDataset, TensorDataset

import democratising as dm
from democratising.optim import swa_utils
from democratising.optim.swa_utils import SWALR, AveragedModel, update_bn
from helpers import assert_close, to_numpy


def _model() -> dm.nn.Module:
    dm.manual_seed(0)
    return dm.nn.Sequential(dm.nn.Linear(3, 2), dm.nn.BatchNorm1d(2))


def _perturb(model: dm.nn.Module, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with dm.no_grad():
        for p in model.parameters():
            p.copy_(p + dm.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32)))


def _params(model: dm.nn.Module) -> list[np.ndarray]:
    return [to_numpy(p).astype(np.float64) for p in model.parameters()]


def test_averaged_model_state_dict_keys_and_repr() -> None:
    m = _model()
    avg = AveragedModel(m)
    keys = list(avg.state_dict().keys())
    assert keys[0] == "n_averaged"
    assert keys[1:] == ["module." + k for k in m.state_dict().keys()]
    assert avg.n_averaged.dtype == dm.int64 and int(avg.n_averaged.item()) == 0
    assert repr(avg).startswith("AveragedModel(\n  (module): Sequential(")
    # the averaged copy is independent of the model
    _perturb(m, 1)
    assert not np.allclose(_params(avg.module)[0], _params(m)[0])


def test_swa_running_mean_and_buffers_copied() -> None:
    m = _model()
    avg = AveragedModel(m)
    history = []
    for k in range(4):
        _perturb(m, k)
        m.train()
        m(dm.randn(5, 3))
        history.append(_params(m))
        avg.update_parameters(m)
    assert int(avg.n_averaged.item()) == 4
    for got, *steps in zip(_params(avg.module), *history):
        np.testing.assert_allclose(got, np.mean(steps, axis=0), rtol=1e-5, atol=1e-6)
    bn, bn_avg = m[1], avg.module[1]
    assert_close(bn_avg.running_mean, to_numpy(bn.running_mean))
    assert int(bn_avg.num_batches_tracked.item()) == int(bn.num_batches_tracked.item())
    x = dm.randn(4, 3)
    avg.eval()
    assert_close(avg(x), to_numpy(avg.module(x)))


@pytest.mark.parametrize("kind", ["multi", "single"])
def test_ema_average(kind: str) -> None:
    decay = 0.8
    m = _model()
    fn = (
        {"multi_avg_fn": swa_utils.get_ema_multi_avg_fn(decay)}
        if kind == "multi"
        else {"avg_fn": swa_utils.get_ema_avg_fn(decay)}
    )
    avg = AveragedModel(m, **fn)
    ema = None
    for k in range(3):
        _perturb(m, 10 + k)
        avg.update_parameters(m)
        cur = _params(m)
        ema = cur if ema is None else [decay * e + (1 - decay) * c for e, c in zip(ema, cur)]
    assert ema is not None
    for got, exp in zip(_params(avg.module), ema):
        np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-6)


def test_use_buffers_averages_buffers() -> None:
    m = _model()
    avg = AveragedModel(m, use_buffers=True)
    means = []
    for k in range(3):
        m.train()
        m(dm.tensor(np.random.default_rng(k).standard_normal((6, 3)).astype(np.float32)))
        means.append(to_numpy(m[1].running_mean).astype(np.float64))
        avg.update_parameters(m)
    assert_close(avg.module[1].running_mean, np.mean(means, axis=0), rtol=1e-5)


def test_avg_fn_errors() -> None:
    with pytest.raises(ValueError, match="Invalid decay value"):
        swa_utils.get_ema_avg_fn(1.5)
    with pytest.raises(ValueError, match="Invalid decay value"):
        swa_utils.get_ema_multi_avg_fn(-0.1)
    with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
        AveragedModel(
            _model(),
            avg_fn=swa_utils.get_swa_avg_fn(),
            multi_avg_fn=swa_utils.get_swa_multi_avg_fn(),
        )


def test_swa_avg_fn_formula() -> None:
    a, c = dm.tensor([1.0, 2.0]), dm.tensor([4.0, 8.0])
    assert_close(swa_utils.get_swa_avg_fn()(a, c, 2), np.array([2.0, 4.0]))
    assert_close(swa_utils.get_ema_avg_fn(0.5)(a, c, 2), np.array([2.5, 5.0]))


def _swalr_reference(lr0: float, swa: float, epochs: int, strat: str, steps: int) -> list[float]:
    """PyTorch's recursive SWALR rule, written out with plain floats."""
    f = (lambda t: (1 - math.cos(math.pi * t)) / 2) if strat == "cos" else (lambda t: t)
    lrs, lr = [], lr0
    for step_count in range(1, steps + 1):
        step = step_count - 1
        if epochs == 0:
            step = max(1, step)
        pa = f(max(0, min(1, (step - 1) / max(1, epochs))))
        prev = swa if pa == 1 else (lr - pa * swa) / (1 - pa)
        a = f(max(0, min(1, step / max(1, epochs))))
        lr = swa * a + prev * (1 - a)
        lrs.append(lr)
    return lrs


@pytest.mark.parametrize("strat,epochs", [("cos", 3), ("linear", 4), ("cos", 0)])
def test_swalr_schedule(strat: str, epochs: int) -> None:
    p = dm.nn.Parameter(dm.zeros(1))
    opt = dm.optim.SGD([p], lr=0.5)
    sched = SWALR(opt, swa_lr=0.05, anneal_epochs=epochs, anneal_strategy=strat)
    got = []
    for _ in range(7):
        got.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    np.testing.assert_allclose(got, _swalr_reference(0.5, 0.05, epochs, strat, 7), rtol=1e-12)
    assert got[-1] == pytest.approx(0.05)
    assert opt.param_groups[0]["swa_lr"] == 0.05
    sd = sched.state_dict()
    assert "anneal_func" not in sd and "optimizer" not in sd
    assert sd["_anneal_strategy"] == strat
    other = SWALR(dm.optim.SGD([p], lr=0.5), swa_lr=0.01, anneal_strategy="linear")
    other.load_state_dict(sd)
    assert other.anneal_func(0.5) == sched.anneal_func(0.5)


def test_swalr_errors() -> None:
    opt = dm.optim.SGD([dm.nn.Parameter(dm.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy must be one of"):
        SWALR(opt, 0.05, anneal_strategy="exp")
    with pytest.raises(ValueError, match="anneal_epochs must be equal or greater than 0"):
        SWALR(opt, 0.05, anneal_epochs=-1)
    with pytest.raises(ValueError, match="same length"):
        SWALR(opt, [0.05, 0.01])


def test_update_bn_recomputes_statistics() -> None:
    m = _model()
    m.eval()
    rng = np.random.default_rng(3)
    batches = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(3)]
    update_bn([(dm.tensor(b), 0) for b in batches], m)
    with dm.no_grad():
        feats = np.concatenate([to_numpy(m[0](dm.tensor(b))) for b in batches])
    # momentum=None: the running mean is the cumulative average of the batch means
    per_batch = [feats[4 * k : 4 * k + 4].mean(0) for k in range(3)]
    assert_close(m[1].running_mean, np.mean(per_batch, axis=0), rtol=1e-5, atol=1e-6)
    assert m[1].momentum == 0.1 and not m.training
    plain = dm.nn.Linear(2, 2)
    update_bn([dm.ones(1, 2)], plain)  # no BatchNorm: nothing happens


# ---- StackDataset ------------------------------------------------------------------------------


def test_stack_dataset_tuple_and_dict() -> None:
    xs = TensorDataset(dm.arange(6.0).reshape(3, 2))
    labels = ["a", "b", "c"]
    ds = StackDataset(xs, labels)
    assert len(ds) == 3
    (x1,), l1 = ds[1]
    assert_close(x1, np.array([2.0, 3.0])) and l1 == "b"
    assert [s[1] for s in ds.__getitems__([2, 0])] == ["c", "a"]
    dd = StackDataset(x=xs, y=dm.arange(3))
    assert set(dd[2]) == {"x", "y"} and int(dd[2]["y"].item()) == 2
    batch = next(iter(DataLoader(dd, batch_size=2)))
    assert_close(batch["y"], np.array([0, 1]))
    assert_close(batch["x"][0], np.arange(4.0).reshape(2, 2))
    assert dm.utils.data.StackDataset is dm.data.StackDataset


def test_stack_dataset_errors() -> None:
    with pytest.raises(ValueError, match="Size mismatch"):
        StackDataset([1, 2], [1])
    with pytest.raises(ValueError, match="At least one dataset"):
        StackDataset()
    with pytest.raises(ValueError, match="both types are given"):
        StackDataset([1], y=[2])
