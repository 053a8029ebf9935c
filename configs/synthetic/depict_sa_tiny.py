"""DEPICT-SA on the demo's tiny ViT: ``segmenter_tiny.py`` with DEPICT's decoder in place of
Segmenter's (its released defaults: 3 layers, 3 heads of width 100, at the backbone width 96)."""

from ..common.models.depict_head import head
from .segmenter_tiny import dataloader, lr_multiplier, model, optimizer, train

num_classes = model.head.num_classes
model.head = head
model.head.update(in_feature="block3", num_classes=num_classes, mode="sa")
del head, num_classes  # only model.head is part of the experiment
train.output_dir = "output/depict_sa_tiny"
