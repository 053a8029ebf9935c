"""DEPICT (Wen & Li, NeurIPS 2024): a white-box decoder from PCA for plain-ViT segmentation
(paper Sec. 3; official ``QishuaiWen/DEPICT: model/decoder.py``, ``model/dec_blocks.py``, a
drop-in replacement of ``rstrudel/segmenter: segm/model/decoder.py:MaskTransformer``).

Both variants read the last ViT block (after the final LayerNorm, class token dropped) at the
backbone width D (no input projection), use K learnable class embeddings and end like Segmenter:
L2-normalised patch features times L2-normalised class embeddings, LayerNorm over the classes,
(B, K, h, w) logits at the feature resolution, upsampled and trained with the per-pixel
cross-entropy by the meta-architecture
(:class:`~segvit.modeling.meta_arch.setr.PerPixelSegmentor`).

- ``mode="sa"`` (DEPICT-SA, the released default): class embeddings concatenated to the patch
  tokens, ``num_layers`` tied-projection self-attention layers (p = 100) over all N + K tokens,
  ``decoder_norm``, split.
- ``mode="ca"`` (DEPICT-CA): ``num_layers`` self-attention layers (p = 100) over the patch tokens
  only, ``patch_norm``; then ``cross_layers`` (3) cross-attention layers (p = 50) whose queries
  are the class embeddings and keys/values the normalised patches, ``class_norm``.

Released defaults (``QishuaiWen/DEPICT: config.yml``, ``decoder.mask_transformer``): 3 layers,
3 heads, dropout 0. Parameters at ViT-B (D 768) and 150 classes, counted from the released code:
812,847 (SA), 1,164,594 (CA) (``tests/modeling/test_class_embedding_heads.py`` checks both).
"""

from typing import Dict

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from timm.layers import trunc_normal_
from torch import Tensor, nn

from .class_embedding_masks import cosine_class_masks
from .common import check_in_features, map_to_tokens
from .depict_attention import TiedProjectionAttention

__all__ = ["DEPICTHead"]

DEPICT_MODES = ("sa", "ca")


@SEM_SEG_HEADS_REGISTRY.register()
class DEPICTHead(nn.Module):
    """DEPICT-SA / DEPICT-CA decoder: tied-projection attention, cosine class masks."""

    @configurable
    def __init__(
        self,
        *,
        in_feature: str,
        in_channels: int,
        num_classes: int,
        mode: str = "sa",
        num_layers: int = 3,
        num_heads: int = 3,
        head_dim: int = 100,
        cross_layers: int = 3,
        cross_head_dim: int = 50,
        dropout: float = 0.0,
    ):
        """
        Args:
            in_feature (str): backbone feature read, e.g. ``"block11"`` (ViT-B's last block).
            in_channels (int): its channels D (the decoder works at this width).
            num_classes (int): number of classes K.
            mode (str): "sa" (DEPICT-SA) or "ca" (DEPICT-CA).
            num_layers (int): self-attention layers (``n_layers``; released 3).
            num_heads (int): heads of every layer (``n_heads``; released 3, not D // 64).
            head_dim (int): per-head width of the self-attention layers (hard-coded 100).
            cross_layers (int): cross-attention layers in "ca" mode (hard-coded 3).
            cross_head_dim (int): per-head width of the cross-attention layers (hard-coded 50).
            dropout (float): attention dropout (released 0.0).
        """
        super().__init__()
        if mode not in DEPICT_MODES:
            raise ValueError(
                f"DEPICTHead mode {mode!r} is unknown; use one of {DEPICT_MODES} "
                "(model.head.mode in the config)"
            )
        self.in_feature = in_feature
        self.num_classes = num_classes
        self.mode = mode
        dim = in_channels
        self.cls_emb = nn.Parameter(torch.zeros(1, num_classes, dim))  # (1, K, D)
        self.self_layers = nn.ModuleList(
            TiedProjectionAttention(dim, num_heads, head_dim, dropout) for _ in range(num_layers)
        )
        if mode == "sa":
            self.decoder_norm = nn.LayerNorm(dim)
        else:
            self.patch_norm = nn.LayerNorm(dim)
            self.cross_layers = nn.ModuleList(
                TiedProjectionAttention(dim, num_heads, cross_head_dim, dropout)
                for _ in range(cross_layers)
            )
            self.class_norm = nn.LayerNorm(dim)
        self.mask_norm = nn.LayerNorm(num_classes)
        trunc_normal_(self.cls_emb, std=0.02)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        in_feature = cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES[-1]
        return {
            "in_feature": in_feature,
            "in_channels": check_in_features(
                input_shape, [in_feature], "MODEL.SEM_SEG_HEAD.IN_FEATURES[-1]"
            ),
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
        }

    def forward(self, features: Dict[str, Tensor]) -> Tensor:
        """
        Args:
            features (dict[str, Tensor]): backbone outputs; ``features[in_feature]`` is
                (B, D, h, w).

        Returns:
            Tensor: (B, K, h, w) class logits (LayerNorm-ed cosine similarities).
        """
        x, hw = map_to_tokens(features[self.in_feature])  # (B, N, D)
        classes = self.cls_emb.expand(x.shape[0], -1, -1)  # (B, K, D)
        if self.mode == "sa":
            x = torch.cat([x, classes], dim=1)  # (B, N + K, D)
            for layer in self.self_layers:
                x = layer(x)
            x = self.decoder_norm(x)
            patches, classes = x[:, : -self.num_classes], x[:, -self.num_classes :]
        else:
            for layer in self.self_layers:
                x = layer(x)
            patches = self.patch_norm(x)  # (B, N, D)
            for layer in self.cross_layers:
                classes = layer(patches, query=classes)
            classes = self.class_norm(classes)  # (B, K, D)
        return cosine_class_masks(patches, classes, self.mask_norm, hw)
