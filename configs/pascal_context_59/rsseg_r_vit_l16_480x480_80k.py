"""RSSeg-R (a reconstruction of RSSeg; docs/rsseg.md), ViT-L/16 (AugReg), PASCAL-Context 59
classes, 480x480 crops, 80k iterations. RSSeg reports 67.5 (AugReg ViT-L) and 68.9 (BEiT-L) mIoU on
PASCAL-Context, multi-scale; no number of ours is a replication.

Recipe: SegViT's PC-59 one (``segvit_vit_l16_480x480_80k.py``), RSSeg's being unknown.
"""

from ..common.data.pascal_context_59 import dataloader
from ..common.models.rsseg_r_vit_l import model
from ..common.optim import optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

model.backbone.pretrain_img_size = 480
model.head.num_classes = 59
model.inference.update(crop_size=(480, 480), stride=(320, 320))
optimizer.lr = 5e-6
optimizer.weight_decay = 0.02
lr_multiplier.power = 2.0
lr_multiplier.warmup_iters = 1500
train.max_iter = 80000
