"""Shrunk SegViT, ViT-L/16, ADE20K, 640x640, 160k iterations (paper Table 1: 53.9 mIoU ss, 55.1 ms,
373.5 GFLOPs, about 40% less than SegViT's 637.9). Same data and recipe as the ViT-L SegViT."""

from ..common.models.segvit_shrunk import model
from .segvit_vit_l16_640x640_160k import dataloader, lr_multiplier, optimizer, train

# pos-embed stored at the 40x40 training grid, the table mmseg trains after resizing the
# 24x24 one at load time (as the ViT-B config; convert with --pretrain-img-size 640)
model.backbone.pretrain_img_size = 640
model.head.num_classes = 150
model.head.query_grid = (40, 40)  # 640 / 16
model.inference.update(crop_size=(640, 640), stride=(608, 608))
