"""SegViT, ViT-B/16, ADE20K, 512x512 crops, 160k iterations (paper Table 1: 51.3 mIoU ss,
120.9 GFLOPs; docs/official_reference.md#segvit-training-recipe, ViT-B row).

160k iters x 16 images = about 127 ADE20K epochs (20,210 training images). Pretrained weights:
the ViT-B/16 used by SETR, with ImageNet mean/std, converted with the pos-embed at the 512 grid::

    python tools/convert_pretrained.py --input pretrained/jx_vit_base_p16_384-83fb41ba.pth \\
        --output pretrained/vit_b16_512_segvit.pth --pretrain-img-size 512

and passed as ``train.init_checkpoint``. Everything else is the common recipe: AdamW lr 2e-5
(head x10), poly power 1.0 with 1,500 warm-up iterations, clip 35, batch 16, drop-path 0.1,
short side 512 x [0.5, 2.0] jitter, slide inference 512 / 341.
"""

from ..common.data.ade20k import dataloader
from ..common.models.segvit import model
from ..common.optim import optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

# mmseg resizes the stored 24x24 pos-embed once, at load time, to the 32x32 training grid and then
# trains that 32x32 table; a 512 pos-embed grid reproduces this exactly (and 512 slide windows need
# no resize at run time). Converting with --pretrain-img-size 512 (above) stores the 32x32 table;
# a checkpoint with another grid (e.g. 24x24) is resized bicubic on load by our checkpointer
# (segvit/checkpoint/checkpointer.py), as mmseg does, with a log line.
model.backbone.pretrain_img_size = 512
model.head.num_classes = 150
optimizer.weight_decay = 0.01
lr_multiplier.power = 1.0
train.max_iter = 160000
