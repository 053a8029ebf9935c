"""Shrunk ViT: plain ViT with query-based down-sampling (QD) in one block (SegViT Sec. 3.2, Fig. 3).

Official ``zbwxp/SegVit: backbone/vit_shrink.py``: inside block ``shrink_idx`` the
queries are the top-left token of every 2x2 window (nearest 2x down-sampling), keys and values are
all tokens; both go through the block's LayerNorm1 and its pretrained attention; the residual is
added to the down-sampled (un-normalised) tokens, then LayerNorm2 + MLP + residual as usual. Blocks
before ``shrink_idx`` run at 1/16, the others at 1/32. No new parameters, so plain-ViT weights load
as they are (and back).
"""

import logging
from typing import Tuple

import torch
import torch.nn.functional as F
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY
from timm.models.vision_transformer import Attention, Block
from torch import nn

from .vit import ViT, vit_kwargs_from_cfg

__all__ = ["ShrunkViT", "QD_MODES", "downsample_tokens", "query_downsample_block"]

logger = logging.getLogger(__name__)

# Paper Table 7: "q" down-samples only the queries (the method, 53.9 mIoU with ViT-L); "qkv"
# down-samples queries, keys and values (52.6). The learnable stride-2 convolution row of Table 7
# adds parameters and is not provided.
QD_MODES = ("q", "qkv")


def downsample_tokens(x: torch.Tensor, hw: Tuple[int, int]) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Nearest 2x down-sampling of a token grid: the top-left token of every 2x2 window.

    Args:
        x (Tensor): (B, h*w, C) row-major tokens.
        hw (tuple[int, int]): their grid ``(h, w)``; any size. An odd side keeps its last row or
            column (a window of one token), so the new grid is ``(ceil(h/2), ceil(w/2))``.

    Returns:
        tuple[Tensor, tuple[int, int]]: tokens (B, ceil(h/2)*ceil(w/2), C) and their grid.
    """
    h, w = hw
    b, n, c = x.shape
    if n != h * w:
        raise ValueError(f"{n} tokens do not form a {h}x{w} grid")
    grid = x.reshape(b, h, w, c)[:, ::2, ::2]  # (B, ceil(h/2), ceil(w/2), C)
    new_hw = (grid.shape[1], grid.shape[2])
    return grid.reshape(b, new_hw[0] * new_hw[1], c), new_hw


def _query_downsampled_attention(
    attn: Attention, query: torch.Tensor, memory: torch.Tensor
) -> torch.Tensor:
    """timm ``Attention`` with queries from ``query`` and keys/values from ``memory``.

    The fused ``qkv`` weight is split into its q rows and k/v rows, so the q projection runs on the
    down-sampled tokens only (as the official ``nn.MultiheadAttention`` call does).

    Args:
        attn (Attention): the block's attention (weights unchanged).
        query (Tensor): (B, Nq, C) normalised query tokens.
        memory (Tensor): (B, N, C) normalised key/value tokens.

    Returns:
        Tensor: (B, Nq, C) attention output after the output projection (before the residual).
    """
    b, nq, c = query.shape
    n = memory.shape[1]
    heads, head_dim = attn.num_heads, attn.head_dim
    weight, bias = attn.qkv.weight, attn.qkv.bias  # (3C, C), (3C,): rows q | k | v
    q = F.linear(query, weight[:c], None if bias is None else bias[:c])  # (B, Nq, C)
    kv = F.linear(memory, weight[c:], None if bias is None else bias[c:])  # (B, N, 2C)
    q = q.reshape(b, nq, heads, head_dim).transpose(1, 2)  # (B, heads, Nq, hd)
    k, v = (
        kv.reshape(b, n, 2, heads, head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    )  # (B, heads, N, hd)
    q, k = attn.q_norm(q), attn.k_norm(k)
    out = F.scaled_dot_product_attention(
        q, k, v, dropout_p=attn.attn_drop.p if attn.training else 0.0
    )  # (B, heads, Nq, hd); scale head_dim^-0.5 as in timm
    out = out.transpose(1, 2).reshape(b, nq, c)  # (B, Nq, C)
    out = getattr(attn, "norm", nn.Identity())(out)  # newer timm: optional scale-norm (Identity)
    return attn.proj_drop(attn.proj(out))


def query_downsample_block(
    block: Block, x: torch.Tensor, hw: Tuple[int, int], mode: str = "q"
) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Run a timm ViT ``Block`` with query-based down-sampling (paper Sec. 3.2, Table 7).

    ``mode="q"``: queries = :func:`downsample_tokens` of ``x``; keys/values = all of ``x``; both
    normalised by ``block.norm1``; the attention residual is added to the down-sampled tokens.
    Because attention output and MLP are per query token, this equals running the plain block at
    full resolution and then down-sampling its output, at about a quarter of the cost.
    ``mode="qkv"``: down-sample first, then the plain block (queries, keys and values at 1/32).

    Args:
        block (Block): a timm ViT block (its parameters are used as they are).
        x (Tensor): (B, h*w, C) tokens.
        hw (tuple[int, int]): their grid ``(h, w)``.
        mode (str): one of :data:`QD_MODES`.

    Returns:
        tuple[Tensor, tuple[int, int]]: (B, h'*w', C) tokens and ``(h', w') = (ceil(h/2),
        ceil(w/2))``.
    """
    x_down, new_hw = downsample_tokens(x, hw)  # (B, h'*w', C)
    if mode == "qkv":
        return block(x_down), new_hw
    if mode != "q":
        raise ValueError(f"qd_mode={mode!r} is not one of {QD_MODES}")
    norm1 = block.norm1
    out = _query_downsampled_attention(block.attn, norm1(x_down), norm1(x))
    x = x_down + block.drop_path1(block.ls1(out))
    x = x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))
    return x, new_hw


class ShrunkViT(ViT):
    """Plain ViT whose block ``shrink_idx`` halves the token grid by query-based down-sampling.

    Paper Sec. 3.2 "The Shrunk structure" and Fig. 3 (b, c); official ViT-L: ``shrink_idx=8`` (the
    9th block), ViT-B ablation (Table 8): ``shrink_idx=6``. Parameter names and shapes are those of
    :class:`ViT`; ``shrink_idx >= depth`` gives exactly the plain ViT.

    Grids: an ``h x w`` token grid becomes ``ceil(h/2) x ceil(w/2)`` (odd sides keep their last row
    or column), so inputs only need to be multiples of ``patch_size``: ``size_divisibility`` stays
    ``patch_size``. Features of blocks at or after ``shrink_idx`` report stride ``2 * patch_size``
    in :meth:`output_shape`; for an odd grid their last row/column covers half a cell, and token
    ``(i, j)`` sits on the 1/16 token ``(2i, 2j)``, not at the centre of its 32x32 cell (as in the
    official code); heads that resize maps bilinearly handle both.
    """

    def __init__(self, *, shrink_idx: int = 8, qd_mode: str = "q", **kwargs):
        """
        Args:
            shrink_idx (int): 0-indexed block that performs the down-sampling; blocks after it
                run at half the resolution. ``>= depth`` disables QD (plain ViT).
            qd_mode (str): "q" (down-sample the queries only; the paper's method) or "qkv"
                (down-sample queries, keys and values; Table 7 ablation).
            **kwargs: keyword arguments of :class:`ViT` (``embed_dim``, ``depth``,
                ``out_indices``, ``pretrained``, ...).
        """
        super().__init__(**kwargs)
        if shrink_idx < 0:
            raise ValueError(f"shrink_idx must be >= 0 (a 0-indexed block), got {shrink_idx}")
        if qd_mode not in QD_MODES:
            raise ValueError(f"qd_mode={qd_mode!r} is not one of {QD_MODES}")
        self.shrink_idx = int(shrink_idx)
        self.qd_mode = qd_mode
        if self.shrink_idx >= len(self.blocks):
            logger.info(
                "ShrunkViT: shrink_idx %d >= depth %d, no query down-sampling (plain ViT).",
                self.shrink_idx,
                len(self.blocks),
            )
        for index in self.out_indices:
            if index >= self.shrink_idx:
                self._out_feature_strides[f"block{index}"] = 2 * self.patch_size

    def _forward_block(
        self, index: int, x: torch.Tensor, hw: Tuple[int, int]
    ) -> Tuple[torch.Tensor, Tuple[int, int]]:
        if index != self.shrink_idx:
            return super()._forward_block(index, x, hw)
        return query_downsample_block(self.blocks[index], x, hw, mode=self.qd_mode)


def build_segvit_shrunk_vit_backbone(cfg, input_shape: ShapeSpec) -> ShrunkViT:
    """Build :class:`ShrunkViT` from ``cfg.MODEL.SEGVIT.VIT`` (plus ``SHRINK_IDX``, ``QD_MODE``)."""
    vit = cfg.MODEL.SEGVIT.VIT
    return ShrunkViT(
        shrink_idx=vit.SHRINK_IDX, qd_mode=vit.QD_MODE, **vit_kwargs_from_cfg(cfg, input_shape)
    )


# fvcore's Registry.register() names entries after ``__name__``; the public config name differs.
BACKBONE_REGISTRY._do_register("SegViTShrunkViT", build_segvit_shrunk_vit_backbone)
