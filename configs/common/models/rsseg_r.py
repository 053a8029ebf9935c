"""RSSeg-R (a reconstruction of RSSeg, Hong et al., arXiv 2212.13764) on a ViT-B/16 backbone.

The backbone is SegViT's ViT-B/16 (``segvit.py``) with the taps RSSeg-R reads: blocks 2, 5, 8 feed
the three LSBs of the local pathway, block 11 (the last) SASM. Head width 256, pathway at stride 8,
DCA with 2 layers and 8 heads; losses: pixel CE + 0.4 assignment + 0.4 region classification.
Every choice not stated by RSSeg's abstract and figure captions is ours (docs/rsseg.md); the
alternative readings are the head's flags (``stem``, ``pathway_scale``, ``sasm_mode``,
``sasm_mean``, ``dca_norm``, ``dca_at_inference``, ``aux_fcn``). Meta-architecture: the
per-pixel one (logits upsampled bilinearly, softmax scores) with the auxiliary losses.
Defaults: ADE20K (150 classes), 512x512 crops, ImageNet mean/std, slide 512 / 341.
"""

from detectron2.config import LazyCall as L

from segvit.modeling.backbone.vit import ViT
from segvit.modeling.heads.rsseg_r_head import RSSegRHead
from segvit.modeling.losses.rsseg_r_losses import RSSegRCriterion
from segvit.modeling.meta_arch.inference import InferenceConfig
from segvit.modeling.meta_arch.rsseg_r import RSSegR

model = L(RSSegR)(
    backbone=L(ViT)(
        pretrain_img_size=384,
        patch_size=16,
        embed_dim=768,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        drop_path_rate=0.1,
        drop_path_on_attn=False,
        out_indices=(2, 5, 8, 11),  # LSB taps, then the SASM tap
    ),
    head=L(RSSegRHead)(
        local_features=["block2", "block5", "block8"],  # shallowest first
        global_feature="block11",
        in_channels="${..backbone.embed_dim}",
        num_classes=150,
        channels=256,
        norm="SyncBN",
        pathway_scale=2,  # stride 8
        feature_stride="${..backbone.patch_size}",
        stem="none",
        sasm_mode="highpass",
        sasm_mean="global",
        dca_layers=2,
        dca_heads=8,
        dca_norm="pixels",
        dca_at_inference=True,
        aux_fcn=False,
    ),
    criterion=L(RSSegRCriterion)(
        num_classes="${..head.num_classes}",
        main_weight=1.0,
        assign_weight=0.4,
        region_weight=0.4,
        aux_weight=0.4,
        region_min_pixels=4,
        assign_stride=4,
    ),
    pixel_mean=[123.675, 116.28, 103.53],  # RGB, ImageNet (SegViT's ViT-B weights)
    pixel_std=[58.395, 57.12, 57.375],
    inference=L(InferenceConfig)(mode="slide", crop_size=(512, 512), stride=(341, 341)),
)
