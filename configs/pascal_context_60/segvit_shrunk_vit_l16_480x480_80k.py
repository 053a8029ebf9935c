"""Shrunk SegViT, ViT-L/16, PASCAL-Context (60 classes), 480x480, 80k iterations (paper Table 3:
63.7 mIoU ms, 186.9 GFLOPs; README 62.3 ss). Same data and recipe as the ViT-L SegViT."""

from ..common.models.segvit_shrunk import model
from .segvit_vit_l16_480x480_80k import dataloader, lr_multiplier, optimizer, train

# pos-embed stored at the 30x30 training grid, the table mmseg trains after resizing the
# 24x24 one at load time (as the ViT-B config; convert with --pretrain-img-size 480)
model.backbone.pretrain_img_size = 480
model.head.num_classes = 60
model.head.query_grid = (30, 30)  # 480 / 16: 900 QU queries
model.inference.update(crop_size=(480, 480), stride=(320, 320))
