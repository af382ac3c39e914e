"""``MultiheadAttention`` with PyTorch's constructor, parameters (``in_proj_weight [3E, E]`` or
``q/k/v_proj_weight`` when ``kdim``/``vdim`` differ, ``in_proj_bias``, ``bias_k``/``bias_v``,
``out_proj``), call signature and masking conventions, and its functional form
``multi_head_attention_forward`` (PyTorch's ``F.multi_head_attention_forward``)."""

from __future__ import annotations

import math
from typing import Any, Optional

from .. import _core
from .._core import Tensor
from ..errors import DTypeError, InvalidValueError, ShapeError, _AssertedValueError
from . import functional as F
from . import init
from ._sdpa_backends import SDPBackend as SDPBackend  # torch.nn.attention's names
from ._sdpa_backends import sdpa_kernel as sdpa_kernel
from .layers import Linear
from .module import Module
from .parameter import Parameter


def _canonical_mask(mask: Optional[Tensor], name: str, dtype: Any) -> Optional[Tensor]:
    """A boolean mask (``True`` = masked out, MultiheadAttention's convention) as an additive
    float mask of ``dtype`` (``-inf`` where masked, 0 elsewhere); a float mask cast to ``dtype``."""
    if mask is None:
        return None
    if mask.dtype == _core.bool:
        zeros = _core.zeros(mask.shape, dtype=dtype, device=mask.device)
        return zeros.masked_fill(mask, float("-inf"))
    if not mask.dtype.is_floating_point:
        raise DTypeError(f"only bool and floating types of {name} are supported, got {mask.dtype}")
    return mask.to(dtype)


def _pad_last(mask: Optional[Tensor]) -> Optional[Tensor]:
    """``mask`` with a zero (= attend) column appended on its last dim (for ``bias_k`` and
    ``add_zero_attn``, which add one key)."""
    if mask is None:
        return None
    col = _core.zeros(*mask.shape[:-1], 1, dtype=mask.dtype, device=mask.device)
    return _core.cat([mask, col], -1)


def _factory(module: Module, device: Any, dtype: Any) -> None:
    """Applies PyTorch's ``device=``/``dtype=`` factory arguments after construction (any
    dtype ``Module.to`` takes): ``MultiheadAttention`` and the transformer layers share it."""
    if device is not None or dtype is not None:
        module.to(**{k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None})


class NonDynamicallyQuantizableLinear(Linear):
    """PyTorch's class of ``MultiheadAttention.out_proj``: a plain ``Linear`` under the name
    PyTorch prints, so a model's ``repr`` reads the same on both."""


class MultiheadAttention(Module):
    """Multi-head attention (PyTorch's ``nn.MultiheadAttention``): ``out_proj(concat(heads))``
    with ``head_i = softmax(q_i k_i^T / sqrt(head_dim) + mask) v_i``.

    Inputs are ``[L, N, E]`` (``[N, L, E]`` with ``batch_first``) or unbatched ``[L, E]``; keys and
    values may have ``kdim``/``vdim`` features. Without ``need_weights`` the attention runs in
    ``F.scaled_dot_product_attention``; with it the weights are computed explicitly and returned
    (averaged over heads when ``average_attn_weights``)."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: Optional[int] = None,
        vdim: Optional[int] = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise InvalidValueError(
                f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} "
                f"and num_heads={num_heads} instead"
            )
        if embed_dim % num_heads:
            raise _AssertedValueError(
                f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads, self.dropout, self.batch_first = num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        self.add_zero_attn = add_zero_attn
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(_core.empty(3 * embed_dim, embed_dim))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(_core.empty(embed_dim, embed_dim))
            self.k_proj_weight = Parameter(_core.empty(embed_dim, self.kdim))
            self.v_proj_weight = Parameter(_core.empty(embed_dim, self.vdim))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(_core.zeros(3 * embed_dim))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias)
        if add_bias_kv:
            self.bias_k = Parameter(_core.empty(1, 1, embed_dim))
            self.bias_v = Parameter(_core.empty(1, 1, embed_dim))
        else:
            self.register_parameter("bias_k", None)
            self.register_parameter("bias_v", None)
        self._reset_parameters()
        _factory(self, device, dtype)

    def _reset_parameters(self) -> None:
        """PyTorch's initialisation: Xavier-uniform projections, zero biases, Xavier-normal
        ``bias_k``/``bias_v``; ``out_proj.weight`` keeps ``Linear``'s default."""
        p = self._parameters
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(p["in_proj_weight"])
        else:
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                init.xavier_uniform_(p[name])
        if p["in_proj_bias"] is not None:
            init.zeros_(p["in_proj_bias"])
            init.zeros_(self.out_proj.bias)
        for name in ("bias_k", "bias_v"):
            if p[name] is not None:
                init.xavier_normal_(p[name])

    def merge_masks(
        self, attn_mask: Optional[Tensor], key_padding_mask: Optional[Tensor], query: Tensor
    ) -> tuple[Optional[Tensor], Optional[int]]:
        """PyTorch's helper for its fused self-attention: ``(mask, mask_type)`` with the
        ``[L, L]`` or ``[N * H, L, L]`` ``attn_mask`` expanded to ``[N, H, L, L]`` plus the
        ``[N, L]`` ``key_padding_mask`` (type 2), the padding mask alone (type 1), or
        ``(None, None)``. ``query`` is ``[N, L, E]``; the masks are combined as given (add
        float masks, as PyTorch does)."""
        if attn_mask is None:
            return (key_padding_mask, 1) if key_padding_mask is not None else (None, None)
        batch_size, seq_len = query.shape[0], query.shape[1]
        h = self.num_heads
        if attn_mask.ndim == 3:
            merged = attn_mask.reshape(batch_size, -1, seq_len, seq_len)
        else:
            merged = attn_mask.reshape(1, 1, seq_len, seq_len).expand(batch_size, h, -1, -1)
        if key_padding_mask is not None:
            kpm = key_padding_mask.reshape(batch_size, 1, 1, seq_len).expand(-1, h, -1, -1)
            merged = merged + kpm
        return merged, 2

    # ---- forward ---------------------------------------------------------------------------

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
        """Returns ``(attn_output, attn_weights)``: the output shaped like ``query`` and, with
        ``need_weights``, the weights ``[N, L, S]`` (``[N, H, L, S]`` without
        ``average_attn_weights``; no batch dim for unbatched inputs), else ``None``.

        ``key_padding_mask`` is ``[N, S]`` (``[S]`` unbatched), ``attn_mask`` ``[L, S]`` or
        ``[N * num_heads, L, S]``; a boolean mask is ``True`` where attention is *not*
        allowed, a float mask is added to the scores. ``is_causal`` marks ``attn_mask`` as the
        causal mask (the hint it is in PyTorch, which lets the fused kernel skip reading
        it); without ``attn_mask`` it is refused, as in PyTorch."""
        batched = query.ndim == 3
        if batched and self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        p = self._parameters
        out, weights = multi_head_attention_forward(
            query,
            key,
            value,
            self.embed_dim,
            self.num_heads,
            p["in_proj_weight"],
            p["in_proj_bias"],
            p["bias_k"],
            p["bias_v"],
            self.add_zero_attn,
            self.dropout,
            self.out_proj.weight,
            self.out_proj.bias,
            training=self.training,
            key_padding_mask=key_padding_mask,
            need_weights=need_weights,
            attn_mask=attn_mask,
            use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=p["q_proj_weight"],
            k_proj_weight=p["k_proj_weight"],
            v_proj_weight=p["v_proj_weight"],
            average_attn_weights=average_attn_weights,
            is_causal=is_causal,
        )
        if batched and self.batch_first:
            out = out.transpose(0, 1)
        return out, weights


def _check_inputs(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_padding_mask: Optional[Tensor],
    attn_mask: Optional[Tensor],
) -> bool:
    """Raises ``ShapeError`` for inputs PyTorch rejects; returns whether they are batched."""
    nd = query.ndim
    if nd not in (2, 3):
        raise ShapeError(
            f"MultiheadAttention: query should be unbatched 2-D or batched 3-D tensor but "
            f"received {nd}-D query tensor of shape {tuple(query.shape)}"
        )
    what = f"MultiheadAttention: for {'batched' if nd == 3 else 'unbatched'} ({nd}-D) query"
    if key.ndim != nd or value.ndim != nd:
        raise ShapeError(
            f"{what}, expected key and value to be {nd}-D but found {key.ndim}-D and "
            f"{value.ndim}-D tensors respectively"
        )
    if key_padding_mask is not None and key_padding_mask.ndim != nd - 1:
        raise ShapeError(
            f"{what}, expected key_padding_mask to be None or {nd - 1}-D but found "
            f"{key_padding_mask.ndim}-D tensor instead"
        )
    if attn_mask is not None and attn_mask.ndim not in (2, 3):
        raise ShapeError(
            f"{what}, expected attn_mask to be None, 2-D or 3-D but found {attn_mask.ndim}-D "
            "tensor instead"
        )
    return nd == 3


def _static(t: Optional[Tensor], computed: Tensor, name: str, rows: int, d: int) -> Tensor:
    """``static_k``/``static_v`` (``[N * num_heads, S, head_dim]``) in place of the projected
    keys/values ``computed``, checked as PyTorch checks them."""
    if t is None:
        return computed
    if t.ndim != 3 or t.shape[0] != rows or t.shape[2] != d:
        raise ShapeError(
            f"multi_head_attention_forward: expecting {name} of shape ({rows}, S, {d}), got "
            f"{tuple(t.shape)}"
        )
    return t


def multi_head_attention_forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Optional[Tensor],
    in_proj_bias: Optional[Tensor],
    bias_k: Optional[Tensor],
    bias_v: Optional[Tensor],
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Tensor,
    out_proj_bias: Optional[Tensor],
    training: bool = True,
    key_padding_mask: Optional[Tensor] = None,
    need_weights: bool = True,
    attn_mask: Optional[Tensor] = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Optional[Tensor] = None,
    k_proj_weight: Optional[Tensor] = None,
    v_proj_weight: Optional[Tensor] = None,
    static_k: Optional[Tensor] = None,
    static_v: Optional[Tensor] = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Optional[Tensor]]:
    """PyTorch's ``F.multi_head_attention_forward``: what ``MultiheadAttention`` computes, with
    the weights passed in. Inputs are ``[L, N, E]`` (sequence first) or unbatched ``[L, E]``;
    ``in_proj_weight`` ``[3E, E]``, or ``q/k/v_proj_weight`` with ``use_separate_proj_weight``;
    ``static_k``/``static_v`` (``[N * num_heads, S, E / num_heads]``) replace the projected
    keys/values. Masks and the result as in ``MultiheadAttention.forward``."""
    batched = _check_inputs(query, key, value, key_padding_mask, attn_mask)
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    h = num_heads
    if embed_dim != embed_dim_to_check:
        raise ShapeError(
            f"MultiheadAttention: was expecting embedding dimension of {embed_dim_to_check}, "
            f"but got query of shape {tuple(query.shape)}"
        )
    if h <= 0 or embed_dim % h:
        raise ShapeError(f"embed_dim {embed_dim} not divisible by num_heads {h}")
    d = embed_dim // h
    if key.shape[:2] != value.shape[:2] or key.shape[1] != bsz:
        raise ShapeError(
            f"MultiheadAttention: key shape {tuple(key.shape)} does not match value shape "
            f"{tuple(value.shape)} or the query's batch size {bsz}"
        )
    if use_separate_proj_weight:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise InvalidValueError(
                "use_separate_proj_weight is True but q/k/v_proj_weight is None"
            )
        wq, wk, wv = q_proj_weight, k_proj_weight, v_proj_weight
    else:
        if in_proj_weight is None:
            raise InvalidValueError("use_separate_proj_weight is False but in_proj_weight is None")
        wq, wk, wv = in_proj_weight.chunk(3, 0)
    if key.shape[-1] != wk.shape[-1] or value.shape[-1] != wv.shape[-1]:
        raise ShapeError(
            f"MultiheadAttention: expected key with {wk.shape[-1]} and value with "
            f"{wv.shape[-1]} features, got key {tuple(key.shape)} and value {tuple(value.shape)}"
        )
    dtype = query.dtype
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", dtype)
    n_keys = src_len if static_k is None or static_k.ndim != 3 else static_k.shape[1]
    if key_padding_mask is not None and tuple(key_padding_mask.shape) != (bsz, n_keys):
        raise ShapeError(
            f"MultiheadAttention: expecting key_padding_mask shape of {(bsz, n_keys)}, but "
            f"got {tuple(key_padding_mask.shape)}"
        )
    if is_causal and attn_mask is None:
        # PyTorch's rule: ``is_causal`` is a hint about ``attn_mask``, not a mask of its own.
        raise InvalidValueError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer "
            "module method `generate_square_subsequent_mask` to create this mask."
        )
    causal_only = is_causal and key_padding_mask is None and not need_weights
    if causal_only:
        attn_mask = None  # SDPA applies the causal mask itself
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", dtype)
        is_causal = False
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise ShapeError(
                    f"MultiheadAttention: the shape of the 2-D attn_mask is "
                    f"{tuple(attn_mask.shape)}, but should be {(tgt_len, src_len)}"
                )
            attn_mask = attn_mask.unsqueeze(0)
        elif tuple(attn_mask.shape) != (bsz * h, tgt_len, src_len):
            raise ShapeError(
                f"MultiheadAttention: the shape of the 3-D attn_mask is "
                f"{tuple(attn_mask.shape)}, but should be {(bsz * h, tgt_len, src_len)}"
            )

    # input projections
    bq, bk, bv = in_proj_bias.chunk(3, 0) if in_proj_bias is not None else (None, None, None)
    q = F.linear(query, wq, bq)
    k = F.linear(key, wk, bk)
    v = F.linear(value, wv, bv)
    if (bias_k is None) != (bias_v is None):
        raise InvalidValueError("bias_k and bias_v must be given together")
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise InvalidValueError("bias cannot be added to static key or value")
        k = _core.cat([k, bias_k.to(k.dtype).expand(1, bsz, embed_dim)], 0)
        v = _core.cat([v, bias_v.to(v.dtype).expand(1, bsz, embed_dim)], 0)
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)

    # heads: [N*H, len, d]
    q = q.reshape(tgt_len, bsz * h, d).transpose(0, 1)
    k = k.reshape(k.shape[0], bsz * h, d).transpose(0, 1)
    v = v.reshape(v.shape[0], bsz * h, d).transpose(0, 1)
    k = _static(static_k, k, "static_k", bsz * h, d)
    v = _static(static_v, v, "static_v", bsz * h, d)
    if k.shape[1] != v.shape[1]:
        raise ShapeError(f"keys ({k.shape[1]}) and values ({v.shape[1]}) differ in length")
    if add_zero_attn:
        zeros = _core.zeros(bsz * h, 1, d, dtype=k.dtype, device=k.device)
        k, v = _core.cat([k, zeros], 1), _core.cat([v, zeros], 1)
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    src_len = k.shape[1]
    for name, m in (("attn_mask", attn_mask), ("key_padding_mask", key_padding_mask)):
        if m is not None and m.shape[-1] != src_len:
            raise ShapeError(
                f"MultiheadAttention: {name} covers {m.shape[-1]} keys, but there are "
                f"{src_len} (static_k/static_v)"
            )

    # merge the key padding mask into the attention mask
    if key_padding_mask is not None:
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, h, 1, src_len)
        kpm = kpm.reshape(bsz * h, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:
        scores = (q * math.sqrt(1.0 / d)) @ k.transpose(1, 2)  # [N*H, L, S]
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = scores.softmax(-1)
        if dropout_p > 0.0:
            weights = F.dropout(weights, dropout_p, True)
        out = weights @ v  # [N*H, L, d]
        out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = F.linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
        weights = weights.reshape(bsz, h, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights

    if attn_mask is not None:
        if attn_mask.shape[0] == 1:
            attn_mask = attn_mask.unsqueeze(0)  # [1, 1, L, S]
        else:
            attn_mask = attn_mask.reshape(bsz, h, -1, src_len)
    q4 = q.reshape(bsz, h, tgt_len, d)
    k4 = k.reshape(bsz, h, src_len, d)
    v4 = v.reshape(bsz, h, src_len, d)
    out = F.scaled_dot_product_attention(
        q4, k4, v4, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal
    )  # [N, H, L, d]
    out = out.permute(2, 0, 1, 3).reshape(tgt_len * bsz, embed_dim)
    out = F.linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
    return (out if batched else out.squeeze(1)), None


def _causal_mask(rows: int, cols: int, dtype: Any, device: Any) -> Tensor:
    """``[rows, cols]`` float mask: 0 on and below the diagonal, ``-inf`` above it."""
    above = _core.arange(rows).reshape(rows, 1) < _core.arange(cols).reshape(1, cols)
    mask = _core.zeros(rows, cols, dtype=dtype).masked_fill(above, float("-inf"))
    return mask if device is None else mask.to(device)
