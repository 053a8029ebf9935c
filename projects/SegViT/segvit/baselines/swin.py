"""Swin Transformer backbone with ResNet-style feature names, for the MaskFormer-family heads.

Detectron2's ``SwinTransformer`` names its outputs ``p0..p3``; maskformer2's configs (and its own
``D2SwinTransformer``) call the same maps ``res2..res5``. The heads only use names and strides, but
keeping maskformer2's names lets one head config serve ResNet and Swin, and keeping Detectron2's
parameter names (``patch_embed.*``, ``layers.N.*``, ``normN.*``, the same as maskformer2's
``D2SwinTransformer``) lets official MaskFormer / Mask2Former Swin checkpoints load by name.
"""

from typing import Dict, Sequence

import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import SwinTransformer

__all__ = ["SwinBackbone", "swin_output_shape"]


def _res_name(stage: int) -> str:
    """Swin stage i (stride 2^(i+2)) -> ``res{i+2}``."""
    return f"res{stage + 2}"


def swin_output_shape(
    embed_dim: int = 96, out_indices: Sequence[int] = (0, 1, 2, 3)
) -> Dict[str, ShapeSpec]:
    """Output shapes of :class:`SwinBackbone`, for configs that need them before it is built.

    Stage i has ``embed_dim * 2**i`` channels at stride ``2**(i + 2)`` (Swin-T: res2 96 @4,
    res3 192 @8, res4 384 @16, res5 768 @32).
    """
    return {
        _res_name(i): ShapeSpec(channels=embed_dim * 2**i, stride=2 ** (i + 2)) for i in out_indices
    }


class SwinBackbone(SwinTransformer):
    """Detectron2's ``SwinTransformer`` (Liu et al., ICCV 2021) returning ``res2..res5``.

    Also fixes a typo in Detectron2's class: it stores ``_size_devisibility`` but its
    ``size_divisibility`` property reads ``_size_divisibility`` (AttributeError on access).
    """

    def __init__(
        self,
        *,
        pretrain_img_size: int = 224,
        patch_size: int = 4,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.3,
        ape: bool = False,
        patch_norm: bool = True,
        out_indices: Sequence[int] = (0, 1, 2, 3),
        use_checkpoint: bool = False,
    ):
        """
        Args:
            pretrain_img_size (int): image size of the pretrained weights (only used with ``ape``).
            patch_size (int): patch size of the stem (stride of res2).
            embed_dim (int): channels of stage 0; stage i has ``embed_dim * 2**i``.
            depths (sequence[int]): blocks per stage (Swin-T 2-2-6-2, Swin-S/B/L 2-2-18-2).
            num_heads (sequence[int]): attention heads per stage (Swin-T 3-6-12-24).
            window_size (int): attention window (7 for the 224-pretrained models).
            mlp_ratio (float): MLP hidden size / channels.
            qkv_bias (bool): bias in the qkv projections.
            drop_path_rate (float): stochastic depth of the last block (linear rule).
            ape (bool): absolute position embedding (off for all released Swin models).
            patch_norm (bool): LayerNorm after the patch embedding.
            out_indices (sequence[int]): stages to return; stage i is named ``res{i+2}``.
            use_checkpoint (bool): activation checkpointing in every block.
        """
        super().__init__(
            pretrain_img_size=pretrain_img_size,
            patch_size=patch_size,
            embed_dim=embed_dim,
            depths=tuple(depths),
            num_heads=tuple(num_heads),
            window_size=window_size,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            drop_path_rate=drop_path_rate,
            ape=ape,
            patch_norm=patch_norm,
            out_indices=tuple(out_indices),
            use_checkpoint=use_checkpoint,
        )
        shapes = swin_output_shape(embed_dim, self.out_indices)
        self._p_to_res = {f"p{i}": _res_name(i) for i in self.out_indices}
        self._out_features = list(shapes)
        self._out_feature_channels = {k: s.channels for k, s in shapes.items()}
        self._out_feature_strides = {k: s.stride for k, s in shapes.items()}
        self._size_divisibility = 32  # the stride of res5; Detectron2 misspells this attribute

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            x: (B, 3, H, W) normalised images; any H, W (windows are padded internally).

        Returns:
            dict[str, Tensor]: ``res{i+2}``: (B, embed_dim * 2**i, ceil(H / 2**(i+2)), ...).
        """
        return {self._p_to_res[k]: v for k, v in super().forward(x).items()}
