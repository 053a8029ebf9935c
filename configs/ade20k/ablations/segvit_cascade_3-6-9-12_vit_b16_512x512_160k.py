"""SegViT, ViT-B/16, cascaded ATM on layers [3, 6, 9, 12] (paper Table 5: 51.2 mIoU ss)."""

from ..segvit_vit_b16_512x512_160k import dataloader, lr_multiplier, model, optimizer, train

model.backbone.out_indices = (2, 5, 8, 11)  # 1-indexed blocks 3, 6, 9, 12
model.head.in_features = ["block11", "block8", "block5", "block2"]  # deepest first
