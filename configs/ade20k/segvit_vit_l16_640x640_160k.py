"""SegViT, ViT-L/16, ADE20K, 640x640 crops, 160k iterations (paper Table 1: 54.6 mIoU ss, 55.2 ms,
637.9 GFLOPs; docs/official_reference.md#segvit-training-recipe, ADE20K ViT-L row).

160k iters x 16 images = about 127 ADE20K epochs. Pretrained weights: AugReg ViT-L/16 @384
(``tools/convert_pretrained.py``) as ``train.init_checkpoint``.
"""

from ..common.data.ade20k import dataloader
from ..common.models.segvit_vit_l import model
from ..common.optim import optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

dataloader.train.mapper.augmentations.update(
    crop_size=(640, 640), img_scale=(2048, 640)  # short side 640 x [0.5, 2.0]
)
dataloader.test.mapper.augmentations.img_scale = (2048, 640)  # short side 640
# pos-embed stored at the 40x40 training grid, the table mmseg trains after resizing the
# 24x24 one at load time (as the ViT-B config; convert with --pretrain-img-size 640)
model.backbone.pretrain_img_size = 640
model.head.num_classes = 150
model.inference.update(crop_size=(640, 640), stride=(608, 608))
optimizer.weight_decay = 0.01
lr_multiplier.power = 1.0
train.max_iter = 160000
