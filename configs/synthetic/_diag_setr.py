from detectron2.config import LazyCall as L

from segvit.modeling.heads.setr_head import SETRNaiveHead
from segvit.modeling.meta_arch.setr import SETR

from .segvit_tiny import dataloader, lr_multiplier, model, optimizer, train

model = L(SETR)(
    backbone=model.backbone,
    head=L(SETRNaiveHead)(in_feature="block3", in_channels=96, num_classes=8, channels=64, norm="BN"),
    pixel_mean=model.pixel_mean,
    pixel_std=model.pixel_std,
    inference=model.inference,
)
model.backbone.out_indices = (3,)
