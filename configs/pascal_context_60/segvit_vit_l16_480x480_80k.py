"""SegViT, ViT-L/16, PASCAL-Context (60 classes), 480x480 crops, 80k iterations (paper Table 3:
65.3 mIoU ms, 321.6 GFLOPs; README 64.1 ss, labelled "59cls" but the released config has 60 classes;
docs/official_reference.md#segvit-training-recipe, PASCAL-Context row).

80k iters x 16 images (officially 4 per GPU x 4 GPUs) = about 256 epochs of the 4,996 train images.
"""

from ..common.data.pascal_context_60 import dataloader
from ..common.models.segvit_vit_l import model
from ..common.optim import optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

# pos-embed stored at the 30x30 training grid, the table mmseg trains after resizing the
# 24x24 one at load time (as the ViT-B config; convert with --pretrain-img-size 480)
model.backbone.pretrain_img_size = 480
model.head.num_classes = 60
model.inference.update(crop_size=(480, 480), stride=(320, 320))
optimizer.weight_decay = 0.03
lr_multiplier.power = 1.0
train.max_iter = 80000
