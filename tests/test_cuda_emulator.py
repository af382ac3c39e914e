"""The CPU emulation of the CUDA kernels: builds ``rust/core/src/cuda/kernels/*.cu`` with the host
C++ compiler against ``emulation/cuda_shim.h`` into one shared library, loads it with ctypes and
launches kernels by name. This module holds the harness (used by ``test_cuda_kernels.py``) and
the tests of the emulator itself: it registers exactly the kernel table of the Rust host code,
``__syncthreads`` really orders shared memory, and divergent warp code is reported.

The library is cached under ``target/cuda-emulation/<hash of the sources>``, so only a change
to a kernel, the shim or the table rebuilds it (a few seconds, all cores).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import democratising as dm

ROOT = Path(__file__).resolve().parents[1]
CUDA_DIR = ROOT / "rust" / "core" / "src" / "cuda"
KERNELS = CUDA_DIR / "kernels"
EMULATION = CUDA_DIR / "emulation"
FLAGS = ["-std=c++17", "-O1", "-fPIC", "-Wall", "-Werror", "-Wno-unused-function"]

# ---- building -------------------------------------------------------------------------------


def _kernel_table() -> dict[str, list[tuple[str, int]]]:
    """family -> [(kernel name, parameter count)] from the Rust host's table."""
    table: dict[str, list[tuple[str, int]]] = {}
    for family, name, params in dm._core._cuda_kernel_table():
        table.setdefault(family, []).append((name, params))
    return table


def _translation_unit(family: str, names: list[str]) -> str:
    lines = ['#include "cuda_shim.h"', '#include "emulator.h"', f'#include "{family}.cu"']
    lines += [f"DM_EMU_REGISTER({n})" for n in names]
    return "\n".join(lines) + "\n"


def _compiler() -> str:
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no C++ compiler (g++) for the CUDA emulation tests")
        pytest.skip("no C++ compiler (g++): the CUDA kernel emulation tests need one")
    return cxx


@functools.cache
def build() -> Path:
    """Compiles every family (plus the emulator and its self-test kernels) into one library."""
    cxx = _compiler()
    table = _kernel_table()
    units = {f: _translation_unit(f, [n for n, _ in ks]) for f, ks in table.items()}
    selftest = ["selftest_block_reverse", "selftest_sums", "selftest_divergent_shuffle"]
    units["selftest"] = _translation_unit("selftest", selftest)
    h = hashlib.sha256(" ".join([cxx, *FLAGS]).encode())
    for src in sorted([*KERNELS.iterdir(), *EMULATION.iterdir()]):
        h.update(src.name.encode() + src.read_bytes())
    for f in sorted(units):
        h.update(units[f].encode())
    out = ROOT / "target" / "cuda-emulation" / h.hexdigest()[:16]
    lib = out / "libdmemu.so"
    if lib.exists():
        return lib
    out.mkdir(parents=True, exist_ok=True)
    include = ["-I", str(KERNELS), "-I", str(EMULATION)]

    def compile_one(item: tuple[str, Path]) -> Path:
        name, src = item
        obj = out / f"{name}.o"
        cmd = [cxx, *FLAGS, *include, "-c", str(src), "-o", str(obj)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr}"
        return obj

    sources = [("emulator", EMULATION / "emulator.cpp")]
    for f, text in units.items():
        path = out / f"tu_{f}.cpp"
        path.write_text(text)
        sources.append((f, path))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        objs = list(pool.map(compile_one, sources))
    tmp = out / f"libdmemu.{os.getpid()}.so"
    r = subprocess.run([cxx, "-shared", *map(str, objs), "-o", str(tmp)], capture_output=True)
    assert r.returncode == 0, r.stderr
    tmp.rename(lib)
    return lib


# ---- buffers --------------------------------------------------------------------------------

#: dtype suffix of kernel names -> (NumPy storage dtype, democratising dtype)
DTYPES: dict[str, tuple[Any, Any]] = {
    "f32": (np.float32, dm.float32),
    "f64": (np.float64, dm.float64),
    "f16": (np.float16, dm.float16),
    "bf16": (np.uint16, dm.bfloat16),
    "i64": (np.int64, dm.int64),
    "i32": (np.int32, dm.int32),
    "bool": (np.uint8, dm.bool),
}
FLOATS = ["f32", "f64", "f16", "bf16"]

GUARD = 256  # bytes of sentinel on each side of every buffer


class Buf:
    """Host memory a kernel reads or writes, with sentinel bytes around it: a kernel that
    writes outside its buffer fails the launch."""

    def __init__(self, data: np.ndarray) -> None:
        data = np.ascontiguousarray(data)
        self.raw = np.full(data.nbytes + 2 * GUARD, 0xA5, dtype=np.uint8)
        self.array = self.raw[GUARD : GUARD + data.nbytes].view(data.dtype).reshape(data.shape)
        self.array[...] = data

    @property
    def ptr(self) -> int:
        return self.raw.ctypes.data + GUARD

    def check(self) -> None:
        ok = (self.raw[:GUARD] == 0xA5).all() and (self.raw[-GUARD:] == 0xA5).all()
        assert ok, "a kernel wrote outside its buffer"

    def get(self) -> np.ndarray:
        self.check()
        return self.array.copy()


def raw(t: dm.Tensor, sfx: str) -> np.ndarray:
    """The storage bytes of a CPU tensor as the kernels see them (bfloat16 as uint16 bits)."""
    t = t.detach().contiguous()
    if sfx == "bf16":
        return (t.float().numpy().view(np.uint32) >> 16).astype(np.uint16)
    if sfx == "bool":
        return t.numpy().astype(np.uint8)
    return np.array(t.numpy(), dtype=DTYPES[sfx][0])


def values(a: np.ndarray, sfx: str) -> np.ndarray:
    """Kernel output as float64 (or int64) values."""
    if sfx == "bf16":
        return (a.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    if sfx in ("i64", "i32", "bool"):
        return a.astype(np.int64)
    return a.astype(np.float64)


def tensor_of(x: np.ndarray, sfx: str) -> dm.Tensor:
    """A CPU tensor of dtype ``sfx`` from float64/int values."""
    return dm.tensor(np.asarray(x, dtype=np.float64)).to(dtype=DTYPES[sfx][1])


def buf(t: dm.Tensor, sfx: str) -> Buf:
    return Buf(raw(t, sfx))


def empty(n: int | tuple[int, ...], sfx: str) -> Buf:
    return Buf(np.zeros(n, dtype=DTYPES[sfx][0]))


# ---- kernel argument structs (mirror cuda/launch.rs) ----------------------------------------

I64x8 = ctypes.c_int64 * 8


class DmLayout(ctypes.Structure):
    _fields_ = [
        ("ndim", ctypes.c_int32),
        ("pad", ctypes.c_int32),
        ("offset", ctypes.c_int64),
        ("shape", I64x8),
        ("stride", I64x8),
    ]


def layout(shape: tuple[int, ...] | list[int], strides: Any = None, offset: int = 0) -> DmLayout:
    """A strided view over ``shape`` (row-major contiguous strides by default)."""
    shape = list(shape) or [1]
    if strides is None:
        strides, acc = [], 1
        for n in reversed(shape):
            strides.insert(0, acc)
            acc *= n
    return DmLayout(len(shape), 0, offset, I64x8(*shape), I64x8(*strides))


def _int_struct(name: str, fields: list[str], head: list[tuple[str, Any]] | None = None) -> Any:
    return type(
        name,
        (ctypes.Structure,),
        {"_fields_": (head or []) + [(f, ctypes.c_int32) for f in fields]},
    )


ConvGeom = _int_struct("ConvGeom", "n c groups h w kh kw sh sw ph pw dh dw ho wo".split())
PoolGeom = _int_struct(
    "PoolGeom",
    "h w ho wo kh kw sh sw ph pw dh dw count_include_pad pad".split(),
    [("planes", ctypes.c_int64)],
)
MT, AMP_MT = 16, 32
U64xMT, I64xMT = ctypes.c_uint64 * MT, ctypes.c_int64 * MT


class AdamConfig(ctypes.Structure):
    _fields_ = [(f, ctypes.c_double) for f in "lr beta1 beta2 eps weight_decay".split()]
    _fields_ += [(f, ctypes.c_bool) for f in "decoupled amsgrad maximize".split()]
    _fields_ += [("grad_scale", ctypes.c_double)]


class ParamList(ctypes.Structure):
    """The head of the optimizer lists: count, sizes, parameter and gradient addresses."""

    _fields_ = [("count", ctypes.c_int32), ("pad", ctypes.c_int32), ("numel", I64xMT)]
    _fields_ += [(f, U64xMT) for f in "param grad".split()]


class AdamList(ctypes.Structure):
    _fields_ = [("head", ParamList), ("step", I64xMT)]
    _fields_ += [(f, U64xMT) for f in "exp_avg exp_avg_sq max_exp_avg_sq".split()]


class SgdConfig(ctypes.Structure):
    _fields_ = [(f, ctypes.c_double) for f in "lr momentum dampening weight_decay".split()]
    _fields_ += [("nesterov", ctypes.c_bool), ("maximize", ctypes.c_bool)]
    _fields_ += [("grad_scale", ctypes.c_double)]


class SgdList(ctypes.Structure):
    _fields_ = [("head", ParamList), ("initialized", ctypes.c_int32 * MT)]
    _fields_ += [("momentum_buffer", U64xMT)]


class AmpList(ctypes.Structure):
    _fields_ = [("count", ctypes.c_int32), ("pad", ctypes.c_int32)]
    _fields_ += [("numel", ctypes.c_int64 * AMP_MT), ("grad", ctypes.c_uint64 * AMP_MT)]


# ---- launching ------------------------------------------------------------------------------


class EmulatorError(AssertionError):
    """A launch the emulator refused (deadlock, divergent shuffle, bad block size)."""


class Emulator:
    def __init__(self, path: Path) -> None:
        lib = ctypes.CDLL(str(path))
        lib.dm_emu_name.restype = ctypes.c_char_p
        lib.dm_emu_launch.argtypes = [
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.POINTER(ctypes.c_uint),
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        self.lib = lib
        self.kernels: dict[str, tuple[int, list[tuple[str, int]]]] = {}
        sig = ctypes.create_string_buffer(4096)
        for i in range(lib.dm_emu_count()):
            lib.dm_emu_signature(i, sig, len(sig))
            params = [(p[0], int(p[1:])) for p in sig.value.decode().split()]
            self.kernels[lib.dm_emu_name(i).decode()] = (i, params)

    @staticmethod
    def _pack(kind: str, size: int, a: Any) -> Any:
        if kind == "p":
            return ctypes.c_uint64(0 if a is None else a.ptr)
        if kind == "s":
            assert ctypes.sizeof(a) == size, f"{type(a).__name__}: {ctypes.sizeof(a)} != {size}"
            return a
        fmt = {("i", 1): "B", ("i", 4): "i", ("i", 8): "q", ("f", 4): "f", ("f", 8): "d"}
        f = fmt[(kind, size)]
        if f == "q" and a >= 2**63:
            f = "Q"
        return ctypes.create_string_buffer(struct.pack("<" + f, a), size)

    def launch(self, name: str, grid: int | tuple[int, ...], block: int, *args: Any) -> None:
        """Runs kernel ``name`` on ``grid`` blocks of ``block`` threads; ``Buf`` arguments are
        passed as device pointers and checked for out-of-bounds writes afterwards."""
        index, params = self.kernels[name]
        assert len(args) == len(params), f"{name} takes {len(params)} arguments"
        held = [self._pack(k, s, a) for (k, s), a in zip(params, args)]
        argv = (ctypes.c_void_p * max(1, len(held)))(*[ctypes.addressof(h) for h in held])
        g = (grid, 1, 1) if isinstance(grid, int) else tuple(grid) + (1,) * (3 - len(grid))
        err = ctypes.create_string_buffer(512)
        rc = self.lib.dm_emu_launch(
            index, (ctypes.c_uint * 3)(*g), (ctypes.c_uint * 3)(block, 1, 1), argv, err, 512
        )
        if rc != 0:
            raise EmulatorError(f"{name}: {err.value.decode()}")
        for a in args:
            if isinstance(a, Buf):
                a.check()


@functools.cache
def emulator() -> Emulator:
    return Emulator(build())


# ---- the emulator's own tests ---------------------------------------------------------------


def test_registers_exactly_the_kernel_table_with_its_arities() -> None:
    emu = emulator()
    table = {n: p for ks in _kernel_table().values() for n, p in ks}
    got = {n: len(p) for n, (_, p) in emu.kernels.items() if not n.startswith("selftest_")}
    assert got == table


def test_syncthreads_orders_shared_memory_and_its_absence_is_caught() -> None:
    emu = emulator()
    x = np.arange(2 * 64, dtype=np.int32)
    out = Buf(np.zeros_like(x))
    emu.launch("selftest_block_reverse", 2, 64, Buf(x), out, 1)
    expected = x.reshape(2, 64)[:, ::-1].ravel()
    np.testing.assert_array_equal(out.get(), expected)
    racy = Buf(np.zeros_like(x))
    emu.launch("selftest_block_reverse", 2, 64, Buf(x + 1000), racy, 0)
    assert not np.array_equal(racy.get(), expected + 1000), "a missing barrier went unnoticed"


def test_warp_and_block_sums() -> None:
    emu = emulator()
    x = np.arange(3 * 96, dtype=np.float32)
    w, b = Buf(np.zeros_like(x)), Buf(np.zeros_like(x))
    emu.launch("selftest_sums", 3, 96, Buf(x), w, b)
    np.testing.assert_array_equal(w.get(), np.repeat(x.reshape(-1, 32).sum(1), 32))
    np.testing.assert_array_equal(b.get(), np.repeat(x.reshape(3, 96).sum(1), 96))


def test_divergent_shuffles_are_reported_not_hung() -> None:
    with pytest.raises(EmulatorError, match=r"exited|deadlock"):
        emulator().launch("selftest_divergent_shuffle", 1, 32, Buf(np.zeros(32, np.float32)))
