"""Mask2Former (Cheng et al., CVPR 2022) with a Swin-T backbone: the ADE20K-150 semantic recipe.

maskformer2's modules with explicit arguments: ``MSDeformAttnPixelDecoder`` (6 deformable-attention
encoder layers on res3-res5, FPN to res2, GN, 256-d), a 9-layer masked-attention decoder that
cycles over the 1/32, 1/16, 1/8 maps, 100 queries, and Mask2Former's point-sampled loss
(class 2, BCE 5, dice 5 on 112 x 112 points).
Paper: 47.7 mIoU single-scale on ADE20K val, 74 GFLOPs (73.7 in SegViT's Table 6).
"""

from detectron2.config import LazyCall as L

from segvit.baselines import (
    MSDeformAttnPixelDecoder,
    MultiScaleMaskedTransformerDecoder,
    build_mask2former_criterion,
)

from .maskformer import model  # Swin-T backbone, meta-architecture, queries, normalisation

model.sem_seg_head.pixel_decoder = L(MSDeformAttnPixelDecoder)(
    input_shape="${..input_shape}",
    transformer_dropout=0.0,
    transformer_nheads=8,
    transformer_dim_feedforward=1024,  # maskformer2 hard-codes 1024 for this encoder
    transformer_enc_layers=6,
    conv_dim=256,
    mask_dim=256,
    norm="GN",
    transformer_in_features=["res3", "res4", "res5"],  # res2 only joins through the FPN
    common_stride=4,  # mask features at 1/4
)
model.sem_seg_head.transformer_in_feature = "multi_scale_pixel_decoder"
model.sem_seg_head.transformer_predictor = L(MultiScaleMaskedTransformerDecoder)(
    in_channels="${..pixel_decoder.conv_dim}",
    mask_classification=True,
    num_classes="${..num_classes}",
    hidden_dim=256,
    num_queries="${...num_queries}",
    nheads=8,
    dim_feedforward=2048,
    dec_layers=9,  # yacs DEC_LAYERS 10 counts the prediction from the learnable queries
    pre_norm=False,
    mask_dim="${..pixel_decoder.mask_dim}",
    enforce_input_project=False,
)
model.criterion = L(build_mask2former_criterion)(
    num_classes="${..sem_seg_head.num_classes}",
    class_weight=2.0,
    mask_weight=5.0,  # binary cross-entropy
    dice_weight=5.0,
    no_object_weight=0.1,
    dec_layers="${..sem_seg_head.transformer_predictor.dec_layers}",
    num_points=112 * 112,
    oversample_ratio=3.0,
    importance_sample_ratio=0.75,
)
