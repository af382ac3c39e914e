"""PyTorch's module paths for code that imports from them (``torch.nn.modules.conv``,
``torch.distributions.normal``, ``torch.cuda.random``): modules registered in ``sys.modules``
that hold names living in other files here."""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from typing import Any


def path_module(name: str, contents: Mapping[str, Any], doc: str) -> types.ModuleType:
    """A module importable as ``name`` (``import a.b.c``, ``from a.b.c import X``) holding
    ``contents``; the caller sets it as an attribute of its parent."""
    mod = types.ModuleType(name, doc)
    mod.__dict__.update(contents)
    sys.modules[name] = mod
    return mod
