"""RSSeg-R (a reconstruction of RSSeg; docs/rsseg.md) on the demo's tiny ViT, synthetic data.

Same backbone (4 blocks, width 96, patch 8, conv stem, from scratch), data, budget (2,000
iterations x 8 crops of 128x128), optimizer and schedule as ``segvit_tiny.py``. Taps: blocks 0, 1,
2 feed the LSBs, block 3 (the last) SASM; the pathway runs at 2x the token grid (stride 4 here, as
stride 8 on a patch-16 ViT). Head width 64 (the tiny SegViT head's), DCA 2 layers x 4 heads,
BN (one process); losses as the full configs.
"""

from detectron2.config import LazyCall as L

from segvit.modeling.heads.rsseg_r_head import RSSegRHead
from segvit.modeling.losses.rsseg_r_losses import RSSegRCriterion
from segvit.modeling.meta_arch.rsseg_r import RSSegR

from .segvit_tiny import dataloader, lr_multiplier
from .segvit_tiny import model as segvit_model
from .segvit_tiny import optimizer, train

model = L(RSSegR)(
    backbone=segvit_model.backbone,
    head=L(RSSegRHead)(
        local_features=["block0", "block1", "block2"],
        global_feature="block3",
        in_channels="${..backbone.embed_dim}",
        num_classes=segvit_model.head.num_classes,
        channels=64,
        norm="BN",
        pathway_scale=2,
        feature_stride="${..backbone.patch_size}",
        stem="none",
        sasm_mode="highpass",
        sasm_mean="global",
        dca_layers=2,
        dca_heads=4,
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
    pixel_mean=segvit_model.pixel_mean,
    pixel_std=segvit_model.pixel_std,
    inference=segvit_model.inference,
)
del segvit_model
model.backbone.out_indices = (0, 1, 2, 3)
train.output_dir = "output/rsseg_r_tiny"
