"""Mask2Former on the synthetic dataset, with the demo's tiny ViT: the baseline of
``python -m benchmarks.compare`` against ``segvit_tiny.py``.

Backbone, pyramid (p2-p4, 64-d), data, optimizer, schedule and iterations as ``maskformer_tiny.py``;
the decoder is Mask2Former's: a 2-layer deformable-attention pixel decoder on p2-p4 and a 3-layer
masked-attention decoder cycling over its three levels, 16 queries, and the point-sampled loss
(class 2, BCE 5, dice 5) on 28 x 28 points (112 x 112 for 512 crops, scaled to 128 crops).
"""

from detectron2.config import LazyCall as L

from segvit.baselines import MSDeformAttnPixelDecoder, MultiScaleMaskedTransformerDecoder

from ..common.models.mask2former import model as mask2former
from .maskformer_tiny import dataloader, lr_multiplier, model, optimizer, train

model.sem_seg_head.pixel_decoder = L(MSDeformAttnPixelDecoder)(
    input_shape="${..input_shape}",
    transformer_dropout=0.0,
    transformer_nheads=4,
    transformer_dim_feedforward=128,
    transformer_enc_layers=2,
    conv_dim="${...backbone.out_channels}",  # 64
    mask_dim="${...backbone.out_channels}",
    norm="GN",
    transformer_in_features=["p2", "p3", "p4"],
    common_stride=4,  # mask features at 1/4, from the finest encoder level
)
model.sem_seg_head.transformer_in_feature = "multi_scale_pixel_decoder"
model.sem_seg_head.transformer_predictor = L(MultiScaleMaskedTransformerDecoder)(
    in_channels="${..pixel_decoder.conv_dim}",
    mask_classification=True,
    num_classes="${..num_classes}",
    hidden_dim="${...backbone.out_channels}",
    num_queries="${...num_queries}",
    nheads=4,
    dim_feedforward=256,
    dec_layers=3,
    pre_norm=False,
    mask_dim="${..pixel_decoder.mask_dim}",
    enforce_input_project=False,
)
model.criterion = mask2former.criterion
model.criterion.num_points = 28 * 28
train.output_dir = "output/mask2former_tiny"
del mask2former  # only its criterion was needed
