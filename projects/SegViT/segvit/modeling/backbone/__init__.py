"""Backbones: the plain ViT ("SegViTViT") and the Shrunk ViT with query down-sampling
("SegViTShrunkViT"), registered in BACKBONE_REGISTRY; a conv stem for from-scratch training."""

from .conv_stem import ConvStem
from .shrunk_vit import ShrunkViT
from .vit import ViT, build_segvit_vit_backbone
