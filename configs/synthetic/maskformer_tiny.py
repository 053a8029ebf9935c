"""MaskFormer on the synthetic dataset, with the demo's tiny ViT: the baseline of
``python -m benchmarks.compare`` against ``segvit_tiny.py``.

Same backbone (4-block ViT, dim 96, patch 8, conv stem), data, optimizer, schedule and iterations
as ``segvit_tiny.py``; only the decoder differs. The ViT's last block goes through ViTDet's
``SimpleFeaturePyramid`` to 64-d maps p2-p4 (strides 4/8/16: the stride-8 ViT supports no 1/32
level with its scale factors), then MaskFormer's FPN pixel decoder and a 3-layer DETR decoder on
p4 with 16 queries, and MaskFormer's loss (class + focal 20 + dice 1, Hungarian matching).
"""

from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import SimpleFeaturePyramid

from segvit.data.synthetic import SYNTHETIC_CLASSES

from ..common.models.maskformer import model
from .segvit_tiny import dataloader, lr_multiplier
from .segvit_tiny import model as segvit_tiny
from .segvit_tiny import optimizer, train

model.backbone = L(SimpleFeaturePyramid)(
    net=segvit_tiny.backbone,
    in_feature="block3",
    out_channels=64,  # the width of every part of the decoder (GroupNorm: a multiple of 32)
    scale_factors=(2.0, 1.0, 0.5),  # strides 4, 8, 16 -> p2, p3, p4
    norm="LN",
    square_pad=0,
)
model.backbone.net.out_indices = (3,)  # the last block only
model.size_divisibility = 16
model.num_queries = 16
model.pixel_mean = segvit_tiny.pixel_mean
model.pixel_std = segvit_tiny.pixel_std

model.sem_seg_head.num_classes = len(SYNTHETIC_CLASSES)
model.sem_seg_head.input_shape = {
    f"p{level}": L(ShapeSpec)(channels="${....backbone.out_channels}", stride=2**level)
    for level in (2, 3, 4)
}
model.sem_seg_head.pixel_decoder.conv_dim = "${...backbone.out_channels}"
model.sem_seg_head.pixel_decoder.mask_dim = "${...backbone.out_channels}"
model.sem_seg_head.transformer_in_feature = "p4"
model.sem_seg_head.transformer_predictor.update(
    in_channels="${...backbone.out_channels}",
    hidden_dim="${...backbone.out_channels}",
    nheads=4,
    dim_feedforward=256,
    dec_layers=3,
)

dataloader.train.mapper.num_classes = "${model.sem_seg_head.num_classes}"
train.output_dir = "output/maskformer_tiny"
del segvit_tiny  # only its backbone and normalisation were needed
