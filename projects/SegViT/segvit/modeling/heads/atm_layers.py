"""Attention-to-Mask (ATM) layers (SegViT paper, Sec. 3.2, Eq. 1-3).

The ATM cross-attention computes the scaled similarity ``S = Q K^T / sqrt(d_k)`` between class
queries and spatial tokens once, and uses it twice: softmax(S) V updates the queries as in any
transformer decoder, and the head-averaged S is returned as per-class mask logits (sigmoid(S) is the
mask).

All tensors are batch-first. The official code is sequence-first; the layout is an equivalent
choice. Module names follow PyTorch's ``nn.TransformerDecoderLayer`` (``self_attn``, ``linear1``,
``norm1``, ...) except ``cross_attn``, which the official code calls ``multihead_attn``.
"""

from typing import Tuple

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ATMCrossAttention", "ATMDecoderLayer"]


class ATMCrossAttention(nn.Module):
    """Multi-head cross-attention that also returns its pre-softmax similarity as mask logits.

    Paper Sec. 3.2, Eq. 2-3: ``Mask = Sigmoid(S(Q, K))``; the map is averaged over heads (one mask
    per query; heads split channels, not tokens).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        attn_drop: float = 0.1,
        proj_drop: float = 0.0,
        qkv_bias: bool = True,
    ):
        """
        Args:
            dim (int): query and memory channels d.
            num_heads (int): number of heads; must divide ``dim``.
            attn_drop (float): dropout on the softmax attention weights (not on the mask logits).
            proj_drop (float): dropout after the output projection.
            qkv_bias (bool): bias in the q, k, v projections.
        """
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}.")
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5

        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.k = nn.Linear(dim, dim, bias=qkv_bias)
        self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _split_heads(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        # (B, N, d) -> (B, heads, N, d_h)
        return x.reshape(b, n, self.num_heads, c // self.num_heads).permute(0, 2, 1, 3)

    def forward(self, query: Tensor, memory: Tensor) -> Tuple[Tensor, Tensor]:
        """
        Args:
            query (Tensor): (B, Nq, d) class queries.
            memory (Tensor): (B, HW, d) spatial tokens (keys and values).

        Returns:
            out (Tensor): (B, Nq, d) attention update of the queries (before the residual).
            mask_logits (Tensor): (B, Nq, HW) pre-softmax similarity averaged over heads.
        """
        b, nq, d = query.shape
        q = self._split_heads(self.q(query))  # (B, h, Nq, d_h)
        k = self._split_heads(self.k(memory))  # (B, h, HW, d_h)
        v = self._split_heads(self.v(memory))  # (B, h, HW, d_h)

        logits = (q @ k.transpose(-2, -1)) * self.scale  # (B, h, Nq, HW), computed once
        mask_logits = logits.mean(dim=1)  # (B, Nq, HW)

        attn = self.attn_drop(logits.softmax(dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(b, nq, d)  # (B, Nq, d)
        out = self.proj_drop(self.proj(out))
        return out, mask_logits


class ATMDecoderLayer(nn.Module):
    """Post-norm transformer decoder layer whose cross-attention is :class:`ATMCrossAttention`.

    Paper Sec. 3.2 / Fig. 2: self-attention among class queries, ATM cross-attention to the spatial
    tokens, ReLU FFN; each followed by dropout, residual and LayerNorm (no positional encodings).
    """

    def __init__(self, dim: int, num_heads: int, *, ffn_ratio: int = 4, dropout: float = 0.1):
        """
        Args:
            dim (int): model width d.
            num_heads (int): attention heads (both attentions).
            ffn_ratio (int): FFN hidden width is ``ffn_ratio * dim``.
            dropout (float): dropout of the self-attention weights, of the ATM attention weights, of
                each residual branch and inside the FFN (0.1 as PyTorch's decoder-layer default).
        """
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.cross_attn = ATMCrossAttention(dim, num_heads, attn_drop=dropout)
        self.linear1 = nn.Linear(dim, ffn_ratio * dim)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(ffn_ratio * dim, dim)

        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(self, query: Tensor, memory: Tensor) -> Tuple[Tensor, Tensor]:
        """
        Args:
            query (Tensor): (B, Nq, d) class queries.
            memory (Tensor): (B, HW, d) spatial tokens.

        Returns:
            query (Tensor): (B, Nq, d) updated queries (after FFN + LayerNorm3).
            mask_logits (Tensor): (B, Nq, HW) similarity of the queries after LayerNorm1 (i.e.
                before this layer's cross-attention update) with the keys of ``memory``.
        """
        q2 = self.self_attn(query, query, query, need_weights=False)[0]
        query = self.norm1(query + self.dropout1(q2))
        q2, mask_logits = self.cross_attn(query, memory)
        query = self.norm2(query + self.dropout2(q2))
        q2 = self.linear2(self.dropout(F.relu(self.linear1(query))))
        query = self.norm3(query + self.dropout3(q2))
        return query, mask_logits
