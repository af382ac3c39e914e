"""``nn`` behaviour that PyTorch programs rely on: dtype/device conversion of modules, container
slicing and naming, forward hooks, ``state_dict`` options, loading BatchNorm state from older
exports, ``Embedding.from_pretrained``, pooling options, gradient clipping of non-finite norms
and the losses' shape checks. Expected values follow PyTorch's documentation, computed by hand
or with NumPy."""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn, optim

# ---- 1. Module conversions keep what can be kept ---------------------------------------------


def _tied() -> nn.Module:
    """An embedding and an output layer sharing one weight, as language models tie them."""
    m = nn.Module()
    m.emb = nn.Embedding(4, 3)
    m.out = nn.Linear(3, 4, bias=False)
    m.out.weight = m.emb.weight
    return m


def test_conversions_that_change_nothing_keep_the_parameters_and_the_optimizer() -> None:
    m = nn.Linear(3, 2)
    w = m.weight
    opt = optim.SGD(m.parameters(), lr=0.5)
    m.float().cpu().to(dm.float32)
    assert m.weight is w
    before = w.detach().numpy().copy()
    m(dm.ones(1, 3)).sum().backward()
    opt.step()
    np.testing.assert_allclose(m.weight.detach().numpy(), before - 0.5, rtol=1e-6)


def test_double_converts_grads_and_keeps_requires_grad_ties_and_keys() -> None:
    m = _tied()
    m.out.weight.requires_grad_(True)
    keys = list(m.state_dict())
    m.out(m.emb(dm.tensor([1, 2]))).sum().backward()
    grad = m.emb.weight.grad.numpy().copy()
    m.double()
    assert m.emb.weight is m.out.weight  # still tied
    assert m.emb.weight.dtype == dm.float64 and m.emb.weight.requires_grad
    assert m.emb.weight.grad is not None and m.emb.weight.grad.dtype == dm.float64
    np.testing.assert_array_equal(m.emb.weight.grad.numpy(), grad)
    assert list(m.state_dict()) == keys


def test_conversion_keeps_frozen_parameters_frozen_and_bfloat16_exists() -> None:
    m = nn.Linear(2, 2)
    m.bias.requires_grad_(False)
    m.bfloat16()
    assert m.weight.dtype == dm.bfloat16 and m.bias.dtype == dm.bfloat16
    assert m.weight.requires_grad and not m.bias.requires_grad
    assert isinstance(m.weight, nn.Parameter)


def test_optimizer_built_before_double_still_updates_the_model() -> None:
    m = nn.Linear(3, 2)
    w = m.weight
    opt = optim.SGD(m.parameters(), lr=0.5)
    m.double()
    assert m.weight is w
    before = m.weight.detach().numpy().copy()
    m(dm.ones(1, 3, dtype=dm.float64)).sum().backward()
    opt.step()
    np.testing.assert_allclose(m.weight.detach().numpy(), before - 0.5)


def test_optimizer_built_before_to_keeps_tied_weights_and_adam_state_shapes() -> None:
    emb, head = nn.Embedding(5, 3), nn.Linear(3, 5, bias=False)
    head.weight = emb.weight
    model = nn.Sequential(emb, head)
    opt = optim.Adam(model.parameters(), lr=0.1)
    model.to(dm.float64)
    assert head.weight is emb.weight and emb.weight.dtype == dm.float64
    assert len(list(model.parameters())) == 1
    before = emb.weight.detach().numpy().copy()
    model(dm.tensor([[0, 1]])).sum().backward()
    opt.step()
    assert emb.weight.dtype == dm.float64
    assert not np.allclose(emb.weight.detach().numpy(), before)


def test_data_assignment_shares_storage_and_keeps_hooks_and_grad() -> None:
    p = nn.Parameter(dm.zeros(3))
    seen = []
    p.register_hook(lambda g: seen.append(g.tolist()))
    p.grad = dm.ones(3)
    src = dm.arange(3, dtype=dm.float64)
    p.data = src
    assert p.dtype == dm.float64 and p.requires_grad and p.is_leaf
    assert p.grad is None  # the float32 grad no longer fits
    src.add_(1.0)  # p shares src's storage, as in PyTorch
    assert p.tolist() == [1.0, 2.0, 3.0]
    (p * 2).sum().backward()
    assert seen == [[2.0, 2.0, 2.0]] and p.grad.tolist() == [2.0, 2.0, 2.0]
    keep = dm.ones(3, dtype=dm.float64)
    p.grad = keep
    p.data = dm.zeros(3, dtype=dm.float64)
    assert p.grad is not None and p.grad.tolist() == [1.0, 1.0, 1.0]  # still fits: kept
    with pytest.raises(dm.DTypeError):
        p.data = dm.arange(3)  # an int64 payload cannot require grad
    assert p.dtype == dm.float64  # and nothing changed
    y = p * 1.0
    with pytest.raises(dm.ShapeError):
        y.data = dm.zeros(4, dtype=dm.float64)
    y.data = dm.full((3,), 5.0, dtype=dm.float64)  # a non-leaf takes a copy of the values
    assert y.tolist() == [5.0, 5.0, 5.0]


# ---- 2. Containers -----------------------------------------------------------------------------


def test_sequential_slice_is_a_sequential_keeping_names() -> None:
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 4), nn.Tanh()]
    seq = nn.Sequential(*layers)
    part = seq[1:3]
    assert type(part) is nn.Sequential and len(part) == 2
    assert part[0] is layers[1] and part[1] is layers[2]
    assert list(part.state_dict()) == ["2.weight", "2.bias"]  # PyTorch keeps the names
    x = dm.randn(5, 3)
    want = layers[2](layers[1](x)).detach().numpy()
    np.testing.assert_array_equal(part(x).detach().numpy(), want)
    assert seq[-1] is layers[3]


def test_sequential_from_an_ordered_dict_uses_its_names() -> None:
    a, b = nn.Linear(2, 3), nn.Linear(3, 1)
    seq = nn.Sequential(OrderedDict([("enc", a), ("act", nn.ReLU()), ("head", b)]))
    assert seq.enc is a and seq.head is b and seq[2] is b
    assert list(seq.state_dict()) == ["enc.weight", "enc.bias", "head.weight", "head.bias"]
    x = dm.randn(4, 2)
    np.testing.assert_array_equal(seq(x).detach().numpy(), b(a(x).relu()).detach().numpy())
    assert list(seq[:1].state_dict()) == ["enc.weight", "enc.bias"]
    with pytest.raises(TypeError):
        nn.Sequential(OrderedDict([("x", 3)]))


def test_module_list_insert_and_slice_follow_list_positions() -> None:
    a, b, c, d = (nn.Linear(1, 1) for _ in range(4))
    ml = nn.ModuleList([a, b])
    ml.insert(1, c)
    assert list(ml) == [a, c, b]
    ml.insert(-1, d)  # before the last, as list.insert
    assert list(ml) == [a, c, d, b]
    ml.insert(0, nn.Identity())
    assert [name for name, _ in ml.named_children()] == ["0", "1", "2", "3", "4"]
    assert list(ml)[1:] == [a, c, d, b]
    part = ml[1:3]
    assert type(part) is nn.ModuleList and list(part) == [a, c]
    assert [name for name, _ in part.named_children()] == ["0", "1"]


# ---- 3. Hooks, get_submodule, state_dict options ---------------------------------------------


def test_forward_hook_sees_the_call_and_may_replace_the_output() -> None:
    m = nn.Linear(2, 2)
    seen: list[Any] = []

    def record(mod: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        seen.append((mod, args, out))

    h1 = m.register_forward_hook(record)
    h2 = m.register_forward_hook(lambda mod, args, out: out * 0)
    x = dm.ones(1, 2)
    y = m(x)
    assert seen[0][0] is m and seen[0][1][0] is x
    assert np.all(y.detach().numpy() == 0)
    h2.remove()
    h2.remove()  # removing twice is harmless
    assert np.any(m(x).detach().numpy() != 0)
    h1.remove()
    m(x)
    assert len(seen) == 2


def test_forward_pre_hook_may_replace_the_arguments() -> None:
    m = nn.Identity()
    h = m.register_forward_pre_hook(lambda mod, args: args[0] + 1)  # one value -> (value,)
    assert m(dm.tensor([1.0])).item() == 2.0
    h.remove()
    h = m.register_forward_pre_hook(lambda mod, args: (args[0] * 3,))
    assert m(dm.tensor([1.0])).item() == 3.0
    h.remove()
    assert m(dm.tensor([1.0])).item() == 1.0


def test_hook_order_kwargs_and_handle_as_context_manager() -> None:
    m = nn.Identity()
    order: list[str] = []
    m.register_forward_hook(lambda mod, args, out: order.append("first"))
    m.register_forward_hook(lambda mod, args, out: order.append("prepended"), prepend=True)

    def scale(mod: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return (args[0] * 10,), kwargs

    with m.register_forward_pre_hook(scale, with_kwargs=True):
        assert m(dm.tensor([1.0])).item() == 10.0
    assert m(dm.tensor([1.0])).item() == 1.0  # removed on leaving the block
    assert order == ["prepended", "first"] * 2
    seen: list[Any] = []
    m.register_forward_hook(lambda mod, a, kw, out: seen.append(kw), with_kwargs=True)
    m(dm.tensor([1.0]))
    assert seen == [{}]


def test_hooks_run_on_sequential_and_with_checkpointing() -> None:
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    calls: list[str] = []
    seq.register_forward_pre_hook(lambda mod, args: calls.append("pre"))
    seq.register_forward_hook(lambda mod, args, out: calls.append("post"))
    seq[0].register_forward_hook(lambda mod, args, out: calls.append("inner"))
    seq.enable_checkpointing()
    y = seq(dm.ones(1, 2, requires_grad=True))
    assert calls == ["pre", "inner", "post"]
    y.sum().backward()  # recomputing the checkpointed segment runs its hooks again (PyTorch)
    assert calls == ["pre", "inner", "post", "inner"]


def test_get_submodule_walks_dotted_paths() -> None:
    m = nn.Module()
    m.a = nn.Module()
    m.a.b = nn.Sequential(nn.Linear(1, 1), nn.ReLU())
    assert m.get_submodule("") is m
    assert m.get_submodule("a.b.1") is m.a.b[1]
    with pytest.raises(AttributeError, match="`c`"):
        m.get_submodule("a.c")
    with pytest.raises(AttributeError, match=r"`weight` is not an nn\.Module"):
        m.get_submodule("a.b.0.weight")


def test_state_dict_prefix_destination_and_keep_vars() -> None:
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    plain = m.state_dict()
    assert list(m.state_dict(prefix="model.")) == [f"model.{k}" for k in plain]
    dest: OrderedDict[str, Any] = OrderedDict(other=1)
    assert m.state_dict(dest) is dest and list(dest) == ["other", *plain]
    kept = m.state_dict(keep_vars=True)
    assert kept["0.weight"] is m[0].weight and kept["1.running_mean"] is m[1].running_mean
    assert not plain["0.weight"].requires_grad and not isinstance(plain["0.weight"], nn.Parameter)
    assert plain["0.weight"].data_ptr() == m[0].weight.data_ptr()  # detached, not copied


# ---- 4. BatchNorm state from older exports -----------------------------------------------------


@pytest.mark.parametrize("layer", [nn.BatchNorm1d, nn.BatchNorm2d])
def test_batchnorm_loads_a_state_without_num_batches_tracked(layer: Any) -> None:
    src = layer(3)
    src.running_mean.fill_(0.5)
    old = {k: v for k, v in src.state_dict().items() if k != "num_batches_tracked"}
    dst = layer(3)
    dst.num_batches_tracked.fill_(7)
    assert dst.load_state_dict(old) == ([], [])
    np.testing.assert_array_equal(dst.running_mean.numpy(), [0.5] * 3)
    assert dst.num_batches_tracked.item() == 7  # PyTorch keeps the current count
    assert "num_batches_tracked" not in old  # the caller's dict is not changed


def test_nested_batchnorm_without_num_batches_tracked_and_other_keys_still_checked() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert model.load_state_dict(sd).missing_keys == []
    del sd["1.running_var"]
    with pytest.raises(RuntimeError, match=r"1\.running_var"):
        model.load_state_dict(sd)
    assert model.load_state_dict(sd, strict=False).missing_keys == ["1.running_var"]
    no_stats = nn.BatchNorm1d(2, track_running_stats=False)
    assert no_stats.load_state_dict({"weight": dm.ones(2), "bias": dm.zeros(2)}) == ([], [])


# ---- 5. Embedding.from_pretrained, adaptive pooling with None, max-pool indices ------------


def test_embedding_from_pretrained_shares_the_table_and_freezes_it() -> None:
    table = dm.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    emb = nn.Embedding.from_pretrained(table)
    assert (emb.num_embeddings, emb.embedding_dim) == (3, 2)
    assert not emb.weight.requires_grad
    assert emb.weight.data_ptr() == table.data_ptr()
    np.testing.assert_array_equal(emb(dm.tensor([2, 0])).numpy(), [[5, 6], [1, 2]])
    trainable = nn.Embedding.from_pretrained(table, freeze=False, padding_idx=1)
    assert trainable.weight.requires_grad and trainable.padding_idx == 1
    np.testing.assert_array_equal(trainable.weight.detach().numpy()[1], [3, 4])  # not zeroed
    with pytest.raises(ValueError, match="2-dimensional"):
        nn.Embedding.from_pretrained(dm.ones(3))


def test_adaptive_avg_pool2d_none_keeps_that_input_size() -> None:
    a = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    x = dm.tensor(a)
    y = nn.AdaptiveAvgPool2d((None, 2))(x)
    want = a.reshape(1, 2, 3, 2, 2).mean(axis=4)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-6)
    got = F.adaptive_avg_pool2d(x, (1, None)).numpy()
    np.testing.assert_allclose(got, a.mean(2, keepdims=True), rtol=1e-6)


def _reference_max_pool2d(
    a: np.ndarray, k: int, s: int, p: int, d: int, ceil_mode: bool
) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's CPU kernel, loop by loop: output size from its formula, the first strictly
    greater value wins, a NaN always wins, and the start is the first in-plane cell."""
    h, w = a.shape[-2:]

    def size(n: int) -> int:
        num = n + 2 * p - d * (k - 1) - 1
        out = (-(-num // s) if ceil_mode else num // s) + 1
        return out - 1 if ceil_mode and (out - 1) * s >= n + p else out

    oh, ow = size(h), size(w)
    planes = a.reshape(-1, h, w)
    vals = np.zeros((len(planes), oh, ow), a.dtype)
    idx = np.zeros((len(planes), oh, ow), np.int64)
    for b, plane in enumerate(planes):
        for i in range(oh):
            for j in range(ow):
                r0, c0 = i * s - p, j * s - p
                r1, c1 = min(r0 + (k - 1) * d + 1, h), min(c0 + (k - 1) * d + 1, w)
                while r0 < 0:
                    r0 += d
                while c0 < 0:
                    c0 += d
                best, arg = -math.inf, r0 * w + c0
                for r in range(r0, r1, d):
                    for c in range(c0, c1, d):
                        v = plane[r, c]
                        if v > best or math.isnan(v):
                            best, arg = v, r * w + c
                vals[b, i, j], idx[b, i, j] = best, arg
    shape = (*a.shape[:-2], oh, ow)
    return vals.reshape(shape), idx.reshape(shape)


@pytest.mark.parametrize(
    ("k", "s", "p", "d", "ceil_mode"),
    [(2, 2, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 1, 1, True), (2, 1, 1, 2, False)],
)
def test_max_pool2d_indices_match_pytorchs_kernel(
    k: int, s: int, p: int, d: int, ceil_mode: bool
) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(-3, 4, size=(2, 3, 7, 6)).astype(np.float32)  # many ties
    a[0, 0, 2, 3], a[1, 2, 0, 0], a[1, 2, 0, 1] = np.nan, np.nan, np.nan
    a[0, 1] = -np.inf
    want_vals, want_idx = _reference_max_pool2d(a, k, s, p, d, ceil_mode)
    vals, idx = F.max_pool2d(dm.tensor(a), k, s, p, d, ceil_mode, return_indices=True)
    assert idx.dtype == dm.int64
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    np.testing.assert_array_equal(vals.numpy(), want_vals)  # NaN positions compare equal
    layer = nn.MaxPool2d(k, s, p, d, return_indices=True, ceil_mode=ceil_mode)
    np.testing.assert_array_equal(layer(dm.tensor(a))[1].numpy(), want_idx)


def test_max_pool2d_indices_unbatched_and_values_unchanged_without_them() -> None:
    a = np.random.default_rng(1).standard_normal((2, 5, 5)).astype(np.float32)
    vals, idx = F.max_pool2d(dm.tensor(a), 2, return_indices=True)
    assert idx.shape == (2, 2, 2)
    gathered = np.take_along_axis(a.reshape(2, -1), idx.numpy().reshape(2, -1), axis=1)
    np.testing.assert_array_equal(vals.numpy().reshape(2, -1), gathered)
    np.testing.assert_array_equal(F.max_pool2d(dm.tensor(a), 2).numpy(), vals.numpy())
    assert isinstance(nn.MaxPool2d(2)(dm.tensor(a)), dm.Tensor)


# ---- 7. clip_grad_norm_ options ---------------------------------------------------------------


def _with_grad(values: list[float]) -> nn.Parameter:
    p = nn.Parameter(dm.zeros(len(values)))
    p.grad = dm.tensor(values)
    return p


def test_clip_grad_norm_error_if_nonfinite() -> None:
    p = _with_grad([3.0, math.inf])
    with pytest.raises(RuntimeError, match=r"The total norm of order 2\.0 .* is non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad.numpy(), [3.0, math.inf])  # untouched
    q = _with_grad([3.0, math.nan])
    with pytest.raises(RuntimeError, match="order inf"):
        nn.utils.clip_grad_norm_(q, 1.0, norm_type="inf", error_if_nonfinite=True)


def test_clip_grad_norm_accepts_foreach_and_scales_by_a_nonfinite_norm_otherwise() -> None:
    p = _with_grad([3.0, 4.0])
    total = nn.utils.clip_grad_norm_([p], 1.0, foreach=True, error_if_nonfinite=True)
    assert total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    q = _with_grad([1.0, math.nan])
    assert math.isnan(nn.utils.clip_grad_norm_([q], 1.0, foreach=False).item())
    assert np.isnan(q.grad.numpy()).all()  # PyTorch multiplies by the NaN coefficient


# ---- 8-10. Loss shape checks, interpolate's scale factor ------------------------------------


@pytest.mark.parametrize(
    ("loss", "per_element"),
    [
        (F.mse_loss, lambda d: d**2),
        (F.l1_loss, np.abs),
        (nn.MSELoss(), lambda d: d**2),
        (nn.L1Loss(), np.abs),
        (F.smooth_l1_loss, lambda d: np.where(np.abs(d) < 1, 0.5 * d**2, np.abs(d) - 0.5)),
        (F.huber_loss, lambda d: np.where(np.abs(d) < 1, 0.5 * d**2, np.abs(d) - 0.5)),
    ],
)
def test_regression_losses_warn_and_broadcast_a_target_of_another_shape(
    loss: Any, per_element: Any
) -> None:
    x = np.array([[1.0], [2.0], [4.0]], np.float32)  # [3, 1]
    t = np.array([0.0, 1.0, 3.0], np.float32)  # [3]: broadcasts to [3, 3]
    with pytest.warns(UserWarning, match=r"Using a target size \(\(3,\)\) that is different"):
        got = loss(dm.tensor(x), dm.tensor(t))
    assert got.item() == pytest.approx(per_element(x - t).mean())
    with pytest.raises(dm.ShapeError):
        loss(dm.tensor(np.ones(3, np.float32)), dm.tensor(np.ones(4, np.float32)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss(dm.tensor(x), dm.tensor(x))  # same shapes: no warning


def test_mse_broadcast_gradient_has_the_input_shape() -> None:
    x = dm.tensor([[1.0], [2.0]], requires_grad=True)
    with pytest.warns(UserWarning):
        F.mse_loss(x, dm.tensor([0.0, 1.0]), reduction="sum").backward()
    # d/dx_i sum_j (x_i - t_j)^2 = 2 * sum_j (x_i - t_j)
    np.testing.assert_allclose(x.grad.numpy(), [[2.0], [6.0]])


@pytest.mark.parametrize("scale", [0, 0.0, -2.0, (2.0, 0.0)])
def test_interpolate_refuses_a_non_positive_scale_factor(scale: Any) -> None:
    x = dm.ones(1, 1, 4, 4)
    with pytest.raises(ValueError, match="scale_factor must be positive"):
        F.interpolate(x, scale_factor=scale)


def test_interpolate_refuses_an_empty_output() -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        F.interpolate(dm.ones(1, 1, 4), size=0)
    with pytest.raises(ValueError, match="greater than 0"):
        F.interpolate(dm.ones(1, 1, 4), scale_factor=0.1)  # floor(0.4) == 0
    assert F.interpolate(dm.ones(1, 1, 4), scale_factor=0.5).shape == (1, 1, 2)


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
def test_class_losses_need_a_class_dimension(loss: Any) -> None:
    with pytest.raises(dm.ShapeError, match="needs a class dimension"):
        loss(dm.tensor(0.5), dm.tensor(0))
    # a 1-D input is one sample of C classes, with a 0-d target (PyTorch)
    logp = np.log(np.array([0.2, 0.8], np.float32))
    got = loss(dm.tensor(logp), dm.tensor(1)).item()
    assert got == pytest.approx(-math.log(0.8), rel=1e-5)


def test_sync_batchnorm_is_reachable_from_nn_with_pytorchs_classmethod() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    weight = model[1].weight
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert isinstance(converted[1], nn.SyncBatchNorm)
    assert converted[1].weight is weight  # the same parameters: an optimizer keeps working
    with pytest.raises(AttributeError, match="Nope"):
        nn.Nope  # noqa: B018


def test_embedding_repr_and_attributes_are_pytorchs() -> None:
    # PyTorch 2.15 prints these exactly so, and keeps each constructor option as an attribute.
    assert repr(nn.Embedding(10, 3)) == "Embedding(10, 3)"
    emb = nn.Embedding(10, 3, padding_idx=-1)
    assert repr(emb) == "Embedding(10, 3, padding_idx=9)"
    emb = nn.Embedding(10, 3, norm_type=1.0, sparse=True)
    assert repr(emb) == "Embedding(10, 3, norm_type=1.0, sparse=True)"
    assert (emb.max_norm, emb.norm_type, emb.scale_grad_by_freq, emb.sparse) == (
        None,
        1.0,
        False,
        True,
    )
    pre = nn.Embedding.from_pretrained(dm.zeros(4, 2), padding_idx=1)
    assert repr(pre) == "Embedding(4, 2, padding_idx=1)"


def test_layer_reprs_are_pytorchs() -> None:
    # Each string is what PyTorch 2.15 prints for the same constructor call.
    cases = {
        nn.Conv2d(2, 4, 3): "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1))",
        nn.Conv2d(2, 4, 3, padding="same", padding_mode="reflect", bias=False): (
            "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding=same, bias=False, "
            "padding_mode=reflect)"
        ),
        nn.Conv2d(4, 4, 3, padding=1, dilation=2, groups=2): (
            "Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(2, 2), "
            "groups=2)"
        ),
        nn.AvgPool2d(3): "AvgPool2d(kernel_size=3, stride=3, padding=0)",
        nn.AvgPool2d((2, 3), stride=1, padding=1): (
            "AvgPool2d(kernel_size=(2, 3), stride=1, padding=1)"
        ),
        nn.GELU(): "GELU(approximate='none')",
        nn.GELU(approximate="tanh"): "GELU(approximate='tanh')",
        nn.Softmax(): "Softmax(dim=None)",
        nn.LogSoftmax(dim=1): "LogSoftmax(dim=1)",
        nn.Flatten(): "Flatten(start_dim=1, end_dim=-1)",
        nn.BatchNorm1d(3): (
            "BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, "
            "track_running_stats=True)"
        ),
        nn.BatchNorm2d(3, bias=False): (
            "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, bias=False, "
            "track_running_stats=True)"
        ),
    }
    for layer, expected in cases.items():
        assert repr(layer) == expected


def test_softmax_without_dim_takes_pytorchs_implicit_dimension_and_warns() -> None:
    x = dm.arange(24.0).reshape(2, 3, 4)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        y = F.softmax(x)
    np.testing.assert_allclose(y.numpy().sum(axis=0), np.ones((3, 4)), rtol=1e-6)  # dim 0 (3-D)
    with pytest.warns(UserWarning, match="log_softmax"):
        z = nn.LogSoftmax()(x.reshape(6, 4))
    np.testing.assert_allclose(np.exp(z.numpy()).sum(axis=1), np.ones(6), rtol=1e-6)  # dim 1


def test_batch_norm_bias_false_keeps_only_the_scale() -> None:
    bn = nn.BatchNorm1d(3, bias=False)
    assert bn.bias is None and sorted(bn.state_dict()) == [
        "num_batches_tracked",
        "running_mean",
        "running_var",
        "weight",
    ]
    x = dm.randn(4, 3, requires_grad=True)
    bn(x).sum().backward()
    assert bn.weight.grad is not None and x.grad is not None
    lazy = nn.LazyBatchNorm1d(bias=False)
    lazy(x)
    assert lazy.bias is None and isinstance(lazy, nn.BatchNorm1d)


@pytest.mark.parametrize(
    "kw",
    [
        dict(kernel_size=2, divisor_override=3),
        dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, divisor_override=5),
        dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), divisor_override=2),
    ],
)
def test_avg_pool2d_divisor_override_divides_window_sums(kw: dict[str, Any]) -> None:
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((2, 3, 7, 6)).astype(np.float64)
    k = kw["kernel_size"] if isinstance(kw["kernel_size"], tuple) else (kw["kernel_size"],) * 2
    s = kw.get("stride", k)
    s = s if isinstance(s, tuple) else (s, s)
    p = kw.get("padding", 0)
    p = p if isinstance(p, tuple) else (p, p)
    x = dm.tensor(xn, requires_grad=True)
    y = F.avg_pool2d(x, **kw)
    padded = np.pad(xn, ((0, 0), (0, 0), (p[0], p[0] + k[0]), (p[1], p[1] + k[1])))
    oh, ow = y.shape[-2:]
    ref = np.empty((2, 3, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = padded[:, :, i * s[0] : i * s[0] + k[0], j * s[1] : j * s[1] + k[1]]
            ref[:, :, i, j] = win.sum(axis=(2, 3)) / kw["divisor_override"]
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(nn.AvgPool2d(**kw)(x).detach().numpy(), ref, rtol=1e-12)
    assert dm.autograd.gradcheck(lambda t: F.avg_pool2d(t, **kw), (x,))
    with pytest.raises(dm.InvalidValueError, match="divisor"):
        F.avg_pool2d(x, 2, divisor_override=0)


def test_batch_norm_reset_parameters_restores_the_initial_state() -> None:
    for bn in (nn.BatchNorm1d(3), nn.BatchNorm2d(3, bias=False), nn.BatchNorm1d(3, affine=False)):
        bn(dm.randn(4, 3) if isinstance(bn, nn.BatchNorm1d) else dm.randn(4, 3, 2, 2))
        with dm.no_grad():
            if bn.weight is not None:
                bn.weight.fill_(3.0)
        bn.reset_parameters()
        assert bn.running_mean.tolist() == [0.0] * 3 and bn.running_var.tolist() == [1.0] * 3
        assert int(bn.num_batches_tracked) == 0
        if bn.weight is not None:
            assert bn.weight.tolist() == [1.0] * 3
        if bn.bias is not None:
            assert bn.bias.tolist() == [0.0] * 3


def test_embedding_max_norm_and_scale_grad_by_freq_follow_pytorch() -> None:
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((6, 3)) * 2
    idx = np.array([[0, 2, 2, 5], [1, 2, 0, 3]])
    g = np.arange(24.0).reshape(2, 4, 3)
    # scale_grad_by_freq: each row's gradient divided by its index's count; none to padding
    w = dm.tensor(w0, requires_grad=True)
    out = F.embedding(dm.tensor(idx), w, padding_idx=-1, scale_grad_by_freq=True)
    (out * dm.tensor(g)).sum().backward()
    want = np.zeros_like(w0)
    counts = np.bincount(idx.ravel(), minlength=6)
    for pos, i in enumerate(idx.ravel()):
        if i != 5:
            want[i] += g.reshape(-1, 3)[pos] / counts[i]
    np.testing.assert_allclose(w.grad.numpy(), want, rtol=1e-12)
    np.testing.assert_array_equal(out.detach().numpy(), w0[idx])  # the rows themselves
    # max_norm: the referenced rows above it are rescaled in place, the others untouched
    emb = nn.Embedding(6, 3, max_norm=1.5, _weight=dm.tensor(w0.copy()))
    y = emb(dm.tensor(idx))
    norms = np.linalg.norm(w0, axis=1, keepdims=True)
    want_w = np.where(
        (norms > 1.5) & np.isin(np.arange(6), idx)[:, None], w0 * 1.5 / (norms + 1e-7), w0
    )
    np.testing.assert_allclose(emb.weight.detach().numpy(), want_w, rtol=1e-12)
    np.testing.assert_allclose(y.detach().numpy(), want_w[idx], rtol=1e-12)
    assert repr(emb) == "Embedding(6, 3, max_norm=1.5)"


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.0, math.inf])
def test_pdist_is_the_upper_triangle_of_the_distances(p: float) -> None:
    xn = np.random.default_rng(0).standard_normal((5, 3))
    xn[3] = xn[1]  # a zero distance: its gradient is zero, as in PyTorch
    x = dm.tensor(xn, requires_grad=True)
    d = F.pdist(x, p)
    i, j = np.triu_indices(5, 1)
    want = np.linalg.norm(xn[i] - xn[j], ord=p, axis=1)
    np.testing.assert_allclose(d.detach().numpy(), want, rtol=1e-12)
    d.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    if p in (2.0, 3.0):
        xs = dm.tensor(np.random.default_rng(1).standard_normal((4, 3)), requires_grad=True)
        assert dm.autograd.gradcheck(lambda t: F.pdist(t, p), (xs,))
    with pytest.raises(dm.ShapeError, match="2D"):
        F.pdist(dm.ones(3))


def test_deprecated_names_warn_and_work() -> None:
    z = dm.arange(16.0).reshape(1, 1, 4, 4)
    with pytest.warns(UserWarning, match="upsample_bilinear"):
        y = F.upsample_bilinear(z, scale_factor=2)
    want = F.interpolate(z, scale_factor=2, mode="bilinear", align_corners=True)
    np.testing.assert_array_equal(y.numpy(), want.numpy())
    with pytest.warns(UserWarning, match="upsample_nearest"):
        assert F.upsample_nearest(z, size=(3, 3)).shape == (1, 1, 3, 3)
    with pytest.warns(UserWarning, match="upsample"):
        assert F.upsample(z, scale_factor=2).shape == (1, 1, 8, 8)
    with pytest.warns(FutureWarning, match="NLLLoss2d"):
        loss = nn.NLLLoss2d(reduction="sum")
    assert isinstance(loss, nn.NLLLoss)


def test_lazy_3d_layers_infer_their_sizes() -> None:
    x = dm.randn(2, 3, 4, 5, 6)
    for lazy, done in [
        (nn.LazyConv3d(4, 3, padding=1), nn.Conv3d),
        (nn.LazyConvTranspose3d(4, 2, stride=2), nn.ConvTranspose3d),
        (nn.LazyBatchNorm3d(), nn.BatchNorm3d),
        (nn.LazyInstanceNorm3d(affine=True), nn.InstanceNorm3d),
    ]:
        y = lazy(x)
        assert type(lazy) is done and y.ndim == 5
        assert lazy.weight.shape[0 if done in (nn.BatchNorm3d, nn.InstanceNorm3d) else 1] in (3, 4)


def test_lp_pool3d_is_the_window_p_norm() -> None:
    xn = np.random.default_rng(0).standard_normal((2, 3, 4, 6, 4))
    x = dm.tensor(xn, requires_grad=True)
    y = F.lp_pool3d(x, 2, 2)
    windows = (xn**2).reshape(2, 3, 2, 2, 3, 2, 2, 2).sum(axis=(3, 5, 7))
    np.testing.assert_allclose(y.detach().numpy(), np.sqrt(windows), rtol=1e-12)
    np.testing.assert_allclose(nn.LPPool3d(2, 2)(x).detach().numpy(), np.sqrt(windows))
    inf = F.lp_pool3d(x, math.inf, 2)
    want = np.abs(xn).reshape(2, 3, 2, 2, 3, 2, 2, 2).max(axis=(3, 5, 7))
    np.testing.assert_array_equal(inf.detach().numpy(), want)
    small = dm.tensor(np.abs(xn[:1, :1, :2, :2, :2]) + 0.5, requires_grad=True)
    assert dm.autograd.gradcheck(lambda t: F.lp_pool3d(t, 3, 2), (small,))
