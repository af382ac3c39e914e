"""``MultiheadAttention`` with PyTorch's parameters (``in_proj_weight [3E, E]``,
``in_proj_bias``, ``out_proj``) and call signature."""

from __future__ import annotations

import math
from typing import Optional

from .. import _core
from .._core import Tensor
from ..errors import ShapeError
from . import functional as F
from .layers import Dense
from .module import Module
from .parameter import Parameter


class MultiheadAttention(Module):
    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = False,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(
                f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.head_dim, self.batch_first = embed_dim // num_heads, batch_first
        bound = math.sqrt(6.0 / (embed_dim + 3 * embed_dim))  # xavier_uniform on [3E, E]
        self.in_proj_weight = Parameter(_core.rand(3 * embed_dim, embed_dim) * (2 * bound) - bound)
        if bias:
            self.in_proj_bias = Parameter(_core.zeros(3 * embed_dim))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Dense(embed_dim, embed_dim, bias=bias)
        if bias:
            self.out_proj.bias = Parameter(_core.zeros(embed_dim))

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Optional[Tensor] = None,
        need_weights: bool = True,
        attn_mask: Optional[Tensor] = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Optional[Tensor]]:
        """Inputs ``[L, N, E]`` (or ``[N, L, E]`` with ``batch_first``); returns the output and,
        with ``need_weights``, the attention weights (averaged over heads by default)."""
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        elif self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        lq, n, e = query.shape
        if e != self.embed_dim:
            raise ShapeError(f"query has embedding size {e}, expected {self.embed_dim}")
        lk = key.shape[0]
        w, b = self.in_proj_weight, self._parameters.get("in_proj_bias")
        wq, wk, wv = w.chunk(3, 0)
        bq, bk, bv = b.chunk(3, 0) if b is not None else (None, None, None)
        h, d = self.num_heads, self.head_dim

        def heads(x: Tensor, weight: Tensor, bias: Optional[Tensor], length: int) -> Tensor:
            y = F.linear(x, weight, bias)  # [L, N, E]
            return y.reshape(length, n * h, d).transpose(0, 1)  # [N*H, L, d]

        q, k, v = heads(query, wq, bq, lq), heads(key, wk, bk, lk), heads(value, wv, bv, lk)
        scores = (q @ k.transpose(1, 2)) * (1.0 / math.sqrt(d))  # [N*H, Lq, Lk]
        scores = scores.reshape(n, h, lq, lk)
        if attn_mask is not None:
            m = attn_mask if attn_mask.ndim == 2 else attn_mask.reshape(n, h, lq, lk)
            if m.dtype == _core.bool:
                scores = scores.masked_fill(m.expand(*scores.shape), float("-inf"))
            else:
                scores = scores + m
        if is_causal and attn_mask is None:
            tri = _core.arange(lq).reshape(lq, 1) < _core.arange(lk).reshape(1, lk)
            scores = scores.masked_fill(tri.to(scores.device).expand(*scores.shape), float("-inf"))
        if key_padding_mask is not None:
            kpm = key_padding_mask.reshape(n, 1, 1, lk)
            if kpm.dtype == _core.bool:
                scores = scores.masked_fill(kpm.expand(*scores.shape), float("-inf"))
            else:
                scores = scores + kpm
        attn = scores.softmax(-1)
        if self.dropout > 0.0:
            attn = F.dropout(attn, self.dropout, self.training)
        out = attn.reshape(n * h, lq, lk) @ v  # [N*H, Lq, d]
        out = out.transpose(0, 1).reshape(lq, n, e)
        out = self.out_proj(out)
        if unbatched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        weights = None
        if need_weights:
            weights = attn.mean(dim=1) if average_attn_weights else attn
            if unbatched:
                weights = weights.squeeze(0)
        return out, weights
