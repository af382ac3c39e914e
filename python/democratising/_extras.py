"""Optional dependencies, imported when first needed, with an error that names the extra.

``democratising.tune`` (Optuna), the TensorBoard logger (``tensorboard``) and ``democratising
plot`` (matplotlib) each need a package that the base install does not bring; importing
``democratising`` never imports them. A missing one raises ``MissingExtraError`` (an
``ImportError``) saying which ``pip install 'democratising[extra]'`` brings it."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """``import module``, or ``MissingExtraError`` naming ``extra`` and what needs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        raise MissingExtraError(
            f"{purpose} needs the '{top}' package, which is not installed: "
            f"pip install 'democratising[{extra}]' (or pip install {top})"
        ) from e
