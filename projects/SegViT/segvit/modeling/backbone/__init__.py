"""Backbones: the plain ViT (registered in BACKBONE_REGISTRY as "SegViTViT")."""

from .vit import ViT, build_segvit_vit_backbone
