"""``dm.cond`` and ``dm.while_loop``: PyTorch's control-flow operators, which exist so that a
compiler can capture data-dependent branches and loops. Here everything runs eagerly, so they
are the branch or loop itself, with PyTorch's argument checks (the same programs keep
failing the same way) and gradients flowing through whichever ops ran."""

from __future__ import annotations

from typing import Any, Callable, Union

from ._core import Tensor
from .errors import ArgumentTypeError, InvalidValueError, ShapeError

__all__ = ["cond", "while_loop"]


def _truth(pred: Any, op: str) -> bool:
    """A Python bool, a number, or a one-element tensor, as a bool."""
    if isinstance(pred, Tensor):
        if pred.numel() != 1:
            raise ShapeError(
                f"{op}: Expected pred to be bool or single-element tensor, but got a tensor "
                f"of shape {tuple(pred.shape)}."
            )
        return bool(pred.item())
    if isinstance(pred, (bool, int, float)):
        return bool(pred)
    raise ArgumentTypeError(
        f"{op}: Expected pred to be bool or a tensor, but got {type(pred).__name__}."
    )


def _operands(operands: Any, op: str) -> tuple[Any, ...]:
    if not isinstance(operands, (tuple, list)):
        raise ArgumentTypeError(
            f"{op}: expected operands to be a tuple or list, got {type(operands).__name__}"
        )
    return tuple(operands)


def cond(
    pred: Union[bool, int, float, Tensor],
    true_fn: Callable[..., Any],
    false_fn: Callable[..., Any],
    operands: Union[tuple[Any, ...], list[Any]] = (),
) -> Any:
    """``true_fn(*operands)`` if ``pred`` (a bool or a one-element tensor) holds, else
    ``false_fn(*operands)`` (``torch.cond``)."""
    if not (callable(true_fn) and callable(false_fn)):
        raise ArgumentTypeError("cond: true_fn and false_fn must be callable")
    args = _operands(operands, "cond")
    return true_fn(*args) if _truth(pred, "cond") else false_fn(*args)


def while_loop(
    cond_fn: Callable[..., Any],
    body_fn: Callable[..., Any],
    carried_inputs: Union[tuple[Any, ...], list[Any]],
) -> tuple[Any, ...]:
    """Runs ``carried = body_fn(*carried)`` while ``cond_fn(*carried)`` holds and returns the
    final ``carried`` tuple (``torch.while_loop``); ``body_fn`` must return as many values as
    it takes."""
    if not (callable(cond_fn) and callable(body_fn)):
        raise ArgumentTypeError("while_loop: cond_fn and body_fn must be callable")
    carried = _operands(carried_inputs, "while_loop")
    while _truth(cond_fn(*carried), "while_loop"):
        out = body_fn(*carried)
        out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if len(out) != len(carried):
            raise InvalidValueError(
                f"while_loop: body_fn returned {len(out)} values for {len(carried)} carried "
                "inputs; it must return one per carried input"
            )
        carried = out
    return carried
