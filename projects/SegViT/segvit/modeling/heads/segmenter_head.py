"""Segmenter's mask transformer (Strudel et al., ICCV 2021): the class-embedding decoder that
SegViT's paper compares with (Table 1), on the last block of a plain ViT.

Data flow (official ``segm/model/decoder.py::MaskTransformer``): patch tokens (B, N, C) -> linear
projection to ``d_model`` -> concatenated with K learnable class embeddings -> pre-norm transformer
blocks (MHSA + GELU MLP, dropout, drop-path) -> ``decoder_norm`` -> patch tokens times
``proj_patch``, class tokens times ``proj_classes`` -> both L2-normalised -> dot product (cosine
similarity, (B, N, K)) -> LayerNorm over the K classes -> (B, K, h, w) logits at the feature
resolution. The meta-architecture (:class:`~segvit.modeling.meta_arch.setr.PerPixelSegmentor`)
upsamples them
bilinearly and trains them with the per-pixel cross-entropy, as Segmenter does.

The blocks are timm's ``Block``, which computes exactly Segmenter's block (Segmenter's own is
adapted from timm; same parameter names ``norm1``, ``attn.qkv``, ``attn.proj``, ``norm2``,
``mlp.fc1``, ``mlp.fc2``). Official defaults (``segm/config.yml``, ``factory.create_decoder``):
2 layers, ``d_model`` = C, ``num_heads`` = C // 64, MLP 4 C, dropout 0.1, drop-path 0.0,
LayerNorm eps 1e-5.
"""

from typing import Dict

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from timm.layers import trunc_normal_
from timm.models.vision_transformer import Block
from torch import Tensor, nn

from .class_embedding_masks import cosine_class_masks
from .common import check_in_features, init_linear_and_layernorm, map_to_tokens

__all__ = ["SegmenterMaskHead"]


@SEM_SEG_HEADS_REGISTRY.register()
class SegmenterMaskHead(nn.Module):
    """Segmenter's mask transformer: joint self-attention over patch and class tokens."""

    @configurable
    def __init__(
        self,
        *,
        in_feature: str,
        in_channels: int,
        num_classes: int,
        d_model: int = 768,
        num_layers: int = 2,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        dropout: float = 0.1,
        drop_path_rate: float = 0.0,
    ):
        """
        Args:
            in_feature (str): backbone feature read, e.g. ``"block11"`` (ViT-B's last block).
            in_channels (int): its channels C (the encoder width ``d_encoder``).
            num_classes (int): number of classes K (= number of class embeddings).
            d_model (int): decoder width (Segmenter: C).
            num_layers (int): transformer blocks (Segmenter: 2).
            num_heads (int): attention heads (Segmenter: C // 64).
            mlp_ratio (float): MLP hidden width / ``d_model`` (Segmenter: 4).
            dropout (float): dropout on attention weights, attention output and MLP (0.1).
            drop_path_rate (float): stochastic depth of the last block, linear from 0 (0.0).
        """
        super().__init__()
        self.in_feature = in_feature
        self.num_classes = num_classes
        self.proj_dec = nn.Linear(in_channels, d_model)
        rates = [r.item() for r in torch.linspace(0, drop_path_rate, num_layers)]
        self.blocks = nn.ModuleList(
            Block(
                dim=d_model,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=True,
                proj_drop=dropout,
                attn_drop=dropout,
                drop_path=rate,
                norm_layer=nn.LayerNorm,  # eps 1e-5, as Segmenter
            )
            for rate in rates
        )
        self.cls_emb = nn.Parameter(torch.zeros(1, num_classes, d_model))  # (1, K, D)
        scale = d_model**-0.5
        self.proj_patch = nn.Parameter(scale * torch.randn(d_model, d_model))
        self.proj_classes = nn.Parameter(scale * torch.randn(d_model, d_model))
        self.decoder_norm = nn.LayerNorm(d_model)
        self.mask_norm = nn.LayerNorm(num_classes)
        # Official init (segm/model/decoder.py:MaskTransformer): trunc-normal(.02) Linear weights,
        # zero biases, LayerNorm (1, 0); the projections keep N(0, 1/D); class embeddings
        # trunc-normal(.02).
        init_linear_and_layernorm(self)
        trunc_normal_(self.cls_emb, std=0.02)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        in_feature = cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES[-1]
        channels = check_in_features(
            input_shape, [in_feature], "MODEL.SEM_SEG_HEAD.IN_FEATURES[-1]"
        )
        return {
            "in_feature": in_feature,
            "in_channels": channels,
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "d_model": channels,
            "num_heads": max(1, channels // 64),
        }

    def forward(self, features: Dict[str, Tensor]) -> Tensor:
        """
        Args:
            features (dict[str, Tensor]): backbone outputs; ``features[in_feature]`` is
                (B, C, h, w).

        Returns:
            Tensor: (B, K, h, w) class logits (LayerNorm-ed cosine similarities).
        """
        x, hw = map_to_tokens(features[self.in_feature])  # (B, N, C)
        x = self.proj_dec(x)  # (B, N, D)
        x = torch.cat([x, self.cls_emb.expand(x.shape[0], -1, -1)], dim=1)  # (B, N + K, D)
        for block in self.blocks:
            x = block(x)
        x = self.decoder_norm(x)
        patches = x[:, : -self.num_classes] @ self.proj_patch  # (B, N, D)
        classes = x[:, -self.num_classes :] @ self.proj_classes  # (B, K, D)
        return cosine_class_masks(patches, classes, self.mask_norm, hw)
