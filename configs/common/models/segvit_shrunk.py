"""Shrunk SegViT with ViT-L/16: query-based down-sampling (QD) in the backbone, query-based
up-sampling (QU) + a single ATM stage as the head (paper Sec. 3.2, Fig. 3c; official
``zbwxp/SegVit: configs/segvit/shrink/segvit_vit-l_jax_shrink8_tpnatm.py``).

Defaults: ADE20K at 640x640 as ``segvit_vit_l.py``; dataset files set ``head.query_grid`` to their
crop / 16 and the slide window.
"""

from detectron2.config import LazyCall as L

from segvit.modeling.backbone.shrunk_vit import ShrunkViT
from segvit.modeling.heads.qu_head import QUATMHead

from .segvit_vit_l import model

# Same ViT-L arguments and weights; blocks 8..23 run on 1/32 tokens (400 instead of 1600 @640).
model.backbone._target_ = ShrunkViT
model.backbone.update(
    shrink_idx=8,  # QD inside 0-indexed block 8 (the 9th, about 1/3 of the depth)
    qd_mode="q",  # down-sample queries only (Table 7's best)
    out_indices=(7, 23),  # 1/16 output of block 8 (before QD) and 1/32 output of block 24
)
model.head = L(QUATMHead)(
    in_features=["block7", "block23"],  # QU reads 1/16 first, then 1/32 (not reversed)
    in_channels="${..backbone.embed_dim}",
    num_classes=150,
    query_grid=(40, 40),  # 640 / 16: 1,600 learnable QU queries
    embed_dim=512,  # C / 2
    num_heads=16,  # head_dim 32
    qu_layers=3,  # per QU decoder
    atm_layers=3,  # every layer supervised
    shared_in_proj_init=True,  # official: nn.TransformerDecoder's copies start equal
)
