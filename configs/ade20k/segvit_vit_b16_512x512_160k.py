"""SegViT, ViT-B/16, ADE20K, 512x512 crops, 160k iterations (paper Table 1: 51.3 mIoU ss,
120.9 GFLOPs; facts section 5, ViT-B row).

160k iters x 16 images = about 127 ADE20K epochs (20,210 training images). Pretrained weights:
the ViT-B/16 used by SETR (``tools/convert_pretrained.py`` on a local timm/Google file) with
ImageNet mean/std, passed as ``train.init_checkpoint``.
"""

from ..common.data.ade20k import dataloader
from ..common.models.segvit import model
from ..common.optim import optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

model.head.num_classes = 150
optimizer.weight_decay = 0.01
train.max_iter = 160000
