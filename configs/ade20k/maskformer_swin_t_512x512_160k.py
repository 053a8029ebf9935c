"""MaskFormer, Swin-T, ADE20K, 512x512 crops, 160k iterations (MaskFormer paper: 46.7 mIoU ss;
SegViT Table 6: 57.3 GFLOPs).

MaskFormer's published Swin recipe (its ``configs/ade20k-150/swin`` files, as ported by mmseg):
AdamW lr 6e-5, weight decay 0.01 (none on norms, embeddings and Swin's position tables), backbone
lr x1, linear warm-up 1,500 iterations from 1e-6, poly power 0.9, gradient clipping at a global
norm of 0.01, batch 16. Pretrained weights: ``swin_tiny_patch4_window7_224`` converted for
Detectron2's Swin (docs/baselines.md), passed as ``train.init_checkpoint``.

Data: the same pipeline as every SegViT config (short side 512 x [0.5, 2.0], 512 crops with
cat_max_ratio 0.75, photometric distortion, flip; test at short side 512), so the comparison
isolates the decoder; MaskFormer's own mapper differs only in not re-drawing crops dominated by one
class (SINGLE_CATEGORY_MAX_AREA 1.0).
"""

from ..common.data.ade20k import dataloader
from ..common.models.maskformer import model
from ..common.optim import optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

model.sem_seg_head.num_classes = 150

optimizer.lr = 6e-5
optimizer.weight_decay = 0.01
optimizer.clip_grad_norm = 0.01  # Detectron2 CLIP_TYPE "full_model", CLIP_VALUE 0.01
optimizer.params.head_lr_multiplier = 1.0  # BACKBONE_MULTIPLIER 1.0
optimizer.params.head_norm_weight_decay = 0.0  # WEIGHT_DECAY_NORM 0 everywhere
optimizer.params.embedding_weight_decay = 0.0  # WEIGHT_DECAY_EMBED 0 (the queries)
optimizer.params.zero_decay_keywords = ("relative_position_bias_table", "absolute_pos_embed")

lr_multiplier.power = 0.9
lr_multiplier.warmup_iters = 1500
train.max_iter = 160000
