"""The package's layers point one way: ``amp``, ``data``, ``nn`` and ``optim`` never import
``distributed`` or ``train`` (not even inside a function, nor by name through ``importlib``);
what they need to know about a data-parallel job they read from ``_ranks``, where
``World.init()`` registers the world."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from democratising import _ranks
from helpers import FakeWorld

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "democratising"
LOWER = ["amp", "data.py", "nn", "optim", "_ranks.py"]
UPPER = ("democratising.distributed", "democratising.train")


def _sources() -> list[Path]:
    files: list[Path] = []
    for name in LOWER:
        path = PACKAGE / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def _package_of(path: Path) -> str:
    """The package relative imports in ``path`` start from."""
    return ".".join(path.relative_to(PACKAGE.parent).parts[:-1])


def _imported(text: str, package: str) -> Iterator[tuple[int, str]]:
    """Every module the source ``text`` imports, made absolute from ``package``: import
    statements anywhere (functions included), and string arguments of
    ``importlib.import_module``/``__import__``."""
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            yield node.lineno, base
            for alias in node.names:  # ``from .. import distributed``
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield node.lineno, arg.value


def _reaching_up(text: str, package: str) -> list[str]:
    return [
        f"line {line}: {name}"
        for line, name in _imported(text, package)
        if any(name == up or name.startswith(up + ".") for up in UPPER)
    ]


def test_the_checker_sees_every_kind_of_import() -> None:
    text = (
        "from .. import distributed\n"
        "def f():\n"
        "    from ..train import config\n"
        "    import democratising.distributed.world\n"
        "    importlib.import_module('democratising.train')\n"
        "    from .. import _ranks, nn\n"
    )
    found = [entry.split(": ")[1] for entry in _reaching_up(text, "democratising.amp")]
    assert found == [
        "democratising.distributed",
        "democratising.train",
        "democratising.train.config",
        "democratising.distributed.world",
        "democratising.train",
    ]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_lower_layers_do_not_import_distributed_or_train(path: Path) -> None:
    bad = _reaching_up(path.read_text(encoding="utf-8"), _package_of(path))
    assert not bad, f"{path.relative_to(PACKAGE)} reaches up: {bad}"


def test_ranks_answers_one_process_until_a_world_registers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_ranks, "_group", None)
    assert (_ranks.world_size(), _ranks.rank(), _ranks.is_distributed()) == (1, 0, False)
    assert _ranks.any_rank(True) is True and _ranks.any_rank(False) is False
    world = FakeWorld(4, 2, others_found_inf=True)
    _ranks.register(world)
    assert (_ranks.world_size(), _ranks.rank(), _ranks.is_distributed()) == (4, 2, True)
    assert _ranks.current() is world
    assert _ranks.any_rank(False) is True and world.any_rank_calls == 1
    _ranks.register(FakeWorld(1, 0, others_found_inf=True))
    assert _ranks.any_rank(False) is False  # one rank: no collective, the flag itself
    _ranks.register(None)
    assert _ranks.current() is None


def test_importing_the_lower_layers_loads_neither_mpi_nor_distributed() -> None:
    code = (
        "import sys\n"
        "import democratising._ranks, democratising.data, democratising.amp\n"
        "import democratising.nn, democratising.optim\n"
        "print(sorted(m for m in sys.modules if m.startswith(('mpi4py', "
        "'democratising.distributed'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


def test_python_written_tensor_methods_are_real_methods() -> None:
    import inspect

    import democratising as dm
    from democratising import _tensor_extra

    assert "__getattr__" not in vars(dm.Tensor)
    for name in _tensor_extra.METHODS:
        method = getattr(dm.Tensor, name)
        assert next(iter(inspect.signature(method).parameters)) == "self", name
    x = dm.tensor([[3.0, 1.0], [2.0, 5.0]])
    assert x.sort(dim=1).values.tolist() == [[1.0, 3.0], [2.0, 5.0]]
    assert x.new_zeros(3).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(AttributeError, match="no attribute 'no_such_method'"):
        x.no_such_method  # noqa: B018


def test_the_extension_never_imports_the_package() -> None:
    glue = Path(__file__).resolve().parents[1] / "rust" / "python" / "src"
    offenders = [
        f"{p.relative_to(glue)}:{i}"
        for p in sorted(glue.rglob("*.rs"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if 'import("democratising' in line
    ]
    assert offenders == []
