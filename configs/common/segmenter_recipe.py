"""Segmenter's optimisation recipe, which DEPICT keeps
(docs/official_reference.md#segmenter-and-depict-recipe): SGD momentum 0.9,
no weight decay, the same lr for backbone and decoder, no gradient clipping; poly schedule per
iteration, power 0.9, down to min_lr 1e-5 (a factor 0.01 of lr 1e-3), no warm-up. ``lr``: 1e-3
for ADE20K and PASCAL-Context."""

import torch
from detectron2.config import LazyCall as L

from segvit.solver import build_optimizer, build_param_groups, poly_with_warmup

optimizer = L(build_optimizer)(
    params=L(build_param_groups)(
        base_lr="${..lr}",
        weight_decay="${..weight_decay}",
        head_lr_multiplier=1.0,
        backbone_norm_weight_decay=0.0,
        zero_decay_keywords=("cls_emb", "cls_token", "pos_embed"),  # official no_weight_decay
    ),
    optimizer_cls=torch.optim.SGD,
    clip_grad_norm=None,
    lr=1e-3,
    momentum=0.9,
    weight_decay=0.0,
)
lr_multiplier = L(poly_with_warmup)(
    max_iter="${train.max_iter}", warmup_iters=0, power=0.9, min_factor=0.01
)
