"""PyTorch programs that run with only their imports changed (issue 18, point 7).

Each file under ``tests/pytorch_programs`` is a PyTorch program (from PyTorch's examples,
nanoGPT, makemore), shrunk to run in about a second on synthetic data, whose only change is
``torch`` -> ``democratising`` in its imports. Each runs as its own process, checks that it
learnt (its own asserts) and prints ``RESULT``."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAMS = sorted((Path(__file__).parent / "pytorch_programs").glob("*.py"))


def test_every_family_is_there() -> None:
    names = {p.stem for p in PROGRAMS}
    assert {
        "classifier",
        "gan",
        "gpt",
        "makemore",
        "quickstart",
        "regression",
        "rnn_lm",
        "sequence_prediction",
        "vae",
    } <= names


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.stem)
def test_only_the_imports_name_democratising(program: Path) -> None:
    """Outside import statements (and the module docstring) the code says ``torch``."""
    source = program.read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.splitlines()
    skip: set[int] = set()
    doc = tree.body[0] if tree.body and isinstance(tree.body[0], ast.Expr) else None
    for node in ([doc] if doc is not None else []) + [
        n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
    ]:
        assert node.end_lineno is not None
        skip.update(range(node.lineno, node.end_lineno + 1))
    stray = [
        f"{i}: {line}"
        for i, line in enumerate(lines, 1)
        if "democratising" in line and i not in skip
    ]
    assert not stray, stray
    imports = [
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    ]
    assert "democratising" in imports and "torch" not in " ".join(imports)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every program, started at once (each is one process with one engine thread), so the
    file takes about as long as the slowest program."""
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    procs = {}
    for program in PROGRAMS:
        cwd = tmp_path_factory.mktemp(program.stem)
        procs[program.stem] = subprocess.Popen(
            [sys.executable, str(program)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=env,
        )
    out = {}
    for name, proc in procs.items():
        try:
            stdout, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        out[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return out


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.stem)
def test_program_runs_and_learns(
    program: Path, runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    proc = runs[program.stem]
    assert proc.returncode == 0, f"{program.name}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert "RESULT" in proc.stdout, proc.stdout[-2000:]


def test_the_porting_page_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every runnable ```python block of docs/pytorch.md runs (``no-run`` ones compile)."""
    page = Path(__file__).resolve().parents[1] / "docs" / "pytorch.md"
    monkeypatch.chdir(tmp_path)
    blocks, current, runnable = [], None, False
    for line in page.read_text(encoding="utf-8").splitlines():
        if current is None and line.startswith("```python"):
            current, runnable = [], "no-run" not in line
        elif current is not None and line.startswith("```"):
            blocks.append(("\n".join(current) + "\n", runnable))
            current = None
        elif current is not None:
            current.append(line)
    assert len(blocks) >= 2
    for source, run in blocks:
        code = compile(source, str(page), "exec")
        if run:
            exec(code, {"__name__": "__docs__"})
