"""MaskFormer (Cheng et al., NeurIPS 2021) with a Swin-T backbone: the ADE20K-150 semantic recipe.

maskformer2's modules with explicit arguments: FPN-style ``BasePixelDecoder`` (res2-res5, GN,
256-d), a 6-layer DETR decoder on res5, 100 queries, deep supervision, and MaskFormer's own loss
(class 1 + focal 20 + dice 1 on full masks, see ``segvit.baselines.criterion``).
Paper: 46.7 mIoU single-scale on ADE20K val; 55 GFLOPs in MaskFormer's own table, 57.3 in SegViT's
Table 6 (``benchmarks/baseline_flops.py`` measures it).
"""

from detectron2.config import LazyCall as L

from segvit.baselines import (
    BasePixelDecoder,
    MaskFormerHead,
    SemSegMaskFormer,
    StandardTransformerDecoder,
    SwinBackbone,
    build_maskformer_criterion,
    swin_output_shape,
)

model = L(SemSegMaskFormer)(
    backbone=L(SwinBackbone)(
        embed_dim=96,  # Swin-T
        depths=(2, 2, 6, 2),
        num_heads=(3, 6, 12, 24),
        window_size=7,
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),  # res2..res5, strides 4..32
    ),
    sem_seg_head=L(MaskFormerHead)(
        input_shape=L(swin_output_shape)(embed_dim="${...backbone.embed_dim}"),
        num_classes=150,
        ignore_value="${..ignore_value}",
        pixel_decoder=L(BasePixelDecoder)(
            input_shape="${..input_shape}",
            conv_dim=256,
            mask_dim=256,
            norm="GN",
        ),
        transformer_in_feature="res5",
        transformer_predictor=L(StandardTransformerDecoder)(
            in_channels=768,  # res5 channels = 8 x backbone.embed_dim (1x1 projection to 256)
            mask_classification=True,
            num_classes="${..num_classes}",
            hidden_dim=256,
            num_queries="${...num_queries}",
            nheads=8,
            dropout=0.1,
            dim_feedforward=2048,
            enc_layers=0,  # no transformer encoder on res5 for ADE20K
            dec_layers=6,
            pre_norm=False,
            deep_supervision=True,
            mask_dim="${..pixel_decoder.mask_dim}",
            enforce_input_project=False,
        ),
    ),
    criterion=L(build_maskformer_criterion)(
        num_classes="${..sem_seg_head.num_classes}",
        class_weight=1.0,
        mask_weight=20.0,  # focal
        dice_weight=1.0,
        no_object_weight=0.1,
        dec_layers="${..sem_seg_head.transformer_predictor.dec_layers}",
        deep_supervision="${..sem_seg_head.transformer_predictor.deep_supervision}",
    ),
    num_queries=100,
    pixel_mean=[123.675, 116.28, 103.53],  # RGB, ImageNet (Swin's pretraining normalisation)
    pixel_std=[58.395, 57.12, 57.375],
    size_divisibility=32,  # stride of res5
    ignore_value=255,
)
