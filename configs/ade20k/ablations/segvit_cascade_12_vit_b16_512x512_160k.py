"""SegViT, ViT-B/16, ATM on layer [12] only (paper Table 5 row 1, 49.6 mIoU ss): the same model as
``segvit_single_vit_b16_512x512_160k.py`` (Table 8 "Single, ATM")."""

from .segvit_single_vit_b16_512x512_160k import dataloader, lr_multiplier, model, optimizer, train
