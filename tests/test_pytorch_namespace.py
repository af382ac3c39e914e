"""PyTorch's namespace under ``democratising`` (issue 18, point 1): the names ported programs
use, with PyTorch's semantics."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from helpers import to_numpy


def test_device_is_the_device_class_and_takes_pytorch_forms() -> None:
    assert dm.device is dm.Device
    assert dm.device("cpu").type == "cpu"
    d = dm.device("cuda:1")
    assert (d.type, d.index) == ("cuda", 1)
    assert dm.device("cuda", 1) == d
    assert isinstance(dm.randn(2).device, dm.device)


def test_utils_data_is_data_with_pytorch_submodule_paths() -> None:
    import democratising.utils.data as ud

    assert ud is dm.data and dm.utils.data is dm.data
    from democratising.utils.data import DataLoader, Dataset, Subset, TensorDataset, random_split
    from democratising.utils.data.dataloader import default_collate
    from democratising.utils.data.distributed import DistributedSampler

    assert DataLoader is dm.data.DataLoader and DistributedSampler is dm.data.DistributedSampler
    assert default_collate is dm.data.default_collate
    assert Dataset and Subset and TensorDataset and random_split


def test_nn_modules_paths() -> None:
    from democratising.nn.modules.batchnorm import _BatchNorm
    from democratising.nn.modules.conv import Conv2d
    from democratising.nn.modules.linear import Linear
    from democratising.nn.modules.loss import _Loss
    from democratising.nn.modules.module import Module
    from democratising.nn.modules.utils import _pair, _single

    assert Linear is nn.Linear and Conv2d is nn.Conv2d and Module is nn.Module
    assert isinstance(nn.BatchNorm1d(3), _BatchNorm) and isinstance(nn.MSELoss(), _Loss)
    assert _pair(3) == (3, 3) and _pair((1, 2)) == (1, 2) and _single(4) == (4,)
    assert nn.modules.activation.ReLU is nn.ReLU
    assert importlib.import_module("democratising.nn.modules.rnn").LSTM is nn.LSTM


def test_accelerator_answers_like_cuda() -> None:
    assert dm.accelerator.is_available() == dm.cuda.is_available()
    acc = dm.accelerator.current_accelerator()
    if dm.cuda.is_available():
        assert acc is not None and acc.type == "cuda"
    else:
        assert acc is None
    assert dm.accelerator.device_count() == dm.cuda.device_count()


def test_tensor_type_names_and_conversions() -> None:
    x = dm.randn(2, 3)
    assert x.type() == "torch.FloatTensor"
    assert dm.zeros(2, dtype=dm.int64).type() == "torch.LongTensor"
    assert dm.tensor([True]).type() == "torch.BoolTensor"
    assert x.type(dm.float64).dtype == dm.float64
    assert x.type("torch.LongTensor").dtype == dm.int64
    assert x.type(dm.float32) is x
    with pytest.raises(dm.DTypeError):
        x.type("torch.NopeTensor")
    assert x.is_xpu is False and x.is_mps is False


def test_inference_mode_as_context_and_decorators() -> None:
    w = dm.randn(3, requires_grad=True)
    with dm.inference_mode():
        assert not dm.is_grad_enabled() and dm.is_inference_mode_enabled()
        assert not (w * 2).requires_grad
    assert dm.is_grad_enabled() and not dm.is_inference_mode_enabled()

    @dm.inference_mode()
    def f() -> dm.Tensor:
        return w * 2

    @dm.inference_mode
    def g() -> dm.Tensor:
        return w * 2

    assert not f().requires_grad and not g().requires_grad
    with dm.inference_mode(False):
        assert (w * 2).requires_grad

    @dm.no_grad()
    def h() -> dm.Tensor:
        return w * 2

    assert not h().requires_grad and dm.is_grad_enabled()


def test_cuda_seeding_names_seed_the_global_generator() -> None:
    dm.cuda.manual_seed_all(7)
    a = dm.rand(3)
    dm.cuda.manual_seed(7)
    np.testing.assert_array_equal(to_numpy(a), to_numpy(dm.rand(3)))


def test_backend_flags_are_settable() -> None:
    dm.backends.cudnn.benchmark = True
    dm.backends.cudnn.deterministic = True
    dm.backends.cudnn.enabled = True
    dm.backends.cuda.matmul.allow_tf32 = True
    dm.backends.cudnn.allow_tf32 = True
    assert dm.backends.cuda.matmul.allow_tf32 and dm.backends.cudnn.benchmark
    assert dm.backends.mps.is_available() is False
    dm.set_float32_matmul_precision("high")
    assert dm.get_float32_matmul_precision() == "high"
    with pytest.raises(ValueError):
        dm.set_float32_matmul_precision("low")
    import democratising.backends.cudnn as cudnn

    assert cudnn.benchmark


def test_compile_returns_its_argument() -> None:
    m = nn.Linear(2, 2)
    assert dm.compile(m) is m

    @dm.compile
    def f(x: dm.Tensor) -> dm.Tensor:
        return x + 1

    @dm.compile(mode="max-autotune", fullgraph=True)
    def g(x: dm.Tensor) -> dm.Tensor:
        return x + 2

    assert f(dm.ones(1)).item() == 2 and g(dm.ones(1)).item() == 3


@pytest.mark.skipif(dm.cuda.is_available(), reason="checks the no-CUDA fallback")
def test_cuda_amp_aliases_disable_themselves_without_cuda() -> None:
    with pytest.warns(UserWarning, match="CUDA is not available"):
        scaler = dm.cuda.amp.GradScaler()
    assert not scaler.is_enabled()
    loss = dm.tensor(2.0)
    assert scaler.scale(loss) is loss
    with pytest.warns(UserWarning, match="CUDA is not available"):
        ctx = dm.cuda.amp.autocast()
    with ctx:
        assert nn.Linear(2, 2)(dm.randn(1, 2)).dtype == dm.float32
    import democratising.cuda.amp as amp

    assert amp.GradScaler is dm.cuda.amp.GradScaler


def test_amp_grad_scaler_stays_enabled_when_asked_without_device() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dm.amp.GradScaler().is_enabled()


def test_small_pytorch_helpers() -> None:
    assert dm.is_tensor(dm.ones(1)) and not dm.is_tensor([1])
    assert dm.is_floating_point(dm.ones(1)) and not dm.is_floating_point(dm.ones(1).long())
    assert dm.finfo(dm.float32).eps == np.finfo(np.float32).eps
    assert dm.finfo(dm.float16).max == 65504.0
    assert dm.finfo(dm.bfloat16).eps == 2.0**-7
    assert dm.finfo().bits == 32
    assert dm.iinfo(dm.int32).max == 2**31 - 1
    with pytest.raises(dm.DTypeError):
        dm.finfo(dm.int64)
    a = np.arange(3.0)
    t = dm.as_tensor(a)
    assert t.dtype == dm.float64 and dm.as_tensor(t) is t
    assert dm.as_tensor([1, 2], dtype=dm.float32).dtype == dm.float32
    assert dm.Size((2, 3)).numel() == 6 and dm.Size((2, 3)) == (2, 3)


# ---- multinomial --------------------------------------------------------------------------


def test_multinomial_with_replacement_follows_the_probabilities() -> None:
    dm.manual_seed(0)
    p = np.array([0.1, 0.0, 0.6, 0.3])
    draws = to_numpy(dm.multinomial(dm.tensor(p * 5), 20000, replacement=True))
    assert draws.dtype == np.int64 and draws.shape == (20000,)
    freq = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(freq, p, atol=0.015)
    assert freq[1] == 0


def test_multinomial_without_replacement_has_distinct_draws_in_the_right_order() -> None:
    dm.manual_seed(1)
    p = dm.tensor([[0.5, 0.3, 0.2, 0.0]] * 4000)
    draws = to_numpy(p.multinomial(3))
    assert draws.shape == (4000, 3)
    assert all(len(set(r)) == 3 for r in draws[:50]) and not (draws == 3).any()
    # First draw ~ p; second given first=0 ~ (0.3, 0.2)/0.5.
    first = np.bincount(draws[:, 0], minlength=4) / 4000
    np.testing.assert_allclose(first[:3], [0.5, 0.3, 0.2], atol=0.03)
    second = draws[draws[:, 0] == 0, 1]
    assert abs((second == 1).mean() - 0.6) < 0.05


def test_multinomial_is_reproducible_and_checks_its_input() -> None:
    p = dm.tensor([0.2, 0.3, 0.5])
    dm.manual_seed(5)
    a = to_numpy(dm.multinomial(p, 10, True))
    dm.manual_seed(5)
    np.testing.assert_array_equal(a, to_numpy(dm.multinomial(p, 10, replacement=True)))
    with pytest.raises(ValueError, match="without replacement"):
        dm.multinomial(p, 4)
    with pytest.raises(RuntimeError, match="element < 0"):
        dm.multinomial(dm.tensor([0.5, -0.1]), 1)
    with pytest.raises(RuntimeError, match="sum of probabilities"):
        dm.multinomial(dm.zeros(3), 1)
    with pytest.raises(ValueError):
        dm.multinomial(dm.ones(2, 2, 2), 1)


# ---- layer constructors: device=/dtype=, inplace= ------------------------------------------

_FACTORY_LAYERS = [
    (nn.Linear, (3, 4)),
    (nn.Conv1d, (2, 3, 3)),
    (nn.Conv2d, (2, 3, 3)),
    (nn.Embedding, (5, 3)),
    (nn.LayerNorm, (3,)),
    (nn.BatchNorm1d, (3,)),
    (nn.BatchNorm2d, (3,)),
    (nn.GroupNorm, (1, 3)),
    (nn.RMSNorm, (3,)),
    (nn.LSTM, (3, 4)),
    (nn.GRU, (3, 4)),
    (nn.RNN, (3, 4)),
    (nn.LSTMCell, (3, 4)),
    (nn.GRUCell, (3, 4)),
    (nn.RNNCell, (3, 4)),
    (nn.PReLU, ()),
    (nn.MultiheadAttention, (4, 2)),
    (nn.TransformerEncoderLayer, (4, 2, 8)),
]


@pytest.mark.parametrize("cls,args", _FACTORY_LAYERS, ids=lambda v: getattr(v, "__name__", ""))
def test_layers_take_device_and_dtype(cls: type, args: tuple[int, ...]) -> None:
    m = cls(*args, device="cpu", dtype=dm.float64)
    assert {p.dtype for p in m.parameters()} == {dm.float64}
    assert all(p.device.type == "cpu" for p in m.parameters())
    # Integer buffers (BatchNorm's num_batches_tracked) keep their dtype.
    assert all(b.dtype in (dm.float64, dm.int64) for b in m.buffers())


def test_linear_takes_device_and_dtype_by_position() -> None:
    m = nn.Linear(2, 3, False, "cpu", dm.float64)
    assert m.weight.dtype == dm.float64 and m.bias is None


def test_inplace_activations_write_into_their_input_without_autograd() -> None:
    for layer in (
        nn.ReLU(True),
        nn.LeakyReLU(0.2, inplace=True),
        nn.ELU(inplace=True),
        nn.Hardtanh(inplace=True),
        nn.ReLU6(inplace=True),
        nn.SiLU(inplace=True),
    ):
        x = dm.tensor([-2.0, -0.5, 0.5, 7.0])
        expected = to_numpy(type(layer)()(x.clone())) if type(layer) is not nn.LeakyReLU else None
        y = layer(x)
        assert y is x, type(layer).__name__
        if expected is not None:
            np.testing.assert_allclose(to_numpy(x), expected, rtol=1e-6)
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
    assert repr(nn.LeakyReLU(0.2, True)) == "LeakyReLU(negative_slope=0.2, inplace=True)"
    assert repr(nn.Dropout(0.1)) == "Dropout(p=0.1, inplace=False)"


def test_inplace_activations_keep_gradients_right() -> None:
    w = dm.tensor([-1.0, 2.0, 3.0], requires_grad=True)
    y = nn.ReLU(inplace=True)(w * 2)
    y.sum().backward()
    np.testing.assert_array_equal(to_numpy(w.grad), [0.0, 2.0, 2.0])
    d = nn.Dropout(0.5, inplace=True)
    d.eval()
    x = dm.ones(4)
    assert d(x) is x


def test_conv2d_padding_modes() -> None:
    dm.manual_seed(0)
    x = dm.randn(1, 2, 5, 6)
    for mode in ("reflect", "replicate", "circular"):
        c = nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode)
        ref = dm.nn.functional.conv2d(
            dm.nn.functional.pad(x, (1, 1, 1, 1), mode=mode), c.weight, c.bias
        )
        np.testing.assert_allclose(to_numpy(c(x)), to_numpy(ref), rtol=1e-6)
        assert c(x).shape == (1, 3, 5, 6)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")


def test_embedding_takes_pytorchs_extra_arguments() -> None:
    w = dm.randn(4, 2)
    e = nn.Embedding(4, 2, _weight=w, _freeze=True, sparse=True)
    np.testing.assert_array_equal(to_numpy(e.weight), to_numpy(w))
    assert not e.weight.requires_grad
    capped = nn.Embedding(4, 2, max_norm=1.0)
    capped(dm.tensor([0, 1, 2, 3]))
    assert float(capped.weight.norm(dim=1).max()) <= 1.0 + 1e-6


def test_identity_takes_any_arguments_and_tensors_pin_memory() -> None:
    x = dm.ones(2)
    assert nn.Identity(54, unused_argument1=0.1)(x) is x
    assert x.pin_memory() is x and x.is_pinned() is False


def test_use_deterministic_algorithms_is_recorded() -> None:
    before = dm.are_deterministic_algorithms_enabled()
    dm.use_deterministic_algorithms(True)
    assert dm.are_deterministic_algorithms_enabled()
    dm.use_deterministic_algorithms(before)


def test_legacy_tensor_types() -> None:
    x = dm.LongTensor([1, 2, 3])
    assert x.dtype == dm.int64 and x.tolist() == [1, 2, 3]
    assert isinstance(x, dm.LongTensor) and not isinstance(x, dm.FloatTensor)
    assert isinstance(x, dm.Tensor)
    z = dm.FloatTensor(2, 3)
    assert z.shape == (2, 3) and z.dtype == dm.float32
    assert dm.FloatTensor((4,)).tolist() == [4.0]  # a tuple is data, as in PyTorch
    assert dm.FloatTensor(dm.Size((4,))).shape == (4,)  # a Size is sizes
    assert dm.randn(2).type(dm.DoubleTensor).dtype == dm.float64
    assert not isinstance(dm.randn(2), dm.cuda.FloatTensor)
    assert dm.cuda.FloatTensor.__name__ == "FloatTensor"


def test_generator_streams_for_sampling_and_splitting() -> None:
    from democratising.utils.data import DataLoader, RandomSampler, TensorDataset, random_split

    ds = TensorDataset(dm.arange(20))
    split = [
        s.indices for s in random_split(ds, [0.5, 0.5], generator=dm.Generator().manual_seed(42))
    ]
    again = [s.indices for s in random_split(ds, [0.5, 0.5], dm.Generator().manual_seed(42))]
    assert split == again
    g = dm.Generator().manual_seed(1)
    assert g.initial_seed() == 1 and dm.Generator().initial_seed() == 67280421310721
    first = list(RandomSampler(ds, generator=g))
    second = list(RandomSampler(ds, generator=g))
    assert sorted(first) == list(range(20)) and first != second  # the stream advances
    g2 = dm.Generator().manual_seed(1)
    assert list(RandomSampler(ds, generator=g2)) == first
    loader = DataLoader(ds, 5, shuffle=True, generator=dm.Generator().manual_seed(3))
    assert sorted(i for (b,) in loader for i in b.tolist()) == list(range(20))
    # multinomial draws from the generator's stream and leaves the global one alone
    p = dm.tensor([0.2, 0.3, 0.5])
    dm.manual_seed(0)
    before = dm.get_rng_state().tolist()
    a = dm.multinomial(p, 8, True, generator=dm.Generator().manual_seed(9)).tolist()
    assert dm.get_rng_state().tolist() == before
    assert a == dm.multinomial(p, 8, True, generator=dm.Generator().manual_seed(9)).tolist()
    dm.manual_seed(9)
    assert a == dm.multinomial(p, 8, True).tolist()  # the same numbers as that seed
    state = g.get_state()
    x = dm.multinomial(p, 4, True, generator=g).tolist()
    assert dm.multinomial(p, 4, True, generator=g.set_state(state)).tolist() == x


def test_unique_like_pytorch() -> None:
    x = dm.tensor([3, 1, 2, 3, 1])
    assert dm.unique(x).tolist() == [1, 2, 3] and x.unique().tolist() == [1, 2, 3]
    _, inverse, counts = dm.unique(x, return_inverse=True, return_counts=True)
    assert inverse.tolist() == [2, 0, 1, 2, 0] and counts.tolist() == [2, 1, 2]
    assert inverse.dtype == dm.int64
    rows, n = dm.unique(dm.tensor([[1, 2], [1, 2], [0, 5]]), dim=0, return_counts=True)
    assert rows.tolist() == [[0, 5], [1, 2]] and n.tolist() == [1, 2]
    assert dm.tensor([1.5, 1.5], dtype=dm.bfloat16).unique().dtype == dm.bfloat16


def test_autograd_older_spellings() -> None:
    from democratising.autograd import Variable

    t = dm.ones(2)
    v = Variable(t, requires_grad=True)
    assert v is t and v.requires_grad
    a = dm.tensor([1.0, 2.0], requires_grad=True)
    dm.autograd.backward([(a * a).sum(), (3 * a).sum()])
    np.testing.assert_array_equal(to_numpy(a.grad), [5.0, 7.0])
    dm.autograd.set_detect_anomaly(True)
    assert dm.autograd.is_anomaly_enabled()
    dm.autograd.set_detect_anomaly(False)
    with dm.autograd.detect_anomaly():
        assert dm.autograd.is_anomaly_enabled()
    assert not dm.autograd.is_anomaly_enabled()


def test_pad_sequence() -> None:
    from democratising.nn.utils.rnn import pad_sequence

    a = dm.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], requires_grad=True)
    b = dm.tensor([[4.0, 4.0]])
    out = pad_sequence([a, b], batch_first=True, padding_value=-1.0)
    assert out.shape == (2, 3, 2)
    assert out[1].tolist() == [[4.0, 4.0], [-1.0, -1.0], [-1.0, -1.0]]
    assert pad_sequence([a, b]).shape == (3, 2, 2)
    left = nn.utils.rnn.pad_sequence([a, b], batch_first=True, padding_side="left")
    assert left[1].tolist() == [[0.0, 0.0], [0.0, 0.0], [4.0, 4.0]]
    out.sum().backward()
    np.testing.assert_array_equal(to_numpy(a.grad), np.ones((3, 2)))
    with pytest.raises(dm.ShapeError):
        pad_sequence([a, dm.ones(2, 3)])


def test_functional_takes_pytorchs_extra_keywords() -> None:
    import inspect

    import democratising.nn.functional as F

    x = dm.tensor([-1.0, 2.0])
    assert F.relu(x, inplace=True) is x and x.tolist() == [0.0, 2.0]
    y = dm.tensor([-1.0, 2.0])
    assert F.leaky_relu(y, 0.5, True) is y and y.tolist() == [-0.5, 2.0]
    w = dm.tensor([-1.0, 2.0], requires_grad=True)
    F.elu(w * 1, inplace=True).sum().backward()  # under autograd: a new tensor, right grads
    assert w.grad is not None
    assert "inplace" in inspect.signature(F.silu).parameters
    p, t = dm.rand(3, 4), dm.rand(3, 4)
    summed = F.binary_cross_entropy(p, t, reduction="sum").item()
    assert F.binary_cross_entropy(p, t, size_average=False).item() == pytest.approx(summed)
    assert F.mse_loss(p, t, reduce=False).shape == (3, 4)
    assert F.cross_entropy(dm.randn(2, 3), dm.tensor([0, 2]), size_average=False).shape == ()
    assert F.softmax(dm.randn(2, 3), dim=-1, dtype=dm.float64).dtype == dm.float64
    assert F.log_softmax(dm.randn(2, 3), 1, dtype=dm.float64).dtype == dm.float64


def test_loss_modules_take_the_deprecated_reduction_flags() -> None:
    # PyTorch's legacy flags still work, with its deprecation warning.
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        assert nn.MSELoss(size_average=False).reduction == "sum"
        assert nn.BCELoss(reduce=False).reduction == "none"
        assert nn.CrossEntropyLoss(size_average=False).reduction == "sum"
    assert nn.MSELoss().reduction == "mean" and nn.L1Loss(reduction="sum").reduction == "sum"
    p, t = dm.rand(4), dm.rand(4)
    with pytest.warns(UserWarning):
        loss = nn.MSELoss(size_average=False)
    assert loss(p, t).item() == pytest.approx(((p - t) ** 2).sum().item(), rel=1e-6)


def test_cuda_device_properties() -> None:
    if dm.cuda.is_available():
        props = dm.cuda.get_device_properties(0)
        assert props.total_memory > 0 and props.name
    else:
        with pytest.raises(dm.DeviceError):
            dm.cuda.get_device_properties(0)


def test_margin_losses_match_numpy_and_gumbel_softmax() -> None:
    import democratising.nn.functional as F
    from helpers import gradcheck

    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal(6), rng.standard_normal(6)
    y = np.array([1.0, -1.0, 1.0, 1.0, -1.0, -1.0])
    want = np.maximum(0, -y * (x1 - x2) + 0.3).mean()
    got = nn.MarginRankingLoss(0.3)(dm.tensor(x1), dm.tensor(x2), dm.tensor(y))
    assert got.item() == pytest.approx(want, rel=1e-5)
    a, b = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    cos = (a * b).sum(1) / np.sqrt(((a * a).sum(1) + 1e-12) * ((b * b).sum(1) + 1e-12))
    want = np.where(y == 1, 1 - cos, np.maximum(0, cos - 0.1)).sum()
    got = F.cosine_embedding_loss(dm.tensor(a), dm.tensor(b), dm.tensor(y), 0.1, "sum")
    assert got.item() == pytest.approx(want, rel=1e-5)
    anc, pos, neg = (rng.standard_normal((5, 3)) for _ in range(3))

    def dist(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.sqrt(((u - v + 1e-6) ** 2).sum(1))

    want = np.maximum(dist(anc, pos) - dist(anc, neg) + 1.0, 0).mean()
    got = nn.TripletMarginLoss()(dm.tensor(anc), dm.tensor(pos), dm.tensor(neg))
    assert got.item() == pytest.approx(want, rel=1e-5)
    d_neg = np.minimum(dist(anc, neg), dist(pos, neg))
    want = np.maximum(dist(anc, pos) - d_neg + 1.0, 0).mean()
    got = nn.TripletMarginLoss(swap=True)(dm.tensor(anc), dm.tensor(pos), dm.tensor(neg))
    assert got.item() == pytest.approx(want, rel=1e-5)
    t = dm.tensor(y, dtype=dm.float64)
    gradcheck(
        lambda u, v: F.margin_ranking_loss(u, v, t, 0.3),
        [
            dm.tensor(x1, dtype=dm.float64, requires_grad=True),
            dm.tensor(x2 + 0.05, dtype=dm.float64, requires_grad=True),
        ],
    )
    logits = dm.randn(3, 5, requires_grad=True)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(to_numpy(soft.sum(-1)), 1.0, rtol=1e-5)
    hard = F.gumbel_softmax(logits, hard=True)
    assert set(np.unique(to_numpy(hard))) <= {0.0, 1.0} and to_numpy(hard).sum() == 3
    (hard * dm.arange(5).float()).sum().backward()
    assert logits.grad is not None
