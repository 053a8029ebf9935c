"""Parameter groups of the paper's recipe: head lr x10, no decay on ViT norms
(docs/official_reference.md#segvit-training-recipe).

The official mmseg config matches parameter names against ``head`` (lr x10) before ``norm``
(weight decay 0), so the head's LayerNorms keep weight decay while the backbone's do not; we
reproduce that by default (``head_norm_weight_decay=None`` keeps the base decay).

MaskFormer and Mask2Former (Detectron2 recipes) instead take weight decay off every norm, every
``nn.Embedding`` (their learnable queries) and Swin's position tables; ``head_norm_weight_decay``,
``embedding_weight_decay`` and ``zero_decay_keywords`` express that.
"""

from typing import Any, Dict, List, Optional

from torch import nn

_NORM_TYPES = (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm2d, nn.SyncBatchNorm)


def build_param_groups(
    model: nn.Module,
    *,
    base_lr: float,
    weight_decay: float,
    head_prefixes: tuple = ("head.", "sem_seg_head."),
    head_lr_multiplier: float = 10.0,
    backbone_norm_weight_decay: float = 0.0,
    head_norm_weight_decay: Optional[float] = None,
    embedding_weight_decay: Optional[float] = None,
    zero_decay_keywords: tuple = (),
) -> List[Dict[str, Any]]:
    """One optimizer param group per trainable parameter, with its lr and weight decay.

    Args:
        model: the full model; parameter names are matched from its root.
        base_lr: learning rate of the backbone.
        weight_decay: default weight decay.
        head_prefixes: parameters whose name starts with one of these get ``head_lr_multiplier``.
        head_lr_multiplier: lr factor of the decode head (10 in the paper's recipe).
        backbone_norm_weight_decay: weight decay of normalisation layers outside the head.
        head_norm_weight_decay: weight decay of normalisation layers in the head
            (None: the default ``weight_decay``, as in the official config).
        embedding_weight_decay: weight decay of ``nn.Embedding`` weights (None: the default).
        zero_decay_keywords: parameters whose name contains one of these get no weight decay
            (e.g. Swin's ``relative_position_bias_table``).
    """
    norm_param_ids = {
        id(p) for m in model.modules() if isinstance(m, _NORM_TYPES) for p in m.parameters(False)
    }
    embedding_param_ids = {
        id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters(False)
    }
    groups = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        in_head = name.startswith(head_prefixes)
        decay = weight_decay
        if id(param) in norm_param_ids:
            if not in_head:
                decay = backbone_norm_weight_decay
            elif head_norm_weight_decay is not None:
                decay = head_norm_weight_decay
        elif id(param) in embedding_param_ids and embedding_weight_decay is not None:
            decay = embedding_weight_decay
        if any(keyword in name for keyword in zero_decay_keywords):
            decay = 0.0
        lr = base_lr * (head_lr_multiplier if in_head else 1.0)
        groups.append({"params": [param], "lr": lr, "weight_decay": decay, "name": name})
    return groups
