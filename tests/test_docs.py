"""Every ```python block of the docs pages in PAGES runs, each in a fresh namespace in a
temporary directory; ```python no-run blocks are only compiled; a block that imports a
democratising module, or a name from one, that this installation lacks is skipped (docs may
describe modules and layers still being written)."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: The pages this suite runs (other pages may be owned and tested elsewhere).
PAGES = ["training.md", "transformers.md", "../README.md"]
FENCE = re.compile(r"^```(\S*)([^\n]*)$")
IMPORT = re.compile(
    r"^\s*(?:from\s+(democratising(?:\.\w+)+)\s+import|import\s+(democratising(?:\.\w+)+)"
    r"|from\s+democratising\s+import\s+([\w, ]+))",
    re.M,
)
#: ``from democratising.x.y import A, B`` (one line, or parenthesised over several).
FROM_IMPORT = re.compile(
    r"^\s*from\s+(democratising(?:\.\w+)+)\s+import\s+(\([^)]*\)|[^\n]+)", re.M
)


def _blocks() -> list[tuple[str, int, str, bool]]:
    """``(file, line, source, runnable)`` for every python block in the docs."""
    out = []
    for md in (DOCS / page for page in PAGES):
        lines = md.read_text().splitlines()
        i = 0
        while i < len(lines):
            m = FENCE.match(lines[i])
            if m and m.group(1) == "python":
                start, body = i + 1, []
                i += 1
                while i < len(lines) and not lines[i].startswith("```"):
                    body.append(lines[i])
                    i += 1
                out.append((md.name, start, "\n".join(body) + "\n", "no-run" not in m.group(2)))
            elif m and m.group(1):  # another language: skip to its closing fence
                i += 1
                while i < len(lines) and not lines[i].startswith("```"):
                    i += 1
            i += 1
    return out


def _missing_module(source: str) -> str | None:
    """The first ``democratising.*`` module the block imports that cannot be found."""
    for dotted, plain, names in IMPORT.findall(source):
        candidates = [dotted or plain] if (dotted or plain) else []
        if names:
            pkg = importlib.import_module("democratising")
            for name in (n.strip() for n in names.split(",")):
                if name and not hasattr(pkg, name):
                    candidates.append(f"democratising.{name}")
        for mod in candidates:
            try:
                if importlib.util.find_spec(mod) is None:
                    return mod
            except ModuleNotFoundError:
                return mod
    for module, names in FROM_IMPORT.findall(source):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            return module
        names = " ".join(line.split("#")[0] for line in names.strip("()").splitlines())
        for name in (part.split()[0] for part in names.split(",") if part.strip()):
            if name != "*" and not hasattr(mod, name) and not _is_submodule(f"{module}.{name}"):
                return f"{module}.{name}"
    return None


def _is_submodule(dotted: str) -> bool:
    try:
        return importlib.util.find_spec(dotted) is not None
    except ModuleNotFoundError:  # the parent is a module, not a package
        return False


BLOCKS = _blocks()


def test_docs_have_python_blocks() -> None:
    assert (DOCS / "training.md").exists()
    assert sum(1 for b in BLOCKS if b[0] == "training.md" and b[3]) >= 15
    assert sum(1 for b in BLOCKS if b[0] == "transformers.md" and b[3]) >= 10


@pytest.mark.parametrize(
    ("name", "line", "source", "runnable"), BLOCKS, ids=[f"{b[0]}:{b[1]}" for b in BLOCKS]
)
def test_doc_block(
    name: str,
    line: int,
    source: str,
    runnable: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = compile(source, f"docs/{name}:{line}", "exec")
    if not runnable:
        return
    missing = _missing_module(source)
    if missing is not None:
        pytest.skip(f"{missing} is not available in this installation")
    monkeypatch.chdir(tmp_path)
    exec(code, {"__name__": f"docs_{name}_{line}"})
