"""Divergences from PyTorch 2.15 found by differential fuzzing (session 40), each checked
against the value PyTorch gives (written here as constants): the result type of three-operand
ops, the zero gradient of floor division, and the binary search's NaN handling."""

from __future__ import annotations

import math

import pytest

import democratising as dm

nan = math.nan


def test_floor_division_has_zero_gradients_as_pytorch() -> None:
    a = dm.tensor([5.0, -5.0], requires_grad=True)
    b = dm.tensor([2.0, 3.0], requires_grad=True)
    y = dm.div(a, b, rounding_mode="floor")
    assert y.tolist() == [2.0, -2.0]
    y.sum().backward()
    assert a.grad is not None and b.grad is not None
    assert a.grad.tolist() == [0.0, 0.0] and b.grad.tolist() == [0.0, 0.0]
    a.grad = None
    (a // 2.0).sum().backward()
    assert a.grad is not None and a.grad.tolist() == [0.0, 0.0]


def test_floor_division_gradient_reduces_over_broadcast_dims() -> None:
    a = dm.ones(3, 1, requires_grad=True)
    b = dm.full((4,), 2.0, requires_grad=True)
    dm.div(a, b, rounding_mode="floor").sum().backward()
    assert a.grad is not None and b.grad is not None
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    assert a.grad.abs().sum().item() == 0.0 and b.grad.abs().sum().item() == 0.0


def test_integer_floor_division_stays_without_a_graph() -> None:
    y = dm.tensor([7, -7]) // 2
    assert y.tolist() == [3, -4] and y.dtype == dm.int64 and not y.requires_grad


INT, F64_0D, F32 = dm.tensor([1, 5]), dm.tensor(2.0, dtype=dm.float64), dm.tensor([4.0, 4.0])


@pytest.mark.parametrize(
    ("make", "dtype"),
    [
        # A dimensioned float32 decides over a 0-d float64 (same kind); pair by pair, the int
        # tensor and the 0-d float64 would make float64 first.
        (lambda: dm.clamp(INT, F64_0D, F32), dm.float32),
        (lambda: dm.clamp(INT, F64_0D, None), dm.float64),
        (lambda: dm.clamp(INT, None, dm.tensor([3])), dm.int64),
        (lambda: dm.clamp(dm.tensor([1.0, 5.0]), dm.tensor(2), 3), dm.float32),
        (lambda: dm.clamp(dm.tensor([True, False]), dm.tensor(0), dm.tensor([1])), dm.int64),
        (
            lambda: dm.clamp(
                dm.tensor([1.0, 5.0], dtype=dm.float16),
                dm.tensor([2.0], dtype=dm.float64),
                dm.tensor(4.0),
            ),
            dm.float64,
        ),
        (lambda: dm.addcmul(INT, F64_0D, F32), dm.float32),
        (lambda: dm.addcdiv(INT, F64_0D, F32), dm.float32),
        (lambda: dm.addcmul(dm.tensor([True]), dm.tensor([True]), F64_0D), dm.float64),
        (
            lambda: dm.addcmul(
                dm.tensor(1.0, dtype=dm.float64), dm.tensor(2, dtype=dm.int32), dm.tensor([1, 1])
            ),
            dm.float64,
        ),
    ],
)
def test_three_operand_result_type_is_pytorchs(make, dtype) -> None:  # type: ignore[no-untyped-def]
    assert make().dtype == dtype


def test_three_operand_clamp_values_and_gradients() -> None:
    assert dm.clamp(INT, F64_0D, F32).tolist() == [2.0, 4.0]
    x = dm.tensor([0.0, 3.0, 6.0], requires_grad=True)
    lo = dm.tensor(1.0, dtype=dm.float64, requires_grad=True)
    y = dm.clamp(x, lo, dm.tensor([4.0, 4.0, 4.0]))
    assert y.dtype == dm.float32 and y.tolist() == [1.0, 3.0, 4.0]
    y.sum().backward()
    assert x.grad is not None and lo.grad is not None
    assert x.grad.tolist() == [0.0, 1.0, 0.0]
    assert lo.grad.dtype == dm.float64 and lo.grad.item() == 1.0


@pytest.mark.parametrize(
    ("seq", "values", "left", "right"),
    [
        ([1.0, 2.0, nan], [nan, 5.0, 2.0], [3, 3, 1], [3, 3, 3]),
        ([nan, nan], [1.0], [2], [2]),
        ([1.0, 2.0, 2.0, 3.0], [0.0, 2.0, 2.5, 9.0, nan], [0, 1, 3, 4, 4], [0, 3, 3, 4, 4]),
        ([[1.0, 3.0, 5.0], [2.0, nan, 8.0]], [[3.0, nan], [8.0, 1.0]], [[1, 3], [2, 2]],
         [[2, 3], [3, 2]]),
    ],
)  # fmt: skip
def test_searchsorted_walks_nan_as_pytorchs_binary_search(
    seq: list, values: list, left: list, right: list
) -> None:
    s, v = dm.tensor(seq), dm.tensor(values)
    assert dm.searchsorted(s, v).tolist() == left
    assert dm.searchsorted(s, v, right=True).tolist() == right
    assert dm.searchsorted(s, v, side="right").tolist() == right


def test_searchsorted_without_nan_is_unchanged() -> None:
    assert dm.searchsorted(dm.tensor([1, 3, 5]), 3).tolist() == 1
    assert dm.bucketize(
        dm.tensor([0.5, 3.0, nan]), dm.tensor([1.0, 3.0, 5.0]), right=True
    ).tolist() == [
        0,
        2,
        3,
    ]
    assert dm.searchsorted(dm.tensor([1.0, 3.0, 5.0]), dm.tensor([])).tolist() == []
    got = dm.searchsorted(
        dm.tensor([5.0, 1.0, 3.0]), dm.tensor([2.0, 6.0]), sorter=dm.tensor([1, 2, 0])
    )
    assert got.tolist() == [1, 3]
    rows = dm.tensor([[1.0, 2.0], [3.0, 4.0]]).t()  # non-contiguous rows [1, 3] and [2, 4]
    assert dm.searchsorted(rows, dm.tensor([[2.0, 6.0], [1.5, 3.5]])).tolist() == [[1, 2], [0, 1]]
    assert (
        dm.searchsorted(dm.tensor([[1.0, 2.0]]), dm.tensor([[3.0]]), out_int32=True).dtype
        == dm.int32
    )


@pytest.mark.parametrize("key_len", [115, 200, 286, 371])
def test_load_reads_a_safetensors_file_whose_header_length_looks_like_a_pickle(
    key_len: int, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # A header of 640 (or 896, 1152, 1408) bytes starts the file with b"\x80\x02".."\x80\x05",
    # a pickle's first bytes: load() once refused its own save() as "a pickle".
    path = tmp_path / "w.pt"
    dm.save({"k" * key_len: dm.ones(1)}, path)
    assert dm.load(path)["k" * key_len].tolist() == [1.0]
    with open(path, "rb") as f:
        assert dm.load(f)["k" * key_len].tolist() == [1.0]


def test_a_real_pickle_is_still_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pickle

    path = tmp_path / "p.pt"
    path.write_bytes(pickle.dumps({"a": [1, 2, 3]}, protocol=2))
    with pytest.raises(dm.serialization.PickleFileError):
        dm.load(path)


def test_functional_data_parallel_runs_the_module_once() -> None:
    # (DCGAN's generator calls nn.parallel.data_parallel(self.main, input, range(ngpu)))
    m = dm.nn.Linear(3, 2)
    x = dm.randn(4, 3)
    assert dm.equal(dm.nn.parallel.data_parallel(m, x), m(x))
    assert dm.equal(dm.nn.parallel.data_parallel(m, (x,), ["cpu"], module_kwargs={}), m(x))
    if not dm.cuda.is_available():
        with pytest.raises(dm.errors.DeviceError):
            dm.nn.parallel.data_parallel(m, x, range(2))


def test_conv_channel_mismatch_is_said_as_pytorch_says_it() -> None:
    with pytest.raises(
        dm.ShapeError, match=r"expected input\[1, 1, 5, 5\] to have 3 channels, but got 1"
    ):
        dm.nn.Conv2d(3, 2, 3)(dm.ones(1, 1, 5, 5))
    with pytest.raises(dm.ShapeError, match="divisible by 2 at dimension 0"):
        dm.nn.functional.conv2d(dm.ones(1, 4, 5, 5), dm.ones(3, 2, 3, 3), groups=2)
    with pytest.raises(dm.ShapeError, match=r"expected input\[1, 1, 5\] to have 3 channels"):
        dm.nn.Conv1d(3, 2, 3)(dm.ones(1, 1, 5))
    with pytest.raises(dm.ShapeError, match=r"input\[2, 5\] to have 4 channels, but got 2"):
        dm.nn.Conv1d(4, 2, 3, groups=2)(dm.ones(2, 5))
    assert dm.nn.Conv1d(4, 2, 3, groups=2)(dm.ones(4, 5)).shape == (2, 3)


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        # (values from PyTorch 2.15: keys an optimizer does not have are ignored)
        ("Rprop", {"weight_decay": 1.0}, -1.1),
        ("Rprop", {"decoupled_weight_decay": True}, -1.1),
        ("Adamax", {"weight_decay": 0.5, "decoupled_weight_decay": True}, -0.832793),
        ("Adadelta", {"decoupled_weight_decay": True, "weight_decay": 0.5}, -0.999252),
        ("ASGD", {"decoupled_weight_decay": True, "weight_decay": 0.5}, -0.910981),
        # (and the keys it has still count)
        ("NAdam", {"decoupled_weight_decay": True, "weight_decay": 0.5}, -0.950125),
        ("RAdam", {"decoupled_weight_decay": True, "weight_decay": 0.5}, -0.934684),
        ("Adamax", {"maximize": True}, -0.887707),
    ],
)
def test_param_group_keys_the_optimizer_lacks_are_ignored(
    name: str, options: dict, expected: float
) -> None:
    p = dm.nn.Parameter(dm.tensor([-1.0]))
    opt = getattr(dm.optim, name)([{"params": [p], **options}], lr=0.1)
    for g in (0.3, -0.2):
        p.grad = dm.tensor([g])
        opt.step()
    assert p.item() == pytest.approx(expected, abs=2e-6)


def test_global_optimizer_step_hooks_run_around_every_optimizers_own() -> None:
    from democratising.optim import optimizer as optimizer_module

    log: list = []
    pre = optimizer_module.register_optimizer_step_pre_hook(
        lambda o, a, k: log.append(("global pre", type(o).__name__))
    )
    post = optimizer_module.register_optimizer_step_post_hook(
        lambda o, a, k: log.append(("global post", type(o).__name__))
    )
    try:
        p = dm.nn.Parameter(dm.ones(2))
        sgd = dm.optim.SGD([p], lr=0.1)
        sgd.register_step_pre_hook(lambda o, a, k: log.append(("pre",)))
        sgd.register_step_post_hook(lambda o, a, k: log.append(("post",)))
        p.grad = dm.ones(2)
        sgd.step()
        dm.optim.Adam([p]).step()
    finally:
        pre.remove()
        post.remove()
    dm.optim.Adam([p]).step()
    assert log == [  # PyTorch's order
        ("global pre", "SGD"),
        ("pre",),
        ("post",),
        ("global post", "SGD"),
        ("global pre", "Adam"),
        ("global post", "Adam"),
    ]


def test_logsigmoid_keeps_its_last_term_below_minus_20() -> None:
    x = dm.tensor([-1000.0, -21.0, -20.0, 0.0, 1000.0, nan], dtype=dm.float64, requires_grad=True)
    y = dm.nn.functional.logsigmoid(x)
    y.sum().backward()
    assert x.grad is not None
    want = [-1000.0, -21.000000000758256, -20.000000002061153, -0.6931471805599453, 0.0]
    assert y.tolist()[:5] == pytest.approx(want, rel=1e-15, abs=0)
    assert math.copysign(1.0, y.tolist()[4]) == 1.0  # 0, not -0, as PyTorch
    assert x.grad.tolist()[:5] == pytest.approx(
        [1.0, 0.999999999241744, 0.9999999979388464, 0.5, 0.0], rel=1e-15, abs=0
    )
    assert math.isnan(y.tolist()[5]) and math.isnan(x.grad.tolist()[5])


@pytest.mark.parametrize(
    ("mode", "size", "options", "nonfinite_out", "nan_grads"),
    [
        # (counts from PyTorch 2.15: a 6x6 image with one inf, a NaN in one output gradient)
        ("bilinear", (9, 9), {}, 9, 4),
        ("bilinear", (9, 9), {"align_corners": True}, 9, 4),
        ("bicubic", (9, 9), {}, 36, 9),
        ("area", (4, 4), {}, 1, 4),
        ("bilinear", (3, 3), {"antialias": True}, 4, 16),
        ("bicubic", (4, 4), {"antialias": True}, 16, 25),
    ],
)
def test_interpolate_keeps_a_nan_or_inf_to_the_outputs_that_read_it(
    mode: str, size: tuple, options: dict, nonfinite_out: int, nan_grads: int
) -> None:
    import numpy as np

    a = np.random.default_rng(0).standard_normal((1, 1, 6, 6)).astype(np.float32)
    a[0, 0, 2, 3] = np.inf
    x = dm.tensor(a, requires_grad=True)
    y = dm.nn.functional.interpolate(x, size=size, mode=mode, **options)
    g = np.ones(tuple(y.shape), np.float32)
    g[0, 0, 1, 1] = np.nan
    y.backward(dm.tensor(g))
    assert x.grad is not None
    assert int((~np.isfinite(y.detach().numpy())).sum()) == nonfinite_out
    assert int(np.isnan(x.grad.numpy()).sum()) == nan_grads


def test_interpolate_linear_nan_reaches_its_neighbours_only() -> None:
    x = dm.tensor([[[1.0, 2.0, 3.0, nan, 2.0, 3.0, 5.0, 5.0]]])
    got = dm.nn.functional.interpolate(x, size=5, mode="linear").tolist()[0][0]
    assert got[:2] == pytest.approx([1.3, 2.9], abs=1e-6) and math.isnan(got[2])
    assert got[3:] == pytest.approx([3.2, 5.0], abs=1e-6)


def test_lbfgs_strong_wolfe_in_float32_does_not_stall_near_the_minimum() -> None:
    """The line search's scalars are float32 0-d tensors, as PyTorch's: near a minimum
    ``f0 + c1 t gᵀd`` rounds to ``f0`` and the step is taken. In float64 the Armijo test
    asked for a decrease no float32 loss can show, and each iteration zoomed the step to 0
    (39 evaluations where PyTorch makes 13, and no progress)."""
    import numpy as np

    r = np.random.RandomState(1)
    x = r.randn(40, 5).astype(np.float32)
    y = (r.rand(40) > 0.5).astype(np.float32) * 2 - 1
    xs, ys = dm.tensor(x), dm.tensor(y)
    w = dm.zeros(5, requires_grad=True)
    b = dm.zeros(1, requires_grad=True)
    opt = dm.optim.LBFGS([w, b], max_iter=20, line_search_fn="strong_wolfe")

    def closure() -> dm.Tensor:
        opt.zero_grad()
        loss = dm.nn.functional.softplus(-ys * (xs @ w + b)).mean()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    state = opt.state[w]
    assert state["func_evals"] <= 16  # PyTorch: 13 evaluations, 12 iterations
    assert state["n_iter"] <= 14


def test_distributed_sampler_is_a_sampler() -> None:
    sampler = dm.data.DistributedSampler(range(10), num_replicas=2, rank=1, shuffle=False)
    assert isinstance(sampler, dm.data.Sampler)
    assert list(sampler) == [1, 3, 5, 7, 9] and len(sampler) == 5


class _Double(dm.nn.Module):
    def forward(self, x: dm.Tensor) -> dm.Tensor:
        return x * 2


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: dm.nn.Linear(2, 2), "bias=True"),
        (lambda: dm.nn.Conv2d(2, 2, 3), None),  # (Conv2d says bias=False only without one)
        (lambda: dm.nn.Bilinear(2, 2, 2), "bias=True"),
        (lambda: dm.nn.BatchNorm1d(2), "bias=True"),
        (lambda: dm.nn.GroupNorm(1, 2), "bias=True"),
    ],
)
def test_a_parametrized_bias_still_shows_in_the_repr(make, says) -> None:  # type: ignore[no-untyped-def]
    m = make()
    dm.nn.utils.parametrize.register_parametrization(m, "bias", _Double())
    text = repr(m)
    assert "bias=False" not in text
    if says is not None:
        assert says in text


def test_cpu_with_an_index_is_the_cpu() -> None:
    assert dm.zeros(1, device="cpu:0").device == dm.device("cpu")
    assert dm.ones(2).to("cpu:0").device.type == "cpu"
    m = dm.nn.Linear(2, 2).to("cpu:0")
    assert m.weight.device.type == "cpu"
    with pytest.raises(dm.DeviceError):
        dm.zeros(1, device="cpu:-1")


def test_interpolate_output_on_an_inf_input_is_inf_not_nan() -> None:
    # Output 2 sits exactly on the inf (its row has one nonzero weight): PyTorch gives inf.
    x = dm.tensor([[[0.0, math.inf, 2.0]]])
    got = dm.nn.functional.interpolate(x, size=5, mode="linear", align_corners=True)
    assert got.tolist()[0][0][1:] == [math.inf, math.inf, math.inf, 2.0]
