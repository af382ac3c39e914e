"""The MPI blocks of the docs (every python block of docs/distributed.md, and the blocks of
docs/training.md that call ``World.init()``) are complete scripts: each runs as shown under
``mpiexec -n 2`` (issue 17, point 9), prints its epochs once (rank 0), and learns."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["distributed.md", "training.md"]
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent))


def _blocks() -> list[tuple[str, int, str]]:
    out = []
    for page in PAGES:
        lines, i = (ROOT / "docs" / page).read_text().splitlines(), 0
        while i < len(lines):
            if lines[i].startswith("```python"):
                start, body = i + 1, []
                i += 1
                while not lines[i].startswith("```"):
                    body.append(lines[i])
                    i += 1
                source = "\n".join(body) + "\n"
                if page == "distributed.md" or "World.init()" in source:
                    out.append((page, start, source))
            i += 1
    return out


BLOCKS = _blocks()


def test_the_pages_have_their_loops() -> None:
    assert len(BLOCKS) >= 3 and all("World.init()" in src for _, _, src in BLOCKS)


@pytest.mark.skipif(MPIEXEC is None, reason="needs mpiexec next to the interpreter")
@pytest.mark.parametrize(("page", "line", "source"), BLOCKS, ids=[f"{b[0]}:{b[1]}" for b in BLOCKS])
def test_block_runs_under_mpiexec_two_ranks(
    page: str, line: int, source: str, tmp_path: Path
) -> None:
    pytest.importorskip("mpi4py")
    assert MPIEXEC is not None
    script = tmp_path / "script.py"
    script.write_text(source)
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    r = subprocess.run(
        [MPIEXEC, "-n", "2", sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    if "loss {loss.item()" not in source:  # a set-up block: running is the test
        return
    losses = [float(v) for v in re.findall(r"^epoch \d+: loss ([\d.]+)$", r.stdout, re.M)]
    assert len(losses) == 3, r.stdout  # rank 0 only
    assert losses[-1] < losses[0]
    if "save_checkpoint" in source:
        assert (tmp_path / "ckpt.safetensors").exists()
