"""Segmenter (Seg-L-Mask/16), ViT-L/16, ADE20K, 640x640 crops, 160k iterations (Segmenter's paper:
51.8 mIoU ss / 53.6 ms; SegViT's Table 1: 671.8 GFLOPs; ``benchmarks/flops.md``).

Segmenter's ADE20K recipe at 640 (docs/official_reference.md#segmenter-and-depict-recipe):
SGD lr 1e-3, batch 8, poly 0.9; train crops 640 (short side 640 x [0.5, 2.0]), test short side
640, slide 640 / 608. Weights: AugReg ViT-L/16 @384 converted as in the ViT-B config with
``--pretrain-img-size 640``.
"""

from ..common.data.ade20k import dataloader
from ..common.models.segmenter_vit_l import model
from ..common.segmenter_recipe import lr_multiplier, optimizer
from ..common.train import train

dataloader.train.mapper.augmentations.update(crop_size=(640, 640), img_scale=(2048, 640))
dataloader.test.mapper.augmentations.img_scale = (2048, 640)
model.head.num_classes = 150
dataloader.train.total_batch_size = 8
train.max_iter = 160000
