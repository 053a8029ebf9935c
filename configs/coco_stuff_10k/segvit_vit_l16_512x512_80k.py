"""SegViT, ViT-L/16, COCO-Stuff-10K, 512x512 crops, 80k iterations (paper Table 2: 50.3 mIoU ms,
383.9 GFLOPs; README 49.9 ss; docs/official_reference.md#segvit-training-recipe, COCO-Stuff-10K
row).

80k iters x 16 images = about 142 epochs of the 9,000 training images.
"""

from ..common.data.coco_stuff_10k import dataloader
from ..common.models.segvit_vit_l import model
from ..common.optim import optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

# pos-embed stored at the 32x32 training grid, the table mmseg trains after resizing the
# 24x24 one at load time (as the ViT-B config; convert with --pretrain-img-size 512)
model.backbone.pretrain_img_size = 512
model.head.num_classes = 171
model.inference.update(crop_size=(512, 512), stride=(341, 341))  # stride = 2/3 of the window
optimizer.weight_decay = 0.02
lr_multiplier.power = 2.0  # COCO-Stuff-10K only: poly power 2
train.max_iter = 80000
