"""DEPICT-CA (Wen & Li, NeurIPS 2024): ``depict_sa_vit_b16_512x512_160k.py`` in "ca" mode
(docs/official_reference.md#depict-decoder: 3 self-attention layers over the patches, then
3 cross-attention layers of width 50 for the class embeddings)."""

from .depict_sa_vit_b16_512x512_160k import dataloader, lr_multiplier, model, optimizer, train

model.head.mode = "ca"
