"""RSSeg-R (a reconstruction of RSSeg; docs/rsseg.md), ViT-L/16 (AugReg), ADE20K, 640x640 crops,
160k iterations. RSSeg's published ADE20K row is BEiT-L (58.4 mIoU, multi-scale): not comparable
with this AugReg ViT-L config, and no number of ours is a replication.

Recipe: SegViT's ViT-L one (``segvit_vit_l16_640x640_160k.py``), RSSeg's being unknown.
"""

from ..common.data.ade20k import dataloader
from ..common.models.rsseg_r_vit_l import model
from ..common.optim import optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

dataloader.train.mapper.augmentations.update(crop_size=(640, 640), img_scale=(2048, 640))
dataloader.test.mapper.augmentations.img_scale = (2048, 640)
model.backbone.pretrain_img_size = 640
model.head.num_classes = 150
optimizer.weight_decay = 0.01
lr_multiplier.power = 1.0
train.max_iter = 160000
