"""Heads of the Shrunk structure (SegViT Sec. 3.2, Fig. 3 b and c).

``QUATMHead`` (official ``zbwxp/SegVit: decode_heads/tpn_atm_head.py:TPNATMHead``): query-based
up-sampling (QU) turns the 1/16 shallow feature (before QD) and the 1/32 deep feature into a 1/16
map, then one :class:`~.atm_head.ATMSingleStageHead` (every layer supervised, masks not summed)
predicts the masks. The same single stage reading one backbone feature directly is the "Naive
Shrunk" decoder of Fig. 3b / Table 8 (``atm_head.py``).

Returns the ATM head contract (see ``atm_head.ATMHead.forward``).
"""

from typing import Dict, List, Tuple

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from torch import Tensor, nn

from ..backbone.utils import resize_pos_embed
from .atm_head import ATMSingleHead  # noqa: F401 (the official name's old import path)
from .atm_head import ATMSingleStageHead, share_in_proj_init
from .common import check_in_features, init_linear_and_layernorm, map_to_tokens, tokens_to_map
from .sdpa_decoder import decoder_layer_forward

__all__ = ["QUATMHead"]


@SEM_SEG_HEADS_REGISTRY.register()
class QUATMHead(nn.Module):
    """Query-based up-sampling + single-stage ATM decoder (paper Fig. 3c, official ``TPNATMHead``).

    A grid of learnable queries at 1/16 of the image runs through one QU decoder per input feature
    (``qu_layers`` standard post-norm ``nn.TransformerDecoderLayer``s: self-attention over the
    queries, cross-attention to the projected feature, ReLU FFN), the query state carried from one
    decoder to the next: first the shallow 1/16 feature, then the deep 1/32 one (not reversed). The
    queries, reshaped to a (B, d, h16, w16) map, are the only input of an
    :class:`ATMSingleStageHead` without input projection.

    Other input sizes: the query table is stored for ``query_grid`` (the training crop / 16) and
    resized (bicubic, ``align_corners=False``, like the ViT position embedding) to the grid of the
    first input feature when that differs, e.g. whole-image inference on a 512x683 image gives
    32x43 queries. The official head supports only the training crop (slide windows).
    """

    @configurable
    def __init__(
        self,
        *,
        in_features: List[str],
        in_channels: int,
        num_classes: int,
        query_grid: Tuple[int, int],
        embed_dim: int = 512,
        num_heads: int = 16,
        qu_layers: int = 3,
        atm_layers: int = 3,
        ffn_ratio: int = 4,
        dropout: float = 0.1,
        query_resize_mode: str = "bicubic",
        shared_in_proj_init: bool = True,
        feature_queries: bool = False,
        query_init_std: float = 1.0,
    ):
        """
        Args:
            in_features (list[str]): backbone features, one QU decoder each, in order: the 1/16
                feature from before QD first (its grid is the output grid), then the 1/32 one,
                e.g. ``["block7", "block23"]`` for ViT-L with ``shrink_idx=8``.
            in_channels (int): channels C of the input features.
            num_classes (int): number of classes K = number of class queries.
            query_grid (tuple[int, int]): (Gh, Gw) grid of the learnable QU queries = training
                crop / 16: (40, 40) at 640, (32, 32) at 512, (30, 30) at 480.
            embed_dim (int): width d of the QU decoders and the ATM stage (C / 2 officially).
            num_heads (int): attention heads (head dim 32 officially).
            qu_layers (int): ``nn.TransformerDecoderLayer``s per QU decoder.
            atm_layers (int): ATM decoder layers; each is supervised, the last is the final output.
            ffn_ratio (int): FFN hidden width = ``ffn_ratio * embed_dim`` (QU and ATM layers).
            dropout (float): dropout of the QU and ATM layers (PyTorch's default 0.1).
            query_resize_mode (str): ``F.interpolate`` mode used to resize the query grid.
            shared_in_proj_init (bool): the layers of each QU decoder and of the ATM stage start
                with equal attention ``in_proj`` weights, as the official
                ``nn.TransformerDecoder`` copies (:func:`~.atm_head.share_in_proj_init`).
            feature_queries (bool): not in the paper, off by default: the QU queries start as the
                table plus the first input feature (projected and normed; it has the output
                grid), so they depend on the image from the first step (docs/design.md, "Shrunk
                from scratch"). The official queries are the table alone.
            query_init_std (float): not in the paper; 1 (official ``nn.Embedding``, N(0, 1)) by
                default: the standard deviation of the QU query table at initialisation. The
                decoder's LayerNorm undoes its scale in the forward pass, but AdamW's steps are
                about ``lr`` per entry whatever the scale, so a small table can move far in a short
                schedule (docs/design.md, "Shrunk from scratch").
        """
        super().__init__()
        if len(in_features) == 0:
            raise ValueError("QUATMHead needs at least one entry in in_features.")
        if qu_layers < 1:
            raise ValueError(f"qu_layers must be >= 1, got {qu_layers}.")
        query_grid = tuple(int(g) for g in query_grid)
        if len(query_grid) != 2 or min(query_grid) < 1:
            raise ValueError(f"query_grid must be (Gh, Gw) with positive sides, got {query_grid}.")
        self.in_features = list(in_features)
        self.query_grid = query_grid
        self.query_resize_mode = query_resize_mode
        self.feature_queries = feature_queries

        self.input_proj = nn.ModuleList(nn.Linear(in_channels, embed_dim) for _ in in_features)
        self.proj_norm = nn.ModuleList(nn.LayerNorm(embed_dim) for _ in in_features)
        # No final norm, as officially. Separate layers; shared_in_proj_init reproduces the equal
        # initial in_proj weights of nn.TransformerDecoder's deep copies.
        self.qu_decoders = nn.ModuleList(
            nn.ModuleList(
                nn.TransformerDecoderLayer(
                    embed_dim,
                    num_heads,
                    dim_feedforward=ffn_ratio * embed_dim,
                    dropout=dropout,
                    batch_first=True,
                )
                for _ in range(qu_layers)
            )
            for _ in in_features
        )
        self.qu_queries = nn.Embedding(query_grid[0] * query_grid[1], embed_dim)  # N(0, 1)
        self.atm = ATMSingleStageHead(
            in_channels=embed_dim,
            num_classes=num_classes,
            embed_dim=embed_dim,
            num_heads=num_heads,
            num_layers=atm_layers,
            ffn_ratio=ffn_ratio,
            dropout=dropout,
            use_proj=False,
            shared_in_proj_init=shared_in_proj_init,
        )
        init_linear_and_layernorm(
            self
        )  # trunc-normal Linears, (1, 0) LayerNorms; queries keep N(0, 1)
        if query_init_std <= 0:
            raise ValueError(f"query_init_std must be > 0, got {query_init_std}.")
        with torch.no_grad():
            self.qu_queries.weight.mul_(query_init_std)  # N(0, std^2); the same draw for any std
        if shared_in_proj_init:
            for layers in self.qu_decoders:
                share_in_proj_init(layers)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        qu = cfg.MODEL.SEGVIT.QU
        in_features = list(qu.IN_FEATURES)
        return {
            "in_features": in_features,
            "in_channels": check_in_features(
                input_shape, in_features, "MODEL.SEGVIT.QU.IN_FEATURES"
            ),
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "query_grid": tuple(qu.QUERY_GRID),
            "embed_dim": qu.EMBED_DIM,
            "num_heads": qu.NUM_HEADS,
            "qu_layers": qu.QU_LAYERS,
            "atm_layers": qu.ATM_LAYERS,
            "ffn_ratio": qu.FFN_RATIO,
            "dropout": qu.DROPOUT,
            "shared_in_proj_init": qu.SHARED_IN_PROJ_INIT,
        }

    def queries(self, hw: Tuple[int, int]) -> Tensor:
        """The QU query table for an output grid ``hw``: (1, h*w, d), resized if needed."""
        return resize_pos_embed(
            self.qu_queries.weight.unsqueeze(0), self.query_grid, hw, mode=self.query_resize_mode
        )

    def upsample(self, features: Dict[str, Tensor]) -> Tuple[Tensor, Tuple[int, int]]:
        """Query-based up-sampling: the QU decoders' output, the tokens the ATM stage reads.

        Args:
            features (dict[str, Tensor]): backbone outputs; ``features[in_features[0]]`` is the
                (B, C, h16, w16) map that fixes the output grid, the others any (B, C, h_i, w_i).

        Returns:
            tuple: (B, h16*w16, d) query tokens and their grid ``(h16, w16)``.
        """
        first = features[self.in_features[0]]
        batch, hw = first.shape[0], tuple(first.shape[-2:])
        query = self.queries(hw).repeat(batch, 1, 1)  # (B, h16*w16, d)
        for index, (name, proj, norm, layers) in enumerate(
            zip(self.in_features, self.input_proj, self.proj_norm, self.qu_decoders)
        ):
            tokens, _ = map_to_tokens(features[name])  # (B, h_i*w_i, C)
            memory = norm(proj(tokens))  # (B, h_i*w_i, d)
            if index == 0 and self.feature_queries:
                query = query + memory  # the first feature has the output grid h16 x w16
            for layer in layers:  # = layer(query, memory), attention through SDPA
                query = decoder_layer_forward(layer, query, memory)  # (B, h16*w16, d)
        return query, hw

    def forward(self, features: Dict[str, Tensor]) -> Dict:
        """
        Args:
            features (dict[str, Tensor]): as :meth:`upsample`.

        Returns:
            dict with "pred_logits" (B, K, K+1) and "pred_masks" (B, K, h16, w16) of the last ATM
            layer and "aux_outputs": the same two keys for the earlier ATM layers (each layer's own
            mask, not summed).
        """
        query, hw = self.upsample(features)
        return self.atm(tokens_to_map(query, hw))  # ATM on the (B, d, h16, w16) map
