"""PyTorch API gaps closed in session 26: jit/compiler shims, multiprocessing.spawn, hub,
profiler, storages and layouts, top-level functions (typename, binomial, fill, cond, ...),
autocast state functions, low-rank SVD/PCA, and the apicov fixes (F.linear with a 1-D weight,
cosine_similarity promotion, vander int64, cauchy_/geometric_ on 0-d).

Expected values were computed once with PyTorch 2.x and pasted as constants (no torch here)."""

from __future__ import annotations

import io
import json
import math
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import _threads
from democratising.errors import (
    CheckpointError,
    DeviceError,
    DTypeError,
    InvalidValueError,
    ShapeError,
)

# ---- apicov fixes ----------------------------------------------------------------------------


def test_linear_one_dimensional_weight_values_and_grads() -> None:
    x = dm.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    w = dm.tensor([0.5, -1.0], requires_grad=True)
    out = F.linear(x, w)
    assert out.shape == (2,)
    out.sum().backward()
    # torch: x.grad [[0.5, -1], [0.5, -1]], w.grad [4, 6]
    assert x.grad.tolist() == [[0.5, -1.0], [0.5, -1.0]]
    assert w.grad.tolist() == [4.0, 6.0]
    assert F.linear(dm.tensor([1.0, 2.0]), dm.tensor([0.5, -1.0])).item() == -1.5
    # a 0-d bias (the doc's shape for a 1-D weight) is added
    assert F.linear(x, w, dm.tensor(2.0)).tolist() == [0.5, -0.5]


def test_linear_still_rejects_mismatched_two_dimensional_weight() -> None:
    with pytest.raises(ShapeError):
        F.linear(dm.ones(2, 3), dm.ones(4, 5))


def test_cosine_similarity_promotion_both_ways() -> None:
    a = dm.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    b = dm.tensor([[1, 0, 2], [3, 1, 1]])
    out = F.cosine_similarity(a.double(), b)
    assert out.dtype == dm.float64
    np.testing.assert_allclose(out.numpy(), [0.8366600265340756, 0.3289758474798845], rtol=1e-12)
    out = F.cosine_similarity(b, a, dim=0)
    assert out.dtype == dm.float32
    np.testing.assert_allclose(
        out.numpy(), [0.7071067094802856, -0.4472135901451111, 0.9922778606414795], rtol=1e-6
    )
    with pytest.raises(DTypeError):
        F.cosine_similarity(b, b)


def test_vander_integer_and_bool() -> None:
    out = dm.linalg.vander(dm.tensor([2, 3], dtype=dm.int32), N=4)
    assert out.dtype == dm.int64
    assert out.tolist() == [[1, 2, 4, 8], [1, 3, 9, 27]]
    assert dm.linalg.vander(dm.tensor([1.5, 2.0])).dtype == dm.float32
    with pytest.raises(DTypeError):
        dm.linalg.vander(dm.tensor([True, False]))


def test_random_fills_keep_shapes() -> None:
    dm.manual_seed(3)
    assert dm.zeros(2, 3).cauchy_().shape == (2, 3)
    g = dm.zeros(4, dtype=dm.int64).geometric_(0.4)
    assert g.dtype == dm.int64 and (g >= 1).all().item()
    assert dm.tensor(1.0).cauchy_(generator=dm.Generator().manual_seed(1)).shape == ()


# ---- jit -------------------------------------------------------------------------------------


class _Small(dm.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = dm.nn.Linear(3, 2)
        self.scale = 2.0

    def forward(self, x: dm.Tensor) -> dm.Tensor:
        return self.lin(x) * self.scale


def test_jit_script_and_trace_return_the_object() -> None:
    m = _Small()

    def f(x: dm.Tensor) -> dm.Tensor:
        return x + 1

    assert dm.jit.script(m) is m
    assert dm.jit.script(f) is f
    assert dm.jit.trace(m, dm.ones(1, 3)) is m
    assert dm.jit.trace(f, (dm.ones(2),)) is f
    assert dm.jit.trace_module(m, {"forward": dm.ones(1, 3)}) is m
    assert dm.jit.script_if_tracing(f) is f
    assert not dm.jit.is_scripting() and not dm.jit.is_tracing()
    assert not isinstance(m, dm.jit.ScriptModule)
    assert issubclass(dm.jit.ScriptModule, dm.nn.Module)


def test_jit_script_module_subclass_runs_eagerly() -> None:
    class Old(dm.jit.ScriptModule):  # pre-1.0 style: a ScriptModule with script methods
        def __init__(self) -> None:
            super().__init__()
            self.w = dm.nn.Parameter(dm.ones(2))

        @dm.jit.script_method
        def forward(self, x: dm.Tensor) -> dm.Tensor:
            return x * self.w

    m = Old()
    assert isinstance(m, dm.jit.ScriptModule)
    assert m(dm.tensor([2.0, 3.0])).tolist() == [2.0, 3.0]
    assert [n for n, _ in m.named_parameters()] == ["w"]


def test_jit_decorators() -> None:
    def f() -> int:
        return 1

    assert dm.jit.ignore(f) is f
    assert dm.jit.ignore(drop=True)(f) is f
    assert dm.jit.unused(f) is f and dm.jit.export(f) is f and dm.jit.interface(f) is f
    assert dm.jit.annotate(list[int], [1, 2]) == [1, 2]
    attr = dm.jit.Attribute(3, int)
    assert attr.value == 3 and attr.type is int
    import typing

    assert dm.jit.Final is typing.Final


def test_jit_isinstance_checks_container_elements() -> None:
    # torch.jit.isinstance: True, False, True, True, True, False
    assert dm.jit.isinstance([1, 2], list[int])
    assert not dm.jit.isinstance([1, "a"], list[int])
    assert dm.jit.isinstance({"a": dm.ones(1)}, dict[str, dm.Tensor])
    assert dm.jit.isinstance((1, "a"), tuple[int, str])
    assert dm.jit.isinstance(None, Optional[int])
    assert not dm.jit.isinstance({"a": 1}, dict[str, str])
    assert dm.jit.isinstance(3, Union[str, int])


def test_jit_fork_wait_and_freeze() -> None:
    fut = dm.jit.fork(lambda a, b: a + b, 2, b=3)
    assert fut.done() and dm.jit.wait(fut) == 5
    bad = dm.jit.fork(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        bad.wait()
    m = _Small()
    with pytest.raises(RuntimeError, match="eval mode"):
        dm.jit.freeze(m)
    assert dm.jit.freeze(m.eval()) is m
    m.train()
    assert dm.jit.optimize_for_inference(m) is m and not m.training
    assert dm.jit.set_fusion_strategy([("DYNAMIC", 3)]) == [("STATIC", 2), ("DYNAMIC", 10)]
    assert dm.jit.set_fusion_strategy([("STATIC", 2), ("DYNAMIC", 10)]) == [("DYNAMIC", 3)]


def test_jit_save_load_round_trip(tmp_path: Path) -> None:
    m = _Small()
    x = dm.randn(4, 3)
    path = tmp_path / "m.pt"
    dm.jit.save(m, str(path), _extra_files={"meta.txt": "hello"})
    extra = {"meta.txt": "", "absent": ""}
    loaded = dm.jit.load(str(path), map_location="cpu", _extra_files=extra)
    assert type(loaded) is _Small and loaded.scale == 2.0
    np.testing.assert_array_equal(loaded(x).detach().numpy(), m(x).detach().numpy())
    assert extra == {"meta.txt": b"hello", "absent": ""}
    buf = io.BytesIO()
    dm.jit.save(m, buf)
    buf.seek(0)
    assert type(dm.jit.load(buf)) is _Small


def test_jit_load_refuses_other_files(tmp_path: Path) -> None:
    archive = tmp_path / "ts.pt"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("model/code/__torch__.py", "")
    with pytest.raises(CheckpointError, match="TorchScript"):
        dm.jit.load(str(archive))
    other = tmp_path / "x.bin"
    other.write_bytes(b"not a model")
    with pytest.raises(CheckpointError):
        dm.jit.load(str(other))


# ---- compiler --------------------------------------------------------------------------------


def test_compiler_shims() -> None:
    def f(x: Any) -> Any:
        return x

    c = dm.compiler
    assert not c.is_compiling() and not c.is_dynamo_compiling() and not c.is_exporting()
    assert c.disable(f) is f and c.disable()(f) is f and c.disable(recursive=False)(f) is f
    assert c.allow_in_graph(f) is f and c.assume_constant_result(f) is f
    assert c.nonstrict_trace(f) is f
    assert c.compile(f) is f
    c.reset()
    c.set_default_backend("eager")
    assert c.get_default_backend() == "eager"
    c.set_default_backend(None)
    assert c.get_default_backend() == "inductor"
    with c.set_stance("force_eager"):
        pass
    with pytest.raises(ValueError):
        c.set_stance("sometimes")


def test_compiler_wrap_numpy() -> None:
    @dm.compiler.wrap_numpy
    def f(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.sum(x * y, axis=0)

    out = f(dm.ones(2, 3), dm.ones(2, 3))
    assert isinstance(out, dm.Tensor)
    assert out.tolist() == [2.0, 2.0, 2.0]  # torch: tensor([2., 2., 2.])


# ---- multiprocessing -------------------------------------------------------------------------


def _mp_write(i: int, folder: str) -> None:
    Path(folder, f"{i}.txt").write_text(str(dm.tensor([i, 1]).sum().item()))


def _mp_fail(i: int) -> None:
    if i == 1:
        raise ValueError("boom in child")


def _mp_exit(i: int) -> None:
    sys.exit(3)


def test_spawn_runs_each_index(tmp_path: Path) -> None:
    assert dm.multiprocessing.spawn(_mp_write, args=(str(tmp_path),), nprocs=2) is None
    assert sorted(p.read_text() for p in tmp_path.iterdir()) == ["1", "2"]


def test_spawn_raises_the_child_traceback() -> None:
    with pytest.raises(dm.multiprocessing.ProcessRaisedException) as info:
        dm.multiprocessing.spawn(_mp_fail, nprocs=2)
    assert info.value.error_index == 1
    assert "ValueError: boom in child" in str(info.value)
    assert "-- Process 1 terminated with the following error:" in str(info.value)


def test_spawn_reports_exit_code_and_context() -> None:
    ctx = dm.multiprocessing.start_processes(_mp_exit, nprocs=1, join=False)
    assert isinstance(ctx, dm.multiprocessing.ProcessContext) and len(ctx.pids()) == 1
    with pytest.raises(dm.multiprocessing.ProcessExitedException) as info:
        while not ctx.join():
            pass
    assert info.value.exit_code == 3
    assert "terminated with exit code 3" in str(info.value)
    with pytest.raises(InvalidValueError):
        dm.multiprocessing.spawn(_mp_exit, nprocs=0)


def test_multiprocessing_reexports() -> None:
    import multiprocessing as std

    mp = dm.multiprocessing
    assert mp.Process is std.Process and mp.get_context is std.get_context
    assert mp.set_start_method is std.set_start_method and mp.Queue is std.Queue
    assert mp.get_sharing_strategy() in mp.get_all_sharing_strategies()
    with pytest.raises(InvalidValueError):
        mp.set_sharing_strategy("carrier pigeon")


# ---- Tensor: layout, backend queries, storages -----------------------------------------------


def test_layout_and_backend_queries() -> None:
    x = dm.zeros(2, 3)
    assert x.layout is dm.strided and isinstance(dm.strided, dm.layout)
    assert x.layout != dm.sparse_coo
    assert repr(dm.strided) == "democratising.strided"
    import pickle

    assert pickle.loads(pickle.dumps(dm.strided)) is dm.strided
    for name in (
        "is_nested",
        "is_xla",
        "is_mkldnn",
        "is_sparse_csr",
        "is_ipu",
        "is_vulkan",
        "is_mtia",
        "is_maia",
    ):
        assert getattr(x, name) is False, name


def test_storages_match_pytorch_and_detect_sharing() -> None:
    x = dm.arange(12.0).reshape(3, 4)
    s = x.untyped_storage()
    # torch: nbytes 48, size 48, element_size 1; typed: size 12, element_size 4
    assert (s.nbytes(), s.size(), len(s), s.element_size()) == (48, 48, 48, 1)
    assert s.data_ptr() == x.data_ptr() and s.device == x.device
    t = x.storage()
    assert (t.size(), len(t), t.element_size(), t.nbytes(), t.dtype) == (12, 12, 4, 48, dm.float32)
    views = [x[1:], x[:, 2], x.t(), x.reshape(12)[5:]]
    assert {v.untyped_storage().data_ptr() for v in views} == {s.data_ptr()}
    assert x[1:].storage().size() == 12  # torch: 12 (the view ends where its base does)
    assert dm.arange(12.0).untyped_storage().data_ptr() != s.data_ptr()
    assert x.clone().storage().data_ptr() != t.data_ptr()
    assert dm.is_storage(s) and dm.is_storage(t) and not dm.is_storage(x)
    assert dm.zeros(0).untyped_storage().nbytes() == 0


# ---- top-level functions ---------------------------------------------------------------------


def test_typename() -> None:
    assert dm.typename(dm.zeros(2)) == "torch.FloatTensor"
    assert dm.typename(dm.zeros(2, dtype=dm.int64)) == "torch.LongTensor"
    assert dm.typename(3) == "int" and dm.typename(len) == "len"
    assert dm.typename(np.float32(1)) == "numpy.float32"
    assert dm.typename(dm.nn.Linear) == "democratising.nn.layers.Linear"
    assert dm.typename(dm.nn.Linear(2, 2)) == "democratising.nn.layers.Linear"


def test_tensor_queries_at_top_level() -> None:
    x = dm.zeros(2, 3)
    assert dm.is_signed(x) and not dm.is_signed(x.bool())
    assert dm.is_same_size(x, dm.ones(2, 3)) and not dm.is_same_size(x, dm.ones(3, 2))
    assert not dm.is_inference(x) and not dm.is_conj(x) and not dm.is_neg(x)
    assert dm.GradScaler is dm.amp.GradScaler


def test_fill_makes_a_new_tensor() -> None:
    x = dm.zeros(2)
    y = dm.fill(x, 3.0)
    assert x.tolist() == [0.0, 0.0] and y.tolist() == [3.0, 3.0]
    assert dm.fill(dm.zeros(2, dtype=dm.int64), 2.7).tolist() == [2, 2]  # torch: [2, 2]
    assert dm.fill(x, dm.tensor(2.0)).tolist() == [2.0, 2.0]
    with pytest.raises(ShapeError):
        dm.fill(x, dm.tensor([1.0, 2.0]))


def test_binomial() -> None:
    dm.manual_seed(0)
    count = dm.tensor([10.0, 0.0, 5.0, 7.0])
    out = dm.binomial(count, dm.tensor([0.5, 0.3, 1.0, 0.0]))
    assert out.dtype == dm.float32 and out.shape == (4,)
    v = out.tolist()
    assert 0 <= v[0] <= 10 and v[0] == int(v[0]) and v[1:] == [0.0, 5.0, 0.0]
    many = dm.binomial(dm.full((20000,), 20.0), dm.full((20000,), 0.25))
    assert abs(many.mean().item() - 5.0) < 0.1 and abs(many.var().item() - 3.75) < 0.25
    a = dm.binomial(count, dm.tensor(0.5), generator=dm.Generator().manual_seed(5))
    b = dm.binomial(count, dm.tensor(0.5), generator=dm.Generator().manual_seed(5))
    assert a.tolist() == b.tolist()
    with pytest.raises(DTypeError):
        dm.binomial(dm.tensor([10]), dm.tensor([0.5]))
    with pytest.raises(InvalidValueError):
        dm.binomial(dm.tensor([1.0]), dm.tensor([1.5]))


def test_to_dlpack_and_device_module() -> None:
    capsule = dm.to_dlpack(dm.arange(3.0))
    assert type(capsule).__name__ == "PyCapsule"
    assert dm.from_dlpack(capsule).tolist() == [0.0, 1.0, 2.0]
    assert dm.get_device_module("cpu") is dm.cpu
    assert dm.get_device_module(dm.device("cuda", 1)) is dm.cuda
    assert dm.get_device_module("cuda:0") is dm.cuda
    assert dm.get_device_module() in (dm.cpu, dm.cuda)
    with pytest.raises(DeviceError):
        dm.get_device_module("xla")


def test_set_default_tensor_type() -> None:
    before = dm.get_default_dtype()
    try:
        with pytest.warns(UserWarning, match="deprecated"):
            dm.set_default_tensor_type(dm.DoubleTensor)
        assert dm.get_default_dtype() == dm.float64 and dm.zeros(1).dtype == dm.float64
        with pytest.warns(UserWarning):
            dm.set_default_tensor_type("torch.FloatTensor")
        assert dm.get_default_dtype() == dm.float32
        with pytest.raises(DTypeError):
            dm.set_default_tensor_type(dm.LongTensor)
        with pytest.raises(TypeError):
            dm.set_default_tensor_type("torch.NotATensor")
    finally:
        dm.set_default_dtype(before)
        dm.set_default_device("cpu")


def test_interop_threads_set_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_threads, "_INTEROP", [])
    assert dm.get_num_interop_threads() >= 1
    with pytest.raises(InvalidValueError):
        dm.set_num_interop_threads(0)
    dm.set_num_interop_threads(3)
    assert dm.get_num_interop_threads() == 3
    with pytest.raises(RuntimeError, match="cannot set number of interop threads"):
        dm.set_num_interop_threads(2)


def test_warn_always_flag() -> None:
    assert dm.is_warn_always_enabled() is False
    dm.set_warn_always(True)
    try:
        assert dm.is_warn_always_enabled() is True
    finally:
        dm.set_warn_always(False)


def test_cond_and_while_loop() -> None:
    one = dm.tensor(1.0)
    assert dm.cond(dm.tensor(True), lambda x: x + 1, lambda x: x - 1, (one,)).item() == 2.0
    assert dm.cond(False, lambda x: x + 1, lambda x: x - 1, [one]).item() == 0.0
    i, x = dm.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x * 2), (dm.tensor(0), one))
    assert (i.item(), x.item()) == (3, 8.0)  # torch: (tensor(3), tensor(8.))
    assert dm.while_loop(lambda i: i < 3, lambda i: (i + 1,), (0,)) == (3,)
    with pytest.raises(ShapeError):
        dm.cond(dm.tensor([True, False]), lambda: 1, lambda: 0)
    with pytest.raises(TypeError):
        dm.cond(True, lambda x: x, lambda x: x, one)
    with pytest.raises(InvalidValueError):
        dm.while_loop(lambda a, b: a < 1, lambda a, b: (a + 1,), (0, 0))
    w = dm.tensor(2.0, requires_grad=True)
    dm.cond(w > 0, lambda t: t * t, lambda t: -t, (w,)).backward()
    assert w.grad.item() == 4.0


# ---- autocast state --------------------------------------------------------------------------


def test_autocast_state_functions() -> None:
    a = dm.ones(2, 2)
    assert dm.get_autocast_dtype("cpu") == dm.bfloat16
    assert dm.get_autocast_dtype("cuda") == dm.float16
    try:
        dm.set_autocast_dtype("cpu", dm.float16)
        assert dm.get_autocast_dtype("cpu") == dm.float16
        dm.set_autocast_enabled("cpu", True)
        assert dm.is_autocast_enabled("cpu")
        assert (a @ a).dtype == dm.float16  # torch: float16 once enabled this way
        with dm.autocast("cpu"):
            assert dm.get_autocast_dtype("cpu") == dm.float16
            dm.set_autocast_dtype("cpu", dm.bfloat16)
            assert (a @ a).dtype == dm.bfloat16
        assert dm.get_autocast_dtype("cpu") == dm.float16  # the region's change ended with it
    finally:
        dm.set_autocast_enabled("cpu", False)
        dm.set_autocast_dtype("cpu", dm.bfloat16)
    assert not dm.is_autocast_enabled("cpu") and (a @ a).dtype == dm.float32
    with pytest.raises(DTypeError):
        dm.set_autocast_dtype("cpu", dm.float32)
    with pytest.raises(DeviceError):
        dm.set_autocast_enabled("xyz", True)


def test_autocast_cache_flag() -> None:
    assert dm.is_autocast_cache_enabled()
    with dm.autocast("cpu", cache_enabled=False):
        assert not dm.is_autocast_cache_enabled()
    assert dm.is_autocast_cache_enabled()
    dm.set_autocast_cache_enabled(False)
    try:
        with dm.autocast("cpu"):
            assert not dm.is_autocast_cache_enabled()  # torch: False (the region keeps it)
    finally:
        dm.set_autocast_cache_enabled(True)
    dm.clear_autocast_cache()


# ---- low-rank SVD / PCA ----------------------------------------------------------------------


def test_svd_lowrank_recovers_a_low_rank_matrix() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((30, 3)) @ rng.standard_normal((3, 20))
    for mat in (a, a.T):
        am = dm.tensor(mat)
        u, s, v = dm.svd_lowrank(am, q=5)
        assert u.shape == (mat.shape[0], 5) and s.shape == (5,) and v.shape == (mat.shape[1], 5)
        ref = np.linalg.svd(mat, compute_uv=False)
        np.testing.assert_allclose(s.numpy()[:3], ref[:3], rtol=1e-10)
        np.testing.assert_allclose((u * s) @ v.mT, mat, atol=1e-10)
    assert not hasattr(dm.linalg, "svd_lowrank")  # top-level only, as in PyTorch


def test_svd_lowrank_with_m_and_batches() -> None:
    rng = np.random.default_rng(1)
    low = rng.standard_normal((2, 12, 2)) @ rng.standard_normal((2, 2, 9))
    shift = rng.standard_normal((1, 9))  # a row, broadcast to the matrices' shape
    am = dm.tensor(low + shift)
    u, s, v = dm.svd_lowrank(am, q=4, M=dm.tensor(shift))
    assert u.shape == (2, 12, 4)
    np.testing.assert_allclose(((u * s.unsqueeze(-2)) @ v.mT).numpy(), low, atol=1e-9)


def test_pca_lowrank() -> None:
    rng = np.random.default_rng(2)
    data = rng.standard_normal((50, 2)) @ rng.standard_normal((2, 6)) + 5.0
    u, s, v = dm.pca_lowrank(dm.tensor(data))
    assert s.shape == (6,) and v.shape == (6, 6) and u.shape == (50, 6)
    ref = np.linalg.svd(data - data.mean(0), compute_uv=False)
    np.testing.assert_allclose(s.numpy()[:2], ref[:2], rtol=1e-10)
    # uncentred, the offset adds a third direction: rank 3, recovered with q=3
    _, s2, _ = dm.pca_lowrank(dm.tensor(data), q=3, center=False)
    np.testing.assert_allclose(s2.numpy(), np.linalg.svd(data, compute_uv=False)[:3], rtol=1e-8)
    with pytest.raises(InvalidValueError):
        dm.pca_lowrank(dm.tensor(data), q=7)
    with pytest.raises(DTypeError):
        dm.svd_lowrank(dm.ones(3, 3, dtype=dm.int64))
    x = dm.tensor(data, requires_grad=True)
    dm.svd_lowrank(x, q=2)[1].sum().backward()
    assert x.grad is not None and x.grad.shape == (50, 6)


# ---- hub -------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_hub_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from democratising import hub

    monkeypatch.setattr(hub, "_HUB_DIR", [None])
    monkeypatch.setenv("DEMOCRATISING_HOME", str(tmp_path / "home"))
    assert dm.hub.get_dir() == str(tmp_path / "home" / "hub")
    dm.hub.set_dir(tmp_path / "elsewhere")
    assert dm.hub.get_dir() == str(tmp_path / "elsewhere")


def test_download_url_to_file_checks_the_hash(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"democratising" * 1000)
    digest = _sha256(src)
    dst = tmp_path / "out" / "dst.bin"
    dst.parent.mkdir()
    dm.hub.download_url_to_file(src.as_uri(), str(dst), hash_prefix=digest[:10], progress=False)
    assert dst.read_bytes() == src.read_bytes()
    bad = tmp_path / "out" / "bad.bin"
    with pytest.raises(RuntimeError, match="invalid hash value"):
        dm.hub.download_url_to_file(src.as_uri(), str(bad), hash_prefix="0000", progress=False)
    assert sorted(p.name for p in dst.parent.iterdir()) == ["dst.bin"]  # nothing left behind


def test_load_state_dict_from_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from democratising import hub

    monkeypatch.setattr(hub, "_HUB_DIR", [str(tmp_path / "hub")])
    model = dm.nn.Linear(3, 2)
    plain = tmp_path / "weights.bin"
    dm.save(model.state_dict(), str(plain))
    src = tmp_path / f"weights-{_sha256(plain)[:8]}.bin"
    plain.rename(src)
    sd = dm.hub.load_state_dict_from_url(src.as_uri(), progress=False, check_hash=True)
    cached = tmp_path / "hub" / "checkpoints" / src.name
    assert cached.exists()
    fresh = dm.nn.Linear(3, 2)
    fresh.load_state_dict(sd)
    assert dm.equal(fresh.weight, model.weight)
    src.unlink()  # read from the cache from now on
    again = dm.hub.load_state_dict_from_url(src.as_uri(), map_location="cpu", progress=False)
    assert dm.equal(again["bias"], model.bias)
    # a wrong hash prefix in the name fails the download
    wrong = tmp_path / "other-deadbeef.bin"
    dm.save({"a": dm.ones(1)}, str(wrong))
    with pytest.raises(RuntimeError, match="invalid hash value"):
        dm.hub.load_state_dict_from_url(wrong.as_uri(), progress=False, check_hash=True)
    named = dm.hub.load_state_dict_from_url(
        wrong.as_uri(), model_dir=str(tmp_path / "md"), file_name="x.bin", progress=False
    )
    assert named["a"].tolist() == [1.0] and (tmp_path / "md" / "x.bin").exists()


_HUBCONF = '''
"""A test hub."""
dependencies = ["numpy"]
import helper_mod


def tiny(width=2, *, bias=True):
    """Makes a tiny model."""
    import democratising as dm
    return dm.nn.Linear(helper_mod.IN, width, bias=bias)


def _private():
    pass
'''


def _write_repo(folder: Path, deps: str = '["numpy"]') -> None:
    folder.mkdir(parents=True)
    (folder / "hubconf.py").write_text(_HUBCONF.replace('["numpy"]', deps))
    (folder / "helper_mod.py").write_text("IN = 5\n")


def test_hub_load_local(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _write_repo(repo)
    m = dm.hub.load(str(repo), "tiny", 3, source="local", bias=False)
    assert isinstance(m, dm.nn.Linear) and m.weight.shape == (3, 5) and m.bias is None
    assert dm.hub.list(str(repo), source="local") == ["tiny"]
    assert dm.hub.help(str(repo), "tiny", source="local") == "Makes a tiny model."
    with pytest.raises(RuntimeError, match="Cannot find callable"):
        dm.hub.load(str(repo), "nothing", source="local")
    with pytest.raises(InvalidValueError):
        dm.hub.load(str(repo), "tiny", source="gitlab")
    missing = tmp_path / "missing"
    _write_repo(missing, deps='["no_such_package_xyz"]')
    with pytest.raises(RuntimeError, match="Missing dependencies: no_such_package_xyz"):
        dm.hub.load(str(missing), "tiny", source="local")
    assert str(repo) not in sys.path


def test_hub_load_github_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from democratising import hub

    src = tmp_path / "src" / "owner-proj-abc123"
    _write_repo(src)
    archive = tmp_path / "zips" / "owner" / "proj" / "v1.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as z:
        for f in src.iterdir():
            z.write(f, f"owner-proj-abc123/{f.name}")
    monkeypatch.setattr(hub, "_HUB_DIR", [str(tmp_path / "hub")])
    monkeypatch.setattr(
        hub, "GITHUB_ARCHIVE", (tmp_path / "zips").as_uri() + "/{owner}/{name}/{ref}.zip"
    )
    monkeypatch.setattr("builtins.input", lambda prompt="": "n")
    with pytest.raises(InvalidValueError, match="Untrusted repository"):
        dm.hub.load("owner/proj:v1", "tiny")
    m = dm.hub.load("owner/proj:v1", "tiny", trust_repo=True, verbose=False)
    assert m.weight.shape == (2, 5)
    assert (tmp_path / "hub" / "owner_proj_v1" / "hubconf.py").exists()
    # now trusted: "check" does not ask again, and the extracted copy is reused
    archive.unlink()
    assert dm.hub.list("owner/proj:v1", verbose=False) == ["tiny"]
    with pytest.raises(InvalidValueError):
        dm.hub.load("not-a-repo", "tiny")


# ---- profiler --------------------------------------------------------------------------------


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_profiler_times_nested_regions() -> None:
    from democratising.profiler import ProfilerActivity, profile, record_function

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        with record_function("outer"):
            _busy(0.04)
            with record_function("inner"):
                _busy(0.01)
            with record_function("inner"):
                _busy(0.01)
    avg = {e.key: e for e in prof.key_averages()}
    outer, inner = avg["outer"], avg["inner"]
    assert (outer.count, inner.count) == (1, 2)
    assert inner.cpu_time_total >= 20_000 and outer.cpu_time_total >= 60_000  # microseconds
    assert math.isclose(
        outer.self_cpu_time_total, outer.cpu_time_total - inner.cpu_time_total, rel_tol=1e-9
    )
    assert math.isclose(inner.cpu_time, inner.cpu_time_total / 2)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=1)
    lines = table.splitlines()
    assert "Self CPU %" in lines[1] and "# of Calls" in lines[1]
    assert lines[3].split()[0] == "outer" and "inner" not in table
    assert lines[-1].startswith("Self CPU time total: ") and lines[-1].endswith("ms")
    assert "inner" in prof.key_averages().table(sort_by="count")


def test_profiler_module_forwards_and_shapes(tmp_path: Path) -> None:
    from democratising.nn import module as module_mod
    from democratising.profiler import profile, record_function

    plain_call = dm.nn.Module.__call__
    model = dm.nn.Sequential(dm.nn.Linear(3, 4), dm.nn.ReLU())
    with profile(record_shapes=True) as prof:
        model(dm.ones(2, 3))
        model(dm.ones(5, 3))
    assert dm.nn.Module.__call__ is plain_call  # hooks gone once the profile ends
    assert not module_mod._global_forward_pre_hooks
    avg = {e.key: e for e in prof.key_averages()}
    assert avg["nn.Module: Sequential"].count == 2 and avg["nn.Module: Linear"].count == 2
    by_shape = {(e.key, str(e.input_shapes)) for e in prof.key_averages(group_by_input_shape=True)}
    assert ("nn.Module: Linear", "[[2, 3]]") in by_shape
    assert ("nn.Module: Linear", "[[5, 3]]") in by_shape
    assert "Input Shapes" in prof.key_averages(group_by_input_shape=True).table()
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    events = json.loads(path.read_text())["traceEvents"]
    assert {e["name"] for e in events} == {
        "nn.Module: Sequential",
        "nn.Module: Linear",
        "nn.Module: ReLU",
    }
    assert all(e["ph"] == "X" and e["dur"] >= 0 for e in events)
    # outside a profile nothing is recorded
    with record_function("after"):
        pass
    assert "after" not in {e.key for e in prof.key_averages()}


def test_profiler_schedule_and_trace_handler(tmp_path: Path) -> None:
    from democratising.profiler import ProfilerAction, profile, record_function, schedule

    s = schedule(wait=1, warmup=1, active=2, repeat=1)
    # torch: NONE, WARMUP, RECORD, RECORD_AND_SAVE, NONE, NONE
    assert [s(i) for i in range(6)] == [
        ProfilerAction.NONE,
        ProfilerAction.WARMUP,
        ProfilerAction.RECORD,
        ProfilerAction.RECORD_AND_SAVE,
        ProfilerAction.NONE,
        ProfilerAction.NONE,
    ]
    saved: list[list[str]] = []

    def ready(p: Any) -> None:
        saved.append(sorted(e.name for e in p.events()))

    with pytest.warns(UserWarning, match="warmup"):  # as PyTorch's, for warmup=0
        every_third = schedule(wait=1, warmup=0, active=2)
    with profile(schedule=every_third, on_trace_ready=ready) as prof:
        for step in range(6):
            with record_function(f"step{step}"):
                pass
            prof.step()
    assert saved == [["step1", "step2"], ["step4", "step5"]]
    handler = dm.profiler.tensorboard_trace_handler(str(tmp_path / "tb"), worker_name="w0")
    with profile(on_trace_ready=handler):
        with record_function("region"):
            pass
    (out,) = list((tmp_path / "tb").iterdir())
    assert out.name.startswith("w0.") and out.name.endswith(".pt.trace.json")
    assert [e["name"] for e in json.loads(out.read_text())["traceEvents"]] == ["region"]


def test_profiler_stopped_inside_a_forward() -> None:
    from democratising.profiler import profile, record_function

    prof = profile()

    class Stopper(dm.nn.Module):
        def forward(self, x: dm.Tensor) -> dm.Tensor:
            prof.stop()
            return x

    prof.start()
    Stopper()(dm.ones(1))
    with profile() as later:
        with record_function("top"):
            pass
    (event,) = later.events()
    assert event.name == "top" and event.depth == 0


def test_profiler_record_function_as_decorator_and_threads() -> None:
    import threading

    from democratising.profiler import profile, record_function

    @record_function("decorated")
    def work() -> int:
        return 7

    with profile() as prof:
        assert work() == 7
        t = threading.Thread(target=work)
        t.start()
        t.join()
    events = [e for e in prof.events() if e.name == "decorated"]
    assert len(events) == 2 and len({e.thread for e in events}) == 2
