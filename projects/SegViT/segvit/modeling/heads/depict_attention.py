"""DEPICT's attention layer: multi-head attention with one tied projection per head (paper Sec. 3;
official ``QishuaiWen/DEPICT: model/dec_blocks.py``, adapted from CRATE's MSSA).

One matrix ``P`` (I x D, I = heads x head_dim) is the query, key and value projection at once, and
its transpose projects the heads' outputs back to D; a learnable scalar step ``kappa`` scales the
update. No biases, no separate Q/K/V, no output Linear, no MLP. With rows as tokens and ``P_k`` the
rows of head k::

    self-attention   (MSSA): W_k = LN(Z) P_k^T,
                             Z <- Z + kappa * sum_k softmax(W_k W_k^T / sqrt(p)) W_k P_k
    cross-attention  (MSCA): U_k = Q P_k^T, V_k = LN(X) P_k^T,
                             Q <- Q + kappa * sum_k softmax(U_k V_k^T / sqrt(p)) V_k P_k

(the queries Q are not normalised; only the keys/values go through the layer's LayerNorm).
Matmuls are explicit so that fvcore counts them as the matmuls they are.
"""

from typing import Optional

import torch
from torch import Tensor, nn

__all__ = ["TiedProjectionAttention"]


class TiedProjectionAttention(nn.Module):
    """Pre-norm multi-head attention with a tied per-head projection and a scalar step size."""

    def __init__(self, dim: int, num_heads: int, head_dim: int, dropout: float = 0.0):
        """
        Args:
            dim (int): token width D.
            num_heads (int): heads h.
            head_dim (int): per-head width p (DEPICT: 100 for self-, 50 for cross-attention).
            dropout (float): dropout on the attention weights (DEPICT: 0.0).
        """
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.scale = head_dim**-0.5
        self.norm = nn.LayerNorm(dim)
        # Official init: N(0, 1/D) for P (not trunc-normal), N(0, 1) for the step (sign free).
        self.proj = nn.Parameter(dim**-0.5 * torch.randn(num_heads * head_dim, dim))  # (I, D)
        self.step_size = nn.Parameter(torch.randn(1))
        self.attn_drop = nn.Dropout(dropout)

    def _split_heads(self, x: Tensor) -> Tensor:
        """(B, T, D) tokens -> (B, h, T, p) per-head coordinates ``x P^T``."""
        b, t, _ = x.shape
        return (x @ self.proj.t()).reshape(b, t, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, query: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            x (Tensor): (B, T, D) tokens (normalised here by the layer's LayerNorm).
            query (Tensor, optional): (B, K, D) queries for cross-attention; None for
                self-attention over ``x``.

        Returns:
            Tensor: self-attention: the updated ``x`` (B, T, D); cross-attention: the updated
            ``query`` (B, K, D).
        """
        values = self._split_heads(self.norm(x))  # (B, h, T, p): query = key = value
        target = x if query is None else query
        queries = values if query is None else self._split_heads(query)  # (B, h, T|K, p)
        attn = torch.matmul(queries, values.transpose(-1, -2)) * self.scale  # (B, h, T|K, T)
        attn = self.attn_drop(attn.softmax(dim=-1))
        out = torch.matmul(attn, values)  # (B, h, T|K, p)
        b, _, n, _ = out.shape
        out = out.transpose(1, 2).reshape(b, n, self.num_heads * self.head_dim) @ self.proj
        return target + self.step_size * out  # (B, T|K, D)
