"""Session 31's differential review against PyTorch: an in-place change under atan2's
backward, GradScaler.step without gradients, second backwards through nodes that keep no
activation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import democratising as dm


@pytest.mark.parametrize("which", [0, 1])
def test_atan2_input_changed_in_place_raises_instead_of_a_wrong_gradient(which: int) -> None:
    x = dm.tensor([0.5, 1.0, 2.0], requires_grad=True)
    h = x * 1
    args = [h, dm.ones(3)] if which == 0 else [dm.ones(3), h]
    y = dm.atan2(*args)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_atan2_gradient_unchanged_without_in_place_writes() -> None:
    x = dm.tensor([0.5, 1.0, 2.0], requires_grad=True)
    o = dm.tensor([1.0, -2.0, 0.5], requires_grad=True)
    dm.atan2(x, o).sum().backward()
    xv, ov = np.array([0.5, 1.0, 2.0]), np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(x.grad.numpy(), ov / (xv**2 + ov**2), rtol=1e-6)
    np.testing.assert_allclose(o.grad.numpy(), -xv / (xv**2 + ov**2), rtol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
@pytest.mark.parametrize("unscale_first", [False, True])
def test_grad_scaler_step_without_any_gradient_raises(optimizer: str, unscale_first: bool) -> None:
    # PyTorch: "No inf checks were recorded for this optimizer." (a forgotten backward)
    w = dm.tensor([1.0], requires_grad=True)
    opt = dm.optim.SGD([w], lr=0.1) if optimizer == "sgd" else dm.optim.RMSprop([w], lr=0.1)
    scaler = dm.amp.GradScaler()
    scaler.scale(dm.tensor(1.0))
    if unscale_first:
        scaler.unscale_(opt)
    with pytest.raises(ValueError, match="No inf checks were recorded"):
        scaler.step(opt)
    assert w.tolist() == [1.0]


def test_grad_scaler_step_with_gradients_still_steps() -> None:
    w = dm.tensor([1.0], requires_grad=True)
    opt = dm.optim.SGD([w], lr=0.1)
    scaler = dm.amp.GradScaler(init_scale=4.0)
    scaler.scale((w * 2).sum()).backward()
    scaler.step(opt)
    scaler.update()
    assert w.tolist() == pytest.approx([0.8])


@pytest.mark.parametrize("shape", [(1_000_000,), (100_000, 4)])
@pytest.mark.parametrize("reverse", [False, True])
def test_float32_cumsum_runs_in_float64_as_pytorch_cpu(
    shape: tuple[int, ...], reverse: bool
) -> None:
    # A float32 running sum drifted by ~1% over a million elements (and a 50k-way softmax's
    # cumsum ended above 1, which breaks top-p sampling).
    x = dm.full(shape, 0.1)
    out = (x.flip(0).cumsum(0).flip(0) if reverse else x.cumsum(0)).numpy()
    want = np.cumsum(np.full(shape, np.float32(0.1), dtype=np.float64), axis=0)
    if reverse:
        want = np.flip(np.cumsum(np.flip(want[:1].repeat(shape[0], 0), 0), axis=0), 0)
    np.testing.assert_allclose(out, want.astype(np.float32), rtol=1e-6)
    p = dm.randn(50257).softmax(0)
    assert p.cumsum(0)[-1].item() <= 1.0 + 1e-6


def test_float32_cumsum_backward_also_runs_in_float64() -> None:
    x = dm.full((200_000,), 1.0, requires_grad=True)
    (x.cumsum(0) * 0.1).sum().backward()
    # d/dx_i = 0.1 * (n - i): the reverse running sum of the gradient.
    np.testing.assert_allclose(x.grad.numpy()[:3], [20000.0, 19999.9, 19999.8], rtol=1e-6)


# ---- PyTorch programs that failed after swapping the imports -----------------------------


def test_pytorch_per_file_distribution_paths_import() -> None:
    from democratising.distributions.categorical import Categorical
    from democratising.distributions.multivariate_normal import MultivariateNormal
    from democratising.distributions.normal import Normal

    from democratising.distributions.utils import broadcast_all, probs_to_logits

    assert Normal is dm.distributions.Normal and Categorical is dm.distributions.Categorical
    assert MultivariateNormal is dm.distributions.MultivariateNormal
    loc, scale = broadcast_all(dm.zeros(3, dtype=dm.float64), 2.0)
    assert scale.dtype == dm.float64 and scale.tolist() == [2.0, 2.0, 2.0]
    np.testing.assert_allclose(
        probs_to_logits(dm.tensor([0.25, 0.75]), is_binary=True).numpy(),
        [-np.log(3), np.log(3)],
        rtol=1e-6,
    )
    assert Normal(loc, scale).log_prob(dm.zeros(3)).shape == (3,)


def test_tensor_has_the_array_protocol_scikit_learn_checks() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y, pred = dm.tensor([0, 1, 1, 0]), dm.tensor([0, 1, 0, 0])
    assert sklearn_metrics.accuracy_score(y, pred) == 0.75
    assert sklearn_metrics.confusion_matrix(y, pred).tolist() == [[2, 0], [1, 1]]
    t = dm.ones(3)
    view = t.__array__()
    view[0] = 5.0  # shares memory, as numpy() does
    assert t.tolist() == [5.0, 1.0, 1.0]
    assert t.__array__(np.float64).dtype == np.float64
    assert t.__array__(copy=True) is not view


def test_save_keeps_unsigned_and_small_int_numpy_values() -> None:
    import io

    state = np.random.get_state()
    values = {
        "rng": state,
        "img": np.arange(6, dtype=np.uint8).reshape(2, 3),
        "i8": np.array([-3, 4], np.int8),
        "u64": np.array([2**63 + 5], np.uint64),
    }
    buf = io.BytesIO()
    dm.save(values, buf)
    buf.seek(0)
    back = dm.load(buf)
    assert back["rng"][0] == state[0] and back["rng"][1].dtype == np.uint32
    np.testing.assert_array_equal(back["rng"][1], state[1])
    for k in ("img", "i8", "u64"):
        assert back[k].dtype == values[k].dtype
        np.testing.assert_array_equal(back[k], values[k])
    np.random.set_state(back["rng"])


def test_optimizer_required_sentinel_for_custom_optimizers() -> None:
    from democratising.optim.optimizer import Optimizer, required

    class PlainSGD(Optimizer):
        def __init__(self, params: object, lr: object = required) -> None:
            super().__init__(params, {"lr": lr})

        @dm.no_grad()
        def step(self, closure: object = None) -> None:
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(p.grad, alpha=-group["lr"])

    w = dm.ones(2, requires_grad=True)
    opt = PlainSGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    assert w.tolist() == pytest.approx([0.8, 0.8])
    assert repr(required) == "<required parameter>"
    with pytest.raises(ValueError, match="required optimization parameter lr"):
        PlainSGD([dm.ones(1, requires_grad=True)])


def test_private_base_classes_at_pytorchs_module_paths() -> None:
    from democratising.nn.modules.batchnorm import _NormBase
    from democratising.nn.modules.conv import _ConvNd, _ConvTransposeNd
    from democratising.nn.modules.dropout import _DropoutNd
    from democratising.nn.modules.pooling import _MaxPoolNd
    from democratising.nn.modules.transformer import _get_clones

    nn = dm.nn
    assert issubclass(nn.Conv2d, _ConvNd) and issubclass(nn.ConvTranspose2d, _ConvTransposeNd)
    assert issubclass(nn.BatchNorm1d, _NormBase) and issubclass(nn.Dropout, _DropoutNd)
    assert issubclass(nn.MaxPool2d, _MaxPoolNd)
    clones = _get_clones(nn.Linear(2, 2), 3)
    assert len(clones) == 3 and clones[0].weight is not clones[1].weight


def test_cuda_rng_state_all_and_cuda_random_module() -> None:
    from democratising.cuda.random import get_rng_state_all, set_rng_state_all

    states = get_rng_state_all()
    assert len(states) == dm.cuda.device_count()
    set_rng_state_all(states)  # [] without a GPU: changes nothing
    saved = dm.get_rng_state()
    first = dm.rand(3)
    set_rng_state_all([saved])
    assert dm.rand(3).tolist() == first.tolist()


def test_sdpa_kernel_context_checks_its_backends() -> None:
    from democratising.nn._sdpa_backends import allowed_backends
    from democratising.nn.attention import SDPBackend, sdpa_kernel

    q = dm.randn(1, 2, 4, 8)
    plain = dm.nn.functional.scaled_dot_product_attention(q, q, q)
    with sdpa_kernel(SDPBackend.MATH):
        assert allowed_backends() == (SDPBackend.MATH,)
        pinned = dm.nn.functional.scaled_dot_product_attention(q, q, q)
    assert len(allowed_backends()) == 5
    assert pinned.tolist() == plain.tolist()
    with pytest.raises(TypeError, match="SDPBackend"):
        with sdpa_kernel("math"):  # type: ignore[arg-type]
            pass


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "float16"])
def test_argmax_in_the_tensors_own_dtype_keeps_ties_and_nans(dtype: str) -> None:
    # (argmax/argmin compare float32 and half types as float32 now, not a float64 copy)
    rows = np.array([[1.0, 3.0, 3.0, 0.5], [2.0, np.nan, 5.0, np.nan], [-1.0, -1.0, -2.0, -2.0]])
    x = dm.tensor(rows).to(getattr(dm, dtype))
    assert x.argmax(1).tolist() == [1, 1, 0]
    assert x.argmin(1).tolist() == [3, 1, 2]
    assert x.t().argmax(0).tolist() == [1, 1, 0]  # a transposed view
    assert x.max(1).indices.tolist() == [1, 1, 0]


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_mean_over_leading_dims_reads_in_place(dtype: str) -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(64, 3, 40))
    x = dm.tensor(a).to(getattr(dm, dtype))
    ref = x.to(dm.float64).numpy()
    tol = 1e-2 if dtype == "bfloat16" else 1e-6
    np.testing.assert_allclose(x.mean(0).float().numpy(), ref.mean(0), rtol=tol, atol=tol)
    np.testing.assert_allclose(x.mean((0, 1)).float().numpy(), ref.mean((0, 1)), rtol=tol, atol=tol)
    assert np.isnan(dm.zeros(0, 3).mean(0).numpy()).all()


_ONE_THREAD_SCRIPT = """
import sys
import numpy as np
import democratising as dm
import democratising.nn.functional as F

dm.manual_seed(0)
x = dm.randn(96, 1024, requires_grad=True)
img = dm.randn(8, 16, 32, 32, requires_grad=True)
w = dm.randn(1024, 512, requires_grad=True)
outs = [
    x.relu() + x * 2, x.softmax(1), x.log_softmax(0), x.sum(0), x.mean(1), x.amax(1),
    x.cumsum(1), x.t().contiguous(), x.flip(1), F.layer_norm(x, (1024,)), x @ w,
    F.max_pool2d(img, 2), F.avg_pool2d(img, 3, 2), F.adaptive_avg_pool2d(img, 5),
    F.group_norm(img, 4), F.batch_norm(img, None, None, training=True),
    F.cross_entropy(x[:, :10], dm.arange(96) % 10),
]
loss = sum(o.float().sum() for o in outs)
loss.backward()
opt = dm.optim.Adam([w], lr=1e-3)
opt.step()
saved = [o.detach().numpy() for o in outs] + [x.grad.numpy(), img.grad.numpy(), w.detach().numpy()]
np.savez(sys.argv[1], *saved)
"""


def test_one_engine_thread_gives_the_results_of_two(tmp_path: Any) -> None:
    # With one thread every kernel runs on the calling thread (no hand-off to rayon's single
    # worker): the sequential paths must compute what the split ones do, bit for bit.
    import os
    import subprocess
    import sys

    script = tmp_path / "ops.py"
    script.write_text(_ONE_THREAD_SCRIPT)
    results = {}
    for threads in ("1", "2"):
        out = tmp_path / f"t{threads}.npz"
        env = dict(os.environ, RAYON_NUM_THREADS=threads)
        subprocess.run([sys.executable, str(script), str(out)], env=env, check=True, timeout=120)
        results[threads] = np.load(out)
    one, two = results["1"], results["2"]
    assert sorted(one.files) == sorted(two.files) and len(one.files) == 20
    for k in one.files:
        np.testing.assert_allclose(one[k], two[k], rtol=2e-6, atol=1e-6, err_msg=k)
