"""docs/evaluation.md and docs/tuning.md run as written (issue 21 point 5): each page's blocks
in order, in one temporary folder, the python blocks sharing one namespace (a page is one
narrative), and every ``$ democratising ...`` line of its console blocks through the command
line's ``main`` (``$ mpirun -n N democratising ...`` as a real MPI job, when mpiexec and
mpi4py are there)."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from democratising.cli import main
from test_distributed import MPIEXEC

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["evaluation.md", "tuning.md"]
FENCE = re.compile(r"^```(\w*)")
EXTRAS = {"evaluation.md": ["tensorboard", "matplotlib"], "tuning.md": ["optuna"]}


def _blocks(page: str) -> list[tuple[int, str, str]]:
    """``(line, language, source)`` of every fenced block of ``page``."""
    lines = (ROOT / "docs" / page).read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m and m.group(1):
            start, body = i + 1, []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            out.append((start + 1, m.group(1), "\n".join(body) + "\n"))
        i += 1
    return out


def test_pages_have_blocks() -> None:
    for page in PAGES:
        langs = [lang for _, lang, _ in _blocks(page)]
        assert langs.count("python") >= 5 and "console" in langs, page
        assert set(langs) <= {"python", "console", "toml"}, page


def _run_mpi_line(args: list[str], cwd: Path) -> None:
    n_flag = args.index("-n")
    n, rest = args[n_flag + 1], args[n_flag + 2 :]
    assert rest[0] == "democratising"
    script = ROOT / "tests" / "mpi" / "tune_cli.py"
    env = dict(os.environ, RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [str(MPIEXEC), "-n", n, sys.executable, str(script), *rest[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_as_written(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in EXTRAS[page]:
        pytest.importorskip(module)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page}"}
    for line, lang, source in _blocks(page):
        where = f"docs/{page}:{line}"
        if lang == "python":
            exec(compile(source, where, "exec"), namespace)
        elif lang == "console":
            for cmd in (c[2:] for c in source.splitlines() if c.startswith("$ ")):
                args = shlex.split(cmd)
                if args[0] in ("mpirun", "mpiexec"):
                    if MPIEXEC is None or importlib.util.find_spec("mpi4py") is None:
                        pytest.skip(f"{where}: needs mpiexec and mpi4py; the rest depends on it")
                    _run_mpi_line(args, tmp_path)
                else:
                    assert args[0] == "democratising", where
                    assert main(args[1:]) == 0, f"{where}: {cmd}"
    if page == "evaluation.md":
        assert (tmp_path / "curves.png").stat().st_size > 10_000
        assert (tmp_path / "checkpoints" / "best.safetensors").exists()
    else:
        assert (tmp_path / "runs/tune/digits/best.toml").exists()
        assert (tmp_path / "random-search/trials.json").exists()
