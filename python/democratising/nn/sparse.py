"""``Embedding``: a lookup table of learnable vectors."""

from __future__ import annotations

from typing import Any, Optional

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from ..errors import ShapeError, _AssertedValueError
from . import functional as F
from ._factory import to_factory
from ._layer_common import _changed_options
from .module import Module
from .parameter import Parameter


def _table(
    num_embeddings: int,
    embedding_dim: int,
    padding_idx: Optional[int],
    _weight: Optional[Tensor],
    mismatch: str,
    requires_grad: bool = True,
) -> Parameter:
    """The lookup table of ``Embedding`` and ``EmbeddingBag``: the given ``_weight`` (detached,
    ``requires_grad`` as asked) after a shape check whose error is ``mismatch`` (``{shape}``
    there is the shape given), else N(0, 1) with row ``padding_idx`` zero."""
    if _weight is not None:
        if tuple(_weight.shape) != (num_embeddings, embedding_dim):
            raise ShapeError(mismatch.format(shape=tuple(_weight.shape)))
        return Parameter(_weight.detach(), requires_grad=requires_grad)
    weight = Parameter(_core.randn(num_embeddings, embedding_dim), requires_grad=requires_grad)
    if padding_idx is not None:
        with no_grad():
            weight[padding_idx] = 0.0
    return weight


class Embedding(Module):
    """``weight [num_embeddings, embedding_dim]`` initialised N(0, 1), row ``padding_idx`` zero
    and never updated by gradients, as in PyTorch."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: Optional[int] = None,
        max_norm: Optional[float] = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Optional[Tensor] = None,
        _freeze: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        """PyTorch's signature. ``sparse=True`` is accepted and gives dense gradients (there
        are no sparse tensors here); ``max_norm`` renormalises the looked-up rows in place and
        ``scale_grad_by_freq`` divides each row's gradient by its count in the batch, as in
        PyTorch. ``_weight`` is the initial table."""
        super().__init__()
        if padding_idx is not None and padding_idx < 0:
            padding_idx += num_embeddings
        if padding_idx is not None and not 0 <= padding_idx < num_embeddings:
            raise _AssertedValueError(
                f"padding_idx must be within num_embeddings ({num_embeddings})"
            )
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        self.weight = _table(
            num_embeddings,
            embedding_dim,
            padding_idx,
            _weight,
            "Shape of weight {shape} does not match num_embeddings and embedding_dim",
            requires_grad=not _freeze,
        )
        to_factory(self, device, dtype)

    def reset_parameters(self) -> None:
        """Re-draws ``weight`` from N(0, 1) in place, row ``padding_idx`` zero (PyTorch's)."""
        from . import init

        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        """Zeroes row ``padding_idx`` (PyTorch's helper of the same name)."""
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx].fill_(0)

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Tensor,
        freeze: bool = True,
        padding_idx: Optional[int] = None,
        max_norm: Optional[float] = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An ``Embedding`` whose weight is the 2-D ``embeddings`` (shared, not copied, and
        its ``padding_idx`` row left as given), frozen unless ``freeze=False`` (PyTorch)."""
        if embeddings.ndim != 2:
            raise ShapeError(
                f"Embeddings parameter is expected to be 2-dimensional, got shape "
                f"{tuple(embeddings.shape)}"
            )
        rows, cols = embeddings.shape
        return cls(
            rows,
            cols,
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            sparse=sparse,
            _weight=embeddings,
            _freeze=freeze,
        )

    # PyTorch's options, for layers pickled before they were kept.
    max_norm: Optional[float] = None
    norm_type: float = 2.0
    scale_grad_by_freq: bool = False
    sparse: bool = False

    def forward(self, input: Tensor) -> Tensor:
        options = (self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse)
        return F.embedding(input, self.weight, self.padding_idx, *options)

    def extra_repr(self) -> str:
        """PyTorch's: the sizes, then each option that is not its default; ``sparse`` reads
        ``sparse=True`` whatever non-``False`` value it holds (PyTorch's fixed text)."""
        s = f"{self.num_embeddings}, {self.embedding_dim}" + _changed_options(
            self,
            (
                ("padding_idx", None),
                ("max_norm", None),
                ("norm_type", 2),
                ("scale_grad_by_freq", False),
            ),
        )
        return s + ", sparse=True" if self.sparse is not False else s
