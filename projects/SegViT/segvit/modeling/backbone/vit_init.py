"""Initialisation rules of the ViT backbone when no pre-trained weights are loaded.

Two rules, chosen by ``ViT(init=...)``:

- ``"mmseg"``: mmseg 0.x ``VisionTransformer.init_weights`` with ``pretrained=None`` (the backbone
  of the official SegViT configs, ``zbwxp/SegVit``): trunc-normal(0.02) for ``pos_embed``, the class
  token and every Linear weight; Linear biases 0 except the two FFN biases, N(0, 1e-6); every
  Conv2d (patch embedding, or a conv stem) kaiming-normal (fan-in, ReLU gain), bias 0; norms (1, 0).
  The fused qkv weight is xavier-uniform: mmseg's attention is ``nn.MultiheadAttention``, whose
  ``in_proj_weight`` (3C, C) is not an ``nn.Linear``, so the loop leaves PyTorch's own
  xavier-uniform (``MultiheadAttention._reset_parameters``) in place, and its bias 0.
- ``"trunc_normal"``: timm-style, the rule of this repository before the mmseg rule existed
  (every tiny from-scratch run in ``benchmarks/compare.md`` used it): trunc-normal(0.02) for
  ``pos_embed``, the class token and every Linear weight (qkv included), all Linear biases 0,
  LayerNorms (1, 0); convolutions keep PyTorch's default (kaiming-uniform, a = sqrt(5)).

docs/design.md ("ViT initialisation") says which configs use which rule and why.
"""

import torch.nn as nn
from timm.layers import trunc_normal_
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["VIT_INIT_RULES", "init_vit_weights"]

VIT_INIT_RULES = ("mmseg", "trunc_normal")


def init_vit_weights(vit: nn.Module, rule: str) -> None:
    """Initialise ``vit`` (a :class:`~segvit.modeling.backbone.vit.ViT`) in place by ``rule``.

    Args:
        vit (ViT): the backbone; uses its ``pos_embed``, ``cls_token``, ``cls_pos_embed`` and
            ``blocks`` (timm ``Block``: ``attn.qkv``, ``attn.proj``, ``mlp.fc1``, ``mlp.fc2``).
        rule (str): one of :data:`VIT_INIT_RULES`.
    """
    if rule not in VIT_INIT_RULES:
        raise ValueError(
            f"ViT init={rule!r} is not a known rule; use one of {VIT_INIT_RULES} "
            "(segvit/modeling/backbone/vit_init.py)"
        )
    trunc_normal_(vit.pos_embed, std=0.02)
    for extra in (vit.cls_token, vit.cls_pos_embed):
        if extra is not None:
            trunc_normal_(extra, std=0.02)
    # Both rules: trunc-normal(0.02) Linear weights, zero Linear biases, LayerNorms (1, 0). mmseg's
    # (mmseg/models/backbones/vit.py VisionTransformer.init_weights, pretrained=None) also:
    # kaiming-normal convolutions with zero biases, and every norm layer (1, 0).
    mmseg = rule == "mmseg"
    norms = (_BatchNorm, nn.GroupNorm, nn.LayerNorm) if mmseg else (nn.LayerNorm,)
    for m in vit.modules():
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif mmseg and isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, norms) and m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if not mmseg:
        return
    for block in vit.blocks:
        # official: nn.MultiheadAttention.in_proj_weight, xavier-uniform over (3C, C), bias 0
        nn.init.xavier_uniform_(block.attn.qkv.weight)
        # official: the FFN's Linear layers ('ffn' in their names) get N(0, 1e-6) biases
        for fc in (block.mlp.fc1, block.mlp.fc2):
            if fc.bias is not None:
                nn.init.normal_(fc.bias, mean=0.0, std=1e-6)
