"""RSSeg-R (a reconstruction of RSSeg; docs/rsseg.md), ViT-B/16, ADE20K, 512x512 crops, 160k
iterations. RSSeg publishes no ViT-B result: no number of this config is a replication.

RSSeg's recipe is not public; this is SegViT's ViT-B recipe (``segvit_vit_b16_512x512_160k.py``):
AdamW lr 2e-5 with every head module at x10, weight decay 0.01, poly power 1.0 with 1,500 warm-up
iterations, clip 35, batch 16, slide 512 / 341. Weights: the SegViT ViT-B/16 checkpoint converted
with ``--pretrain-img-size 512`` as ``train.init_checkpoint``.
"""

from ..common.data.ade20k import dataloader
from ..common.models.rsseg_r import model
from ..common.optim import optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

model.backbone.pretrain_img_size = 512
model.head.num_classes = 150
optimizer.weight_decay = 0.01
lr_multiplier.power = 1.0
train.max_iter = 160000
