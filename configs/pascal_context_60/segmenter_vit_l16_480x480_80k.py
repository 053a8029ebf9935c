"""Segmenter (Seg-L-Mask/16), ViT-L/16, PASCAL-Context (60 classes), 480x480 crops, 80k iterations
(Segmenter's recipe: 256 epochs x 4,996 images / batch 16 = about 80k; paper 58.1 ss / 59.0 ms).

SGD lr 1e-3, batch 16, poly 0.9 (docs/official_reference.md#segmenter-and-depict-recipe);
train: resize into 520 x [0.5, 2.0], 480 crops; slide 480 / 448 (the official evaluation's stride
crop - 32).
"""

from ..common.data.pascal_context_60 import dataloader
from ..common.models.segmenter_vit_l import model
from ..common.segmenter_recipe import lr_multiplier, optimizer
from ..common.train import train

model.backbone.pretrain_img_size = 480
model.head.num_classes = 60
model.inference.update(crop_size=(480, 480), stride=(448, 448))
dataloader.train.total_batch_size = 16
train.max_iter = 80000
