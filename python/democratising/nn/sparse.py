"""``Embedding``: a lookup table of learnable vectors."""

from __future__ import annotations

from typing import Optional

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from . import functional as F
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    """``weight [num_embeddings, embedding_dim]`` initialised N(0, 1), row ``padding_idx`` zero
    and never updated by gradients, as in PyTorch."""

    def __init__(
        self, num_embeddings: int, embedding_dim: int, padding_idx: Optional[int] = None
    ) -> None:
        super().__init__()
        if padding_idx is not None and padding_idx < 0:
            padding_idx += num_embeddings
        if padding_idx is not None and not 0 <= padding_idx < num_embeddings:
            raise ValueError(f"padding_idx must be within num_embeddings ({num_embeddings})")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        self.weight = Parameter(_core.randn(num_embeddings, embedding_dim))
        if padding_idx is not None:
            with no_grad():
                self.weight[padding_idx] = 0.0

    def forward(self, x: Tensor) -> Tensor:
        return F.embedding(x, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
