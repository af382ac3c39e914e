"""``repr(tensor)`` in PyTorch's style: ``tensor([[1., 2.]], requires_grad=True)``, with the
print options ``dm.set_printoptions`` sets (PyTorch's names, defaults and profiles)."""

from __future__ import annotations

import math
import sys
from typing import Any, Optional

import numpy as np

from . import _core

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
            raise ValueError(f"set_printoptions: unknown profile {profile!r}")
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


def format_tensor(t: _core.Tensor) -> str:
    d = t.detach().cpu()
    if d.dtype in (_core.bfloat16, _core.float16):
        d = d.float()
    arr = np.asarray(d)
    prefix = "tensor("
    precision = int(OPTIONS["precision"])
    threshold = OPTIONS["threshold"]
    formatter = None
    floatmode = "maxprec"
    if arr.dtype.kind == "f":
        finite = arr[np.isfinite(arr)]
        if OPTIONS["sci_mode"] is True:
            formatter = {"float_kind": lambda v: f"{v:.{precision}e}"}
        elif finite.size and not np.all(finite == np.round(finite)):
            floatmode = "fixed"  # PyTorch's: every element to `precision` digits (2.0000)
    body = np.array2string(
        arr,
        separator=", ",
        prefix=prefix,
        threshold=sys.maxsize if math.isinf(threshold) else int(threshold),
        edgeitems=int(OPTIONS["edgeitems"]),
        precision=precision,
        max_line_width=int(OPTIONS["linewidth"]),
        suppress_small=OPTIONS["sci_mode"] is False,
        floatmode=floatmode,
        formatter=formatter,  # type: ignore[arg-type]
    )
    extras = []
    if arr.size == 0 and arr.ndim != 1:
        extras.append(f"size={tuple(arr.shape)}")  # `[]` alone hides the shape
    if t.device.type == "cuda":
        extras.append(f"device='{t.device}'")
    if t.dtype not in (_core.float32, _core.int64, _core.bool):
        extras.append(f"dtype={t.dtype!r}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + body + "".join(", " + e for e in extras) + ")"
