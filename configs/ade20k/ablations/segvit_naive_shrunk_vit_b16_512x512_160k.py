"""Naive Shrunk SegViT, ViT-B/16, ADE20K, 512x512, 160k (paper Fig. 3b, Table 8 row "Naive Shrunk":
46.9 mIoU ss, 74.1 GFLOPs): QD in block 6, one ATM stage on the 1/32 output of block 12, every
layer supervised (official ``ATMSingleHead``, dev-repo config ``segvit_vit-b_jx_shrink6_atm``)."""

from detectron2.config import LazyCall as L

from segvit.modeling.backbone.shrunk_vit import ShrunkViT
from segvit.modeling.heads.atm_head import ATMSingleStageHead

from ..segvit_vit_b16_512x512_160k import dataloader, lr_multiplier, model, optimizer, train

# Same ViT-B arguments and weights; blocks 6..11 (0-indexed) run on 16x16 instead of 32x32 tokens.
model.backbone._target_ = ShrunkViT
model.backbone.update(shrink_idx=6, qd_mode="q", out_indices=(11,))
model.head = L(ATMSingleStageHead)(
    in_feature="block11",  # 1/32 map
    in_channels="${..backbone.embed_dim}",
    num_classes=150,
    embed_dim=384,  # C / 2
    num_heads=12,  # head_dim 32
    num_layers=3,
)
