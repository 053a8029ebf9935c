"""SegViT "Single": one ATM stage (3 layers) on the last block of ViT-B/16, ADE20K, 512x512, 160k
(paper Table 5 row [12] / Table 8 row "Single, ATM": 49.6 mIoU ss, 115.8 GFLOPs)."""

from ..segvit_vit_b16_512x512_160k import dataloader, lr_multiplier, model, optimizer, train

model.backbone.out_indices = (11,)  # 1-indexed block 12
model.head.in_features = ["block11"]  # one stage: only its last layer is supervised
