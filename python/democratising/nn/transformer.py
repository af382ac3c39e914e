"""Transformer layers with PyTorch's names, signatures and ``state_dict`` keys:
``TransformerEncoderLayer``, ``TransformerEncoder``, ``TransformerDecoderLayer``,
``TransformerDecoder`` and ``Transformer``. Attention runs through ``MultiheadAttention``
(``need_weights=False``, so through ``F.scaled_dot_product_attention``)."""

from __future__ import annotations

import copy
from typing import Any, Callable, Optional, Union

import numpy as np

from .. import _core
from .._core import Tensor
from .._tensor import tensor as _tensor
from .._tensor_extra import _host
from ..errors import ArgumentTypeError, InvalidValueError, ShapeError
from . import functional as F
from . import init
from .attention import MultiheadAttention, _causal_mask, _factory
from .containers import ModuleList
from .layers import GELU, Dropout, Linear, ReLU
from .module import Module
from .normalization import LayerNorm

Activation = Union[str, Callable[[Tensor], Tensor]]

__all__ = [
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
]


def _get_activation_fn(activation: Activation) -> Callable[[Tensor], Tensor]:
    """``"relu"``/``"gelu"`` as the functional op; any callable (a function or a module) as is."""
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise RuntimeError(f"activation should be relu/gelu, not {activation}")
    if not callable(activation):
        raise ArgumentTypeError(
            f"activation must be a string or a callable, got {type(activation)}"
        )
    return activation


def _get_clones(module: Module, n: int) -> ModuleList:
    """``n`` independent deep copies of ``module`` (each with its own parameters)."""
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


def _get_seq_len(src: Tensor, batch_first: bool) -> int:
    if src.ndim == 2:  # unbatched [L, E]
        return src.shape[0]
    return src.shape[1 if batch_first else 0]


def _detect_is_causal_mask(
    mask: Optional[Tensor], is_causal: Optional[bool] = None, size: Optional[int] = None
) -> bool:
    """``is_causal`` when given; otherwise whether ``mask`` equals the square causal mask
    (``generate_square_subsequent_mask``, or its boolean form ``True`` above the diagonal)."""
    make_causal = is_causal is True
    if is_causal is None and mask is not None:
        sz = size if size is not None else mask.shape[-2]
        if tuple(mask.shape) != (sz, sz):
            return False
        above = np.triu(np.ones((sz, sz), dtype=bool), k=1)
        m = _host(mask)  # (half types widened: NumPy has no bfloat16)
        if m.dtype == np.bool_:
            return bool(np.array_equal(m, above))
        expected = np.where(above, -np.inf, 0.0)
        return bool(np.array_equal(m.astype(np.float64), expected))
    return make_causal


class _TransformerLayer(Module):
    """What the encoder and decoder layers share: self-attention ``self_attn`` (and, in the
    decoder, ``multihead_attn`` over the encoder's memory), the feed-forward block
    ``linear1 -> activation -> dropout -> linear2``, and one ``LayerNorm`` and one ``Dropout``
    per sublayer (``norm1``, ``dropout1``, ...), registered in PyTorch's order."""

    #: Whether the layer attends to an encoder's memory too (the decoder's third sublayer).
    _cross = False
    norm1: LayerNorm
    norm2: LayerNorm
    norm3: LayerNorm  # with ``_cross`` only
    dropout1: Dropout
    dropout2: Dropout
    dropout3: Dropout  # with ``_cross`` only

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Activation = F.relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        for name in ("self_attn", "multihead_attn") if self._cross else ("self_attn",):
            setattr(
                self,
                name,
                MultiheadAttention(
                    d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first
                ),
            )
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        sublayers = range(1, 4 if self._cross else 3)
        for i in sublayers:
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        for i in sublayers:
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = _get_activation_fn(activation)
        if not self._cross:  # PyTorch sets it on the encoder layer only
            self.activation_relu_or_gelu = _relu_or_gelu(self.activation)
        _factory(self, device, dtype)

    def _sublayer(
        self, x: Tensor, norm: LayerNorm, block: Callable[..., Tensor], *args: Any
    ) -> Tensor:
        """One residual sublayer, what every layer repeats: ``x + block(norm(x), *args)`` with
        ``norm_first``, else ``norm(x + block(x, *args))`` (the original post-norm)."""
        if self.norm_first:
            return x + block(norm(x), *args)
        return norm(x + block(x, *args))

    def _attend(
        self,
        attn: MultiheadAttention,
        x: Tensor,
        mem: Tensor,
        attn_mask: Optional[Tensor],
        key_padding_mask: Optional[Tensor],
        is_causal: bool,
        dropout: Dropout,
    ) -> Tensor:
        """``x`` attending to ``mem`` through ``attn`` (no weights), then ``dropout``."""
        out = attn(
            x,
            mem,
            mem,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
        )[0]
        return dropout(out)

    def _sa_block(
        self,
        x: Tensor,
        attn_mask: Optional[Tensor],
        key_padding_mask: Optional[Tensor],
        is_causal: bool = False,
    ) -> Tensor:
        return self._attend(
            self.self_attn, x, x, attn_mask, key_padding_mask, is_causal, self.dropout1
        )

    def _ff_block(self, x: Tensor) -> Tensor:
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return (self.dropout3 if self._cross else self.dropout2)(x)


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention followed by a feed-forward block, each with a residual connection and a
    ``LayerNorm`` (after the residual, or before the block with ``norm_first``). Inputs are
    ``[S, N, E]`` (``[N, S, E]`` with ``batch_first``) or unbatched ``[S, E]``."""

    def forward(
        self,
        src: Tensor,
        src_mask: Optional[Tensor] = None,
        src_key_padding_mask: Optional[Tensor] = None,
        is_causal: bool = False,
    ) -> Tensor:
        """``src_mask`` is ``[S, S]`` or ``[N * nhead, S, S]``, ``src_key_padding_mask``
        ``[N, S]``; boolean masks are ``True`` where attention is not allowed."""
        x = self._sublayer(
            src, self.norm1, self._sa_block, src_mask, src_key_padding_mask, is_causal
        )
        return self._sublayer(x, self.norm2, self._ff_block)


class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention, attention over the encoder's ``memory``, then a feed-forward block; each
    with a residual connection and a ``LayerNorm`` (before the block with ``norm_first``)."""

    _cross = True

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Optional[Tensor] = None,
        memory_mask: Optional[Tensor] = None,
        tgt_key_padding_mask: Optional[Tensor] = None,
        memory_key_padding_mask: Optional[Tensor] = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """``tgt`` ``[T, N, E]``, ``memory`` ``[S, N, E]`` (batch first with ``batch_first``);
        ``tgt_mask`` ``[T, T]``, ``memory_mask`` ``[T, S]``, padding masks ``[N, T]``/``[N, S]``."""
        x = self._sublayer(
            tgt, self.norm1, self._sa_block, tgt_mask, tgt_key_padding_mask, tgt_is_causal
        )
        x = self._sublayer(
            x,
            self.norm2,
            self._mha_block,
            memory,
            memory_mask,
            memory_key_padding_mask,
            memory_is_causal,
        )
        return self._sublayer(x, self.norm3, self._ff_block)

    def _mha_block(
        self,
        x: Tensor,
        mem: Tensor,
        attn_mask: Optional[Tensor],
        key_padding_mask: Optional[Tensor],
        is_causal: bool = False,
    ) -> Tensor:
        return self._attend(
            self.multihead_attn, x, mem, attn_mask, key_padding_mask, is_causal, self.dropout2
        )


class _Stack(Module):
    """``num_layers`` deep copies of a layer (``layers.0``, ``layers.1``, ...) and an optional
    final ``norm``."""

    def __init__(self, layer: Module, num_layers: int, norm: Optional[Module] = None) -> None:
        super().__init__()
        self.layers = _get_clones(layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def _is_causal(self, x: Tensor, mask: Optional[Tensor], is_causal: Optional[bool]) -> bool:
        """``is_causal``, or when ``None`` whether ``mask`` is the causal mask for ``x``."""
        first = self.layers[0] if len(self.layers) else None
        batch_first = bool(first is not None and first.self_attn.batch_first)
        return _detect_is_causal_mask(mask, is_causal, _get_seq_len(x, batch_first))

    def _run(
        self, x: Tensor, *args: Any, zero_at: Optional[Tensor] = None, **kwargs: Any
    ) -> Tensor:
        """``x`` through every layer (each called with the same further arguments), zeros
        where ``zero_at`` (broadcast over ``x``) is true, then ``norm``."""
        for mod in self.layers:
            x = mod(x, *args, **kwargs)
        if zero_at is not None:
            x = x.masked_fill(zero_at, 0.0)
        return x if self.norm is None else self.norm(x)


def _relu_or_gelu(activation: Callable[[Tensor], Tensor]) -> int:
    """PyTorch's ``activation_relu_or_gelu`` code: 1 for ReLU, 2 for GELU, 0 for anything else
    (its fast paths only run the first two)."""
    if activation is F.relu or isinstance(activation, ReLU):
        return 1
    if activation is F.gelu or isinstance(activation, GELU):
        return 2
    return 0


def _nested_path_layer(layer: Module) -> bool:
    """Whether PyTorch's ``TransformerEncoder`` takes its nested-tensor (sparsity) fast path
    with this layer: a post-norm, batch-first ``TransformerEncoderLayer`` with biased packed
    projections, a ReLU or GELU activation, equal norm eps and an even head count."""
    if not isinstance(layer, TransformerEncoderLayer) or layer.norm_first:
        return False
    attn = layer.self_attn
    return bool(
        attn.batch_first
        and attn._qkv_same_embed_dim
        and attn.in_proj_bias is not None
        and _relu_or_gelu(layer.activation)
        and layer.norm1.eps == layer.norm2.eps
        and attn.num_heads % 2 == 0
    )


class TransformerEncoder(_Stack):
    """A stack of ``num_layers`` deep copies of ``encoder_layer`` (``layers.0``, ``layers.1``,
    ...) and an optional final ``norm``.

    ``enable_nested_tensor`` reproduces what PyTorch's nested-tensor fast path does to the
    result (there is no such path here): in inference (eval mode, no gradient) with a
    ``src_key_padding_mask`` whose padding is at the end of each sequence and no ``mask``,
    PyTorch returns zeros (then ``norm``) at the padded positions, so mean-pooling code gives
    the same numbers on both. ``use_nested_tensor`` says whether the layer qualifies, as in
    PyTorch; with ``mask_check=False`` PyTorch skips the end-padding check and keeps the first
    unpadded-count steps of each sequence wherever the padding is, and so does this."""

    def __init__(
        self,
        encoder_layer: TransformerEncoderLayer,
        num_layers: int,
        norm: Optional[Module] = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        super().__init__(encoder_layer, num_layers, norm)
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = bool(enable_nested_tensor) and _nested_path_layer(encoder_layer)
        self.mask_check = mask_check

    def _nested_padding(
        self, src: Tensor, mask: Optional[Tensor], src_key_padding_mask: Optional[Tensor]
    ) -> Optional[Tensor]:
        """``[N, S]``, true at the positions PyTorch's nested-tensor path drops (and returns as
        zeros), or ``None`` when PyTorch would not take that path (its conditions, in its
        order). That path keeps the first ``k`` steps of each sequence, ``k`` the number of
        unpadded ones (a float mask pads where it is nonzero): with ``mask_check`` it is taken
        only when the padding is at the end, without it any padding counts as end padding."""
        if (
            not getattr(self, "use_nested_tensor", False)
            or not len(self.layers)
            or self.layers[0].training
            or src.ndim != 3
            or src_key_padding_mask is None
            or mask is not None
            or _core._get_autocast() is not None
        ):
            return None
        if _core.is_grad_enabled() and (
            src.requires_grad or any(p.requires_grad for p in self.layers[0].parameters())
        ):
            return None
        kpm = src_key_padding_mask
        pad = kpm if kpm.dtype == _core.bool else kpm != 0
        if tuple(pad.shape) != tuple(src.shape[:2]):
            return None  # the layers raise the shape error
        host = pad.detach().cpu().numpy()
        if np.array_equal(host, np.sort(host, axis=1)):
            return pad  # already end-padded
        if getattr(self, "mask_check", True):
            return None  # a valid step after padding: not the end-padded layout
        kept = (~host).sum(axis=1, keepdims=True)
        dropped = np.arange(host.shape[1])[None, :] >= kept
        return _tensor(dropped).to(src.device)

    def forward(
        self,
        src: Tensor,
        mask: Optional[Tensor] = None,
        src_key_padding_mask: Optional[Tensor] = None,
        is_causal: Optional[bool] = None,
    ) -> Tensor:
        """Runs ``src`` through every layer with the same masks; ``is_causal=None`` detects
        whether ``mask`` is the causal mask."""
        dropped = self._nested_padding(src, mask, src_key_padding_mask)
        return self._run(
            src,
            src_mask=mask,
            is_causal=self._is_causal(src, mask, is_causal),
            src_key_padding_mask=src_key_padding_mask if dropped is None else dropped,
            zero_at=None if dropped is None else dropped.unsqueeze(-1),
        )


class TransformerDecoder(_Stack):
    """A stack of ``num_layers`` deep copies of ``decoder_layer`` and an optional ``norm``."""

    def __init__(
        self,
        decoder_layer: TransformerDecoderLayer,
        num_layers: int,
        norm: Optional[Module] = None,
    ) -> None:
        super().__init__(decoder_layer, num_layers, norm)

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Optional[Tensor] = None,
        memory_mask: Optional[Tensor] = None,
        tgt_key_padding_mask: Optional[Tensor] = None,
        memory_key_padding_mask: Optional[Tensor] = None,
        tgt_is_causal: Optional[bool] = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """Runs ``tgt`` through every layer, each attending to ``memory``; ``tgt_is_causal=None``
        detects whether ``tgt_mask`` is the causal mask."""
        return self._run(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=self._is_causal(tgt, tgt_mask, tgt_is_causal),
            memory_is_causal=memory_is_causal,
        )


class Transformer(Module):
    """The encoder-decoder transformer of "Attention Is All You Need" (PyTorch's
    ``nn.Transformer``): ``encoder`` (a ``TransformerEncoder`` with a final ``LayerNorm``
    ``encoder.norm``) and ``decoder`` (likewise ``decoder.norm``), or the given custom ones.
    Every parameter with more than one dimension is re-initialised Xavier-uniform."""

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Activation = F.relu,
        custom_encoder: Optional[Module] = None,
        custom_decoder: Optional[Module] = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        layer_args = (
            *(d_model, nhead, dim_feedforward, dropout, activation),
            *(layer_norm_eps, batch_first, norm_first, bias),
        )

        def stack(
            custom: Optional[Module], kind: type[_Stack], layer: type[_TransformerLayer], n: int
        ) -> Module:
            """``custom``, or ``n`` copies of a default ``layer`` with a final ``LayerNorm``:
            the encoder and the decoder are built alike."""
            if custom is not None:
                return custom
            return kind(layer(*layer_args), n, LayerNorm(d_model, eps=layer_norm_eps, bias=bias))

        self.encoder = stack(
            custom_encoder, TransformerEncoder, TransformerEncoderLayer, num_encoder_layers
        )
        self.decoder = stack(
            custom_decoder, TransformerDecoder, TransformerDecoderLayer, num_decoder_layers
        )
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first
        _factory(self, device, dtype)

    def _reset_parameters(self) -> None:
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        src_mask: Optional[Tensor] = None,
        tgt_mask: Optional[Tensor] = None,
        memory_mask: Optional[Tensor] = None,
        src_key_padding_mask: Optional[Tensor] = None,
        tgt_key_padding_mask: Optional[Tensor] = None,
        memory_key_padding_mask: Optional[Tensor] = None,
        src_is_causal: Optional[bool] = None,
        tgt_is_causal: Optional[bool] = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """``src`` ``[S, N, E]`` and ``tgt`` ``[T, N, E]`` (batch first with ``batch_first``,
        or unbatched ``[S, E]``/``[T, E]``); returns ``[T, N, E]``."""
        batched = src.ndim == 3
        if batched and tgt.ndim != 3:
            # PyTorch compares a batch dim of src with whatever tgt has there; a 2-D tgt beside
            # a batched src is that same mismatch, said plainly.
            raise ShapeError(
                f"Transformer: the batch number of src and tgt must be equal, got batched src "
                f"{tuple(src.shape)} and unbatched tgt {tuple(tgt.shape)}"
            )
        if batched:
            b = 0 if self.batch_first else 1
            if src.shape[b] != tgt.shape[b]:
                raise ShapeError(
                    f"Transformer: the batch number of src and tgt must be equal, got src "
                    f"{tuple(src.shape)} and tgt {tuple(tgt.shape)} "
                    f"(batch_first={self.batch_first})"
                )
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ShapeError(
                f"Transformer: the feature number of src and tgt must be equal to d_model "
                f"({self.d_model}), got src {tuple(src.shape)} and tgt {tuple(tgt.shape)}"
            )
        memory = self.encoder(
            src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal
        )
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
        """``[sz, sz]`` float mask: ``-inf`` above the diagonal (future positions), 0 elsewhere.
        Like PyTorch (``torch.full``), it takes the default dtype when ``dtype`` is None."""
        if sz < 0:
            raise InvalidValueError(
                f"generate_square_subsequent_mask: sz must be non-negative, got {sz}"
            )
        return _causal_mask(sz, sz, dtype if dtype is not None else _core._default_dtype(), device)
