"""SegViT, ViT-B/16, cascaded ATM on layers [6, 12] (paper Table 5: 50.9 mIoU ss)."""

from ..segvit_vit_b16_512x512_160k import dataloader, lr_multiplier, model, optimizer, train

model.backbone.out_indices = (5, 11)  # 1-indexed blocks 6, 12
model.head.in_features = ["block11", "block5"]  # deepest first
