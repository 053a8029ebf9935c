"""Plain ViT backbone with multi-layer outputs (SegViT, NeurIPS 2022, section 3.1).

Official: zbwxp/SegVit ``configs/_base_/models/seg_vit-b16.py`` (mmseg ``VisionTransformer`` with
``with_cls_token=False``, ``final_norm=False``, bicubic pos-embed resizing, output stride 16 for
every tapped block); docs/official_reference.md#segvit-backbone.
"""

import logging
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Block

from .utils import map_to_tokens, resize_pos_embed, tokens_to_map
from .vit_init import init_vit_weights

__all__ = ["ViT", "build_segvit_vit_backbone"]

logger = logging.getLogger(__name__)


class ViT(Backbone):
    """Plain ViT returning the outputs of selected blocks as stride-``patch_size`` maps.

    As in the official SegViT backbone (docs/official_reference.md#segvit-backbone): no class
    token in the blocks, no final LayerNorm, and an absolute position embedding stored for the
    pretraining grid and resized bicubically to the actual token grid (any ``(h, w)``, not only
    square) at every forward.
    ``cls_token``, ``final_norm`` and ``pos_embed_interp`` give Segmenter's / DEPICT's ViT instead.
    Blocks are timm's, so the parameter names are timm's (``patch_embed.proj.weight``,
    ``pos_embed``, ``blocks.N.attn.qkv.weight``, ...) and timm checkpoints load by name.

    Subclassing: :meth:`forward` runs a loop over :meth:`_forward_block`, which receives and
    returns the tokens together with their grid ``(h, w)``. A subclass that changes the grid inside
    a block (e.g. the Shrunk backbone's query down-sampling, zbwxp/SegVit
    ``backbone/vit_shrink.py``) overrides
    :meth:`_forward_block` for that index and adjusts ``self._out_feature_strides`` after
    ``super().__init__()``.
    """

    def __init__(
        self,
        *,
        pretrain_img_size: Union[int, Tuple[int, int]] = 384,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.1,
        drop_path_on_attn: bool = False,
        norm_eps: float = 1e-6,
        out_indices: Sequence[int] = (5, 7, 11),
        patch_embed: Optional[nn.Module] = None,
        cls_token: bool = False,
        final_norm: bool = False,
        pos_embed_interp: str = "bicubic",
        init: str = "trunc_normal",
    ):
        """
        Args:
            pretrain_img_size (int or tuple[int, int]): image size of the pretrained weights; it
                fixes the stored pos-embed grid (384 / 16 = 24x24 for the SegViT checkpoints).
            patch_size (int): patch size = output stride.
            in_chans (int): number of input channels.
            embed_dim (int): token dimension C (ViT-B 768, ViT-L 1024).
            depth (int): number of transformer blocks (ViT-B 12, ViT-L 24).
            num_heads (int): attention heads per block (ViT-B 12, ViT-L 16).
            mlp_ratio (float): MLP hidden size / C.
            qkv_bias (bool): bias in the qkv projection.
            drop_path_rate (float): stochastic depth of the last block; linear from 0 over depth.
            drop_path_on_attn (bool): also drop the attention residual branch (timm's ``Block``).
                False (default): stochastic depth on the MLP residual only, as mmseg 0.24's
                ``VisionTransformer`` (the official SegViT backbone) does; see docs/design.md.
            norm_eps (float): LayerNorm epsilon.
            out_indices (sequence[int]): 0-indexed blocks whose outputs are returned, as features
                named ``f"block{i}"`` (ViT-B (5, 7, 11), ViT-L (7, 15, 23)).
            patch_embed (nn.Module, optional): replaces the linear patch embedding (timm
                ``PatchEmbed``); maps (B, in_chans, H, W) to (B, C, H/patch, W/patch), e.g.
                :class:`~segvit.modeling.backbone.conv_stem.ConvStem` for training from scratch.
            cls_token (bool): prepend a learnable class token (with its own position embedding
                ``cls_pos_embed``) that goes through every block and is dropped from the outputs,
                as Segmenter's and DEPICT's ViT (QishuaiWen/DEPICT
                ``model/vit.py``; docs/official_reference.md#depict-decoder). SegViT: False.
            final_norm (bool): apply the pretrained final LayerNorm ``norm`` to the output of the
                last block (which must then be tapped), as Segmenter and DEPICT. SegViT: False.
            pos_embed_interp (str): ``F.interpolate`` mode that resizes the pos-embed to the token
                grid ("bicubic" as SegViT/mmseg, "bilinear" as Segmenter).
            init (str): initialisation rule when no pre-trained weights are loaded (see
                ``vit_init.py``): "mmseg" (the official SegViT backbone's, mmseg
                ``VisionTransformer.init_weights``; the paper configs) or "trunc_normal"
                (timm-style; the tiny from-scratch configs, docs/design.md).
        """
        super().__init__()
        img_h, img_w = (
            (pretrain_img_size, pretrain_img_size)
            if isinstance(pretrain_img_size, int)
            else tuple(pretrain_img_size)
        )
        if img_h % patch_size or img_w % patch_size:
            raise ValueError(
                f"pretrain_img_size {img_h}x{img_w} is not a multiple of patch_size {patch_size}"
            )
        out_indices = tuple(int(i) for i in out_indices)
        if not out_indices or any(not 0 <= i < depth for i in out_indices):
            raise ValueError(f"out_indices {out_indices} must be non-empty and in [0, {depth})")
        if len(set(out_indices)) != len(out_indices):
            raise ValueError(f"out_indices {out_indices} has duplicates")
        if final_norm and depth - 1 not in out_indices:
            raise ValueError(
                f"final_norm=True normalises the last block ({depth - 1}); add it to out_indices "
                f"{out_indices}"
            )
        if max(out_indices) < depth - 1:
            logger.warning(
                "ViT: blocks %d..%d run after the last tapped block %d and are skipped; their "
                "parameters get no gradient (drop them from depth or tap the last block).",
                max(out_indices) + 1,
                depth - 1,
                max(out_indices),
            )

        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.pretrain_grid = (img_h // patch_size, img_w // patch_size)
        self.out_indices = out_indices
        self.pos_embed_interp = pos_embed_interp
        self.init_rule = init

        # img_size=None: timm does no size checks; forward checks divisibility itself.
        self.patch_embed = (
            patch_embed
            if patch_embed is not None
            else PatchEmbed(
                img_size=None,
                patch_size=patch_size,
                in_chans=in_chans,
                embed_dim=embed_dim,
                flatten=False,
            )
        )
        gh, gw = self.pretrain_grid
        self.pos_embed = nn.Parameter(torch.zeros(1, gh * gw, embed_dim))  # (1, Gh*Gw, C)
        # Optional class token (Segmenter / DEPICT): kept through the blocks, dropped afterwards.
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if cls_token else None
        self.cls_pos_embed = nn.Parameter(torch.zeros(1, 1, embed_dim)) if cls_token else None
        self.num_prefix_tokens = 1 if cls_token else 0

        norm_layer = partial(nn.LayerNorm, eps=norm_eps)
        # linear rule; on the CPU so that a model can be built on the "meta" device (shapes only)
        dpr = [r.item() for r in torch.linspace(0, drop_path_rate, depth, device="cpu")]
        self.blocks = nn.ModuleList(
            Block(
                dim=embed_dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                drop_path=dpr[i],
                norm_layer=norm_layer,
            )
            for i in range(depth)
        )
        if not drop_path_on_attn:  # official (mmseg 0.24): no DropPath on the attention residual
            for block in self.blocks:
                block.drop_path1 = nn.Identity()
        self.norm = norm_layer(embed_dim) if final_norm else None

        self._out_features: List[str] = [f"block{i}" for i in out_indices]
        self._out_feature_channels = {name: embed_dim for name in self._out_features}
        self._out_feature_strides = {name: patch_size for name in self._out_features}

        self._init_weights()

    def _init_weights(self) -> None:
        """Initialise every parameter by ``self.init_rule`` (``vit_init.init_vit_weights``)."""
        init_vit_weights(self, self.init_rule)

    @property
    def size_divisibility(self) -> int:
        return self.patch_size

    def _get_pos_embed(self, hw: Tuple[int, int]) -> torch.Tensor:
        """The position embedding resized to the token grid ``hw``: (1, h*w, C)."""
        return resize_pos_embed(self.pos_embed, self.pretrain_grid, hw, self.pos_embed_interp)

    @staticmethod
    def _tokens_to_map(x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """(B, h*w, C) tokens -> (B, C, h, w) map."""
        return tokens_to_map(x, hw)

    def _forward_block(
        self, index: int, x: torch.Tensor, hw: Tuple[int, int]
    ) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Run block ``index``.

        Args:
            index (int): 0-indexed block.
            x (Tensor): (B, h*w, C) tokens.
            hw (tuple[int, int]): their grid ``(h, w)``.

        Returns:
            tuple[Tensor, tuple[int, int]]: the output tokens (B, h'*w', C) and their grid. The
            plain ViT keeps the grid; a subclass may change it (Shrunk query down-sampling).
        """
        return self.blocks[index](x), hw

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            x (Tensor): (B, in_chans, H, W) images, H and W multiples of ``patch_size``.

        Returns:
            dict[str, Tensor]: ``{"block{i}": (B, C, H/16, W/16)}`` for i in ``out_indices``
            (strides as in :meth:`output_shape`): raw block outputs, except the last block's
            when ``final_norm``; class-token outputs are dropped.
        """
        if x.dim() != 4:
            raise ValueError(f"ViT expects (B, C, H, W) images, got shape {tuple(x.shape)}")
        height, width = x.shape[-2:]
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(
                f"Input size {height}x{width} is not a multiple of the patch size "
                f"{self.patch_size}: pad images to a multiple of backbone.size_divisibility "
                f"({self.size_divisibility})."
            )
        x, hw = map_to_tokens(self.patch_embed(x))  # (B, h*w, C), (h, w) = (H/16, W/16)
        x = x + self._get_pos_embed(hw)
        prefix = self.num_prefix_tokens
        if self.cls_token is not None:  # (B, 1 + h*w, C)
            cls = (self.cls_token + self.cls_pos_embed).expand(x.shape[0], -1, -1)
            x = torch.cat([cls, x], dim=1)

        wanted = set(self.out_indices)
        outputs: Dict[str, torch.Tensor] = {}
        for index in range(max(self.out_indices) + 1):
            x, hw = self._forward_block(index, x, hw)
            if index in wanted:
                tokens = x[:, prefix:]  # (B, h*w, C), class token dropped
                if self.norm is not None and index == len(self.blocks) - 1:
                    tokens = self.norm(tokens)
                outputs[f"block{index}"] = self._tokens_to_map(tokens, hw)  # (B, C, h, w)
        return {name: outputs[name] for name in self._out_features}


def vit_kwargs_from_cfg(cfg, input_shape: ShapeSpec) -> Dict:
    """:class:`ViT` keyword arguments from ``cfg.MODEL.SEGVIT.VIT`` (yacs; ``segvit/config.py``)."""
    vit = cfg.MODEL.SEGVIT.VIT
    return dict(
        pretrain_img_size=vit.PRETRAIN_IMG_SIZE,
        patch_size=vit.PATCH_SIZE,
        in_chans=input_shape.channels,
        embed_dim=vit.EMBED_DIM,
        depth=vit.DEPTH,
        num_heads=vit.NUM_HEADS,
        mlp_ratio=vit.MLP_RATIO,
        init=vit.INIT,
        drop_path_rate=vit.DROP_PATH_RATE,
        drop_path_on_attn=vit.DROP_PATH_ON_ATTN,
        out_indices=tuple(vit.OUT_INDICES),
    )


def build_segvit_vit_backbone(cfg, input_shape: ShapeSpec) -> ViT:
    """Build :class:`ViT` from ``cfg.MODEL.SEGVIT.VIT`` (yacs path; see ``segvit/config.py``)."""
    return ViT(**vit_kwargs_from_cfg(cfg, input_shape))


# fvcore's Registry.register() names entries after ``__name__``; the public config name differs.
BACKBONE_REGISTRY._do_register("SegViTViT", build_segvit_vit_backbone)
