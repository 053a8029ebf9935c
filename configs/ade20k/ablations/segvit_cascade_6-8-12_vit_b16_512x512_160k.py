"""SegViT, ViT-B/16, cascaded ATM on layers [6, 8, 12] (paper Table 5: 51.3 mIoU ss, the default):
the same model as ``configs/ade20k/segvit_vit_b16_512x512_160k.py`` (120.9 GFLOPs)."""

from ..segvit_vit_b16_512x512_160k import dataloader, lr_multiplier, model, optimizer, train
