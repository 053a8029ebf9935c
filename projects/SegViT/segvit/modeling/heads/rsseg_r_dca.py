"""RSSeg-R's discriminative cross-attention (DCA, a reconstruction).

RSSeg states that DCA (its Fig. 6) "yields more discriminative region representations through
novel auxiliary supervisions"; query type, normalisation and losses are ours (docs/rsseg.md).
One learnable query per class attends to the separated pixel features S (pre-norm transformer
decoder layers without self-attention, as SegViT's ATM has none either; no positional encoding).
Each layer exposes what the auxiliary losses supervise:

- the **assignment logits** A (B, K, N): the heads' mean pre-softmax attention logits (as ATM
  supervises its attention as masks);
- the **region representations** r (B, K, C): the attention output, built from pixel values only,
  before it is added to the queries.

Output: class embeddings E = Linear(LN(Q)) (B, K, C), and logits ``s * <E_k, conv1x1(S)(x)> /
sqrt(C)`` with a learnable scalar s (init 1). The attention uses explicit matmuls (no fused kernel)
so that it exports and its MACs are counted as written.
"""

import math
from typing import Dict, List

import torch
from torch import Tensor, nn

from .common import init_linear_and_layernorm

__all__ = ["DCALayer", "DCA", "DCA_NORMS"]

DCA_NORMS = ("pixels", "classes")


class DCALayer(nn.Module):
    """Class queries cross-attend to pixels, then an FFN (pre-norm). Params ``12*C^2 + 13*C``."""

    def __init__(self, channels: int, num_heads: int, norm_over: str = "pixels"):
        """
        Args:
            channels (int): width C (divisible by ``num_heads``).
            num_heads (int): attention heads M.
            norm_over (str): "pixels" (softmax over pixels: standard attention) or "classes"
                (softmax over the K queries at each pixel, then each query's weights renormalised
                over pixels: the queries compete for pixels, Slot-Attention style).
        """
        super().__init__()
        if channels % num_heads:
            raise ValueError(
                f"rsseg_r_dca: channels {channels} must be divisible by num_heads {num_heads}."
            )
        if norm_over not in DCA_NORMS:
            raise ValueError(
                f"rsseg_r_dca: norm_over must be one of {DCA_NORMS}, got {norm_over!r}."
            )
        self.num_heads, self.norm_over = num_heads, norm_over
        self.norm_q = nn.LayerNorm(channels)
        self.q = nn.Linear(channels, channels)
        self.k = nn.Linear(channels, channels)
        self.v = nn.Linear(channels, channels)
        self.out = nn.Linear(channels, channels)
        self.norm_ffn = nn.LayerNorm(channels)
        self.ffn = nn.Sequential(
            nn.Linear(channels, 4 * channels), nn.GELU(), nn.Linear(4 * channels, channels)
        )
        init_linear_and_layernorm(self)

    def _heads(self, x: Tensor) -> Tensor:
        """(B, L, C) -> (B, M, L, C / M)."""
        b, length, c = x.shape
        return x.reshape(b, length, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, queries: Tensor, pixels: Tensor, with_aux: bool) -> Dict[str, Tensor]:
        """
        Args:
            queries: (B, K, C).
            pixels: (B, N, C) layer-normalised pixel features.
            with_aux: also return the assignment logits (training only).

        Returns:
            dict: "queries" (B, K, C) updated, "regions" r (B, K, C), and with ``with_aux``
            "assign" (B, K, N).
        """
        q = self._heads(self.q(self.norm_q(queries)))  # (B, M, K, C/M)
        k, v = self._heads(self.k(pixels)), self._heads(self.v(pixels))  # (B, M, N, C/M)
        logits = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, M, K, N)
        if self.norm_over == "pixels":
            attn = logits.softmax(dim=-1)
        else:
            attn = logits.softmax(dim=-2)
            attn = attn / (attn.sum(dim=-1, keepdim=True) + 1e-6)
        b, m, num_q, dh = q.shape
        regions = self.out(torch.matmul(attn, v).transpose(1, 2).reshape(b, num_q, m * dh))
        queries = queries + regions
        queries = queries + self.ffn(self.norm_ffn(queries))
        result = {"queries": queries, "regions": regions}
        if with_aux:
            result["assign"] = logits.mean(dim=1)
        return result


class DCA(nn.Module):
    """``num_layers`` DCA layers on K class queries, then the class-embedding classifier.

    Params: ``K*C + 2*C + L*(12*C^2 + 13*C) + 2*C^2 + 4*C + 1``.
    """

    def __init__(
        self,
        channels: int,
        num_classes: int,
        num_layers: int = 2,
        num_heads: int = 8,
        norm_over: str = "pixels",
    ):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"rsseg_r_dca: num_layers must be >= 1, got {num_layers}.")
        self.queries = nn.Parameter(torch.empty(num_classes, channels))
        nn.init.trunc_normal_(self.queries, std=0.02)
        self.norm_pixels = nn.LayerNorm(channels)
        self.layers = nn.ModuleList(
            DCALayer(channels, num_heads, norm_over) for _ in range(num_layers)
        )
        self.norm_out = nn.LayerNorm(channels)
        self.embed = nn.Linear(channels, channels)
        self.pixel_proj = nn.Conv2d(channels, channels, 1)
        self.logit_scale = nn.Parameter(torch.ones(()))
        init_linear_and_layernorm(self)

    def forward(self, features: Tensor, with_aux: bool = False) -> Dict[str, object]:
        """
        Args:
            features: (B, C, H', W') separated pixel features S.
            with_aux: also return the per-layer assignment logits and region representations.

        Returns:
            dict: "logits" (B, K, H', W'); with ``with_aux`` also "assign" (list of (B, K, H', W'))
            and "regions" (list of (B, K, C)), one entry per layer.
        """
        b, c, height, width = features.shape
        pixels = self.norm_pixels(features.flatten(2).transpose(1, 2))  # (B, N, C)
        queries = self.queries.unsqueeze(0).expand(b, -1, -1)
        assign: List[Tensor] = []
        regions: List[Tensor] = []
        for layer in self.layers:
            out = layer(queries, pixels, with_aux)
            queries = out["queries"]
            if with_aux:
                assign.append(out["assign"].reshape(b, -1, height, width))
                regions.append(out["regions"])
        embeddings = self.embed(self.norm_out(queries))  # (B, K, C)
        pix = self.pixel_proj(features).flatten(2)  # (B, C, N)
        logits = torch.matmul(embeddings, pix) * (self.logit_scale / math.sqrt(c))
        result: Dict[str, object] = {"logits": logits.reshape(b, -1, height, width)}
        if with_aux:
            result.update(assign=assign, regions=regions)
        return result
