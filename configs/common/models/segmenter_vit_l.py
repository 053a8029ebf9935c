"""Segmenter with a ViT-L/16 backbone (24 blocks, width 1024, 16 heads; decoder heads 1024 // 64).

Defaults: ADE20K at 640x640 (150 classes, slide window 640 / stride 608)."""

from .segmenter import model

model.backbone.update(
    pretrain_img_size=640, embed_dim=1024, depth=24, num_heads=16, out_indices=(23,)
)
model.head.update(in_feature="block23", num_heads=16)
model.inference.update(crop_size=(640, 640), stride=(608, 608))
