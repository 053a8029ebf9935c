"""SETR-naive on the synthetic dataset, with the demo's tiny ViT: the per-pixel baseline row of
``python -m benchmarks.compare`` (paper Tables 4 and 8: "Single, SETR").

The head of ``configs/ade20k/ablations/setr_naive_vit_b16_512x512_160k.py`` on the last block of the
demo's 4-block ViT (dim 96, patch 8, conv stem): LayerNorm, 1x1 conv 96 -> 64 + BN + ReLU, 1x1 conv
-> 8 classes at stride 8, upsampled bilinearly, trained with the pixel cross-entropy (SETR's loss).
The hidden width is the tiny SegViT head's (64; SETR uses 256 on ViT-B's 768). Backbone, data,
optimizer, schedule and iterations are ``segvit_tiny.py``'s.
"""

from detectron2.config import LazyCall as L

from segvit.data.synthetic import SYNTHETIC_CLASSES
from segvit.modeling.heads.setr_head import SETRNaiveHead
from segvit.modeling.meta_arch.setr import PerPixelSegmentor

from .segvit_tiny import dataloader, lr_multiplier
from .segvit_tiny import model as segvit_tiny
from .segvit_tiny import optimizer, train

model = L(PerPixelSegmentor)(
    backbone=segvit_tiny.backbone,
    head=L(SETRNaiveHead)(
        in_feature="block3",  # 0-indexed: the last of 4 blocks
        in_channels="${..backbone.embed_dim}",
        num_classes=len(SYNTHETIC_CLASSES),  # 8
        channels=64,
        norm="BN",  # SETR's SyncBN on one process
    ),
    pixel_mean=segvit_tiny.pixel_mean,
    pixel_std=segvit_tiny.pixel_std,
    loss_weight=1.0,
    inference=segvit_tiny.inference,
)
model.backbone.out_indices = (3,)
dataloader.train.mapper.num_classes = "${model.head.num_classes}"
train.output_dir = "output/setr_tiny"
del segvit_tiny  # only its backbone, normalisation and inference setting were needed
