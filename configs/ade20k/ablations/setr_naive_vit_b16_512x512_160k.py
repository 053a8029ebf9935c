"""SETR-naive baseline, ViT-B/16, ADE20K, 512x512, 160k iterations (paper Table 4 / Table 8 row
"Single, SETR": 46.5 mIoU ss, 107.3 GFLOPs).

Per-pixel classification of the last block (1x1 conv 768 -> 256 + SyncBN + ReLU, 1x1 conv -> 150)
trained with cross-entropy; same backbone, data, optimizer (head lr x10) and schedule as SegViT.
"""

from detectron2.config import LazyCall as L

from segvit.modeling.heads.setr_head import SETRNaiveHead
from segvit.modeling.meta_arch.setr import PerPixelSegmentor

from ..segvit_vit_b16_512x512_160k import dataloader, lr_multiplier, model, optimizer, train

# SegViT ViT-B's backbone, normalisation and slide inference; SETR-naive head and CE loss.
model = L(PerPixelSegmentor)(
    backbone=model.backbone,
    head=L(SETRNaiveHead)(
        in_feature="block11",  # 0-indexed: the last of 12 blocks
        in_channels="${..backbone.embed_dim}",
        num_classes=150,
        channels=256,  # SETR's hidden width
        norm="SyncBN",  # plain BN on one process
    ),
    pixel_mean=model.pixel_mean,
    pixel_std=model.pixel_std,
    loss_weight=1.0,
    inference=model.inference,
)
model.backbone.out_indices = (11,)
