"""``repr(tensor)`` in PyTorch's style: ``tensor([[1., 2.]], requires_grad=True)``, with the
print options ``dm.set_printoptions`` sets (PyTorch's names, defaults and profiles)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any, Optional

import numpy as np

from . import _core
from .errors import InvalidValueError

#: PyTorch's profiles: (precision, threshold, edgeitems, linewidth).
_PROFILES = {
    "default": (4, 1000, 3, 80),
    "short": (2, 1000, 2, 80),
    "full": (4, math.inf, 3, 80),
}

#: The options ``format_tensor`` reads; ``sci_mode`` None lets the values decide.
OPTIONS: dict[str, Any] = {
    "precision": 4,
    "threshold": 1000,
    "edgeitems": 3,
    "linewidth": 80,
    "sci_mode": None,
}


def set_printoptions(
    precision: Optional[int] = None,
    threshold: Optional[float] = None,
    edgeitems: Optional[int] = None,
    linewidth: Optional[int] = None,
    profile: Optional[str] = None,
    sci_mode: Optional[bool] = None,
) -> None:
    """PyTorch's ``torch.set_printoptions``: how tensors print from now on. ``profile``
    (``"default"``, ``"short"``, ``"full"``) sets the first four first; the others then
    override it. ``sci_mode`` True/False forces or forbids scientific notation (None: chosen
    by the values), and is set by every call, as in PyTorch."""
    if profile is not None:
        if profile not in _PROFILES:
            raise InvalidValueError(f"set_printoptions: unknown profile {profile!r}")
        p, t, e, w = _PROFILES[profile]
        OPTIONS.update(precision=p, threshold=t, edgeitems=e, linewidth=w)
    for name, value in (
        ("precision", precision),
        ("threshold", threshold),
        ("edgeitems", edgeitems),
        ("linewidth", linewidth),
    ):
        if value is not None:
            OPTIONS[name] = value
    OPTIONS["sci_mode"] = sci_mode


def get_printoptions() -> dict[str, Any]:
    """The current print options, as keywords ``set_printoptions`` takes back (PyTorch's
    ``torch._tensor_str.get_printoptions``)."""
    return dict(OPTIONS)


@contextlib.contextmanager
def printoptions(**kwargs: Any) -> Iterator[None]:
    """``set_printoptions(**kwargs)`` for the ``with`` block only (PyTorch's
    ``torch._tensor_str.printoptions``)."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


class _Formatter:
    """PyTorch's ``_Formatter``: one width and one notation for every element printed. Floats
    whose finite nonzero values are all integers print as ``1.``; scientific notation when
    the largest/smallest magnitude ratio exceeds 1000, or a magnitude is above 1e8 or below
    1e-4 (unless ``sci_mode`` says otherwise)."""

    def __init__(self, values: np.ndarray, floating: bool) -> None:
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        self.precision = int(OPTIONS["precision"])
        flat = values.reshape(-1)
        if not floating:
            for v in flat.tolist():
                self.max_width = max(self.max_width, len(f"{v}"))
            return
        finite = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if finite.size == 0:
            return
        magnitude = np.abs(finite)
        low, high = float(magnitude.min()), float(magnitude.max())
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        sci = OPTIONS["sci_mode"]
        self.sci_mode = (
            (high / low > 1000.0 or high > 1.0e8 or low < 1.0e-4) if sci is None else sci
        )
        p = self.precision
        for v in finite.tolist():
            if self.sci_mode:
                width = len(f"{v:.{p}e}")
            elif self.int_mode:
                width = len(f"{v:.0f}") + 1  # (the trailing "." that marks a float)
            else:
                width = len(f"{v:.{p}f}")
            self.max_width = max(self.max_width, width)

    def format(self, value: Any) -> str:
        p = self.precision
        if not self.floating:
            text = f"{value}"
        elif self.sci_mode:
            text = f"{value:{self.max_width}.{p}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{p}f}"
        return (self.max_width - len(text)) * " " + text


def _summarized(values: np.ndarray, edge: int) -> np.ndarray:
    """The elements a summarized print shows (PyTorch's ``get_summarized_data``): the
    formatter's width comes from these alone."""
    if values.ndim == 0:
        return values
    if values.ndim == 1:
        if values.shape[0] > 2 * edge:
            return np.concatenate((values[:edge], values[-edge:]))
        return values
    if not edge:
        return np.empty((0,) * values.ndim, dtype=values.dtype)
    n = values.shape[0]
    rows = [*range(edge), *range(n - edge, n)] if n > 2 * edge else range(n)
    return np.stack([_summarized(values[i], edge) for i in rows])


def _vector_str(values: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    edge = int(OPTIONS["edgeitems"])
    per_line = max(1, math.floor((OPTIONS["linewidth"] - indent) / (fmt.max_width + 2)))
    if summarize and not edge:
        data = ["..."]
    elif summarize and values.shape[0] > 2 * edge:
        data = (
            [fmt.format(v) for v in values[:edge].tolist()]
            + [" ..."]
            + [fmt.format(v) for v in values[-edge:].tolist()]
        )
    else:
        data = [fmt.format(v) for v in values.tolist()]
    lines = [", ".join(data[i : i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested_str(values: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if values.ndim == 0:
        return fmt.format(values.item())
    if values.ndim == 1:
        return _vector_str(values, indent, summarize, fmt)
    edge = int(OPTIONS["edgeitems"])
    n = values.shape[0]
    if summarize and n > 2 * edge:
        parts = (
            [_nested_str(values[i], indent + 1, summarize, fmt) for i in range(edge)]
            + ["..."]
            + [_nested_str(values[i], indent + 1, summarize, fmt) for i in range(n - edge, n)]
        )
    else:
        parts = [_nested_str(values[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    """``, dtype=...`` and the others, each on a new line when it would pass the line width
    (PyTorch's arithmetic, quirks included)."""
    out = [text]
    last_line = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line + len(suffix) + 2 > OPTIONS["linewidth"]:
            out.append(",\n" + " " * indent + suffix)
            last_line = indent + len(suffix)
        else:
            out.append(", " + suffix)
            last_line += len(suffix) + 2
    return "".join(out) + ")"


def format_tensor(t: _core.Tensor) -> str:
    """``repr(t)`` as PyTorch writes it (``torch._tensor_str._str``)."""
    d = t.detach().cpu()
    floating = d.dtype in (_core.float16, _core.bfloat16, _core.float32, _core.float64)
    if d.dtype == _core.bfloat16:
        d = d.float()  # (NumPy has no bfloat16; float32 holds every value exactly)
    values = np.asarray(d)
    prefix = "tensor("
    indent = len(prefix)
    default_dtype = _core._default_dtype()
    suffixes = []
    if t.device.type != "cpu":
        suffixes.append(f"device='{t.device}'")
    if values.size == 0:
        if values.ndim != 1:
            suffixes.append(f"size={tuple(values.shape)}")  # (`[]` alone hides the shape)
        if t.dtype != default_dtype:
            suffixes.append(f"dtype={t.dtype!r}")  # (nothing to tell an empty int64 by)
        body = "[]"
    else:
        edge = int(OPTIONS["edgeitems"])
        if not edge:
            suffixes.append(f"size={tuple(values.shape)}")
        if t.dtype not in (default_dtype, _core.int64, _core.bool):
            suffixes.append(f"dtype={t.dtype!r}")
        summarize = values.size > OPTIONS["threshold"]
        fmt = _Formatter(_summarized(values, edge) if summarize else values, floating)
        body = _nested_str(values, indent, summarize, fmt)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)
