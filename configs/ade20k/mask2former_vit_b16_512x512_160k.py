"""Mask2Former on a plain ViT-B/16 (ViTDet's SimpleFeaturePyramid), ADE20K, 512x512, 160k: the
like-for-like partner of ``segvit_vit_b16_512x512_160k.py`` (same backbone and pretrained file).

Mask2Former's recipe from ``mask2former_swin_t_512x512_160k.py`` (AdamW lr 1e-4 with backbone
x0.1, weight decay 0.05, poly 0.9, no warm-up, clipping 0.01, batch 16) with the ViT-B backbone
and drop path 0.1 of the SegViT ViT-B config. Pretrained weights: as in
``maskformer_vit_b16_512x512_160k.py`` (``tools/convert_pretrained.py --prefix backbone.net.``).
"""

from ..common.models.mask2former_vit import model
from .mask2former_swin_t_512x512_160k import dataloader, lr_multiplier, optimizer, train

model.sem_seg_head.num_classes = 150
optimizer.params.zero_decay_keywords = ("pos_embed",)
