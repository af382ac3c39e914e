"""uint8, int8 and int16 tensors (``dm.uint8``, ``dm.int8``, ``dm.int16``): stored as
themselves, shared with NumPy, computed modulo 2**bits as in PyTorch, promoted by PyTorch's
rules (uint8 with int8 is int16), summed into int64, converted from floats through int64
(``-1.0`` is 255 in uint8), and refused where PyTorch refuses them (``mean``, int8 indices)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F

SMALL = [("uint8", np.uint8), ("int8", np.int8), ("int16", np.int16)]


def test_the_dtype_objects_and_their_aliases() -> None:
    assert dm.uint8.itemsize == 1 and dm.int8.itemsize == 1 and dm.int16.itemsize == 2
    assert dm.short is dm.int16
    assert not dm.uint8.is_signed and dm.int8.is_signed and dm.int16.is_signed
    assert not dm.uint8.is_floating_point
    assert (dm.iinfo(dm.uint8).min, dm.iinfo(dm.uint8).max) == (0, 255)
    assert (dm.iinfo(dm.int8).min, dm.iinfo(dm.int16).max) == (-128, 32767)
    assert repr(dm.tensor([1, 2], dtype=dm.uint8)) == "tensor([1, 2], dtype=democratising.uint8)"
    assert dm.tensor([1], dtype="int8").dtype is dm.int8
    assert dm.tensor([1], dtype=np.int16).dtype is dm.int16


@pytest.mark.parametrize("name,np_dtype", SMALL)
def test_numpy_round_trip_shares_memory(name: str, np_dtype: type) -> None:
    a = np.arange(6, dtype=np_dtype).reshape(2, 3)
    t = dm.from_numpy(a)
    assert t.dtype is getattr(dm, name)
    a[0, 0] = 5  # the same memory
    assert t[0, 0].item() == 5
    back = t.numpy()
    assert back.dtype == np_dtype
    np.testing.assert_array_equal(back, a)
    np.testing.assert_array_equal(np.from_dlpack(t), a)
    assert dm.from_dlpack(a).dtype is getattr(dm, name)


def test_uint8_arithmetic_wraps_modulo_256_like_pytorch() -> None:
    u = dm.tensor([250, 3, 0], dtype=dm.uint8)
    assert (u + 10).tolist() == [4, 13, 10]
    assert (u - 5).tolist() == [245, 254, 251]
    assert (u * 2).tolist() == [244, 6, 0]
    assert (-u).tolist() == [6, 253, 0]
    assert (u + 10).dtype is dm.uint8
    assert (dm.tensor([200], dtype=dm.uint8) * dm.tensor([2], dtype=dm.uint8)).tolist() == [144]
    assert (u // 7).tolist() == [35, 0, 0] and (u % 7).tolist() == [5, 3, 0]
    assert (u / 2).dtype is dm.float32 and (u / 2).tolist() == [125.0, 1.5, 0.0]
    assert (dm.tensor([3], dtype=dm.uint8) ** dm.tensor([2], dtype=dm.uint8)).tolist() == [9]
    assert u.clamp(2, 100).tolist() == [100, 3, 2]


def test_int8_and_int16_wrap_at_their_own_width() -> None:
    i8 = dm.tensor([127, -128, 5], dtype=dm.int8)
    assert (i8 + 1).tolist() == [-128, -127, 6]
    assert (-i8).tolist() == [-127, -128, -5]
    i16 = dm.tensor([32767, -2], dtype=dm.int16)
    assert (i16 + 1).tolist() == [-32768, -1]
    assert (i16 * 3).tolist() == [32765, -6]


def test_promotion_follows_pytorch() -> None:
    u = dm.tensor([1, 2], dtype=dm.uint8)
    i8 = dm.tensor([1, 2], dtype=dm.int8)
    i16 = dm.tensor([1, 2], dtype=dm.int16)
    assert (u + i8).dtype is dm.int16
    assert (u + i16).dtype is dm.int16
    assert (i8 + dm.tensor([1, 2], dtype=dm.int32)).dtype is dm.int32
    assert (u + dm.tensor([1, 2])).dtype is dm.int64
    assert (u + 1.5).dtype is dm.float32
    assert (u + dm.tensor(300)).dtype is dm.uint8  # a 0-d tensor does not widen it
    assert (u + True).dtype is dm.uint8
    assert dm.result_type(u, i8) is dm.int16
    assert dm.promote_types(dm.uint8, dm.int8) is dm.int16


def test_a_python_number_out_of_range_is_refused() -> None:
    u = dm.tensor([1, 2], dtype=dm.uint8)
    with pytest.raises(OverflowError):
        dm.full((2,), 256, dtype=dm.uint8)
    with pytest.raises(OverflowError):
        u.fill_(300)
    assert dm.full((2,), 255, dtype=dm.uint8).tolist() == [255, 255]


def test_reductions_and_comparisons() -> None:
    u = dm.tensor([[250, 3], [9, 1]], dtype=dm.uint8)
    assert u.sum().dtype is dm.int64 and u.sum().item() == 263
    assert u.sum(0).tolist() == [259, 4]
    assert u.max().dtype is dm.uint8 and u.max().item() == 250
    assert u.amin(1).tolist() == [3, 1]
    assert u.argmax().item() == 0
    assert u.cumsum(0).dtype is dm.int64
    assert (u > 5).tolist() == [[True, False], [True, False]]
    values, order = u.flatten().sort()
    assert values.tolist() == [1, 3, 9, 250] and order.tolist() == [3, 1, 2, 0]
    with pytest.raises(dm.DTypeError):
        u.mean()
    assert u.float().mean().item() == pytest.approx(65.75)


def test_conversions_wrap_through_int64_like_pytorch() -> None:
    f = dm.tensor([-1.0, 300.0, 2.7, -3.9])
    assert f.to(dm.uint8).tolist() == [255, 44, 2, 253]
    assert dm.tensor([-129.0, 200.0]).to(dm.int8).tolist() == [127, -56]
    assert dm.tensor([-1, 300]).to(dm.uint8).tolist() == [255, 44]
    u = dm.tensor([0, 128, 255], dtype=dm.uint8)
    assert u.byte() is u
    assert u.char().tolist() == [0, -128, -1]
    assert u.short().dtype is dm.int16 and u.short().tolist() == [0, 128, 255]
    assert u.long().tolist() == [0, 128, 255] and u.bool().tolist() == [False, True, True]
    np.testing.assert_allclose((u.float() / 255).numpy(), np.array([0, 128, 255]) / 255, 1e-6)
    assert u.type() == "torch.ByteTensor" and u.char().type() == "torch.CharTensor"
    assert u.short().type() == "torch.ShortTensor"
    assert u.float().type(dm.uint8).dtype is dm.uint8


def test_uint8_images_through_a_training_style_pipeline() -> None:
    images = np.random.default_rng(0).integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)
    x = dm.from_numpy(images)
    batch = x.float().div(255).sub(0.5)
    conv = dm.nn.Conv2d(3, 2, 3)
    out = conv(batch)
    out.sum().backward()
    assert conv.weight.grad is not None and out.shape == (4, 2, 6, 6)
    loader = dm.utils.data.DataLoader(
        dm.utils.data.TensorDataset(x, dm.arange(4)), batch_size=2, shuffle=False
    )
    first, _ = next(iter(loader))
    assert first.dtype is dm.uint8 and first.shape == (2, 3, 8, 8)
    collated = dm.utils.data.default_collate([images[0], images[1]])
    assert collated.dtype is dm.uint8


def test_indexing_with_and_into_small_integer_tensors() -> None:
    x = dm.arange(3.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        picked = x[dm.tensor([1, 0, 1], dtype=dm.uint8)]  # PyTorch's legacy byte mask
    assert picked.tolist() == [0.0, 2.0]
    assert any("uint8" in str(w.message) for w in caught)
    for dt in (dm.int8, dm.int16):
        with pytest.raises(IndexError):
            x[dm.tensor([1, 0], dtype=dt)]
    u = dm.tensor([10, 20, 30, 40], dtype=dm.uint8)
    assert u[dm.tensor([3, 0])].tolist() == [40, 10]
    assert u[1:3].tolist() == [20, 30] and u[::2].tolist() == [10, 30]
    u[0] = 255
    assert u.tolist() == [255, 20, 30, 40]
    assert dm.where(u > 25, u, dm.zeros_like(u)).tolist() == [255, 0, 30, 40]
    assert dm.cat([u, u[:1]]).dtype is dm.uint8
    assert u.index_add(0, dm.tensor([0, 1]), dm.tensor([1, 250], dtype=dm.uint8)).tolist() == [
        0,
        14,
        30,
        40,
    ]
    assert u.reshape(2, 2).t().contiguous().tolist() == [[255, 30], [20, 40]]


def test_creation_and_random_draws() -> None:
    assert dm.zeros(2, dtype=dm.uint8).tolist() == [0, 0]
    assert dm.ones(2, 2, dtype=dm.int8).sum().item() == 4
    assert dm.arange(5, dtype=dm.int16).tolist() == [0, 1, 2, 3, 4]
    dm.manual_seed(0)
    r = dm.randint(0, 256, (1000,), dtype=dm.uint8)
    assert r.dtype is dm.uint8 and 0 <= r.min().item() and r.max().item() <= 255
    assert r.long().max().item() > 200
    with pytest.raises(ValueError):
        dm.randint(0, 300, (2,), dtype=dm.uint8)
    assert dm.empty(3, dtype=dm.int8).dtype is dm.int8
    assert dm.full_like(r[:2], 7).dtype is dm.uint8
    assert dm.randperm(10, dtype=dm.uint8).sort().values.tolist() == list(range(10))


def test_small_integer_tensors_cannot_require_grad() -> None:
    with pytest.raises(RuntimeError):
        dm.tensor([1, 2], dtype=dm.uint8, requires_grad=True)


def test_saved_and_loaded_with_their_dtype(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tensors = {
        "u": dm.tensor([0, 255], dtype=dm.uint8),
        "c": dm.tensor([-128, 127], dtype=dm.int8),
        "s": dm.tensor([-32768, 32767], dtype=dm.int16),
    }
    dm.save(tensors, tmp_path / "t.pt")
    back = dm.load(tmp_path / "t.pt")
    for k, v in tensors.items():
        assert back[k].dtype is v.dtype and back[k].tolist() == v.tolist()
    from democratising.checkpoint import load_file, save_file

    save_file(tensors, str(tmp_path / "t.safetensors"))
    loaded = load_file(str(tmp_path / "t.safetensors"))
    for k, v in tensors.items():
        assert loaded[k].dtype is v.dtype and loaded[k].tolist() == v.tolist()


def test_views_of_bytes() -> None:
    f = dm.tensor([1.0], dtype=dm.float32)
    b = f.view(dm.uint8)
    assert b.dtype is dm.uint8 and b.tolist() == list(np.float32(1.0).tobytes())


def test_data_outside_the_dtype_is_refused_not_wrapped() -> None:
    with pytest.raises(OverflowError):
        dm.tensor([300], dtype=dm.uint8)
    assert dm.tensor([-1], dtype=dm.uint8).tolist() == [255]  # (PyTorch's -255..-1 wrap)
    with pytest.raises(OverflowError):
        dm.tensor([-256], dtype=dm.uint8)
    with pytest.raises(OverflowError):
        dm.tensor([128], dtype=dm.int8)
    with pytest.raises(OverflowError):  # (PyTorch casts NumPy data, wrapping it)
        dm.tensor(np.array([40000]), dtype=dm.int16)
    assert dm.tensor([1.7, 255.0], dtype=dm.uint8).tolist() == [1, 255]
    assert dm.tensor([5, 3], dtype=dm.uint8).bitwise_not().tolist() == [250, 252]
    assert (dm.tensor([5, 3], dtype=dm.uint8) & 6).tolist() == [4, 2]
    assert dm.tensor([1, 2], dtype=dm.uint8).bitwise_left_shift(7).tolist() == [128, 0]
    assert dm.tensor([200], dtype=dm.uint8).sum(dtype=dm.uint8).item() == 200


def test_values_pytorch_gives_for_edge_operands() -> None:
    # Each expected value is what PyTorch 2.15 returns for the same call.
    u = dm.tensor([0, 7, 200, 255], dtype=dm.uint8)
    assert dm.maximum(u, dm.tensor(300)).tolist() == [44, 44, 200, 255]  # 300 is 44 in uint8
    assert (u // dm.tensor(-7, dtype=dm.int8)).tolist() == [0, 0, 0, 1]
    assert (u % dm.tensor(-7, dtype=dm.int8)).tolist() == [0, 7, 200, 6]
    assert (u / 256).tolist() == [0.0, 0.02734375, 0.78125, 0.99609375]  # true division
    assert (dm.tensor([-100, 100], dtype=dm.int8) / 255).dtype is dm.float32
    assert u.clamp(max=300).tolist() == [0, 7, 200, 255]
    assert u.clamp(min=-5).tolist() == [0, 7, 200, 255]
    assert u.clone().clamp_(max=300).tolist() == [0, 7, 200, 255]
    with pytest.raises(OverflowError):
        u.clamp(max=-1)  # (no uint8 is at most -1)
    with pytest.raises(OverflowError):
        u.clone().clamp_(min=300)
    assert dm.full((2,), -1, dtype=dm.uint8).tolist() == [255, 255]
    assert (u + (-1)).tolist() == [255, 6, 199, 254]
    assert (u * -1).tolist() == [0, 249, 56, 1]
    assert u.all().dtype is dm.uint8 and u.all().item() == 0 and u.any().item() == 1
    f = dm.tensor([float("inf"), 1e10, float("nan")])
    assert f.to(dm.uint8).tolist() == [0, 0, 0] and f[1:2].to(dm.int16).tolist() == [0]
    assert dm.copysign(u, -1).tolist() == [-0.0, -7.0, -200.0, -255.0]


def test_uint8_images_resize_as_in_pytorch() -> None:
    x = (dm.arange(16) * 16).to(dm.uint8).reshape(1, 1, 4, 4)
    assert F.interpolate(x, size=(2, 2), mode="bilinear").tolist() == [[[[40, 72], [168, 200]]]]
    assert F.interpolate(x, size=(3, 5), mode="bilinear", align_corners=True).tolist() == [
        [[[0, 12, 24, 36, 48], [96, 108, 120, 132, 144], [192, 204, 216, 228, 240]]]
    ]
    up = F.interpolate(x, size=(6, 6), mode="bicubic")
    # (PyTorch weighs in fixed point: its bicubic values are within 1 of these)
    torch_row = np.array([77, 85, 97, 107, 120, 127])
    assert up.dtype is dm.uint8 and np.abs(up[0, 0, 2].numpy() - torch_row).max() <= 1
    aa = F.interpolate(x, size=(2, 3), mode="bilinear", antialias=True)
    assert aa.tolist() == [[[[51, 70, 89], [151, 170, 189]]]]
    assert F.interpolate(x, scale_factor=2, mode="nearest").dtype is dm.uint8
    with pytest.raises(TypeError):
        F.interpolate(x.long(), size=(2, 2), mode="bilinear")  # (PyTorch: not for int64)


def test_more_entry_points_take_the_new_dtypes() -> None:
    b = dm.frombuffer(bytearray(b"\x01\xff\x02"), dtype=dm.uint8)
    assert b.dtype is dm.uint8 and b.tolist() == [1, 255, 2]
    a = np.array([3, 4], dtype=np.uint8)
    shared = dm.as_tensor(a)
    a[0] = 9
    assert shared.tolist() == [9, 4]  # as_tensor shares a uint8 array's memory
    assert dm.from_numpy(np.array([200], np.uint8)).to(dm.int8).tolist() == [-56]  # a cast
    assert dm.as_tensor(np.array([255, -1]), dtype=dm.uint8).tolist() == [255, 255]
    x = dm.arange(4.0)
    assert x[dm.tensor(1, dtype=dm.int8)].item() == 1.0  # a 0-d integer is an index
    with pytest.warns(UserWarning, match="uint8"):
        y = x.index_put((dm.tensor([1, 0, 0, 1], dtype=dm.uint8),), dm.tensor(7.0))
    assert y.tolist() == [7.0, 1.0, 2.0, 7.0]
    assert dm.nn.functional.one_hot(dm.tensor([1, 2], dtype=dm.uint8), 3).tolist() == [
        [0, 1, 0],
        [0, 0, 1],
    ]
    assert not dm.tensor([1], dtype=dm.uint8).is_signed() and dm.tensor([1]).is_signed()
    s = dm.tensor([1, 2], dtype=dm.int16).share_memory_()
    assert s.is_shared() and s.dtype is dm.int16


def test_where_takes_a_uint8_condition_with_pytorchs_deprecation_warning() -> None:
    cond = dm.tensor([0, 3, 1, 0], dtype=dm.uint8)
    with pytest.warns(UserWarning, match="uint8 condition"):
        picked = dm.where(cond, 1, 2)
    assert picked.tolist() == [2, 1, 1, 2]
    (rows,) = dm.where(cond)  # (nonzero: no warning, as in PyTorch)
    assert rows.tolist() == [1, 2]
