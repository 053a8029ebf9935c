"""ATM decode heads (SegViT paper, Sec. 3.2 and Fig. 2).

``ATMHead`` (official ``zbwxp/SegVit: decode_heads/atm_head.py:ATMHead``) is the cascaded head
for plain ViTs: one sequence of class queries runs through 3 stages of 3 ATM decoder layers, each
stage attending to a different backbone layer (deepest first). The mask logits of the stages are
summed cumulatively. ``ATMSingleStageHead`` (official ``decode_heads/atm_single_head.py:
ATMSingleHead``, registered under that name too) is one stage whose every layer is supervised and
whose masks are not summed: the "Naive Shrunk" decoder on one backbone feature (Fig. 3b, Table 8)
and the decoder after query-based up-sampling (Fig. 3c, inside ``QUATMHead``).

Both heads return one dict contract (see ``ATMHead.forward``) in training and evaluation; masks stay
at feature resolution: the meta-architecture and the criterion upsample them.
"""

from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from torch import Tensor, nn

from .atm_layers import ATMDecoderLayer
from .common import check_in_features, init_linear_and_layernorm, map_to_tokens

__all__ = ["ATMHead", "ATMSingleHead", "ATMSingleStageHead", "share_in_proj_init"]


def share_in_proj_init(layers: Sequence[nn.Module]) -> None:
    """Give every layer of ``layers`` the initial ``in_proj`` weights of the first one.

    Official init (``zbwxp/SegVit: decode_heads/atm_head.py:ATMHead``; ``docs/design.md``): each
    official decoder stage is an ``nn.TransformerDecoder``, which deep-copies one layer, and the
    heads' re-initialisation touches ``nn.Linear`` and ``nn.LayerNorm`` modules only. So the fused
    q/k/v ``in_proj_weight`` (and the zero ``in_proj_bias``) of every ``nn.MultiheadAttention``
    start equal in all layers of a stage (separate tensors with equal values; training moves them
    apart). Call after the other init; it draws no random numbers.

    Args:
        layers (sequence[nn.Module]): the layers of one stage / decoder, all of the same type.
    """
    if len(layers) < 2:
        return
    first = {
        name: param
        for name, param in layers[0].named_parameters()
        if name.rsplit(".", 1)[-1] in ("in_proj_weight", "in_proj_bias")
    }
    with torch.no_grad():
        for layer in layers[1:]:
            for name, param in layer.named_parameters():
                if name in first:
                    param.copy_(first[name])


def _input_projection(
    in_channels: int, embed_dim: int, use_proj: bool
) -> Tuple[nn.Module, nn.Module]:
    """Linear(C -> d) and LayerNorm(d) if ``use_proj``, else two Identities (needs C == d)."""
    if use_proj:
        return nn.Linear(in_channels, embed_dim), nn.LayerNorm(embed_dim)
    if in_channels != embed_dim:
        raise ValueError(
            f"use_proj=False needs in_channels == embed_dim, got {in_channels} and {embed_dim}; "
            "set use_proj=True or embed_dim to the feature channels."
        )
    return nn.Identity(), nn.Identity()


def _resize(mask: Tensor, size: Tuple[int, int]) -> Tensor:
    """Bilinear (align_corners=False) resize of (B, K, h, w) logits to ``size``; no-op if equal."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.interpolate(mask, size=size, mode="bilinear", align_corners=False)


@SEM_SEG_HEADS_REGISTRY.register()
class ATMHead(nn.Module):
    """Cascaded Attention-to-Mask head for plain ViTs (paper Sec. 3.2, "The SegViT structure").

    Stage i projects backbone feature ``in_features[i]`` to d channels and runs
    ``layers_per_stage`` ATM decoder layers on the class queries carried over from stage i-1. The
    last layer of each stage gives class logits (shared classifier) and a mask map; stage masks are
    summed cumulatively.
    """

    @configurable
    def __init__(
        self,
        *,
        in_features: List[str],
        in_channels: int,
        num_classes: int,
        embed_dim: int = 384,
        num_heads: int = 12,
        layers_per_stage: int = 3,
        ffn_ratio: int = 4,
        dropout: float = 0.1,
        use_proj: bool = True,
        shared_in_proj_init: bool = True,
    ):
        """
        Args:
            in_features (list[str]): backbone feature names in stage order. The official head uses
                the deepest tapped layer first, e.g. ``["block11", "block7", "block5"]`` for ViT-B.
            in_channels (int): channels C of every input feature (768 for ViT-B, 1024 for ViT-L).
            num_classes (int): number of classes K = number of class queries.
            embed_dim (int): decoder width d (C / 2 officially: 384 ViT-B, 512 ViT-L).
            num_heads (int): attention heads (12 ViT-B, 16 ViT-L; head dim 32).
            layers_per_stage (int): ATM decoder layers per stage.
            ffn_ratio (int): FFN hidden width = ``ffn_ratio * embed_dim``.
            dropout (float): dropout of the decoder layers.
            use_proj (bool): per-stage Linear(C -> d) + LayerNorm(d); Identity when False (C == d).
            shared_in_proj_init (bool): the layers of a stage start with equal self-attention
                ``in_proj`` weights, as the official ``nn.TransformerDecoder`` copies
                (:func:`share_in_proj_init`); False draws each layer's independently.
        """
        super().__init__()
        if len(in_features) == 0:
            raise ValueError("ATMHead needs at least one entry in in_features.")
        if layers_per_stage < 1:
            raise ValueError(f"layers_per_stage must be >= 1, got {layers_per_stage}.")
        self.in_features = list(in_features)
        self.num_classes = num_classes

        projections = [_input_projection(in_channels, embed_dim, use_proj) for _ in in_features]
        self.input_proj = nn.ModuleList(p for p, _ in projections)
        self.proj_norm = nn.ModuleList(n for _, n in projections)
        self.decoders = nn.ModuleList(
            nn.ModuleList(
                ATMDecoderLayer(embed_dim, num_heads, ffn_ratio=ffn_ratio, dropout=dropout)
                for _ in range(layers_per_stage)
            )
            for _ in in_features
        )
        self.query_embed = nn.Embedding(num_classes, embed_dim)  # one query per class
        self.class_embed = nn.Linear(embed_dim, num_classes + 1)  # last column: no-object
        init_linear_and_layernorm(self)
        if shared_in_proj_init:
            for layers in self.decoders:
                share_in_proj_init(layers)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        atm = cfg.MODEL.SEGVIT.ATM
        in_features = list(atm.IN_FEATURES)
        return {
            "in_features": in_features,
            "in_channels": check_in_features(
                input_shape, in_features, "MODEL.SEGVIT.ATM.IN_FEATURES"
            ),
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "embed_dim": atm.EMBED_DIM,
            "num_heads": atm.NUM_HEADS,
            "layers_per_stage": atm.LAYERS_PER_STAGE,
            "ffn_ratio": atm.FFN_RATIO,
            "dropout": atm.DROPOUT,
            "shared_in_proj_init": atm.SHARED_IN_PROJ_INIT,
        }

    def forward(self, features: Dict[str, Tensor]) -> Dict:
        """
        Args:
            features (dict[str, Tensor]): backbone outputs; ``features[in_features[i]]`` is a
                (B, C, h_i, w_i) map (grids may differ and need not be square).

        Returns:
            dict with
                "pred_logits": (B, K, K+1) class logits of the last stage (last column: no-object);
                "pred_masks": (B, K, h, w) mask logits S_1 + ... + S_n at the last stage's grid
                    (h, w) (1/16 of the image for a plain ViT);
                "aux_outputs": list of n-1 dicts {"pred_logits", "pred_masks"} for stages 1..n-1,
                    with the cumulative masks S_1 + ... + S_i resized to (h, w), in stage order.
        """
        batch = features[self.in_features[0]].shape[0]
        query = self.query_embed.weight.unsqueeze(0).repeat(batch, 1, 1)  # (B, K, d)

        stage_logits, stage_masks = [], []
        for name, proj, norm, layers in zip(
            self.in_features, self.input_proj, self.proj_norm, self.decoders
        ):
            tokens, (h, w) = map_to_tokens(features[name])  # (B, h*w, C)
            memory = norm(proj(tokens))  # (B, h*w, d)
            for layer in layers:
                query, mask = layer(query, memory)  # only the last layer's mask is used
            stage_logits.append(self.class_embed(query))  # (B, K, K+1)
            stage_masks.append(mask.reshape(batch, self.num_classes, h, w))  # (B, K, h, w)

        size = tuple(stage_masks[-1].shape[-2:])
        outputs, cumulative = [], None
        for logits, mask in zip(stage_logits, stage_masks):
            mask = _resize(mask, size)
            cumulative = mask if cumulative is None else cumulative + mask
            outputs.append({"pred_logits": logits, "pred_masks": cumulative})
        return {**outputs[-1], "aux_outputs": outputs[:-1]}


@SEM_SEG_HEADS_REGISTRY.register()
class ATMSingleStageHead(nn.Module):
    """One stage of ATM decoder layers, every layer supervised, masks not summed.

    Official ``zbwxp/SegVit: decode_heads/atm_single_head.py:ATMSingleHead`` (also registered under
    that name, so yacs ``MODEL.SEM_SEG_HEAD.NAME: ATMSingleHead`` builds this class). Two uses:

    - the "Naive Shrunk" decoder (paper Fig. 3b, Table 8): ``in_feature`` names the 1/32 output of
      a :class:`~segvit.modeling.backbone.shrunk_vit.ShrunkViT`, read through Linear(C -> d) +
      LayerNorm;
    - the decoder after query-based up-sampling (Fig. 3c): :class:`~.qu_head.QUATMHead` calls it
      on the QU output map with ``use_proj=False`` and no ``in_feature``.
    """

    @configurable
    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        in_feature: Optional[str] = None,
        embed_dim: int = 384,
        num_heads: int = 12,
        num_layers: int = 3,
        ffn_ratio: int = 4,
        dropout: float = 0.1,
        use_proj: bool = True,
        shared_in_proj_init: bool = True,
    ):
        """
        Args:
            in_channels (int): channels C of the input map.
            num_classes (int): number of classes K = number of class queries.
            in_feature (str or None): backbone feature read when ``forward`` gets the backbone
                outputs, e.g. ``"block11"``; None when the head is called on a map.
            embed_dim (int): decoder width d.
            num_heads (int): attention heads.
            num_layers (int): ATM decoder layers; each one yields an output (the last: final).
            ffn_ratio (int): FFN hidden width = ``ffn_ratio * embed_dim``.
            dropout (float): dropout of the decoder layers.
            use_proj (bool): Linear(C -> d) + LayerNorm(d) on the input; Identity if False (C == d).
            shared_in_proj_init (bool): all layers start with equal self-attention ``in_proj``
                weights (official; :func:`share_in_proj_init`).
        """
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}.")
        self.in_feature = in_feature
        self.num_classes = num_classes
        self.input_proj, self.proj_norm = _input_projection(in_channels, embed_dim, use_proj)
        self.layers = nn.ModuleList(
            ATMDecoderLayer(embed_dim, num_heads, ffn_ratio=ffn_ratio, dropout=dropout)
            for _ in range(num_layers)
        )
        self.query_embed = nn.Embedding(num_classes, embed_dim)
        self.class_embed = nn.Linear(embed_dim, num_classes + 1)
        init_linear_and_layernorm(self)
        if shared_in_proj_init:
            share_in_proj_init(self.layers)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        atm = cfg.MODEL.SEGVIT.ATM
        in_feature = atm.IN_FEATURES[0]
        return {
            "in_feature": in_feature,
            "in_channels": check_in_features(
                input_shape, [in_feature], "MODEL.SEGVIT.ATM.IN_FEATURES[0]"
            ),
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "embed_dim": atm.EMBED_DIM,
            "num_heads": atm.NUM_HEADS,
            "num_layers": atm.LAYERS_PER_STAGE,
            "ffn_ratio": atm.FFN_RATIO,
            "dropout": atm.DROPOUT,
            "shared_in_proj_init": atm.SHARED_IN_PROJ_INIT,
        }

    def forward(self, features: Union[Tensor, Dict[str, Tensor]]) -> Dict:
        """
        Args:
            features (Tensor or dict[str, Tensor]): a (B, C, h, w) map, or the backbone outputs,
                of which ``features[in_feature]`` (B, C, h, w) is read.

        Returns:
            dict with "pred_logits" (B, K, K+1) and "pred_masks" (B, K, h, w) of the last layer, and
            "aux_outputs": a list with the same two keys for layers 1..L-1 (each layer's own mask).
        """
        if isinstance(features, dict):
            if self.in_feature is None:
                raise ValueError(
                    "ATMSingleStageHead(in_feature=None) takes a (B, C, h, w) map, not the "
                    "backbone outputs; set in_feature to the backbone feature to read."
                )
            features = features[self.in_feature]
        batch = features.shape[0]
        tokens, (h, w) = map_to_tokens(features)  # (B, h*w, C)
        memory = self.proj_norm(self.input_proj(tokens))  # (B, h*w, d)
        query = self.query_embed.weight.unsqueeze(0).repeat(batch, 1, 1)  # (B, K, d)
        outputs = []
        for layer in self.layers:
            query, mask = layer(query, memory)
            outputs.append(
                {
                    "pred_logits": self.class_embed(query),  # (B, K, K+1)
                    "pred_masks": mask.reshape(batch, self.num_classes, h, w),  # (B, K, h, w)
                }
            )
        return {**outputs[-1], "aux_outputs": outputs[:-1]}


# The official name, for yacs (MODEL.SEM_SEG_HEAD.NAME: ATMSingleHead) and Python imports. fvcore's
# Registry registers under ``__name__`` only; ``_do_register`` adds a second name for one class.
SEM_SEG_HEADS_REGISTRY._do_register("ATMSingleHead", ATMSingleStageHead)
ATMSingleHead = ATMSingleStageHead
