"""SegViT, Swin-T, ADE20K, 512x512 crops, 160k iterations (paper Table 6: 47.1 mIoU, 48.0 GFLOPs;
docs/official_reference.md#segvit-swin-t-variant: the dev repo's
``segvit_swin_tiny_512x512_160k_ade20k.py``).

Swin-T (drop path 0.3) -> deformable-attention neck on res3-res5 -> ATM head (d 256, 8 heads,
coarsest first). "Same AdamW recipe" as the ViT configs: lr 2e-5 with x10 on parameters named
``head`` (the neck, like the dev repo's mmseg ``neck``, stays at the base lr), weight decay 0.01,
none on backbone norms, poly power 1.0 with 1,500 warm-up iterations, clipping 35. The dev repo
sets 4 images per GPU without the GPU count; we keep the paper's total batch of 16. Pretrained
weights: ``swin_tiny_patch4_window7_224`` (docs/baselines.md), as ``train.init_checkpoint``.
"""

from ..common.data.ade20k import dataloader
from ..common.models.segvit_swin import model
from ..common.optim import optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

model.head.num_classes = 150
optimizer.params.zero_decay_keywords = ("relative_position_bias_table", "absolute_pos_embed")
optimizer.weight_decay = 0.01
lr_multiplier.power = 1.0
train.max_iter = 160000
