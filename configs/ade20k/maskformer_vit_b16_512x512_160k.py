"""MaskFormer on a plain ViT-B/16 (ViTDet's SimpleFeaturePyramid), ADE20K, 512x512, 160k: the
like-for-like partner of ``segvit_vit_b16_512x512_160k.py`` (same backbone and pretrained file).

MaskFormer's recipe from ``maskformer_swin_t_512x512_160k.py`` (AdamW lr 6e-5, weight decay 0.01,
poly 0.9, warm-up 1,500, clipping 0.01, batch 16) with the ViT-B backbone and drop path 0.1 of the
SegViT ViT-B config. Pretrained weights: the same file as SegViT ViT-B, converted with
``tools/convert_pretrained.py --pretrain-img-size 384`` and prefixed for ``backbone.net.``::

    python tools/convert_pretrained.py --input pretrained/jx_vit_base_p16_384-83fb41ba.pth \\
        --output pretrained/vit_b16_384_sfp.pth --prefix backbone.net.
"""

from ..common.models.maskformer_vit import model
from .maskformer_swin_t_512x512_160k import dataloader, lr_multiplier, optimizer, train

model.sem_seg_head.num_classes = 150
optimizer.params.zero_decay_keywords = ("pos_embed",)
