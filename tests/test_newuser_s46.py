"""What a new user following the guide and API.md ran into: a checkpoint whose scaler state
would skip every step, ``find_batch_size`` moving BatchNorm statistics, ``forward_amp``
inside an autocast block, ``DataLoader``'s positional order from API.md, and the error types
PyTorch code catches (index dtypes, out of memory), ``linspace`` into an integer dtype."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.amp import GradScaler
from democratising.checkpoint import Checkpoint, load_checkpoint
from democratising.data import DataLoader
from democratising.errors import CheckpointError
from democratising.train import find_batch_size

_GOOD = {
    "scale": 1024.0,
    "growth_factor": 2.0,
    "backoff_factor": 0.5,
    "growth_interval": 2000,
    "_growth_tracker": 0,
}


@pytest.mark.parametrize(
    "bad",
    [
        {"scale": float("nan")},
        {"scale": 0.0},
        {"scale": -1.0},
        {"growth_interval": 0},
        {"growth_factor": 0.5},
        {"backoff_factor": 3.0},
    ],
)
def test_a_scaler_state_that_would_skip_every_step_loads_nothing(
    tmp_path: Path, bad: dict[str, float]
) -> None:
    path = tmp_path / "bad.ckpt"
    Checkpoint(
        model_state=nn.Linear(2, 1).state_dict(), scaler_state={**_GOOD, **bad}, epoch=1
    ).save(path)
    model, scaler = nn.Linear(2, 1), GradScaler()
    before = model.weight.detach().clone()
    with pytest.raises(CheckpointError):
        load_checkpoint(path, model=model, scaler=scaler)
    assert scaler.get_scale() == 2.0**16 and dm.equal(model.weight.detach(), before)
    with pytest.raises(ValueError):
        GradScaler().load_state_dict({**_GOOD, **bad})
    good = GradScaler()
    good.load_state_dict(_GOOD)
    assert good.get_scale() == 1024.0


def test_find_batch_size_without_an_optimizer_leaves_batchnorm_alone() -> None:
    dm.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = dm.randn(10, 8) * 3 + 5, dm.randint(0, 3, (10,))
    find_batch_size(model, (x, y), nn.CrossEntropyLoss(), start=4, max_batch_size=16)
    for k, v in model.state_dict().items():
        assert dm.equal(v, before[k]), k


def test_forward_amp_follows_an_enclosing_autocast() -> None:
    layer, x = nn.Linear(4, 3), dm.randn(2, 4)
    assert layer.forward_amp(x).dtype == dm.float16
    with dm.amp.autocast(dtype=dm.bfloat16):
        assert layer.forward_amp(x).dtype == dm.bfloat16
    assert layer.forward_amp(x, dtype=dm.bfloat16).dtype == dm.bfloat16


def test_dataloader_takes_api_md_positional_order() -> None:
    ds = list(range(10))
    loader = DataLoader(ds, 4, False, True)  # (dataset, batch_size, shuffle, drop_last)
    assert loader.drop_last and [b.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    seeded = DataLoader(ds, 4, True, False, 2, 7)  # ..., num_workers, seed
    assert (seeded.num_workers, seeded.seed) == (2, 7)
    again = DataLoader(ds, 4, True, False, 2, 7)
    assert [b.tolist() for b in seeded] == [b.tolist() for b in again]
    assert DataLoader(ds, 4, True, False).seed is None
    # PyTorch's order still holds: the fourth place is the sampler.
    torch_order = DataLoader(ds, 5, False, None, None, 0)
    assert [b.tolist() for b in torch_order] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]


def test_index_errors_are_the_types_pytorch_raises() -> None:
    x = dm.arange(4.0)
    with pytest.raises(IndexError):
        x[dm.tensor([1.0])]
    with pytest.raises(IndexError):
        x[1.5]
    with pytest.raises(TypeError):
        x["a"]
    with pytest.raises(IndexError):
        x[dm.tensor([0, 2], dtype=dm.int16)]
    # A NumPy array of small ints is a sequence of indices, as PyTorch reads it.
    assert x[np.array([0, 2], dtype=np.int16)].tolist() == [0.0, 2.0]


def test_out_of_memory_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError):
        dm.empty(2**50)
    with pytest.raises(MemoryError):
        dm.empty(2**50)


def test_linspace_into_an_integer_dtype_takes_integer_ends() -> None:
    assert dm.linspace(1.764, 0.4, 3, dtype=dm.int64).tolist() == [1, 0, 0]
    assert dm.linspace(0.43, 11.13, 8, dtype=dm.int64).tolist() == [0, 1, 3, 4, 6, 7, 9, 11]
    assert dm.linspace(0, 10, 5, dtype=dm.int32).tolist() == [0, 2, 5, 7, 10]


def test_forward_ad_tangent_carries_gradient_back_to_its_primal() -> None:
    fa = dm.autograd.forward_ad
    x = dm.tensor([0.5, 1.0, 2.0], dtype=dm.float64, requires_grad=True)
    with fa.dual_level():
        d = fa.make_dual(x, dm.ones(3, dtype=dm.float64))
        t = fa.unpack_dual(d.sin()).tangent  # cos(x)
        assert t.requires_grad
        t.sum().backward()  # reverse over forward: d/dx cos(x) = -sin(x)
    np.testing.assert_allclose(x.grad.numpy(), -np.sin([0.5, 1.0, 2.0]), rtol=1e-12)
    with fa.dual_level():  # a primal that does not require grad: a plain tangent
        d = fa.make_dual(x.detach(), dm.ones(3, dtype=dm.float64))
        assert not fa.unpack_dual(d.sin()).tangent.requires_grad


def test_adaptive_max_pool_gradient_goes_where_its_indices_say() -> None:
    x = dm.tensor([[[[float("nan"), float("nan"), -1.0, 5.0, 0.0]]]], requires_grad=True)
    out, idx = dm.nn.functional.adaptive_max_pool2d(x, (1, 2), return_indices=True)
    out.sum().backward()
    assert idx.flatten().tolist() == [1, 3]  # PyTorch's: the last NaN of the first window
    assert x.grad.flatten().tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]
    rng = np.random.default_rng(0)
    y = dm.tensor(rng.standard_normal((2, 3, 7, 5)), requires_grad=True)
    out, idx = dm.nn.functional.adaptive_max_pool2d(y, (3, 2), return_indices=True)
    out.sum().backward()
    expected = np.zeros(2 * 3 * 35)
    flat = (idx.numpy() + 35 * np.arange(6).reshape(2, 3, 1, 1)).ravel()
    np.add.at(expected, flat, 1.0)
    np.testing.assert_array_equal(y.grad.numpy().ravel(), expected)


def test_anomaly_error_shows_where_the_failing_op_was_called() -> None:
    x = dm.tensor([0.0], dtype=dm.float64, requires_grad=True)
    with dm.autograd.detect_anomaly():
        y = x.sqrt()  # the line the traceback must name
        with pytest.raises(RuntimeError, match="returned nan values") as info:
            (y * 0).sum().backward()
    message = str(info.value)
    assert "Traceback of forward call that caused the error" in message
    assert "y = x.sqrt()" in message and "test_newuser_s46.py" in message
    # Outside anomaly mode nothing is recorded and backward checks nothing.
    w = x.sqrt()
    (w * 0).sum().backward()


def test_api_positional_order_leaves_a_keyword_num_workers_alone() -> None:
    loader = DataLoader(list(range(10)), 2, True, False, num_workers=2)
    assert (loader.num_workers, loader.seed, loader.drop_last) == (2, None, False)


_POOL_SCRIPT = """
import democratising as dm
dm.ones(2).exp()  # the engine's thread pool is running
dm.set_num_threads(3)  # work now goes to a pool of its own, on other threads
with dm.inference_mode():
    b = dm.tensor([1.0, 2.0, 3.0])
    b[0] = 5.0
    assert (b * 2).is_inference() and dm.zeros(4).is_inference()
x = dm.ones(10, requires_grad=True)
with dm.autograd.detect_anomaly():
    y = x.exp()  # small: recorded on a pool thread while this thread holds the GIL
    y.sum().backward()
print("pool ok")
"""


def test_modes_reach_the_engine_pool_and_anomaly_mode_does_not_hang() -> None:
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-c", _POOL_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0 and "pool ok" in r.stdout, r.stderr[-2000:]
