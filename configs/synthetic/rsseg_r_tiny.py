"""RSSeg-R (a reconstruction of RSSeg; docs/rsseg.md) on the demo's tiny ViT, synthetic data.

Same backbone (4 blocks, width 96, patch 8, conv stem, from scratch), data, budget (2,000
iterations x 8 crops of 128x128), optimizer and schedule as ``segvit_tiny.py``. Taps: blocks 0, 1,
2 feed the LSBs, block 3 (the last) SASM; the pathway runs at 2x the token grid (stride 4 here, as
stride 8 on a patch-16 ViT). Head width 64 (the tiny SegViT head's), DCA 2 layers x 4 heads,
BN (one process); everything else (losses included) is ``configs/common/models/rsseg_r.py``.
"""

from ..common.models.rsseg_r import model
from .segvit_tiny import dataloader, lr_multiplier
from .segvit_tiny import model as segvit_model
from .segvit_tiny import optimizer, train

model.backbone = segvit_model.backbone
model.backbone.out_indices = (0, 1, 2, 3)  # LSB taps, then the SASM tap
model.head.update(
    local_features=["block0", "block1", "block2"],  # shallowest first
    global_feature="block3",
    num_classes=segvit_model.head.num_classes,
    channels=64,
    norm="BN",
    dca_heads=4,
)
model.pixel_mean = segvit_model.pixel_mean
model.pixel_std = segvit_model.pixel_std
model.inference = segvit_model.inference
del segvit_model  # only its backbone, classes, normalisation and inference were needed
train.output_dir = "output/rsseg_r_tiny"
