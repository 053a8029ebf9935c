"""Mask2Former, Swin-T, ADE20K, 512x512 crops, 160k iterations (Mask2Former paper: 47.7 mIoU ss;
SegViT Table 6: 73.7 GFLOPs).

Mask2Former's published ADE20K semantic recipe (``Base-ADE20K-SemanticSegmentation.yaml`` and
``swin/maskformer2_swin_tiny_bs16_160k.yaml``): AdamW lr 1e-4, weight decay 0.05 (none on norms,
embeddings and Swin's position tables), backbone lr x0.1, no warm-up, poly power 0.9, gradient
clipping at a global norm of 0.01, batch 16 (the official runs use fp16 autocast:
``train.amp.enabled=True`` on a GPU). Data as in every config of this folder (see
``maskformer_swin_t_512x512_160k.py``).
"""

from ..common.data.ade20k import dataloader
from ..common.models.mask2former import model
from ..common.optim import optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

model.sem_seg_head.num_classes = 150

# BACKBONE_MULTIPLIER 0.1: base lr 1e-5 for the backbone, x10 = 1e-4 for everything else.
optimizer.lr = 1e-5
optimizer.params.head_lr_multiplier = 10.0
optimizer.weight_decay = 0.05
optimizer.clip_grad_norm = 0.01  # Detectron2 CLIP_TYPE "full_model", CLIP_VALUE 0.01
optimizer.params.head_norm_weight_decay = 0.0  # WEIGHT_DECAY_NORM 0 everywhere
optimizer.params.embedding_weight_decay = 0.0  # WEIGHT_DECAY_EMBED 0 (queries, level embeddings)
optimizer.params.zero_decay_keywords = ("relative_position_bias_table", "absolute_pos_embed")

lr_multiplier.power = 0.9
lr_multiplier.warmup_iters = 0
train.max_iter = 160000
