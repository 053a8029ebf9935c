"""Shrunk SegViT, ViT-L/16, COCO-Stuff-10K, 512x512, 80k iterations (paper Table 2: 49.4 mIoU ms,
224.8 GFLOPs; README 49.1 ss). Same data and recipe as the ViT-L SegViT."""

from ..common.models.segvit_shrunk import model
from .segvit_vit_l16_512x512_80k import dataloader, lr_multiplier, optimizer, train

# pos-embed stored at the 32x32 training grid, the table mmseg trains after resizing the
# 24x24 one at load time (as the ViT-B config; convert with --pretrain-img-size 512)
model.backbone.pretrain_img_size = 512
model.head.num_classes = 171
model.head.query_grid = (32, 32)  # 512 / 16: 1,024 QU queries
model.inference.update(crop_size=(512, 512), stride=(341, 341))
