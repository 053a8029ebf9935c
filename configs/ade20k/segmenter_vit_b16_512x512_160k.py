"""Segmenter (Seg-B-Mask/16), ViT-B/16, ADE20K, 512x512 crops, 160k iterations (Segmenter's ADE20K
recipe: 64 epochs x 20,210 images / batch 8 = about 161.7k iterations;
docs/official_reference.md#segmenter-and-depict-recipe).

SGD lr 1e-3, momentum 0.9, no weight decay, poly 0.9 to 1e-5, batch 8; slide 512 / 480. SegViT's
Table 1: 48.5 mIoU ss (Segmenter's paper), 129.6 GFLOPs (``benchmarks/flops.md``). Pretrained
weights: the AugReg ViT-B/16 @384 with its class token and final norm, pos-embed at the 512 grid::

    python tools/convert_pretrained.py --input pretrained/vit_base_patch16_384.pth \\
        --output pretrained/vit_b16_512_segmenter.pth --pretrain-img-size 512 \\
        --class-token --final-norm --pos-embed-interp bilinear

passed as ``train.init_checkpoint``.
"""

from ..common.data.ade20k import dataloader
from ..common.models.segmenter import model
from ..common.segmenter_recipe import lr_multiplier, optimizer
from ..common.train import train

model.head.num_classes = 150
dataloader.train.total_batch_size = 8
train.max_iter = 160000
