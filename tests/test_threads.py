"""``dm.set_num_threads``/``get_num_threads`` (PyTorch's names) and the per-rank default under
MPI: each rank on a node gets its share of the cores, and an explicit count that oversubscribes
them is warned about."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import democratising as dm

CORES = len(os.sched_getaffinity(0))


def test_set_num_threads_changes_the_count_and_results_stay_exact() -> None:
    before = dm.get_num_threads()
    a = np.random.default_rng(0).standard_normal((300, 200)).astype(np.float32)
    want = (dm.tensor(a) @ dm.tensor(a).t()).numpy()
    try:
        for n in (1, 3):
            dm.set_num_threads(n)
            assert dm.get_num_threads() == n
            np.testing.assert_allclose((dm.tensor(a) @ dm.tensor(a).t()).numpy(), want, rtol=1e-5)
            x = dm.tensor(a, requires_grad=True)
            (x.tanh() * x).sum().backward()
            np.testing.assert_allclose(
                x.grad.numpy(), np.tanh(a) + a * (1 - np.tanh(a) ** 2), rtol=1e-5, atol=1e-6
            )
    finally:
        dm.set_num_threads(before)
    assert dm.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -2])
def test_a_non_positive_count_is_a_value_error(bad: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        dm.set_num_threads(bad)


def _run(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("RAYON_NUM_THREADS",)}
    for var in ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "PMI_LOCAL_SIZE"):
        clean.pop(var, None)
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=60
    )


def test_ranks_on_a_node_share_its_cores() -> None:
    code = "import democratising as dm; print(dm.get_num_threads())"
    r = _run({"OMPI_COMM_WORLD_LOCAL_SIZE": "2"}, code)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == max(1, CORES // 2)
    r = _run({"MPI_LOCALNRANKS": str(4 * CORES)}, code)
    assert int(r.stdout) == 1


def test_an_oversubscribing_explicit_count_is_warned_about() -> None:
    code = "import democratising as dm; print(dm.get_num_threads())"
    r = _run({"MPI_LOCALNRANKS": "2", "RAYON_NUM_THREADS": str(CORES)}, code)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == CORES
    assert "MPI ranks on this node" in r.stderr


def test_show_config_and_the_trainer_state_the_threads() -> None:
    import io

    cfg = dm.show_config(file=io.StringIO())
    assert cfg["cpu"]["threads"].startswith(f"{dm.get_num_threads()} threads")
