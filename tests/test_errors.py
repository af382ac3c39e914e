"""Typed errors: every failure is a DemocratisingError subclass with a useful message, never a
Rust panic surfacing as pyo3's PanicException (a BaseException)."""

from __future__ import annotations

import random
from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm


def _raises(fn: Callable[[], Any], cls: type) -> BaseException:
    """Runs ``fn`` expecting ``cls``; a panic (BaseException) fails the test instead of escaping."""
    try:
        fn()
    except Exception as e:
        assert isinstance(e, cls), f"expected {cls.__name__}, got {type(e).__name__}: {e}"
        assert isinstance(e, dm.DemocratisingError), f"{type(e).__name__} is not typed: {e}"
        return e
    except BaseException as e:
        pytest.fail(f"raised a non-Exception {type(e).__name__} (a Rust panic?): {e}")
    pytest.fail(f"did not raise {cls.__name__}")


def test_hierarchy() -> None:
    assert issubclass(dm.ShapeError, ValueError)
    assert issubclass(dm.DTypeError, TypeError)
    assert issubclass(dm.DeviceError, RuntimeError)
    for cls in (dm.ShapeError, dm.DTypeError, dm.DeviceError, dm.CheckpointError):
        assert issubclass(cls, dm.DemocratisingError)
    assert issubclass(dm.DemocratisingError, Exception)


SHAPE_CASES: list[tuple[str, Callable[[], Any], list[str]]] = [
    ("add", lambda: dm.ones(2, 3) + dm.ones(4), ["[2, 3]", "[4]"]),
    ("mul_broadcast", lambda: dm.ones(2, 3) * dm.ones(2, 2), ["[2, 3]", "[2, 2]"]),
    ("matmul", lambda: dm.ones(2, 3) @ dm.ones(4, 2), ["[2, 3]", "[4, 2]"]),
    ("matmul_batch", lambda: dm.ones(2, 3, 4) @ dm.ones(3, 4, 5), ["[2, 3, 4]", "[3, 4, 5]"]),
    ("matmul_vec", lambda: dm.ones(3) @ dm.ones(4), ["[3]", "[4]"]),
    ("reshape", lambda: dm.ones(2, 3).reshape(4, 2), ["[4, 2]", "[2, 3]"]),
    ("view_noncontig", lambda: dm.ones(2, 3).T.view(6), ["[3, 2]"]),
    ("expand", lambda: dm.ones(2, 3).expand(3, 3), ["[2, 3]", "[3, 3]"]),
    ("cat", lambda: dm.cat([dm.ones(2, 3), dm.ones(2, 4)]), ["[2, 3]", "[2, 4]"]),
    ("stack", lambda: dm.stack([dm.ones(2, 3), dm.ones(3, 2)]), ["[2, 3]", "[3, 2]"]),
    ("where", lambda: dm.where(dm.tensor([True, False, True]), dm.ones(2), 0.0), ["[3]", "[2]"]),
    ("masked_fill", lambda: dm.ones(2, 3).masked_fill(dm.ones(4, dtype=dm.bool), 0.0), ["[4]"]),
    ("gather", lambda: dm.ones(2, 3).gather(1, dm.zeros(2, dtype=dm.int64)), ["[2]", "[2, 3]"]),
    ("setitem", lambda: dm.ones(2, 3).__setitem__(0, dm.ones(4)), ["[4]", "[3]"]),
    ("copy_", lambda: dm.ones(2, 3).copy_(dm.ones(4)), ["[4]", "[2, 3]"]),
    ("backward_gradient", lambda: (dm.ones(2, requires_grad=True) * 2).backward(dm.ones(3)), []),
    ("mm", lambda: dm.ones(2, 2, 2).mm(dm.ones(2, 2)), ["[2, 2, 2]"]),
    ("t_3d", lambda: dm.ones(2, 2, 2).t(), ["[2, 2, 2]"]),
    ("huge_shape", lambda: dm.zeros(2**40, 2**40), []),
    ("expand_leading_minus_one", lambda: dm.ones(3).expand(-1, 3), []),
]


@pytest.mark.parametrize(("name", "fn", "names"), SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES])
def test_shape_errors_name_the_shapes(name: str, fn: Callable[[], Any], names: list[str]) -> None:
    e = _raises(fn, dm.ShapeError)
    assert isinstance(e, ValueError)
    for s in names:
        assert s in str(e), f"message {str(e)!r} should name {s}"


DTYPE_CASES: list[tuple[str, Callable[[], Any]]] = [
    ("int_requires_grad", lambda: dm.tensor([1, 2]).requires_grad_()),
    ("where_cond", lambda: dm.where(dm.ones(3), dm.ones(3), 0.0)),
    ("gather_index", lambda: dm.ones(2, 3).gather(1, dm.ones(2, 1))),
    ("index_select_index", lambda: dm.ones(2, 3).index_select(0, dm.ones(1))),
    ("index_float", lambda: dm.ones(3)[dm.tensor([0.5])]),
    ("masked_fill_mask", lambda: dm.ones(2).masked_fill(dm.ones(2), 0.0)),
    ("bool_sub", lambda: dm.tensor([True]) - dm.tensor([True])),
    ("bool_neg", lambda: -dm.tensor([True])),
    ("mean_int", lambda: dm.tensor([1, 2]).mean()),
    ("inplace_int_from_float", lambda: dm.ones(3, dtype=dm.int64).add_(1.5)),
    ("numpy_bfloat16", lambda: dm.ones(2, dtype=dm.bfloat16).numpy()),
    ("bad_dtype_name", lambda: dm.ones(2, dtype="complex64")),
    ("bad_dtype_object", lambda: dm.zeros(2, dtype=5)),
    ("from_numpy_complex", lambda: dm.from_numpy(np.ones(2, dtype=np.complex64))),
    ("rand_int", lambda: dm.rand(2, dtype=dm.int64)),
    (
        "set_grad_dtype",
        lambda: setattr(dm.ones(2, requires_grad=True), "grad", dm.ones(2).double()),
    ),
]


@pytest.mark.parametrize(("name", "fn"), DTYPE_CASES, ids=[c[0] for c in DTYPE_CASES])
def test_dtype_errors(name: str, fn: Callable[[], Any]) -> None:
    e = _raises(fn, dm.DTypeError)
    assert isinstance(e, TypeError)
    assert str(e)


DEVICE_CASES: list[tuple[str, Callable[[], Any]]] = [
    ("zeros", lambda: dm.zeros(2, device="cuda")),
    ("ones_cuda0", lambda: dm.ones(2, device="cuda:0")),
    ("device_obj", lambda: dm.randn(2, device=dm.Device.cuda(0))),
    ("tensor", lambda: dm.tensor([1.0], device="cuda")),
    ("arange", lambda: dm.arange(3, device="cuda")),
    ("zeros_like", lambda: dm.zeros_like(dm.ones(2), device="cuda")),
    ("full_like", lambda: dm.full_like(dm.ones(2), 1.0, device="cuda")),
    ("method_cuda", lambda: dm.ones(2).cuda()),
    ("to_cuda", lambda: dm.ones(2).to("cuda")),
    ("to_device_kw", lambda: dm.ones(2).to(device="cuda:0")),
    ("cuda_all", lambda: dm.Device.cuda_all()),
    ("unknown", lambda: dm.ones(2, device="tpu")),
]


@pytest.mark.parametrize(("name", "fn"), DEVICE_CASES, ids=[c[0] for c in DEVICE_CASES])
def test_device_errors(name: str, fn: Callable[[], Any]) -> None:
    e = _raises(fn, dm.DeviceError)
    assert isinstance(e, RuntimeError)
    assert "cuda" in str(e).lower() or "tpu" in str(e)


def test_devices() -> None:
    assert dm.Device("cpu") == dm.Device.cpu()
    assert dm.Device("cuda:1") == dm.Device.cuda(1)
    assert dm.Device.cuda(0).type == "cuda" and dm.Device.cuda(0).index == 0
    assert dm.ones(1, device="cpu").device == dm.Device("cpu")
    assert dm.ones(1).to("cpu").device.type == "cpu"


INDEX_CASES: list[tuple[str, Callable[[], Any]]] = [
    ("sum", lambda: dm.ones(2, 3).sum(2)),
    ("sum_neg", lambda: dm.ones(2, 3).sum(-3)),
    ("softmax", lambda: dm.ones(2, 3).softmax(5)),
    ("transpose", lambda: dm.ones(2, 3).transpose(0, 2)),
    ("unsqueeze", lambda: dm.ones(2, 3).unsqueeze(4)),
    ("squeeze", lambda: dm.ones(2, 3).squeeze(3)),
    ("flatten", lambda: dm.ones(2, 3).flatten(0, 5)),
    ("size", lambda: dm.ones(2, 3).size(2)),
    ("stride", lambda: dm.ones(2, 3).stride(-3)),
    ("cat", lambda: dm.cat([dm.ones(2), dm.ones(2)], 1)),
    ("stack", lambda: dm.stack([dm.ones(2), dm.ones(2)], 3)),
    ("argmax", lambda: dm.ones(2, 3).argmax(2)),
    ("max", lambda: dm.ones(2, 3).max(2)),
    ("permute", lambda: dm.ones(2, 3).permute(0, 0)),
    ("narrow", lambda: dm.ones(2, 3).narrow(1, 2, 3)),
    ("narrow_0d", lambda: dm.tensor(1.0).narrow(0, 0, 1)),
    ("select_0d", lambda: dm.tensor(1.0).select(0, 0)),
    ("unbind_0d", lambda: dm.tensor(1.0).unbind()),
    ("getitem", lambda: dm.ones(3)[3]),
    ("getitem_tensor", lambda: dm.ones(3)[dm.tensor([0, 3])]),
    ("gather_value", lambda: dm.ones(2, 3).gather(1, dm.tensor([[3], [0]]))),
    ("amax_empty", lambda: dm.zeros(0, 3).amax(0)),
    ("huge_dim", lambda: dm.ones(3).sum(2**62)),
]


@pytest.mark.parametrize(("name", "fn"), INDEX_CASES, ids=[c[0] for c in INDEX_CASES])
def test_bad_dims_raise_index_error(name: str, fn: Callable[[], Any]) -> None:
    e = _raises(fn, IndexError)
    assert str(e)


VALUE_CASES: list[tuple[str, Callable[[], Any]]] = [
    ("item", lambda: dm.ones(2).item()),
    ("bool", lambda: bool(dm.ones(2))),
    ("arange_step0", lambda: dm.arange(0, 5, 0)),
    ("randint_bounds", lambda: dm.randint(5, 2, (3,))),
    ("linspace_negative", lambda: dm.linspace(0, 1, -1)),
    ("eye_negative", lambda: dm.eye(-1)),
    ("randperm_negative", lambda: dm.randperm(-2)),
    ("narrow_negative_length", lambda: dm.ones(3).narrow(0, 0, -1)),
    ("negative_size", lambda: dm.zeros(2, -1)),
    ("int_div_zero", lambda: dm.tensor([2]) // 0),
    ("int_mod_zero", lambda: dm.tensor([2]) % 0),
    ("int_negative_pow", lambda: dm.tensor([2]) ** -1),
    ("chunk0", lambda: dm.ones(3).chunk(0)),
    ("negative_step", lambda: dm.ones(3)[::-1]),
]


@pytest.mark.parametrize(("name", "fn"), VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_value_errors(name: str, fn: Callable[[], Any]) -> None:
    _raises(fn, ValueError)


def test_autograd_errors_are_runtime_errors() -> None:
    e = _raises(lambda: dm.ones(2).sum().backward(), RuntimeError)
    assert "grad" in str(e)
    x = dm.ones(2, requires_grad=True)
    _raises(lambda: (x * 2).backward(), RuntimeError)
    _raises(lambda: x.add_(1.0), RuntimeError)


def test_out_of_memory_is_an_error_not_an_abort() -> None:
    e = _raises(lambda: dm.empty(2**45), MemoryError)
    assert "shape" in str(e)
    _raises(lambda: dm.arange(0, 1e18), MemoryError)
    _raises(lambda: dm.randn(2**45), MemoryError)


@pytest.mark.parametrize(
    "fn",
    [
        lambda: dm.tensor([-(2**63)]) // -1,
        lambda: dm.tensor([-(2**63)]) % -1,
        lambda: dm.tensor([-(2**31)], dtype=dm.int32) // -1,
        lambda: dm.tensor([2**62]) * 4,
        lambda: dm.tensor([10]) ** 40,
        lambda: dm.tensor([float("nan"), 1e30]).long(),
        lambda: dm.ones(3)[2**62 :],
        lambda: dm.ones(3)[[]],
        lambda: dm.ones(0, 3) @ dm.ones(3, 0),
        lambda: dm.ones(2, 0) @ dm.ones(0, 3),
        lambda: dm.tensor(1.0).softmax(0),
        lambda: dm.tensor(1.0).max(0),
        lambda: dm.ones(0, requires_grad=True).sum().backward(),
        lambda: dm.ones(3).expand(2, 3).contiguous(),
        lambda: dm.stack([dm.zeros(0), dm.zeros(0)]),
        lambda: dm.stack([dm.zeros(0, 2, dtype=dm.bool)] * 3, 1),
        lambda: dm.zeros(2, 0)[1] + 1,
        lambda: dm.zeros(3, 0)[2:, :].sum(0),
        lambda: dm.zeros(2, 0).unbind(0)[1].fill_(1.0),
    ],
)
def test_edge_cases_do_not_panic(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception as e:
        assert isinstance(e, (dm.DemocratisingError, TypeError, ValueError, IndexError))
    except BaseException as e:
        pytest.fail(f"panicked: {type(e).__name__}: {e}")


def test_empty_views_keep_their_shapes() -> None:
    assert dm.stack([dm.zeros(0), dm.zeros(0)]).shape == (2, 0)
    assert dm.zeros(2, 0)[1].shape == (0,)
    assert dm.cat([dm.zeros(2, 0), dm.zeros(3, 0)]).shape == (5, 0)


def test_integer_overflow_wraps_like_pytorch() -> None:
    assert (dm.tensor([-(2**63)]) // -1).tolist() == [-(2**63)]
    assert (dm.tensor([-(2**63)]) % -1).tolist() == [0]
    assert (dm.tensor([2**62]) * 4).tolist() == [0]
    assert dm.ones(3)[[]].shape == (0,)


_FUZZ_SHAPES = [(), (0,), (3,), (2, 0), (1, 3), (2, 3, 1), (0, 2, 3)]
_FUZZ_DTYPES = [dm.float32, dm.float64, dm.int64, dm.int32, dm.bool, dm.float16, dm.bfloat16]
_FUZZ_DIMS = [None, 0, 1, -1, 2, -3, 5, (0, 1), (-1,), (0, 0)]


def _fuzz_ops(r: random.Random) -> list[Callable[[dm.Tensor], Any]]:
    def d() -> Any:
        return r.choice(_FUZZ_DIMS)

    def i() -> int:
        return r.choice([0, 1, -1, 2, 3, -5])

    return [
        lambda t: t.sum(d()),
        lambda t: t.mean(d(), keepdim=True),
        lambda t: t.var(d()),
        lambda t: t.amax(d()),
        lambda t: t.argmax(i()),
        lambda t: t.max(i()),
        lambda t: t.logsumexp(d()),
        lambda t: t.softmax(i()),
        lambda t: t.log_softmax(i()),
        lambda t: t.view(r.choice([(-1,), (1, -1), (0,), (3, -1)])),
        lambda t: t.transpose(i(), i()),
        lambda t: t.squeeze(i()),
        lambda t: t.unsqueeze(i()),
        lambda t: t.flatten(i(), i()),
        lambda t: t.narrow(i(), i(), r.choice([0, 1, 2])),
        lambda t: t.select(i(), i()),
        lambda t: t.expand(r.choice([(2, 3), (-1,), (4, -1, -1), (3, 2, 3, 1)])),
        lambda t: t.unbind(i()),
        lambda t: t.chunk(r.choice([1, 3]), i()),
        lambda t: t.gather(i(), dm.zeros(t.shape, dtype=dm.int64)),
        lambda t: t.index_select(i(), dm.tensor([0])),
        lambda t: dm.cat([t, t], i()),
        lambda t: dm.stack([t, t], i()),
        lambda t: t @ t,
        lambda t: t // 2 + t % 3,
        lambda t: (t * 2.5) ** 2,
        lambda t: t.sqrt().log().exp(),
        lambda t: t.clamp(0, 1),
        lambda t: t[..., None][0],
        lambda t: t[[0]],
        lambda t: t.add_(1),
        lambda t: t.clamp_(0, 1),
        lambda t: t.copy_(t.T if t.ndim == 2 else t),
        lambda t: t.__setitem__(0, 1),
        lambda t: t.__setitem__(..., 2),
        lambda t: t.sum().backward(),
        lambda t: repr(t.bfloat16().half().bool()),
    ]


def test_random_op_sequences_raise_only_typed_errors() -> None:
    """3000 random calls over odd shapes, dtypes, dims and views: each either succeeds or raises
    a class of ``democratising.errors`` (never a panic, never a bare built-in error), and most
    succeed, so the fuzz exercises the ops rather than their argument checks."""
    r = random.Random(1234)
    ops = _fuzz_ops(r)
    ok = failed = 0
    for _ in range(3000):
        t = (dm.randn(r.choice(_FUZZ_SHAPES)) * 3).to(r.choice(_FUZZ_DTYPES))
        if t.dtype == dm.float64 and r.random() < 0.5:
            t = t.requires_grad_() * 1.0
        if t.ndim >= 2 and r.random() < 0.3:
            t = t.transpose(0, 1)
        op = r.choice(ops)
        try:
            op(t)
            ok += 1
        except dm.DemocratisingError:
            failed += 1
        except BaseException as e:
            pytest.fail(f"untyped error on {tuple(t.shape)} {t.dtype}: {type(e).__name__}: {e}")
    assert ok + failed == 3000
    assert 0.4 * 3000 < ok < 0.95 * 3000, (ok, failed)


def test_cross_entropy_refuses_integer_logits() -> None:
    with pytest.raises(dm.DTypeError, match="floating point logits"):
        dm.nn.CrossEntropyLoss()(dm.tensor([[1, 2], [3, 4]]), dm.tensor([0, 1]))


def test_layers_refuse_an_input_of_another_dtype_like_pytorch() -> None:
    lin = dm.nn.Linear(4, 3)
    with pytest.raises(dm.DTypeError, match="int64 does not match the weight's float32"):
        lin(dm.tensor([[1, 2, 3, 4]]))
    with pytest.raises(dm.DTypeError, match="float64"):
        lin(dm.randn(2, 4, dtype=dm.float64))
    conv = dm.nn.Conv2d(1, 2, 3)
    with pytest.raises(dm.DTypeError, match="conv2d"):
        conv(dm.randn(1, 1, 5, 5, dtype=dm.float64))
    assert lin.double()(dm.randn(2, 4, dtype=dm.float64)).dtype == dm.float64
    with dm.autocast("cpu", dtype=dm.bfloat16):
        assert conv(dm.randn(1, 1, 5, 5)).dtype == dm.bfloat16


def test_shape_dtype_and_value_errors_are_also_runtime_errors_like_pytorch() -> None:
    """Code written for PyTorch catches these mistakes with ``except RuntimeError``."""
    with pytest.raises(RuntimeError):
        dm.randn(2, 3) @ dm.randn(2, 3)
    with pytest.raises(RuntimeError):
        bool(dm.ones(2))
    with pytest.raises(RuntimeError):
        dm.tensor([1, 2]).requires_grad_()
    assert issubclass(dm.ShapeError, ValueError) and issubclass(dm.DTypeError, TypeError)


@pytest.mark.parametrize(
    ("op", "call", "shapes"),
    [
        ("add", lambda: dm.ones(2, 3) + dm.ones(4), ((2, 3), (4,))),
        ("eq", lambda: dm.ones(2, 3) == dm.ones(2, 2), ((2, 3), (2, 2))),
        ("matmul", lambda: dm.ones(2, 3) @ dm.ones(4, 5), ((2, 3), (4, 5))),
        (
            "linear",
            lambda: dm.nn.functional.linear(dm.ones(2, 3), dm.ones(4, 5)),
            ((2, 3), (4, 5)),
        ),
        (
            "cross_entropy",
            lambda: dm.nn.functional.cross_entropy(dm.ones(2, 3), dm.zeros(3).long()),
            ((2, 3), (3,)),
        ),
        (
            "conv2d",
            lambda: dm.nn.functional.conv2d(dm.ones(1, 3, 5, 5), dm.ones(2, 4, 3, 3)),
            ((1, 3, 5, 5), (2, 4, 3, 3)),
        ),
        ("cat", lambda: dm.cat([dm.ones(2, 3), dm.ones(2, 4)]), ((2, 3), (2, 4))),
        ("stack", lambda: dm.stack([dm.ones(2, 3), dm.ones(3, 2)]), ((2, 3), (3, 2))),
    ],
)
def test_shape_errors_name_the_op_and_its_operands(op: str, call: Any, shapes: tuple) -> None:
    with pytest.raises(dm.ShapeError) as info:
        call()
    e = info.value
    assert (e.op, e.shapes) == (op, shapes)
    assert len(e.dtypes) == 2 and all(isinstance(d, dm.dtype) for d in e.dtypes)
    assert str(shapes[0][0]) in str(e)


@pytest.mark.parametrize(
    ("op", "call", "shapes"),
    [
        (
            "linear",
            lambda: dm.nn.functional.linear(dm.ones(2, 3), dm.ones(4, 3, dtype=dm.float64)),
            ((2, 3), (4, 3)),
        ),
        (
            "conv2d",
            lambda: dm.nn.functional.conv2d(
                dm.ones(1, 3, 5, 5), dm.ones(2, 3, 3, 3), dm.ones(2, dtype=dm.float64)
            ),
            ((1, 3, 5, 5), (2, 3, 3, 3), (2,)),
        ),
    ],
)
def test_dtype_mismatches_name_the_op_and_its_operands(op: str, call: Any, shapes: tuple) -> None:
    with pytest.raises(dm.DTypeError) as info:
        call()
    assert (info.value.op, info.value.shapes) == (op, shapes)
    assert dm.float64 in info.value.dtypes


def test_cross_entropy_weight_and_probability_shapes_carry_context() -> None:
    functional = dm.nn.functional
    with pytest.raises(dm.ShapeError) as info:
        functional.cross_entropy(dm.ones(2, 3), dm.tensor([0, 1]), weight=dm.ones(4))
    assert (info.value.op, info.value.shapes) == ("cross_entropy", ((2, 3), (2,), (4,)))
    with pytest.raises(dm.ShapeError) as info:
        functional.cross_entropy(dm.ones(2, 3), dm.ones(2, 4))
    assert (info.value.op, info.value.shapes) == ("cross_entropy", ((2, 3), (2, 4)))


def test_where_names_its_three_operands() -> None:
    with pytest.raises(dm.ShapeError) as info:
        dm.where(dm.ones(2, 3) > 0, dm.ones(2, 3), dm.ones(4))
    assert (info.value.op, info.value.shapes) == ("where", ((2, 3), (2, 3), (4,)))
    assert len(info.value.dtypes) == 3


def test_errors_without_operands_have_empty_context() -> None:
    with pytest.raises(dm.ShapeError) as info:
        dm.ones(2, 3).reshape(7)
    assert (info.value.op, info.value.shapes, info.value.dtypes) == (None, (), ())
