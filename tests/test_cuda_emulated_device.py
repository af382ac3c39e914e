"""The GPU parity suite (test_cuda_parity.py) run against the emulated CUDA device: the same
kernel sources compiled for the CPU (see test_cuda_emulator.py) stand in for the driver, so the
whole device path (device storages, op dispatch, launch arguments, cuBLAS operand setup,
transfers, optimizers, AMP, DataParallel over two devices) runs and is compared with the CPU
backend on a machine without a GPU. A separate process, because the device set is fixed at
first use and this process must keep seeing none."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_cuda_emulator import build

ROOT = Path(__file__).resolve().parents[1]


def test_parity_suite_passes_on_the_emulated_device() -> None:
    env = {
        **os.environ,
        "DEMOCRATISING_CUDA_EMULATOR": str(build()),
        "DEMOCRATISING_CUDA_EMULATOR_DEVICES": "2",
        "DEMOCRATISING_REQUIRE_GPU": "1",
    }
    # The parity suite and the session-27 parity fuzz (integer paths, broadcasting, dtypes), each
    # in its own process so that the two run on two cores (about 25 s and 37 s of one core each).
    suites = [ROOT / "tests" / f for f in ("test_cuda_parity.py", "test_cuda_emufuzz_s27.py")]
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT / "tests",
        )
        for suite in suites
    ]
    for suite, run in zip(suites, runs):
        out, err = run.communicate(timeout=900)
        assert run.returncode == 0, f"{suite.name}:\n{out[-8000:]}{err[-2000:]}"
        assert " passed" in out and "skipped" not in out, f"{suite.name}:\n{out[-2000:]}"


def test_an_unusable_emulator_library_means_no_device() -> None:
    code = (
        "import democratising as dm\n"
        "print(dm.cuda.is_available(), dm.cuda.device_count())\n"
        "print(dm.cuda.unavailable_reason())\n"
        "try:\n"
        "    dm.ones(2).cuda()\n"
        "except dm.DeviceError as e:\n"
        "    print('DeviceError', e)\n"
    )
    env = {**os.environ, "DEMOCRATISING_CUDA_EMULATOR": "/nonexistent/libdmemu.so"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "False 0"
    assert "emulator" in lines[1]
    assert lines[2].startswith("DeviceError")
