"""DEPICT-SA on the demo's tiny ViT: ``segmenter_tiny.py`` with DEPICT's decoder in place of
Segmenter's (its released defaults: 3 layers, 3 heads of width 100, at the backbone width 96)."""

from ..common.models.depict_head import depict_head
from .segmenter_tiny import dataloader, lr_multiplier, model, optimizer, train

model.head = depict_head(model.head, mode="sa")
train.output_dir = "output/depict_sa_tiny"
