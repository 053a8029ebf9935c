"""Shrunk SegViT, ViT-L/16, PASCAL-Context with 59 classes, 480x480, 80k iterations (the README's
"59cls" Shrunk row reads 62.3 mIoU ss, 63.7 ms, 186.9 GFLOPs; see the ViT-L file here for why the
class count behind it is unresolved). Same data and recipe as the 59-class ViT-L SegViT."""

from ..common.models.segvit_shrunk import model
from .segvit_vit_l16_480x480_80k import dataloader, lr_multiplier, optimizer, train

# pos-embed stored at the 30x30 training grid, the table mmseg trains after resizing the
# 24x24 one at load time (as the ViT-B config; convert with --pretrain-img-size 480)
model.backbone.pretrain_img_size = 480
model.head.num_classes = 59
model.head.query_grid = (30, 30)  # 480 / 16: 900 QU queries
model.inference.update(crop_size=(480, 480), stride=(320, 320))
