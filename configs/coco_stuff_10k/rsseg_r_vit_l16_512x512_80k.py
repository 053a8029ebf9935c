"""RSSeg-R (a reconstruction of RSSeg; docs/rsseg.md), ViT-L/16 (AugReg), COCO-Stuff-10K, 512x512
crops, 80k iterations. RSSeg reports 52.0 (AugReg ViT-L) and 52.6 (BEiT-L) mIoU on COCO-Stuff,
multi-scale; no number of ours is a replication.

Recipe: SegViT's COCO-Stuff-10K one (``segvit_vit_l16_512x512_80k.py``), RSSeg's being unknown.
"""

from ..common.data.coco_stuff_10k import dataloader
from ..common.models.rsseg_r_vit_l import model
from ..common.optim import optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

model.backbone.pretrain_img_size = 512
model.head.num_classes = 171
model.inference.update(crop_size=(512, 512), stride=(341, 341))
optimizer.weight_decay = 0.02
lr_multiplier.power = 2.0
train.max_iter = 80000
