"""SegViT with a ViT-B/16 backbone and the cascaded ATM head (paper Sec. 3; official
``zbwxp/SegVit: configs/_base_/models/seg_vit-b16.py``, ``decode_heads/atm_head.py:ATMHead``).

Defaults: ADE20K (150 classes), 512x512 crops, ImageNet mean/std (the ViT-B recipe of issue #2).
"""

from detectron2.config import LazyCall as L

from segvit.modeling.backbone.vit import ViT
from segvit.modeling.heads.atm_head import ATMHead
from segvit.modeling.losses.atm_criterion import ATMCriterion
from segvit.modeling.meta_arch.inference import InferenceConfig
from segvit.modeling.meta_arch.segvit import SegViT

model = L(SegViT)(
    backbone=L(ViT)(
        pretrain_img_size=384,  # stored pos-embed grid 24x24, resized bicubically at run time
        patch_size=16,
        embed_dim=768,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        drop_path_rate=0.1,
        drop_path_on_attn=False,  # official (mmseg 0.24): stochastic depth on the MLP branch only
        init="mmseg",  # without pre-trained weights: mmseg VisionTransformer.init_weights
        out_indices=(5, 7, 11),  # 0-indexed blocks 6, 8, 12
    ),
    head=L(ATMHead)(
        in_features=["block11", "block7", "block5"],  # stage 1 reads the deepest block
        in_channels="${..backbone.embed_dim}",
        num_classes=150,
        embed_dim=384,  # C / 2
        num_heads=12,  # head_dim 32
        layers_per_stage=3,
        shared_in_proj_init=True,  # official: nn.TransformerDecoder's copies start equal
    ),
    criterion=L(ATMCriterion)(
        num_classes="${..head.num_classes}",
        no_object_weight=0.1,
        ce_weight=1.0,
        focal_weight=20.0,
        dice_weight=1.0,
        ignore_mode="negative",  # official: ignored pixels count as negatives in focal/dice
    ),
    pixel_mean=[123.675, 116.28, 103.53],  # RGB, ImageNet
    pixel_std=[58.395, 57.12, 57.375],
    inference=L(InferenceConfig)(mode="slide", crop_size=(512, 512), stride=(341, 341)),
)
