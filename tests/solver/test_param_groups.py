"""Parameter groups: lr multiplier of the head and the weight-decay rules of each recipe."""

import torch
from torch import nn

from segvit.solver import build_param_groups


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
        self.backbone.relative_position_bias_table = nn.Parameter(torch.zeros(2))
        self.sem_seg_head = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
        self.sem_seg_head.query_embed = nn.Embedding(3, 4)


def _by_name(groups):
    return {g["name"]: (g["lr"], g["weight_decay"]) for g in groups}


def test_segvit_recipe_defaults():
    groups = _by_name(build_param_groups(_Model(), base_lr=1.0, weight_decay=0.5))
    assert groups["backbone.0.weight"] == (1.0, 0.5)
    assert groups["backbone.1.weight"] == (1.0, 0.0)  # backbone norm: no decay
    assert groups["sem_seg_head.1.weight"] == (10.0, 0.5)  # head norm keeps decay (mmseg quirk)
    assert groups["sem_seg_head.query_embed.weight"] == (10.0, 0.5)
    assert groups["backbone.relative_position_bias_table"] == (1.0, 0.5)


def test_maskformer_recipe_rules():
    groups = _by_name(
        build_param_groups(
            _Model(),
            base_lr=1.0,
            weight_decay=0.5,
            head_lr_multiplier=1.0,
            head_norm_weight_decay=0.0,
            embedding_weight_decay=0.0,
            zero_decay_keywords=("relative_position_bias_table",),
        )
    )
    assert groups["sem_seg_head.0.weight"] == (1.0, 0.5)
    assert groups["sem_seg_head.1.weight"] == (1.0, 0.0)
    assert groups["sem_seg_head.query_embed.weight"] == (1.0, 0.0)
    assert groups["backbone.relative_position_bias_table"] == (1.0, 0.0)
