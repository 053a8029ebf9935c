"""Shared by the ViT weight tests: tiny timm and SegViT ViTs, a file writer and the loader."""

from pathlib import Path

import torch
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer

from segvit.checkpoint.vit_weights import load_into_backbone, load_vit_state_dict
from segvit.modeling.backbone.vit import ViT

DIM, DEPTH, HEADS = 64, 4, 4


def timm_vit(
    *, class_token: bool = True, img_size=64, embed_dim=DIM, depth=DEPTH, num_heads=HEADS
) -> VisionTransformer:
    """A tiny timm ViT/16 with a classifier and a final ``norm`` (which SegViT's layout drops)."""
    return VisionTransformer(
        img_size=img_size,
        patch_size=16,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        num_classes=10,
        class_token=class_token,
        global_pool="token" if class_token else "avg",
        fc_norm=False,
    ).eval()


def our_vit(**kwargs) -> ViT:
    """A ViT/16 of :func:`timm_vit`'s default shape tapping every block (override any argument)."""
    args = dict(
        pretrain_img_size=64,
        patch_size=16,
        embed_dim=DIM,
        depth=DEPTH,
        num_heads=HEADS,
        drop_path_rate=0.0,
        out_indices=tuple(range(DEPTH)),
    )
    args.update(kwargs)
    return ViT(**args).eval()


def load_file(backbone: ViT, path: str):
    """Load a pretrained ViT file into ``backbone`` as a converter does (file -> our layout at the
    backbone's grid -> ``load_into_backbone``); returns (missing, unexpected)."""
    weights = load_vit_state_dict(
        path,
        target_grid=backbone.pretrain_grid,
        class_token=backbone.cls_token is not None,
        final_norm=backbone.norm is not None,
        pos_embed_interp=backbone.pos_embed_interp,
    )
    return load_into_backbone(backbone, weights.state_dict)


def save(state_dict, path: Path) -> str:
    """Write ``state_dict`` to ``path`` (safetensors by suffix, else ``torch.save``); its str."""
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state_dict.items()}, str(path))
    else:
        torch.save(state_dict, path)
    return str(path)
