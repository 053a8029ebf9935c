"""DEPICT-CA on the demo's tiny ViT: ``depict_sa_tiny.py`` in "ca" mode (3 self-attention layers
over the patches, then 3 cross-attention layers of width 50 for the class embeddings)."""

from .depict_sa_tiny import dataloader, lr_multiplier, model, optimizer, train

model.head.mode = "ca"
train.output_dir = "output/depict_ca_tiny"
