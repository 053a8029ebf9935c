"""AdamW of the paper's recipe (docs/official_reference.md#segvit-training-recipe):
lr 2e-5, head lr x10, no decay on backbone norms, global gradient-norm clipping at 35.
``tools/train_net.py`` fills in ``params.model``."""

import torch
from detectron2.config import LazyCall as L

from segvit.solver import build_optimizer, build_param_groups

optimizer = L(build_optimizer)(
    params=L(build_param_groups)(
        base_lr="${..lr}",
        weight_decay="${..weight_decay}",
        head_lr_multiplier=10.0,
        backbone_norm_weight_decay=0.0,
    ),
    optimizer_cls=torch.optim.AdamW,
    clip_grad_norm=35.0,
    lr=2e-5,
    betas=(0.9, 0.999),
    weight_decay=0.01,  # ADE20K; COCO-Stuff-10K 0.02, PASCAL-Context 0.03
)
