"""What every decode head here shares: the weight-init rule, the backbone-feature check, and the
(B, C, h, w) map <-> (B, h*w, C) token reshape (re-exported from ``backbone/utils.py``).

Small on purpose, like segment-anything's ``modeling/common.py``: a helper lands here once two
heads need it, and a head file imports its neighbours only for the concept they implement.
"""

from typing import Dict, Sequence

from detectron2.layers import ShapeSpec
from torch import nn

from ..backbone.utils import map_to_tokens, tokens_to_map

__all__ = ["check_in_features", "init_linear_and_layernorm", "map_to_tokens", "tokens_to_map"]


def init_linear_and_layernorm(module: nn.Module) -> None:
    """The timm / mmseg head init, applied to every submodule of ``module``.

    Every ``nn.Linear`` (``nn.MultiheadAttention.out_proj`` included) gets trunc-normal(std 0.02)
    weights and zero bias; every ``nn.LayerNorm`` gets (1, 0). Everything else keeps PyTorch's
    init: ``nn.Embedding`` class queries N(0, 1) and the xavier-uniform ``in_proj_weight`` of
    ``nn.MultiheadAttention`` (a Parameter, not a Linear). The rule of the official heads:
    ``zbwxp/SegVit: decode_heads/atm_head.py:ATMHead.init_weights`` and
    ``rstrudel/segmenter: segm/model/utils.py:init_weights`` (used by ``MaskTransformer``).
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def check_in_features(input_shape: Dict[str, ShapeSpec], names: Sequence[str], key: str) -> int:
    """Check that the features a head reads are backbone outputs with one channel count.

    Used by every head's ``from_config`` so that a misconfigured yacs key fails at build time,
    naming the key, instead of as a ``KeyError`` in the first forward.

    Args:
        input_shape (dict[str, ShapeSpec]): the backbone's ``output_shape()``.
        names (sequence[str]): the feature names the head reads (at least one).
        key (str): the config key they come from, for the message (e.g.
            ``"MODEL.SEGVIT.ATM.IN_FEATURES"``).

    Returns:
        int: the channels C shared by those features.
    """
    names = list(names)
    if not names:
        raise ValueError(
            f"{key} is empty; name at least one backbone output {sorted(input_shape)}."
        )
    missing = [f for f in names if f not in input_shape]
    if missing:
        raise ValueError(
            f"{key} {missing} are not backbone outputs {sorted(input_shape)}; "
            "check MODEL.SEGVIT.VIT.OUT_INDICES."
        )
    channels = {input_shape[f].channels for f in names}
    if len(channels) != 1:
        raise ValueError(
            f"{key} {names} have different channels {sorted(channels)}; "
            "a head reads features of one width."
        )
    return channels.pop()
