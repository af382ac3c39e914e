"""Non-reentrant activation checkpointing (PyTorch's ``use_reentrant=False``): the segment
runs with its real graph while saved-tensor hooks drop every tensor its ops save; the first
backward that needs one reruns the segment and hands the recomputed tensors over."""

from __future__ import annotations

import weakref
from contextlib import AbstractContextManager as ContextManager
from functools import partial
from typing import Any, Callable, Optional

from .. import _core
from .._core import Tensor
from .._grad_mode import enable_grad
from ..autograd_graph import modified_inplace, saved_tensors_hooks
from ..errors import AutogradError
from ._nest import flatten as _flatten


class CheckpointError(AutogradError):
    """``torch.utils.checkpoint.CheckpointError``: the recomputation of a non-reentrant
    checkpoint did not give back what the forward saved (another count, shape, dtype or
    device: a function that is not deterministic), or a dropped tensor was needed twice."""


class _StopRecomputationError(Exception):
    """Raised by the recomputation's pack hook once every dropped tensor is back."""


def _metadata(t: Tensor) -> tuple[Any, ...]:
    """What the determinism check compares (PyTorch's: shape, dtype, device)."""
    return (tuple(t.shape), t.dtype, str(t.device))


class _Holder:
    """What the graph keeps instead of a dropped tensor: the recomputed tensor once the
    recomputation has run, until the backward takes it."""

    __slots__ = ("__weakref__", "claimed", "tensor")

    def __init__(self) -> None:
        self.tensor: Optional[Tensor] = None
        self.claimed = False


class _Frame:
    """One non-reentrant checkpointed call: what its recomputation needs and a weak
    reference to each holder (the graph owns them). The saved-tensor hooks reach the frame
    only weakly: it lives in pre-hooks on the outputs' nodes, where the cycle collector can
    see it (a function that keeps its own output, ``self.out = ...``, is then collected)."""

    def __init__(
        self,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        rng_state: Optional[list[int]],
        recompute_context: ContextManager[Any],
        check: bool,
        early_stop: bool,
    ) -> None:
        self.function, self.args, self.kwargs = function, args, kwargs
        # (PyTorch saves the inputs for backward: an in-place change before it is an error)
        self.versions = [
            (a, a._version) for a in (*args, *kwargs.values()) if isinstance(a, Tensor)
        ]
        self.rng_state = rng_state
        self.amp_dtype = _core._get_autocast()
        self.recompute_context = recompute_context
        self.check, self.early_stop = check, early_stop
        self.holders: list[weakref.ref[_Holder]] = []
        self.metadata: list[tuple[Any, ...]] = []

    def pack(self, t: Tensor) -> _Holder:
        holder = _Holder()
        self.holders.append(weakref.ref(holder))
        if self.check:
            self.metadata.append(_metadata(t))
        return holder

    def wanted(self, k: int) -> Optional[_Holder]:
        """Holder ``k`` if the graph still has it and the backward has yet to take it."""
        holder = self.holders[k]()
        return holder if holder is not None and not holder.claimed else None

    def pending(self) -> bool:
        """Whether a holder the graph still has awaits its recomputed tensor."""
        return any(
            (h := self.wanted(k)) is not None and h.tensor is None for k in range(len(self.holders))
        )

    def recompute(self) -> None:
        """Reruns the function with grad, in the forward's RNG and autocast state, filling
        every holder the backward has not emptied yet."""
        for a, version in self.versions:
            if a._version != version:
                raise modified_inplace("an input of the checkpointed function", a, version)
        count = len(self.holders)
        fresh: list[tuple[_Holder, Tensor]] = []
        n = [0]

        def pack(t: Tensor) -> Tensor:
            k = n[0]
            n[0] += 1
            if k >= count:
                if self.early_stop:
                    return t  # (the function swallowed the stop: the rest is not needed)
                raise CheckpointError(
                    "torch.utils.checkpoint: trying to save more tensors during "
                    "recomputation than during the original forward pass."
                )
            holder = self.wanted(k)
            if holder is not None:
                if self.check and _metadata(t) != self.metadata[k]:
                    shape, dtype, device = self.metadata[k]
                    raise CheckpointError(
                        "torch.utils.checkpoint: Recomputed values for the following tensors "
                        "have different metadata than during the forward pass.\n"
                        f"tensor at position {k}:\nsaved metadata: {{'shape': {list(shape)}, "
                        f"'dtype': {dtype}, 'device': {device}}}\nrecomputed metadata: "
                        f"{{'shape': {list(t.shape)}, 'dtype': {t.dtype}, 'device': {t.device}}}"
                    )
                fresh.append((holder, t))
            if self.early_stop and n[0] == count:
                raise _StopRecomputationError
            return t

        saved_rng, saved_amp = _core.get_rng_state(), _core._get_autocast()
        if self.rng_state is not None:
            _core.set_rng_state(self.rng_state)
        _core._set_autocast(self.amp_dtype)
        try:
            with saved_tensors_hooks(pack, _same), self.recompute_context, enable_grad():
                self.function(*self.args, **self.kwargs)
        except _StopRecomputationError:
            pass
        finally:
            _core.set_rng_state(saved_rng)
            _core._set_autocast(saved_amp)
        if n[0] < count:
            raise CheckpointError(
                "torch.utils.checkpoint: A different number of tensors was saved during the "
                f"original forward and recomputation: {count} in the forward, {n[0]} in the "
                "recomputation."
            )
        for holder, t in fresh:
            holder.tensor = t


def _same(t: Tensor) -> Tensor:
    return t


def _pack(frame: weakref.ref[_Frame], t: Tensor) -> _Holder:
    live = frame()
    assert live is not None  # (the forward holds it)
    return live.pack(t)


def _unpack(frame: weakref.ref[_Frame], holder: _Holder) -> Tensor:
    """The recomputed tensor of ``holder``, recomputing first if needed (a backward that
    entered the segment other than through its outputs)."""
    if holder.tensor is None:
        live = frame()
        if holder.claimed or live is None:
            raise CheckpointError(
                "torch.utils.checkpoint: a dropped activation is needed but cannot be "
                "recomputed: "
                + (
                    "it was already unpacked once"
                    if holder.claimed
                    else "the checkpointed call's outputs and their graph are gone"
                )
            )
        live.recompute()
    t, holder.tensor, holder.claimed = holder.tensor, None, True
    assert t is not None
    return t


def _before_output(frame: _Frame, grad_outputs: Any) -> None:
    """Pre-hook on an output's node: a backward is entering the segment, so recompute now
    (the frame may be freed with this node, before the nodes that need the tensors run)."""
    del grad_outputs
    if frame.pending():
        frame.recompute()


def _checkpoint_hooked(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    preserve_rng_state: bool,
    context_fn: Callable[[], tuple[ContextManager[Any], ContextManager[Any]]],
    check: bool,
    early_stop: bool,
) -> Any:
    """PyTorch's non-reentrant checkpoint: ``function`` runs with its graph, every tensor
    saved for backward is dropped (kept as an empty holder) and recomputed on first use."""
    forward_context, recompute_context = context_fn()
    if not _core.is_grad_enabled():
        return function(*args, **kwargs)
    rng_state = _core.get_rng_state() if preserve_rng_state else None
    frame = _Frame(function, args, kwargs, rng_state, recompute_context, check, early_stop)
    ref = weakref.ref(frame)
    with saved_tensors_hooks(partial(_pack, ref), partial(_unpack, ref)), forward_context:
        out = function(*args, **kwargs)
    if frame.holders:
        given = {id(a) for a, _ in frame.versions}
        hook = partial(_before_output, frame)
        for o in _flatten(out)[0]:
            if isinstance(o, Tensor) and o.grad_fn is not None and id(o) not in given:
                o.grad_fn.register_prehook(hook)
    return out
