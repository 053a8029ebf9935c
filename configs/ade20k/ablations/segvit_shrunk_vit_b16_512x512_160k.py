"""Shrunk SegViT, ViT-B/16, ADE20K, 512x512, 160k (paper Fig. 3c, Table 8 row "Shrunk": 50.0 mIoU
ss, 97.1 GFLOPs): QD in block 6, QU over blocks 6 (1/16) and 12 (1/32), one ATM stage (dev-repo
config ``segvit_vit-b_jx_shrink6_tpnatm``)."""

from detectron2.config import LazyCall as L

from segvit.modeling.heads.qu_head import QUATMHead

from .segvit_naive_shrunk_vit_b16_512x512_160k import (
    dataloader,
    lr_multiplier,
    model,
    optimizer,
    train,
)

model.backbone.out_indices = (5, 11)  # block 6 before QD (1/16) and block 12 (1/32)
model.head = L(QUATMHead)(
    in_features=["block5", "block11"],  # QU reads 1/16 first, then 1/32 (not reversed)
    in_channels="${..backbone.embed_dim}",
    num_classes=150,
    query_grid=(32, 32),  # 512 / 16: 1,024 learnable QU queries
    embed_dim=384,  # C / 2
    num_heads=12,  # head_dim 32
    qu_layers=3,
    atm_layers=3,
)
