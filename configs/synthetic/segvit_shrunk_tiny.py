"""Shrunk SegViT on the synthetic dataset, with the demo's tiny ViT: a row of
``python -m benchmarks.compare`` beside ``segvit_tiny.py``.

The Shrunk structure of paper Fig. 3c (``configs/common/models/segvit_shrunk.py``) scaled to the
demo's 4-block ViT (dim 96, patch 8, conv stem): query-based down-sampling (QD, queries only) inside
0-indexed block 2, half-way as in the ViT-B ablation (block 6 of 12; ViT-L uses block 8 of 24), so
blocks 0-1 run on the 16x16 token grid of a 128 crop and blocks 2-3 on 8x8. QU reads the output of
block 1 (stride 8, before QD) and then of block 3 (stride 16) with a grid of 16x16 learnable queries
(the crop / 8, as the paper's crop / 16 with patch 16), then one ATM stage predicts the masks.
Decoder width and heads are the tiny SegViT head's (64, 4); each decoder (QU per input, ATM) has 2
layers, the depth of one stage of the tiny SegViT head (the paper's Shrunk uses 3, as SegViT).
Everything else (data, optimizer, schedule, iterations, loss with the demo's per-pixel CE) is
``segvit_tiny.py``'s.
"""

from detectron2.config import LazyCall as L

from segvit.data.synthetic import SYNTHETIC_CLASSES
from segvit.modeling.backbone.shrunk_vit import ShrunkViT
from segvit.modeling.heads.qu_head import QUATMHead

from .segvit_tiny import dataloader, lr_multiplier, model, optimizer, train

model.backbone._target_ = ShrunkViT
model.backbone.update(
    shrink_idx=2,  # QD inside 0-indexed block 2: blocks 2-3 run on 8x8 tokens at 128x128
    qd_mode="q",  # down-sample the queries only (paper Table 7's best)
    out_indices=(1, 3),  # block 1 (stride 8, before QD) and block 3 (stride 16)
)
model.head = L(QUATMHead)(
    in_features=["block1", "block3"],  # QU reads the finer map first, then the coarser one
    in_channels="${..backbone.embed_dim}",
    num_classes=len(SYNTHETIC_CLASSES),  # 8
    query_grid=(16, 16),  # 128 / 8: 256 learnable QU queries
    embed_dim=64,
    num_heads=4,
    qu_layers=2,
    atm_layers=2,  # every layer supervised
    feature_queries=False,  # official QU queries; True: not in the paper (docs/design.md)
    query_init_std=1.0,  # official N(0, 1) table; smaller: not in the paper (docs/design.md)
)
dataloader.train.mapper.num_classes = "${model.head.num_classes}"
train.output_dir = "output/segvit_shrunk_tiny"
