"""Segmenter's mask transformer on the demo's tiny ViT (``segvit_tiny.py``), synthetic data.

Same backbone (4 blocks, width 96, patch 8, conv stem, from scratch), data, budget (2,000
iterations x 8 crops of 128x128), optimizer (AdamW 5e-4, from scratch) and schedule as the demo, so
the three class-embedding decoders compare like for like; only the decoder, the loss (Segmenter's
per-pixel cross-entropy) and the backbone tap differ. The backbone tap is Segmenter's: the last
block only, class token through the blocks, final LayerNorm, bilinear pos-embed resize. Decoder:
2 layers, width 96, 4 heads (= the backbone's heads, which is what Segmenter's d // 64 rule gives
for every official ViT), MLP 4x, dropout 0.1. Segmenter's own SGD lr 1e-3 recipe is for fine-tuning
a pretrained ViT and is not used here (docs/design.md).
"""

from detectron2.config import LazyCall as L

from segvit.modeling.heads.segmenter_head import SegmenterMaskHead
from segvit.modeling.meta_arch.setr import PerPixelSegmentor

from .segvit_tiny import dataloader, lr_multiplier
from .segvit_tiny import model as segvit_model
from .segvit_tiny import optimizer, train

model = L(PerPixelSegmentor)(
    backbone=segvit_model.backbone,
    head=L(SegmenterMaskHead)(
        in_feature="block3",
        in_channels="${..backbone.embed_dim}",
        num_classes=segvit_model.head.num_classes,
        d_model="${..backbone.embed_dim}",
        num_layers=2,
        num_heads=4,
        mlp_ratio=4.0,
        dropout=0.1,
        drop_path_rate=0.0,
    ),
    pixel_mean=segvit_model.pixel_mean,
    pixel_std=segvit_model.pixel_std,
    loss_weight=1.0,
    inference=segvit_model.inference,
)
del segvit_model
model.backbone.update(
    out_indices=(3,),
    cls_token=True,
    final_norm=True,
    pos_embed_interp="bilinear",
    norm_eps=1e-5,
    drop_path_on_attn=True,  # Segmenter's blocks (no effect at drop_path_rate 0)
)
optimizer.params.zero_decay_keywords = ("cls_emb", "cls_token")  # official no_weight_decay
train.output_dir = "output/segmenter_tiny"
