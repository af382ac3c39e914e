"""``ctx``, the object a custom ``autograd.Function``'s ``forward`` and ``backward`` share:
saved tensors (through the saved-tensor hooks in force when the node is recorded), dirty and
non-differentiable outputs, and ``set_materialize_grads``."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Callable, Optional

from ._core import Tensor
from .autograd_graph import modified_inplace
from .errors import ArgumentTypeError, AutogradError

if TYPE_CHECKING:
    from ._function import _Node

_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)


class FunctionCtx:
    """The ``ctx`` object passed to ``forward``/``backward``: stash tensors and values on it."""

    def __init__(self, inputs: tuple[Any, ...] = ()) -> None:
        self.needs_input_grad: tuple[bool, ...] = ()
        self.materialize_grads = True
        self._input_ids = {id(a) for a in inputs if isinstance(a, Tensor)}
        self._saved: tuple[Optional[Tensor], ...] = ()
        self._saved_other: set[int] = set()
        self._saved_raw: tuple[Optional[Tensor], ...] = ()
        self._non_diff: set[int] = set()
        self._dirty_tensors: list[Tensor] = []
        self._versions: list[tuple[Tensor, int]] = []
        # With saved-tensor hooks: per saved slot (unpack hook, packed, is an input, the
        # input's stand-in), or None for a saved None; ``_node`` is set during a
        # graph-building pass.
        self._packed: Optional[
            list[Optional[tuple[Callable[[Any], Tensor], Any, bool, Optional[Tensor]]]]
        ] = None
        self._unpacked: Optional[tuple[Optional[Tensor], ...]] = None
        self._node: Optional[_Node] = None
        self._freed = False

    @property
    def saved_tensors(self) -> tuple[Optional[Tensor], ...]:
        """The tensors given to ``save_for_backward`` (through the unpack hook if
        saved-tensor hooks were active at ``apply``). After the backward has freed the graph
        (no ``retain_graph``), reading them raises, as in PyTorch."""
        if self._freed:
            raise AutogradError(_FREED)
        saved = self._saved if self._packed is None else self._unpack()
        node = self._node
        if node is not None and node.saved_out:
            saved = tuple(
                node.record(t, node.saved_out[i], True)
                if i in node.saved_out and isinstance(t, Tensor)
                else t
                for i, t in enumerate(saved)
            )
        return saved

    def _unpack(self) -> tuple[Optional[Tensor], ...]:
        """The saved tensors from the unpack hook: called at the first read only and kept
        while this Function's node lives, as the engine does for its own ops' saved tensors
        (``checkpoint`` hands each recomputed tensor over once, so a second backward through
        the node, e.g. after ``create_graph``, reuses them)."""
        assert self._packed is not None
        unpacked = self._unpacked
        if unpacked is None:
            got: list[Optional[Tensor]] = []
            for slot in self._packed:
                t = None if slot is None else slot[0](slot[1])
                if slot is not None and not isinstance(t, Tensor):
                    raise ArgumentTypeError(
                        "Output of saved tensor unpack_hook expected to be a Tensor but got "
                        f"result of type {type(t).__name__}"
                    )
                got.append(t)
            unpacked = self._unpacked = tuple(got)
        # As PyTorch's SavedVariable, a graph-building pass sees an input with the input's
        # own history (through its stand-in, whatever the hook returned); otherwise a saved
        # tensor is a value (a saved output is re-attached by ``saved_tensors``).
        building = self._node is not None
        out: list[Optional[Tensor]] = []
        for slot, t in zip(self._packed, unpacked):
            if slot is not None and t is not None:
                _, _, is_input, anchor = slot
                if anchor is not None and building:
                    t = anchor + t.detach()
                elif not is_input:
                    t = t.detach()
            out.append(t)
        return tuple(out)

    def _pack(
        self,
        hooks: tuple[Callable[[Tensor], Any], Callable[[Any], Tensor]],
        returned: dict[int, Tensor],
        stand_ins: dict[int, Tensor],
    ) -> None:
        """Hands each saved tensor to the pack hook (an output as returned, with this
        Function's history) and keeps only what it returns, as PyTorch's ``SavedVariable``
        does: ``checkpoint`` drops them, ``save_on_cpu`` moves them. A saved input keeps its
        stand-in (``_stand_in``: its history, none of its data). The version check is off
        then (PyTorch cannot see through the hooks either)."""
        pack, unpack = hooks
        raw = self._saved_raw or self._saved
        self._packed = [
            None
            if t is None
            else (
                unpack,
                pack(returned.get(id(t), t)),
                id(t) not in self._saved_other,
                stand_ins.get(id(t)) if t.requires_grad else None,
            )
            for t in raw
        ]
        self._saved = ()
        self._saved_raw = ()
        self._versions = []

    def _release(self) -> None:
        """The graph dropped this Function's node: its saved tensors go too (PyTorch frees
        them after a backward without ``retain_graph``), and reading them raises."""
        self._freed = True
        self._saved = ()
        self._packed = None
        self._unpacked = None
        self._versions = []

    def save_for_backward(self, *tensors: Optional[Tensor]) -> None:
        """Saved inputs keep their graph, so a backward run with ``create_graph=True``
        differentiates through them (as in PyTorch). A saved output is kept detached (no
        reference cycle through the graph) and re-attached to this Function's node when a
        backward builds a graph. A saved floating-point intermediate (neither input nor
        output) would be a constant in that graph and make the higher-order gradient silently
        wrong, so such a Function refuses ``create_graph``. With saved-tensor hooks active
        when ``apply`` records the node, the tensors are packed then (see ``_pack``)."""
        for i, t in enumerate(tensors):
            # (A sparse tensor too, as PyTorch saves one: kept as it is.)
            if t is not None and not isinstance(t, Tensor) and not getattr(t, "is_sparse", 0):
                raise ArgumentTypeError(
                    "save_for_backward can only save variables, but argument "
                    f"{i} is of type {type(t).__name__}"
                )
        self._saved_other = {
            id(t)
            for t in tensors
            if isinstance(t, Tensor) and id(t) not in self._input_ids and t.dtype.is_floating_point
        }
        self._saved = tuple(
            t.detach() if isinstance(t, Tensor) and id(t) in self._saved_other else t
            for t in tensors
        )
        # Kept (strongly, so no id is reused) until ``apply`` has matched them to the outputs
        # and packed them.
        self._saved_raw = tensors

    def save_for_forward(self, *tensors: Optional[Tensor]) -> None:
        """PyTorch's hand-over of tensors to a ``jvp`` staticmethod. Forward-mode transforms
        here (``func.jvp``, ``jacfwd``) differentiate ``backward`` instead and never call
        ``jvp``, so the tensors are only checked and kept (``saved_for_forward``), and a
        Function written for both modes runs unchanged."""
        if not all(t is None or isinstance(t, Tensor) for t in tensors):
            raise ArgumentTypeError(
                "save_for_forward expects all arguments to be tensors; you should save "
                "non-tensors as attributes on ctx."
            )
        self.saved_for_forward = tensors

    def _watch_saved(self) -> None:
        """Remembers each saved tensor's version counter (shared by its views), so a backward
        after an in-place change of one raises instead of using the new values (PyTorch)."""
        self._versions = [(t, t._version) for t in self._saved if t is not None]

    def _check_saved(self) -> None:
        for t, version in self._versions:
            if t._version != version:
                raise modified_inplace("a tensor saved by save_for_backward", t, version)

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        """These outputs are returned without a graph (``requires_grad=False``); backward
        still receives a (zero) gradient for each."""
        self._non_diff = {id(t) for t in tensors}

    def mark_dirty(self, *tensors: Tensor) -> None:
        """Declares inputs that ``forward`` modified in place; the returned tensor carries this
        Function's graph. While grad is recorded, an in-place change of a leaf that requires
        grad is refused (``apply`` raises), as in PyTorch."""
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise AutogradError(
                    "mark_dirty can only accept variables, but argument "
                    f"{i} is of type {type(t).__name__}"
                )
            if id(t) not in self._input_ids:
                warnings.warn(
                    "ctx.mark_dirty() received a tensor that was not an input. Only input "
                    "Tensors that have been mutated should be passed to ctx.mark_dirty().",
                    UserWarning,
                    stacklevel=2,
                )
        self._dirty_tensors = [t for t in tensors if id(t) in self._input_ids]

    def set_materialize_grads(self, value: bool) -> None:
        """With ``False``, ``backward`` receives ``None`` (not a zero tensor) for outputs that
        got no gradient, so it can skip work for them."""
        self.materialize_grads = bool(value)
